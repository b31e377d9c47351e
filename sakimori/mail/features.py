"""Per-message features for mail learning, in the terms of docs/mail-checks.md.

:func:`extract` turns the parsed headers of one message into :class:`MailFeatures`: header
From (address, display name), envelope From (``Return-Path``), Reply-To, To/Cc names, the
Received hops (newest first, :mod:`sakimori.mail.received`), the external sender and the
external chain relative to the trusted addresses, its infrastructure keys and countries, and
the date.

Header values may be hostile: they are read raw (never through the ``policy.default`` header
classes, which are slow and can raise), 8-bit bytes decoded as UTF-8 with replacement, RFC
2047 words decoded where possible, control characters and CR/LF removed, lengths capped.
:func:`extract` never raises on message content.

The external sender is found by :meth:`sakimori.mail.relays.Trust.external` — the one trust
boundary, shared with the passive checks (re-exported here as :class:`Trust`). Stored mail has
no SMTP session, so "authenticated" is read from the external sender's hop: that header was
written by one of our own relays, and an authenticated protocol there (``ESMTPA``,
``ESMTPSA``, ``LMTPA``…) means the session was authenticated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

# fromhdr imports this module: use its functions as attributes at call time
from sakimori.mail import country, fromhdr
from sakimori.mail.norm import infrastructure_keys, network_key, normalise_address
from sakimori.mail.received import Hop, clean_ip, parse_received, unfold
from sakimori.mail.relays import OWN, Trust

MAX_HOPS = 64  # Received headers looked at per message
MAX_ADDRESS_HEADER = 4096  # characters of an address header parsed
MAX_NAME = 200  # characters of a display name kept
MAX_RECIPIENTS = 100


@dataclass(frozen=True, slots=True)
class MailFeatures:
    """What learning (and the test-set tooling) needs from one message."""

    from_addr: str
    from_name: str
    envelope_from: str
    reply_to: str
    recipients: tuple[tuple[str, str], ...]  # (display name, address) of To and Cc
    hops: tuple[Hop, ...]
    sender_ip: str  # external sender ('' when the mail is internal)
    sender_host: str
    chain: tuple[str, ...]  # external chain, sender first
    countries: tuple[str | None, ...]  # country per chain IP (None: unknown)
    infra: tuple[str, ...]
    authenticated: bool
    date: float | None
    message_id: str

    @property
    def from_domain(self) -> str:
        return self.from_addr.rpartition("@")[2]

    @property
    def envelope_domain(self) -> str:
        return self.envelope_from.rpartition("@")[2]

    @property
    def sender_domain(self) -> str:
        """Header-From domain, else envelope-From domain (docs/mail-checks.md)."""
        return self.from_domain or self.envelope_domain

    @property
    def external(self) -> bool:
        return bool(self.sender_ip)


# --- raw header access ---------------------------------------------------------------------

WANTED = frozenset({"received", "from", "reply-to", "to", "cc", "return-path", "date",
                    "message-id"})


def raw_headers(msg: Message) -> dict[str, list[str]]:
    """The headers features need, by lower-case name, raw, 8-bit bytes decoded as UTF-8."""
    out: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        name = str(key).lower()
        if name not in WANTED:
            continue
        text = str(value)
        if not text.isascii():
            try:
                text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
            except UnicodeError:
                text = text.encode("utf-8", "replace").decode("utf-8", "replace")
        out.setdefault(name, []).append(text)
    return out


def clean_text(text: str, limit: int = MAX_NAME) -> str:
    """Printable one-line text: control characters (CR/LF included) dropped, spaces collapsed."""
    kept = "".join(ch if ch.isprintable() else " " for ch in text[: limit * 4])
    return " ".join(kept.split())[:limit]


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded (also inside quotes); the input when that fails."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # HeaderParseError, LookupError, UnicodeError…: keep the raw text
        return text


_SIMPLE = re.compile(r'^(?:"([^"\\]*)"|([^"<>,;:()\\@\[\]]*?))\s*<([^<>\s,;:()"\\]+)>$'
                     r'|^([^<>\s,;:()"\\]+)$')


@functools.lru_cache(maxsize=16384)
def _parse_field(text: str) -> tuple[tuple[str, str], ...]:
    """(clean display name, normalised address) pairs of one unfolded address field."""
    simple = _SIMPLE.match(text)
    if simple:  # one plain address: same result as getaddresses, far cheaper
        name = simple.group(1) or simple.group(2) or ""
        pairs = [(name.strip(), simple.group(3) or simple.group(4))]
    else:
        try:
            pairs = getaddresses([text])
        except Exception:  # hostile input must not stop learning
            return ()
    out = []
    for name, addr in pairs:
        address = normalise_address(addr)
        if address:
            out.append((clean_text(decode_words(name)), address))
    return tuple(out)


def addresses(values: Iterable[str], limit: int = MAX_RECIPIENTS) -> list[tuple[str, str]]:
    """(clean display name, normalised address) pairs; unusable addresses are dropped."""
    out: list[tuple[str, str]] = []
    for value in values:
        out.extend(_parse_field(unfold(value, MAX_ADDRESS_HEADER).strip()))
        if len(out) >= limit:
            return out[:limit]
    return out


def _envelope(heads: dict[str, list[str]]) -> str:
    for value in heads.get("return-path", [])[:1]:
        text = unfold(value, 512)
        inner = text[text.find("<") + 1:text.rfind(">")] if "<" in text else text
        return normalise_address(inner)
    return ""


def _date(heads: dict[str, list[str]], hops: tuple[Hop, ...]) -> float | None:
    """Delivery time (newest Received with a time), else the Date header."""
    for hop in hops:
        if hop.ts is not None:
            return hop.ts
    for value in heads.get("date", [])[:1]:
        try:
            return parsedate_to_datetime(unfold(value, 256)).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return None


def receiving_networks(hops: tuple[Hop, ...], trust: Trust, depth: int) -> set[str]:
    """Networks (IPv4 /24, IPv6 /48) of the public, not-own hop addresses among the newest
    *depth* hops with an IP: the candidates for learned relays (generator/mail/state.py)."""
    out: set[str] = set()
    for hop in [h for h in hops if h.ip][:depth]:
        if trust.address(hop.ip) != OWN:  # own includes every non-public address
            out.add(network_key(hop.ip)[4:])
    return out


def rejudge(f: MailFeatures, trust: Trust) -> MailFeatures:
    """*f* with its external sender, chain, countries and infrastructure found again under
    *trust* (learning does this once the relays of the same input are known)."""
    ext = trust.external(f.hops)
    return replace(f, sender_ip=ext.ip, sender_host=ext.host, chain=ext.chain,
                   countries=tuple(country.lookup(i) for i in ext.chain),
                   infra=tuple(infrastructure_keys(ext.ip, ext.host)) if ext.ip else (),
                   authenticated=ext.authenticated)


def extract(msg: Message, trust: Trust, connect_ip: str = "",
            connect_host: str = "") -> MailFeatures:
    """Features of one message (see the module docstring). Never raises on content."""
    heads = raw_headers(msg)
    hops = tuple(parse_received(v) for v in heads.get("received", [])[:MAX_HOPS])
    view = fromhdr.read_from(heads.get("from", []))  # the From as judged (mail-checks.md)
    name, addr = view.name, normalise_address(view.shown or view.strict)
    reply = addresses(heads.get("reply-to", []), limit=1)
    ext = trust.external(hops, clean_ip(connect_ip) if connect_ip else "", connect_host)
    ip, host, chain = ext.ip, ext.host, ext.chain
    message_id = clean_text(unfold((heads.get("message-id") or [""])[0], 998), 998)
    return MailFeatures(
        from_addr=addr, from_name=name, envelope_from=_envelope(heads),
        reply_to=reply[0][1] if reply else "",
        recipients=tuple(addresses(heads.get("to", []) + heads.get("cc", []))),
        hops=hops, sender_ip=ip, sender_host=host, chain=chain,
        countries=tuple(country.lookup(i) for i in chain),
        infra=tuple(infrastructure_keys(ip, host)) if ip else (),
        authenticated=ext.authenticated, date=_date(heads, hops), message_id=message_id)
