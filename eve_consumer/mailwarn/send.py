"""Sending the warnings waiting in the outbox: compose, SMTP, ``mail_warnings.jsonl``.

:meth:`WarningSender.drain` takes the oldest pending warnings (at most
``MAX_MAILS_PER_ROUND`` per round), composes each (:func:`sakimori.mail.warnings.compose`),
sends it with the consumer's own SMTP code (:func:`eve_consumer.outputs.mail.smtp_send`)
straight to ``alerts.smtp`` — never through Rspamd, so a warning cannot loop — and appends one
record per warning to ``OUT_DIR/mail_warnings.jsonl``.

- With ``--no-mail``, ``alerts.enabled: false`` or nobody to tell, the warning is recorded in
  the JSONL (``mailed: false`` and why) and marked ``skipped``: still once per message.
- An SMTP failure is one logged line (``sakimori.mailwarn``), counted; the warning stays
  pending and the rest of the round is deferred (the relay is not hammered). It is retried by
  the next drain; after ``MAX_ATTEMPTS`` it is given up (``failed``, logged).
- Recipients the relay refuses while accepting others are named in the JSONL record.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.mailwarn.outbox import MAX_ATTEMPTS, Outbox
from eve_consumer.outputs import clean
from eve_consumer.outputs.mail import smtp_send
from generator.mail.features import decode_words
from sakimori.config import Config
from sakimori.mail.warnings import FlaggedMail, compose, warning_recipients

log = logging.getLogger("sakimori.mailwarn")
MAX_MAILS_PER_ROUND = 50
JSONL = "mail_warnings.jsonl"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(key: str, mail: FlaggedMail, recipients: list[str], *, mailed: bool,
           reason: str | None = None, refused: list[str] | None = None,
           warning_id: str = "") -> dict[str, Any]:
    """The JSONL record of one warning; every value from the flagged mail escaped."""
    return {
        "time": _now(), "key": clean(key, 1100), "source": mail.source,
        "symbols": [h.symbol for h in mail.hits],
        "evidence": {h.symbol: [clean(o, 200) for o in h.options[:20]] for h in mail.hits},
        "related": [clean(r, 60) for r in mail.related[:10]],
        "message_id": clean(mail.message_id, 300), "header_from": clean(
            decode_words(mail.header_from), 300),
        "envelope_from": clean(mail.envelope_from, 300),
        "recipients": [clean(r, 200) for r in mail.recipients[:100]],
        "subject": clean(decode_words(mail.subject), 300), "date": clean(mail.date, 100),
        "ip": clean(mail.ip, 64), "queue_id": clean(mail.queue_id, 100),
        "score": mail.score if isinstance(mail.score, int | float) else None,
        "action": clean(mail.action, 40), "warned": recipients, "mailed": mailed,
        "reason": reason, "refused": refused or [], "warning_message_id": warning_id,
    }


class WarningSender:
    """Drains the outbox; thread-safe (one drain at a time)."""

    def __init__(self, cfg: Config, outbox: Outbox, out_dir: Path, mail: bool = True) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.out_dir = Path(out_dir)
        self.mail_enabled = mail
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()

    def skip_reason(self, recipients: list[str]) -> str | None:
        if not self.mail_enabled:
            return "--no-mail"
        if not self.cfg.alerts.enabled:
            return "alerts.enabled is false"
        return None if recipients else "no recipients (alerts.admins is empty)"

    def drain(self, limit: int = MAX_MAILS_PER_ROUND) -> tuple[int, bool]:
        """Handle up to *limit* pending warnings: (how many were taken, round completed?) —
        an SMTP failure ends the round early and defers the rest."""
        with self.lock:
            batch = self.outbox.pending(limit)
            for i, (key, mail, _attempts) in enumerate(batch):
                if not self._one(key, mail):
                    self.stats["deferred"] += len(batch) - i - 1
                    return len(batch), False
            return len(batch), True

    def _one(self, key: str, mail: FlaggedMail) -> bool:
        recipients = warning_recipients(self.cfg, mail)
        reason = self.skip_reason(recipients)
        if reason:
            self._write(record(key, mail, recipients, mailed=False, reason=reason))
            self.outbox.finish(key, "skipped", reason)
            self.stats["skipped"] += 1
            return True
        msg = compose(self.cfg, mail)
        try:
            refused = smtp_send(self.cfg.alerts, msg, recipients)
        except (OSError, smtplib.SMTPException) as exc:
            return self._failed(key, clean(str(exc) or type(exc).__name__, 200))
        self._write(record(key, mail, recipients, mailed=True, refused=sorted(refused),
                           warning_id=str(msg["Message-ID"])))
        self.outbox.finish(key, "sent")
        self.stats["sent"] += 1
        return True

    def _failed(self, key: str, detail: str) -> bool:
        alerts = self.cfg.alerts
        self.stats["failed"] += 1
        attempts = self.outbox.failed_attempt(key, detail)
        if attempts >= MAX_ATTEMPTS:
            self.outbox.finish(key, "failed", detail)
            log.error("warning %s given up after %d SMTP attempts: %s", clean(key, 80),
                      attempts, detail)
            return True
        log.error("warning mail via %s:%s failed: %s (kept, retried later)",
                  alerts.smtp_host, alerts.smtp_port, detail)
        return False

    def _write(self, rec: dict[str, Any]) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with (self.out_dir / JSONL).open("ab") as fh:
                fh.write(orjson.dumps(rec) + b"\n")
        except OSError as exc:
            self.stats["jsonl_errors"] += 1
            log.error("%s: cannot write the warning record: %s", self.out_dir / JSONL,
                      exc.strerror or exc)
