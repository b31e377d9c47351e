"""Series for the beacon scoring's parity tests (tests/test_beacon_score_paths.py,
tests/test_beacon_eval_paths.py): random connection starts of every kind the detector meets,
and a verdict as a tuple that compares every float exactly."""

from __future__ import annotations

import random
from typing import Any

from eve_consumer.handlers import beacon_score
from eve_consumer.handlers.beacon_score import BeaconScore


def random_series(rng: random.Random) -> list[float]:
    """3 to ``SMALL_N`` sorted starts of one kind: a jittered timer with missing beats,
    Poisson arrivals, bursts, ties, a sub-second strobe, a timer with nights off."""
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


def verdict_fields(v: BeaconScore | None) -> Any:
    """Every field of a verdict (the intervals as dtype and bytes): equal only when every
    float is the same double."""
    if v is None:
        return None
    return (v.score, v.z, v.period_s, v.jitter, v.beats, v.gaps, v.sub_scores,
            v.size_dispersion, v.intervals.dtype, v.intervals.tobytes())
