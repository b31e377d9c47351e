"""``mail_spoof``: the spoofed-mail checks in passive mode, on Suricata ``smtp`` EVE events.

A sensor in front of the MTA sees each SMTP transaction; Suricata logs it as an ``smtp`` event
(``smtp.helo``, ``smtp.mail_from``, ``smtp.rcpt_to[]`` and, with the ``custom`` email fields,
``email.from`` — the raw header value — ``email.reply_to``, ``email.subject``,
``email.message_id``, ``email.date``, ``email.received[]`` bottom-most first). The flow's
``src_ip`` is the connecting IP; passive mode never knows the PTR name or SMTP AUTH.

:func:`facts_from_eve` turns one event into :class:`~sakimori.mail.facts.MailFacts` (Received
reversed to newest first, header values parsed with the stdlib), the checks of
:func:`~sakimori.mail.checks.run_checks` run with the baselines' ``mail`` section, and each
flagged mail goes to ``self.sink`` — the consumer's mail-warning path
(:mod:`eve_consumer.mailwarn`: dedupe, SMTP, ``mail_warnings.jsonl``). Without a sink the
flagged mails wait in ``pending`` (bounded). Events without an ``email`` object (a second
transaction that only repeats the HELO) are counted and passed over. This handler reports no
host findings: spoofed mail is about a message, not an internal host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eve_consumer.context import Context
from eve_consumer.handlers import Handler, register
from sakimori.eve.decode import Event
from sakimori.mail.checks import run_checks
from sakimori.mail.facts import MailFacts, from_facts, parse_hops, parse_reply_to
from sakimori.mail.features import MAX_HOPS
from sakimori.mail.warnings import FlaggedMail, cap

MAX_PENDING = 1000
MAX_RCPT = 1000


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strs(value: Any, limit: int = MAX_RCPT) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    return [v for v in value[:limit] if isinstance(v, str)]


def _unbracket(addr: str) -> str:
    return addr.strip()[:1024].strip("<>").strip()


def facts_from_eve(record: dict[str, Any]) -> MailFacts:
    """Facts of one ``smtp`` EVE record (any field may be missing or of the wrong type)."""
    smtp = record.get("smtp")
    smtp = smtp if isinstance(smtp, dict) else {}
    mail = record.get("email")
    mail = mail if isinstance(mail, dict) else {}
    mail_from = smtp.get("mail_from")
    return MailFacts(
        ip=_str(record.get("src_ip")) or None,
        helo=_str(smtp.get("helo")) or None,
        envelope_from=_unbracket(mail_from) if isinstance(mail_from, str) else None,
        rcpt=tuple(_unbracket(r) for r in _strs(smtp.get("rcpt_to"))),
        **from_facts(_strs(mail.get("from"), 4)),
        reply_to=parse_reply_to(_strs(mail.get("reply_to"), 4)),
        hops=parse_hops(reversed(_strs(_newest(mail.get("received"))))))


def _newest(received: Any) -> Any:
    """The newest MAX_HOPS entries of ``email.received`` (Suricata lists bottom-most first)."""
    return received[-MAX_HOPS:] if isinstance(received, list) else received


def flagged_from_eve(record: dict[str, Any], facts: MailFacts, hits: list) -> FlaggedMail:
    """The flagged mail as the warning path needs it (values capped, still hostile)."""
    mail = record.get("email")
    mail = mail if isinstance(mail, dict) else {}
    first = (_strs(mail.get("from"), 1) or [""])[0]
    return FlaggedMail(
        source="suricata", hits=tuple(hits), header_from=cap(first),
        envelope_from=cap(facts.envelope_from or ""),
        recipients=tuple(cap(r, 320) for r in facts.rcpt),
        subject=cap(_str(mail.get("subject"))), date=cap(_str(mail.get("date")), 200),
        message_id=cap(_str(mail.get("message_id")), 998), ip=cap(facts.ip or "", 64),
        extra={"timestamp": cap(_str(record.get("timestamp")), 64),
               "flow_id": record.get("flow_id") if type(record.get("flow_id")) is int
               else None})


@register
class MailSpoofHandler(Handler):
    name = "mail_spoof"
    detections = ()
    kinds = ("smtp",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.mail_baseline: dict[str, Any] = {}
        self.sink: Callable[[FlaggedMail], None] | None = None
        self.pending: list[FlaggedMail] = []

    def handle(self, ev: Event) -> None:
        rec = ev.record if ev.record is not None else {}
        counters = self.ctx.counters
        if not isinstance(rec.get("email"), dict):
            counters["mail_smtp_without_email"] += 1
            return
        counters["mail_smtp_judged"] += 1
        facts = facts_from_eve(rec)
        hits = run_checks(facts, self.ctx.cfg, self.mail_baseline)
        if not hits:
            return
        counters["mail_flagged"] += 1
        flagged = flagged_from_eve(rec, facts, hits)
        if self.sink is not None:
            self.sink(flagged)
        elif len(self.pending) < MAX_PENDING:
            self.pending.append(flagged)
        else:
            counters["mail_flagged_dropped"] += 1
