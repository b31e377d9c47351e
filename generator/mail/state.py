"""The mergeable counts behind the learned ``mail`` baselines, and the lists derived from them.

Everything stored merges exactly (counts add, first/last take min/max), so learning A then B
into one document gives the same section as learning A+B. The lists an operator and the
checks read — ``domestic_domains``, ``frequent_domains``, ``names`` — are never merged: they
are derived again from the counts on every learn, with the thresholds of the current config
(like the traffic thresholds). Layout: docs/mail-checks.md and docs/mail-learning.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from generator.traffic_summary import iso
from sakimori.config import RELAY_MAX_DOMAINS, MailConfig
from sakimori.mail.norm import fold_name

RELAY_DEPTH = 8  # newest Received hops (with an IP) looked at for receiving-side relays


def is_internal(domain: str, internal_domains: tuple[str, ...]) -> bool:
    """Equal to, or a subdomain of, an entry of ``mail.internal_domains``."""
    return any(domain == d or domain.endswith("." + d) for d in internal_domains)


def _later(a: str | None, b: str | None) -> str | None:
    return max(x for x in (a, b) if x) if (a or b) else None


def _earlier(a: str | None, b: str | None) -> str | None:
    return min(x for x in (a, b) if x) if (a or b) else None


def _counter(value: Any) -> Counter:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of counts, got {type(value).__name__}")
    return Counter({str(k): int(v) for k, v in value.items()})


@dataclass
class DomainStats:
    """Arrival history of one sender domain (external, unauthenticated mail only)."""

    messages: int = 0
    infra: Counter = field(default_factory=Counter)
    countries: Counter = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None

    def see(self, infra: tuple[str, ...], countries: set[str], when: float | None) -> None:
        self.messages += 1
        self.infra.update(set(infra))
        self.countries.update(countries)
        if when is not None:
            stamp = iso(when)
            self.first, self.last = _earlier(self.first, stamp), _later(self.last, stamp)

    def merge(self, other: DomainStats) -> None:
        self.messages += other.messages
        self.infra.update(other.infra)
        self.countries.update(other.countries)
        self.first = _earlier(self.first, other.first)
        self.last = _later(self.last, other.last)

    def to_json(self) -> dict[str, Any]:
        return {"messages": self.messages, "infra": dict(sorted(self.infra.items())),
                "countries": dict(sorted(self.countries.items())),
                "first": self.first, "last": self.last}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DomainStats:
        return cls(int(value.get("messages") or 0), _counter(value.get("infra") or {}),
                   _counter(value.get("countries") or {}), value.get("first"),
                   value.get("last"))


@dataclass
class AddressStats:
    """One address: messages it sent (header From) and the display names seen for it."""

    messages: int = 0
    names: Counter = field(default_factory=Counter)

    def merge(self, other: AddressStats) -> None:
        self.messages += other.messages
        self.names.update(other.names)

    def to_json(self) -> dict[str, Any]:
        return {"messages": self.messages, "names": dict(sorted(self.names.items()))}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AddressStats:
        return cls(int(value.get("messages") or 0), _counter(value.get("names") or {}))


@dataclass
class RelayStats:
    """One network seen as the ``from`` address of the newest hops: in how many messages,
    and of which sender domains (the smallest RELAY_MAX_DOMAINS names: merges exactly)."""

    messages: int = 0
    domains: set[str] = field(default_factory=set)

    def see(self, domain: str) -> None:
        self.messages += 1
        self._add({domain})

    def _add(self, names: set[str]) -> None:
        self.domains |= names
        if len(self.domains) > RELAY_MAX_DOMAINS:
            self.domains = set(sorted(self.domains)[:RELAY_MAX_DOMAINS])

    def merge(self, other: RelayStats) -> None:
        self.messages += other.messages
        self._add(other.domains)

    def to_json(self) -> dict[str, Any]:
        return {"messages": self.messages, "domains": sorted(self.domains)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RelayStats:
        domains = value.get("domains") or []
        if not isinstance(domains, list):
            raise ValueError("relay 'domains' must be a list")
        stats = cls(int(value.get("messages") or 0))
        stats._add({str(d) for d in domains})
        return stats


@dataclass
class MailState:
    """All mergeable mail counts of one baselines document."""

    messages: int = 0
    broken: int = 0
    domains: dict[str, DomainStats] = field(default_factory=dict)
    addresses: dict[str, AddressStats] = field(default_factory=dict)
    relay_messages: int = 0  # messages with a sender domain and a public hop looked at
    relay_hops: dict[str, RelayStats] = field(default_factory=dict)

    def see_hops(self, networks: set[str], domain: str) -> None:
        """One message's receiving-side candidates (networks of its newest public hops)."""
        if not networks or not domain:
            return
        self.relay_messages += 1
        for net in networks:
            stats = self.relay_hops.get(net)
            if stats is None:
                stats = self.relay_hops[net] = RelayStats()
            stats.see(domain)

    def domain(self, name: str) -> DomainStats:
        stats = self.domains.get(name)
        if stats is None:
            stats = self.domains[name] = DomainStats()
        return stats

    def address(self, addr: str) -> AddressStats:
        stats = self.addresses.get(addr)
        if stats is None:
            stats = self.addresses[addr] = AddressStats()
        return stats

    def merge(self, other: MailState) -> None:
        self.messages += other.messages
        self.broken += other.broken
        for name, stats in other.domains.items():
            self.domain(name).merge(stats)
        for addr, stats in other.addresses.items():
            self.address(addr).merge(stats)
        self.relay_messages += other.relay_messages
        for net, rstats in other.relay_hops.items():
            self.relay_hops.setdefault(net, RelayStats()).merge(rstats)

    @classmethod
    def from_section(cls, mail: dict[str, Any]) -> MailState:
        """Read the counts back from a ``mail`` section (ValueError when unusable)."""
        domains, addresses = mail.get("domains") or {}, mail.get("addresses") or {}
        hops = mail.get("relay_hops") or {}
        if not isinstance(domains, dict) or not isinstance(addresses, dict) \
                or not isinstance(hops, dict) or not isinstance(hops.get("networks") or {}, dict):
            raise ValueError("'domains', 'addresses' and 'relay_hops' must be objects")
        return cls(int(mail.get("messages") or 0), int(mail.get("broken") or 0),
                   {str(k): DomainStats.from_json(v) for k, v in domains.items()},
                   {str(k): AddressStats.from_json(v) for k, v in addresses.items()},
                   int(hops.get("messages") or 0),
                   {str(k): RelayStats.from_json(v)
                    for k, v in (hops.get("networks") or {}).items()})

    # --- derived lists -------------------------------------------------------------------

    def frequent_domains(self, m: MailConfig) -> list[str]:
        return sorted(d for d, s in self.domains.items()
                      if s.messages >= m.frequent_min_messages)

    def domestic_domains(self, m: MailConfig) -> list[str]:
        """Frequent, at least one known chain country, and every known one domestic."""
        return sorted(d for d, s in self.domains.items()
                      if s.messages >= m.frequent_min_messages and s.countries
                      and set(s.countries) == {m.domestic_country})

    def relays(self, m: MailConfig) -> dict[str, dict[str, Any]]:
        """Learned relays: networks seen among the newest hops of at least
        ``mail.relay_min_share`` of the messages counted, from at least
        ``mail.relay_min_domains`` different sender domains."""
        total = self.relay_messages
        return {net: {"messages": s.messages, "domains": len(s.domains),
                      "share": round(s.messages / total, 3)}
                for net, s in sorted(self.relay_hops.items())
                if total and s.messages >= m.relay_min_share * total
                and len(s.domains) >= m.relay_min_domains}

    def names(self, m: MailConfig) -> dict[str, dict[str, Any]]:
        """Folded display name → its most frequent display form and the addresses it is on."""
        displays: dict[str, Counter] = {}
        on: dict[str, Counter] = {}
        for addr, stats in self.addresses.items():
            domain = addr.rpartition("@")[2]
            if not (is_internal(domain, m.internal_domains)
                    or stats.messages >= m.frequent_min_messages):
                continue
            for display, count in stats.names.items():
                folded = fold_name(display)
                if folded:
                    displays.setdefault(folded, Counter())[display] += count
                    on.setdefault(folded, Counter())[addr] += count
        return {folded: {"display": min(displays[folded].items(), key=lambda kv: (-kv[1],
                                                                                 kv[0]))[0],
                         "addresses": dict(sorted(on[folded].items()))}
                for folded in sorted(on)}

    def section(self, m: MailConfig, country_data: dict[str, str]) -> dict[str, Any]:
        """The ``mail`` section of the baselines document (docs/mail-checks.md)."""
        return {
            "messages": self.messages,
            "broken": self.broken,
            "domains": {d: s.to_json() for d, s in sorted(self.domains.items())},
            "domestic_domains": self.domestic_domains(m),
            "frequent_domains": self.frequent_domains(m),
            "names": self.names(m),
            "addresses": {a: s.to_json() for a, s in sorted(self.addresses.items())},
            "relays": self.relays(m),
            "relay_hops": {"messages": self.relay_messages,
                           "networks": {n: s.to_json()
                                        for n, s in sorted(self.relay_hops.items())}},
            "country_data": country_data,
            "params": {"frequent_min_messages": m.frequent_min_messages,
                       "domestic_country": m.domestic_country,
                       "internal_domains": list(m.internal_domains),
                       "relay_min_share": m.relay_min_share,
                       "relay_min_domains": m.relay_min_domains,
                       "relay_depth": RELAY_DEPTH,
                       "relay_rule": "network (IPv4 /24, IPv6 /48) of a public hop among the "
                                     f"newest {RELAY_DEPTH}, in >= relay_min_share of the "
                                     "messages with such a hop, from >= relay_min_domains "
                                     "sender domains"},
        }
