"""Rule cost guards (issue 15 item 3): every generated rule is selected by a prefilter or the
multi-pattern matcher, except a short documented list — checked with Suricata's own engine
analysis; the whitelist helpers (one pair per name form, the form as fast pattern) give the
consumer's verdict on every name (Python over many names, and real Suricata on exact, suffix,
apex-and-suffix forms, case, trailing dot, a Host port and a proxy's absolute URI);
long_session with its ``flow.age`` prefilter still alerts once per flow."""

from __future__ import annotations

import json
import re
import subprocess
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
    tcp_session,
    tls_session,
    write_pcap,
)

from generator.render_suricata import host_pcre, write_suricata
from generator.wl_helpers import helper_matches, whitelist_helpers
from sakimori.config import load_config
from sakimori.suricata import read_pcaps, render_offline_yaml
from sakimori.whitelist import Whitelist

BASE = 9300000
C = "10.1.10.5"
# Rules Suricata evaluates without a prefilter, and why that is cheap enough: each runs only
# on HTTP/TLS transactions of its own ports or inspects a per-request integer first.
NO_PREFILTER = {
    BASE + 0: "static: app-layer-event missing Host (behind an http.protocol pattern it cost more"
              " on the office capture: +5.6 M instructions)",
    BASE + 1100: "long_url: urilen (no prefilter support) before the negated whitelist PCRE",
    BASE + 1101: "long_url without Host: urilen + app-layer-event (as BASE + 0)",
    BASE + 1200: "TLS on an HTTP-only port: tls.random bsize (only TLS flows to those ports)",
}
WHITELISTS = [
    ["ntp.nict.jp"],
    ["*.windowsupdate.com", "ntp.nict.jp"],
    [".example.com"],
    ["a.example.co.jp", "b.example.co.jp"],
    ["*.cdn.example.net", "*.cdn.example.org", "update.vendor.example"],
    ["xn--r8jz45g.example", "*.xn--eckwd4c7c.example"],
]


def _names(entries: list[str]) -> list[str]:
    """Names around each entry: itself, case and trailing-dot variants, sub-domains,
    look-alikes and unrelated names."""
    out = ["www.example.com", "example", "", ".", "ntp", "nict.jp", "evil.test"]
    for entry in entries:
        base = entry.lstrip("*.")
        for name in (base, base.upper(), base + ".", "a." + base, "x.y." + base + ".",
                     "evil-" + base, base + ".evil.test", base.replace(".", "-"),
                     base[1:], base[:-1], "A." + base.title()):
            out.append(name)
    return out


@pytest.mark.parametrize("entries", WHITELISTS)
def test_helpers_give_the_consumers_verdict_on_every_name(entries: list[str]) -> None:
    """Per name form: a content the form itself (so the matcher selects the helper only for
    names containing it), then the anchored PCRE. Together the helpers whitelist exactly what
    ``Whitelist.matches_host`` and the combined PCRE of ``long_url`` whitelist — on SNI and on
    a raw Host with or without a port."""
    wl = Whitelist.from_entries(entries)
    helpers = whitelist_helpers(wl)
    assert len(helpers) == len(wl.host_suffixes())
    body = re.match(r"^/(.*)/i$", host_pcre(wl) or "")
    assert body is not None
    combined = re.compile(body.group(1), re.IGNORECASE)
    matched = 0
    for name in _names(entries):
        want = wl.matches_host(name.rstrip(".")) if name.strip(".") else False
        assert any(helper_matches(h, name, host=False) for h in helpers) == want, name
        assert bool(combined.search(name)) == want, name
        for raw in (name, name + ":8080"):
            assert any(helper_matches(h, raw, host=True) for h in helpers) == want, raw
        matched += want
        for h in helpers:
            if helper_matches(h, name, host=False):
                assert h.text in name.lower()  # the fast pattern is in every match
    assert matched >= len(entries)


def test_helper_sids_and_patterns() -> None:
    wl = Whitelist.from_entries(["ntp.nict.jp", ".example.org", "*.windowsupdate.com"])
    got = [(h.text, h.exact, h.host_offset, h.sni_offset) for h in whitelist_helpers(wl)]
    assert got == [(".example.org", False, 2000, 2001), (".windowsupdate.com", False, 2002, 2003),
                   ("example.org", True, 2004, 2005), ("ntp.nict.jp", True, 2006, 2007)]
    assert [h.host_kind for h in whitelist_helpers(wl)] == [2000, 2000, 2002, 2002]


CONFIG = """\
networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: [{wl}]
traffic:
  long_session_seconds: 300
  port_protocols: {{443: [tls, http], 8443: [tls]}}
anonymizer:
  tor_relays: [relays.txt]
  tor_cert_pattern: true
"""


def _build(tmp: Path, wl: str) -> tuple[object, list[Path]]:
    (tmp / "relays.txt").write_text("192.0.2.77\n2001:db8:ff::77\n")
    (tmp / "sakimori.yaml").write_text(CONFIG.format(wl=wl))
    cfg = load_config(tmp / "sakimori.yaml", env={})
    return cfg, write_suricata(cfg, None, tmp / "build", package=False)


@pytest.mark.suricata
def test_engine_analysis_every_rule_has_a_prefilter(tmp_path: Path) -> None:
    require_binary("suricata")
    cfg, files = _build(tmp_path, '"*.windowsupdate.com", ntp.nict.jp')
    conf = tmp_path / "analysis.yaml"
    conf.write_text(render_offline_yaml(cfg, tmp_path, files)
                    + "engine-analysis:\n  rules-fast-pattern: yes\n  rules: yes\n")
    subprocess.run(["suricata", "-c", str(conf), "--engine-analysis", "-l", str(tmp_path)],
                   capture_output=True, check=False, timeout=300)
    rules = [json.loads(line) for line in (tmp_path / "rules.json").read_text().splitlines()]
    sids = {r["id"] for r in rules}
    assert {BASE + 2000, BASE + 2003, BASE + 1204, BASE + 1300, BASE + 1411} <= sids
    assert BASE + 1000 not in sids and BASE + 1001 not in sids  # retired
    unfiltered = {r["id"] for r in rules if "mpm" not in r and not r.get("prefilter")}
    assert unfiltered <= set(NO_PREFILTER), sorted(unfiltered - set(NO_PREFILTER))
    by_sid = {r["id"]: r for r in rules}
    assert by_sid[BASE + 1300]["prefilter"]["name"] == "flow.age"
    for helper, text in ((2000, ".windowsupdate.com"), (2001, ".windowsupdate.com"),
                         (2002, "ntp.nict.jp"), (2003, "ntp.nict.jp")):  # each its own name
        assert by_sid[BASE + helper]["mpm"]["pattern"] == text


def _scenarios() -> list:
    t = T0
    chat = [("c", b"ping"), ("s", b"pong")] * 20
    p = []
    p += tls_session(C, "198.51.100.8", "NTP.Nict.JP.", sport=41001, dport=80, t0=t)
    p += tls_session(C, "198.51.100.8", "ntp.nict.jp.evil.example", sport=41002, dport=80,
                     t0=t)
    p += tls_session(C, "198.51.100.8", "x.ntp.nict.jp", sport=41003, dport=80, t0=t)
    p += http_get(C, "198.51.100.7", "ntp.nict.jp", "/" + "a" * 599, sport=40001, t0=t)
    p += http_get(C, "198.51.100.7", "www.example.com", "/" + "a" * 599, sport=40002, t0=t)
    p += tcp_session(C, "198.51.100.20", 42001, 5222, chat, t0=t, gap=10)
    push = [("c", client_hello("ntp.nict.jp")), *chat]
    p += tcp_session(C, "198.51.100.21", 42002, 443, push, t0=t, gap=10)
    return p


@pytest.mark.suricata
def test_one_name_whitelist_with_its_own_pattern(tmp_path: Path) -> None:
    """Whitelist ``ntp.nict.jp`` alone: the helpers' pattern is the name. Case and a trailing
    dot still whitelist (nocase), a longer or sub-domain name does not; long_session fires
    once on a 400 s chat and not on a whitelisted SNI."""
    require_binary("suricata")
    cfg, files = _build(tmp_path, "ntp.nict.jp")
    text = files[1].read_text()
    assert 'tls.sni; content:"ntp.nict.jp"; nocase; fast_pattern; startswith; pcre:' in text
    assert 'http.host.raw; content:"ntp.nict.jp"; nocase; fast_pattern; startswith; pcre:' in text
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "wl.pcap", _scenarios())],  # type: ignore
                     tmp_path / "run", files)
    got: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            got[(ev["alert"]["signature_id"] - BASE, ev["src_port"])] += 1
    assert got == Counter({(1200, 41002): 1, (1200, 41003): 1, (1100, 40002): 1,
                           (1300, 42001): 1}), got


# (name, expected long_session alert) for `"*.windowsupdate.com", ntp.nict.jp, .example.org`
SESSION_NAMES = [
    ("a.windowsupdate.com", False), ("A.WindowsUpdate.COM.", False),
    ("windowsupdate.com", True), ("evil-windowsupdate.com", True),
    ("NTP.Nict.JP.", False), ("x.ntp.nict.jp", True), ("ntp.nict.jp.evil.test", True),
    ("example.org", False), ("Deep.A.Example.Org", False), ("example.org.evil.test", True),
    ("notexample.org", True),
]


def _long_sessions() -> list:
    """400 s sessions (threshold 300 s): TLS on 443 by SNI, HTTP on 80 by Host (each name
    also with a port), and two requests through a proxy with an absolute URI."""
    chat = [("c", b"ping"), ("s", b"pong")] * 20
    p = []
    for i, (name, _alert) in enumerate(SESSION_NAMES):
        p += tcp_session(C, "198.51.100.30", 44000 + i, 443,
                         [("c", client_hello(name)), *chat], t0=T0, gap=10)
        for j, host in enumerate((name, name + ":8080")):
            http = [("c", http_request(host, "/")), ("s", http_response(200))] * 20
            p += tcp_session(C, "198.51.100.31", 45000 + 100 * j + i, 80, http, t0=T0, gap=10)
    for k, (name, _alert) in enumerate(SESSION_NAMES[:2] + SESSION_NAMES[2:4]):
        http = [("c", http_request(name, f"http://{name}/x")), ("s", http_response(200))] * 20
        p += tcp_session(C, "198.51.100.32", 46000 + k, 3128, http, t0=T0, gap=10)
    return p


@pytest.mark.suricata
def test_per_name_helpers_whitelist_long_sessions(tmp_path: Path) -> None:
    """Real Suricata: the helper pairs of a suffix form, an exact name and an apex-and-suffix
    form mark exactly the whitelisted SNIs and Hosts (case, trailing dot, ``:port``, a
    proxy's absolute URI), so long_session fires on every other name and on none of them."""
    require_binary("suricata")
    cfg, files = _build(tmp_path, '"*.windowsupdate.com", ntp.nict.jp, .example.org')
    text = files[1].read_text()
    assert text.count("flowbits:set,sakimori.wl;") == 2 * 4  # 4 forms: 2 suffixes, 2 names
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "long.pcap", _long_sessions())],  # type: ignore
                     tmp_path / "run", files)
    fired: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            assert ev["alert"]["signature_id"] - BASE < 2000, "helpers never alert"
            fired[(ev["alert"]["signature_id"] - BASE, ev["src_port"])] += 1
    want: Counter = Counter()
    for i, (_name, alert) in enumerate(SESSION_NAMES):
        for port in (44000 + i, 45000 + i, 45100 + i):
            if alert:
                want[(1300, port)] = 1
    for k, (_name, alert) in enumerate(SESSION_NAMES[:2] + SESSION_NAMES[2:4]):
        if alert:
            want[(1300, 46000 + k)] = 1
    assert fired == want, sorted(set(fired) ^ set(want))
