"""Read an EVE JSON file once, start to end, as decoded events or as batches of lines.

A file that shrinks while it is read (``copytruncate``, an operator emptying it) is an
:class:`~sakimori.errors.InputError` (:func:`shrank_error`) when the read reaches the end: the
lines after the new end were never read, so the run stops rather than report part of the file.
A file truncated and written again past the read position cannot be told from one that grew
(the one-shot read keeps no fingerprint; follow mode does, see ``eve_consumer.inputs``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from sakimori.errors import InputError
from sakimori.eve.decode import Decoder, Event
from sakimori.eve.lines import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_LINES,
    Batch,
    LineBuffer,
)


def shrank_error(path: str, size: int, read: int | str) -> InputError:
    """The one-line error of a file found shorter (*size* bytes) than what was already read
    of it: up to byte *read*, or *read* says how it was found."""
    how = f"read up to byte {read}" if isinstance(read, int) else read
    return InputError(path, None, f"the file shrank while it was read ({size} bytes now, "
                                  f"{how}); rerun once it is stable (a copy, if it is rotated "
                                  f"with copytruncate)")


def read_events(path: str | Path, decoder: Decoder) -> Iterator[Event]:
    """Yield decoded events of *path*; bad lines are counted in ``decoder.stats``."""
    inp = FileInput(path, max_line_bytes=decoder.max_line)  # a line is held ≤ that long
    decoder.source = str(path)
    decode = decoder.decode
    try:
        while (batch := inp.read_batch()) is not None:
            for lineno, line in enumerate(batch.lines, batch.first):
                event = decode(line, lineno)
                if event is not None:
                    yield event
    finally:
        inp.close()


class FileInput:
    """One pass over *path* in batches of complete lines (the ``file`` input)."""

    name = "file"

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_lines: int = DEFAULT_MAX_LINES,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self._lines = LineBuffer(max_lines, max_line_bytes)
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()/exhaustion
        except OSError as exc:
            raise InputError(self.path, None,
                             f"cannot read EVE file: {exc.strerror or exc}") from exc
        self._lineno = 0
        self._offset = 0  # of the next line not handed out
        self._done = False

    def read_batch(self) -> Batch | None:
        """The next complete lines, or None at the end (a final line without \\n included)."""
        if self._done:
            return None
        data = self._fh.read(self.max_bytes)
        if not data:
            st = os.fstat(self._fh.fileno())
            # a pipe or device has no size to compare (and no position to tell)
            read = self._fh.tell() if stat.S_ISREG(st.st_mode) else 0
            self._done = True
            self._fh.close()
            if st.st_size < read:
                raise shrank_error(self.path, st.st_size, read)
            rest, _ = self._lines.take_rest()
            if rest:
                self._lineno += 1
                return Batch(self.path, [rest], self._lineno)
            return None
        parts, nbytes, cut = self._lines.split(data)
        if cut:  # bounded batch: re-read the rest next time
            self._fh.seek(self._offset + nbytes)
        self._offset += nbytes
        start = self._lineno + 1
        self._lineno += len(parts)
        return Batch(self.path, parts, start)

    @property
    def position(self) -> int:
        """Bytes handed out so far (for progress)."""
        return self._offset

    def state(self) -> tuple[int, int, int] | None:
        """Where this read stands, for another reader of the same file to go on exactly as
        it would: (offset of the next line not handed out, offset of the next read, lines
        handed out) — the bytes between the two offsets are the held-back partial line. None
        when that partial line was cut (longer than ``max_line_bytes``) or the read ended."""
        held = self._lines
        if self._done or held.dropped or len(held.buf) > held.max_line or self._fh.closed:
            return None
        return self._offset, self._fh.tell(), self._lineno

    def resume(self, offset: int, read_pos: int, lineno: int) -> None:
        """Go on from a :meth:`state` of another reader of the same file (same limits)."""
        if not 0 <= offset <= read_pos:
            raise ValueError(f"resume: offsets {offset}, {read_pos}")
        self._fh.seek(offset)
        held = self._fh.read(read_pos - offset)
        if len(held) != read_pos - offset or b"\n" in held or len(held) > self._lines.max_line:
            raise InputError(self.path, None, "the file changed while it was read")
        self._lines.buf, self._lines.dropped = held, 0
        self._offset, self._lineno = offset, lineno

    def checkpoint(self) -> None:
        """A one-pass read has nothing to resume from."""
        return None

    def close(self) -> None:
        self._fh.close()
