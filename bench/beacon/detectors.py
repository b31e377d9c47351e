"""The two detectors of the beacon benchmark, run on the same generated flows.

- :func:`sakimori_scores` — sakimori's detector as the consumer runs it: answered flows only
  (failed connections are ``fw_blocked`` material, not timing), fed hour by hour into bounded
  :class:`~eve_consumer.handlers.beacon_series.PairSeries` (a service evaluates after every
  hour; ``hourly=False`` evaluates once at the end), scored with
  :func:`~eve_consumer.handlers.beacon_score.score_beacon`.
- :func:`rita_scores` — the RITA v5 reference (``rita.py``) on all of a pair's flows in the
  24 h window, as RITA imports them (failed connections included: its documented design).

Both then go through the same **prevalence** rule (:func:`prevalent_pairs`, the consumer's:
a destination reached by ≥ max(3, 25 % of the internal hosts) is a common service), so the
comparison is between the scorers. A pair that cannot be judged scores 0.
"""

from __future__ import annotations

import numpy as np
from generate import Dataset
from rita import rita_scores as _rita_scores

from eve_consumer.handlers.beacon_score import preload_numpy
from eve_consumer.handlers.beacon_series import PairSeries, prevalence_cutoff
from sakimori.distinct import DistinctCount

PREVALENCE_FRACTION = 0.25  # traffic.beacon_prevalence_fraction's default


def prevalent_pairs(data: Dataset, fraction: float = PREVALENCE_FRACTION) -> np.ndarray:
    """Boolean per pair: is its destination contacted by enough distinct internal hosts?
    Counted with the consumer's :class:`~sakimori.distinct.DistinctCount` (exact, then a
    sketch), so a fleet over hundreds or thousands of hosts is counted as the consumer does."""
    per_dest: dict[str, DistinctCount] = {}
    hosts = DistinctCount()
    for h, d in zip(data.host.tolist(), data.dest, strict=True):
        per_dest.setdefault(d, DistinctCount()).add(str(h))
        hosts.add(str(h))
    cutoff = prevalence_cutoff(len(hosts), fraction)
    return np.fromiter((len(per_dest[d]) >= cutoff for d in data.dest), bool, data.n_pairs)


def sakimori_scores(data: Dataset, min_beats: int = 5, hourly: bool = True) -> np.ndarray:
    """sakimori's score per pair (0 where it cannot judge)."""
    preload_numpy()
    series = [PairSeries() for _ in range(data.n_pairs)]
    ok = data.answered
    pair, ts, size = data.pair[ok], data.ts[ok], data.size[ok]
    hour = ((ts - data.start) // 3600).astype(np.int64)
    hour_edges = np.searchsorted(hour, np.arange(hour.max() + 2)) if ts.size else [0]
    scores = np.zeros(data.n_pairs)
    for h in range(len(hour_edges) - 1):
        a, b = hour_edges[h], hour_edges[h + 1]
        if a == b:
            continue
        order = np.argsort(pair[a:b], kind="stable")
        p, t, s = pair[a:b][order], ts[a:b][order], size[a:b][order]
        bounds = np.flatnonzero(np.diff(p)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [p.size]])
        for lo, hi in zip(starts, ends, strict=True):
            series[p[lo]].add(t[lo:hi], s[lo:hi])
        if hourly:
            for i in np.unique(p):
                _score(series, scores, int(i), min_beats)
    if not hourly:
        for i in range(data.n_pairs):
            _score(series, scores, i, min_beats)
    return scores


def _score(series: list[PairSeries], scores: np.ndarray, i: int, min_beats: int) -> None:
    verdict = series[i].verdict(min_beats)
    scores[i] = verdict.score if verdict is not None else 0.0


def rita_scores(data: Dataset) -> np.ndarray:
    """RITA v5's beacon score per pair over the 24 h window (0 where it cannot judge)."""
    out = _rita_scores(data.pair, data.ts, data.size.astype(float), data.n_pairs,
                       data.start, data.start + data.span_s)
    return np.nan_to_num(out, nan=0.0)
