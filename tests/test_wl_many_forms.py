"""A whitelist with more than ``MAX_FORMS`` (1,000) host-name forms: the first forms keep a
helper pair each, the rest share combined pairs (content ``.``, an anchored alternation), so
every verdict is the consumer's (Python, every form and look-alikes around it) and every rule
line fits Suricata's 8 KiB limit; real Suricata whitelists names beyond the first 1,000
(no long_url 1100 and no TLS-on-an-HTTP-port 1200 for them) and still alerts on others."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from engines import require_binary
from pcapcraft import T0, http_get, tls_session, write_pcap

from generator.render_suricata import host_pcre, render_rules, write_suricata
from generator.wl_helpers import MAX_FORMS, MAX_PCRE_CHARS, helper_matches, whitelist_helpers
from sakimori.config import load_config
from sakimori.suricata import read_pcaps
from sakimori.whitelist import Whitelist

BASE = 9300000
C = "10.1.10.5"
# 300 exact names, 1,300 suffix forms (*.), 5 apex-and-suffix entries (two forms each) and a
# dot-less name: 1,611 forms; the combined pairs take the last suffix forms and exact names.
ENTRIES = ([f"host{i}.branch{i % 13}.example.co.jp" for i in range(300)]
           + [f"*.svc{i}.example.net" for i in range(1300)]
           + [f".zone{i}.example.org" for i in range(5)] + ["intranet"])


def _names() -> list[str]:
    out = ["", ".", "example.net", "evil.test", "intranet.evil", "xintranet", "INTRANET."]
    for entry in ENTRIES[::7] + ENTRIES[-60:]:
        base = entry.lstrip("*.")
        out += [base, base.upper() + ".", "a." + base, "evil-" + base, base + ".evil.test",
                base[1:], base[:-1]]
    return out


def test_more_than_max_forms_keeps_every_verdict() -> None:
    wl = Whitelist.from_entries(ENTRIES)
    assert len(wl.host_suffixes()) > MAX_FORMS + 500
    helpers = whitelist_helpers(wl)
    assert len(helpers) == MAX_FORMS
    offsets = [o for h in helpers for o in (h.host_offset, h.sni_offset)]
    assert offsets == list(range(2000, 4000))
    combined = [h for h in helpers if h.forms]
    assert combined and all(h.text == "." and len("|".join(h.forms)) < MAX_PCRE_CHARS
                            for h in combined)
    covered = [f for h in helpers for f in (h.forms or (h.text,))]
    assert sorted(covered) == sorted(t for t, _ in wl.host_suffixes())  # each form once
    assert any(h.text == "intranet" and not h.forms for h in helpers)  # no dot: single
    checked = 0
    for name in _names():
        want = wl.matches_host(name.rstrip(".")) if name.strip(".") else False
        for raw, host in ((name, False), (name, True), (name + ":8080", True)):
            assert any(helper_matches(h, raw, host=host) for h in helpers) == want, raw
        checked += want
    assert checked > 300


def test_every_rule_line_fits_and_long_url_falls_back_to_the_flowbit(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("networks:\n  home: [10.1.0.0/16]\nwhitelist:\n"
                                     "  destinations: [" + ", ".join(
                                         f'"{e}"' for e in ENTRIES) + "]\n")
    text = render_rules(load_config(tmp_path / "s.yaml", env={}), None)
    assert len(host_pcre(Whitelist.from_entries(ENTRIES)) or "") > MAX_PCRE_CHARS
    lines = [ln for ln in text.splitlines() if ln.startswith("alert ")]
    assert max(len(ln) for ln in lines) < 8192
    long_url = next(ln for ln in lines if f"sid:{BASE + 1100};" in ln)
    assert "flowbits:isnotset,sakimori.wl;" in long_url and "pcre:" not in long_url


@pytest.mark.suricata
def test_suricata_whitelists_names_beyond_the_first_thousand(tmp_path: Path) -> None:
    require_binary("suricata")
    wl = Whitelist.from_entries(ENTRIES)
    helpers = whitelist_helpers(wl)
    late_exact = next(f for h in helpers if h.forms and h.exact for f in h.forms[-3:])
    late_suffix = next(f for h in helpers if h.forms and not h.exact for f in h.forms[-3:])
    (tmp_path / "s.yaml").write_text(
        "networks:\n  home: [10.1.0.0/16]\ntraffic:\n  url_length_threshold: 100\n"
        "whitelist:\n  destinations: [" + ", ".join(f'"{e}"' for e in ENTRIES) + "]\n")
    cfg = load_config(tmp_path / "s.yaml", env={})
    files = write_suricata(cfg, None, tmp_path / "build", package=False)
    long = "/" + "a" * 300
    names = {50001: (late_exact, True), 50002: ("a.b" + late_suffix, True),
             50003: (late_exact.upper() + ".", True), 50004: ("x" + late_exact, False),
             50005: ("www.example.com", False), 50006: (late_suffix.lstrip("."), False)}
    p = []
    for port, (name, _) in names.items():
        p += http_get(C, "198.51.100.7", name, long, sport=port, t0=T0)
        p += tls_session(C, "198.51.100.8", name, sport=port + 100, dport=80, t0=T0)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "wl.pcap", p)], tmp_path / "run", files)
    got: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            got[(ev["alert"]["signature_id"] - BASE, ev["src_port"])] += 1
    want = Counter()
    for port, (_, listed) in names.items():
        if not listed:
            want[(1100, port)] = 1
            want[(1200, port + 100)] = 1
    assert got == want, (late_exact, late_suffix, got)
