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
import mmap
import os
import random
import signal
import time
from array import array
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from engines import missing, require_binary, require_path
from workerchecks import assert_batch_loop

from eve_consumer import shard
from eve_consumer import workers as workers_mod
from eve_consumer.pipeline import Consumer
from eve_consumer.shard import NOT_MINE, PRIMARY, SECONDARY, Router, mine, worker_table
from eve_consumer.workers import Workers, run_sharded
from generator.render_suricata import write_suricata
from sakimori.baselines import empty_document
from sakimori.cli import main as cli_main
from sakimori.config import load_config
from sakimori.errors import InputError
from sakimori.eve.file import FileInput
from sakimori.eve.lines import Lines, line_ends
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
    assert not workers.scratch.exists()  # the workers' scratch reports and states: removed
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


# a splitting handicap that places the office capture's hosts with flows between the two
# workers' hosts (worker 0's handicap before 2026-12-07 evening, and again since the route
# step got cheaper that night); used below only when the tuned handicap shares nothing
SHARING_HANDICAP = 0.13


@pytest.mark.parametrize("n", [2, 3])
def test_workers_give_the_one_worker_report(real: dict[str, Any], n: int, router_impl: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    got = _sharded(real["cfg"], real["doc"], real["eve"], real["tmp"] / f"w{n}", n)
    one = real["one"]
    assert got["csv"] == one["csv"]
    assert got["findings"] == one["findings"]
    assert got["decode"] == one["decode"]  # every line counted once
    assert got["stats"]["input"]["workers"] == n
    # lines shared between workers (events between their hosts) went through the batch loop
    # with scratch statistics
    shared = assert_batch_loop(got["stats"], n, router_impl)
    if "dns" in one["decode"]["ignored"]:  # slips: DNS not decoded (no whitelisted name),
        # and the flows between two workers' hosts are UDP ones every prefilter skips: each
        # goes to its primary alone (shard.FlowSkip), so nothing is shared
        assert "dns" not in one["decode"]["decoded"] and sum(shared) == 0
        assert one["decode"]["ignored"].get("flow (prefiltered)", 0) > 0
    elif n == 2:  # office: TCP flows between internal hosts of the two workers
        # (which hosts share a worker follows worker 0's splitting handicap: the tuned one
        # may keep every such pair on one worker, as 3 workers may); the lighter handicap of
        # SHARING_HANDICAP places the office capture's hosts so that flows are shared: the
        # shared-line path gives the same report too (run again only when the tuned handicap
        # shared nothing; since 2026-12-07 night the two are the same)
        if sum(shared) == 0:
            monkeypatch.setattr(shard, "SPLIT_COST_LINES_COMPILED", SHARING_HANDICAP)
            monkeypatch.setattr(shard, "SPLIT_COST_LINES", SHARING_HANDICAP)
            again = _sharded(real["cfg"], real["doc"], real["eve"], real["tmp"] / "w2-shared", n)
            assert again["csv"] == one["csv"] and again["findings"] == one["findings"]
            assert again["decode"] == one["decode"]
            shared = assert_batch_loop(again["stats"], n, router_impl)
        assert sum(shared) > 0
    assert (got["stats"]["counters"].get("beacon_suppressed_prevalent", 0)
            == one["stats"]["counters"].get("beacon_suppressed_prevalent", 0))


@pytest.mark.usefixtures("router_impl")
def test_without_the_prevalence_merge_the_report_differs(office: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Each of 4 workers sees a quarter of the hosts: a destination all of them reach is no
    longer prevalent in any worker unless the counts are merged."""
    monkeypatch.setattr(workers_mod, "merge_prevalence", lambda consumer, other: None)
    got = _sharded(office["cfg"], None, office["eve"], office["tmp"] / "nomerge", 4)
    assert got["findings"] != office["one"]["findings"]
    assert len(got["findings"]) > len(office["one"]["findings"])


@pytest.mark.usefixtures("router_impl")
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


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--workers", "16"],
                                   ["--workers", "2", "--follow"]])
def test_consume_cli_workers_usage(slips: dict[str, Any], tmp_path: Path, extra: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["consume", "--config", str(slips["tmp"] / "cfg.yaml"), "--eve",
            str(slips["eve"]), "--state-dir", str(tmp_path / "s"), *extra]
    with pytest.raises(SystemExit) as done:
        cli_main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers" in err[0]


def _line(kind: str, src: str, dst: str) -> bytes:
    return (f'{{"timestamp":"2026-11-02T00:00:00.000000+0000","flow_id":1,'
            f'"event_type":"{kind}","src_ip":"{src}","src_port":1,"dest_ip":"{dst}",'
            f'"dest_port":2}}').encode()


def _flags(router: Router, lines: list[bytes], n: int) -> list[list[int]]:
    """Per worker, the flag of each line (NOT_MINE / PRIMARY / SECONDARY)."""
    codes = router.route(lines)
    return [list(codes.translate(worker_table(k, n))) for k in range(n)]


@pytest.mark.usefixtures("router_impl")
def test_route_rules() -> None:
    home = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}
    n = 2
    router = Router(n, lambda ip: ip in home, splitter_is_worker0=False)
    # four hosts, first seen with 4, 3, 2 and 1 outbound lines: bin-packed heaviest first
    lines = [_line("flow", f"10.0.0.{h}", "8.8.8.8") for h in (1, 2, 3, 4)
             for _ in range(5 - h)]
    flags = _flags(router, lines, n)
    placed = {h.decode(): w for h, w in router.hosts.items()}
    assert placed == {"10.0.0.1": 0, "10.0.0.2": 1, "10.0.0.3": 1, "10.0.0.4": 0}
    for line, *per_worker in zip(lines, *flags, strict=True):  # one owner per outbound line
        assert sorted(per_worker) == [NOT_MINE, PRIMARY], line
    assert router.load == [5.0, 5.0]
    # sticky: a host keeps its worker whatever the loads; inbound goes to the internal side
    inbound = _line("alert", "8.8.8.8", "10.0.0.1")
    assert [f[0] for f in _flags(router, [inbound] * 9, n)] == [PRIMARY, NOT_MINE]
    # between two internal hosts of different workers: both, counted by the source's
    both = _line("flow", "10.0.0.2", "10.0.0.1")
    assert [f[0] for f in _flags(router, [both], n)] == [SECONDARY, PRIMARY]
    # DNS answers to every worker, counted by worker 0; DNS lines that cannot feed the
    # IP → name map (no "answer" string, no escape, one event_type), smtp, unwanted,
    # unreadable: worker 0 alone
    answer = _line("dns", "10.0.0.2", "10.0.0.1")[:-1] + b',"dns":{"type":"answer"}}'
    query = answer.replace(b'"answer"', b'"query"')
    for text, want in ((answer, [PRIMARY, SECONDARY]), (query, [PRIMARY, NOT_MINE]),
                       (query[:-1] + b',"x":"\\u0061nswer"}', [PRIMARY, SECONDARY]),
                       (query[:-1] + b',"event_type":"flow"}', [PRIMARY, SECONDARY])):
        assert [f[0] for f in _flags(router, [text], n)] == want, text
    no_dns = Router(n, lambda ip: ip in home, splitter_is_worker0=False, dns_wanted=False)
    assert [f[0] for f in _flags(no_dns, [answer], n)] == [PRIMARY, NOT_MINE]
    for text in (_line("smtp", "10.0.0.2", "8.8.8.8"), _line("stats", "", ""), b"garbage",
                 _line("flow", "8.8.8.8", "1.1.1.1")):
        assert [f[0] for f in _flags(router, [text], n)] == [PRIMARY, NOT_MINE], text
    # an escaped address: every worker judges it
    esc = _line("flow", "10.0.0.\\u0032", "8.8.8.8")
    assert [f[0] for f in _flags(router, [esc], n)] == [PRIMARY, SECONDARY]
    # another layout (fields apart): the general path, same rules
    other = (b'{"event_type":"flow","timestamp":"2026-11-02T00:00:00.000000+0000",'
             b'"dest_ip":"10.0.0.1","src_ip":"10.0.0.2"}')
    assert [f[0] for f in _flags(router, [other], n)] == [SECONDARY, PRIMARY]
    # a new host found by the general path is placed too
    other_new = other.replace(b"10.0.0.2", b"10.0.0.3").replace(b'"10.0.0.1"', b'"9.9.9.9"')
    assert [f[0] for f in _flags(router, [other_new], n)] == [NOT_MINE, PRIMARY]


@pytest.mark.usefixtures("router_impl")
def test_placement_counts_a_line_between_hosts_of_one_worker_once() -> None:
    """Lines between two internal hosts weigh on both hosts, but a worker holding both
    decodes them once: the placement's running loads say so, and the last host goes where
    the real load is least (here worker 0, whose predicted load would otherwise be 30)."""
    home = {"10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.9"}
    router = Router(2, lambda ip: ip in home, splitter_is_worker0=False)
    lines = ([_line("flow", "10.0.0.1", "10.0.0.9")] * 10  # A → R: on two workers
             + [_line("flow", "10.0.0.2", "10.0.0.9")] * 10  # B → R: on R's worker
             + [_line("flow", "10.0.0.4", "8.8.8.8")] * 12
             + [_line("flow", "10.0.0.5", "8.8.8.8")] * 3)
    router.route(lines)
    placed = {h.decode(): w for h, w in router.hosts.items()}
    assert placed == {"10.0.0.9": 0, "10.0.0.4": 1, "10.0.0.1": 1, "10.0.0.2": 0,
                      "10.0.0.5": 0}
    assert router.load == [23.0, 22.0]  # R and B: 10 + A's 10 shared + E's 3; D 12 + A 10


@pytest.mark.usefixtures("router_impl")
def test_worker0_splitting_carries_a_handicap() -> None:
    """While worker 0 also splits, it is charged for the routing: the first host, placed
    after the handicap of its batch, goes to worker 1."""
    router = Router(2, lambda ip: ip.startswith("10."))
    router.route([_line("flow", "10.0.0.1", "8.8.8.8")])
    assert router.hosts == {b"10.0.0.1": 1}
    assert router.load[0] > 0


def test_mine_cuts_the_lines_from_the_file(tmp_path: Path) -> None:
    lines = [b"a" * k for k in (3, 0, 7, 1)]
    path = tmp_path / "f"
    path.write_bytes(b"x\n" + b"\n".join(lines) + b"\n")
    codes = bytes([1, 0, 3, 255])  # worker 1 alone, worker 0, 0 then 1, every worker
    table = worker_table(1, 2)
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        got = mine(codes, table, 2, None, view=view, base=2, lens=[len(x) for x in lines])
    assert got == ([lines[0], lines[2], lines[3]], [2, 4, 5], bytes([1, 2, 2]))
    assert mine(codes, table, 2, lines) == got
    assert mine(bytes([0, 0]), table, 1, lines[:2]) is None


def _file_input_batches(path: Path, max_lines: int, max_line: int, max_bytes: int
                        ) -> list[tuple[int, int, list[bytes]]]:
    inp = FileInput(path, max_bytes=max_bytes, max_lines=max_lines, max_line_bytes=max_line)
    out = []
    while True:
        base = inp.position
        batch = inp.read_batch()
        if batch is None:
            return out
        out.append((batch.first, base, batch.lines))


def _split_reader_batches(path: Path, max_lines: int, max_line: int, max_bytes: int,
                          scan: bool) -> tuple[list[tuple[int, int, list[bytes]]], int]:
    """The SplitReader's batches, scanned ones cut out of the file by their lengths; and how
    many came as lines while it scans (the file input's fallback)."""
    data = path.read_bytes()
    co = SimpleNamespace(queue_size=max_lines, max_line_bytes=max_line)
    reader = workers_mod.SplitReader(path, co, scan=scan, max_bytes=max_bytes)
    out, as_lines = [], 0
    try:
        while (got := reader.read()) is not None:
            first, base, lens, lines, codes = got
            assert lens is not None or lines is not None
            assert codes is None  # no router given
            if lines is None:
                starts = list(accumulate([base, *[n + 1 for n in lens]]))
                lines = [data[a:a + n] for a, n in zip(starts, lens, strict=False)]
            else:
                as_lines += scan
                if lens is not None:
                    assert list(lens) == [len(x) for x in lines]
            out.append((first, base, lines))
    finally:
        reader.close()
    return out, as_lines


@pytest.mark.parametrize("seed", range(1, 7))
def test_the_split_reader_gives_the_file_inputs_batches(tmp_path: Path, seed: int) -> None:
    """The splitter's read (compiled: the scan of the mapped file, with the file input
    taking over for batches holding an over-long line, then the scan again) gives exactly the
    batches, offsets, line numbers and (cut) lines of the consumer's file input: files of
    short, empty, over-long and chunk-crossing lines, with and without a last newline, with
    small chunk, batch and line limits."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    rng = random.Random(seed)
    fell_back = 0
    for k in range(150):
        lines = [bytes(rng.choice(b'{}a"\\r\x00 ') for _ in range(
            rng.choice([0, 1, 2, 5, 20, 60, 200]))) for _ in range(rng.randint(0, 60))]
        path = tmp_path / f"eve-{k}.json"
        path.write_bytes(b"\n".join(lines) + rng.choice([b"", b"\n"]))
        limits = (rng.randint(1, 15), rng.randint(0, 100), rng.randint(1, 300))
        want = _file_input_batches(path, *limits)
        for scan in (True, False):
            got, as_lines = _split_reader_batches(path, *limits, scan=scan)
            assert got == want, (k, limits, scan)
            fell_back += as_lines
    assert fell_back  # the file input's part was exercised


def test_the_split_reader_follows_a_growing_file(tmp_path: Path) -> None:
    """Lines written after the scan reached the end of the mapped file are read, as the file
    input reads them."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    path = tmp_path / "eve.json"
    path.write_bytes(b"one\ntwo\nthr")
    reader = workers_mod.SplitReader(path, SimpleNamespace(queue_size=10, max_line_bytes=99),
                                     scan=True)
    try:
        assert reader.read() == (1, 0, array("I", [3, 3]), None, None)
        with path.open("ab") as fh:
            fh.write(b"ee\nfour\n")
        assert reader.read() == (3, 8, array("I", [5, 4]), None, None)
        assert reader.read() is None
    finally:
        reader.close()


def test_route_view_gives_the_codes_of_the_lines(real: dict[str, Any]) -> None:
    """Routing a batch straight from the mapped file (no line objects) gives the codes,
    placement and loads of routing its lines, compiled and pure."""
    data = real["eve"].read_bytes()
    lines = data.split(b"\n")[:-1]
    lens = array("I", map(len, lines))
    home = real["cfg"].is_home
    compiled = [False, *([True] if shard.compiled_route is not None else [])]
    with real["eve"].open("rb") as fh, \
            mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        for fast in compiled:
            a, b = Router(2, home, compiled=fast), Router(2, home, compiled=fast)
            assert a.route_view(view, 0, lens) == b.route(lines)
            assert (a.hosts, a.load) == (b.hosts, b.load)
            if fast:
                with pytest.raises(ValueError, match="the file holds"):
                    a.route_view(view, 2, lens)


def test_the_scan_routes_as_the_pure_router(real: dict[str, Any], tmp_path: Path) -> None:
    """The splitter's fused scan and route (compiled) over real EVE with over-long lines
    woven in (read by the file input) and small batches: per batch the codes of the pure
    router over the file input's lines; the same placement and loads at the end."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")
    lines = real["eve"].read_bytes().split(b"\n")[:-1][:3000]
    for k in range(0, len(lines), 397):
        lines[k] = lines[k] + b" " * 5000  # over max_line_bytes: the file input's batch
    path = tmp_path / "eve.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    home = real["cfg"].is_home
    fast = Router(2, home, compiled=True, handicap=0.1)
    pure = Router(2, home, compiled=False, handicap=0.1)
    co = SimpleNamespace(queue_size=300, max_line_bytes=4096)
    want = _file_input_batches(path, 300, 4096, 1 << 16)
    reader = workers_mod.SplitReader(path, co, scan=True, max_bytes=1 << 16, router=fast)
    got, fused = [], 0
    try:
        while (batch := reader.read()) is not None:
            first, base, lens, lines_, codes = batch
            if codes is None:
                codes = fast.route(lines_) if lines_ is not None else \
                    fast.route_view(reader.map, base, lens)
            else:
                fused += 1
            got.append((first, base, codes))
    finally:
        reader.close()
    assert got == [(first, base, pure.route(ls)) for first, base, ls in want]
    assert fused and fused < len(want)  # both ways were taken
    assert (fast.hosts, fast.load) == (pure.hosts, pure.load)


def test_released_pages_are_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    """Letting the read part of the map go (madvise) loses nothing: its bytes read back."""
    monkeypatch.setattr(workers_mod, "RELEASE_BYTES", 0)
    path = tmp_path / "big"
    data = bytes(range(256)) * (3 * mmap.PAGESIZE // 256 + 7)
    path.write_bytes(data)
    with path.open("rb") as fh:
        view = workers_mod._View(fh)
        view.cover(len(data), str(path))
        assert view.map[:] == data
        view.release(2 * mmap.PAGESIZE + 5)
        assert view.released == 2 * mmap.PAGESIZE
        assert view.map[:] == data
        view.close()


_READ = ("app_proto", "app_proto_orig", "app_proto_ts", "app_proto_tc", "proto")
_FLOW_READ = ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "start",
              "end", "age")
_TCP_READ = ("tcp_flags_ts", "tcp_flags_tc", "syn", "rst")  # sakimori.eve.typed.TcpFlags


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
        ta, tb = a.data.get("tcp"), b.data.get("tcp")
        assert (ta is None) == (tb is None)
        for key in _TCP_READ:
            assert (ta or {}).get(key) == (tb or {}).get(key), (key, line)
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


# --- crafted edge cases on the office capture's EVE ---------------------------------------

BEACON_DEST = "198.18.7.7"


def _eve_line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def crafted(office: dict[str, Any]) -> dict[str, Any]:
    """The office EVE with edge cases woven in (see the test below), a firewall LOG, and a
    config with small batches, a short line limit and the beacon destination's DNS name
    whitelisted."""
    tmp = office["tmp"] / "crafted"
    tmp.mkdir()
    lines = office["eve"].read_bytes().splitlines()
    flows = [json.loads(ln) for ln in lines if b'"event_type":"flow"' in ln]
    internal = sorted({f["src_ip"] for f in flows if f["src_ip"].startswith("10.1.")})[:3]
    host, dest = internal[0], BEACON_DEST
    flow = next(f for f in flows if f["src_ip"] == host and f["proto"] == "TCP")
    ts = flow["timestamp"]
    t0 = datetime.fromisoformat(ts)
    beats = []  # raw TCP flows, no Host/SNI: only the DNS answer names the destination
    for k, src in enumerate(internal):
        for i in range(12):
            start = t0 + timedelta(seconds=600 * i + 7 * k)
            stamp = start.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
            beats.append(_eve_line({
                **{key: v for key, v in flow.items() if key not in ("app_proto", "tcp")},
                "timestamp": stamp, "flow_id": 900_000 + 100 * k + i, "src_ip": src,
                "src_port": 40000 + i, "dest_ip": dest, "dest_port": 8443,
                "flow": {**flow["flow"], "start": stamp, "end": stamp, "age": 0,
                         "pkts_toserver": 3, "pkts_toclient": 3, "bytes_toserver": 300,
                         "bytes_toclient": 300}}))
    dns = {"timestamp": ts, "flow_id": 11, "event_type": "dns", "src_ip": "10.1.0.53",
           "src_port": 53, "dest_ip": host, "dest_port": 5353, "proto": "UDP",
           "dns": {"version": 2, "type": "answer", "id": 1, "rrname": "c2.trusted-cdn.example",
                   "rrtype": "A", "rcode": "NOERROR",
                   "answers": [{"rrname": "c2.trusted-cdn.example", "rrtype": "A",
                                "ttl": 60, "rdata": dest}]}}
    smtp = {"timestamp": ts, "flow_id": 12, "event_type": "smtp", "src_ip": "8.8.4.4",
            "src_port": 40000, "dest_ip": internal[0], "dest_port": 25, "proto": "TCP",
            "tx_id": 0,
            "smtp": {"helo": "x", "mail_from": "<a@evil.example>",
                     "rcpt_to": ["<b@example.co.jp>"]},
            "email": {"status": "PARSE_DONE", "from": "CEO <ceo@example.co.jp>",
                      "to": ["b@example.co.jp"], "subject": "wire transfer",
                      "message_id": "<passive-1@evil.example>"}}
    both = [_eve_line({**flow, "flow_id": 20 + k, "src_ip": a, "dest_ip": b})
            for k, (a, b) in enumerate([(host, internal[0]), (internal[1], host),
                                        (internal[0], internal[1])])]
    bad_ts = _eve_line({**flow, "timestamp": "not a time"})
    other_layout = _eve_line({"event_type": "flow", **{k: v for k, v in flow.items()
                                                       if k != "event_type"}})
    escaped = _eve_line(flow).replace(f'"src_ip":"{host}"'.encode(),
                                      f'"src_ip":"{host[:-1]}\\u00{ord(host[-1]):x}"'.encode())
    long_line = _eve_line({**flow, "pad": "x" * 5000})
    woven = [_eve_line(dns)]
    extras = [*beats, _eve_line(smtp), *both, bad_ts, b"{truncated", b"", b"garbage", other_layout,
              escaped, long_line, *both, bad_ts]
    step = max(1, len(lines) // (len(extras) + 1))
    for k, line in enumerate(lines):
        woven.append(line)
        if k % step == step - 1 and extras:
            woven.append(extras.pop(0))
    woven += extras
    eve = tmp / "eve.json"
    eve.write_bytes(b"\n".join(woven))  # no newline at the end
    fw = tmp / "kern.log"
    fw.write_text("".join(
        f"Nov  2 00:{m:02d}:00 gw kernel: sakimori-drop IN=eth1 SRC={src} DST=198.51.100.44 "
        f"PROTO=TCP SPT={50000 + m} DPT=445 SYN\n"
        for m, src in enumerate(internal * 4)) + "Nov 99 bad line SRC=1 DST=2\n")
    doc = yaml.safe_load((office["tmp"] / "cfg.yaml").read_text())
    doc["consumer"] = {**doc.get("consumer", {}), "queue_size": 700, "max_line_bytes": 4096}
    doc["whitelist"]["destinations"] = [*doc["whitelist"]["destinations"],
                                        "*.trusted-cdn.example"]
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "cfg.yaml")
    return {"cfg": cfg, "eve": eve, "fw": fw, "tmp": tmp, "host": host, "dest": dest}


def _full(out: Path) -> dict[str, Any]:
    rep = _report(out)
    stats = rep["stats"]
    return {"csv": rep["csv"], "findings": (out / "findings.jsonl").read_text(),
            "decode": stats["decode"], "mail": stats["mail_warnings"],
            "input": {k: v for k, v in stats["input"].items() if k != "workers"},
            "hosts": stats["hosts_reported"]}


def _cli(cfg: Path, eve: Path, fw: Path, out: Path, *extra: str) -> dict[str, Any]:
    argv = ["consume", "--config", str(cfg), "--eve", str(eve), "--fw-log", str(fw),
            "--no-mail", "--out", str(out), "--state-dir", str(out.with_name(out.name + "-s")),
            *extra]
    with pytest.raises(SystemExit) as done:
        cli_main(argv)
    assert done.value.code == 0
    return _full(out)


@pytest.mark.usefixtures("router_impl")
@pytest.mark.parametrize("splitter", ["worker0", "worker0-dns-every", "process"])
def test_crafted_edge_cases_give_the_one_worker_report(
        crafted: dict[str, Any], splitter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host on both sides of flows, the DNS answer whose whitelisted name suppresses the
    beacon (worker 0 decodes it; the other workers replay its change to the IP → name map,
    or with ``forward_dns=False`` decode it too), bad lines of hosts (line numbers in the
    examples), an over-long line (its batch sent as lines), another field layout, an
    escaped address, smtp (spoofed-mail warning), a last line without newline, a firewall
    LOG: with 2 and 3 workers the report is one worker's, byte for byte."""
    t = crafted["tmp"]
    one = _cli(t / "cfg.yaml", crafted["eve"], crafted["fw"], t / f"one-{splitter}")
    # the cases are really there
    assert one["decode"]["bad"].get("line longer than consumer.max_line_bytes") == 1
    assert sum(one["decode"]["bad"].values()) >= 6 and len(one["decode"]["examples"]) == 5
    assert one["mail"] and one["input"]["fw_log_records"] == 12
    assert crafted["dest"] not in one["findings"]  # the DNS join whitelisted it
    monkeypatch.setattr(workers_mod.Workers.__init__, "__kwdefaults__",
                        {"splitter": splitter.split("-")[0],
                         "forward_dns": not splitter.endswith("every")})
    for n in (2, 3):
        got = _cli(t / "cfg.yaml", crafted["eve"], crafted["fw"], t / f"w{n}-{splitter}",
                   "--workers", str(n))
        assert got == one, n


@pytest.mark.usefixtures("router_impl")
def test_crafted_dns_join_matters(crafted: dict[str, Any]) -> None:
    """Without the DNS answer the beacon to the whitelisted name's address is reported: the
    join is what the workers must reproduce."""
    t = crafted["tmp"]
    lines = crafted["eve"].read_bytes().split(b"\n")
    (t / "nodns.json").write_bytes(b"\n".join(lines[1:]))
    got = _cli(t / "cfg.yaml", t / "nodns.json", crafted["fw"], t / "nodns", "--workers", "2")
    assert crafted["dest"] in got["findings"]


def _boom(*args: Any, **kwargs: Any) -> None:
    raise ValueError("boom")


@pytest.mark.parametrize(("splitter", "target", "who"), [
    ("process", "split", "splitter"), ("worker0", "_read_routed", "worker 1")])
def test_a_failing_process_is_one_error(slips: dict[str, Any], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, splitter: str,
                                        target: str, who: str) -> None:
    """The splitter or a worker failing (patched before the fork: only the forked process
    calls it) ends the run with one line naming it, and nothing waits forever."""
    monkeypatch.setattr(workers_mod, target, _boom)
    workers = Workers(slips["cfg"], None, slips["eve"], 2, splitter=splitter)
    try:
        with Consumer(slips["cfg"], None, tmp_path / "out", tmp_path / "state",
                      mail=False) as c, pytest.raises(workers_mod.WorkerError) as err:
            run_sharded(c, workers, slips["eve"])
    finally:
        workers.close(0)
    assert f"{who}: ValueError: boom" in str(err.value)
    assert not workers.scratch.exists()


def test_a_killed_worker_leaves_no_scratch(slips: dict[str, Any]) -> None:
    """A worker killed (SIGKILL: no clean-up of its own) after it opened its scratch report
    and state: closing the workers removes them all the same."""
    workers = Workers(slips["cfg"], None, slips["eve"], 2)
    try:
        state = workers.scratch / "worker1" / "state"
        deadline = time.monotonic() + 10
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state.exists()  # the worker's consumer opened its store there
        os.kill(workers.procs[0].pid, signal.SIGKILL)
        workers.procs[0].join(10)
    finally:
        workers.close(0)
    assert not workers.scratch.exists()


def test_the_mapped_file_follows_a_growing_file(tmp_path: Path) -> None:
    """A file still written while it is read: a worker maps it again when the splitter read
    past the mapped end; a file that shrank is one error."""
    path = tmp_path / "eve.json"
    path.write_bytes(b"a\n")
    with path.open("rb") as fh:
        view = workers_mod._View(fh)  # mapped when a batch needs it
        view.cover(1, str(path))
        assert bytes(view.map[:]) == b"a\n"
        with path.open("ab") as out:
            out.write(b"bb\n")
        view.cover(4, str(path))
        assert view.map[2:4] == b"bb"
        with pytest.raises(InputError, match="shrank while it was read"):
            view.cover(99, str(path))
        view.close()


def test_the_dns_log_replayed_gives_the_same_map(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Context.dns_log holds each change to the IP → name map (a new address, a name added)
    and nothing else; replayed in another context (:meth:`Context.replay_dns`) it gives the
    same map in the same order, evictions and their counter included."""
    from eve_consumer import context as context_mod
    from eve_consumer.context import Context

    monkeypatch.setattr(context_mod, "DNS_LIMIT", 7)
    monkeypatch.setattr(context_mod, "NAMES_PER_IP", 2)
    (tmp_path / "cfg.yaml").write_text("networks:\n  home: [10.0.0.0/8]\n")
    cfg = load_config(tmp_path / "cfg.yaml")
    rng = random.Random(5)
    calls = [(rng.choice([f"203.0.113.{i}" for i in range(12)] + ["", None]),
              rng.choice(["a.example", "B.Example.", "c.example", None, "", 3]),
              rng.choice(["d.example", None, "A.EXAMPLE"]), k + 1) for k in range(400)]
    one, other = Context(cfg, None), Context(cfg, None)
    one.dns_log = []
    for ip, qname, rrname, lineno in calls:
        before = {k: list(v) for k, v in one.dns_names.items()}
        n = len(one.dns_log)
        one._add_dns(ip, qname, rrname, lineno)
        changed = before != one.dns_names or list(before) != list(one.dns_names)
        assert (len(one.dns_log) == n + 1) == changed  # logged exactly when it changed
    assert one.counters["dns_names_evicted"] > 0 and 0 < len(one.dns_log) < len(calls)
    other.replay_dns(one.dns_log)
    assert other.dns_log is None
    assert list(other.dns_names.items()) == list(one.dns_names.items())
    assert other.counters == one.counters


def test_feed_with_dns_replays_the_changes_in_line_order() -> None:
    """A worker's lines and worker 0's map changes of the same batch interleaved by line
    number: a change after the worker's lines up to its line, before the later ones."""
    events: list[Any] = []
    consumer = SimpleNamespace(
        decoder=SimpleNamespace(shard=None), shared_lines=0,
        feed=lambda batch, numbers, flags: events.append(("feed", list(numbers),
                                                          batch.lines)),
        ctx=SimpleNamespace(replay_dns=lambda log: events.append(
            ("dns", [e[0] for e in log]))))
    shard_ = shard.WorkerShard(1)
    lines = [b"a", b"b", b"c", b"d"]
    log = [(1, "ip", "n", None), (5, "ip", "n", None), (6, "ip", "n", None),
           (7, "ip", "n", None), (12, "ip", "n", None)]
    want = [("dns", [1]), ("feed", [2, 5], [b"a", b"b"]), ("dns", [5, 6, 7]),
            ("feed", [9, 10], [b"c", b"d"]), ("dns", [12])]
    # the lines as a list, and as the compiled cut hands them out: a Lines over one bytes
    # object, cut into runs without being made into a list
    data = b"a\nb\nc\nd\n"
    cut = Lines(data, 0, len(data), 4, ends=line_ends(data, 0, len(data)))
    for part_lines in (lines, cut):
        events.clear()
        workers_mod.feed_with_dns(consumer, shard_, "eve", (part_lines, [2, 5, 9, 10],
                                                            bytes([PRIMARY] * 4)), log)
        assert [e if e[0] == "dns" else (*e[:2], list(e[2])) for e in events] == want
        assert all(type(e[2]) is type(part_lines) for e in events if e[0] == "feed")
    assert cut.listed is None
    events.clear()
    workers_mod.feed_with_dns(consumer, shard_, "eve", None, log[:2])  # no line of its own
    assert events == [("dns", [1, 5])]


@pytest.mark.parametrize("count", [1, 2, 4, 7])
def test_a_batch_in_pieces_is_the_same_lines_at_the_same_offsets(count: int) -> None:
    """The first batch sent in pieces (DNS forwarded): each piece's first line number and
    file offset name its own lines of the file; together they are the batch."""
    rng = random.Random(count)
    lines = [bytes(rng.choice(b"abc{}:,") for _ in range(rng.randrange(0, 40)))
             for _ in range(rng.randrange(2 * count, 60))]
    before = b"x\n" * 4  # the batch starts inside the file, at line 5
    head = len(before)
    data = before + b"\n".join(lines) + b"\n"
    lens = array("I", map(len, lines))
    codes = bytes(rng.randrange(4) for _ in lines)
    got = workers_mod.pieces(5, head, lens, lines, codes, count)
    assert len(got) == count
    assert b"".join(p[4] for p in got) == codes
    assert [x for p in got for x in p[3]] == lines
    assert [x for p in got for x in p[2]] == list(lens)
    for first, base, p_lens, p_lines, p_codes in got:
        assert len(p_lens) == len(p_lines) == len(p_codes) > 0
        offsets = [base + sum(p_lens[:i]) + i for i in range(len(p_lens))]
        assert [data[o:o + n] for o, n in zip(offsets, p_lens, strict=True)] == p_lines
        assert data[:base].count(b"\n") == first - 1  # its first line's number
    # a batch holding a cut line (no lengths) or too short to cut stays one
    assert workers_mod.pieces(1, 0, None, lines, codes, count) == [(1, 0, None, lines, codes)]
    short = workers_mod.pieces(1, 0, lens[:1], lines[:1], codes[:1], count)
    assert short == [(1, 0, lens[:1], lines[:1], codes[:1])]


def test_beacon_starts_folded_while_waiting_give_the_same_report(office: dict[str, Any]
                                                                 ) -> None:
    """A worker folds the beacon handler's pending starts while it waits for a message
    (workers.IdleFold): folded after every batch, the report is the one of a single fold at
    the end; with a message waiting, nothing is folded."""
    import multiprocessing

    cfg, eve, out = office["cfg"], office["eve"], office["tmp"] / "idle-fold"
    quiet, _ = multiprocessing.Pipe(duplex=False)  # nothing ever waits on it
    busy, sender = multiprocessing.Pipe(duplex=False)
    sender.send("batch")
    folded = []
    with Consumer(cfg, None, out, out.with_name("idle-fold-state"), mail=False) as c:
        idle = workers_mod.IdleFold(c)
        beacon = idle.beacon
        assert beacon is not None
        feed = c.feed

        def feed_then_wait(batch: Any, *args: Any) -> None:
            feed(batch, *args)
            pending = sum(len(p.pending) for p in beacon.pairs.values())
            before = idle.folded
            workers_mod.IdleFold(c).run(busy)  # a message waits: no fold
            assert sum(len(p.pending) for p in beacon.pairs.values()) == pending
            idle.run(quiet)
            folded.append(idle.folded - before)
            assert not any(p.pending for p in beacon.pairs.values())
            assert folded[-1] == pending

        c.feed = feed_then_wait  # type: ignore[method-assign]
        c.run_once(eve)
    got = _report(out)
    assert sum(1 for n in folded if n) > 1  # several folds
    assert got["csv"] == office["one"]["csv"]
    assert got["findings"] == office["one"]["findings"]
    assert got["stats"]["counters"] == office["one"]["stats"]["counters"]
