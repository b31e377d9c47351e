"""Destination whitelist with explicit, documented semantics.

Entry forms (case-insensitive; a trailing dot on a name is ignored):

- ``host.example.com`` — exactly that host name, nothing else.
- ``*.example.com``   — every subdomain of example.com at any depth (``a.example.com``,
  ``a.b.example.com``) but **not** ``example.com`` itself.
- ``.example.com``    — the apex ``example.com`` **and** every subdomain (Squid ``dstdomain``
  style).
- ``203.0.113.7`` / ``203.0.113.0/24`` / ``2001:db8::/32`` — an address or CIDR block.

Refused everywhere (:func:`entry_problem`, the one validator of ``whitelist.destinations``, the
whitelist file and the admin screen's editor), because each would blind the sensor: anything
that is not plainly one of these forms (an IPv6 zone id ``fe80::%...`` parses in Python and
would land verbatim in every generated rule); a public suffix or TLD in any form (``com``,
``.com``, ``*.co.jp``, ``*.github.io`` — tldextract's bundled Public Suffix List, ICANN and
private sections); a network wider than ``whitelist.min_prefix_v4`` / ``_v6`` (default /16 and
/32; netmask forms such as ``1.2.3.4/0.0.0.0`` count by their prefix); a network overlapping
``networks.home``.

A destination is whitelisted when its IP is in a listed block, or its name (HTTP Host, TLS SNI,
or a DNS name seen resolving to the IP) matches a name entry. The same object drives the
generated Suricata rules and the consumer, so both apply one meaning.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sakimori.config_keys import default

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_IP_CHARS = re.compile(r"^[0-9a-f:./]+$")
_PROBE = "sakimori-probe"  # a label under a wildcard/apex base: is *that* a public suffix?
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EntryPolicy:
    """What a whitelist entry may cover beyond its form: the narrowest allowed prefix per IP
    version (``whitelist.min_prefix_v4`` / ``_v6``) and the home networks it must not touch
    (``networks.home``). :data:`NO_LIMITS` checks the form only."""

    min_prefix_v4: int = default("whitelist.min_prefix_v4")
    min_prefix_v6: int = default("whitelist.min_prefix_v6")
    home: tuple[IPNetwork, ...] = ()


DEFAULT_POLICY = EntryPolicy()
NO_LIMITS = EntryPolicy(0, 0, ())


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


@lru_cache(maxsize=1)
def _suffix_list() -> Any:
    """tldextract's bundled Public Suffix List snapshot, ICANN *and* private sections (never
    fetched): names under ``github.io`` or ``cloudfront.net`` are anyone's to register."""
    import tldextract  # local import: loading the list costs time only when names are checked

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                 include_psl_private_domains=True)


def is_public_suffix(name: str) -> bool:
    """True when *name* is itself a public suffix (``com``, ``co.jp``, ``github.io``)."""
    parts = _suffix_list()(name)
    return bool(parts.suffix) and not parts.domain


def parse_network(text: str) -> IPNetwork | None:
    """*text* as a plain address or network, or None. Only the characters of an address and a
    prefix (or netmask) are accepted, so an IPv6 zone id (``fe80::%...``), which Python
    accepts and would render verbatim into rules, is refused."""
    if not _IP_CHARS.match(text):
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.scope_id:
        return None
    return net


def _ipv4_mapped(net: IPNetwork) -> ipaddress.IPv4Network | None:
    """The IPv4 part of an IPv4-mapped IPv6 network (``::ffff:10.1.0.0/112``), else None."""
    if net.version != 6 or net.prefixlen < 96:
        return None
    v4 = net.network_address.ipv4_mapped  # type: ignore[union-attr]
    return None if v4 is None else ipaddress.ip_network(f"{v4}/{net.prefixlen - 96}",
                                                        strict=False)


def _network_problem(entry: str, net: IPNetwork, policy: EntryPolicy) -> str | None:
    minimum, key = ((policy.min_prefix_v4, "whitelist.min_prefix_v4") if net.version == 4
                    else (policy.min_prefix_v6, "whitelist.min_prefix_v6"))
    if net.prefixlen < minimum:
        return (f"whitelist entry {entry!r} is a /{net.prefixlen} network: wider than the "
                f"minimum /{minimum} ({key})")
    mapped = _ipv4_mapped(net)
    for home in policy.home:
        for candidate in (net, mapped):
            if candidate is not None and home.version == candidate.version \
                    and candidate.overlaps(home):  # type: ignore[arg-type]
                return f"whitelist entry {entry!r} overlaps networks.home {home}"
    return None


def _name_problem(entry: str, text: str) -> str | None:
    wild, apex = text.startswith("*."), text.startswith(".")
    name = text[2:] if wild else text[1:] if apex else text
    if "*" in name:
        return f"wildcard only allowed as a leading '*.': {entry!r}"
    if not _valid_name(name):
        return f"not a host name, wildcard, apex or CIDR: {entry!r}"
    if is_public_suffix(name) or ((wild or apex) and is_public_suffix(f"{_PROBE}.{name}")):
        return (f"whitelist entry {entry!r} is a public suffix or TLD (anyone can register "
                f"names under {name!r}); list the organisation's own domain instead")
    return None


def entry_problem(entry: str, policy: EntryPolicy = DEFAULT_POLICY) -> str | None:
    """Why *entry* may not be whitelisted, or None: the one validator of
    ``whitelist.destinations``, the whitelist file and the admin screen's editor.

    Refused: anything that is not a plain address/network or host name form (see the module
    docstring), public suffixes and TLDs in any form, networks wider than the policy's
    minimum prefix and networks overlapping the home networks."""
    text = entry.strip().lower().rstrip(".")
    if not text:
        return "empty entry"
    if not entry.strip(" \t\r\n").isascii():  # e.g. U+212A KELVIN SIGN lower-cases to "k"
        return f"not a host name, wildcard, apex or CIDR (non-ASCII): {entry!r}"
    net = parse_network(text)
    if net is not None:
        return _network_problem(entry, net, policy)
    if any(ch in text for ch in ":/%[]") and "*" not in text:
        return f"not a plain address or network: {entry!r}"
    return _name_problem(entry, text)


@dataclass(frozen=True)
class Whitelist:
    """Parsed whitelist; build with :meth:`from_entries`."""

    exact: frozenset[str] = frozenset()
    subdomain_of: frozenset[str] = frozenset()  # "*.x" -> "x"
    apex_and_subdomains: frozenset[str] = frozenset()  # ".x" -> "x"
    networks: tuple[IPNetwork, ...] = field(default=())

    entry_problem = staticmethod(entry_problem)

    @classmethod
    def from_entries(cls, entries: Iterable[str], policy: EntryPolicy = NO_LIMITS) -> Whitelist:
        """Parse *entries*; ValueError names the first refused one (see :func:`entry_problem`;
        the default policy checks the form and public suffixes only)."""
        exact: set[str] = set()
        sub: set[str] = set()
        apex: set[str] = set()
        nets = []
        for entry in entries:
            problem = entry_problem(entry, policy)
            if problem:
                raise ValueError(problem)
            text = entry.strip().lower().rstrip(".")
            net = parse_network(text)
            if net is not None:
                nets.append(net)
                continue
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
