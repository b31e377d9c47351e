"""Load Tor relay addresses from the sources in ``cfg.anonymizer.tor_relays``.

A source is a file path or an ``http(s)://`` URL (fetched with ``requests``). Its content is
either a plain list — one address per line, ``#`` comments, ``ip``, ``ip:port`` or
``[ipv6]:port`` — or Onionoo ``details`` JSON (``relays[].or_addresses``). Addresses are
de-duplicated and split by family; invalid lines are skipped with a ``file:line`` warning.
Clients reach relays on their ORPorts, so relay (guard/middle) addresses are what matters for an
internal client, not the exit list.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sakimori.errors import InputError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 20
MAX_WARNINGS = 5


@dataclass
class RelaySet:
    """Relay addresses by family, plus where they came from."""

    ipv4: set[ipaddress.IPv4Address] = field(default_factory=set)
    ipv6: set[ipaddress.IPv6Address] = field(default_factory=set)
    sources: list[dict[str, object]] = field(default_factory=list)
    skipped: int = 0

    def add(self, text: str) -> bool:
        addr = _address(text)
        if addr is None:
            return False
        if isinstance(addr, ipaddress.IPv4Address):
            self.ipv4.add(addr)
        else:
            self.ipv6.add(addr)
        return True

    def sorted_ipv4(self) -> list[str]:
        return [str(a) for a in sorted(self.ipv4)]

    def sorted_ipv6(self) -> list[str]:
        return [str(a) for a in sorted(self.ipv6)]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from ``ip``, ``ip:port``, ``[v6]:port`` or a single-host CIDR; else None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None
    if net.num_addresses != 1:
        return None
    return net.network_address


def _fetch(url: str) -> str:
    try:
        resp = requests.get(url, timeout=FETCH_TIMEOUT_S,
                            headers={"User-Agent": "sakimori-generate"})
        resp.raise_for_status()
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            reason = f"HTTP {exc.response.status_code}"
        raise InputError(url, None, f"cannot fetch Tor relay list ({reason}); offline? use a "
                                    "local list file in anonymizer.tor_relays") from exc
    return resp.text


def _parse_onionoo(source: str, text: str, relays: RelaySet) -> int:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, exc.lineno, f"Tor relay list is not valid JSON: {exc.msg}") \
            from exc
    entries = doc.get("relays") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(source, None, "Onionoo JSON without a 'relays' list")
    added = 0
    for relay in entries:
        addrs = relay.get("or_addresses") if isinstance(relay, dict) else None
        for text_addr in addrs if isinstance(addrs, list) else []:
            if isinstance(text_addr, str) and relays.add(text_addr):
                added += 1
            else:
                relays.skipped += 1
    return added


def _parse_lines(source: str, text: str, relays: RelaySet) -> int:
    added = warned = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if relays.add(line.split()[0]):
            added += 1
            continue
        relays.skipped += 1
        if warned < MAX_WARNINGS:
            log.warning("%s:%d: not a relay address, skipped: %r", source, lineno, line[:60])
            warned += 1
    return added


def load_relays(sources: tuple[str, ...] | list[str]) -> RelaySet:
    """Read every source in order; InputError (one line) when one cannot be read."""
    relays = RelaySet()
    for source in sources:
        if source.startswith(("http://", "https://")):
            text = _fetch(source)
        else:
            try:
                text = Path(source).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise InputError(source, None,
                                 f"cannot read Tor relay list: {exc.strerror or exc}") from exc
        if text.lstrip().startswith("{"):
            added, form = _parse_onionoo(source, text, relays), "onionoo"
        else:
            added, form = _parse_lines(source, text, relays), "list"
        relays.sources.append({"source": source, "format": form, "addresses": added})
    return relays
