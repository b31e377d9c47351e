"""The compiled flow gates (eve_consumer/handlers/_flowgate.pyx) against the flow handlers' own
``handle`` (the reference: ``flowgate.USE_COMPILED = False``).

The consumer's report must be the same byte for byte — hosts.csv, findings.jsonl and
stats.json (every counter and decode count) — with and without the gates on

- real Suricata EVE: the public slips capture's EVE and the EVE real Suricata 7 writes for
  each capture of ``shared/data/real`` (each with its home network), on the compiled batch
  loop, the pure batch loop and the per-line loop;
- that EVE with hostile and broken lines spliced in (test_consumer_fastfeed's set);
- the same EVE with a whitelist that hits names and addresses (the gate reads the context's
  verdict caches);

and on flow events built by hand whose record has fields of every wrong type (a struct made
without validation, a dict record): the handler state, the counters and the exception raised (if
any) are the same. Without the compiled module the tests are skipped with the reason (a
failure under ``CI=true``, as for every accelerator).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from consumerfixtures import SLIPS_HOME
from consumerfixtures import broken as _broken
from consumerfixtures import config as _config
from consumerfixtures import report as _report
from engines import missing

from eve_consumer.context import Context
from eve_consumer.dispatch import Dispatcher
from eve_consumer.handlers import build_handlers, flowgate
from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.eve.decode import Event
from sakimori.eve.typed import FlowCounts, FlowRecord, TcpFlags

FLOW_HANDLERS = ("beacon", "fw_blocked", "non_http_on_http_port", "long_session")


@pytest.fixture(autouse=True)
def _built() -> None:
    if flowgate.compiled_gates() is None:
        missing("eve_consumer.handlers._flowgate is not built (no C compiler at install; "
                "make setup builds it)")


def _run(cfg: Any, eve: Path, out: Path, *, gates: bool, loop: str,
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(flowgate, "USE_COMPILED", gates)
    with Consumer(cfg, None, out, out.with_name(out.name + "-state"), mail=False) as c:
        c.fast = loop != "per-line"
        c.compiled = loop == "compiled"
        gated = [type(getattr(h, "__self__", h)).__name__ for h in
                 (*c.dispatcher.flow_any, *c.dispatcher.flow_internal,
                  *c.dispatcher.flow_outbound)]
        assert any(n.endswith("Gate") for n in gated) == gates, gated
        c.run_once(eve)
        assert c.feed_loop == loop
    return _report(out)


def _same(cfg: Any, eve: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
          loop: str = "compiled") -> dict[str, Any]:
    ref = _run(cfg, eve, tmp / "ref", gates=False, loop=loop, monkeypatch=monkeypatch)
    got = _run(cfg, eve, tmp / "gated", gates=True, loop=loop, monkeypatch=monkeypatch)
    assert got["csv"] == ref["csv"]
    assert got["findings"] == ref["findings"]
    assert json.dumps(got["stats"]) == json.dumps(ref["stats"])  # keys in the same order
    return got


@pytest.mark.parametrize("loop", ["compiled", "python", "per-line"])
def test_slips_eve_same_report(slips_eve: Path, tmp_path: Path, loop: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path, SLIPS_HOME)
    got = _same(cfg, slips_eve, tmp_path, monkeypatch, loop)
    assert got["findings"].count("\n") >= 2  # not vacuous
    assert got["stats"]["decode"]["decoded"].get("flow", 0) > 100


def test_real_captures_same_report(real_eves: list[tuple[str, list[str], Path]],
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = set()
    for name, home, eve in real_eves:
        cfg = _config(tmp_path / name, home)
        got = _same(cfg, eve, tmp_path / name, monkeypatch)
        found |= {json.loads(x)["detection"] for x in got["findings"].splitlines()}
    assert {"beacon", "fw_blocked"} <= found, found  # the gated handlers found something


def test_broken_lines_same_report(slips_eve: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x]
    broken = _broken(lines)
    step = max(1, len(lines) // (len(broken) + 1))
    mixed: list[bytes] = []
    for i, bad in enumerate(broken):
        mixed += [*lines[i * step:(i + 1) * step], bad]
    mixed += lines[len(broken) * step:]
    eve = tmp_path / "broken.json"
    eve.write_bytes(b"\n".join(mixed) + b"\n")
    cfg = _config(tmp_path, SLIPS_HOME, max_line_bytes=4096)
    for loop in ("compiled", "per-line"):
        got = _same(cfg, eve, tmp_path / loop, monkeypatch, loop)
        assert sum(got["stats"]["decode"]["bad"].values()) >= 25


def _whitelist_config(tmp: Path, eve: Path) -> Any:
    """The slips config with a whitelist of some destinations the EVE names (SNI/Host) and
    some it reaches by address only."""
    names, ips = set(), set()
    for line in eve.read_bytes().splitlines():
        rec = json.loads(line)
        if rec.get("event_type") == "tls" and rec.get("tls", {}).get("sni"):
            names.add(rec["tls"]["sni"].lower())
        elif rec.get("event_type") == "flow" and not str(rec.get("dest_ip")).startswith("192."):
            ips.add(rec["dest_ip"])
    chosen = sorted(names)[::2] + sorted(ips)[::3]
    assert len(chosen) >= 4, chosen
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "cfg.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"networks": {"home": SLIPS_HOME},
                                    "alerts": {"enabled": False},
                                    "whitelist": {"destinations": chosen}}))
    return load_config(path)


def test_whitelist_same_report(slips_eve: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _whitelist_config(tmp_path, slips_eve)
    got = _same(cfg, slips_eve, tmp_path, monkeypatch)
    assert got["stats"]["counters"].get("beacon_whitelisted_flows", 0) > 0


# --- hostile events built by hand ----------------------------------------------------------

_ODD: tuple[Any, ...] = (None, 0, 1, -5, 2**70, 1.5, float("nan"), "", "x", "TCP", "dns",
                         "02", "14", "tls", "http", [], {}, [1], {"a": 1}, True, b"x")


def _hostile_events(n: int, seed: int, limit: int) -> list[Event]:
    """*n* flow events with odd values everywhere in the record; ages around *limit* (the
    long-session threshold)."""
    import random

    rnd = random.Random(seed)

    def odd() -> Any:
        return rnd.choice(_ODD)

    def maybe(good: Any) -> Any:
        return good if rnd.random() < 0.6 else odd()

    out = []
    for i in range(n):
        tcp: Any = TcpFlags(tcp_flags_ts=maybe(rnd.choice(["02", "1b", "C2", "c2"])),
                            tcp_flags_tc=maybe(rnd.choice(["14", "12", "04", "zz"])),
                            syn=maybe(True), rst=maybe(rnd.choice([True, False])))
        if rnd.random() < 0.2:
            tcp = odd()
        flow: Any = FlowCounts(pkts_toserver=maybe(3), pkts_toclient=maybe(rnd.choice([0, 2])),
                               bytes_toserver=maybe(120), bytes_toclient=maybe(80),
                               start=maybe(f"2020-01-01T00:00:{i % 60:02d}.000000+0000"),
                               end=maybe("2020-01-01T01:00:00.000000+0000"),
                               age=maybe(rnd.choice([1, limit - 1, limit, limit + 1])))
        if rnd.random() < 0.1:
            flow = None
        rec = FlowRecord("2020-01-01T00:00:00.000000+0000", "flow", maybe("192.168.1.5"),
                         maybe(rnd.choice(["8.8.8.8", "192.168.1.9"])), maybe(i + 1),
                         maybe(4000), maybe(rnd.choice([80, 443, 8080, 22])),
                         maybe(rnd.choice(["TCP", "UDP"])),
                         maybe(rnd.choice(["http", "tls", "dns", "failed"])), maybe(None),
                         maybe(None), maybe(None), flow, tcp)
        data: Any = rec
        if rnd.random() < 0.15:  # the ordinary decode's dict record, odd values kept
            data = {"flow": rnd.choice([{"age": odd(), "start": odd()}, odd()]),
                    "tcp": rnd.choice([{"tcp_flags_ts": "02", "rst": odd(),
                                        "tcp_flags_tc": odd()}, odd()]),
                    "app_proto": odd()}
        # the event's own fields have the types the decoders check (any value)
        out.append(Event("flow", 1.6e9 + i, rnd.choice([0, i + 1, 2**63 - 1]),
                         rnd.choice(["", *(f"192.168.1.{n}" for n in range(40))]),
                         rnd.choice([0, 4000]),
                         rnd.choice(["8.8.8.8", "1.1.1.1", "192.168.1.9", ""]),
                         rnd.choice([0, 80, 443, 8080, 65535]),
                         rnd.choice(["TCP", "UDP", "ICMP", ""]), data, b"", i, data))
    return out


def _feed_by_hand(events: list[Event], gates: bool, monkeypatch: pytest.MonkeyPatch,
                  cfg: Any) -> tuple[list[str], dict[str, Any], dict[str, int]]:
    monkeypatch.setattr(flowgate, "USE_COMPILED", gates)
    ctx = Context(cfg, None)
    handlers = build_handlers(ctx, FLOW_HANDLERS)
    dispatcher = Dispatcher(ctx, handlers)
    outcome = []
    for ev in events:
        try:
            dispatcher.dispatch(ev)
            outcome.append("ok")
        except Exception as exc:
            outcome.append(type(exc).__name__)
    before = {h.name: h.snapshot() for h in handlers}  # pending starts not folded yet
    for h in handlers:  # pending beacon starts parsed (bad ones counted)
        try:
            h.findings()
        except Exception as exc:  # a value no decoder lets through (2**70 bytes): alike
            outcome.append(f"{h.name}.findings: {type(exc).__name__}")
    return outcome, {"before": before, **{h.name: h.snapshot() for h in handlers}}, \
        dict(ctx.counters)


@pytest.mark.parametrize(("seed", "max_pending"), [(1, 4096), (2, 4096), (3, 3)])
def test_hostile_events_same_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   seed: int, max_pending: int) -> None:
    """Same outcome per event, same handler state (before and after the evaluation folds the
    pending starts), same counters; *max_pending* 3: a pair is folded every few beats."""
    from eve_consumer.handlers import beacon

    monkeypatch.setattr(beacon, "MAX_PENDING", max_pending)
    cfg = _config(tmp_path, ["192.168.0.0/16"])
    limit = int(Context(cfg, None).thresholds.long_session_s.value)
    events = _hostile_events(1500, seed, limit)
    ref = _feed_by_hand(events, False, monkeypatch, cfg)
    got = _feed_by_hand(events, True, monkeypatch, cfg)
    assert got[0] == ref[0]
    assert json.dumps(got[1], sort_keys=True, default=repr) == \
        json.dumps(ref[1], sort_keys=True, default=repr)
    assert got[2] == ref[2]
    assert ref[0][:len(events)] == ["ok"] * len(events)  # no handler raises on them
    assert all(any(v for v in state.values()) for state in ref[1].values())  # all counted
    assert len(ref[1]["beacon"]["hosts"]) > 30


def test_fields_read_at_their_offset() -> None:
    """Every field the gates read has a slot offset (else they read it by getattr: right,
    but slow)."""
    offsets = flowgate.compiled_gates().offsets()
    assert offsets and all(v >= 16 for v in offsets.values()), offsets


def test_no_gate_for_a_changed_handle(tmp_path: Path) -> None:
    """A subclass that changes ``handle``, or a ``handle`` replaced on the instance (the
    bench's decode-only child, tests' spies), keeps its own ``handle``."""
    cfg = _config(tmp_path, ["192.168.0.0/16"])
    ctx = Context(cfg, None)

    class Mine(BeaconHandler):
        def handle(self, ev: Event) -> None:
            pass

    class Same(BeaconHandler):
        pass

    gate = flowgate.compiled_gates().gate
    mine, same, plain = Mine(ctx), Same(ctx), BeaconHandler(ctx)
    assert gate(mine) is None and flowgate.flow_handle(mine) == mine.handle
    assert type(gate(same).__self__).__name__ == "BeaconGate"
    assert type(flowgate.flow_handle(plain).__self__).__name__ == "BeaconGate"
    plain.handle = lambda ev: None  # type: ignore[method-assign]
    assert gate(plain) is None and flowgate.flow_handle(plain) is plain.handle


def test_no_gate_for_a_handle_patched_on_the_class(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``handle`` replaced on the class (tests that make a handler fail) is called for every
    flow: no gate stands in for it."""
    from eve_consumer.handlers.long_session import LongSessionHandler

    ctx = Context(_config(tmp_path, ["192.168.0.0/16"]), None)
    real = LongSessionHandler.handle

    def spy(self: LongSessionHandler, ev: Event) -> None:
        real(self, ev)

    assert flowgate.compiled_gates().gate(LongSessionHandler(ctx)) is not None
    monkeypatch.setattr(LongSessionHandler, "handle", spy)
    handler = LongSessionHandler(ctx)
    assert flowgate.compiled_gates().gate(handler) is None
    assert flowgate.flow_handle(handler) == handler.handle
