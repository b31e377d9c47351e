"""Whitelist guard rails (issue 11, item 2): one validator for ``whitelist.destinations``, the
whitelist file and the admin screen's editor refuses entries that would blind the sensor —
text that is not a plain address/network/host name (an IPv6 zone id carrying rule syntax),
huge ranges, public suffixes and TLDs, and anything overlapping ``networks.home`` — with one
line naming the entry and the reason. The zone-id attack is replayed with real Suricata.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import webfixtures as wf
from pcapcraft import T0, http_get, write_pcap

from generator.render_suricata import render_rules
from sakimori.cli import main
from sakimori.config import load_config
from sakimori.errors import ConfigError
from sakimori.suricata import read_pcaps
from sakimori.web.wledit import add_entry
from sakimori.whitelist import Whitelist, entry_problem

HOSTILE = "fe80::%[1.2.3.4]] any (noalert; metadata:x"
HOME = "10.1.0.0/16"
CONFIG = f"""\
networks:
  home: [{HOME}]
whitelist:
  destinations: {{dests}}
  file: whitelist.txt
"""
REFUSED = [
    (HOSTILE, "not a plain address or network"),
    ("fe80::1%eth0", "not a plain address or network"),
    ("0.0.0.0/1", "/1 network: wider than the minimum /16 (whitelist.min_prefix_v4)"),
    ("::/0", "/0 network: wider than the minimum /32 (whitelist.min_prefix_v6)"),
    ("1.2.3.4/0.0.0.0", "/0 network: wider than the minimum /16"),
    ("198.51.0.0/255.254.0.0", "/15 network"),
    ("com", "public suffix or TLD"),
    (".com", "public suffix or TLD"),
    ("*.com", "public suffix or TLD"),
    ("*.co.jp", "public suffix or TLD"),
    ("co.jp", "public suffix or TLD"),
    ("*.github.io", "public suffix or TLD"),   # PSL private section: anyone's to register
    (".kawasaki.jp", "public suffix or TLD"),  # PSL wildcard: every x.kawasaki.jp is one
    ("10.1.20.0/24", f"overlaps networks.home {HOME}"),
    ("10.1.0.0/16", f"overlaps networks.home {HOME}"),
    ("10.1.20.11", f"overlaps networks.home {HOME}"),
    ("::ffff:10.1.20.11", f"overlaps networks.home {HOME}"),  # IPv4-mapped
    ("ｅｘａｍｐｌｅ.com", "not a host name"),
    ("\u212aawasaki.example", "non-ASCII"),  # KELVIN SIGN lower-cases to an ASCII "k"
    ("a.example.com\nalert", "not a host name"),
]
ACCEPTED = ["*.windowsupdate.com", ".corp.example", "ntp.nict.jp", "intranet",
            "203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "2001:db8:5::1",
            "198.51.0.0/255.255.0.0", "foo.github.io", "example.co.jp"]


def _config(tmp: Path, dests: list[str], extra: str = "") -> Path:
    path = tmp / "sakimori.yaml"
    path.write_text(CONFIG.replace("{dests}", json.dumps(dests)) + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(("entry", "reason"), REFUSED)
def test_config_file_and_editor_refuse_the_same_entries(tmp_path: Path, entry: str,
                                                        reason: str) -> None:
    with pytest.raises(ConfigError) as err:  # whitelist.destinations
        load_config(_config(tmp_path, [entry]), env={})
    assert err.value.key == "whitelist.destinations[0]" and reason in err.value.message
    assert "\n" not in str(err.value).replace(entry, "")  # one line (bar the entry's own)
    (tmp_path / "whitelist.txt").write_text(f"ok.example.net\n{entry}\n", encoding="utf-8")
    if "\n" not in entry:  # the whitelist file, named by file and line
        with pytest.raises(ConfigError) as err:
            load_config(_config(tmp_path, []), env={})
        assert err.value.path == str(tmp_path / "whitelist.txt")
        assert err.value.key == "line 2" and reason in err.value.message
    (tmp_path / "whitelist.txt").write_text("ok.example.net\n", encoding="utf-8")
    cfg = load_config(_config(tmp_path, []), env={})
    result = add_entry(cfg, entry, "alice", "looks benign")  # the editor
    assert not result.ok and reason in result.message
    assert (tmp_path / "whitelist.txt").read_text() == "ok.example.net\n"


@pytest.mark.parametrize("entry", ACCEPTED)
def test_plain_entries_still_accepted(tmp_path: Path, entry: str) -> None:
    cfg = load_config(_config(tmp_path, [entry]), env={})
    assert cfg.whitelist.destinations == (entry,)
    assert Whitelist.from_entries(cfg.whitelist.destinations, cfg.whitelist.policy)


def test_min_prefix_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(_config(tmp_path, ["198.0.0.0/8"]), env={})
    extra = "  min_prefix_v4: 8\n  min_prefix_v6: 24\n"
    text = CONFIG.replace("  file: whitelist.txt\n", "  file: whitelist.txt\n" + extra)
    (tmp_path / "sakimori.yaml").write_text(text.replace("{dests}", '["198.0.0.0/8", '
                                                         '"2001:d00::/24"]'))
    cfg = load_config(tmp_path / "sakimori.yaml", env={})
    assert cfg.whitelist.policy.min_prefix_v4 == 8
    assert cfg.whitelist.destinations == ("198.0.0.0/8", "2001:d00::/24")
    with pytest.raises(ConfigError) as err:  # the range of the key itself is checked
        load_config(_config(tmp_path, []), env={"SAKIMORI_WHITELIST__MIN_PREFIX_V4": "33"})
    assert err.value.key == "whitelist.min_prefix_v4"


def test_render_path_refuses_even_a_config_built_around_the_loader(tmp_path: Path) -> None:
    from dataclasses import replace

    cfg = load_config(_config(tmp_path, []), env={})
    bad = replace(cfg, whitelist=replace(cfg.whitelist, destinations=(HOSTILE,)))
    with pytest.raises(ValueError, match="not a plain address"):
        render_rules(bad, None)
    assert entry_problem("10.1.0.0/24") is None  # the home check needs the configured policy
    assert entry_problem("10.1.0.0/24", cfg.whitelist.policy)


@pytest.mark.suricata
def test_zone_id_attack_blinds_suricata_and_is_refused(tmp_path: Path, capsys,
                                                       require_suricata: str) -> None:
    """64 long-URL requests alert 64 times; the zone-id entry, had it reached the rules,
    silences all of them; now the build is refused (exit 2, one line naming the key) and the
    rules on disk never contain its text."""
    packets = []
    for i in range(64):
        packets += http_get("10.1.10.5", "198.51.100.7", "www.example.com", "/" + "a" * 700,
                            sport=42000 + i, t0=T0 + i)
    pcap = write_pcap(tmp_path / "long-urls.pcap", packets)
    cfg_path = _config(tmp_path, ["ntp.nict.jp"])
    build = tmp_path / "build"
    with pytest.raises(SystemExit) as done:
        main(["generate", "--config", str(cfg_path), "--out", str(build), "--no-validate"])
    assert done.value.code == 0
    rules = build / "suricata" / "sakimori.rules"
    before = rules.read_bytes()
    cfg = load_config(cfg_path, env={})

    def long_url_alerts(rule_file: Path, run: str) -> int:
        eve = read_pcaps(cfg, [pcap], tmp_path / run, [build / "suricata" / "static.rules",
                                                        rule_file])
        return sum(1 for ln in eve.read_text().splitlines()
                   if (ev := json.loads(ln))["event_type"] == "alert"
                   and ev["alert"]["signature_id"] == cfg.suricata.sid_base + 1100)

    assert long_url_alerts(rules, "clean") == 64
    # What the old validator let through: Python parses the zone id, and its text became the
    # destination of every generated rule.
    net = ipaddress.ip_network(HOSTILE, strict=False)
    blinded = tmp_path / "blinded.rules"
    blinded.write_bytes(before.replace(b"!$HOME_NET,", f"!$HOME_NET,!{net},".encode())
                        .replace(b"-> !$HOME_NET ", f"-> [!$HOME_NET,!{net}] ".encode()))
    assert long_url_alerts(blinded, "blinded") == 0
    # Now: the build is refused, one line naming the key, and the rules are untouched.
    capsys.readouterr()
    _config(tmp_path, ["ntp.nict.jp", HOSTILE])
    with pytest.raises(SystemExit) as done:
        main(["generate", "--config", str(cfg_path), "--out", str(build), "--no-validate"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "whitelist.destinations[1]" in err and "not a plain address" in err
    assert len(err.splitlines()) == 1
    assert rules.read_bytes() == before and b"noalert; metadata:x" not in before
    # … and through the whitelist file, named by file and line
    _config(tmp_path, ["ntp.nict.jp"])
    (tmp_path / "whitelist.txt").write_text(f"# added by hand\n{HOSTILE}\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["generate", "--config", str(cfg_path), "--out", str(build), "--no-validate"])
    assert done.value.code == 2
    assert "whitelist.txt: line 2: not a plain address" in capsys.readouterr().err
    assert rules.read_bytes() == before


def test_example_whitelist_keys_documented(example_config: Path) -> None:
    text = example_config.read_text()
    assert "min_prefix_v4: 16" in text and "min_prefix_v6: 32" in text
    assert entry_problem(wf.C2) is None  # the web fixtures' destination stays a valid entry
