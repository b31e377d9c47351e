"""The mail trust boundary: which hops of a message are ours, our mail provider's, or outside.

The one "trusted address" decision of the Python side (docs/mail-checks.md, "Trusted address"
and "External sender"); the Lua twin is ``trust``/``external`` in
``rspamd_lua/sakimori/checks.lua``. Both learning (:mod:`sakimori.mail.features`) and the
passive checks (:mod:`sakimori.mail.checks`) walk the ``Received`` chain through
:meth:`Trust.external`.

Two kinds of trust:

- **own** — ``networks.home``, the CIDR entries of ``networks.mail_relays``, and addresses
  that are not globally routable unicast (:func:`sakimori.mail.norm.is_public_ip`: private,
  reserved and multicast addresses — a Received line naming one is never the sender).
  Mail that never left own hops is internal.
- **relay** — our mail provider's shared infrastructure: the ranges of a preset
  (``microsoft365``, ``google_workspace``; data files ``relays_<name>.txt`` next to this
  module, dated, with their source), the learned relays of the baselines (``mail.relays``,
  unless ``networks.learned_mail_relays`` is false), and a hop whose **verified name** (the
  PTR name in parentheses, never the HELO) ends with a ``.suffix`` entry. A relay hop is
  believed (its Received line is true) but is nobody's own: other tenants of the same
  provider send through it too. So when the walk ends inside relay hops, the oldest relay hop
  is the external sender (never "internal mail"), and an authenticated protocol written by a
  relay does not authenticate the sender to us.

A name can only be trusted through a Received line written by a trusted hop: the walk goes
newest → oldest and stops at the first untrusted hop, so every line it reads was written by
our MTA or by a hop already trusted; a forged line below an untrusted hop is never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sakimori.config import Config
    from sakimori.mail.received import Hop

PRESETS = ("microsoft365", "google_workspace")
OWN, RELAY = "own", "relay"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DATA_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Preset:
    """One provider's published mail ranges, as shipped (``relays_<name>.txt``)."""

    name: str
    networks: tuple[IPNetwork, ...]
    source: str  # the header lines naming source, version and date


@cache
def preset(name: str) -> Preset:
    """The shipped ranges of preset *name* (ValueError for an unknown preset)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    path = _DATA_DIR / f"relays_{name}.txt"
    nets, header = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if text.startswith("#"):
            header.append(text.lstrip("# "))
        elif text:
            try:
                nets.append(ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a network: {text!r}") from exc
    return Preset(name, tuple(nets), "\n".join(header))


def parse_entry(entry: str) -> tuple[str, Any]:
    """One ``networks.mail_relays`` entry → ``("net", network)``, ``("preset", name)`` or
    ``("suffix", ".name.tld")``; ValueError with the reason when it is none of them."""
    text = entry.strip()
    name = text[7:] if text.lower().startswith("preset:") else text
    if name.lower() in PRESETS:
        return "preset", name.lower()
    if text.lower().startswith("preset:"):
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    if text.startswith("."):
        return "suffix", _suffix(text)
    try:
        return "net", ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"not an IP network, a preset ({', '.join(PRESETS)}) or a "
                         f"host-name suffix starting with '.': {text!r}") from None


def _suffix(text: str) -> str:
    from sakimori.mail.norm import registrable_domain
    from sakimori.mail.received import clean_hostname  # lazy: tldextract loads on use
    host = clean_hostname(text[1:])
    if not host or text[1:].rstrip(".").lower() != host:
        raise ValueError(f"not a host-name suffix: {text!r}")
    if not registrable_domain(host):
        raise ValueError(f"suffix {text!r} is a public suffix: it would trust anyone's "
                         f"host names (give at least the provider's own domain)")
    return "." + host


def learned_networks(mail: Mapping[str, Any] | None) -> tuple[IPNetwork, ...]:
    """The learned relays of a baselines ``mail`` section (``relays``: CIDR → record)."""
    relays = (mail or {}).get("relays") if isinstance(mail, Mapping) else None
    out = []
    for key in relays if isinstance(relays, Mapping) else ():
        try:
            out.append(ipaddress.ip_network(str(key), strict=False))
        except ValueError:
            continue
    return tuple(out)


@dataclass(frozen=True)
class External:
    """The external sender of one message (docs/mail-checks.md): '' ip = internal mail."""

    ip: str = ""
    host: str = ""  # its verified name ('' = none)
    chain: tuple[str, ...] = ()  # the external sender's IP and every older public hop IP
    authenticated: bool = False  # its hop's protocol, written by an own hop, is authenticated


class Trust:
    """The trust boundary of one config (+ learned relays of one baselines ``mail`` section)."""

    def __init__(self, cfg: Config, mail: Mapping[str, Any] | None = None) -> None:
        net = cfg.networks
        self.own: tuple[IPNetwork, ...] = (*net.mail_relays, *net.home)
        relay = [n for p in net.mail_relay_presets for n in preset(p).networks]
        if net.learned_mail_relays:
            relay.extend(learned_networks(mail))
        self.relay_nets: tuple[IPNetwork, ...] = tuple(relay)
        self.suffixes: tuple[str, ...] = tuple(net.mail_relay_suffixes)
        self._cache: dict[str, str] = {}
        from sakimori.mail.norm import is_public_ip  # lazy: norm loads tldextract
        self._public = is_public_ip

    def _by_address(self, ip: str) -> str:
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        if not self._public(ip):  # not an address, not routable, or multicast: never the
            kind = OWN  # external sender (learning's receiving_networks skips it too)
        else:
            addr = ipaddress.ip_address(ip)
            if any(addr in n for n in self.own):
                kind = OWN
            elif any(addr in n for n in self.relay_nets):
                kind = RELAY
            else:
                kind = ""
        if len(self._cache) > 65536:
            self._cache.clear()
        self._cache[ip] = kind
        return kind

    def address(self, ip: str, verified_name: str = "") -> str:
        """The one trust decision: ``own``, ``relay`` or '' (untrusted) for a hop's IP and
        its verified name (the PTR name a trusted writer recorded; never a HELO)."""
        kind = self._by_address(ip)
        if kind or not verified_name or not self.suffixes:
            return kind
        name = verified_name.lower().rstrip(".")
        return RELAY if any(name.endswith(s) for s in self.suffixes) else ""

    def is_trusted(self, ip: str) -> bool:
        """Own or relay by its address alone (no name known)."""
        return bool(self.address(ip))

    def external(self, hops: Iterable[Hop], connect_ip: str = "", connect_host: str = ""
                 ) -> External:
        """The external sender: the connecting IP when untrusted, else the first untrusted
        hop (newest → oldest); when the walk ends inside relay hops, the oldest of them."""
        hops = tuple(hops)
        last_relay: tuple[str, str, int] | None = None
        writer_own = True
        if connect_ip:
            kind = self.address(connect_ip, connect_host)
            if not kind:
                return _external(connect_ip, connect_host, hops, 0, False)
            if kind == RELAY:
                last_relay, writer_own = (connect_ip, connect_host, 0), False
        for i, hop in enumerate(hops):
            if not hop.ip:
                continue
            kind = self.address(hop.ip, hop.verified)
            if not kind:
                return _external(hop.ip, hop.ptr, hops, i + 1,
                                 hop.authenticated and writer_own)
            if kind == RELAY:
                last_relay, writer_own = (hop.ip, hop.ptr, i + 1), False
        if last_relay is not None:
            ip, host, older = last_relay
            return _external(ip, host, hops, older, False)
        return External()


def _external(ip: str, host: str, hops: tuple[Hop, ...], older: int, auth: bool
              ) -> External:
    from sakimori.mail.norm import is_public_ip
    chain = (ip, *(h.ip for h in hops[older:] if is_public_ip(h.ip)))
    return External(ip, host, chain, auth)
