"""Re-implementation of the RITA v5 beacon score, as a comparison baseline for the beacon bench.

RITA (activecm/rita, v5) scores every internal host x destination pair seen in the last 24 h with
four sub-scores, each in [0, 1] and rounded to three decimals, and their weighted mean (default
weights 0.25 each, also rounded to three decimals):

* **TS score** - over the sorted, non-zero differences of the pair's whole-second timestamps,
  i.e. the intervals between *unique* timestamps: ``mean(1 - |Bowley skew|, MAD score)``.
* **DS score** - the same statistic over the per-connection byte counts (all connections,
  duplicates kept; RITA uses ``src_ip_bytes``, the caller passes whatever sizes it has).
* **Histogram score** - 24 equal bins over the dataset window, one count per connection
  (duplicates kept): ``max(CV score, bimodal-fit score)``.
* **Duration score** - ``max(coverage, consistency)`` once at least 6 bins are non-empty.

This module is written from reading the Go source; no code was copied.

Sources read (repository activecm/rita unless noted)
-----------------------------------------------------
* ``analysis/beacons.go``: ``analyzeBeacon``, ``getBeaconScore``, ``getTimestampScore``,
  ``getDataSizeScore``, ``calculateStatisticalScore``, ``calculateBowleySkewness``,
  ``calculateMedianAbsoluteDeviation``, ``getHistogramScore``, ``computeHistogramBins``,
  ``createHistogram``, ``getFrequencyCounts``, ``calculateCoefficientOfVariationScore``,
  ``calculateBimodalFitScore``, ``getDurationScore``.
* ``analysis/beacons_test.go``: the expected values (used as test vectors in
  ``tests/test_bench_rita.py``).
* ``analysis/analysis.go``: ``runAnalysis`` (the >= 4 unique timestamps gate, the strobe rule,
  ``calculateBucketedScore``).
* ``analysis/uconns.sql`` and the ``*_mv`` materialized views (``groupArrayState(86400)
  (toUnixTimestamp(ts))``): the timestamp list is the *full*, sorted list of whole-second
  timestamps; the bytes list is ``src_ip_bytes`` per connection.
* ``default_config.hjson`` / ``config/config.go``: the parameters below and the category scores.
* ``database`` ``GetBeaconMinMaxTimestamps``: window = ``[max(min_ts, max_ts - 24 h), max_ts]``.
* montanaflynn/stats ``quartile.go``, ``median.go``, ``deviation.go``: the quartile method.

Exact definitions used
----------------------
* Quartiles (``stats.Quartile``): Tukey's hinges - Q2 is the median; Q1/Q3 are the medians of
  the lower/upper half, the middle element *excluded* when n is odd. Medians of an even count
  average the two middle values.
* Bowley skew ``(Q1 + Q3 - 2 Q2) / (Q3 - Q1)``, taken as 0 unless ``Q3 - Q1 >= 10`` and
  ``Q2 != Q1`` and ``Q2 != Q3``; skew score ``1 - |skew|``.
* MAD = median of ``|x - median|``; MAD score ``(median - MAD) / median`` when ``median >= 1``,
  otherwise a default (1 for intervals - unreachable, as intervals are >= 1 s - and 0 for
  sizes); negative or NaN -> 0.
* Histogram: edges ``start + i * (end - start) / 24``; a timestamp goes to the bin whose upper
  edge it is below; timestamps before the window land in the first bin, at or after the end in
  the last bin (that is what ``createHistogram``'s scan does).
  CV score: population standard deviation / mean of the 24 bin counts (empty bins included);
  0 if CV > 1, else ``round(1 - CV)``.
  Bimodal fit: bar heights are bucketed to ``floor(h / b) * b`` with
  ``b = ceil(0.05 * tallest bar)`` (``histogram_mode_sensitivity``); the two most frequent
  bucket counts ``(c1 + c2) / max(bars - 1, 1)`` (``histogram_bimodal_outlier_removal`` = 1),
  capped at 1; only when at least 11 bins are non-empty (``histogram_bimodal_min_hours_seen``),
  else 0.
* Duration (only when >= 6 bins are non-empty, ``duration_min_hours_seen``; else 0):
  coverage = ``ceil3((last ts - first ts) / (end - start))``, consistency =
  ``ceil3(longest run of non-empty bins / 12)`` (``duration_consistency_ideal_hours_seen``),
  the run wrapping around from the last bin to the first; both capped at 1.
* Rounding: Go's ``math.Round`` (half away from zero) to three decimals for the TS, DS, CV,
  bimodal and final scores; ``math.Ceil`` to three decimals for coverage and consistency.

Where the source differs from the short spec in the issue
---------------------------------------------------------
* "consistency = hours with connections / hours in span" is not what RITA does: it is the
  longest (wrap-around) run of consecutive non-empty hours divided by 12, capped at 1.
  Coverage is ``(last - first) / window`` as guessed, rounded *up* to three decimals.
* The histogram counts every connection (duplicate timestamps included), and so does the DS
  score; only the TS score uses unique timestamps.
* The MAD term is not clipped by ``max(0, .)`` on a median < 1; it takes the default (0 for
  sizes). Every sub-score and the total are rounded to three decimals.
* The bimodal score is not a separate "bucket" parameter: the bucket width is 5 % of the
  tallest bar, and one bar is forgiven as an outlier.

Choices where the source left room
----------------------------------
* Truncation: RITA stores ``toUnixTimestamp(ts)`` (whole seconds); timestamps here are floored
  (the same for positive epochs). ``window_start``/``window_end`` are floored too (RITA takes
  ``.Unix()`` of them).
* No filtering to the window: RITA scores what its query returns (which starts at the *hour*
  of the window start, so a pair's first timestamp may precede it; coverage is then capped at 1).
  The caller passes the flows it wants scored; out-of-window timestamps are binned as above.
* Strobe rule: a pair with >= 86,400 connections in the window is reported by RITA as a strobe
  and gets *no* beacon score; ``rita_score`` returns ``None`` for it (the bench never gets there).
  The same bound caps RITA's ``groupArray(86400)`` lists, so no truncation of lists is modelled.
* RITA stores the scores as float32; these are kept as Python floats (same three-decimal values).
* Prevalence, first-seen, threat-intel and missing-host modifiers are not part of the beacon
  score and are not modelled.

Thresholds (``score_thresholds``): base 0.5, low 0.7, medium 0.9, high 1.0;
:func:`rita_threat_score` is RITA's ``calculateBucketedScore`` over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_UNIQUE_TIMESTAMPS = 4  # unique_connection_threshold
STROBE_CONNECTIONS = 86_400  # entry.Count >= this -> strobe, no beacon score
HIST_BINS = 24  # beaconTimeSpan
HIST_MODE_SENSITIVITY = 0.05  # histogram_mode_sensitivity
HIST_BIMODAL_OUTLIER_REMOVAL = 1  # histogram_bimodal_outlier_removal
HIST_BIMODAL_MIN_HOURS = 11  # histogram_bimodal_min_hours_seen
DUR_MIN_HOURS = 6  # duration_min_hours_seen
DUR_IDEAL_CONSISTENT_HOURS = 12  # duration_consistency_ideal_hours_seen
WEIGHT = 0.25  # each of the four sub-score weights
SKEW_MIN_IQR = 10.0  # Bowley skew is only trusted when Q3 - Q1 >= 10
THRESHOLDS = (0.5, 0.7, 0.9, 1.0)  # base, low, medium, high
_CATEGORY_SCORES = (0.2, 0.4, 0.6, 0.8)  # NONE/LOW/MEDIUM/HIGH_CATEGORY_SCORE


@dataclass(frozen=True)
class RitaScore:
    """RITA's beacon score of one pair and its four sub-scores (each in [0, 1])."""

    score: float
    ts_score: float
    ds_score: float
    hist_score: float
    dur_score: float


# --- rounding as Go does it -------------------------------------------------------------------


def _go_round(x: float) -> float:
    """Go ``math.Round``: nearest integer, halves away from zero."""
    if not math.isfinite(x):
        return x
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        return t + math.copysign(1.0, x)
    return float(t)


def _round3(x: float) -> float:
    return _go_round(x * 1000) / 1000


def _ceil3(x: float) -> float:
    return math.ceil(x * 1000) / 1000


# --- TS / DS: Bowley skew and MAD -----------------------------------------------------------


def _median_sorted(s: np.ndarray) -> float:
    n = len(s)
    if n % 2:
        return float(s[n // 2])
    return (float(s[n // 2 - 1]) + float(s[n // 2])) / 2


def quartiles(s: np.ndarray) -> tuple[float, float, float]:
    """Tukey's hinges of a sorted array (montanaflynn/stats ``Quartile``), n >= 2."""
    n = len(s)
    lo_end, hi_start = (n // 2, n // 2) if n % 2 == 0 else ((n - 1) // 2, (n - 1) // 2 + 1)
    return _median_sorted(s[:lo_end]), _median_sorted(s), _median_sorted(s[hi_start:])


def bowley_skew(s: np.ndarray) -> float:
    """Bowley skew of a sorted array, 0 where RITA deems it unreliable."""
    q1, q2, q3 = quartiles(s)
    den = q3 - q1
    if den >= SKEW_MIN_IQR and q2 != q1 and q2 != q3:
        return (q1 + q3 - 2 * q2) / den
    return 0.0


def mad_score(s: np.ndarray, default: float) -> float:
    """``(median - MAD) / median`` of a sorted array; ``default`` when the median is < 1."""
    med = _median_sorted(s)
    mad = _median_sorted(np.sort(np.abs(s - med)))
    score = (med - mad) / med if med >= 1 else default
    return 0.0 if (score < 0 or math.isnan(score)) else score


def statistical_score(s: np.ndarray, default_mad: float) -> float:
    """RITA's ``calculateStatisticalScore`` of a sorted array (>= 3 values)."""
    return _round3(((1.0 - abs(bowley_skew(s))) + mad_score(s, default_mad)) / 2.0)


def ts_score(ts_sorted: np.ndarray) -> float:
    """TS score from sorted whole-second timestamps (>= 4 unique)."""
    d = np.diff(ts_sorted)
    intervals = np.sort(d[d > 0]).astype(np.float64)
    return statistical_score(intervals, 1.0)


def ds_score(sizes_sorted: np.ndarray) -> float:
    """DS score from the sorted per-connection sizes."""
    return statistical_score(np.asarray(sizes_sorted, dtype=np.float64), 0.0)


# --- histogram and duration -----------------------------------------------------------------


def _inner_edges(start: int, end: int) -> np.ndarray:
    """The 23 inner bin edges of RITA's 24 bins over ``[start, end]`` (float64 like Go)."""
    step = float(end - start) / HIST_BINS
    return float(start) + np.arange(1, HIST_BINS, dtype=np.float64) * step


def _bin_index(ts_int: np.ndarray, start: int, end: int) -> np.ndarray:
    """Bin of each timestamp: first bin whose upper edge is above it; clamped to 0..23."""
    return np.searchsorted(_inner_edges(start, end), ts_int.astype(np.float64), side="right")


def histogram(ts_int: np.ndarray, start: int, end: int) -> np.ndarray:
    """Connections per bin (24 bins over the window)."""
    return np.bincount(_bin_index(ts_int, start, end), minlength=HIST_BINS)


def _cv_score(hist: np.ndarray) -> float:
    counts = [int(c) for c in hist]
    n = len(counts)
    mean = float(sum(counts)) / float(n)
    acc = 0.0
    for c in counts:  # sequential sum, as Go does
        acc += (c - mean) * (c - mean)
    cv = math.sqrt(acc / n) / abs(mean)
    return 0.0 if cv > 1.0 else min(_round3(1.0 - cv), 1.0)


def _bimodal_score(hist: np.ndarray) -> float:
    bars = hist[hist > 0]
    total_bars = len(bars)
    if total_bars < HIST_BIMODAL_MIN_HOURS:
        return 0.0
    bucket = math.ceil(float(hist.max()) * HIST_MODE_SENSITIVITY)
    buckets = np.floor(bars / bucket) * bucket
    _, freq = np.unique(buckets, return_counts=True)
    top = np.sort(freq)[::-1][:2]
    fit = float(top.sum()) / max(float(total_bars - HIST_BIMODAL_OUTLIER_REMOVAL), 1.0)
    return min(_round3(fit), 1.0)


def hist_score(hist: np.ndarray) -> float:
    """``max(CV score, bimodal fit)`` of a 24-bin connection histogram."""
    return max(_cv_score(hist), _bimodal_score(hist))


def longest_run(hist: np.ndarray) -> int:
    """Longest run of non-empty bins, wrapping from the last bin to the first."""
    nz = hist > 0
    if nz.all():
        return len(hist)
    best = run = 0
    for v in np.concatenate([nz, nz]):
        run = run + 1 if v else 0
        best = max(best, run)
    return min(best, len(hist))


def dur_score(hist: np.ndarray, first: int, last: int, start: int, end: int) -> float:
    """``max(coverage, consistency)``, 0 when fewer than 6 bins are non-empty."""
    if int(np.count_nonzero(hist)) < DUR_MIN_HOURS:
        return 0.0
    coverage = min(_ceil3(float(last - first) / float(end - start)), 1.0)
    consistency = min(_ceil3(float(longest_run(hist)) / float(DUR_IDEAL_CONSISTENT_HOURS)), 1.0)
    return max(coverage, consistency)


# --- totals ---------------------------------------------------------------------------------


def _window(window_start: float, window_end: float) -> tuple[int, int]:
    start, end = math.floor(window_start), math.floor(window_end)
    if end <= start:
        raise ValueError(f"invalid window: start {window_start} >= end {window_end}")
    return start, end


def _score_pair(
    ts_sorted: np.ndarray, sizes_sorted: np.ndarray, hist: np.ndarray, start: int, end: int
) -> RitaScore | None:
    """Score one pair from sorted whole-second timestamps, sorted sizes and its histogram."""
    n = len(ts_sorted)
    if n >= STROBE_CONNECTIONS:
        return None
    if n == 0 or np.count_nonzero(np.diff(ts_sorted)) + 1 < MIN_UNIQUE_TIMESTAMPS:
        return None
    ts_s = ts_score(ts_sorted)
    ds_s = ds_score(sizes_sorted)
    du_s = dur_score(hist, int(ts_sorted[0]), int(ts_sorted[-1]), start, end)
    hi_s = hist_score(hist)
    total = _round3(ts_s * WEIGHT + ds_s * WEIGHT + du_s * WEIGHT + hi_s * WEIGHT)
    return RitaScore(score=total, ts_score=ts_s, ds_score=ds_s, hist_score=hi_s, dur_score=du_s)


def _truncate(ts: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)


def rita_score(
    ts: np.ndarray, sizes: np.ndarray, window_start: float, window_end: float
) -> RitaScore | None:
    """RITA beacon score of one pair.

    ``ts``: connection start times in seconds (sub-second allowed; truncated to whole seconds);
    ``sizes``: bytes per connection, same length. ``None`` with fewer than 4 unique whole-second
    timestamps, or for a strobe (>= 86,400 connections).
    """
    ts_int = np.sort(_truncate(ts))
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    if sizes_arr.shape != ts_int.shape:
        raise ValueError("ts and sizes must have the same length")
    start, end = _window(window_start, window_end)
    return _score_pair(ts_int, np.sort(sizes_arr), histogram(ts_int, start, end), start, end)


def rita_scores(
    pair_index: np.ndarray,
    ts: np.ndarray,
    sizes: np.ndarray,
    n_pairs: int,
    window_start: float,
    window_end: float,
) -> np.ndarray:
    """RITA beacon scores of many pairs at once: float array of length ``n_pairs``, NaN where
    :func:`rita_score` would give ``None``. ``pair_index[i]`` in ``[0, n_pairs)`` is the pair of
    flow ``i``. Sorts once by (pair, ts) and once by (pair, size), then slices per pair.
    """
    pair = np.asarray(pair_index, dtype=np.int64)
    ts_int = _truncate(ts)
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    if not (pair.shape == ts_int.shape == sizes_arr.shape):
        raise ValueError("pair_index, ts and sizes must have the same length")
    if pair.size and (pair.min() < 0 or pair.max() >= n_pairs):
        raise ValueError("pair_index out of range")
    start, end = _window(window_start, window_end)

    by_ts = np.lexsort((ts_int, pair))
    ts_sorted = ts_int[by_ts]
    sizes_sorted = sizes_arr[np.lexsort((sizes_arr, pair))]
    bounds = np.searchsorted(pair[by_ts], np.arange(n_pairs + 1))
    hists = np.bincount(
        pair * HIST_BINS + _bin_index(ts_int, start, end), minlength=n_pairs * HIST_BINS
    ).reshape(n_pairs, HIST_BINS)

    out = np.full(n_pairs, np.nan)
    for p in range(n_pairs):
        lo, hi = bounds[p], bounds[p + 1]
        if hi - lo < MIN_UNIQUE_TIMESTAMPS:
            continue
        r = _score_pair(ts_sorted[lo:hi], sizes_sorted[lo:hi], hists[p], start, end)
        if r is not None:
            out[p] = r.score
    return out


def rita_threat_score(score: float) -> float:
    """RITA's bucketed beacon threat score (``calculateBucketedScore`` with the default
    thresholds 50/70/90/100 and category scores 0.2/0.4/0.6/0.8); 0 below the base threshold."""
    value = score * 100
    base, low, med, high = (t * 100 for t in THRESHOLDS)
    none_s, low_s, med_s, high_s = (c * 100 for c in _CATEGORY_SCORES)
    if value < base:
        return 0.0
    if value < low:
        out = none_s + (value - base) / (low - base) * (low_s - none_s)
    elif value < med:
        out = low_s + (value - low) / (med - low) * (med_s - low_s)
    else:
        out = med_s + (min(value, high) - med) / (high - med) * (high_s - med_s)
    return out / 100
