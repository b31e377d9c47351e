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
    mix = generate.Mix(hosts=60, beacons=24, fast_beacons=12, short_beacons=12, human=60,
                       bursts=20, poisson=40, popular_periodic=30, rare_pollers=3,
                       failed_retries=10, popular_services=2)
    return {"gen": generate, "det": detectors, "ev": evaluate, "mix": mix,
            "data": generate.generate(5, mix)}


def test_generator_is_deterministic_and_labelled(bench: dict) -> None:
    data, again = bench["data"], bench["gen"].generate(5, bench["mix"])
    assert np.array_equal(data.ts, again.ts) and data.dest == again.dest
    fleets = 2 * 20  # the fleet agent and the fast service, each on a third of the hosts
    assert data.n_pairs == 48 + 60 + 20 + 40 + 30 + fleets + 3 + 10
    beacons = data.label == 1
    assert beacons.sum() == 48 and all(k == "beacon" for k, b in zip(data.kind, beacons,
                                                                     strict=True) if b)
    family = np.asarray(data.family)
    for fam, count in (("slow", 24), ("fast", 12), ("short", 12)):
        assert ((family == fam) & beacons).sum() == count
        assert set(np.round(data.jitter[beacons & (family == fam)], 2)) == set(
            bench["gen"].JITTER_LEVELS)
    fast = np.isin(data.pair, np.flatnonzero(beacons & (family == "fast")))
    assert np.all(np.diff(data.ts[fast & (data.pair == data.pair[fast][0])]) < 20)
    for i in np.flatnonzero(beacons & (family == "short")):
        assert 5 <= np.unique(np.round(data.ts[data.pair == i], -1)).size <= 11
    infected = set(data.host[beacons].tolist())
    assert len(infected) == 48  # one beacon per infected host: false hosts are countable
    assert np.all(np.diff(data.ts) >= 0)
    assert np.all((data.ts >= data.start) & (data.ts < data.start + data.span_s))
    failed = np.array([k == "failed_retries" for k in data.kind])
    assert not data.answered[np.isin(data.pair, np.flatnonzero(failed))].any()


def test_threshold_at_budget_allows_exactly_the_budget_of_hosts(bench: dict) -> None:
    ev = bench["ev"]
    label = np.array([0] * 4000 + [1] * 10)
    scores = np.concatenate([np.linspace(0, 0.9, 4000), np.ones(10)])
    host = np.concatenate([np.arange(4000) // 2, 3000 + np.arange(10)])  # 2 pairs a host
    family = np.array(["human"] * 4000 + ["slow"] * 10)
    run = ev.Scored(scores, label, np.zeros(label.size), family, host)
    t = ev.threshold_at_budget([run], budget=0.001)  # 2 false hosts of 2,000 allowed
    assert ev.fp_hosts_per_1000([run], t) == (1.0, 2, 2000)
    assert ev.fp_per_1000([run], t) == (1.0, 4, 4000)  # both pairs of the 2 top hosts
    assert ev.recall_by_jitter([run], t, (0.0,)) == {0.0: 1.0}


def test_both_detectors_score_every_pair(bench: dict) -> None:
    det, data = bench["det"], bench["data"]
    sak = det.sakimori_scores(data)
    assert np.array_equal(sak, det.sakimori_scores(data, hourly=False))  # incremental == once
    rita = det.rita_scores(data)
    assert sak.shape == rita.shape == (data.n_pairs,)
    assert np.all((sak >= 0) & (sak <= 1)) and np.all((rita >= 0) & (rita <= 1))
    popular = np.array([k in ("popular_periodic", "fast_service") for k in data.kind])
    assert det.prevalent_pairs(data)[popular].all()
    failed = np.array([k == "failed_retries" for k in data.kind])
    assert np.all(sak[failed] == 0)  # never judged: no answered flow


def test_short_family_bound_is_a_most_powerful_test() -> None:
    # bound.py's likelihood ratio is zero exactly where a timer cannot have produced the
    # intervals (50 %: one-sided within a factor 2, symmetric within 1.5 / 0.5 = 3, which 4
    # random intervals are 1/10 of the time), and its test is at least as powerful as the
    # spread's at the same false-alarm rate
    sys.path.insert(0, str(BENCH))
    try:
        import bound
    finally:
        sys.path.remove(str(BENCH))
    rng = np.random.default_rng(4)
    null = rng.exponential(1.0, (200_000, 4))
    support = np.isfinite(bound.log_lr(null, 0.5))
    ratio = null.max(axis=1) / null.min(axis=1)
    assert float(support.mean()) == pytest.approx(1 / 10, rel=0.03)
    assert not support[ratio >= 3.0].any() and support[ratio < 2.99].all()
    alpha, n, jitter = 0.01, 6, 0.5
    recall = bound.np_recall(n, jitter, alpha, runs=100_000)
    null = rng.exponential(1.0, (100_000, n))
    spread_cut = np.quantile(null.min(axis=1) / null.max(axis=1), 1 - alpha)
    beacons = np.concatenate([bound.beacon_intervals(rng, n, jitter, k, 20_000)
                              for k in bound.KINDS])
    spread_recall = float((beacons.min(axis=1) / beacons.max(axis=1) > spread_cut).mean())
    assert recall >= spread_recall - 0.02
    assert bound.np_recall(n, jitter, 10 * alpha, runs=100_000) > recall
    assert bound.np_recall(n, 0.0, alpha) == 1.0
