"""bench/beacon's own parts: the flow generator's ground truth and determinism, the threshold
at a false-positive budget, and both detectors run end to end on a small generated day.

These check that the benchmark measures what it says, not the benchmark's figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "beacon"


@pytest.fixture(scope="module")
def bench() -> dict:
    sys.path.insert(0, str(BENCH))
    try:
        import detectors
        import evaluate
        import generate
    finally:
        sys.path.remove(str(BENCH))
    mix = generate.Mix(hosts=40, beacons=24, human=60, poisson=40, popular_periodic=30,
                       failed_retries=10, popular_services=2)
    return {"gen": generate, "det": detectors, "ev": evaluate, "mix": mix,
            "data": generate.generate(5, mix)}


def test_generator_is_deterministic_and_labelled(bench: dict) -> None:
    data, again = bench["data"], bench["gen"].generate(5, bench["mix"])
    assert np.array_equal(data.ts, again.ts) and data.dest == again.dest
    assert data.n_pairs == 24 + 60 + 40 + 30 + 10
    beacons = data.label == 1
    assert beacons.sum() == 24 and all(k == "beacon" for k, b in zip(data.kind, beacons,
                                                                     strict=True) if b)
    assert set(np.round(data.jitter[beacons], 2)) == set(bench["gen"].JITTER_LEVELS)
    assert np.all(np.diff(data.ts) >= 0)
    assert np.all((data.ts >= data.start) & (data.ts < data.start + data.span_s))
    failed = np.array([k == "failed_retries" for k in data.kind])
    assert not data.answered[np.isin(data.pair, np.flatnonzero(failed))].any()


def test_threshold_at_budget_allows_exactly_the_budget(bench: dict) -> None:
    ev = bench["ev"]
    label = np.array([0] * 2000 + [1] * 10)
    scores = np.concatenate([np.linspace(0, 0.9, 2000), np.ones(10)])
    run = ev.Scored(scores, label, np.zeros(label.size))
    t = ev.threshold_at_budget([run], budget=0.001)  # 2 false positives allowed
    assert int((scores[label == 0] >= t).sum()) == 2
    assert ev.fp_per_1000([run], t) == (1.0, 2, 2000)
    assert ev.recall_by_jitter([run], t, (0.0,)) == {0.0: 1.0}


def test_both_detectors_score_every_pair(bench: dict) -> None:
    det, data = bench["det"], bench["data"]
    sak = det.sakimori_scores(data)
    assert np.array_equal(sak, det.sakimori_scores(data, hourly=False))  # incremental == once
    rita = det.rita_scores(data)
    assert sak.shape == rita.shape == (data.n_pairs,)
    assert np.all((sak >= 0) & (sak <= 1)) and np.all((rita >= 0) & (rita <= 1))
    popular = np.array([k == "popular_periodic" for k in data.kind])
    assert det.prevalent_pairs(data)[popular].all()
    failed = np.array([k == "failed_retries" for k in data.kind])
    assert np.all(sak[failed] == 0)  # never judged: no answered flow
