"""A ``consume --workers`` worker's lines of one batch, read in place from the memory-mapped
EVE file: no copy of them (docs/consumer.md "Workers").

The splitter hands each worker a batch as its file offset, its lines' lengths and their route
codes; the worker's ``bytes.translate`` table makes the codes a *mask* — per line of the batch
0 (another worker's), PRIMARY or SECONDARY. A :class:`Picked` is that batch over the mapped
file: the compiled batch loop (``eve_consumer/_fastfeed.pyx``) walks the batch's lines by their
lengths and decodes the masked ones where they lie in the map, line ``first + k`` for the
batch's line *k*. Reading the map in place is guarded against a file that shrinks meanwhile
(:func:`eve_consumer._fastfeed.feed_batch` under the zero-page guard; the caller checks the
file's size after the batch). Without the compiled modules, workers cut their lines as before
(:meth:`eve_consumer.workers._View.cut`).
"""

from __future__ import annotations

from array import array
from typing import Any

from eve_consumer.shard import SECONDARY


class PickedShrank(OSError):
    """An in-place read of a :class:`Picked` batch met a page past the file's end (the file
    shrank while it was read): the batch read zeros there; the caller reports the file."""


class Picked:
    """Lines ``first … first + len(lens) − 1`` of the mapped file *view* from byte *base* on
    (each followed by one byte, its newline), of which this worker reads those whose *mask*
    byte is not 0 (PRIMARY, or SECONDARY: decoded with scratch statistics)."""

    __slots__ = ("base", "first", "lens", "mask", "view")

    def __init__(self, view: Any, base: int, lens: array, mask: bytes, first: int) -> None:
        if len(mask) != len(lens) or base < 0:
            raise ValueError("Picked: a mask byte for each line, from a byte offset ≥ 0")
        self.view, self.base, self.lens, self.mask, self.first = view, base, lens, mask, first

    def __len__(self) -> int:
        """The batch's lines (this worker's and the others')."""
        return len(self.lens)

    @property
    def mine(self) -> int:
        """How many of the lines are this worker's."""
        return len(self.mask) - self.mask.count(0)

    @property
    def shared(self) -> int:
        """How many are another worker's host's that this worker decodes as well."""
        return self.mask.count(SECONDARY)

    def span(self, i: int, j: int) -> Picked:
        """The batch's lines *i* to *j* (0 ≤ i ≤ j ≤ len)."""
        if not 0 <= i <= j <= len(self.lens):
            raise IndexError(f"Picked.span: {i}:{j} of {len(self.lens)} lines")
        lens = self.lens
        base = self.base + sum(lens[:i]) + i
        return Picked(self.view, base, lens[i:j], self.mask[i:j], self.first + i)
