"""Mergeable histograms, robust statistics and the learned thresholds on synthetic traffic.

Thresholds are judged on held-out data: fitted on one sample of a heavy-tailed distribution,
then checked on a second, independent sample from the same distribution.
"""

from __future__ import annotations

import numpy as np
import pytest

from generator import thresholds
from generator.stats import LogHistogram, median, robust_upper


def _hist(values: np.ndarray, bpo: int = 32) -> LogHistogram:
    h = LogHistogram(bpo)
    for v in values:
        h.add(float(v))
    return h


def _url_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """Office-like URL lengths: log-normal body plus a Pareto tail (tracking/CDN URLs)."""
    body = rng.lognormal(mean=np.log(45), sigma=0.7, size=n)
    tail = 120 * (1 + rng.pareto(2.5, size=n))
    pick = rng.random(n) < 0.05
    return np.ceil(np.where(pick, tail, body)).astype(int)


def test_merge_equals_histogram_of_union() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(3, 1, 500), rng.lognormal(4, 0.5, 700)
    merged = _hist(a)
    merged.merge(_hist(b))
    assert merged == _hist(np.concatenate([a, b]))
    assert merged.n == 1200


def test_roundtrip_and_resolution_check() -> None:
    h = _hist(np.array([1, 2, 3, 500, 0.5]))
    h.add(0)
    again = LogHistogram.from_dict(h.to_dict(), 32)
    assert again == h and again.nonpositive == 1
    with pytest.raises(ValueError, match="bins per octave"):
        LogHistogram.from_dict(h.to_dict(), 16)
    with pytest.raises(ValueError):
        _hist(np.array([1.0])).merge(LogHistogram(16))


def test_quantiles_median_and_mad_match_exact_values() -> None:
    rng = np.random.default_rng(2)
    x = rng.lognormal(4, 0.8, 50_000)
    h = _hist(x)
    for q in (0.5, 0.9, 0.99, 0.999):
        assert h.quantile(q) == pytest.approx(np.quantile(x, q), rel=0.03)
    med, mad = h.log_median_mad()
    lx = np.log(x)
    assert med == pytest.approx(np.median(lx), abs=0.03)
    assert mad == pytest.approx(np.median(np.abs(lx - np.median(lx))), abs=0.03)


def test_robust_upper_on_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([1, 2, 3, 4]) == 2.5
    bound, med, mad = robust_upper([0, 0, 1, 1, 2, 40], 6)
    assert (med, mad) == (1, 1) and bound == 7


def test_url_threshold_generalises_to_held_out_data() -> None:
    rng = np.random.default_rng(3)
    train, held_out = _url_lengths(rng, 20_000), _url_lengths(rng, 20_000)
    rec = thresholds.url_length(_hist(train), k=6.0)
    assert rec["n"] == 20_000 and rec["threshold"] >= thresholds.URL_FLOOR
    assert rec["method"].startswith("max(exp(median(ln L) + k*MAD(ln L))")
    exceed = float(np.mean(held_out > rec["threshold"]))
    assert exceed < 0.002, (rec["threshold"], exceed)
    # ... while a 1 kB exfiltration URL is still far above it.
    assert rec["threshold"] < 1024


def test_url_threshold_has_floor_and_needs_data() -> None:
    rec = thresholds.url_length(_hist(np.full(100, 20)), k=6.0)
    assert rec["threshold"] == 200 and rec["binding"] == "floor"
    few = thresholds.url_length(_hist(np.full(5, 20)), k=6.0)
    assert few["threshold"] is None and "too few" in few["reason"]


def test_session_threshold_generalises_and_respects_floor() -> None:
    rng = np.random.default_rng(4)

    def durations(n: int) -> np.ndarray:
        short = rng.lognormal(np.log(2), 1.5, n)           # page loads, API calls
        long_ = 60 * (1 + rng.pareto(1.2, n // 10))        # video calls, push channels
        return np.concatenate([short, long_])

    train, held_out = durations(20_000), durations(20_000)
    rec = thresholds.session_duration(_hist(train), k=6.0)
    assert rec["threshold"] >= 3600
    assert rec["n"] == pytest.approx(int(np.sum(train >= 60)), rel=0.05)  # bin resolution
    long_held = held_out[held_out >= 60]
    assert float(np.mean(long_held > rec["threshold"])) < 0.01
    few = thresholds.session_duration(_hist(np.full(50, 5.0)), k=6.0)
    assert few["threshold"] is None  # no session of 60 s or more


def test_fw_failures_threshold() -> None:
    per = {f"10.0.0.{i}": {"2026-11-01": {"attempts": 50, "failed": i % 3}} for i in range(20)}
    rec = thresholds.fw_failures(per)
    assert rec["threshold"] == 7 and rec["n"] == 20  # median 1 + 6·MAD 1
    quiet = {f"10.0.0.{i}": {"2026-11-01": {"attempts": 5, "failed": 0}} for i in range(20)}
    assert thresholds.fw_failures(quiet)["threshold"] == thresholds.FW_FLOOR
    assert thresholds.fw_failures({})["threshold"] is None
