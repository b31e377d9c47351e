"""Distinct counts at any scale: exact up to ``EXACT_MAX`` items, then a HyperLogLog sketch.

Used for *prevalence* — how many distinct internal hosts reached one destination — in the
consumer (:mod:`eve_consumer.handlers.beacon`) and in the learned baselines
(:mod:`generator.traffic_summary`). Below ``EXACT_MAX`` the count is the exact set; above it
the set becomes a HyperLogLog of 2^14 one-byte registers (16 KiB, standard error
1.04/√16384 ≈ 0.8 %, so ≤ 2 % at ~2.5 standard errors; below ~40,000 hosts the
linear-counting branch applies and is tighter; measured worst of 15 trials up to 100,000
items: 1.8 %).
Items are hashed with BLAKE2b (never Python's salted ``hash``): the same item sets the same
register in every process, so sketches merge exactly (register-wise maximum) and
``learn A`` then ``learn B`` equals ``learn A+B``.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable
from typing import Any

EXACT_MAX = 4096
P = 14
M = 1 << P
_ALPHA = 0.7213 / (1 + 1.079 / M)
_MASK = (1 << 64) - 1


def _register(item: str) -> tuple[int, int]:
    """(register index, rank) of *item*: first P bits of its 64-bit hash, and the position of
    the first 1 bit in the rest."""
    x = int.from_bytes(hashlib.blake2b(item.encode("utf-8", "replace"),
                                       digest_size=8).digest(), "big")
    rest = (x << P) & _MASK
    return x >> (64 - P), 64 - rest.bit_length() + 1 if rest else 64 - P + 1


class DistinctCount:
    """A set of strings that turns into a HyperLogLog sketch past ``EXACT_MAX`` items."""

    __slots__ = ("_cache", "items", "registers")

    def __init__(self, items: Iterable[str] = ()) -> None:
        self.items: set[str] | None = set()
        self.registers: bytearray | None = None
        self._cache: int | None = None
        for it in items:
            self.add(it)

    @property
    def exact(self) -> bool:
        return self.registers is None

    def add(self, item: str) -> None:
        if self.items is not None:
            if item in self.items:
                return
            self.items.add(item)
            self._cache = None
            if len(self.items) > EXACT_MAX:
                self._to_sketch()
            return
        self._put(item)

    def _put(self, item: str) -> None:
        assert self.registers is not None
        i, rank = _register(item)
        if rank > self.registers[i]:
            self.registers[i] = rank
            self._cache = None

    def _to_sketch(self) -> None:
        items, self.items = self.items or set(), None
        self.registers = bytearray(M)
        for it in items:
            self._put(it)

    def __contains__(self, item: str) -> bool:
        """Exact membership while exact; a sketch answers False (it cannot tell)."""
        return self.items is not None and item in self.items

    def __len__(self) -> int:
        if self.items is not None:
            return len(self.items)
        if self._cache is None:
            self._cache = _estimate(self.registers or bytearray(M))
        return self._cache

    def update(self, other: DistinctCount) -> None:
        """Union with *other* (exact while both are exact and small enough)."""
        if other.items is not None:
            for it in other.items:
                self.add(it)
            return
        if self.items is not None:
            self._to_sketch()
        assert self.registers is not None and other.registers is not None
        self.registers = bytearray(max(a, b) for a, b in zip(self.registers, other.registers,
                                                              strict=True))
        self._cache = None

    def to_state(self) -> list[str] | dict[str, Any]:
        """JSON form: the sorted item list while exact, else the sketch (base64 registers,
        with its estimate for readers)."""
        if self.items is not None:
            return sorted(self.items)
        return {"hll_p": P, "registers": base64.b64encode(bytes(self.registers or b"")).decode(),
                "estimate": len(self)}

    @classmethod
    def from_state(cls, state: Any, where: str = "distinct count") -> DistinctCount:
        """From :meth:`to_state` output; ValueError names *where* on a malformed value."""
        if isinstance(state, list):
            return cls(str(x) for x in state)
        if isinstance(state, dict) and state.get("hll_p") == P:
            try:
                regs = base64.b64decode(str(state.get("registers", "")), validate=True)
            except ValueError as e:
                raise ValueError(f"{where}: registers are not base64 ({e})") from None
            if len(regs) != M:
                raise ValueError(f"{where}: {len(regs)} registers, expected {M}")
            out = cls()
            out.items, out.registers = None, bytearray(regs)
            return out
        raise ValueError(f"{where} must be a list of items or a p={P} HyperLogLog sketch")


def _estimate(regs: bytearray) -> int:
    """HyperLogLog estimate with the small-range (linear counting) correction."""
    zeros = regs.count(0)
    raw = _ALPHA * M * M / sum(2.0 ** -r for r in regs)
    if raw <= 2.5 * M and zeros:
        return round(M * math.log(M / zeros))
    return round(raw)


def state_count(state: Any) -> int:
    """The count held by a :meth:`DistinctCount.to_state` value (or a plain number)."""
    if isinstance(state, list):
        return len(state)
    if isinstance(state, dict):
        return int(state.get("estimate") or len(DistinctCount.from_state(state)))
    return int(state)
