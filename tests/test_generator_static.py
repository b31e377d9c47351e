"""The hand-written rules in suricata_rules/static.rules, each positive and negative on real
Suricata 7 with a crafted pcap, plus their SID range and metadata conventions."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from engines import require_binary
from pcapcraft import T0, http_get, http_request, http_response, tcp_session, write_pcap

from sakimori.config import load_config
from sakimori.suricata import read_pcaps
from suricata_rules import STATIC_RULES

C = "10.1.10.5"
EXE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
       + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
       + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 200)


def test_static_rules_conventions() -> None:
    rules = [ln for ln in STATIC_RULES.read_text().splitlines() if ln.startswith("alert ")]
    assert rules
    for rule in rules:
        sid = int(re.search(r"sid:(\d+);", rule).group(1))
        assert 9300000 <= sid <= 9300999
        for key in ("msg:", "classtype:", "rev:", "sakimori_detection ",
                    "sakimori_threshold 0", "sakimori_source static", "created_at "):
            assert key in rule, rule


WEB = "10.1.1.80"        # internal web server
ATTACKER = "198.51.100.20"
PHP_SHELL = b"<?php @eval($_POST['c']); ?>"


def _upload(method: str, path: str, body: bytes, ctype: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: www.example.co.jp\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    b = "----sakimoriTestBoundary"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\""
            f"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + content + \
        f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def _web_upload_cases() -> list:
    """Uploads to (and from) web servers. The fixture keys an alert by the internal side's
    port: the server port for an external client, the client port for an internal one."""
    p = []
    shell, ctype = _multipart("shell.php", PHP_SHELL)
    jsp, jtype = _multipart("cmd.jsp", b'<% Process p = Runtime.getRuntime().exec('
                                       b'request.getParameter("cmd")); %>')
    photo, ptype = _multipart("photo.jpg", b"\xff\xd8\xff\xe0JFIF" + b"\x00" * 64)
    cases = [
        (44101, ATTACKER, WEB, _upload("POST", "/upload.php", shell, ctype), 200),
        (44102, ATTACKER, WEB, _upload("POST", "/upload.php", photo, ptype), 200),
        (44103, ATTACKER, WEB, _upload("PUT", "/uploads/cmd.php",
                                       b"<?php system($_GET['cmd']); ?>", "text/plain"), 201),
        (44104, ATTACKER, WEB, _upload("PUT", "/notes/readme.txt", b"hello", "text/plain"), 201),
        (44105, ATTACKER, WEB, _upload("PUT", "/a.php", b"<?php echo 'hi'; ?>",
                                       "text/plain"), 403),
        (44106, ATTACKER, WEB, _upload("POST", "/upload.jsp", jsp, jtype), 200),
        (44107, C, "198.51.100.21", _upload("POST", "/upload.php", shell, ctype), 200),
    ]
    for port, client, server, request, status in cases:
        sport, dport = (port, 80) if client == C else (45000 + port % 1000, port)
        p += tcp_session(client, server, sport, dport,
                         [("c", request), ("s", http_response(status, b"ok"))], t0=T0)
    return p


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Counter:
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("static")
    cfg = load_config(None, overrides={"networks.home": ["10.1.0.0/16"]})
    p = []
    p += http_get(C, "198.51.100.7", None, "/gate.php", sport=44001, t0=T0)
    p += http_get(C, "198.51.100.7", "www.example.com", "/", sport=44002, t0=T0)
    p += http_get(C, "10.1.1.1", None, "/", sport=44003, t0=T0)  # internal server
    p += http_get(C, "198.51.100.8", "198.51.100.8", "/", dport=443, sport=44004, t0=T0,
                  requests=3)
    p += http_get(C, "198.51.100.8", "www.example.com", "/", dport=8443, sport=44005, t0=T0)
    exe_resp = http_response(200, EXE, "application/octet-stream")
    p += tcp_session(C, "198.51.100.9", 44006, 80,
                     [("c", http_request("198.51.100.9", "/a.exe")), ("s", exe_resp)], t0=T0)
    p += tcp_session(C, "198.51.100.9", 44007, 80,
                     [("c", http_request("files.example.com", "/a.exe")), ("s", exe_resp)],
                     t0=T0)
    p += http_get(C, "198.51.100.9", "198.51.100.9", "/readme.txt", sport=44008, t0=T0,
                  body=b"hello " * 50)
    ps_ua = "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.1"
    p += tcp_session(C, "198.51.100.10", 44009, 80,
                     [("c", http_request("dl.example.net", "/a.ps1", user_agent=ps_ua)),
                      ("s", http_response(200, b"x"))], t0=T0)
    p += _web_upload_cases()
    pcap = write_pcap(tmp / "static.pcap", p)
    eve = read_pcaps(cfg, [pcap], tmp / "run", [STATIC_RULES])
    counts: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            port = ev["src_port"] if cfg.is_home(ev["src_ip"]) else ev["dest_port"]
            counts[(ev["alert"]["signature_id"] - 9300000, port)] += 1
    return counts


@pytest.mark.suricata
@pytest.mark.parametrize(("port", "expected"), [
    (44001, {0: 1}),     # HTTP/1.1 without Host header to an external server
    (44002, {}),         # with Host header
    (44003, {}),         # internal server
    (44004, {1: 1}),     # cleartext HTTP to external port 443: three requests, one alert
    (44005, {}),         # HTTP on another port
    (44006, {}),         # PE executable from a bare-IP host: no static rule (its file.data
    (44007, {}),         # inspection cost ~24 % of Suricata's time, see docs/rules.md)
    (44008, {}),         # text from a bare-IP host
    (44009, {3: 1}),     # PowerShell's own HTTP client
    (44101, {4: 1}),     # PHP web shell POSTed (multipart) to an internal web server
    (44102, {}),         # a photo POSTed there
    (44103, {4: 1, 6: 1}),  # PHP shell written by PUT, answered 201
    (44104, {}),         # a text file written by PUT
    (44105, {}),         # harmless PHP PUT, refused (403)
    (44106, {5: 1}),     # JSP web shell POSTed
    (44107, {}),         # the PHP shell POSTed by an internal client to an external server
])
def test_static_rule_fires_only_on_its_case(alerts: Counter, port: int,
                                            expected: dict[int, int]) -> None:
    assert {sid: n for (sid, p), n in alerts.items() if p == port} == expected


@pytest.mark.suricata
def test_static_helper_never_alerts(alerts: Counter) -> None:
    assert not [key for key in alerts if key[0] in (7, 10)]
