"""The two ways score_sorted judges a series give bit-identical verdicts.

Series of at most ``SMALL_N`` starts are merged and pre-judged (beats, median, episode) in plain
Python, longer ones with numpy. Many random series of every kind the detector meets (timers
with jitter and missing beats, Poisson arrivals, bursts whose clusters are longer than the
merge window, duplicate timestamps, sub-second strobes, nights off, short captures) are scored
both ways — the numpy way forced by setting ``SMALL_N`` to 0 — and every field of the verdict
must be equal, floats exactly.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from eve_consumer.handlers import beacon_score
from eve_consumer.handlers.beacon_score import BeaconScore, regularity_stats, score_sorted


def _series(rng: random.Random) -> list[float]:
    kind = rng.choice(("timer", "poisson", "bursts", "ties", "strobe", "nights"))
    n = rng.randint(3, beacon_score.SMALL_N)
    t0 = 1_700_000_000.0 + rng.random() * 1e6
    if kind == "timer":
        period, jit = rng.choice((0.5, 5.0, 60.0, 900.0)), rng.choice((0.0, 0.1, 0.5, 0.9))
        steps = [period * (1 + jit * rng.uniform(-1, 1)) for _ in range(n)]
        steps = [s for s in steps if rng.random() > 0.1] or [period]
    elif kind == "poisson":
        steps = [rng.expovariate(1 / rng.choice((1.0, 30.0, 600.0))) for _ in range(n)]
    elif kind == "bursts":  # clusters longer than the merge window: walked beat by beat
        steps = [rng.choice((0.3, 0.6, 0.9, 1.2)) if rng.random() < 0.7
                 else rng.uniform(30, 900) for _ in range(n)]
    elif kind == "ties":
        steps = [rng.choice((0.0, 0.0, 60.0, 61.5)) for _ in range(n)]
    elif kind == "strobe":
        steps = [rng.uniform(0.05, 0.6) for _ in range(n)]
    else:  # a timer with nights off
        steps = [300.0 * (1 + 0.3 * rng.uniform(-1, 1)) if i % 40 else 50_000.0
                 for i in range(n)]
    out, t = [], t0
    for s in steps:
        out.append(t)
        t += s
    return out


def _fields(v: BeaconScore | None) -> Any:
    if v is None:
        return None
    return (v.score, v.z, v.period_s, v.jitter, v.beats, v.gaps, v.sub_scores,
            v.size_dispersion, v.intervals.dtype, v.intervals.tobytes())


def test_python_and_numpy_judging_give_identical_verdicts(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    rng = random.Random(20261207)
    cases = []
    for _ in range(1500):
        t = np.sort(np.asarray(_series(rng), dtype=float))
        sizes = np.asarray([rng.choice((200, 200, 210, rng.randint(0, 5000)))
                            for _ in range(t.size)], dtype=np.int64)
        observed = rng.choice((None, None, 120.0, 900.0))
        cases.append((t, rng.choice((3, 5, 8)), sizes, observed))
    small = [_fields(score_sorted(*c)) for c in cases]
    monkeypatch.setattr(beacon_score, "SMALL_N", 0)
    big = [_fields(score_sorted(*c)) for c in cases]
    assert small == big
    # every outcome met: not judged, judged low, reported; merged clusters walked
    scores = [f[0] for f in small if f is not None]
    assert sum(f is None for f in small) > 100 and len(scores) > 300
    assert min(scores) < 0.2 and max(scores) > 0.9
    assert any(f is not None and f[4] < len(c[0]) for f, c in zip(small, cases, strict=True))


def test_spread_is_taken_over_the_intervals_kept() -> None:
    """regularity_stats reads max and min from its sorted copy: the same as over the kept
    intervals (gaps left out or not, floored ones included)."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        d = rng.exponential(600.0, rng.integers(4, 300)) + 1.0
        if rng.random() < 0.5:
            d[rng.integers(0, d.size, 3)] = 86_000.0  # nights: left out
        if rng.random() < 0.3:
            d[:3] = 1.0 + 1e-9  # floored at 1 % of the median
        stats = regularity_stats(d.copy(), 1.0)
        assert stats is not None
        kept = np.maximum(d - 1.0, max(1e-6, 0.01 * float(np.sort(d - 1.0)[d.size // 2])))
        limit = 8.0 * float(np.sort(kept)[kept.size // 2])
        if kept.size - stats[0]:
            kept = kept[kept <= limit]
        assert stats[0] == kept.size
        assert stats[3] == math.log(float(kept.max()) / float(kept.min()))
