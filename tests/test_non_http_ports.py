"""``non_http_on_http_port`` against real Suricata 7: the port → expected-protocol table.

One crafted pcap (tests/pcapcraft.py); one client host per scenario. Suricata runs twice: with
the generated rules (the rule path, alerts attributed by internal host) and without any rule
(EVE flow records only: the consumer's flow path alone). The consumer then runs on both.

Table of the test config: defaults (80, 8080, 3128, 8000 HTTP; 443, 8443 TLS or HTTP) plus
9443 TLS only. Real captures of ../shared/data/ are run through the whole chain as well.
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from engines import require_binary, require_path
from pcapcraft import (
    T0,
    client_hello,
    http_get,
    http_request,
    http_response,
    make_certificate,
    server_flight,
    syn_only,
    tcp_session,
    tls_session,
    write_pcap,
)
from realdata import shared_data_dir

from eve_consumer.handlers.non_http import unexpected_protocol
from eve_consumer.pipeline import Consumer
from generator.render_suricata import render_rules, write_suricata
from sakimori.config import Config, load_config
from sakimori.errors import ConfigError
from sakimori.suricata import read_pcaps, render_offline_yaml

BASE = 9300000
NON_HTTP_SIDS = {1200, 1201, 1202, 1203, 1204}
EXT, PROXY_EXT = "198.51.100.60", "198.51.100.61"
PROXY_INT, SERVER_INT = "10.1.0.3", "10.1.0.4"
DATA = shared_data_dir()  # <repo>/../shared/data or $SAKIMORI_SHARED_DATA
CONFIG = """\
networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: [ntp.nict.jp]
traffic:
  port_protocols: {443: [tls, http], 8443: [tls, http], 9443: [tls]}
"""


def _app_record(size: int) -> bytes:
    return struct.pack(">BHH", 0x17, 0x0303, size) + bytes((i * 53 + 7) % 256
                                                            for i in range(size))


def tls_exchange(sni: str, padding: int = 0) -> list[tuple[str, bytes]]:
    """ClientHello, the server's flight, then opaque application data both ways."""
    return [("c", client_hello(sni, padding)),
            ("s", server_flight(make_certificate(sni, "Test CA"))),
            ("c", _app_record(80)), ("s", _app_record(300))] * 1


RAW = [("c", b"\xde\xad\xbe\xef" + bytes(range(200))), ("s", bytes(range(255, 0, -1)) * 2)] * 5
CONNECT = [("c", b"CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n"
                 b"User-Agent: Mozilla/5.0\r\n\r\n"),
           ("s", b"HTTP/1.1 200 Connection established\r\n\r\n")]
WEBSOCKET = [("c", b"GET /chat HTTP/1.1\r\nHost: www.example.com\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n"),
             ("s", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                   b"\r\n")] + [("c", b"\x82\x85\x01\x02\x03\x04" + bytes(5)),
                                ("s", b"\x82\x05hello")] * 5
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2C = [("c", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SETTINGS), ("s", SETTINGS),
       ("c", b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")]
H2C_UPGRADE = [("c", b"GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: Upgrade, "
                     b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"
                     b"\r\n\r\n"),
               ("s", b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     b"Upgrade: h2c\r\n\r\n" + SETTINGS),
               ("c", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SETTINGS)]
SSH = [("s", b"SSH-2.0-OpenSSH_8.9\r\n"), ("c", b"SSH-2.0-OpenSSH_8.9p1\r\n"),
       ("c", b"\0" * 300)]

# host -> (what it does, non_http rule SIDs expected, reported by the consumer)
SCENARIOS: dict[str, tuple[str, set[int], bool]] = {
    "10.1.30.1": ("raw binary both ways on 443", {1201}, True),
    "10.1.30.2": ("raw binary on 443, server speaks first", {1201}, True),
    "10.1.30.3": ("TLS on 80", {1200}, True),
    "10.1.30.4": ("HTTP on 8080 and on 443", set(), False),
    "10.1.30.5": ("CONNECT via the internal proxy on 8080, TLS inside", set(), False),
    "10.1.30.6": ("CONNECT via an external proxy on 8080, TLS inside", set(), False),
    "10.1.30.7": ("CONNECT via an external proxy on 3128, raw binary inside", set(), False),
    "10.1.30.8": ("websocket upgrade on 80 (HTTP 101, then frames)", set(), False),
    "10.1.30.9": ("HTTP/2 cleartext, prior knowledge and h2c upgrade, on 80", set(), False),
    "10.1.30.10": ("SYN only and handshakes without payload on 80, 443, 8080", set(), False),
    "10.1.30.11": ("TLS on 443 and 8443; a ClientHello over two segments", set(), False),
    "10.1.30.12": ("SSH on 443", {1202}, True),
    "10.1.30.13": ("HTTP on 9443 (TLS only)", {1204}, True),
    "10.1.30.14": ("raw binary and TLS to an internal server on 443 and 80", set(), False),
    "10.1.30.15": ("raw binary on 5222 (not in the table)", set(), False),
    # The rule sees the to-server side only; the consumer reads the alert's whole record.
    "10.1.30.16": ("CONNECT via an external proxy, SSH inside", {1202}, False),
    "10.1.30.17": ("TLS on 443 whose ClientHello was lost (capture loss)", {1201}, False),
    "10.1.30.18": ("HTTP requests split over 3 segments on 80 and 443", set(), False),
    # 1201/1202 are flow:to_server: the internal side's replies are not a client's payload
    # (without it, Suricata 7.0.10 raised 1201 here: the rule sat in the to-client groups too)
    "10.1.30.19": ("an external host connects from port 443 to an internal port, raw binary",
                   set(), False),
}


def _scenarios() -> list:
    t, h = T0, "10.1.30."
    p = []
    p += tcp_session(h + "1", EXT, 44001, 443, RAW, t0=t)
    p += tcp_session(h + "2", EXT, 44002, 443, [("s", b"\x00\x10banner" * 5),
                                                ("c", b"\x01\x02" * 50)] * 3, t0=t)
    p += tls_session(h + "3", EXT, "www.example.com", sport=44003, dport=80, t0=t)
    p += http_get(h + "4", EXT, "www.example.com", "/", sport=44004, dport=8080, t0=t)
    p += http_get(h + "4", EXT, "www.example.com", "/", sport=44014, dport=443, t0=t)
    p += tcp_session(h + "5", PROXY_INT, 44005, 8080, CONNECT + tls_exchange("www.example.com"),
                     t0=t)
    p += tcp_session(h + "6", PROXY_EXT, 44006, 8080, CONNECT + tls_exchange("www.example.com"),
                     t0=t)
    p += tcp_session(h + "7", PROXY_EXT, 44007, 3128, CONNECT + RAW, t0=t)
    p += tcp_session(h + "8", EXT, 44008, 80, WEBSOCKET, t0=t)
    p += tcp_session(h + "9", EXT, 44009, 80, H2C, t0=t)
    p += tcp_session(h + "9", EXT, 44019, 80, H2C_UPGRADE, t0=t)
    for i, port in enumerate((80, 443, 8080)):
        p += syn_only(h + "10", EXT, 44100 + i, port, t0=t)
        p += tcp_session(h + "10", EXT, 44110 + i, port, [], t0=t)
    p += tls_session(h + "11", EXT, "www.example.com", sport=44011, dport=443, t0=t)
    p += tls_session(h + "11", EXT, "www.example.com", sport=44021, dport=8443, t0=t)
    p += tcp_session(h + "11", EXT, 44031, 443, tls_exchange("www.example.com", 1800), t0=t)
    p += tcp_session(h + "12", EXT, 44012, 443, SSH, t0=t)
    p += http_get(h + "13", EXT, "www.example.com", "/", sport=44013, dport=9443, t0=t)
    p += tcp_session(h + "14", SERVER_INT, 44014, 443, RAW, t0=t)
    p += tls_session(h + "14", SERVER_INT, "intranet.example.com", sport=44024, dport=80, t0=t)
    p += tcp_session(h + "15", EXT, 44015, 5222, RAW, t0=t)
    p += tcp_session(h + "16", PROXY_EXT, 44016, 8080, CONNECT + SSH, t0=t)
    lost = tcp_session(h + "17", EXT, 44017, 443, tls_exchange("www.example.com") * 3, t0=t)
    p += lost[:3] + lost[4:]  # SYN, SYN/ACK, ACK, (ClientHello lost), ...
    req = http_request("www.example.com", "/index.html")
    split = [("c", req[:3]), ("c", req[3:20]), ("c", req[20:]), ("s", http_response())]
    p += tcp_session(h + "18", EXT, 44018, 80, split, t0=t)
    p += tcp_session(h + "18", EXT, 44028, 443, split, t0=t)
    p += tcp_session(EXT, h + "19", 443, 5000, RAW, t0=t)
    return p


def _consume(cfg: Config, eve: Path, out: Path) -> list[dict]:
    with Consumer(cfg, None, out, out / "state", mail=False) as consumer:
        consumer.run_once(eve)
    return [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]


def _counter(out: Path, name: str) -> int:
    return json.loads((out / "stats.json").read_text())["counters"].get(name, 0)


def _non_http(findings: list[dict]) -> dict[str, dict]:
    return {f["host"]: f for f in findings if f["detection"] == "non_http_on_http_port"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("nonhttp")
    (tmp / "sakimori.yaml").write_text(CONFIG)
    cfg = load_config(tmp / "sakimori.yaml", env={})
    rules = write_suricata(cfg, None, tmp / "build", package=False)
    pcap = write_pcap(tmp / "ports.pcap", _scenarios())
    eve_rules = read_pcaps(cfg, [pcap], tmp / "with-rules", rules)
    eve_flows = read_pcaps(cfg, [pcap], tmp / "no-rules")
    alerts: dict[str, Counter] = {}
    for line in eve_rules.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            alerts.setdefault(ev["src_ip"], Counter())[ev["alert"]["signature_id"] - BASE] += 1
    return {"cfg": cfg, "alerts": alerts, "eve_flows": eve_flows,
            "rules_path": _non_http(_consume(cfg, eve_rules, tmp / "c-rules")),
            "alert_expected": _counter(tmp / "c-rules", "non_http_alert_expected"),
            "flow_path": _non_http(_consume(cfg, eve_flows, tmp / "c-flows"))}


@pytest.mark.suricata
@pytest.mark.parametrize("host", sorted(SCENARIOS))
def test_rule_path(run: dict, host: str) -> None:
    what, sids, _ = SCENARIOS[host]
    fired = run["alerts"].get(host, Counter())
    assert set(fired) & NON_HTTP_SIDS == sids, what
    assert all(fired[sid] == 1 for sid in sids), "one alert per flow"


@pytest.mark.suricata
@pytest.mark.parametrize("host", sorted(SCENARIOS))
def test_consumer_flow_path_alone(run: dict, host: str) -> None:
    what, _, reported = SCENARIOS[host]
    assert (host in run["flow_path"]) is reported, what


@pytest.mark.suricata
def test_consumer_with_rules_reports_the_same_hosts_once_per_flow(run: dict) -> None:
    expected = {h for h, (_, _, rep) in SCENARIOS.items() if rep}
    assert set(run["rules_path"]) == expected
    for host in expected:
        finding = run["rules_path"][host]
        assert finding["evidence"]["flows"] == 1, finding  # rule alert + flow: one flow
        assert "rule" in finding["evidence"]
    assert run["flow_path"]["10.1.30.1"]["evidence"]["app_protos"] == {"failed": 1}
    assert run["flow_path"]["10.1.30.3"]["evidence"]["app_protos"] == {"tls": 1}
    assert run["flow_path"]["10.1.30.13"]["evidence"]["app_protos"] == {"http": 1}
    assert run["alert_expected"] == 2  # 10.1.30.16 and .17: alerts judged by their record


@pytest.mark.suricata
def test_what_eve_says_about_tunnels_and_upgrades(run: dict) -> None:
    """The EVE facts the handler relies on (Suricata 7.0.10): a CONNECT tunnel changes
    app_proto and keeps app_proto_orig http; h2c becomes http2; a websocket stays http."""
    flows = {}
    for line in run["eve_flows"].read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "flow":
            flows[ev["src_port"]] = {k: v for k, v in ev.items() if k.startswith("app_proto")}
    assert flows[44005] == {"app_proto": "tls", "app_proto_orig": "http"}
    assert flows[44007] == {"app_proto": "failed", "app_proto_orig": "http"}
    assert flows[44008] == {"app_proto": "http"}
    assert flows[44009] == {"app_proto": "http2"}
    assert flows[44019] == {"app_proto": "http2", "app_proto_orig": "http"}
    assert flows[44001] == {"app_proto": "failed"}
    assert flows[44031] == {"app_proto": "tls"}
    assert flows[44017] == {"app_proto": "failed", "app_proto_tc": "tls"}  # lost ClientHello
    assert flows[44016] == {"app_proto": "ssh", "app_proto_orig": "http"}
    assert flows[44110] == {}  # handshake without payload: no app_proto at all


def test_unexpected_protocol_judges_every_protocol_seen() -> None:
    http, both = ("http",), ("http", "tls")
    assert unexpected_protocol({"app_proto": "tls"}, http) == "tls"
    assert unexpected_protocol({"app_proto": "tls", "app_proto_orig": "http"}, http) is None
    assert unexpected_protocol({"app_proto": "http2"}, http) is None
    assert unexpected_protocol({"app_proto": "failed"}, both) == "failed"
    assert unexpected_protocol({"app_proto": "http", "app_proto_tc": "failed"}, both) is None
    assert unexpected_protocol({"app_proto": "failed", "app_proto_ts": "tls"}, both) is None
    assert unexpected_protocol({"app_proto": "http"}, ("tls",)) == "http"
    assert unexpected_protocol({}, http) is None


def test_port_table_config(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("traffic:\n  http_ports: [80, 7080]\n  port_protocols: {443: tls, 80: [tls,"
                    " HTTP]}\n")
    table = load_config(path, env={}).traffic.ports
    assert table.as_dict() == {80: ("http", "tls"), 443: ("tls",), 7080: ("http",)}
    assert load_config(None, env={}).traffic.ports.as_dict() == {
        80: ("http",), 443: ("http", "tls"), 3128: ("http",), 8000: ("http",),
        8080: ("http",), 8443: ("http", "tls")}
    for text, key in (("port_protocols: {443: [ssh]}", "traffic.port_protocols.443[0]"),
                      ("port_protocols: {70000: [tls]}", "traffic.port_protocols.70000"),
                      ("port_protocols: {443: []}", "traffic.port_protocols.443"),
                      ("port_protocols: [443]", "traffic.port_protocols")):
        path.write_text(f"traffic:\n  {text}\n")
        with pytest.raises(ConfigError) as err:
            load_config(path, env={})
        assert err.value.key == key, text


def test_rules_follow_the_table(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("traffic:\n  http_ports: [80]\n  port_protocols: {}\n")
    text = render_rules(load_config(path, env={}), None)
    assert "-> !$HOME_NET [80] (msg:\"SAKIMORI BACKDOOR TLS on an HTTP port\"" in text
    assert "sid:9301204;" not in text  # no TLS-only port: no HTTP-on-TLS-port rule
    path.write_text("traffic:\n  http_ports: [80]\n  port_protocols: {443: [tls]}\n")
    text = render_rules(load_config(path, env={}), None)
    assert "[443] (msg:\"SAKIMORI BACKDOOR HTTP on a TLS-only port\"" in text
    assert "[80,443] (msg:\"SAKIMORI BACKDOOR Unrecognised payload" in text


@pytest.mark.suricata
def test_rule_cost_shape(tmp_path: Path, require_suricata: str) -> None:
    """Suricata's engine analysis: 1201/1202 are protocol-detection-only rules prefiltered on
    app-layer-protocol (inspected once per flow, not per packet); the CONNECT helper and the
    HTTP-on-TLS-port rule are selected by their fast pattern."""
    (tmp_path / "s.yaml").write_text(CONFIG)
    cfg = load_config(tmp_path / "s.yaml", env={})
    rules = write_suricata(cfg, None, tmp_path / "build", package=False)
    conf = tmp_path / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, tmp_path, rules)
                    + "engine-analysis:\n  rules-fast-pattern: yes\n  rules: yes\n")
    subprocess.run([require_suricata, "-c", str(conf), "--engine-analysis", "-l",
                    str(tmp_path)], capture_output=True, check=True, timeout=300)
    shape = {}
    for line in (tmp_path / "rules.json").read_text().splitlines():
        r = json.loads(line)
        if 1200 <= r["id"] - BASE <= 1204:
            shape[r["id"] - BASE] = (r["type"], (r.get("prefilter") or {}).get("name"),
                                     (r.get("mpm") or {}).get("pattern"))
    assert shape[1201] == ("pd_only", "app-layer-protocol", None)
    assert shape[1202] == ("pd_only", "app-layer-protocol", None)
    assert shape[1203] == ("app_tx", None, "CONNECT")
    assert shape[1204] == ("app_tx", None, "HTTP|2F|")  # "HTTP/" as engine analysis writes it
    assert shape[1200][0] == "app_tx"  # once per ClientHello, not per packet


# --- real captures ------------------------------------------------------------------------

REAL = [  # capture, home network, hosts that must have non_http_on_http_port
    ("real/otrf_metasploit-lsass-campaign01.pcapng", "192.168.1.0/24", {"192.168.1.41"}),
    ("real/anyrun_quasarrat_09ffabf7.pcap", "192.168.100.0/24", set()),
    ("real/anyrun_dcrat_30a385ed.pcap", "192.168.100.0/24", set()),
    ("real/slips_test7-hide-and-seek.pcap", "192.168.2.0/24", set()),
    ("pcaps/ndpi-trickbot.pcap", "10.0.0.0/8", set()),
    ("pcaps/ndpi-malware.pcap", "192.168.0.0/16", set()),
]


@pytest.mark.suricata
@pytest.mark.parametrize(("capture", "home", "expected"), REAL,
                         ids=[Path(c).stem for c, _, _ in REAL])
def test_real_captures_non_http(tmp_path: Path, capture: str, home: str,
                                expected: set[str]) -> None:
    pcap = DATA / capture
    require_path(pcap)
    require_binary("suricata")
    (tmp_path / "s.yaml").write_text(f"networks:\n  home: [{home}]\n")
    cfg = load_config(tmp_path / "s.yaml", env={})
    rules = write_suricata(cfg, None, tmp_path / "build", package=False)
    eve = read_pcaps(cfg, [pcap], tmp_path / "run", rules)
    found = _non_http(_consume(cfg, eve, tmp_path / "out"))
    assert set(found) == expected
    if expected == {"192.168.1.41"}:
        ev = found["192.168.1.41"]["evidence"]
        assert ev["flows"] == 5 and set(ev["app_protos"]) <= {"tls", "rule:tls"}
        assert all(d.endswith("10.0.5.13:8080") for d in found["192.168.1.41"]["destinations"])
