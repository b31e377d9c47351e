"""The beacon's bulk fold (every pair's pending starts — ``flow.start`` texts, kept-alive
requests' float times — read in one ``parse_many`` call) gives each pair the very series,
sizes and bad-start count that the one-start-at-a-time fold (``_fold_each``, the reference)
gives — on the pairs real EVE makes, with odd starts mixed in (kept-alive request times, texts
of another width, a leap second, a time outside 1970–2199, garbage, values of other types from
an old snapshot), by the compiled ``parse_many`` and by the pure one; and the compiled
``add_chunks`` (every pair's chunk folded in one call) gives the arrays ``PairSeries.add``
gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engines import missing

from eve_consumer.handlers import beacon_series
from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.handlers.beacon_series import MAX_SIZES, MAX_STARTS, PairSeries, add_chunks
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.eve import evetime

# of Suricata's width (the bulk path reads these rows, and judges the odd ones by parse_ts)
SAME_WIDTH = ["2026-11-02T00:00:60.250000+0000", "2300-01-01T00:00:00.000000+0000",
              "2026-13-02T00:00:01.000000+0000", "garbage, but of the width of one"[:31]]
# texts of another layout, a kept-alive request's float time, values no start should be
OTHER: list[Any] = ["not a time", "2026-11-02T00:00:01Z", "2026-11-02T00:00:01.5+0900",
                    1793577600.5, 1793577600, None, True,
                    b"2026-11-02T00:00:01.000000+0000", float("inf")]


def _beacon(tmp_path: Path, name: str, eve: Path) -> BeaconHandler:
    (tmp_path / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    consumer = Consumer(load_config(tmp_path / "cfg.yaml"), None, tmp_path / name,
                        tmp_path / f"{name}-state", mail=False)
    with consumer:
        consumer.read(eve)  # no evaluation: every start is still pending
    return next(h for h in consumer.handlers if isinstance(h, BeaconHandler))


@pytest.mark.parametrize("reader", ["compiled", "pure"])
def test_bulk_fold_equals_the_fold_one_start_at_a_time(tmp_path: Path, slips_eve: Path,
                                                       reader: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if reader == "pure":
        monkeypatch.setattr(evetime, "_PARSE_INTO", None)
    elif evetime._PARSE_INTO is None:
        missing("sakimori.eve._evetime is not built (no C compiler at install)")
    bulk, each = _beacon(tmp_path, "bulk", slips_eve), _beacon(tmp_path, "each", slips_eve)
    assert list(bulk.pairs) == list(each.pairs)
    pending = sum(len(p.pending) for p in bulk.pairs.values())
    assert pending  # real starts to compare
    for i, (a, b) in enumerate(zip(bulk.pairs.values(), each.pairs.values(), strict=True)):
        odd: list[Any] = [SAME_WIDTH, OTHER, []][i % 3]
        for k, start in enumerate(odd):
            for pair in (a, b):
                pair.pending.append(start)
                pair.sizes.append(-1 if type(start) is float else 100 + k)
    assert any(type(x) is not str for p in bulk.pairs.values() for x in p.pending)
    bulk._fold_all(bulk.pairs.values())
    for pair in each.pairs.values():
        each._fold_each(pair)
    bad = bulk.ctx.counters["beacon_bad_flow_start"]
    assert bad == each.ctx.counters["beacon_bad_flow_start"] > 0
    for a, b in zip(bulk.pairs.values(), each.pairs.values(), strict=True):
        assert not a.pending and not a.sizes
        assert np.array_equal(a.series.starts, b.series.starts)
        assert np.array_equal(a.series.sizes, b.series.sizes)


def _chunk(rng: np.random.Generator, around: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.choice((0, 1, 2, 5, int(rng.integers(6, 80)), int(rng.integers(80, 1500)))))
    kind = rng.integers(0, 6)
    if kind == 0:  # in time order, as flows mostly end
        t = around + np.cumsum(rng.exponential(60.0, n))
    elif kind == 1:  # late starts: before what the series holds
        t = around - rng.random(n) * 86400.0
    elif kind == 2:  # ties
        t = np.full(n, around)
    elif kind == 3:  # odd values: zero, −0.0, infinities, NaN (the reference's own order)
        t = rng.choice((0.0, -0.0, np.inf, -np.inf, np.nan, around), n)
    else:
        t = around + rng.uniform(-3600.0, 3600.0, n)
    sizes = rng.integers(-1, 5000, int(rng.integers(0, n + 1)) if n else 0)
    return np.ascontiguousarray(t, dtype=float), sizes.astype(np.int64)


def _state(series: list[PairSeries]) -> list[Any]:
    return [(s.starts.dtype, s.starts.tobytes(), s.sizes.dtype, s.sizes.tobytes(), s._dirty)
            for s in series]


def test_compiled_add_chunks_equals_pair_series_add(monkeypatch: pytest.MonkeyPatch) -> None:
    """add_chunks (compiled) against PairSeries.add chunk by chunk: the same starts (bytes),
    sizes and dirty flags, over rounds of chunks of every kind — first chunks, in-order and
    late ones, ties, past MAX_STARTS and MAX_SIZES, values the compiled fold leaves to the
    reference (zero, −0.0, infinite, NaN)."""
    if beacon_series._JUDGE is None:
        missing("eve_consumer.handlers._beacon_judge is not built (no C compiler at install)")
    rng = np.random.default_rng(15)
    got = [PairSeries() for _ in range(300)]
    ref = [PairSeries() for _ in range(300)]
    for _ in range(6):  # evaluations
        chunks = [_chunk(rng, 1.7e9 + float(rng.integers(0, 10)) * 86400.0) for _ in got]
        tb = np.zeros(len(got) + 1, dtype=np.intp)
        sb = np.zeros(len(got) + 1, dtype=np.intp)
        np.cumsum([c[0].size for c in chunks], out=tb[1:])
        np.cumsum([c[1].size for c in chunks], out=sb[1:])
        times = np.concatenate([c[0] for c in chunks])
        sizes = np.concatenate([c[1] for c in chunks])
        for s in got + ref:
            s._dirty = False
        monkeypatch.setattr(beacon_series, "USE_COMPILED", True)
        add_chunks(got, times, tb, sizes, sb)
        monkeypatch.setattr(beacon_series, "USE_COMPILED", False)
        add_chunks(ref, times, tb, sizes, sb)
        assert _state(got) == _state(ref)
    assert max(len(s) for s in ref) == MAX_STARTS and max(s.sizes.size for s in ref) == MAX_SIZES
    with pytest.raises(ValueError):
        beacon_series._JUDGE.add_chunks(got[:2], times, tb[:2], sizes, sb[:3], MAX_STARTS,
                                        MAX_SIZES, np)


ODD_SIZES: list[Any] = [1.5, "300", True, None, 2**63, -(2**63) - 1, 2**63 - 1, -5]


@pytest.mark.parametrize("case", range(len(ODD_SIZES) + 2))
def test_compiled_gather_equals_the_reference_on_odd_sizes(
        tmp_path: Path, slips_eve: Path, case: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold with the compiled gather and add_chunks against the reference (chain,
    np.fromiter, PairSeries.add): the same series and counters — or the same error — when a
    pair's sizes hold a value np.fromiter converts or refuses (an old snapshot's), or fewer
    or more sizes than starts."""
    if beacon_series._JUDGE is None:
        missing("eve_consumer.handlers._beacon_judge is not built (no C compiler at install)")
    outcomes = []
    for compiled in (True, False):
        monkeypatch.setattr(beacon_series, "USE_COMPILED", compiled)
        beacon = _beacon(tmp_path, f"{case}-{compiled}", slips_eve)
        pairs = list(beacon.pairs.values())
        odd = pairs[len(pairs) // 2]
        if case < len(ODD_SIZES):
            odd.sizes[-1] = ODD_SIZES[case]
        else:  # a size too many or too few
            odd.sizes = [*odd.sizes, 7] if case == len(ODD_SIZES) else odd.sizes[:-1]
        try:
            beacon._fold_all(pairs)
            outcomes.append([(p.series.starts.tobytes(), p.series.sizes.tobytes())
                             for p in pairs] + [dict(beacon.ctx.counters)])
        except Exception as exc:
            outcomes.append([type(exc).__name__, str(exc)])
    assert outcomes[0] == outcomes[1]
