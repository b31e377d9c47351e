"""Tests of sakimori_demo.officesim: determinism, pcap sanity, ground truth, and real Suricata."""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from engines import require_binary, require_module
from officesim_pcap import ip_pair, read_pcap, run_suricata, tcp_fields

from sakimori_demo.officesim import SimParams, generate
from sakimori_demo.officesim.__main__ import main as cli_main
from sakimori_demo.officesim.params import parse_time

SMALL = SimParams(hours=3.0, benign_hosts=4)
OUTPUTS = ("office.pcap", "baseline.pcap", "squid-access.log", "tor-relays.txt",
           "ground_truth.json")
INFECTED = [f"10.1.20.{i}" for i in range(11, 21)]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("officesim_small")
    return out, generate(out, SMALL)


# --- determinism ------------------------------------------------------------------------------

def test_same_params_give_identical_files(small: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = small
    generate(tmp_path, SMALL)
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_different_seed_gives_different_pcaps(small: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = small
    generate(tmp_path, SimParams(hours=3.0, benign_hosts=4, seed=7))
    assert (tmp_path / "office.pcap").read_bytes() != (out / "office.pcap").read_bytes()
    assert (tmp_path / "baseline.pcap").read_bytes() != (out / "baseline.pcap").read_bytes()


def test_params_are_validated() -> None:
    with pytest.raises(ValueError):
        SimParams(hours=0)
    with pytest.raises(ValueError):
        SimParams(benign_hosts=500)
    with pytest.raises(ValueError):
        SimParams(start="yesterday")


# --- pcap sanity ------------------------------------------------------------------------------

def test_pcaps_are_ethernet_time_ordered_and_in_window(small: tuple[Path, dict]) -> None:
    out, gt = small
    windows = {"office.pcap": (gt["start"], gt["end"]),
               "baseline.pcap": (gt["baseline"]["start"], gt["baseline"]["end"])}
    for name, (start, end) in windows.items():
        linktype, frames = read_pcap(out / name)
        assert linktype == 1
        stamps = [ts for ts, _ in frames]
        assert stamps == sorted(stamps)
        assert parse_time(start) * 1e6 <= stamps[0] and stamps[-1] < parse_time(end) * 1e6
        assert len(frames) == gt["counts"][name]["packets"]


def test_checksums_valid_per_scapy(small: tuple[Path, dict]) -> None:
    scapy_all = require_module("scapy.all")
    out, _ = small
    _, frames = read_pcap(out / "office.pcap")
    for _, frame in frames[:: max(1, len(frames) // 400)]:
        pkt = scapy_all.Ether(frame)
        ip = pkt[scapy_all.IP]
        l4 = ip.payload
        fresh = ip.copy()
        del fresh.chksum
        del fresh.payload.chksum
        rebuilt = scapy_all.IP(bytes(fresh))
        assert rebuilt.chksum == ip.chksum
        assert rebuilt.payload.chksum == l4.chksum, pkt.summary()


def test_tcp_sequence_numbers_are_consistent(small: tuple[Path, dict]) -> None:
    out, _ = small
    _, frames = read_pcap(out / "office.pcap")
    nxt: dict[tuple, int] = {}
    checked = 0
    for _, frame in frames:
        fields = tcp_fields(frame)
        if fields is None:
            continue
        key, seq, ack, flags, plen = fields
        rev = (key[2], key[3], key[0], key[1])
        if flags & 0x02:  # SYN (retransmissions repeat the ISN)
            assert nxt.get(key, seq + 1) == seq + 1
            nxt[key] = (seq + 1) & 0xFFFFFFFF
            continue
        if key in nxt:
            assert seq == nxt[key], key
            checked += 1
        if flags & 0x10 and rev in nxt:
            assert ack == nxt[rev], key
        nxt[key] = (seq + plen + (1 if flags & 0x01 else 0)) & 0xFFFFFFFF
    assert checked > 1000


def test_baseline_is_the_clean_day_before(small: tuple[Path, dict]) -> None:
    out, gt = small
    assert parse_time(gt["start"]) - parse_time(gt["baseline"]["start"]) == 86400
    _, frames = read_pcap(out / "baseline.pcap")
    hosts = {ip for _, f in frames for ip in ip_pair(f) if ip.startswith("10.1.")}
    assert not hosts & set(INFECTED)
    assert {f"10.1.10.{11 + i}" for i in range(4)} <= hosts


def test_no_infected_hosts_when_disabled(tmp_path: Path) -> None:
    gt = generate(tmp_path, SimParams(hours=1.0, benign_hosts=2, infected=False))
    _, frames = read_pcap(tmp_path / "office.pcap")
    assert not any(ip.startswith("10.1.20.") for _, f in frames for ip in ip_pair(f))
    assert all(h["role"] == "benign" for h in gt["hosts"].values())


# --- ground truth and side files --------------------------------------------------------------

def test_ground_truth_matches_params(small: tuple[Path, dict]) -> None:
    out, gt = small
    assert json.loads((out / "ground_truth.json").read_text()) == gt
    assert gt["schema_version"] == 1 and gt["params"]["hours"] == 3.0
    assert gt["start"] == "2026-11-02T00:00:00.000Z" and gt["end"] == "2026-11-02T03:00:00.000Z"
    assert gt["home_net"] == ["10.1.0.0/16"]
    assert gt["whitelist"] == ["*.windowsupdate.com", "ntp.nict.jp", "203.0.113.0/24"]
    roles = Counter(h["role"] for h in gt["hosts"].values())
    assert roles == {"benign": 4, "infected": 10}  # no proxied PC among 4: no proxy host
    expected = {"10.1.20.11": "beacon", "10.1.20.12": "beacon", "10.1.20.13": "beacon",
                "10.1.20.14": "long_url", "10.1.20.15": "non_http_on_http_port",
                "10.1.20.16": "long_session", "10.1.20.17": "fw_blocked",
                "10.1.20.18": "anonymizer", "10.1.20.19": "beacon",
                "10.1.20.20": "non_http_on_http_port"}
    for ip, det in expected.items():
        assert gt["hosts"][ip]["expected_detections"] == [det]
        assert gt["hosts"][ip]["behaviours"][0]["kind"] == det
    for ip in (f"10.1.10.{11 + i}" for i in range(4)):
        kinds = {b["kind"] for b in gt["hosts"][ip]["behaviours"]}
        assert {"browsing", "heartbeat", "ntp", "update_check"} <= kinds


def test_infected_behaviour_shapes(small: tuple[Path, dict]) -> None:
    out, gt = small
    beh = {ip: gt["hosts"][ip]["behaviours"][0] for ip in INFECTED}
    assert beh["10.1.20.11"]["name"] == "cdn-update-check.net"
    assert beh["10.1.20.11"]["connections"] > 150  # 3 h at 48–60 s
    assert beh["10.1.20.17"]["attempts"] >= 30
    assert beh["10.1.20.17"]["unanswered_syn"] and beh["10.1.20.17"]["refused"]
    assert 600 <= beh["10.1.20.14"]["url_length_min"] <= beh["10.1.20.14"]["url_length_max"] <= 1800
    end = parse_time(gt["end"])
    assert beh["10.1.20.16"]["open_at_end"]
    assert end - parse_time(beh["10.1.20.16"]["last_packet"]) <= 300
    _, frames = read_pcap(out / "office.pcap")
    syns = [ts / 1e6 for ts, f in frames if (x := tcp_fields(f)) and x[0][0] == "10.1.20.11"
            and x[0][3] == 80 and x[3] == 0x02 and ip_pair(f)[1] == beh["10.1.20.11"]["dest_ip"]]
    gaps = [b - a for a, b in itertools.pairwise(syns)]
    assert gaps and min(gaps) > 47.9 and max(gaps) < 60.5
    long_flags = [x[3] for _, f in frames if (x := tcp_fields(f)) and x[0][3] == 8443]
    assert not any(fl & 0x05 for fl in long_flags)  # no FIN/RST: still open


def test_side_files(small: tuple[Path, dict]) -> None:
    out, gt = small
    relays = [ln for ln in (out / "tor-relays.txt").read_text().splitlines()
              if ln and not ln.startswith("#")]
    assert gt["tor_relay_ip"] in relays and 45 <= len(relays) <= 60
    assert all(ipaddress.ip_address(r).is_global for r in relays)
    lines = (out / "squid-access.log").read_text().splitlines()
    assert lines and len(lines) == gt["counts"]["baseline.pcap"]["proxy_log_lines"]
    times = []
    for line in lines:
        f = line.split()
        assert len(f) == 10, line
        times.append(float(f[0]))
        assert f[2].startswith("10.1.10.") and re.fullmatch(r"[A-Z_]+/\d{3}", f[3])
        if f[5] == "CONNECT":
            assert re.fullmatch(r"[a-z0-9.-]+:443", f[6])
        else:
            assert f[6].startswith("http://")
    assert times == sorted(times)
    assert any("presence.teamchat-saas.com:443" in ln for ln in lines)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--out", str(tmp_path), "--hours", "0.5", "--benign-hosts", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["office.pcap"]["packets"] > 0
    assert cli_main(["--out", str(tmp_path), "--hours", "-1"]) == 2


# --- real Suricata ----------------------------------------------------------------------------


needs_suricata = pytest.mark.engine("suricata")


@pytest.fixture(scope="module")
def eve(small: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    require_binary("suricata")
    out, _ = small
    return run_suricata(out / "office.pcap", tmp_path_factory.mktemp("suricata"))


def by_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event_type"] == kind]


@pytest.mark.suricata
@needs_suricata
def test_suricata_sees_http(eve: list[dict], small: tuple[Path, dict]) -> None:
    _, gt = small
    http = by_type(eve, "http")
    hosts = Counter(e["http"].get("hostname") for e in http)
    assert hosts["cdn-update-check.net"] == gt["hosts"]["10.1.20.11"]["behaviours"][0][
        "connections"]
    assert hosts["fe2.update.windowsupdate.com"] > 0
    long_urls = [e["http"]["url"] for e in http if e["http"].get("hostname") ==
                 "img-cache-service.com"]
    assert len(long_urls) == gt["hosts"]["10.1.20.14"]["behaviours"][0]["requests"]
    for url in long_urls:
        assert 600 <= len(url) <= 1800
        blob = url.split("q=", 1)[1].split("&", 1)[0]
        base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    benign = [len(e["http"]["url"]) for e in http if e["src_ip"].startswith("10.1.10.")]
    assert benign and max(benign) <= 320


@pytest.mark.suricata
@needs_suricata
def test_suricata_sees_tls(eve: list[dict], small: tuple[Path, dict]) -> None:
    _, gt = small
    tls = by_type(eve, "tls")
    snis = Counter(e["tls"].get("sni") for e in tls)
    assert snis["presence.teamchat-saas.com"] > 0
    assert len([s for s in snis if s and s.endswith((".com", ".jp", ".net"))]) > 5
    tor = gt["hosts"]["10.1.20.18"]["behaviours"][0]
    tor_events = [e["tls"] for e in tls if e["dest_ip"] == gt["tor_relay_ip"]]
    assert tor_events and len(tor_events) == len(tor["sessions"])
    for t in tor_events:
        assert re.fullmatch(r"www\.[a-z2-7]{8,20}\.com", t["sni"])
        assert t["subject"] == tor["cert_subject"] and t["issuerdn"] == tor["cert_issuer"]
    assert any(e["tls"].get("sni") == "telemetry-sync.org" for e in tls)


@pytest.mark.suricata
@needs_suricata
def test_suricata_flows(eve: list[dict], small: tuple[Path, dict]) -> None:
    _, gt = small
    flows = by_type(eve, "flow")
    assert abs(len(flows) - gt["counts"]["office.pcap"]["flows"]) <= 5
    p80 = gt["hosts"]["10.1.20.15"]["behaviours"][0]
    apps = defaultdict(set)
    for e in flows:
        if e["src_ip"] == "10.1.20.15" and e["dest_port"] == 80:
            apps[e["dest_ip"]].add(e.get("app_proto"))
    assert apps[p80["tls"]["dest_ip"]] == {"tls"}
    assert apps[p80["raw"]["dest_ip"]] <= {"failed", None} and apps[p80["raw"]["dest_ip"]]
    blocked = [e for e in flows if e["src_ip"] == "10.1.20.17" and e["dest_port"] in
               (443, 8080, 4444)]
    unanswered = [e for e in blocked if e["flow"]["state"] == "new"
                  and e["flow"]["pkts_toclient"] == 0]
    refused = [e for e in blocked if e["tcp"].get("rst") and e["flow"]["pkts_toclient"] == 1]
    beh = gt["hosts"]["10.1.20.17"]["behaviours"][0]
    assert len(unanswered) == beh["unanswered_syn"] and len(refused) == beh["refused"]
    long = [e for e in flows if e["src_ip"] == "10.1.20.16" and e["dest_port"] == 8443]
    assert len(long) == 1 and long[0]["flow"]["state"] == "established"
    assert long[0]["app_proto"] == "tls" and long[0]["flow"]["age"] > 3600
    bad = [e for e in flows if e["proto"] == "TCP" and e["src_ip"].startswith("10.1.10.")
           and e["flow"]["state"] not in ("closed", "new")]
    assert not bad


# --- default size -----------------------------------------------------------------------------

@pytest.mark.slow
def test_default_size_shape(tmp_path: Path) -> None:
    """The demo's default capture: its size and span (its generation time: bench/run.py, 6)."""
    gt = generate(tmp_path, SimParams())
    office = gt["counts"]["office.pcap"]
    assert 100_000 < office["packets"] <= 250_000
    assert parse_time(gt["end"]) - parse_time(gt["start"]) == 26 * 3600
    assert len(gt["hosts"]) == 41  # 30 benign PCs, the proxy, 10 infected
    require_binary("suricata")
    events = run_suricata(tmp_path / "office.pcap", tmp_path)
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["flow"] > 20_000 and kinds["http"] > 3000 and kinds["tls"] > 9000
