"""What one mail tells the spoofed-mail checks: :class:`MailFacts` and how to build it.

:func:`facts_from_message` builds the facts from raw bytes and the SMTP envelope;
:func:`from_facts` / :func:`parse_reply_to` / :func:`parse_hops` from header values (the
passive handler uses them on Suricata ``smtp`` events). The From header is read once, by
:func:`sakimori.mail.fromhdr.read_from` (strict and displayed, docs/mail-checks.md).
``Received`` hops are parsed by the learning code (:mod:`sakimori.mail.received`) so learned
and judged hops agree. Every value is capped before it is parsed; nothing here raises on
hostile input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

from sakimori.mail.features import MAX_HOPS, raw_headers
from sakimori.mail.fromhdr import read_from
from sakimori.mail.received import Hop, parse_received, unfold, verified_name

MAX_FIELD = 4096  # characters of one address header, HELO, hostname or address looked at


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What the checks look at (docs/mail-checks.md "Terms"). Strings may be hostile."""

    ip: str | None = None  # connecting IP (None: unknown)
    hostname: str | None = None  # verified PTR name the MTA saw (None/'unknown': none)
    helo: str | None = None
    user: str | None = None  # SMTP AUTH user (passive mode never knows it)
    envelope_from: str | None = None  # None: none; '': the null sender <>
    rcpt: tuple[str, ...] = ()
    from_name: str = ""  # decoded header-From display name
    from_addr: str = ""  # header-From address of the strict parse ('' when none)
    from_shown: str = ""  # the displayed From address (docs/mail-checks.md "Displayed From")
    from_others: tuple[str, ...] = ()  # other address-like text of the From header
    reply_to: str = ""  # first Reply-To address as written
    hops: tuple[Hop, ...] = ()  # Received, newest first


def text_value(value: Any, limit: int = MAX_FIELD) -> str:
    """A header value unfolded, capped and stripped ('' when not a string)."""
    return unfold(value, limit).strip() if isinstance(value, str) else ""


def _mailboxes(values: Iterable[str]) -> Iterator[tuple[str, str]]:
    for value in list(values)[:8]:
        try:
            yield from getaddresses([text_value(value)])
        except Exception:  # email.utils on hostile input: no mailbox in this value
            continue


def parse_from(values: Iterable[str]) -> tuple[str, str]:
    """(display name, strict address) of the From header value(s)."""
    view = read_from(values)
    return view.name, view.strict


def from_facts(values: Iterable[str]) -> dict[str, Any]:
    """The From fields of :class:`MailFacts` from the From header value(s)."""
    view = read_from(values)
    return {"from_name": view.name, "from_addr": view.strict, "from_shown": view.shown,
            "from_others": view.others}


def parse_reply_to(values: Iterable[str]) -> str:
    """The first Reply-To address ('' when none)."""
    return next((a.strip()[:320] for _n, a in _mailboxes(values) if a), "")


_verified_name = verified_name  # the one definition lives next to the Received parser


def parse_hops(values_newest_first: Iterable[str]) -> tuple[Hop, ...]:
    """Received header values (newest first) → hops (``ptr``: the verified name only);
    unparsable ones keep no IP."""
    return tuple(replace(h := parse_received(v), ptr=h.verified)
                 for v in list(values_newest_first)[:MAX_HOPS] if isinstance(v, str))


def facts_from_message(raw: bytes, *, ip: str | None = None, hostname: str | None = None,
                       helo: str | None = None, user: str | None = None,
                       envelope_from: str | None = None, rcpt: Iterable[str] = ()
                       ) -> MailFacts:
    """:class:`MailFacts` from a raw message and its SMTP envelope (never raises)."""
    try:
        heads = raw_headers(message_from_bytes(raw, policy=compat32))
    except Exception:  # the stdlib parser on garbage: a mail without headers
        heads = {}
    return MailFacts(ip=ip, hostname=hostname, helo=helo, user=user,
                     envelope_from=envelope_from, rcpt=tuple(rcpt),
                     **from_facts(heads.get("from", [])),
                     reply_to=parse_reply_to(heads.get("reply-to", [])),
                     hops=parse_hops(heads.get("received", [])))
