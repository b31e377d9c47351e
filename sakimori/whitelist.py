"""Destination whitelist with explicit, documented semantics.

Entry forms (case-insensitive; a trailing dot on a name is ignored):

- ``host.example.com`` — exactly that host name, nothing else.
- ``*.example.com``   — every subdomain of example.com at any depth (``a.example.com``,
  ``a.b.example.com``) but **not** ``example.com`` itself.
- ``.example.com``    — the apex ``example.com`` **and** every subdomain (Squid ``dstdomain``
  style).
- ``203.0.113.7`` / ``203.0.113.0/24`` / ``2001:db8::/32`` — an address or CIDR block.

A destination is whitelisted when its IP is in a listed block, or its name (HTTP Host, TLS SNI,
or a DNS name seen resolving to the IP) matches a name entry. The same object drives the
generated Suricata rules and the consumer, so both apply one meaning.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def normalise_host(name: str) -> str:
    """Lower-case, strip a trailing dot and a :port suffix from a host name."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and "]" in name:  # [v6]:port
        return name[1:name.index("]")]
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 1 and all(_LABEL.match(lb) for lb in labels)


@dataclass(frozen=True)
class Whitelist:
    """Parsed whitelist; build with :meth:`from_entries`."""

    exact: frozenset[str] = frozenset()
    subdomain_of: frozenset[str] = frozenset()  # "*.x" -> "x"
    apex_and_subdomains: frozenset[str] = frozenset()  # ".x" -> "x"
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())

    @staticmethod
    def entry_problem(entry: str) -> str | None:
        """Why *entry* is not a valid whitelist entry, or None when it is."""
        text = entry.strip().lower().rstrip(".")
        if not text:
            return "empty entry"
        try:
            ipaddress.ip_network(text, strict=False)
            return None
        except ValueError:
            pass
        name = text[2:] if text.startswith("*.") else text[1:] if text.startswith(".") else text
        if "*" in name:
            return f"wildcard only allowed as a leading '*.': {entry!r}"
        if not _valid_name(name):
            return f"not a host name, wildcard, apex or CIDR: {entry!r}"
        return None

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> Whitelist:
        exact: set[str] = set()
        sub: set[str] = set()
        apex: set[str] = set()
        nets = []
        for entry in entries:
            problem = cls.entry_problem(entry)
            if problem:
                raise ValueError(problem)
            text = entry.strip().lower().rstrip(".")
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            if text.startswith("*."):
                sub.add(text[2:])
            elif text.startswith("."):
                apex.add(text[1:])
            else:
                exact.add(text)
        return cls(frozenset(exact), frozenset(sub), frozenset(apex), tuple(nets))

    def __bool__(self) -> bool:
        return bool(self.exact or self.subdomain_of or self.apex_and_subdomains or self.networks)

    def matches_ip(self, ip: str | None) -> bool:
        if not ip or not self.networks:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def matches_host(self, host: str | None) -> bool:
        if not host:
            return False
        name = normalise_host(host)
        if name in self.exact or name in self.apex_and_subdomains:
            return True
        # walk the parent domains: a.b.example.com -> b.example.com -> example.com -> com
        rest = name
        while "." in rest:
            rest = rest.split(".", 1)[1]
            if rest in self.subdomain_of or rest in self.apex_and_subdomains:
                return True
        return False

    def matches(self, ip: str | None = None, host: str | None = None) -> bool:
        """True when the destination (by IP or by any known name) is whitelisted."""
        return self.matches_ip(ip) or self.matches_host(host)

    def host_suffixes(self) -> list[tuple[str, bool]]:
        """Name entries as (text, exact) pairs for rule rendering, sorted.

        ``exact=True`` means the whole buffer must equal *text*; otherwise the buffer must end
        with *text* (which then starts with a dot, so ``evil-example.com`` never matches).
        """
        items = {(h, True) for h in self.exact}
        items |= {("." + h, False) for h in self.subdomain_of}
        items |= {(h, True) for h in self.apex_and_subdomains}
        items |= {("." + h, False) for h in self.apex_and_subdomains}
        return sorted(items)
