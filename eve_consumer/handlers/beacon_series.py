"""Bounded, incremental beat series of one host × destination pair, and the prevalence rule.

A :class:`PairSeries` keeps at most ``MAX_STARTS`` connection start times and ``MAX_SIZES`` request
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

from eve_consumer.handlers.beacon_score import _JUDGE, BeaconScore, _numpy, score_sorted

MAX_STARTS = 1024
MAX_SIZES = 256
MIN_PREVALENT_HOSTS = 3
USE_COMPILED = True  # add_chunks by the compiled _beacon_judge.add_chunks when built (tests)
_EMPTY: list[Any] = []  # the shared read-only empty starts and sizes (numpy: made on first use)


def _empties() -> list[Any]:
    if not _EMPTY:
        np = _numpy()
        for dtype in (float, np.int64):
            a = np.empty(0, dtype=dtype)
            a.flags.writeable = False
            _EMPTY.append(a)
    return _EMPTY


def add_chunks(series: Sequence[PairSeries], times: Any, tb: Any, sizes: Any, sb: Any) -> None:
    """``series[i].add(times[tb[i]:tb[i + 1]], sizes[sb[i]:sb[i + 1]])`` for every *i*
    (*times* float64, *sizes* int64, the bounds intp arrays one longer than *series*): the
    fold of one evaluation. By the compiled ``add_chunks`` (``_beacon_judge.pyx``: the same
    arrays, made without numpy's per-call cost on each pair's few starts) when it is built and
    :data:`USE_COMPILED`, else by :meth:`PairSeries.add` (the reference)."""
    if USE_COMPILED and _JUDGE is not None and type(series) is list:
        _JUDGE.add_chunks(series, times, tb, sizes, sb, MAX_STARTS, MAX_SIZES, _numpy())
        return
    for i, one in enumerate(series):
        one.add(times[tb[i]:tb[i + 1]], sizes[sb[i]:sb[i + 1]])


def prevalence_cutoff(internal_hosts: int, fraction: float) -> int:
    """Number of distinct internal hosts from which a destination counts as *prevalent*."""
    return max(MIN_PREVALENT_HOSTS, math.ceil(fraction * internal_hosts))


class PairSeries:
    """The most recent connection starts and sizes of one pair, with its cached verdict.

    Starts are kept raw (sorted, not merged): the merge window depends on the pair's own
    rhythm (:func:`~eve_consumer.handlers.beacon_score.merge_window`) and is applied when
    the pair is scored."""

    __slots__ = ("_cached", "_dirty", "_observed", "sizes", "starts")

    def __init__(self) -> None:
        # shared read-only empty arrays: a series' arrays are replaced, never written
        self.starts, self.sizes = _EMPTY or _empties()
        self._dirty = False
        self._cached: BeaconScore | None = None
        self._observed: float | None = None

    def __len__(self) -> int:
        return int(self.starts.size)

    def add(self, times: Sequence[float] | Any, sizes: Sequence[int] | Any) -> None:
        """Fold a chunk of connection starts (any order, late ones too) and their sizes in."""
        np = _numpy()
        t = np.asarray(times, dtype=float)
        if t.size == 0:
            return
        old = self.starts
        if not old.size:  # np.sort(t) without its Python wrapper: a copy sorted in place
            t = t.copy()  # a copy: never a view of the caller's (batch) array
            t.sort()
        elif float(t.min()) < float(old[-1]):
            t = np.sort(np.concatenate([old, t]))  # a late chunk: sorted in again
        else:
            t = np.concatenate([old, np.sort(t)])
        self.starts = t[-MAX_STARTS:]
        s = np.asarray(sizes, dtype=np.int64)
        if s.size:  # a copy either way (never a view of the caller's array)
            self.sizes = (np.concatenate([self.sizes, s])[-MAX_SIZES:] if self.sizes.size
                          else s[-MAX_SIZES:].copy())
        self._dirty = True

    def verdict(self, min_beats: int, observed_s: float | None = None) -> BeaconScore | None:
        """The pair's score, computed again only when starts arrived since the last call (or
        the observed window of a short capture changed: see ``score_beacon``)."""
        if self._dirty or observed_s != self._observed:
            self._cached = score_sorted(self.starts, min_beats, self.sizes, observed_s)
            self._dirty = False
            self._observed = observed_s
        return self._cached

    def last(self) -> float | None:
        return float(self.starts[-1]) if self.starts.size else None

    def first(self) -> float | None:
        return float(self.starts[0]) if self.starts.size else None

    def to_state(self) -> dict[str, list[float] | list[int]]:
        return {"starts": [float(x) for x in self.starts],
                "sizes": [int(x) for x in self.sizes]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PairSeries:
        np = _numpy()
        series = cls()
        starts = state.get("starts", state.get("beats", []))  # "beats": older checkpoints
        series.starts = np.sort(np.asarray(starts, dtype=float))[-MAX_STARTS:]
        series.sizes = np.asarray(state.get("sizes", []), dtype=np.int64)[-MAX_SIZES:]
        series._dirty = True
        return series
