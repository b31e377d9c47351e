"""The compiled beacon scoring (``_beacon_judge``: ``judge_array``, ``regularity``,
``size_dispersion``) against the numpy reference (``beacon_score.USE_COMPILED = False`` and
``SMALL_N = 0``: :func:`~eve_consumer.handlers.beacon_score._judge_numpy`,
:func:`~eve_consumer.handlers.beacon_score.regularity_stats`,
:func:`~eve_consumer.handlers.beacon_score.size_dispersion`).

Every float of the verdict must be the same double:

- its pieces: numpy's summation order (``np.add.reduce``, ``np.add.reduceat``) replayed in C
  for every length to 2,100; ``regularity`` on random, bursty and hostile intervals (1–3
  intervals, ties, subnormal-scale, huge, infinite: the reference's own result or error);
  ``size_dispersion`` on int64 sizes of every sign and magnitude;
- whole verdicts of series of 1 to ``MAX_STARTS`` starts (timers, Poisson, bursts, ties,
  nights, sizes) and hostile ones (equal times, starts near the float range);
- the consumer's report (hosts.csv, findings.jsonl, stats.json) and every pair's verdict on
  real EVE: the slips capture's and the EVE real Suricata 7 writes for each capture of
  ``shared/data/real``.

Without the compiled module the tests are skipped with the reason (a failure under CI).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from beaconseries import random_series, verdict_fields
from consumerfixtures import SLIPS_HOME
from consumerfixtures import config as _config
from consumerfixtures import report as _report
from engines import missing

from eve_consumer.handlers import beacon_score
from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.handlers.beacon_score import regularity_stats, score_sorted, size_dispersion
from eve_consumer.handlers.beacon_series import MAX_SIZES, MAX_STARTS
from eve_consumer.pipeline import Consumer

# hostile series overflow on purpose (the reference's own float result is compared)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

JUDGE: Any = beacon_score._JUDGE


@pytest.fixture(autouse=True)
def _built() -> None:
    if JUDGE is None:
        missing("eve_consumer.handlers._beacon_judge is not built (no C compiler at install; "
                "make setup builds it)")


def _reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beacon_score, "USE_COMPILED", False)
    monkeypatch.setattr(beacon_score, "SMALL_N", 0)


def _compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beacon_score, "USE_COMPILED", True)
    monkeypatch.setattr(beacon_score, "SMALL_N", 128)


def _outcome(f: Any, *args: Any) -> Any:
    """f(*args), or the type and text of what it raised."""
    try:
        return f(*args)
    except Exception as exc:  # the reference's errors must be the compiled path's
        return (type(exc).__name__, str(exc))


def _hex(stats: Any) -> Any:
    if not isinstance(stats, tuple) or len(stats) != 4:
        return stats
    return (stats[0], *(float(x).hex() for x in stats[1:]))


def test_numpy_summation_order_is_replayed_exactly() -> None:
    rng = np.random.default_rng(15)
    for n in [*range(1, 300), *rng.integers(300, 2100, 200).tolist()]:
        scale = float(rng.choice((1e-300, 1e-6, 1.0, 600.0, 1e300)))
        a = rng.exponential(scale, n) * (1.0 + rng.integers(0, 2, n) * 1e8)
        assert JUDGE.pairwise_sum(a) == float(np.add.reduce(a)), n
        assert JUDGE.segment_sum(a) == float(np.add.reduceat(a, [0])[0]), n


def _intervals(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(0, 7)
    n = int(rng.choice((1, 2, 3, 4, 5, int(rng.integers(6, 40)), int(rng.integers(40, 1100)))))
    if kind == 0:  # a jittered timer
        d = 60.0 * (1.0 + 0.3 * rng.uniform(-1, 1, n))
    elif kind == 1:  # random arrivals
        d = rng.exponential(float(rng.choice((2.0, 600.0))), n) + 1.0
    elif kind == 2:  # a timer with nights off (gaps left out, or kept: bursty)
        d = 300.0 * (1.0 + 0.1 * rng.uniform(-1, 1, n))
        d[rng.integers(0, n, int(rng.integers(1, 4 + n // 20)))] = 50_000.0
    elif kind == 3:  # ties: equal intervals
        d = rng.choice((1.5, 60.0, 61.0), n)
    elif kind == 4:  # just over the window: floored
        d = 1.0 + rng.choice((1e-12, 1e-9, 1e-3, 5.0), n)
    elif kind == 5:  # huge: sums and ratios near overflow
        d = rng.choice((1e300, 1e307, 1.7e308, 2.0), n)
    else:
        d = np.full(n, 1e-300) + 1.0
    return np.ascontiguousarray(d, dtype=float)


def test_regularity_equals_regularity_stats() -> None:
    rng = np.random.default_rng(2026)
    outcomes = {"stats": 0, "none": 0, "raised": 0, "blocks": 0}
    for _ in range(6000):
        d = _intervals(rng)
        w = float(rng.choice((1.0, 0.3, 0.05)))
        ref = _hex(_outcome(regularity_stats, d.copy(), w))
        args = (d, w, np, beacon_score.FLOOR_FRACTION, beacon_score.GAP_FACTOR,
                beacon_score.BLOCK, beacon_score.LOCAL_KEEP)
        for ordered in (None, np.sort(d)):
            got = JUDGE.regularity(*args, ordered)
            if got is NotImplemented:  # what the compiled path leaves to the reference
                assert not np.isfinite(np.add.reduce(d)), d
                continue
            assert _hex(got) == ref, (d, w)
        outcomes["stats" if isinstance(ref, tuple) and len(ref) == 4 else
                 "none" if ref is None else "raised"] += 1
        outcomes["blocks"] += isinstance(ref, tuple) and len(ref) == 4 and ref[0] >= 32
    assert min(outcomes.values()) > 20, outcomes
    with pytest.raises(ValueError):
        JUDGE.regularity(np.empty(0), 1.0, np, 0.01, 8.0, 16, 0.95)
    with pytest.raises(ValueError):  # an ordered copy of another length
        JUDGE.regularity(np.ones(5) * 3, 1.0, np, 0.01, 8.0, 16, 0.95, np.ones(4))


def test_size_dispersion_equals_the_reference() -> None:
    rng = np.random.default_rng(7)
    for _ in range(6000):
        top = int(rng.choice((3, 300, 5000, 2**62)))
        s = rng.integers(-top // 10, top, int(rng.integers(0, MAX_SIZES + 1)), dtype=np.int64)
        if rng.random() < 0.3:
            s.sort()  # sorted: the worst order for a naive pivot
        if rng.random() < 0.2:
            s[:] = rng.integers(0, 3)
        ref = size_dispersion(s)
        for got in (JUDGE.size_dispersion(s), JUDGE.size_dispersion(s, np)):  # select; numpy's
            assert (got is None and ref is None) or float(got).hex() == float(ref).hex(), s
    strided = np.arange(40, dtype=np.int64)[::2]  # any layout of int64 sizes
    assert JUDGE.size_dispersion(strided) == size_dispersion(strided)


def _long_series(rng: random.Random) -> list[float]:
    t: list[float] = []
    for _ in range(rng.randint(1, 12)):
        t += random_series(rng)
    return sorted(t)[-MAX_STARTS:]


def _hostile(rng: random.Random) -> list[float]:
    n = rng.randint(1, 40)
    kind = rng.randrange(6)
    if kind == 5:  # a regular stretch between starts near both ends of the float range: the
        # intervals' sum overflows (the compiled statistics leave it to the reference)
        return [-1.7e308, *(1.7e9 + 60.0 * i for i in range(n + 32)), 1.7e308]
    if kind == 0:
        return [1.7e9] * n  # equal times
    if kind == 1:
        return sorted(rng.choice((-1.7e308, 1.7e308, 0.0, 1e308)) for _ in range(n))
    if kind == 2:
        return sorted(1.7e9 + rng.choice((0.0, 5e-7, 1.0, 3600.0)) * i for i in range(n))
    if kind == 3:
        return sorted(rng.uniform(-1e300, 1e300) for _ in range(n))
    return sorted(5e-324 * i for i in range(n))


def _verdicts(cases: list[tuple[Any, ...]]) -> list[Any]:
    return [_outcome(lambda *c: verdict_fields(score_sorted(*c)), *c) for c in cases]


def test_whole_verdicts_equal_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """score_sorted, compiled against numpy, on series of every length and hostile ones."""
    rng = random.Random(15)
    cases = []
    for i in range(3000):
        t = (_hostile(rng) if i % 5 == 0 else _long_series(rng) if i % 3 == 0
             else random_series(rng))
        sizes: Any = [rng.choice((200, 200, 210, rng.randint(-1, 5000)))
                      for _ in range(min(len(t), MAX_SIZES))]
        if i % 7:
            sizes = np.asarray(sizes, dtype=np.int64)  # PairSeries' sizes; else a list
        layout = ">f8" if i % 13 == 0 else float  # another byte order: the reference's
        if i % 17 == 0 and isinstance(sizes, np.ndarray):
            sizes = sizes.astype(">i8")
        cases.append((np.asarray(t, dtype=layout), rng.choice((3, 5, 8)),
                      None if i % 11 == 0 else sizes, rng.choice((None, None, 120.0, 900.0))))
    _compiled(monkeypatch)
    got = _verdicts(cases)
    _reference(monkeypatch)
    ref = _verdicts(cases)
    assert got == ref
    assert ("OverflowError", "cannot convert float infinity to integer") in ref
    judged = [v for v in ref if isinstance(v, tuple) and len(v) == 10]
    assert len(judged) > 1000 and sum(v is None for v in ref) > 300
    assert any(v[4] > 400 for v in judged)  # long series: blocks and the numpy judge
    assert min(v[0] for v in judged) < 0.2 and max(v[0] for v in judged) > 0.9


def _consume(eve: Path, cfg: Any, out: Path) -> tuple[dict[str, Any], list[Any]]:
    """The report of a run, and the verdicts of every pair's starts (min_beats 4, 5, 8) and of
    windows of them (from every 3rd start, 3 lengths: more real series than pairs)."""
    with Consumer(cfg, None, out, out.with_name(out.name + "-state"), mail=False) as c:
        c.run_once(eve)
        beacon = next(h for h in c.handlers if isinstance(h, BeaconHandler))
        observed = beacon._short_window()
        rng = random.Random(3)
        pairs = []
        for key, p in sorted(beacon.pairs.items()):
            t, sizes = p.series.starts, p.series.sizes
            pairs += [(key, verdict_fields(score_sorted(t, n, sizes, observed))) for n in (4, 5, 8)]
            for a in range(0, t.size - 4, 3):
                for k in (rng.randint(4, 20), rng.randint(20, 200), MAX_STARTS):
                    window = t[a:a + k]
                    pairs.append((key, verdict_fields(score_sorted(window, 4, sizes[:k], None))))
    return _report(out), pairs


def _same_on(eve: Path, cfg: Any, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    _reference(monkeypatch)
    ref, ref_pairs = _consume(eve, cfg, tmp / "ref")
    _compiled(monkeypatch)
    got, got_pairs = _consume(eve, cfg, tmp / "compiled")
    assert got["csv"] == ref["csv"]
    assert got["findings"] == ref["findings"]
    assert json.dumps(got["stats"]) == json.dumps(ref["stats"])
    assert got_pairs == ref_pairs
    return got_pairs


def test_slips_eve_same_report_and_verdicts(slips_eve: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _same_on(slips_eve, _config(tmp_path, SLIPS_HOME), tmp_path, monkeypatch)
    assert sum(v is not None for _, v in pairs) > 100


def test_real_captures_same_report_and_verdicts(
        real_eves: list[tuple[str, list[str], Path]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    judged = 0
    for name, home, eve in real_eves:
        pairs = _same_on(eve, _config(tmp_path / name, home), tmp_path / name, monkeypatch)
        judged += sum(v is not None for _, v in pairs)
    assert judged > 20  # short captures: a few pairs, windows of them
