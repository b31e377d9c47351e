"""Table 1 classes from real ET Open rules (shared/data/et-open) in real Suricata 7.

One crafted capture (scapy, tests/pcapcraft.py) goes through ``sakimori analyze --rules``
(the real CLI) with a directory holding a subset of the ET Open snapshot — whole
``emerging-web_server.rules``, ``botcc.rules``, ``threatview_CS_c2.rules``,
``compromised.rules``, two single rules
taken by SID from ``emerging-info.rules`` / ``emerging-policy.rules``, ET's
``classification.config`` — plus a file with one rule Suricata 7 cannot parse:

(a) an external client sends an SQL injection and a ``/etc/passwd`` traversal to internal web
    server 10.1.1.80 and uploads a PHP web shell → that server gets ``web_attack``; an internal
    client uploads a web shell to internal server 10.1.1.81 (sakimori's static rule; ET's web
    server rules watch ``$EXTERNAL_NET`` clients only) → the server, not the client, is
    reported;
(b) internal clients reach an IP of ET's botcc (Feodo) list, one of the Threatview Cobalt
    Strike list and one of the compromised-host list (the last two rules match the listed
    IP's answer: the host is the flow's client) →
    ``malware``; a listed IP connecting *in* to an internal server gives no class;
(c) an ET INFO rule whose classtype is ``trojan-activity`` and an ET POLICY rule → no class
    and no row;
the broken rule is skipped and counted, the analysis goes on. The IPs are read from the rule
files, not written here. ``consume`` with a map file that maps ET POLICY to ``malware`` classes
that host: the mapping is data.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from engines import require_binary, require_path
from pcapcraft import T0, http_request, http_response, tcp_session, write_pcap

ET = SHARED_DATA / "et-open"
WEB, WEB2, ATTACKER, INSIDER = "10.1.1.80", "10.1.1.81", "198.51.100.20", "10.1.1.33"
BOTCC_CLIENT, TV_CLIENT, TV_VICTIM = "10.1.2.5", "10.1.2.6", "10.1.2.7"
COMP_CLIENT = "10.1.2.8"
INFO_HOST, POLICY_HOST = "10.1.3.5", "10.1.3.6"
INFO_SID, POLICY_SID = 2050882, 2029912  # ET INFO vk .com API (trojan-activity), ET POLICY UA
BROKEN = 'alert http any any -> any any (msg:"broken"; no_such_keyword; sid:1999999; rev:1;)\n'
CONFIG = "networks:\n  home: [10.1.0.0/16]\nalerts:\n  enabled: false\n"

pytestmark = [pytest.mark.suricata, pytest.mark.slow]


def sakimori(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sakimori", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=900)


def _list_ips(path: Path, outbound: bool, n: int) -> list[str]:
    """The first *n* IPs of the first enabled IP-list rule in *path*."""
    side = r"\$HOME_NET any -> \[([^\]]+)\]" if outbound else r"alert ip \[([^\]]+)\] any ->"
    for line in path.read_text().splitlines():
        m = re.search(side, line) if line.startswith("alert ") else None
        if m:
            return [ip.strip() for ip in m.group(1).split(",")][:n]
    raise AssertionError(f"no IP-list rule in {path}")


def _rule(path: Path, sid: int) -> str:
    return next(ln for ln in path.read_text().splitlines()
                if ln.startswith("alert ") and f"sid:{sid};" in ln)


def _get(client: str, server: str, sport: int, host: str, path: str, method: str = "GET",
         ua: str = "Mozilla/5.0", body: bytes = b"", ctype: str = "", status: int = 200,
         dport: int = 80, t: float = T0) -> list:
    req = http_request(host, path, method=method, user_agent=ua)
    if body:
        req = req[:-2] + (f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
                          ).encode() + body
    return tcp_session(client, server, sport, dport, [("c", req), ("s", http_response(status))],
                       t0=t)


def _capture(path: Path) -> Path:
    botcc = _list_ips(ET / "botcc.rules", True, 1)[0]
    tv1, tv2 = _list_ips(ET / "threatview_CS_c2.rules", False, 2)
    compromised = _list_ips(ET / "compromised.rules", False, 1)[0]
    shell = b"<?php @eval($_POST['c']); ?>"
    p = []
    # (a) attacks on our web servers
    p += _get(ATTACKER, WEB, 41001, "www.example.co.jp",
              "/item.php?id=1%20UNION%20SELECT%20user,pass%20FROM%20users")
    p += _get(ATTACKER, WEB, 41002, "www.example.co.jp", "/show.php?f=../../../../etc/passwd",
              t=T0 + 5)
    p += _get(ATTACKER, WEB, 41003, "www.example.co.jp", "/upload.php", method="POST",
              body=shell, ctype="application/x-php", t=T0 + 10)
    p += _get(INSIDER, WEB2, 41004, "intra.example.co.jp", "/upload.php", method="POST",
              body=shell, ctype="application/x-php", t=T0 + 15)
    # (b) internal clients reaching listed C2s; a listed IP connecting in
    p += tcp_session(BOTCC_CLIENT, botcc, 42001, 443,
                     [("c", b"\x16\x03\x01\x00\x05hello"), ("s", b"\x16\x03\x03\x00\x02ok")],
                     t0=T0 + 20)
    p += tcp_session(TV_CLIENT, tv1, 42002, 8443, [("c", b"ping"), ("s", b"pong")], t0=T0 + 25)
    p += tcp_session(COMP_CLIENT, compromised, 42004, 80,
                     [("c", http_request(compromised, "/")), ("s", http_response(200))],
                     t0=T0 + 28)
    p += tcp_session(tv2, TV_VICTIM, 42003, 22, [("c", b"SSH-2.0-x\r\n"),
                                                 ("s", b"SSH-2.0-y\r\n")], t0=T0 + 30)
    # (c) policy/info only
    p += _get(INFO_HOST, "198.51.100.30", 43001, "api.vk.com",
              "/method/messages.send?peer_id=1&message=hi", method="POST", body=b"x=1",
              ctype="application/x-www-form-urlencoded", t=T0 + 35)
    p += _get(POLICY_HOST, "198.51.100.31", 43002, "www.example.net", "/", ua="DeepFreezeWeb",
              t=T0 + 40)
    return write_pcap(path, p)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_path(ET, "ET Open snapshot")
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("classes_et")
    rules = tmp / "et-subset"
    rules.mkdir()
    for name in ("emerging-web_server.rules", "botcc.rules", "threatview_CS_c2.rules",
                 "compromised.rules", "classification.config"):
        shutil.copy(ET / name, rules / name)
    (rules / "picked.rules").write_text(_rule(ET / "emerging-info.rules", INFO_SID) + "\n"
                                        + _rule(ET / "emerging-policy.rules", POLICY_SID) + "\n")
    broken = tmp / "broken.rules"
    broken.write_text(BROKEN)
    cfg = tmp / "sakimori.yaml"
    cfg.write_text(CONFIG)
    pcap = _capture(tmp / "classes.pcap")
    out = tmp / "out"
    proc = sakimori("analyze", "--config", cfg, "--pcap", pcap, "--rules", rules,
                    "--rules", broken, "--out", out, "--no-mail")
    assert proc.returncode == 0, proc.stderr
    with (out / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: r for r in csv.DictReader(fh)}
    findings = [json.loads(ln) for ln in (out / "findings.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    return {"rows": rows, "findings": findings, "stats": stats, "stderr": proc.stderr,
            "out": out, "cfg": cfg, "tmp": tmp}


def _classes(row: dict[str, str]) -> set[str]:
    return {c for c in row["classes"].split(";") if c}


def test_web_attacks_class_the_internal_server(run: dict) -> None:
    rows = run["rows"]
    for server in (WEB, WEB2):
        assert _classes(rows[server]) == {"web_attack"}, rows[server]
        assert rows[server]["detections"] == "web_attack"
    assert INSIDER not in rows  # the attacking internal client is not the victim
    sigs = next(f for f in run["findings"] if f["host"] == WEB)["evidence"]["signatures"]
    names = " ".join(sigs)
    assert "ET WEB_SERVER" in names and "/etc/passwd" in names, sigs
    assert "SAKIMORI WEB_ATTACK PHP web shell code uploaded" in names, sigs


def test_listed_c2_reached_by_internal_clients_is_malware(run: dict) -> None:
    rows = run["rows"]
    for client, text in ((BOTCC_CLIENT, "ET CNC Feodo Tracker"), (TV_CLIENT, "ET Threatview"),
                         (COMP_CLIENT, "ET COMPROMISED")):
        assert _classes(rows[client]) == {"malware"}, rows[client]
        assert rows[client]["detections"] == "malware_signature"
        finding = next(f for f in run["findings"] if f["host"] == client)
        assert finding["classes"] == ["malware"] and finding["host_classes"] == ["malware"]
        assert any(text in s for s in finding["evidence"]["signatures"]), finding
    assert TV_VICTIM not in rows  # a listed IP connecting in: the server is not infected
    assert run["stats"]["counters"]["alerts_class_outside"] >= 1


def test_policy_and_info_alone_give_no_class(run: dict) -> None:
    assert INFO_HOST not in run["rows"] and POLICY_HOST not in run["rows"]
    eve = (run["out"] / "eve.json").read_text()
    assert f'"signature_id":{INFO_SID}' in eve and f'"signature_id":{POLICY_SID}' in eve
    assert '"category":"A Network Trojan was detected"' in eve  # the INFO rule's classtype
    # skipped unparsed by the prefilter (the map gives them no class) or counted after parsing
    stats = run["stats"]
    assert stats["counters"].get("alerts_no_class", 0) + \
        stats["decode"]["ignored"].get("alert (prefiltered)", 0) >= 2, stats
    assert set(run["rows"]) == {WEB, WEB2, BOTCC_CLIENT, TV_CLIENT, COMP_CLIENT}


def test_broken_third_party_rule_is_skipped_and_counted(run: dict) -> None:
    rules = run["stats"]["input"]["rules"]
    assert rules["failed"] == 1 and rules["loaded"] > 600
    assert rules["third_party_files"] == 6
    assert "1 failed" in run["stderr"] and "no_such_keyword" in run["stderr"]


def test_class_map_is_data(run: dict) -> None:
    """consume over the same EVE with a map file that makes ET POLICY malware."""
    from eve_consumer.classes import DEFAULT_MAP

    text = DEFAULT_MAP.read_text().replace(
        '  - name: policy and information\n', '  - name: policy as malware (test)\n'
        '    signature_prefix: ["ET POLICY"]\n    host: client\n    class: malware\n'
        '  - name: policy and information\n', 1)
    cmap = run["tmp"] / "my-classes.yaml"
    cmap.write_text(text)
    cfg = run["tmp"] / "custom.yaml"
    cfg.write_text(CONFIG + f"classes:\n  map_file: {cmap}\n")
    out = run["tmp"] / "consumed"
    proc = sakimori("consume", "--config", cfg, "--eve", run["out"] / "eve.json", "--out", out,
                    "--state-dir", run["tmp"] / "state2", "--no-mail")
    assert proc.returncode == 0, proc.stderr
    with (out / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: r for r in csv.DictReader(fh)}
    assert _classes(rows[POLICY_HOST]) == {"malware"}
    assert INFO_HOST not in rows
    bad = run["tmp"] / "bad.yaml"
    bad.write_text(CONFIG + f"classes:\n  map_file: {run['tmp'] / 'missing.yaml'}\n")
    proc = sakimori("consume", "--config", bad, "--eve", run["out"] / "eve.json", "--out", out,
                    "--state-dir", run["tmp"] / "state3", "--no-mail")
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr


def test_missing_rules_path_is_one_line_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "sakimori.yaml"
    cfg.write_text(CONFIG)
    pcap = write_pcap(tmp_path / "x.pcap", tcp_session("10.1.1.1", "198.51.100.1", 1, 80))
    (tmp_path / "empty").mkdir()
    for rules, text in ((tmp_path / "nope.rules", "rules file or directory not found"),
                        (tmp_path / "empty", "no *.rules file in this directory")):
        proc = sakimori("analyze", "--config", cfg, "--pcap", pcap, "--rules", rules,
                        "--out", tmp_path / "out")
        assert proc.returncode == 1 and f"{rules}: {text}" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
