"""Rule cost guards (issue 15 item 3): every generated rule is selected by a prefilter or the
multi-pattern matcher, except a short documented list — checked with Suricata's own engine
analysis; the whitelist helpers' fast pattern changes no verdict (Python over many names, and
real Suricata on a one-name whitelist whose pattern is the name itself); long_session with its
``flow.age`` prefilter still alerts once per flow."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from engines import require_binary
from pcapcraft import T0, client_hello, http_get, tcp_session, tls_session, write_pcap

from generator.render_suricata import host_content, host_pcre, write_suricata
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
def test_whitelist_fast_pattern_is_in_every_matching_name(entries: list[str]) -> None:
    wl = Whitelist.from_entries(entries)
    pcre, content = host_pcre(wl), host_content(wl)
    plain = host_content(wl, letters=False)  # http.host: no nocase, no letters
    assert pcre is not None and content and plain, "every dotted whitelist gets a pattern"
    assert not re.search("[a-z]", plain)
    body = re.match(r"^/(.*)/i$", pcre)
    assert body is not None
    rx = re.compile(body.group(1), re.IGNORECASE)
    matched = 0
    for name in _names(entries):
        if rx.search(name):
            matched += 1
            assert content in name.lower() and plain in name, (name, content, plain)
            assert wl.matches_host(name.rstrip(".")), name  # same verdict as the consumer
    assert matched >= len(entries)
    if len(entries) == 1 and not entries[0].startswith(("*", ".")):
        assert content == entries[0]  # one exact name is its own pattern


def test_no_common_text_gives_no_fast_pattern() -> None:
    """Names that share nothing safe (cannot happen with dotted names, but the renderer must
    not invent a pattern): the helper keeps its plain PCRE."""
    class Fake:
        def host_suffixes(self) -> list[tuple[str, bool]]:
            return [("abc", True), ("xyz", True)]
    assert host_content(Fake()) is None  # type: ignore[arg-type]


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
    assert {BASE + 1000, BASE + 1001, BASE + 1204, BASE + 1300, BASE + 1411} <= sids
    unfiltered = {r["id"] for r in rules if "mpm" not in r and not r.get("prefilter")}
    assert unfiltered <= set(NO_PREFILTER), sorted(unfiltered - set(NO_PREFILTER))
    by_sid = {r["id"]: r for r in rules}
    assert by_sid[BASE + 1300]["prefilter"]["name"] == "flow.age"
    for helper in (BASE + 1000, BASE + 1001):  # two names share only the dot
        assert by_sid[helper]["mpm"]["pattern"] == "."


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
    assert 'tls.sni; content:"ntp.nict.jp"; nocase; fast_pattern; pcre:' in text
    assert 'http.host; content:"."; fast_pattern; pcre:' in text
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "wl.pcap", _scenarios())],  # type: ignore
                     tmp_path / "run", files)
    got: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            got[(ev["alert"]["signature_id"] - BASE, ev["src_port"])] += 1
    assert got == Counter({(1200, 41002): 1, (1200, 41003): 1, (1100, 40002): 1,
                           (1300, 42001): 1}), got
