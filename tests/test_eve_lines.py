"""LineBuffer and Lines (sakimori.eve.lines): cutting chunks into lines without copying the
chunk, and without making the lines until they are read.

``split`` joins the held-back partial line to the first line of the next chunk only; the
lines, byte counts, cuts and held-back rest must be those of splitting ``buf + data`` (the
former implementation, kept here as the reference) for any chunking, over-long lines and
``max_lines`` cuts included — with the compiled newline scans (``sakimori/eve/_lines.pyx``:
the lines left in the chunk) and without them (every line made at once). A :class:`Lines`
must read as the reference's list through every ``Sequence`` operation, before and after it
is listed, and its compiled scans must be ``bytes.count``/``bytes.split``."""

from __future__ import annotations

import pickle
import random
from array import array
from collections.abc import Iterator

import pytest
from engines import missing

import sakimori.eve.lines as lines_mod
from sakimori.accel import compiled
from sakimori.eve.lines import LineBuffer, Lines

_SCAN = compiled("sakimori.eve._lines")


@pytest.fixture(params=["compiled", "python"])
def lazy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """LineBuffer with the compiled scans (lines left in the chunk) or without them."""
    if request.param == "compiled":
        if _SCAN is None:
            missing("sakimori.eve._lines is not built (no C compiler at install; "
                    "make setup builds it)")
        yield True
        return
    monkeypatch.setattr(lines_mod, "_scan", None)
    monkeypatch.setattr(lines_mod, "LAZY", False)
    yield False


class _Reference:
    """The former LineBuffer.split (``(buf + data).split``), as the reference."""

    def __init__(self, max_lines: int, max_line_bytes: int) -> None:
        self.max_lines, self.max_line, self.buf, self.dropped = max_lines, max_line_bytes, b"", 0

    def split(self, data: bytes) -> tuple[list[bytes], int, bool]:
        parts = (self.buf + data).split(b"\n")
        rest = parts.pop()
        dropped = self.dropped if parts else 0
        if parts:
            self.dropped = 0
            if dropped:
                first = parts[0]
                dropped += len(first) - self.max_line - 1
                parts[0] = first[:self.max_line + 1]
        cut = len(parts) > self.max_lines
        if cut:
            parts = parts[:self.max_lines]
            rest = b""
        elif len(rest) > self.max_line:
            self.dropped += len(rest) - self.max_line - 1
            rest = rest[:self.max_line + 1]
        self.buf = rest
        return parts, sum(map(len, parts)) + len(parts) + dropped, cut


def _stream(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(0, 60)):
        n = rng.choice([0, 1, 5, 20, 39, 40, 41, 80, 200])
        lines.append(bytes(rng.choice(b'{}"ab:,\\ \xff\r\x00') for _ in range(n)))
    tail = b"" if rng.random() < 0.5 else b"partial"
    return b"\n".join(lines) + (b"\n" if lines else b"") + tail


@pytest.mark.parametrize("seed", range(200))
def test_split_matches_the_whole_chunk_reference(seed: int, lazy: bool) -> None:
    rng = random.Random(seed)
    data = _stream(rng)
    max_lines, max_line = rng.choice([1, 3, 1000]), rng.choice([10, 40, 1 << 20])
    buf, ref = LineBuffer(max_lines, max_line), _Reference(max_lines, max_line)
    pos = handed = 0  # next byte read; bytes handed out in lines (FileInput's offset)
    while pos < len(data) or rng.random() < 0.2:  # empty chunks too
        chunk = data[pos:pos + rng.choice([0, 1, 7, 33, 100, 1000])]
        got, want = buf.split(chunk), ref.split(chunk)
        assert got == want
        assert (buf.buf, buf.dropped) == (ref.buf, ref.dropped)
        handed += got[1]
        # cut at max_lines: the rest is read again from after the lines handed out
        pos = handed if got[2] else pos + len(chunk)
        if not chunk and pos >= len(data):
            break
    assert buf.take_rest() == (ref.buf, len(ref.buf) + ref.dropped)



def _joined(parts: list[bytes]) -> bytes:
    return b"".join(p + b"\n" for p in parts)


def _check_reads_as(got: Lines, want: list[bytes], rng: random.Random) -> None:
    """Every Sequence read of *got* (raw, then listed) gives *want*'s values."""
    assert isinstance(got, Lines) and len(got) == len(want) and bool(got) == bool(want)
    for size in (0, 1, 5, 64, 300, 10_000):  # before listing: read from the chunk
        assert got.tail(size) == (_joined(want)[-size:] if size else b"")
    assert got == want and got == Lines.of(list(want)) and got != [*want, b"x"]
    assert got != tuple(want)  # a list's equality: never equal to a tuple
    for i in range(-len(want), len(want)):
        assert got[i] == want[i]
    a, b = sorted(rng.randrange(-3, len(want) + 3) for _ in range(2))
    assert got[a:b] == want[a:b] and type(got[a:b]) is list and got[::2] == want[::2]
    assert list(reversed(got)) == want[::-1] and list(got) == want
    if want:
        assert want[-1] in got and got.index(want[0]) == want.index(want[0])
    assert pickle.loads(pickle.dumps(got)) == want
    assert repr(got) == f"Lines({want!r})"
    with pytest.raises(IndexError):
        got[len(want)]
    assert got.listed is not None and got.data == b""  # listed: the chunk let go
    for size in (1, 64, 10_000):
        assert got.tail(size) == _joined(want)[-size:]


@pytest.mark.parametrize("seed", range(100))
def test_lines_read_as_the_reference_list(seed: int, lazy: bool) -> None:
    """Lines of random streams cut into random chunks (boundaries anywhere: inside a line,
    on its newline, a line longer than several chunks; empty, CR and NUL lines): whatever
    is read of them is the reference's list, and they stay unlisted until read."""
    rng = random.Random(seed)
    data = _stream(rng)
    max_lines, max_line = rng.choice([1, 3, 1000]), rng.choice([10, 40, 1 << 20])
    buf, ref = LineBuffer(max_lines, max_line), _Reference(max_lines, max_line)
    pos = handed = 0
    while pos < len(data):
        chunk = data[pos:pos + rng.choice([1, 7, 33, 100, 1000])]
        (got, nbytes, cut), (want, _, _) = buf.split(chunk), ref.split(chunk)
        # raw (the chunk kept, no line made) unless cut at max_lines or not compiled; the
        # offsets of the raw lines' newlines kept for the compiled loop's walk
        assert (got.listed is None) == (lazy and not cut)
        if got.listed is None and len(got):
            assert got.ends is not None and list(array("I", got.ends)) == \
                [i for i in range(got.lo, got.hi) if got.data[i] == 10]
        _check_reads_as(got, want, rng)
        handed += nbytes
        pos = handed if cut else pos + len(chunk)


@pytest.mark.parametrize("seed", range(60))
def test_span_is_the_slice_without_listing(seed: int, lazy: bool) -> None:
    """``Lines.span(i, j)`` of random streams' batches (a joined first line, cut over-long
    lines, empty/CR/NUL lines) is ``lines[i:j]`` for every i ≤ j, made from the chunk by its
    newline offsets — the batch itself never listed, a span raw unless it is empty or the
    joined first line alone —; a batch without offsets gives its list's slice; a range
    outside the lines is an IndexError."""
    rng = random.Random(seed)
    data = _stream(rng)
    max_line = rng.choice([10, 40, 1 << 20])
    buf, ref = LineBuffer(1000, max_line), _Reference(1000, max_line)
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + rng.choice([1, 7, 33, 100, 1000])]
        pos += len(chunk)
        got, want = buf.split(chunk)[0], ref.split(chunk)[0]
        assert (got.listed is None) == lazy  # (max_lines 1000: never cut here)
        held = got.head is not None
        for i in range(len(want) + 1):
            for j in range(i, len(want) + 1):
                part = got.span(i, j)
                assert type(part) is Lines and len(part) == j - i
                assert (part.listed is None) == (lazy and j > i and j > held)
                assert part == want[i:j]
        assert (got.listed is None) == lazy  # spans never list the batch
        for i, j in ((-1, 0), (0, len(want) + 1), (2, 1)):
            with pytest.raises(IndexError):
                got.span(i, j)
        if lazy and want:
            got.ends = None  # no offsets: the list's slice
            assert got.span(0, len(want)) == want and got.listed is not None


def test_lines_edge_cases(lazy: bool) -> None:
    """Chunk boundaries that matter, spelled out: CRLF and empty lines, a line longer than
    the chunk, an over-long line cut across chunks, a max_lines cut, no newline at all."""
    rng = random.Random(0)

    def run(stream: bytes, size: int, max_lines: int = 100, max_line: int = 1 << 20
            ) -> list[tuple[list[bytes], int, bool]]:
        buf, ref, out = LineBuffer(max_lines, max_line), _Reference(max_lines, max_line), []
        pos = handed = 0
        while pos < len(stream):
            chunk = stream[pos:pos + size]
            got, want = buf.split(chunk), ref.split(chunk)
            _check_reads_as(got[0], want[0], rng)
            assert got[1:] == want[1:] and (buf.buf, buf.dropped) == (ref.buf, ref.dropped)
            out.append(want)
            handed += got[1]
            pos = handed if got[2] else pos + len(chunk)
        assert buf.take_rest() == (ref.buf, len(ref.buf) + ref.dropped)
        return out

    got = run(b"a\r\n\r\n\nb\r\n", 4)  # CR kept: the decoder judges it
    assert [x for batch in got for x in batch[0]] == [b"a\r", b"\r", b"", b"b\r"]
    long = b"{" + b"x" * 95 + b"}"
    got = run(b"s\n" + long + b"\nt\n", 10)  # a line over ten chunks: one line, whole
    assert [x for batch in got for x in batch[0]] == [b"s", long, b"t"]
    got = run(b"s\n" + long + b"\nt\n", 10, max_line=20)  # cut at 21 bytes, counted whole
    assert [x for batch in got for x in batch[0]] == [b"s", long[:21], b"t"]
    assert sum(batch[1] for batch in got) == len(long) + 5
    got = run(b"1\n2\n3\n4\n5\n", 100, max_lines=2)  # cut: the rest read again
    assert [batch[0] for batch in got] == [[b"1", b"2"], [b"3", b"4"], [b"5"]]
    assert [batch[2] for batch in got] == [True, True, False]
    assert run(b"no newline", 3) == [([], 0, False)] * 4


def test_lines_rejects_a_range_that_is_not_lines() -> None:
    assert Lines(b"a\nb\n", 0, 4, 2) == [b"a", b"b"]
    assert Lines(b"a\nb\n", 2, 4, 2, b"z") == [b"z", b"b"]
    assert Lines(b"a\nb\n", 2, 4, 2, b"z", ends=array("I", [3]).tobytes()) == [b"z", b"b"]
    with pytest.raises(ValueError):  # one offset per line of the range
        Lines(b"a\nb\n", 0, 4, 2, ends=array("I", [1]).tobytes())
    for args in ((b"a\nb", 0, 3, 2), (b"a\n", 0, 5, 1), (b"a\n", 2, 1, 0), (b"a\n", -1, 2, 1),
                 (b"", 0, 0, 0, b"h")):
        with pytest.raises(ValueError):
            Lines(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(30))
def test_compiled_scans_are_the_bytes_methods(seed: int) -> None:
    """``_lines.count``/``split`` (memchr) against ``bytes.count``/``bytes.split`` on random
    bytes and ranges; a range outside the bytes, or not ending with a newline, refused."""
    if _SCAN is None:
        missing("sakimori.eve._lines is not built (no C compiler at install)")
    rng = random.Random(seed)
    data = bytes(rng.choice(b"\n\n\r\x00a\xff") for _ in range(rng.randrange(0, 300)))
    for _ in range(50):
        lo, hi = sorted(rng.randrange(len(data) + 1) for _ in range(2))
        assert _SCAN.count(data, lo, hi) == data.count(b"\n", lo, hi)
        assert list(array("I", _SCAN.ends(data, lo, hi))) == \
            [i for i in range(lo, hi) if data[i] == 10]
        end = data.rfind(b"\n", lo, hi) + 1
        if end > lo:
            assert _SCAN.split(data, lo, end) == data[lo:end - 1].split(b"\n")
        assert _SCAN.split(data, lo, lo) == []
        if hi > lo and data[hi - 1] != 10:
            with pytest.raises(ValueError):
                _SCAN.split(data, lo, hi)
    for lo, hi in ((-1, 0), (0, len(data) + 1), (1, 0)):
        with pytest.raises(ValueError):
            _SCAN.count(data, lo, hi)
        with pytest.raises(ValueError):
            _SCAN.split(data, lo, hi)
        with pytest.raises(ValueError):
            _SCAN.ends(data, lo, hi)
