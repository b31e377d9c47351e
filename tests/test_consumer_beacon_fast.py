"""Fast loops, short series, bursts and prevalence at scale in the beacon handler.

- Real Suricata on a crafted capture: a reconnect loop (a short TLS connection every ~3.5 s
  for 5 minutes) is a beacon with its own period; so are 5 check-ins a minute apart, which
  span most of this short capture (the episode rule scales with the capture); a dashboard
  polled every ~3 s by many hosts of the same network is silenced by prevalence (counted
  and explained); one user's browsing burst (15 requests at random gaps of a few seconds)
  is not judged.
- Prevalence is exact at 2,400 internal hosts with an agent on a third of them, and a
  destination reached by more hosts than the exact set holds is still counted within 2 %
  (the checkpoint keeps it) — in the consumer and in the learned baselines (merged
  exactly, through JSON).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from pcapcraft import http_get, tls_session, write_pcap

from eve_consumer.handlers.beacon import BeaconHandler
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.distinct import EXACT_MAX, DistinctCount
from sakimori.eve.decode import Event
from sakimori.suricata import read_pcaps

T0 = 1793577600.0


@pytest.mark.suricata
def test_fast_loop_found_dashboard_silenced_burst_quiet(tmp_path: Path,
                                                       require_suricata: str) -> None:
    rng = random.Random(11)
    pkts, port = [], 42000
    t = T0
    while t < T0 + 300:  # reconnect loop: one short TLS session every 3.3-3.8 s
        port += 1
        pkts += tls_session("10.1.20.11", "198.51.100.20", "c2.loop-example.net", sport=port,
                            t0=t, app_data=1)
        t += rng.uniform(3.3, 3.8)
    for h in range(1, 7):  # six of the eleven hosts poll one dashboard every ~3 s
        t = T0 + rng.random()
        while t < T0 + 300:
            port += 1
            pkts += http_get(f"10.1.30.{h}", "198.51.100.30", "dash.example.com", "/status",
                             sport=port, t0=t)
            t += 3.0 * (1 + 0.05 * rng.uniform(-1, 1))
    for k in range(5):  # a check-in every ~60 s: 5 beats, most of this 5-minute capture
        port += 1
        pkts += tls_session("10.1.20.12", "198.51.100.21", "c2.slow-example.net", sport=port,
                            t0=T0 + 20 + 60 * k + rng.uniform(-1, 1), app_data=1)
    t = T0 + 60
    for _ in range(15):  # one browsing burst: 15 requests at random gaps of 1-6 s
        port += 1
        pkts += http_get("10.1.40.5", "198.51.100.40", "news.example.org", "/a", sport=port,
                         t0=t)
        t += rng.uniform(1.0, 6.0)
    for h in (6, 7):  # two more hosts, quiet: ordinary single requests
        pkts += http_get(f"10.1.50.{h}", "198.51.100.50", "www.example.net", "/", t0=T0 + h)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("networks:\n  home: [10.1.0.0/16]\n")
    cfg = load_config(cfg_path)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "fast.pcap", pkts)], tmp_path / "run", [])
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        rows = {r.host: r for r in consumer.run_once(eve)}
        suppressed = consumer.ctx.counters["beacon_suppressed_prevalent"]
        notes = list(consumer.ctx.notes)
    assert set(rows) == {"10.1.20.11", "10.1.20.12"}
    assert rows["10.1.20.11"].detections == ["beacon"]
    pair = rows["10.1.20.11"].findings[0].evidence["pairs"][0]
    assert pair["destination"] == "c2.loop-example.net"
    assert 3.2 <= pair["period_s"] <= 3.9 and pair["beats"] >= 75
    slow = rows["10.1.20.12"].findings[0].evidence["pairs"][0]
    assert slow["destination"] == "c2.slow-example.net" and slow["beats"] == 5
    assert suppressed == 6
    assert any("dash.example.com suppressed: prevalent (6/11 internal hosts" in n for n in notes)


def _flow(src: str, dest: str, start: float) -> Event:
    stamp = f"2026-11-02T00:00:{start:09.6f}+0000"
    rec = {"flow": {"start": stamp, "pkts_toclient": 3, "bytes_toserver": 300},
           "app_proto": "tls"}
    return Event(kind="flow", ts=T0 + start, src_ip=src, dest_ip="203.0.113.9", src_port=40000,
                 dest_port=443, proto="TCP", flow_id=0, data=rec, record=rec)


def _handler(n_internal: int = 0) -> BeaconHandler:
    cfg = load_config(None)
    ctx = SimpleNamespace(cfg=cfg, flow_names={}, whitelisted=lambda ip, name: False,
                          counters=Counter(), notes=[],
                          thresholds=SimpleNamespace(n_internal_hosts=n_internal, prevalence={}))
    return BeaconHandler(ctx)


def test_prevalence_is_exact_at_thousands_of_hosts_with_an_agent_on_a_third() -> None:
    handler = _handler()
    hosts = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(2400)]
    for i, h in enumerate(hosts):
        handler.handle(_flow(h, "x", 1.0))  # every host reaches some site of its own
        handler._beat(h, f"site-{i}.example.com", _flow(h, "x", 1.0), 1.0, 300)
        if i % 3 == 0:
            handler._beat(h, "agent.saas.example.com", _flow(h, "x", 1.0), 2.0, 300)
    assert len(handler.hosts) == 2400
    assert len(handler.dest_hosts["agent.saas.example.com"]) == 800
    common, why = handler.prevalent("agent.saas.example.com", "203.0.113.9")
    assert common and why.startswith("800/2400 internal hosts")
    assert not handler.prevalent("site-7.example.com", "203.0.113.9")[0]


def test_prevalence_past_the_exact_set_is_within_two_percent_and_survives_a_restart() -> None:
    handler = _handler()
    n = 6 * EXACT_MAX
    for i in range(n):
        h = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        handler._beat(h, "cdn.example.com", _flow(h, "x", 1.0), 1.0, 300)
    counted = len(handler.dest_hosts["cdn.example.com"])
    assert not handler.dest_hosts["cdn.example.com"].exact
    assert abs(counted - n) <= 0.02 * n
    again = _handler()
    again.restore(handler.snapshot())
    assert len(again.dest_hosts["cdn.example.com"]) == counted
    merged = DistinctCount(f"192.168.0.{i}" for i in range(10))
    merged.update(again.dest_hosts["cdn.example.com"])
    assert abs(len(merged) - (n + 10)) <= 0.02 * n


def _ip(i: int) -> str:
    return f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"


def test_learned_prevalence_is_exact_at_thousands_of_hosts_and_merges_exactly() -> None:
    from generator.traffic_summary import TrafficSummary
    from sakimori.baselines import effective_traffic

    n = 2400
    first, second, both = TrafficSummary(), TrafficSummary(), TrafficSummary()
    for i in range(n):  # two learning runs, each seeing half of the hosts
        part = first if i % 2 else second
        for s in (part, both):
            s.see_host(_ip(i), T0)
            s.see_destination(f"site-{i}.example.com", _ip(i))
            if i % 3 == 0:
                s.see_destination("agent.saas.example.com", _ip(i))
    merged = TrafficSummary.from_traffic(first.to_traffic())  # learn A, then B on top
    for key, hosts in second.destinations.items():
        merged.destinations.setdefault(key, DistinctCount()).update(hosts)
    merged.hosts.update(second.hosts)
    doc = {"traffic": merged.to_traffic()}
    assert doc["traffic"]["destinations"] == both.to_traffic()["destinations"]
    eff = effective_traffic(load_config(None), doc)
    assert eff.n_internal_hosts == n and eff.prevalence["agent.saas.example.com"] == 800
    handler = _handler()
    handler.ctx.thresholds = eff
    common, why = handler.prevalent("agent.saas.example.com", "203.0.113.9")
    assert common and why == "800/2400 internal hosts in the baselines"


def test_learned_prevalence_past_the_exact_set_is_a_sketch_within_two_percent() -> None:
    import json

    from generator.traffic_summary import TrafficSummary
    from sakimori.baselines import effective_traffic

    n = 3 * EXACT_MAX
    a, b = TrafficSummary(), TrafficSummary()
    for i in range(n):
        (a if i < n // 2 else b).see_destination("cdn.example.com", _ip(i))
        a.see_host(_ip(i), T0)
    state = json.loads(json.dumps(a.to_traffic()))  # through JSON, as baselines.json
    merged = TrafficSummary.from_traffic(state)
    merged.destinations["cdn.example.com"].update(b.destinations["cdn.example.com"])
    doc = {"traffic": merged.to_traffic()}
    assert set(doc["traffic"]["destinations"]["cdn.example.com"]) == {"hll_p", "registers",
                                                                     "estimate"}
    count = effective_traffic(load_config(None), doc).prevalence["cdn.example.com"]
    assert abs(count - n) <= 0.02 * n
