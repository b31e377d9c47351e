"""The two ways score_sorted judges a series give bit-identical verdicts.

Series of at most ``SMALL_N`` starts are merged and pre-judged (beats, median, episode) in plain
Python, longer ones with numpy; when ``_beacon_judge.pyx`` is built (and ``USE_COMPILED``) the
whole scoring of any series is compiled (both are tested; tests/test_beacon_eval_paths.py
tests the compiled scoring further). Many random series of every kind the detector meets
(timers with jitter and missing beats, Poisson arrivals, bursts whose clusters are longer than
the merge window, duplicate timestamps, sub-second strobes, nights off, short captures) are
scored both ways — the numpy way forced by setting ``USE_COMPILED`` to False and ``SMALL_N``
to 0 — and every field of the verdict must be equal, floats exactly.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from beaconseries import random_series, verdict_fields
from engines import missing

from eve_consumer.handlers import beacon_score
from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.handlers.beacon_score import regularity_stats, score_sorted
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config


@pytest.mark.parametrize("judge", ["pure", "compiled"])
def test_python_and_numpy_judging_give_identical_verdicts(monkeypatch: pytest.MonkeyPatch,
                                                          judge: str) -> None:
    if judge == "compiled":
        _compiled_judge()
    monkeypatch.setattr(beacon_score, "USE_COMPILED", judge == "compiled")
    rng = random.Random(20261207)
    cases = []
    for _ in range(1500):
        t = np.sort(np.asarray(random_series(rng), dtype=float))
        sizes = np.asarray([rng.choice((200, 200, 210, rng.randint(0, 5000)))
                            for _ in range(t.size)], dtype=np.int64)
        observed = rng.choice((None, None, 120.0, 900.0))
        cases.append((t, rng.choice((3, 5, 8)), sizes, observed))
    small = [verdict_fields(score_sorted(*c)) for c in cases]
    monkeypatch.setattr(beacon_score, "USE_COMPILED", False)
    monkeypatch.setattr(beacon_score, "SMALL_N", 0)
    big = [verdict_fields(score_sorted(*c)) for c in cases]
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


def _judged(t: list[float], need: int, observed: float | None) -> Any:
    got = beacon_score._judge_small(t, need, observed)
    if got is None:
        return None
    w, beats, d, ds, body = got
    return (w, beats, d.dtype, d.tobytes(), [float(x).hex() for x in ds], body)


def _compiled_judge() -> None:
    if beacon_score._JUDGE is None:
        missing("eve_consumer.handlers._beacon_judge is not built (no C compiler at install)")


def _both(monkeypatch: pytest.MonkeyPatch, series: list[list[float]],
          rng: random.Random) -> tuple[list[Any], list[Any]]:
    cases = [(t, rng.choice((4, 5, 8)), rng.choice((None, None, 120.0, 900.0)))
             for t in series]
    monkeypatch.setattr(beacon_score, "USE_COMPILED", True)
    compiled = [_judged(*c) for c in cases]
    monkeypatch.setattr(beacon_score, "USE_COMPILED", False)
    pure = [_judged(*c) for c in cases]
    return compiled, pure


def test_compiled_judge_equals_the_pure_one_on_randomrandom_series(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """_beacon_judge.judge_small: the same beats, intervals (bytes), sorted intervals (hex)
    and verdict as _judge_small_py, on thousands of random series and extreme ones (starts
    near the float range, ties, one huge step, subnormal steps)."""
    _compiled_judge()
    rng = random.Random(7)
    series = [sorted(random_series(rng)) for _ in range(5000)]
    for _ in range(500):
        n = rng.randint(4, beacon_score.SMALL_N)
        base = rng.choice((0.0, -1e300, 1e300, 1.7e9, 5e-324))
        step = rng.choice((0.0, 1e-310, 0.5, 1e299))
        series.append(sorted(base + step * rng.random() * i for i in range(n)))
    compiled, pure = _both(monkeypatch, series, rng)
    assert compiled == pure
    assert sum(x is None for x in pure) > 500 and sum(x is not None for x in pure) > 1000
    assert any(x is not None and x[1] < len(t) for x, t in zip(pure, series, strict=True))


def test_compiled_judge_equals_the_pure_one_on_realrandom_series(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slips_eve: Path) -> None:
    """The same on the starts of every pair real EVE makes, whole and in windows."""
    _compiled_judge()
    (tmp_path / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    consumer = Consumer(load_config(tmp_path / "cfg.yaml"), None, tmp_path / "out",
                        tmp_path / "state", mail=False)
    with consumer:
        consumer.read(slips_eve)
        beacon = next(h for h in consumer.handlers if isinstance(h, BeaconHandler))
        beacon._short_window()  # folds every pair
        starts = [p.series.starts.tolist() for p in beacon.pairs.values()]
    rng = random.Random(11)
    series = []
    for t in starts:  # every window of 4 and more starts from each start, 3 lengths each
        for a in range(len(t) - 3):
            series += [t[a:a + rng.randint(4, beacon_score.SMALL_N)] for _ in range(3)]
    assert len(series) > 250
    compiled, pure = _both(monkeypatch, series, rng)
    assert compiled == pure
    assert sum(x is not None for x in pure) > 100
