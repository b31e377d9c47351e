"""Fast paths and ``consume --workers N`` against the reference path, on real Suricata EVE.

Two real inputs: ``slips-test6-malicious.eve.json`` (public, real Suricata) and the EVE real
Suricata 7 writes with the generated rules over the simulated office (``sakimori_demo.officesim``,
3 h, 10 benign hosts, its infected hosts: beacons, long URL, fw_blocked, …). On each:

- the *reference path* — every line parsed by ``orjson`` and built in Python, no relevance
  prefilter, no byte fast path, no typed decode — gives the same findings and hosts.csv as
  the default consumer;
- ``--workers 2`` and ``3`` give the same hosts.csv, findings and decode counts as one worker
  (findings compared as a set: with workers they are ordered by detection, then host);
- without the prevalence merge the sharded report differs on the office capture (the merge
  is what keeps a common destination suppressed), so the equality above is not luck.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from engines import require_binary, require_path

from eve_consumer import workers as workers_mod
from eve_consumer.pipeline import Consumer
from eve_consumer.shard import NOT_MINE, PRIMARY, SECONDARY, ShardFilter, shard_of
from eve_consumer.workers import Workers, run_sharded
from generator.render_suricata import write_suricata
from sakimori.baselines import empty_document
from sakimori.cli import main as cli_main
from sakimori.config import load_config
from sakimori.suricata import read_pcaps
from sakimori_demo.officesim import SimParams, generate

REPO = Path(__file__).resolve().parents[1]


def _report(out: Path) -> dict[str, Any]:
    findings = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    return {"csv": (out / "hosts.csv").read_text(),
            "findings": sorted(findings, key=lambda f: (f["detection"], f["host"])),
            "decode": {k: stats["decode"][k] for k in ("lines", "decoded", "ignored", "bad",
                                                        "fast")},
            "stats": stats}


def _one(cfg: Any, doc: Any, eve: Path, out: Path, *, reference: bool = False
         ) -> dict[str, Any]:
    with Consumer(cfg, doc, out, out.with_name(out.name + "-state"), mail=False) as c:
        if reference:
            c.decoder.prefilter = None
            c.decoder.reference = True
        c.run_once(eve)
    return _report(out)


def _sharded(cfg: Any, doc: Any, eve: Path, out: Path, n: int) -> dict[str, Any]:
    workers = Workers(cfg, doc, eve, n)
    try:
        with Consumer(cfg, doc, out, out.with_name(out.name + "-state"), mail=False) as c:
            run_sharded(c, workers, eve)
    finally:
        workers.close(0)
    return _report(out)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real Suricata 7 EVE of the simulated office with the generated rules."""
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("office")
    generate(tmp / "data", SimParams(seed=7, hours=3.0, benign_hosts=10))
    doc = yaml.safe_load((REPO / "examples" / "sakimori.yaml").read_text())
    doc.setdefault("anonymizer", {})["tor_relays"] = [str(tmp / "data" / "tor-relays.txt")]
    doc.setdefault("alerts", {})["enabled"] = False
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "cfg.yaml")
    base = empty_document()
    rules = write_suricata(cfg, base, tmp / "build")
    eve = read_pcaps(cfg, [tmp / "data" / "office.pcap"], tmp / "suricata", rules)
    return {"cfg": cfg, "doc": None, "eve": eve, "tmp": tmp,
            "one": _one(cfg, None, eve, tmp / "one")}


@pytest.fixture(scope="module")
def slips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from conftest import SLIPS_EVE

    require_path(SLIPS_EVE)
    tmp = tmp_path_factory.mktemp("slips")
    (tmp / "cfg.yaml").write_text("networks:\n  home: [192.168.0.0/16]\n")
    cfg = load_config(tmp / "cfg.yaml")
    return {"cfg": cfg, "doc": None, "eve": SLIPS_EVE, "tmp": tmp,
            "one": _one(cfg, None, SLIPS_EVE, tmp / "one")}


@pytest.fixture(params=["office", "slips"])
def real(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(request.param)


def test_office_capture_has_findings_to_compare(office: dict[str, Any]) -> None:
    one = office["one"]
    hosts = {f["host"] for f in one["findings"]}
    assert len(hosts) >= 3, one["csv"]  # infected hosts of the simulation
    assert {"beacon", "long_url"} <= {f["detection"] for f in one["findings"]}
    assert one["decode"]["bad"] == {} and sum(one["decode"]["fast"].values()) > 100
    assert one["stats"]["counters"].get("beacon_suppressed_prevalent", 0) >= 1


def test_fast_paths_give_the_reference_findings(real: dict[str, Any]) -> None:
    ref = _one(real["cfg"], real["doc"], real["eve"], real["tmp"] / "reference", reference=True)
    assert ref["findings"] == real["one"]["findings"]
    assert ref["csv"] == real["one"]["csv"]
    assert ref["decode"]["lines"] == real["one"]["decode"]["lines"]
    assert ref["decode"]["fast"] == {}  # nothing bypassed the parse


@pytest.mark.parametrize("n", [2, 3])
def test_workers_give_the_one_worker_report(real: dict[str, Any], n: int) -> None:
    got = _sharded(real["cfg"], real["doc"], real["eve"], real["tmp"] / f"w{n}", n)
    one = real["one"]
    assert got["csv"] == one["csv"]
    assert got["findings"] == one["findings"]
    assert got["decode"] == one["decode"]  # every line counted once
    assert got["stats"]["input"]["workers"] == n
    assert (got["stats"]["counters"].get("beacon_suppressed_prevalent", 0)
            == one["stats"]["counters"].get("beacon_suppressed_prevalent", 0))


def test_without_the_prevalence_merge_the_report_differs(office: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Each of 4 workers sees a quarter of the hosts: a destination all of them reach is no
    longer prevalent in any worker unless the counts are merged."""
    monkeypatch.setattr(workers_mod, "merge_prevalence", lambda consumer, other: None)
    got = _sharded(office["cfg"], None, office["eve"], office["tmp"] / "nomerge", 4)
    assert got["findings"] != office["one"]["findings"]
    assert len(got["findings"]) > len(office["one"]["findings"])


def test_consume_cli_workers(slips: dict[str, Any], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = slips["tmp"] / "cfg.yaml"
    argv = ["consume", "--config", str(cfg), "--eve", str(slips["eve"]), "--no-mail",
            "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"),
            "--workers", "2"]
    with pytest.raises(SystemExit) as done:
        cli_main(argv)
    assert done.value.code == 0
    assert (tmp_path / "out" / "hosts.csv").read_text() == slips["one"]["csv"]
    assert "5000 lines" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--workers", "2", "--follow"]])
def test_consume_cli_workers_usage(slips: dict[str, Any], tmp_path: Path, extra: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["consume", "--config", str(slips["tmp"] / "cfg.yaml"), "--eve",
            str(slips["eve"]), "--state-dir", str(tmp_path / "s"), *extra]
    with pytest.raises(SystemExit) as done:
        cli_main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers" in err[0]


def test_shard_owner_rules() -> None:
    home = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}
    n = 2
    filters = [ShardFilter(k, n, lambda ip: ip in home) for k in range(n)]

    def line(kind: str, src: str, dst: str) -> bytes:
        return (f'{{"timestamp":"2026-11-02T00:00:00.000000+0000","flow_id":1,'
                f'"event_type":"{kind}","src_ip":"{src}","dest_ip":"{dst}"}}').encode()

    # an outbound flow belongs to its internal host's shard alone
    out = line("flow", "10.0.0.1", "8.8.8.8")
    assert [f.owner(out) for f in filters].count(PRIMARY) == 1
    assert filters[shard_of("10.0.0.1", n)].owner(out) == PRIMARY
    inbound = line("alert", "8.8.8.8", "10.0.0.1")
    assert filters[shard_of("10.0.0.1", n)].owner(inbound) == PRIMARY
    # between two internal hosts of different shards: both, counted once
    a, b = sorted(home, key=lambda h: shard_of(h, n))[0], sorted(
        home, key=lambda h: shard_of(h, n))[-1]
    assert shard_of(a, n) != shard_of(b, n)
    both = [f.owner(line("flow", a, b)) for f in filters]
    assert sorted(both) == [PRIMARY, SECONDARY]
    # DNS to every worker, counted by worker 0; smtp, unwanted, unreadable: worker 0 alone
    assert [f.owner(line("dns", a, b)) for f in filters] == [PRIMARY, SECONDARY]
    for text in (line("smtp", a, "8.8.8.8"), line("stats", "", ""), b"garbage"):
        assert [f.owner(text) for f in filters] == [PRIMARY, NOT_MINE]
    # no internal side: worker 0; an escaped address: every worker judges it
    assert [f.owner(line("flow", "8.8.8.8", "1.1.1.1")) for f in filters] == [PRIMARY,
                                                                             NOT_MINE]
    esc = line("flow", "10.0.0.\\u0031", "8.8.8.8")
    assert [f.owner(esc) for f in filters] == [PRIMARY, SECONDARY]


_READ = ("app_proto", "app_proto_orig", "app_proto_ts", "app_proto_tc", "tcp", "proto")
_FLOW_READ = ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "start",
              "end", "age")


def _flow_lines(eve: Path) -> list[bytes]:
    return [ln for ln in eve.read_bytes().splitlines() if b'"event_type":"flow"' in ln]


def test_typed_flow_decode_equals_the_parsed_record(real: dict[str, Any]) -> None:
    """Every real flow line: the typed decode (msgspec) and the reference decode (orjson +
    _build) give the same event and the same values for every field a handler reads."""
    from sakimori.eve.decode import Decoder

    lines = _flow_lines(real["eve"])
    assert len(lines) > 50
    fast, ref = Decoder(), Decoder()
    ref.reference = True
    for n, line in enumerate(lines, 1):
        a, b = fast.decode(line, n), ref.decode(line, n)
        assert (a is None) == (b is None), line
        if a is None or b is None:
            continue
        assert (a.kind, a.ts, a.flow_id, a.src_ip, a.src_port, a.dest_ip, a.dest_port,
                a.proto) == (b.kind, b.ts, b.flow_id, b.src_ip, b.src_port, b.dest_ip,
                             b.dest_port, b.proto)
        for key in _READ:
            assert a.data.get(key) == b.data.get(key), (key, line)
        fa, fb = a.data.get("flow"), b.data.get("flow")
        assert (fa is None) == (fb is None)
        for key in _FLOW_READ:
            assert (fa or {}).get(key) == (fb or {}).get(key), (key, line)
    assert fast.stats.as_dict() == ref.stats.as_dict()


@pytest.mark.parametrize(("path", "value", "reason"), [
    (("flow", "pkts_toserver"), 2**64 - 1, "field 'flow.pkts_toserver' out of range"),
    (("flow", "pkts_toclient"), -1, "field 'flow.pkts_toclient' out of range"),
    (("flow", "bytes_toclient"), 2**53, "field 'flow.bytes_toclient' out of range"),
    (("flow", "age"), 2**64 - 1, "field 'flow.age' out of range"),
    (("dest_port",), 65536, "field 'flow_id'/'src_port'/'dest_port' out of range"),
    (("flow_id",), 2**63, "field 'flow_id'/'src_port'/'dest_port' out of range"),
    (("timestamp",), "10000-01-01T00:00:00.000000+0000",
     "field 'timestamp' not ISO 8601 or not in 1970-2199"),
])
def test_out_of_range_flow_values_are_bad_on_both_paths(
        real: dict[str, Any], path: tuple[str, ...], value: Any, reason: str) -> None:
    from sakimori.eve.decode import Decoder

    line = next(ln for ln in _flow_lines(real["eve"]) if b'"flow":{' in ln)
    obj = json.loads(line)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    bad = json.dumps(obj, separators=(",", ":")).encode()
    for reference in (False, True):
        dec = Decoder(source="eve.json")
        dec.reference = reference
        assert dec.decode(bad, 7) is None
        assert dec.stats.bad == {reason: 1}
        assert dec.stats.examples[0].startswith(f"eve.json:7: {reason}")
    # the largest value in range is used on both paths
    if type(value) is int and path[0] == "flow":
        target[path[-1]] = 2**53 - 1
        ok = json.dumps(obj, separators=(",", ":")).encode()
        for reference in (False, True):
            dec = Decoder()
            dec.reference = reference
            ev = dec.decode(ok, 1)
            assert ev is not None and ev.data["flow"][path[-1]] == 2**53 - 1
