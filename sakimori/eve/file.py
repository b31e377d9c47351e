"""Read an EVE JSON file once, start to end, as decoded events or as batches of lines."""

from __future__ import annotations

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
            self._done = True
            self._fh.close()
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

    def checkpoint(self) -> None:
        """A one-pass read has nothing to resume from."""
        return None

    def close(self) -> None:
        self._fh.close()
