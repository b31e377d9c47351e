"""The shapes real data showed, as sakimori_demo.officesim writes them (issue 10): a RAT's reconnect
loop, raw binary on tcp/443, an explicit proxy (CONNECT tunnels with TLS inside), browsing
bursts and a fast periodic dashboard on many PCs. Checked on the pcap bytes and with real
Suricata; that the detectors report exactly the infected ones is test_demo's ground truth."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest
from officesim_pcap import ip_pair, read_pcap, run_suricata, tcp_fields

from sakimori_demo.officesim import SimParams, generate
from sakimori_demo.officesim.catalogue import CDNS, DASHBOARD, SITES
from sakimori_demo.officesim.infected import RAT_LOOP, RAW_ON_443
from sakimori_demo.officesim.params import PROXY_IP, PROXY_PORT, parse_time

PARAMS = SimParams(hours=6.0, benign_hosts=7)  # index 6 is a proxied PC


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list]:
    out = tmp_path_factory.mktemp("officesim_shapes")
    gt = generate(out, PARAMS)
    return out, gt, read_pcap(out / "office.pcap")[1]


def _syns(frames: list, src: str, dst: str, dport: int | None = None) -> list[float]:
    out = []
    for ts, f in frames:
        x = tcp_fields(f)
        if x and x[3] == 0x02 and x[0][0] == src and x[0][2] == dst and \
                (dport is None or x[0][3] == dport):
            out.append(ts / 1e6)
    return out


def _behaviour(gt: dict, ip: str, kind: str) -> dict:
    return next(b for b in gt["hosts"][ip]["behaviours"] if b["kind"] == kind)


def test_rat_reconnect_loop(sim: tuple[Path, dict, list]) -> None:
    _, gt, frames = sim
    beh = _behaviour(gt, "10.1.20.19", "beacon")
    assert gt["hosts"]["10.1.20.19"]["expected_detections"] == ["beacon"]
    syns = _syns(frames, "10.1.20.19", RAT_LOOP[1], 443)
    assert len(syns) == beh["connections"] and beh["episodes"] >= 2
    gaps = [b - a for a, b in itertools.pairwise(syns)]
    loop = [g for g in gaps if g < 60]
    sleeps = [g for g in gaps if g >= 60]
    assert len(sleeps) == beh["episodes"] - 1 and min(sleeps) > 5000
    assert min(loop) > 2.9 and max(loop) < 4.1  # every ~3.5 s, ±15 %
    assert len(loop) / beh["episodes"] > 40  # 3–7 minutes each


def test_burst_and_dashboard_shapes(sim: tuple[Path, dict, list]) -> None:
    _, gt, frames = sim
    benign = [ip for ip, h in gt["hosts"].items() if h["role"] == "benign" and
              ip.startswith("10.1.10.")]
    bursts = [(ip, b) for ip in benign for beh in gt["hosts"][ip]["behaviours"]
              if beh["kind"] == "browsing_burst" for b in beh["bursts"]]
    assert bursts
    ips = {s.name: s.ip for s in SITES}
    for ip, burst in bursts:
        assert 8 <= burst["connections"] <= 25 and burst["span_s"] <= 90
        t0 = parse_time(burst["start"])
        dst = PROXY_IP if any(b.get("via_proxy") for b in gt["hosts"][ip]["behaviours"]) \
            else ips[burst["name"]]
        inside = [t for t in _syns(frames, ip, dst) if t0 <= t <= t0 + 92]
        assert len(inside) >= burst["connections"]
    users = [ip for ip in benign if any(b["kind"] == "dashboard"
                                        for b in gt["hosts"][ip]["behaviours"])]
    assert len(users) >= 0.5 * len(benign)
    for ip in users:
        syns = _syns(frames, ip, DASHBOARD[1], 443)
        polls = [b - a for a, b in itertools.pairwise(syns) if b - a < 60]
        assert len(syns) >= 36 and min(polls) > 4.6 and max(polls) < 5.4


def test_proxied_pc_browses_only_through_the_proxy(sim: tuple[Path, dict, list]) -> None:
    _, gt, frames = sim
    proxy = gt["hosts"][PROXY_IP]
    assert proxy["role"] == "benign" and proxy["expected_detections"] == []
    (client,) = proxy["behaviours"][0]["clients"]
    web = {s.ip for s in SITES} | set(CDNS.values())
    direct = {ip_pair(f)[1] for _, f in frames if ip_pair(f)[0] == client}
    assert PROXY_IP in direct and not direct & web
    upstream = {ip_pair(f)[1] for _, f in frames if ip_pair(f)[0] == PROXY_IP}
    assert len(upstream & web) > 3


@pytest.mark.suricata
def test_suricata_sees_the_shapes(sim: tuple[Path, dict, list], tmp_path: Path,
                                  require_suricata: str) -> None:
    out, gt, _ = sim
    events = run_suricata(out / "office.pcap", tmp_path)
    (client,) = gt["hosts"][PROXY_IP]["behaviours"][0]["clients"]
    tunnels = [e for e in events if e["event_type"] == "flow" and e["src_ip"] == client
               and e["dest_port"] == PROXY_PORT]
    apps = defaultdict(int)
    for e in tunnels:
        apps[(e.get("app_proto"), e.get("app_proto_orig"))] += 1
    assert apps[("tls", "http")] > 0 and apps[("http", None)] > 0  # CONNECT → TLS; plain GETs
    connects = [e["http"] for e in events if e["event_type"] == "http"
                and e["src_ip"] == client and e["http"].get("http_method") == "CONNECT"]
    assert connects and all(c["url"].endswith(":443") and c["status"] == 200 for c in connects)
    raw = [e for e in events if e["event_type"] == "flow" and e["src_ip"] == "10.1.20.20"
           and e["dest_ip"] == RAW_ON_443[1]]
    assert raw and all(e["dest_port"] == 443 and e.get("app_proto") in ("failed", None)
                       and e["flow"]["bytes_toserver"] > 200 for e in raw)
    rat = [e for e in events if e["event_type"] == "tls" and e["src_ip"] == "10.1.20.19"]
    assert len(rat) == _behaviour(gt, "10.1.20.19", "beacon")["connections"]
    assert {e["tls"]["sni"] for e in rat} == {RAT_LOOP[0]}
