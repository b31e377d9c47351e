"""Periodicity score of one internal host × destination pair (pure functions, numpy).

The question asked of a pair's connection start times is: *are these arrivals more regular
than random arrivals could be, given how many there are?* A timer — however jittered, with
beats missing and its sleep changed — draws its intervals from a bounded, unimodal
distribution; random (Poisson) arrivals have exponential intervals with many short ones;
people browse in bursts, which is *less* regular than random. So each pair's regularity is
measured against the exponential **null** and expressed in standard deviations of that null
(z), calibrated for the number of intervals (:data:`NULL_TABLE`, made by
:func:`simulate_null`). Steps:

1. **Beats** — sort; a start within ``MERGE_S`` (1 s) of the previous one is the same beat
   (a page load, or a beacon opening two connections at once).
2. **Dead time** — merging makes every interval ≥ ``MERGE_S``: the statistics use the
   *excess* ``d − MERGE_S``, which stays exponential for random arrivals at any rate.
3. **Gaps** — intervals over ``GAP_FACTOR`` (8) × the median are gaps (host off at night,
   C2 down) and are left out: office-hours-only beacons are judged on their working hours.
   Only a few are: at most 2 + one per day spanned + 1 % of the intervals. More gaps than
   that is bursty traffic (people browse in sessions), whose gaps are kept as its rhythm.
4. **Shape** — the gamma-shape statistic ``ln(mean d) − mean(ln d)`` (the log of the
   arithmetic over the geometric mean; ≈ 0.58 for exponential intervals, ≈ 0.15 for a timer
   with 90 % one-sided jitter, → 0 for a clean timer), averaged over consecutive blocks of
   16–31 intervals so that a change of sleep does not look irregular; ``z_shape`` is how far
   below the null its log lies.
5. **Local** — the mean squared log-ratio of consecutive intervals (the highest 5 % left out:
   a stray extra connection or missing beat), robust to sleep changes; ``z_local``.
6. **Size** — ``size_regularity`` = 1 when the request sizes' MAD/median ≤ 0.1 (a check-in
   with nothing to say), 0 from 0.3; it adds at most ``SIZE_WEIGHT`` (1) to z. Timing decides.
7. ``z = (z_shape + z_local) / 2 + SIZE_WEIGHT · size_regularity``;
   ``score = 1 − 2^(−z / Z_HALF)`` (0 for z ≤ 0): z = 3.5 gives 0.70 (the default
   ``traffic.beacon_threshold``), z = 7 gives 0.91.

Pairs with fewer than ``min_beats`` beats, or a median interval under ``MIN_PERIOD_S``
(strobes), are not judged (None). Everything here is scale-free: the same rule for a 10-second
and a one-hour sleep. The benchmark (``bench/beacon/``) chose the weights and the default
threshold on its training seeds and reports on others; ``docs/beacon.md`` explains the design.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def _numpy() -> Any:
    """numpy, imported on first use: importing this module (and so every ``sakimori`` verb's
    parser) must not pay its ~75 ms; the beacon handler preloads it when it is built."""
    import numpy

    return numpy


def preload_numpy() -> None:
    _numpy()


MERGE_S = 1.0
MIN_PERIOD_S = 5.0
GAP_FACTOR = 8.0
BLOCK = 16
LOCAL_KEEP = 0.95
FLOOR_S = 0.05
SIZE_WEIGHT = 1.0
Z_HALF = 2.0
MAX_INTERVALS_SHOWN = 200
NULL_MEAN_S = 600.0  # null intervals' mean: far above FLOOR_S, as for any judged pair

# Null distribution (exponential intervals) of ln(shape) and ln(local) by number of intervals
# n: mean and standard deviation. Made by simulate_null(runs=4000, seed=7); checked by
# tests/test_consumer_beacon_score.py against a fresh, smaller simulation.
NULL_TABLE: tuple[tuple[int, float, float, float, float], ...] = (
    (3, -1.5815, 1.2222, -1.4392, 2.4357),
    (4, -1.2347, 0.9951, -0.4872, 1.6193),
    (5, -1.0991, 0.7831, -0.129, 1.2844),
    (6, -0.9791, 0.6919, 0.11, 1.0427),
    (7, -0.9113, 0.613, 0.2656, 0.9257),
    (9, -0.8267, 0.5044, 0.4314, 0.7703),
    (11, -0.7686, 0.4672, 0.5483, 0.707),
    (14, -0.7293, 0.3888, 0.6433, 0.603),
    (17, -0.6931, 0.3498, 0.7303, 0.5464),
    (21, -0.6728, 0.3055, 0.7894, 0.4858),
    (26, -0.6468, 0.272, 0.6454, 0.429),
    (32, -0.6667, 0.2494, 0.7081, 0.3821),
    (40, -0.642, 0.2226, 0.7912, 0.3458),
    (50, -0.6422, 0.2006, 0.7495, 0.306),
    (62, -0.6298, 0.1795, 0.7433, 0.2824),
    (77, -0.6282, 0.1586, 0.7896, 0.245),
    (95, -0.6292, 0.1418, 0.7867, 0.2212),
    (118, -0.6308, 0.1288, 0.7965, 0.1977),
    (147, -0.6335, 0.1147, 0.7753, 0.1755),
    (182, -0.6302, 0.1044, 0.7883, 0.1616),
    (226, -0.63, 0.0932, 0.7831, 0.1443),
    (280, -0.627, 0.085, 0.8007, 0.1308),
    (348, -0.6275, 0.0741, 0.7901, 0.1155),
    (432, -0.6251, 0.0667, 0.7971, 0.1038),
    (536, -0.6259, 0.0607, 0.799, 0.0927),
    (665, -0.6264, 0.0538, 0.797, 0.0834),
    (825, -0.6267, 0.0485, 0.7992, 0.0744),
    (1024, -0.6259, 0.0437, 0.8001, 0.0676),
)


@dataclass(frozen=True)
class BeaconScore:
    """The verdict on one pair, with everything an operator needs to check it."""

    score: float
    z: float
    period_s: float
    jitter: float  # ± fraction of the period (central 80 % of intervals / 1.6 / median)
    beats: int
    gaps: int
    sub_scores: dict[str, float] = field(default_factory=dict)
    size_dispersion: float | None = None
    intervals: Any = field(default=None, compare=False, repr=False)  # seconds, numpy

    @property
    def intervals_s(self) -> list[float]:
        """The most recent ``MAX_INTERVALS_SHOWN`` intervals, rounded (for plots)."""
        if self.intervals is None:
            return []
        return [round(float(x), 2) for x in self.intervals[-MAX_INTERVALS_SHOWN:]]

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score": round(self.score, 3), "z": round(self.z, 2),
            "period_s": round(self.period_s, 1), "jitter": round(self.jitter, 3),
            "beats": self.beats, "gaps": self.gaps,
        }
        out.update({f"sub_{k}": round(v, 3) for k, v in self.sub_scores.items()})
        if self.size_dispersion is not None:
            out["size_dispersion"] = round(self.size_dispersion, 3)
        out["intervals_s"] = self.intervals_s
        return out


def _median(a: np.ndarray) -> float:
    """Median without np.median (whose first call imports numpy.ma: ~30 ms)."""
    s = _numpy().sort(a)
    n = s.size
    mid = n // 2
    return float(s[mid]) if n % 2 else float(s[mid - 1] + s[mid]) / 2.0


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def merge_beats(times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Sorted start times with near-simultaneous starts (≤ MERGE_S apart) merged."""
    np = _numpy()
    t = np.sort(np.asarray(times, dtype=float))
    if t.size < 2:
        return t
    keep = np.empty(t.size, dtype=bool)
    keep[0] = True
    keep[1:] = np.diff(t) > MERGE_S
    return t[keep]


def regularity_stats(intervals: np.ndarray) -> tuple[int, float, float] | None:
    """(n used, shape statistic, local statistic) of inter-beat intervals (all > MERGE_S);
    None when fewer than 3 remain once gaps are left out."""
    np = _numpy()
    d = intervals - MERGE_S
    np.maximum(d, FLOOR_S, out=d)
    ds = np.sort(d)
    limit = GAP_FACTOR * float(ds[ds.size // 2])
    if ds[-1] > limit:
        gaps = ds.size - int(np.searchsorted(ds, limit, side="right"))
        days = math.ceil(float(intervals.sum()) / 86400.0)
        if gaps <= 2 + days + ds.size // 100:  # nights, outages: left out
            d = d[d <= limit]
        # more gaps than that is bursty traffic: the gaps are part of its rhythm, kept
    n = int(d.size)
    if n < 3:
        return None
    ld = np.log(d)
    nb = n // BLOCK
    if nb <= 1:
        shape = math.log(float(d.mean())) - float(ld.mean())
    else:
        starts = (np.arange(nb) * n) // nb
        counts = np.diff(np.append(starts, n))
        means = np.add.reduceat(d, starts) / counts
        logmeans = np.add.reduceat(ld, starts) / counts
        shape = float(((np.log(means) - logmeans) * counts).sum()) / n
    step = ld[1:] - ld[:-1]
    r2 = step * step
    keep = max(1, int(r2.size * LOCAL_KEEP))
    if keep < r2.size:
        r2 = np.partition(r2, keep - 1)[:keep]
    return n, shape, float(r2.mean())


_NULL_COLUMNS: list[list[float]] = []


def _null_at(n: int) -> tuple[float, float, float, float]:
    """Null means and sds at *n* intervals, linear in ln n between table rows."""
    if not _NULL_COLUMNS:
        _NULL_COLUMNS.extend([[math.log(r[0]) for r in NULL_TABLE]]
                             + [[r[c] for r in NULL_TABLE] for c in (1, 2, 3, 4)])
    xs = _NULL_COLUMNS[0]
    x = math.log(n)
    i = bisect.bisect_right(xs, x)
    if i <= 0:
        return tuple(col[0] for col in _NULL_COLUMNS[1:])  # type: ignore[return-value]
    if i >= len(xs):
        return tuple(col[-1] for col in _NULL_COLUMNS[1:])  # type: ignore[return-value]
    w = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return tuple(col[i - 1] + w * (col[i] - col[i - 1])  # type: ignore[return-value]
                 for col in _NULL_COLUMNS[1:])


def z_scores(n: int, shape: float, local: float) -> tuple[float, float]:
    """How many null standard deviations more regular than random arrivals (positive = more)."""
    m_s, sd_s, m_l, sd_l = _null_at(n)
    return ((m_s - math.log(shape + 1e-12)) / sd_s, (m_l - math.log(local + 1e-12)) / sd_l)


def score_from_z(z: float) -> float:
    return 0.0 if z <= 0 else 1.0 - 2.0 ** (-z / Z_HALF)


def size_dispersion(sizes: Sequence[int] | np.ndarray) -> float | None:
    """MAD/median of request sizes (None when too few or zero)."""
    np = _numpy()
    s = np.sort(np.asarray(sizes, dtype=float))
    if s.size < 3:
        return None
    med = float(s[s.size // 2])
    if med <= 0:
        return None
    dev = np.abs(s - med)
    return float(np.partition(dev, dev.size // 2)[dev.size // 2]) / med


def score_beacon(times: Sequence[float] | np.ndarray, min_beats: int = 8,
                 sizes: Sequence[int] | np.ndarray | None = None,
                 merged: bool = False) -> BeaconScore | None:
    """Score the start times of one pair (``merged``: already :func:`merge_beats` output);
    None when there is too little to judge."""
    np = _numpy()
    t = np.asarray(times, dtype=float) if merged else merge_beats(times)
    beats = int(t.size)
    if beats < max(4, min_beats):
        return None
    d = t[1:] - t[:-1]
    ds = np.sort(d)
    med = float(ds[ds.size // 2])
    if med < MIN_PERIOD_S:
        return None
    stats = regularity_stats(d)
    if stats is None:
        return None
    n, shape, local = stats
    z_shape, z_local = z_scores(n, shape, local)
    size_disp = size_dispersion(sizes) if sizes is not None else None
    size_reg = 0.0 if size_disp is None else _clip((0.3 - size_disp) / 0.2)
    z = (z_shape + z_local) / 2.0 + SIZE_WEIGHT * size_reg
    body = ds[: int(np.searchsorted(ds, GAP_FACTOR * med, side="right"))]
    q10, q50, q90 = (float(body[int(q * (body.size - 1))]) for q in (0.1, 0.5, 0.9))
    return BeaconScore(
        score=score_from_z(z), z=z, period_s=q50, jitter=min(1.0, (q90 - q10) / 1.6 / q50),
        beats=beats, gaps=int(d.size - body.size),
        sub_scores={"z_shape": z_shape, "z_local": z_local, "size_regularity": size_reg,
                    "shape": shape, "local": local},
        size_dispersion=size_disp, intervals=d)


def simulate_null(ns: Sequence[int], runs: int = 4000,
                  seed: int = 7) -> list[tuple[int, float, float, float, float]]:
    """Null table rows (n, mean and sd of ln shape, mean and sd of ln local) from *runs*
    series of n exponential intervals each (plus the dead time, as merging leaves them)."""
    np = _numpy()
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        shapes, locals_ = [], []
        for _ in range(runs):
            stats = regularity_stats(MERGE_S + rng.exponential(NULL_MEAN_S, n))
            if stats is not None and stats[0] >= 3:
                shapes.append(np.log(stats[1] + 1e-12))
                locals_.append(np.log(stats[2] + 1e-12))
        rows.append((int(n), round(float(np.mean(shapes)), 4), round(float(np.std(shapes)), 4),
                     round(float(np.mean(locals_)), 4), round(float(np.std(locals_)), 4)))
    return rows
