"""LineBuffer (sakimori.eve.lines): cutting chunks into lines without copying the chunk.

``split`` joins the held-back partial line to the first line of the next chunk only; the
lines, byte counts, cuts and held-back rest must be those of splitting ``buf + data`` (the
former implementation, kept here as the reference) for any chunking, over-long lines and
``max_lines`` cuts included."""

from __future__ import annotations

import random

import pytest

from sakimori.eve.lines import LineBuffer


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
        lines.append(bytes(rng.choice(b'{}"ab:,\\ \xff') for _ in range(n)))
    tail = b"" if rng.random() < 0.5 else b"partial"
    return b"\n".join(lines) + (b"\n" if lines else b"") + tail


@pytest.mark.parametrize("seed", range(200))
def test_split_matches_the_whole_chunk_reference(seed: int) -> None:
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

