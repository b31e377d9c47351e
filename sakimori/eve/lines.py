"""Bounded batches of complete EVE lines: what every input hands out (shared by learning and
the consumer's inputs). A line longer than the limit is kept only up to it plus one byte
(:class:`LineBuffer`), so memory stays bounded whatever the file holds.

The lines of a chunk read from a file are a :class:`Lines` sequence that keeps the chunk and
where its complete lines are, not one ``bytes`` object per line: the consumer's compiled batch
loop (``eve_consumer/_fastfeed.pyx``) walks the chunk itself and makes a line's ``bytes`` only
where Python code reads it, so the half of the lines settled on their raw bytes never becomes
an object. Any other reader (indexing, slicing, iterating, ``==``) sees exactly the values of
the former list — ``chunk.split(b"\\n")`` as cut by :class:`LineBuffer` — made once, on the
first such read (the chunk is let go then). A chunk lives only as long as its batch's lines.

The newline scans are compiled (``sakimori/eve/_lines.pyx``: ``memchr``; CPython's
``bytes.count``/``bytes.split`` step byte by byte, ≈ 0.3 ms per 512 KiB chunk): one scan of a
chunk gives its line count and the offsets the compiled loop walks (``Lines.ends``). Without
the compiled module a chunk is split at once, as before (counting it first would cost as much).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from sakimori.accel import compiled

DEFAULT_MAX_BYTES = 4 << 20
DEFAULT_MAX_LINES = 10_000  # the consumer passes consumer.queue_size
DEFAULT_MAX_LINE_BYTES = 1 << 20  # the consumer passes consumer.max_line_bytes

_NL = b"\n"
_BYTEORDER = sys.byteorder  # Lines.ends: native uint32

# memchr scans (sakimori/eve/_lines.pyx); without them a chunk is split at once, as before:
# counting its lines first with bytes.count would cost as much as the split itself
_scan = compiled("sakimori.eve._lines")
LAZY = _scan is not None


def count_lines(data: bytes, lo: int, hi: int) -> int:
    """``data.count(b"\\n", lo, hi)`` (by memchr when compiled)."""
    return _scan.count(data, lo, hi) if _scan is not None else data.count(_NL, lo, hi)


def line_ends(data: bytes, lo: int, hi: int) -> bytes | None:
    """The offsets of the newlines in ``data[lo:hi]`` as native uint32 (``_lines.ends``), or
    None (not compiled, or a chunk of 4 GiB or more)."""
    return None if _scan is None else _scan.ends(data, lo, hi)  # type: ignore[no-any-return]


def split_lines(data: bytes, lo: int, hi: int) -> list[bytes]:
    """The lines of ``data[lo:hi]``, each ended by ``\\n`` (by memchr when compiled)."""
    if _scan is not None:
        return _scan.split(data, lo, hi)  # type: ignore[no-any-return]
    return data[lo:hi - 1].split(_NL) if hi > lo else []


class Lines(Sequence[bytes]):
    """The complete lines of one chunk, made into ``bytes`` objects only when read.

    Two states. *Raw*: ``data[lo:hi]`` holds the lines (``n`` of them, ``n - 1`` when
    ``head`` is set), each ended by ``\\n`` (so ``hi == lo`` or ``data[hi - 1]`` is
    ``\\n``), after ``head``: the first line when it is not a plain slice of the chunk
    (the held-back end of the last chunk joined to it, or an over-long line cut).
    *Listed*: the lines as a list (``listed`` not None; ``data`` let go). Any read through
    the ``Sequence`` interface lists a raw batch, once (:meth:`as_list`); the compiled batch
    loop reads the raw state and lists nothing. Compares equal to a list of the same lines
    (and to another :class:`Lines`), never to a tuple; slices are lists, as a list's are;
    pickled, it is listed first.
    """

    __slots__ = ("data", "ends", "head", "hi", "listed", "lo", "n")

    def __init__(self, data: bytes = b"", lo: int = 0, hi: int = 0, n: int = 0,
                 head: bytes | None = None, listed: list[bytes] | None = None,
                 ends: bytes | None = None) -> None:
        # n is the caller's count (LineBuffer's): not counted again here, a pass over the
        # chunk. ends (optional): the newlines' offsets in data[lo:hi] (line_ends), which
        # the compiled loop walks instead of searching the chunk again (it checks them).
        if listed is not None:
            data, lo, hi, n, head, ends = b"", 0, 0, len(listed), None, None
        elif type(data) is not bytes or not 0 <= lo <= hi <= len(data) \
                or (hi > lo and data[hi - 1] != 10) or n < (head is not None) \
                or (ends is not None and len(ends) != 4 * (n - (head is not None))):
            raise ValueError(f"Lines: {lo}:{hi} of {len(data)} bytes are not complete lines")
        self.data, self.lo, self.hi, self.n, self.head = data, lo, hi, n, head
        self.listed, self.ends = listed, ends

    @classmethod
    def of(cls, lines: list[bytes]) -> Lines:
        """Lines already made (a batch cut at ``max_lines``)."""
        return cls(listed=lines)

    def as_list(self) -> list[bytes]:
        """The lines as a list (made once; the chunk is let go)."""
        listed = self.listed
        if listed is None:
            listed = split_lines(self.data, self.lo, self.hi)
            if self.head is not None:
                listed.insert(0, self.head)
            self.listed, self.data, self.head, self.ends = listed, b"", None, None
            self.lo = self.hi = 0
        return listed

    def span(self, i: int, j: int) -> Lines:
        """Lines ``i`` to ``j`` (``0 <= i <= j <= len``) as a :class:`Lines` over the same
        chunk, without listing a raw batch when its newline offsets are known (``ends``);
        else the slice of the list. Equal to ``self[i:j]``."""
        if not 0 <= i <= j <= self.n:
            raise IndexError(f"Lines.span: {i}:{j} of {self.n} lines")
        ends = self.ends
        if j == i:
            return Lines.of([])
        if self.listed is not None or ends is None:
            return Lines.of(self.as_list()[i:j])
        held = self.head is not None  # line 0 is head; line k >= held ends at ends[k - held]
        if j <= held:
            return Lines.of([self.head])  # type: ignore[list-item]
        hi = int.from_bytes(ends[4 * (j - held - 1):4 * (j - held)], _BYTEORDER) + 1
        if i < held:  # the head and the lines up to j
            return Lines(self.data, self.lo, hi, j, self.head, ends=ends[:4 * (j - held)])
        lo = self.lo if i == held else \
            int.from_bytes(ends[4 * (i - held - 1):4 * (i - held)], _BYTEORDER) + 1
        return Lines(self.data, lo, hi, j - i, ends=ends[4 * (i - held):4 * (j - held)])

    def tail(self, size: int) -> bytes:
        """The last *size* bytes (fewer if there are not as many) of the lines, each followed
        by its ``\\n`` — without listing a raw batch."""
        if size <= 0:
            return b""
        if self.listed is not None:
            need, chunks = size, []
            for part in reversed(self.listed):
                chunks.append(part + _NL)
                need -= len(part) + 1
                if need <= 0:
                    break
            return b"".join(reversed(chunks))[-size:]
        data, lo, hi = self.data, self.lo, self.hi
        if hi - lo >= size:
            return data[hi - size:hi]
        head = b"" if self.head is None else self.head + _NL
        return (head + data[lo:hi])[-size:]

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self.as_list()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.as_list())

    def __reversed__(self) -> Iterator[bytes]:
        return reversed(self.as_list())

    def __contains__(self, value: object) -> bool:
        return value in self.as_list()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lines):
            return other is self or self.as_list() == other.as_list()
        if isinstance(other, list):
            return self.as_list() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable state, compared by value

    def __repr__(self) -> str:
        return f"Lines({self.as_list()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Lines.of, (self.as_list(),))


@dataclass
class Batch:
    """Complete lines read in one call from ``source``; ``lines[i]`` is line ``first + i``
    (a :class:`Lines` from the file inputs, a list from the others)."""

    source: str
    lines: Sequence[bytes] = field(default_factory=list)
    first: int = 1


class LineBuffer:
    """Cuts chunks of a file into complete lines, keeping the byte count exact.

    ``split`` returns the complete lines (at most ``max_lines``) as :class:`Lines`, the bytes
    they took in the file, and whether the batch was cut at ``max_lines`` (the caller then
    seeks to where the next line starts: the rest of the chunk is re-read on the next call).
    A partial last line is held back, but never more than ``max_line_bytes + 1`` of it: the
    rest of an over-long line is counted (``dropped``) and not kept, so it comes out cut (and
    is rejected as too long by the decoder) with its full length accounted for.

    The lines are those of ``data.split(b"\\n")`` with the held-back part joined to the first
    (tests/test_eve_lines.py compares them with ``(buf + data).split``, the former way); only
    the first line (when something was held back), the held-back rest and a batch cut at
    ``max_lines`` are made here — the other lines stay in the chunk until read.
    """

    __slots__ = ("buf", "dropped", "max_line", "max_lines")

    def __init__(self, max_lines: int, max_line_bytes: int) -> None:
        self.max_lines = max_lines
        self.max_line = max_line_bytes
        self.buf = b""
        self.dropped = 0

    def split(self, data: bytes) -> tuple[Lines, int, bool]:
        if not LAZY:
            return self._split_now(data)
        held = len(self.buf)
        first_nl = data.find(_NL)
        if first_nl < 0:  # no line ends in this chunk: all of it is held back
            self._hold(self.buf + data if held else data)
            return Lines(), 0, False
        last_nl = data.rfind(_NL)
        ends = line_ends(data, first_nl, last_nl + 1)  # one scan: the count and the walk's
        n = len(ends) // 4 if ends is not None else count_lines(data, first_nl, last_nl + 1)
        dropped = self.dropped  # the rest of an over-long first line, not held
        self.dropped = 0
        head = None
        beyond = dropped  # the first line's bytes beyond what is handed out of it
        if held or dropped:
            # the held-back partial line is joined to the first line only (not
            # ``buf + data``: a copy of the whole chunk)
            head = self.buf + data[:first_nl]
            if dropped:  # the end of an over-long line: it stays cut
                beyond += len(head) - self.max_line - 1
                head = head[:self.max_line + 1]
        if n > self.max_lines:  # cut: these lines made here, the rest read again
            parts = data.split(_NL, self.max_lines)
            parts.pop()
            if head is not None and parts:
                parts[0] = head
            self.buf = b""
            return Lines.of(parts), sum(map(len, parts)) + len(parts) + beyond, True
        # the bytes the lines take in the file: the held part, the chunk up to its last \n
        # and the dropped rest of an over-long first line
        nbytes = held + last_nl + 1 + dropped
        self._hold(data[last_nl + 1:])
        if head is not None:
            ends = None if ends is None else ends[4:]  # the first newline ends head
            return Lines(data, first_nl + 1, last_nl + 1, n, head, ends=ends), nbytes, False
        return Lines(data, 0, last_nl + 1, n, ends=ends), nbytes, False

    def _hold(self, rest: bytes) -> None:
        """Keep *rest* (the partial last line) back, cut after ``max_line_bytes + 1``."""
        if len(rest) > self.max_line:
            self.dropped += len(rest) - self.max_line - 1
            rest = rest[:self.max_line + 1]
        self.buf = rest

    def _split_now(self, data: bytes) -> tuple[Lines, int, bool]:
        """``split`` with every line made at once (no compiled scan: ``bytes.split``)."""
        parts = data.split(_NL)
        held = len(self.buf)
        if held:
            parts[0] = self.buf + parts[0]
        rest = parts.pop()
        dropped = self.dropped if parts else 0
        # the held part, the chunk up to its last \n and the dropped rest of an over-long
        # first line — without a pass over the lines (sum of their lengths) when not cut
        nbytes = held + len(data) - len(rest) + dropped
        if parts:
            self.dropped = 0
            if dropped:  # the end of an over-long line: it stays cut
                first = parts[0]
                dropped += len(first) - self.max_line - 1
                parts[0] = first[:self.max_line + 1]
        cut = len(parts) > self.max_lines
        if cut:
            parts = parts[:self.max_lines]
            self.buf = b""
            nbytes = sum(map(len, parts)) + len(parts) + dropped
        else:
            self._hold(rest)
        return Lines.of(parts), nbytes, cut

    def take_rest(self) -> tuple[bytes, int]:
        """The held-back partial line (cut if over-long) and its length in the file."""
        rest, n = self.buf, len(self.buf) + self.dropped
        self.buf, self.dropped = b"", 0
        return rest, n

    @property
    def pending(self) -> int:
        """Bytes of the held-back partial line in the file."""
        return len(self.buf) + self.dropped
