"""Bounded, incremental beat series of one host × destination pair, and the prevalence rule.

A :class:`PairSeries` keeps at most ``MAX_BEATS`` merged beat times and ``MAX_SIZES`` request
sizes (the most recent ones): memory per pair is bounded whatever the traffic. New starts
arrive in chunks (an hour of flows, or whatever one evaluation of the consumer read); adding
a chunk costs that chunk's work plus one pass over the bounded series, and only a pair that
received new beats since its last verdict is scored again (:meth:`PairSeries.verdict`): a new
hour costs one hour's work, never a re-analysis of the whole window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from eve_consumer.handlers.beacon_score import MERGE_S, BeaconScore, _numpy, score_beacon

MAX_BEATS = 1024
MAX_SIZES = 256
MIN_PREVALENT_HOSTS = 3


def prevalence_cutoff(internal_hosts: int, fraction: float) -> int:
    """Number of distinct internal hosts from which a destination counts as *prevalent*."""
    return max(MIN_PREVALENT_HOSTS, math.ceil(fraction * internal_hosts))


class PairSeries:
    """Merged beats and recent sizes of one pair, with its cached verdict."""

    __slots__ = ("_cached", "_dirty", "_last_start", "beats", "sizes")

    def __init__(self) -> None:
        np = _numpy()
        self.beats: Any = np.empty(0, dtype=float)
        self.sizes: Any = np.empty(0, dtype=np.int64)
        self._dirty = False
        self._cached: BeaconScore | None = None
        self._last_start = -math.inf  # last raw start: merging chains across chunks

    def __len__(self) -> int:
        return int(self.beats.size)

    def add(self, times: Sequence[float] | Any, sizes: Sequence[int] | Any) -> None:
        """Fold a chunk of connection starts (any order) and their request sizes in."""
        np = _numpy()
        t = np.sort(np.asarray(times, dtype=float))
        if t.size == 0:
            return
        old = self.beats
        if t[0] <= self._last_start and old.size:  # a late chunk: merge the tail again
            i = int(np.searchsorted(old, t[0] - MERGE_S))
            t = np.sort(np.concatenate([old[i:], t]))
            old = old[:i]
            prev = float(old[-1]) if old.size else -math.inf
        else:
            prev = self._last_start
        keep = np.empty(t.size, dtype=bool)
        keep[0] = t[0] > prev + MERGE_S
        keep[1:] = np.diff(t) > MERGE_S
        self._last_start = max(self._last_start, float(t[-1]))
        beats = np.concatenate([old, t[keep]]) if old.size else t[keep]
        self.beats = beats[-MAX_BEATS:]
        s = np.asarray(sizes, dtype=np.int64)
        self.sizes = np.concatenate([self.sizes, s])[-MAX_SIZES:] if s.size else self.sizes
        self._dirty = True

    def verdict(self, min_beats: int) -> BeaconScore | None:
        """The pair's score, computed again only when beats arrived since the last call."""
        if self._dirty:
            self._cached = score_beacon(self.beats, min_beats, self.sizes, merged=True)
            self._dirty = False
        return self._cached

    def last(self) -> float | None:
        return float(self.beats[-1]) if self.beats.size else None

    def first(self) -> float | None:
        return float(self.beats[0]) if self.beats.size else None

    def to_state(self) -> dict[str, list[float] | list[int]]:
        return {"beats": [float(x) for x in self.beats], "sizes": [int(x) for x in self.sizes]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PairSeries:
        np = _numpy()
        series = cls()
        series.beats = np.asarray(state.get("beats", []), dtype=float)[-MAX_BEATS:]
        series.sizes = np.asarray(state.get("sizes", []), dtype=np.int64)[-MAX_SIZES:]
        series._dirty = True
        if series.beats.size:
            series._last_start = float(series.beats[-1])
        return series
