"""Turn merged traffic summaries into explainable thresholds (docs/baselines.md explains why).

Each function returns the JSON record stored in ``baselines["traffic"]``: the threshold (or
``None`` with a ``reason`` when there is too little data — the renderer then uses the documented
fallback), the method as a formula, its parameters, n, and the statistics it was computed from.
"""

from __future__ import annotations

import math
from typing import Any

from generator.stats import LogHistogram, robust_upper, rounded

URL_FLOOR = 200  # characters: never call a URL shorter than this "statistically long"
URL_MIN_SAMPLES = 30
SESSION_MIN_S = 60.0  # only sessions at least this long describe the tail
SESSION_FLOOR_S = 3600  # never call a session shorter than an hour "long"
SESSION_MIN_SAMPLES = 20
FW_K = 6.0
FW_FLOOR = 5
FW_MIN_SAMPLES = 5


def _too_few(n: int, minimum: int, what: str) -> dict[str, Any]:
    return {"threshold": None, "n": n,
            "reason": f"too few {what} to learn from (n={n} < {minimum}): fallback applies"}


def url_length(hist: LogHistogram, k: float) -> dict[str, Any]:
    """``max(exp(median(ln L) + k·MAD(ln L)), p99.9, 200)`` over URL lengths L."""
    n = hist.n
    record: dict[str, Any] = {"histogram": hist.to_dict(), "k": k, "floor": URL_FLOOR,
                              "min_samples": URL_MIN_SAMPLES}
    if n < URL_MIN_SAMPLES:
        return record | _too_few(n, URL_MIN_SAMPLES, "HTTP requests")
    med, mad = hist.log_median_mad()
    robust = math.exp(med + k * mad)
    p99, p999 = hist.quantile(0.99), hist.quantile(0.999)
    threshold = math.ceil(max(robust, p999, URL_FLOOR))
    return record | {
        "threshold": threshold,
        "method": "max(exp(median(ln L) + k*MAD(ln L)), p99.9(L), floor)",
        "n": n, "median": rounded(math.exp(med), 2), "mad": rounded(mad, 4),
        "robust_bound": rounded(robust, 2), "p99": rounded(p99, 2), "p999": rounded(p999, 2),
        "binding": _binding(threshold, {"robust": robust, "p999": p999, "floor": URL_FLOOR}),
    }


def session_duration(hist: LogHistogram, k: float) -> dict[str, Any]:
    """``max(exp(median(ln D) + k·MAD(ln D)), 3600 s)`` over durations D ≥ 60 s."""
    tail = hist.restricted(SESSION_MIN_S)
    n = tail.n
    record: dict[str, Any] = {"histogram": hist.to_dict(), "k": k, "floor": SESSION_FLOOR_S,
                              "min_duration": SESSION_MIN_S, "n_flows": hist.n,
                              "min_samples": SESSION_MIN_SAMPLES}
    if n < SESSION_MIN_SAMPLES:
        return record | _too_few(n, SESSION_MIN_SAMPLES, "sessions of 60 s or more")
    med, mad = tail.log_median_mad()
    robust = math.exp(med + k * mad)
    threshold = math.ceil(max(robust, SESSION_FLOOR_S))
    return record | {
        "threshold": threshold,
        "method": "max(exp(median(ln D) + k*MAD(ln D)), floor) over established outbound "
                  "TCP sessions with D >= min_duration",
        "n": n, "median": rounded(math.exp(med), 2), "mad": rounded(mad, 4),
        "robust_bound": rounded(robust, 2), "p99": rounded(tail.quantile(0.99), 2),
        "p999": rounded(tail.quantile(0.999), 2), "max_bin_upper": rounded(
            2.0 ** ((max(tail.counts) + 1) / tail.bins_per_octave), 2),
        "binding": _binding(threshold, {"robust": robust, "floor": SESSION_FLOOR_S}),
    }


def fw_failures(per_host_day: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    """``max(ceil(median + k·MAD), 5)`` over failed outbound attempts per host and day."""
    counts = [cell["failed"] for days in per_host_day.values() for cell in days.values()]
    record: dict[str, Any] = {"per_host_day": per_host_day, "k": FW_K, "floor": FW_FLOOR,
                              "min_samples": FW_MIN_SAMPLES}
    if len(counts) < FW_MIN_SAMPLES:
        return record | _too_few(len(counts), FW_MIN_SAMPLES, "host-days")
    robust, med, mad = robust_upper(counts, FW_K)
    threshold = max(math.ceil(robust), FW_FLOOR)
    return record | {
        "threshold": threshold,
        "method": "max(ceil(median(F) + k*MAD(F)), floor), F = failed outbound TCP "
                  "connection attempts of one internal host in one UTC day",
        "n": len(counts), "median": rounded(med, 3), "mad": rounded(mad, 3),
        "max": max(counts),
        "binding": _binding(threshold, {"robust": robust, "floor": FW_FLOOR}),
    }


def _binding(threshold: float, candidates: dict[str, float]) -> str:
    """Which candidate set the threshold (the largest one), for the operator."""
    return max(sorted(candidates), key=lambda name: candidates[name])
