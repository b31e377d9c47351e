"""``consume --workers N`` on the EVE that real Suricata 7 writes for the real captures.

Each capture of ``shared/data/real`` (:mod:`realdata`: the files and their home networks) is
read by Suricata with the generated rules; the consumer's report over that EVE with 2 and 3
workers — the splitter being worker 0 or a process of its own, the router compiled or pure —
must be one worker's: the same hosts.csv, findings.jsonl, decode counts (with the bad-line
examples) and inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engines import require_binary, require_path
from realdata import load_truth, real_data_dir, write_config
from workerchecks import assert_batch_loop

from eve_consumer.pipeline import Consumer
from eve_consumer.workers import Workers, run_sharded
from generator.render_suricata import write_suricata
from sakimori.baselines import empty_document
from sakimori.config import load_config
from sakimori.suricata import read_pcaps

CAPTURES = load_truth()


def _report(out: Path) -> dict[str, Any]:
    stats = json.loads((out / "stats.json").read_text())
    return {"csv": (out / "hosts.csv").read_text(),
            "findings": (out / "findings.jsonl").read_text(),
            "decode": stats["decode"], "hosts": stats["hosts_reported"],
            "handlers": stats["handlers"],
            "input": {k: v for k, v in stats["input"].items() if k != "workers"}}


@pytest.fixture(scope="module", params=CAPTURES, ids=[c.file for c in CAPTURES])
def capture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Any]:
    require_binary("suricata")
    pcap = real_data_dir() / request.param.file
    require_path(pcap, "real capture (shared/data/real)")
    tmp = tmp_path_factory.mktemp("real")
    cfg = load_config(write_config(request.param, tmp / "sakimori.yaml"))
    rules = write_suricata(cfg, empty_document(), tmp / "build")
    eve = read_pcaps(cfg, [pcap], tmp / "suricata", rules)
    out = tmp / "one"
    with Consumer(cfg, None, out, tmp / "one-state", mail=False) as c:
        c.run_once(eve)
    return {"cfg": cfg, "eve": eve, "tmp": tmp, "one": _report(out)}


@pytest.mark.suricata
@pytest.mark.parametrize("splitter", ["worker0", "process"])
@pytest.mark.parametrize("n", [2, 3])
def test_real_capture_workers_give_the_one_worker_report(capture: dict[str, Any], n: int,
                                                          splitter: str, router_impl: str
                                                          ) -> None:
    one = capture["one"]
    assert one["decode"]["lines"] > 100
    out = capture["tmp"] / f"w{n}-{splitter}"
    workers = Workers(capture["cfg"], None, capture["eve"], n, splitter=splitter)
    try:
        with Consumer(capture["cfg"], None, out, out.with_name(out.name + "-state"),
                      mail=False) as c:
            run_sharded(c, workers, capture["eve"])
    finally:
        workers.close(0)
    assert _report(out) == one
    # every worker's batches by the batch loop (shared lines too), none by the per-line loop
    stats = json.loads((out / "stats.json").read_text())
    assert_batch_loop(stats, n, router_impl)
