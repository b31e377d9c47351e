"""Tor relay rules in IP-only form (generator.tor_rules): the relay addresses are in the rule
header, in groups under Suricata's rule-size limit. Python: grouping, SIDs, home and
whitelisted networks left out. Real Suricata: a relay on either side of a flow alerts once
per flow (on the internal host's packet), IPv4 and IPv6, in the first and in a later group;
a non-relay, a relay in the whitelisted network and UDP do not."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter

import pytest
from engines import require_binary
from pcapcraft import T0, _ip, _stamp, syn_only, tcp_session, write_pcap
from scapy.layers.inet import UDP
from scapy.packet import Raw

from generator.render_suricata import write_suricata
from generator.tor_rules import MAX_LIST_CHARS, relay_rules
from sakimori.config import load_config
from sakimori.suricata import read_pcaps
from sakimori.tor import RelaySet

BASE = 9300000
C, C6 = "10.1.10.5", "2001:db8:1::5"
CHAT = [("c", b"x"), ("s", b"y")] * 5
# 1,200 IPv4 relays in 198.18.0.0/15 (three groups, after 192.0.2.77 in sort order)
MANY = [str(ipaddress.IPv4Address("198.18.0.1") + i) for i in range(1200)]
CONFIG = """\
networks:
  home: [10.1.0.0/16, "2001:db8:1::/48"]
whitelist:
  destinations: [203.0.113.0/24]
anonymizer:
  tor_relays: [relays.txt]
"""


def _relays(addrs: list[str]) -> RelaySet:
    rs = RelaySet()
    for a in addrs:
        assert rs.add(a)
    return rs


def test_groups_fit_the_rule_size_and_keep_every_address() -> None:
    nets = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("203.0.113.0/24")]
    v6 = [f"2001:db8:{i:x}::{i:x}" for i in range(1, 500)]
    rules = relay_rules(_relays([*MANY, "10.2.3.4", "203.0.113.9", *v6]), nets)
    v4 = [r for r in rules if r.family == "IPv4"]
    assert [r.offset for r in v4] == [1400, 4001, 4002]
    assert [r.offset for r in rules if r.family == "IPv6"][:2] == [1401, 4501]
    assert all(r.kind == (1400 if r.family == "IPv4" else 1401) for r in rules)
    assert all(len(r.addresses) <= MAX_LIST_CHARS for r in rules)
    listed = [a for r in v4 for a in r.addresses.strip("[]").split(",")]
    assert listed == sorted(MANY, key=ipaddress.IPv4Address)  # home and whitelisted left out
    assert sum(r.count for r in rules if r.family == "IPv6") == len(v6)
    assert relay_rules(None, nets) == []


def _scenarios() -> list:
    t = T0
    p = []
    p += tcp_session(C, "192.0.2.77", 43001, 9001, CHAT, t0=t)            # to a relay
    p += tcp_session("192.0.2.77", C, 43002, 8443, CHAT, t0=t)            # from a relay
    p += tcp_session(C, "192.0.2.99", 43003, 9001, CHAT, t0=t)            # not a relay
    p += tcp_session(C6, "2001:db8:ff::77", 43004, 443, CHAT, t0=t)       # IPv6 relay
    p += tcp_session(C, MANY[-1], 43005, 9001, CHAT, t0=t)                # third group
    p += tcp_session(C, "203.0.113.50", 43006, 9001, CHAT, t0=t)          # whitelisted net
    p += syn_only(C, "192.0.2.77", 43007, 9001, t0=t)                     # unanswered SYNs
    p += tcp_session(C, "192.0.2.77", 43008, 9001, CHAT, t0=t)[3:]        # mid-stream
    p += [_stamp(_ip(C, "192.0.2.77") / UDP(sport=43010, dport=9001) / Raw(b"q"), t + i)
          for i in range(3)]                                                # UDP to a relay
    return p


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Counter:
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("relays")
    (tmp / "relays.txt").write_text("\n".join(
        ["192.0.2.77", "203.0.113.50", "[2001:db8:ff::77]:443", *MANY]) + "\n")
    (tmp / "sakimori.yaml").write_text(CONFIG)
    cfg = load_config(tmp / "sakimori.yaml")
    files = write_suricata(cfg, None, tmp / "build", package=False)
    text = files[1].read_text()
    assert f"sid:{BASE + 4002};" in text and "203.0.113.50" not in text
    eve = read_pcaps(cfg, [write_pcap(tmp / "relays.pcap", _scenarios())], tmp / "run", files)
    counts: Counter = Counter()
    for line in eve.read_text().splitlines():
        ev = json.loads(line)
        if ev["event_type"] == "alert":
            assert cfg.is_home(ev["src_ip"]), ev  # reported on the internal host's packet
            counts[(ev["alert"]["signature_id"] - BASE, ev["src_port"])] += 1
    return counts


@pytest.mark.suricata
@pytest.mark.parametrize(("port", "expected"), [
    (43001, {1400}),   # internal host connects to a relay
    (43002, {1400}),   # a relay connects to the internal host: the reply alerts
    (43003, set()),    # not a relay
    (43004, {1401}),   # IPv6 relay
    (43005, {4002}),   # relay in the third group of addresses
    (43006, set()),    # relay inside the whitelisted network: left out
    (43007, {1400}),   # unanswered SYNs to a relay: once
    (43008, {1400}),   # flow picked up mid-stream (no SYN seen)
    (43010, set()),    # UDP to a relay: the rules are tcp
])
def test_relay_alerts_once_per_flow(alerts: Counter, port: int, expected: set[int]) -> None:
    port_key = 8443 if port == 43002 else port
    fired = {sid for (sid, p) in alerts if p == port_key}
    assert fired == expected
    for sid in expected:
        assert alerts[(sid, port_key)] == 1, "one alert per flow"
