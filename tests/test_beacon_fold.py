"""The beacon's bulk fold (every pair's pending ``flow.start`` texts parsed in one
``parse_many`` call) gives each pair the very series, sizes and bad-start count that the
one-start-at-a-time fold gives — on the pairs real EVE makes, with odd starts mixed in
(kept-alive request times, texts of another width, a leap second, a time outside 1970–2199,
garbage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config

# of Suricata's width (the bulk path reads these rows, and judges the odd ones by parse_ts)
SAME_WIDTH = ["2026-11-02T00:00:60.250000+0000", "2300-01-01T00:00:00.000000+0000",
              "2026-13-02T00:00:01.000000+0000", "garbage, but of the width of one"[:31]]
# a pair holding any of these (or a kept-alive request's float time) is folded one by one
OTHER = ["not a time", "2026-11-02T00:00:01Z", "2026-11-02T00:00:01.5+0900", 1793577600.5]


def _beacon(tmp_path: Path, name: str, eve: Path) -> BeaconHandler:
    (tmp_path / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    consumer = Consumer(load_config(tmp_path / "cfg.yaml"), None, tmp_path / name,
                        tmp_path / f"{name}-state", mail=False)
    with consumer:
        consumer.read(eve)  # no evaluation: every start is still pending
    return next(h for h in consumer.handlers if isinstance(h, BeaconHandler))


def test_bulk_fold_equals_the_fold_one_start_at_a_time(tmp_path: Path, slips_eve: Path) -> None:
    bulk, each = _beacon(tmp_path, "bulk", slips_eve), _beacon(tmp_path, "each", slips_eve)
    assert list(bulk.pairs) == list(each.pairs)
    pending = sum(len(p.pending) for p in bulk.pairs.values())
    assert pending  # real starts to compare
    for i, (a, b) in enumerate(zip(bulk.pairs.values(), each.pairs.values(), strict=True)):
        odd: list[str | float] = [SAME_WIDTH, OTHER, []][i % 3]
        for k, start in enumerate(odd):
            for pair in (a, b):
                pair.pending.append(start)
                pair.sizes.append(-1 if type(start) is float else 100 + k)
    bulk._fold_all(bulk.pairs.values())
    for pair in each.pairs.values():
        each._fold_each(pair)
    bad = bulk.ctx.counters["beacon_bad_flow_start"]
    assert bad == each.ctx.counters["beacon_bad_flow_start"] > 0
    for a, b in zip(bulk.pairs.values(), each.pairs.values(), strict=True):
        assert not a.pending and not a.sizes
        assert np.array_equal(a.series.starts, b.series.starts)
        assert np.array_equal(a.series.sizes, b.series.sizes)
