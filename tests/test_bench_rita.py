"""Tests of bench/beacon/rita.py, the re-implementation of RITA v5's beacon score.

Several expected values are the ones RITA's own analysis/beacons_test.go states for the same
inputs (activecm/rita); the others are computed by hand in the comments.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "beacon" / "rita.py"
    spec = importlib.util.spec_from_file_location("bench_beacon_rita", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


rita = _load()

DAY = 86_400
W0 = 1_700_000_000.0
W1 = W0 + DAY


def _poisson(seed: int, mean_gap: float = 600.0, sigma: float = 1.5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = rng.poisson(DAY / mean_gap)
    ts = np.sort(rng.uniform(W0, W1, n))
    return ts, np.round(rng.lognormal(6.0, sigma, n))


# --- the statistic behind the TS and DS scores ------------------------------------------------


def test_ts_score_hand_computed_bowley_and_mad() -> None:
    # intervals (in order) 40, 10, 0 (duplicate), 200, 12, 100, 14 -> non-zero sorted:
    # 10 12 14 | 40 100 200 ; Q1 = 12, Q2 = (14 + 40) / 2 = 27, Q3 = 100 (Tukey hinges)
    # Bowley = (12 + 100 - 54) / 88 = 0.65909 -> 1 - |skew| = 0.34091
    # |x - 27| = 17 15 13 13 73 173 -> MAD = (15 + 17) / 2 = 16 -> (27 - 16) / 27 = 0.40741
    # TS = round3((0.34091 + 0.40741) / 2) = round3(0.37416) = 0.374
    ts = np.array([1000, 1040, 1050, 1050, 1250, 1262, 1362, 1376], dtype=float)
    iv = np.array([10, 12, 14, 40, 100, 200], dtype=float)
    assert rita.quartiles(iv) == (12.0, 27.0, 100.0)
    assert rita.bowley_skew(iv) == pytest.approx(58 / 88)
    assert rita.mad_score(iv, 1.0) == pytest.approx(11 / 27)
    assert rita.ts_score(ts) == 0.374


@pytest.mark.parametrize(
    ("values", "default", "expected"),
    [
        # RITA beacons_test.go TestCalculateStatisticalScore / TestGetDataSizeScore
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.0, 0.773),
        ([60] * 9, 0.0, 1.0),
        ([98, 99, 99, 100, 100, 100, 101, 101, 102], 0.0, 0.995),
        ([1, 299, 25, 4975, 90, 2, 42, 500, 1500], 1.0, 0.083),  # Q1 = 13.5, skew 0.845
        ([524885, 1, 5000, 98654, 50, 41, 965842, 3], 0.0, 0.008),
        ([0] * 10, 0.0, 0.5),  # median < 1 -> MAD score takes the default
        ([0] * 10, 1.0, 1.0),
        ([7, 8, 7, 8, 7, 8, 7, 8, 7], 1.0, 1.0),  # Q1 == Q2 -> skew 0
        ([1, 1, 2, 2, 2, 2], 1.0, 1.0),  # Q2 == Q3 -> skew 0
    ],
)
def test_statistical_score_matches_rita_vectors(
    values: list[float], default: float, expected: float
) -> None:
    assert rita.statistical_score(np.sort(np.array(values, dtype=float)), default) == expected


def test_bowley_skew_ignored_when_iqr_below_10() -> None:
    iv = np.array([1, 2, 3, 4, 12], dtype=float)  # Q1 1.5, Q2 3, Q3 8: IQR 6.5 < 10
    assert rita.bowley_skew(iv) == 0.0
    iv = np.array([1, 2, 3, 4, 30], dtype=float)  # Q3 17: IQR 15.5, skew (1.5 + 17 - 6) / 15.5
    assert rita.bowley_skew(iv) == pytest.approx(12.5 / 15.5)


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [  # RITA beacons_test.go TestGetTimestampScore (timestamps from 1517338924 on)
        ([60] * 9, 1.0),
        ([98, 99, 99, 100, 100, 100, 101, 101, 102], 0.995),
        ([98, 300] * 5, 0.746),  # Q = 98 / 199 / 300: skew 0, MAD 101 -> (1 + 98/199) / 2
        ([1, 299, 25, 4975, 90, 2, 42, 500, 1500], 0.083),
    ],
)
def test_ts_score_matches_rita_vectors(intervals: list[int], expected: float) -> None:
    ts = 1517338924 + np.cumsum([0, *intervals])
    assert rita.ts_score(ts.astype(np.int64)) == expected


# --- histogram and duration -------------------------------------------------------------------


def test_histogram_bins_and_clamping() -> None:
    start, end = 0, 24 * 3600
    ts = np.array([-5, 0, 3599, 3600, 86399, 86400, 90000])
    hist = rita.histogram(ts, start, end)
    assert hist[0] == 3 and hist[1] == 1 and hist[23] == 3 and hist.sum() == len(ts)


def test_hist_score_cv_and_bimodal() -> None:
    flat = np.full(24, 60)
    assert rita.hist_score(flat) == 1.0
    # 12 hours at 10 and 12 at 40: CV = 15 / 25 = 0.6 -> 0.4; bimodal (12 + 12) / 23 -> 1
    two_level = np.array([10, 40] * 12)
    assert rita._cv_score(two_level) == 0.4
    assert rita.hist_score(two_level) == 1.0
    # only 10 non-empty hours: no bimodal score (needs 11); CV = sqrt(14 / 10) > 1 -> 0
    sparse = np.array([5] * 10 + [0] * 14)
    assert rita._bimodal_score(sparse) == 0.0
    assert rita.hist_score(sparse) == 0.0


def test_bimodal_bucket_is_five_percent_of_tallest_bar() -> None:
    # tallest 100 -> bucket width ceil(100 * 0.05) = 5: 95..99 share bucket 95, 50..54 bucket 50
    hist = np.array([100, 96, 97, 98, 99, 95, 50, 51, 52, 53, 54, 7] + [0] * 12)
    # buckets: 95 x5, 50 x5, 100 x1, 5 x1 -> (5 + 5) / (12 bars - 1 outlier) = 0.909
    assert rita._bimodal_score(hist) == 0.909


def test_duration_score_coverage_and_wrapping_consistency() -> None:
    start, end = 0, DAY
    # hours 20..23 and 0..3 non-empty: run wraps, 8 hours -> 8/12 = 0.667 (ceil)
    hist = np.zeros(24, dtype=int)
    hist[[20, 21, 22, 23, 0, 1, 2, 3]] = 1
    assert rita.longest_run(hist) == 8
    # first/last connection 6 h apart -> coverage 0.25; consistency wins
    assert rita.dur_score(hist, 0, 6 * 3600, start, end) == 0.667
    # coverage is rounded up: (86399 - 0) / 86400 -> 0.99999 -> 1.0
    assert rita.dur_score(np.ones(24, dtype=int), 0, DAY - 1, start, end) == 1.0
    # fewer than 6 non-empty hours -> 0
    hist5 = np.zeros(24, dtype=int)
    hist5[:5] = 3
    assert rita.dur_score(hist5, 0, DAY - 1, start, end) == 0.0


# --- whole pairs ------------------------------------------------------------------------------


def test_regular_timer_scores_high() -> None:
    ts = W0 + 60.0 * np.arange(DAY // 60) + 0.25
    r = rita.rita_score(ts, np.full(len(ts), 812.0), W0, W1)
    assert r is not None
    assert r.score >= 0.9
    assert (r.ts_score, r.ds_score, r.hist_score, r.dur_score) == (1.0, 1.0, 1.0, 1.0)


def test_poisson_traffic_scores_low_on_most_seeds() -> None:
    scores = []
    for seed in range(10):
        r = rita.rita_score(*_poisson(seed), W0, W1)
        assert r is not None
        scores.append(r.score)
    assert sum(s < 0.7 for s in scores) >= 8, scores


def test_fewer_than_four_unique_timestamps_is_none() -> None:
    assert rita.rita_score(np.array([W0, W0 + 60, W0 + 120]), np.ones(3), W0, W1) is None
    ts = np.array([W0, W0, W0 + 60, W0 + 60, W0 + 120, W0 + 120])
    assert rita.rita_score(ts, np.ones(6), W0, W1) is None
    assert rita.rita_score(np.array([]), np.array([]), W0, W1) is None
    ts4 = np.array([W0, W0 + 60, W0 + 120, W0 + 180])
    assert rita.rita_score(ts4, np.ones(4), W0, W1) is not None


def test_truncation_to_whole_seconds_merges_subsecond_duplicates() -> None:
    # six distinct float timestamps, but only three distinct whole seconds
    ts = W0 + np.array([0.1, 0.2, 0.9, 1.5, 1.7, 2.9])
    assert rita.rita_score(ts, np.ones(6), W0, W1) is None
    # 10.9, 20.1, 30.5, 40.0 -> 10, 20, 30, 40: intervals exactly 10 s -> perfect TS score
    ts = W0 + np.array([10.9, 20.1, 30.5, 40.0])
    r = rita.rita_score(ts, np.full(4, 100.0), W0, W1)
    assert r is not None and r.ts_score == 1.0


def test_duplicates_count_in_histogram_and_sizes() -> None:
    base = W0 + 60.0 * np.arange(DAY // 60)
    ts = np.concatenate([base, base[: len(base) // 2]])  # first half of the day doubled
    sizes = np.full(len(ts), 500.0)
    r = rita.rita_score(ts, sizes, W0, W1)
    assert r is not None
    assert r.ts_score == 1.0  # unique timestamps: still a perfect 60 s interval
    assert r.hist_score == 1.0  # two levels (120/h, 60/h): bimodal fit
    assert rita._cv_score(rita.histogram(rita._truncate(ts), int(W0), int(W1))) < 1.0


def test_strobe_gets_no_beacon_score() -> None:
    ts = W0 + np.arange(rita.STROBE_CONNECTIONS) * (DAY / rita.STROBE_CONNECTIONS)
    assert rita.rita_score(ts, np.ones(len(ts)), W0, W1) is None


def test_invalid_window_raises() -> None:
    with pytest.raises(ValueError):
        rita.rita_score(np.arange(5.0), np.ones(5), 10.0, 10.0)


def test_threat_score_buckets() -> None:
    assert rita.rita_threat_score(0.49) == 0.0
    assert rita.rita_threat_score(0.5) == pytest.approx(0.2)
    assert rita.rita_threat_score(0.8) == pytest.approx(0.5)
    assert rita.rita_threat_score(1.0) == pytest.approx(0.8)


def test_rita_scores_agrees_with_rita_score_per_pair() -> None:
    rng = np.random.default_rng(7)
    parts_pair, parts_ts, parts_sz = [], [], []
    n_pairs = 40
    for p in range(n_pairs):
        kind = p % 4
        if kind == 0:  # jittered beacon
            n = 500
            ts = W0 + np.cumsum(rng.uniform(30, 60, n))
            sz = 400 * rng.uniform(0.95, 1.05, n)
        elif kind == 1:  # Poisson
            ts, sz = _poisson(p, mean_gap=900.0)
        elif kind == 2:  # too few unique seconds
            ts = W0 + 5000 + rng.uniform(0, 3, 6)
            sz = rng.uniform(100, 200, 6)
        else:  # skip: no flows at all for some pairs
            continue
        parts_pair.append(np.full(len(ts), p))
        parts_ts.append(ts)
        parts_sz.append(sz)
    pair = np.concatenate(parts_pair)
    ts_all = np.concatenate(parts_ts)
    sz_all = np.concatenate(parts_sz)
    order = rng.permutation(len(pair))  # flows arrive unsorted
    pair, ts_all, sz_all = pair[order], ts_all[order], sz_all[order]

    out = rita.rita_scores(pair, ts_all, sz_all, n_pairs, W0, W1)
    assert out.shape == (n_pairs,)
    for p in range(n_pairs):
        m = pair == p
        r = rita.rita_score(ts_all[m], sz_all[m], W0, W1)
        if r is None:
            assert np.isnan(out[p]), p
        else:
            assert out[p] == r.score, p
    assert np.isnan(out[2::4]).all() and np.isnan(out[3::4]).all()
    assert not np.isnan(out[0::4]).any()


def test_rita_scores_scale() -> None:
    rng = np.random.default_rng(3)
    n, n_pairs = 200_000, 2_000
    pair = rng.integers(0, n_pairs, n)
    out = rita.rita_scores(pair, rng.uniform(W0, W1, n), rng.lognormal(6, 1, n), n_pairs, W0, W1)
    assert out.shape == (n_pairs,) and np.isfinite(out).all()
    assert ((out >= 0) & (out <= 1)).all()
