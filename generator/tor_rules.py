"""Tor relay rules as Suricata IP-only rules: the relay addresses go into the rule header
(``alert tcp $HOME_NET any -> [a,b,…] any``), in groups that keep each rule line under
Suricata's rule-size limit, as ET Open's Tor rules do.

An IP-only rule is matched by Suricata's IP-only engine (a radix tree over every IP-only
rule's addresses) once per flow and direction, on the first packet — instead of a per-packet
``flags`` prefilter plus a dataset lookup (the previous form, 18.3 M instructions on the
office capture; see docs/rules.md "Cost"). Relays inside ``networks.home`` or a whitelisted
network are left out, as the previous form's destination ``[!$HOME_NET,!<whitelisted>]`` did.

SIDs: the first IPv4 group keeps offset 1400 and the first IPv6 group 1401 (a list of up to
a few hundred addresses is one rule, as before); further groups take
:data:`IPV4_MORE` + i and :data:`IPV6_MORE` + i, and share the ledger entry of 1400 / 1401.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from sakimori.tor import RelaySet

IPV4_FIRST, IPV6_FIRST = 1400, 1401
IPV4_MORE, IPV6_MORE = 4000, 4500  # offsets of the 2nd, 3rd … group (4001 …, 4501 …)
MAX_GROUPS = 499  # per family: 4001 … 4499 / 4501 … 4999
# Suricata reads a rule line into an 8 KiB buffer (DETECT_MAX_RULE_SIZE 8192); the options
# of the relay rule take < 800 characters, so the address list stays below this.
MAX_LIST_CHARS = 6000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RelayRule:
    """One relay rule: its SID offset, the ledger/metadata entry it shares, its family and
    the header's address list (``[a,b,…]``)."""

    offset: int
    kind: int
    family: str  # "IPv4" | "IPv6"
    addresses: str
    count: int


def _groups(addrs: list[str]) -> list[list[str]]:
    groups: list[list[str]] = []
    size = 0
    for a in addrs:
        if not groups or size + len(a) + 1 > MAX_LIST_CHARS:
            groups.append([])
            size = 2
        groups[-1].append(a)
        size += len(a) + 1
    return groups


def relay_rules(relays: RelaySet | None, excluded: Iterable[Network]) -> list[RelayRule]:
    """The IP-only relay rules for *relays*, addresses inside *excluded* (home and
    whitelisted networks) left out; IPv4 groups first, then IPv6, each sorted."""
    if relays is None:
        return []
    nets = list(excluded)
    out: list[RelayRule] = []
    for family, first, more, addrs in (("IPv4", IPV4_FIRST, IPV4_MORE, sorted(relays.ipv4)),
                                       ("IPv6", IPV6_FIRST, IPV6_MORE, sorted(relays.ipv6))):
        kept = [str(a) for a in addrs
                if not any(n.version == a.version and a in n for n in nets)]
        groups = _groups(kept)
        if len(groups) > MAX_GROUPS + 1:
            raise ValueError(f"{len(kept)} {family} relay addresses need {len(groups)} rules; "
                             f"at most {MAX_GROUPS + 1} fit the SID range")
        for i, group in enumerate(groups):
            out.append(RelayRule(first if i == 0 else more + i, first, family,
                                 "[" + ",".join(group) + "]", len(group)))
    return out
