"""Generated rules against real Suricata 7: every rule fires on its positive case and stays
quiet on its negative cases, whitelist entries (CIDR, exact host, ``*.`` suffix) are honoured,
and the once-per-flow rules alert exactly once on many-packet flows.

One crafted pcap (tests/pcapcraft.py) holds all scenarios; each scenario uses its own client
port, so alerts are attributed by (sid, internal-side port). Suricata runs once per module.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from engines import require_binary
from pcapcraft import (
    T0,
    client_hello,
    http_get,
    http_request,
    http_response,
    syn_only,
    tcp_session,
    tls_session,
    write_pcap,
)

from generator import rule_ledger
from generator.render_suricata import write_suricata
from sakimori.config import load_config
from sakimori.suricata import read_pcaps

pytestmark = pytest.mark.suricata

BASE = 9300000
C, C6 = "10.1.10.5", "2001:db8:1::5"
EXT = "198.51.100.7"
LONG = "/" + "a" * 299  # 300 characters
TOR_SNI, TOR_SUBJ, TOR_ISSUER = "www.abcdefgh2345.com", "www.qwertyuiop.net", "www.zxcvbnmasd.com"

CONFIG = """\
networks:
  home: [10.1.0.0/16, "2001:db8:1::/48"]
whitelist:
  destinations: ["*.windowsupdate.com", "ntp.nict.jp", 203.0.113.0/24]
traffic:
  long_session_seconds: 300
anonymizer:
  tor_relays: [relays.txt]
"""
RELAYS = "# relays\n192.0.2.77\n192.0.2.78:9001\n203.0.113.50\n[2001:db8:ff::77]:443\n"
# A learned URL threshold: the long_url rules must say sakimori_source learned.
BASELINES = {"schema_version": 1, "generated_at": "2026-11-20T00:00:00Z",
             "provenance": {}, "mail": {},
             "traffic": {"url_length": {"threshold": 200, "method": "test", "n": 1000}}}


def _scenarios() -> list:
    t = T0
    p = []
    # long_url
    p += http_get(C, EXT, "www.example.com", LONG, sport=40001, t0=t)
    p += http_get(C, EXT, "www.example.com", "/short", sport=40002, t0=t)
    p += http_get(C, EXT, "download.windowsupdate.com", LONG, sport=40003, t0=t)
    p += http_get(C, EXT, "evil-windowsupdate.com", LONG, sport=40004, t0=t)
    p += http_get(C, EXT, None, LONG, sport=40005, t0=t)
    p += http_get(C, "203.0.113.9", "www.example.com", LONG, sport=40006, t0=t)
    p += http_get(C, EXT, "NTP.nict.jp:80", LONG, sport=40007, t0=t)
    p += http_get(C, EXT, "windowsupdate.com", LONG, sport=40008, t0=t)
    p += http_get(C, "10.1.10.9", "intranet.example.com", LONG, sport=40009, t0=t)
    # non_http_on_http_port
    p += tls_session(C, "198.51.100.8", "www.example.com", sport=41001, dport=80, t0=t)
    p += tls_session(C, "198.51.100.8", None, sport=41002, dport=8080, t0=t, app_data=10)
    p += tls_session(C, "198.51.100.8", "x.windowsupdate.com", sport=41003, dport=80, t0=t)
    p += tls_session(C, "198.51.100.8", "www.example.com", sport=41004, dport=443, t0=t)
    junk = [("c", bytes(range(256)) * 3), ("s", b"\x00\x01" * 100)] * 10
    p += tcp_session(C, "198.51.100.9", 41005, 80, junk, t0=t)
    ssh = [("s", b"SSH-2.0-OpenSSH_8.9\r\n"), ("c", b"SSH-2.0-OpenSSH_8.9p1\r\n")]
    p += tcp_session(C, "198.51.100.10", 41006, 80, ssh + [("c", b"\0" * 300)] * 8, t0=t)
    p += http_get(C, EXT, "www.example.com", "/", sport=41007, t0=t, requests=5)
    p += tls_session(C, "203.0.113.10", None, sport=41008, dport=80, t0=t)
    # long_session (threshold 300 s from config)
    chat = [("c", b"ping"), ("s", b"pong")] * 20
    p += tcp_session(C, "198.51.100.20", 42001, 5222, chat, t0=t, gap=10)
    push = [("c", client_hello("push.windowsupdate.com")), *chat]
    p += tcp_session(C, "198.51.100.21", 42002, 443, push, t0=t, gap=10)
    p += tcp_session(C, "198.51.100.22", 42003, 5222, chat[:6], t0=t, gap=10)
    p += tcp_session(C, "203.0.113.20", 42004, 5222, chat, t0=t, gap=10)
    # anonymizer
    p += tcp_session(C, "192.0.2.77", 43001, 9001, [("c", b"x"), ("s", b"y")] * 5, t0=t)
    p += tcp_session(C, "192.0.2.99", 43002, 9001, [("c", b"x"), ("s", b"y")] * 5, t0=t)
    p += tcp_session(C6, "2001:db8:ff::77", 43003, 443, [("c", b"x"), ("s", b"y")] * 5, t0=t)
    p += tls_session(C, "198.51.100.40", TOR_SNI, TOR_SUBJ, TOR_ISSUER, sport=43004, t0=t)
    p += tls_session(C, "198.51.100.41", TOR_SNI, "www.example.com", "R3", sport=43005, t0=t)
    p += tls_session(C, "198.51.100.42", "www.google.com", TOR_SUBJ, TOR_ISSUER, sport=43006,
                     t0=t)
    p += tcp_session(C, "203.0.113.50", 43007, 9001, [("c", b"x"), ("s", b"y")] * 5, t0=t)
    p += syn_only(C, "192.0.2.78", 43008, 9001, t0=t)
    return p


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Counter:
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("rules")
    (tmp / "relays.txt").write_text(RELAYS)
    (tmp / "sakimori.yaml").write_text(CONFIG)
    cfg = load_config(tmp / "sakimori.yaml")
    files = write_suricata(cfg, BASELINES, tmp / "build")
    pcap = write_pcap(tmp / "all.pcap", _scenarios())
    eve = read_pcaps(cfg, [pcap], tmp / "run", files)
    counts: Counter = Counter()
    metadata: dict[int, dict] = {}
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] != "alert":
            continue
        internal = cfg.is_home(ev["src_ip"])
        port = ev["src_port"] if internal else ev["dest_port"]
        counts[(ev["alert"]["signature_id"] - BASE, port)] += 1
        metadata[ev["alert"]["signature_id"] - BASE] = ev["alert"].get("metadata", {})
    counts.metadata = metadata  # type: ignore[attr-defined]
    return counts


def _fired(alerts: Counter, port: int) -> set[int]:
    return {sid for (sid, p) in alerts if p == port}


@pytest.mark.parametrize(("port", "expected"), [
    (40001, {1100}),          # long URL, ordinary host
    (40002, set()),           # short URL
    (40003, set()),           # *.windowsupdate.com whitelisted
    (40004, {1100}),          # evil-windowsupdate.com is NOT under *.windowsupdate.com
    (40005, {1101, 0}),       # no Host header: generated 1101 + static 9300000
    (40006, set()),           # destination in whitelisted 203.0.113.0/24
    (40007, set()),           # exact ntp.nict.jp (case and port ignored by http.host)
    (40008, {1100}),          # apex windowsupdate.com not covered by "*."
    (40009, set()),           # internal destination
])
def test_long_url(alerts: Counter, port: int, expected: set[int]) -> None:
    assert _fired(alerts, port) == expected


@pytest.mark.parametrize(("port", "expected"), [
    (41001, {1200}),          # TLS on port 80
    (41002, {1200}),          # TLS without SNI on 8080, many records: still one alert
    (41003, set()),           # SNI under *.windowsupdate.com
    (41004, set()),           # TLS on 443 is normal
    (41005, {1201}),          # protocol detection failed on port 80
    (41006, {1202}),          # SSH on port 80
    (41007, set()),           # plain HTTP, five requests
    (41008, set()),           # whitelisted network
])
def test_non_http_on_http_port(alerts: Counter, port: int, expected: set[int]) -> None:
    assert _fired(alerts, port) == expected
    for sid in expected:
        assert alerts[(sid, port)] == 1, "one alert per flow"


@pytest.mark.parametrize(("port", "expected"), [
    (42001, {1300}),          # 400 s session > 300 s
    (42002, set()),           # long, but SNI whitelisted
    (42003, set()),           # 60 s session
    (42004, set()),           # whitelisted network
])
def test_long_session(alerts: Counter, port: int, expected: set[int]) -> None:
    assert _fired(alerts, port) == expected
    for sid in expected:
        assert alerts[(sid, port)] == 1, "one alert per flow"


@pytest.mark.parametrize(("port", "expected"), [
    (43001, {1400}),          # listed relay (IPv4 dataset)
    (43002, set()),           # not a relay
    (43003, {1401}),          # listed relay (IPv6 dataset)
    (43004, {1411}),          # Tor SNI + certificate pattern
    (43005, set()),           # Tor-like SNI, ordinary issuer
    (43006, set()),           # Tor-like certificate, ordinary SNI
    (43007, set()),           # relay inside the whitelisted network
    (43008, {1400}),          # unanswered SYNs to a relay still count, once
])
def test_anonymizer(alerts: Counter, port: int, expected: set[int]) -> None:
    assert _fired(alerts, port) == expected
    for sid in expected:
        assert alerts[(sid, port)] == 1, "one alert per flow"


def test_alert_metadata_carries_detection_threshold_and_source(alerts: Counter) -> None:
    meta = alerts.metadata  # type: ignore[attr-defined]
    assert meta[1100]["sakimori_detection"] == ["long_url"]
    assert meta[1100]["sakimori_threshold"] == ["200"]
    assert meta[1100]["sakimori_source"] == ["learned"]
    assert meta[1100]["created_at"] == [rule_ledger.load()["1100"]["created_at"]]
    assert meta[1100]["mitre_technique_id"] == ["T1041"]
    assert meta[1400]["mitre_technique_id"] == ["T1090.003"]
    assert meta[1300]["sakimori_source"] == ["config"]
    assert meta[1300]["sakimori_threshold"] == ["300"]
    assert meta[1200]["sakimori_detection"] == ["non_http_on_http_port"]
    assert meta[1400]["sakimori_detection"] == ["anonymizer"]
    assert meta[0]["sakimori_source"] == ["static"]


def test_no_helper_rule_ever_alerts(alerts: Counter) -> None:
    helpers = {1410, *range(2000, 4000)}  # Tor SNI helper, whitelist helpers
    assert not {sid for sid, _ in alerts} & helpers


def test_pcap_scenarios_are_reproducible(tmp_path: Path) -> None:
    a = write_pcap(tmp_path / "a.pcap", _scenarios()).read_bytes()
    b = write_pcap(tmp_path / "b.pcap", _scenarios()).read_bytes()
    assert a == b
    assert http_request(None).startswith(b"GET / HTTP/1.1\r\n")
    assert http_response(404).startswith(b"HTTP/1.1 404")
