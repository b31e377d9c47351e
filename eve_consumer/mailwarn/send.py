"""Sending the warnings waiting in the outbox: compose, SMTP, ``mail_warnings.jsonl``.

:meth:`WarningSender.drain` takes the oldest pending warnings (at most
``MAX_MAILS_PER_ROUND`` per round), composes each (:func:`sakimori.mail.warnings.compose`),
sends it with the consumer's own SMTP code (:func:`eve_consumer.outputs.mail.smtp_send`)
straight to ``alerts.smtp`` — never through Rspamd, so a warning cannot loop — and appends one
record per warning to ``OUT_DIR/mail_warnings.jsonl``.

- With ``--no-mail``, ``alerts.enabled: false``, nobody to tell, or a mail class not in
  ``mail_classes.warn_classes`` (default: only ``targeted`` mail is warned about; a
  ``mass_virus`` mail is reported, not mailed), the warning is recorded in the JSONL
  (``mailed: false`` and why) and marked ``skipped``: still once per message.
- An SMTP failure is one logged line (``sakimori.mailwarn``), counted; the warning stays
  pending and the rest of the round is deferred, and no mail is tried for ``RELAY_PAUSE_S``
  (the relay is not hammered, however many flagged mails wake the sender). Each warning backs
  off on its own clock: retried after 30 s, 1, 2, 4 then every 5 minutes; it is given up
  (``failed``, logged, a JSONL record with the reason) only when ``GIVE_UP_S`` (20 minutes)
  have passed since its first failure — never by a count of wake-ups. When the relay accepts
  a mail again, every waiting warning is due at once. ``consume --resend-failed`` re-queues
  given-up warnings.
- Rate limit (:mod:`.ratelimit`): ``alerts.max_per_minute`` warnings a minute overall and
  ``alerts.max_per_recipient_per_minute`` to any one address; a warning over the limit stays
  pending (counted as ``rate_limited``) and leaves when the window allows.
- Recipients the relay refuses while accepting others are named in the JSONL record.

Times come from ``clock`` (``time.time``; tests pass their own to play an outage).
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.mailwarn.outbox import Outbox
from eve_consumer.mailwarn.ratelimit import RateLimiter
from eve_consumer.outputs.mail import smtp_send
from sakimori.config import Config
from sakimori.mail.features import decode_words
from sakimori.mail.warnings import FlaggedMail, compose, warning_recipients
from sakimori.textsafe import clean

log = logging.getLogger("sakimori.mailwarn")
MAX_MAILS_PER_ROUND = 50
JSONL = "mail_warnings.jsonl"
RETRY_FIRST_S = 30.0  # a warning's first retry; doubled per failure up to RETRY_MAX_S
RETRY_MAX_S = 300.0
RELAY_PAUSE_S = 30.0  # after any SMTP failure, nothing is tried for this long
GIVE_UP_S = 1200.0  # a warning is given up this long after its first failed attempt


def retry_delay(attempts: int) -> float:
    """Back-off after the *attempts*-th failure: 30 s, 60 s, 120 s, 240 s, then 300 s."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, min(attempts - 1, 16)))


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
        "action": clean(mail.action, 40), "class": mail.mail_class or None,
        "class_reasons": [clean(r, 300) for r in mail.class_reasons[:10]],
        "malware": [clean(m, 200) for m in mail.malware[:20]],
        "warned": recipients, "mailed": mailed,
        "reason": reason, "refused": refused or [], "warning_message_id": warning_id,
    }


class WarningSender:
    """Drains the outbox; thread-safe (one drain at a time)."""

    def __init__(self, cfg: Config, outbox: Outbox, out_dir: Path, mail: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.out_dir = Path(out_dir)
        self.mail_enabled = mail
        self.clock = clock or (lambda: time.time())  # looked up per call
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.limiter = RateLimiter(cfg.alerts.max_per_minute,
                                   cfg.alerts.max_per_recipient_per_minute)
        self.paused_until = 0.0  # the relay failed: nothing is tried before this time
        self._limited: set[str] = set()  # keys delayed by the rate limit (counted once)
        self._relay_down = False

    def skip_reason(self, recipients: list[str], mail: FlaggedMail | None = None) -> str | None:
        if not self.mail_enabled:
            return "--no-mail"
        if not self.cfg.alerts.enabled:
            return "alerts.enabled is false"
        if mail is not None and mail.mail_class and \
                mail.mail_class not in self.cfg.mail_classes.warn_classes:
            return f"class {mail.mail_class} is not in mail_classes.warn_classes"
        return None if recipients else "no recipients (alerts.admins is empty)"

    def drain(self, limit: int = MAX_MAILS_PER_ROUND) -> tuple[int, bool]:
        """Handle up to *limit* due warnings: (how many were taken, round completed?) — an
        SMTP failure, the relay pause or the rate limit leave work for later (False)."""
        with self.lock:
            now = self.clock()
            if now < self.paused_until:
                return 0, False
            batch = self.outbox.pending(limit, now)
            completed = True
            for i, (key, mail, _attempts) in enumerate(batch):
                outcome = self._one(key, mail)
                if outcome == "limited":
                    completed = False
                elif outcome == "failed":
                    self.stats["deferred"] += len(batch) - i - 1
                    return len(batch), False
            return len(batch), completed

    def wait_hint(self) -> float | None:
        """Seconds until something may be sendable (None: nothing pending)."""
        now = self.clock()
        due = self.outbox.next_due()
        if due is None:
            return None
        return max(due - now, self.paused_until - now, self.limiter.next_free(now), 0.0)

    def _one(self, key: str, mail: FlaggedMail) -> str:
        recipients = warning_recipients(self.cfg, mail)
        reason = self.skip_reason(recipients, mail)
        if reason:
            self._write(record(key, mail, recipients, mailed=False, reason=reason))
            self.outbox.finish(key, "skipped", reason, self.clock())
            self.stats["skipped"] += 1
            return "done"
        if not self.limiter.allow(recipients, self.clock()):
            if key not in self._limited:
                self._limited.add(key)
                self.stats["rate_limited"] += 1
            return "limited"
        msg = compose(self.cfg, mail)
        try:
            refused = smtp_send(self.cfg.alerts, msg, recipients)
        except (OSError, smtplib.SMTPException) as exc:
            self._failed(key, mail, clean(str(exc) or type(exc).__name__, 200))
            return "failed"
        now = self.clock()
        self.limiter.record(recipients, now)
        self._limited.discard(key)
        self._write(record(key, mail, recipients, mailed=True, refused=sorted(refused),
                           warning_id=str(msg["Message-ID"])))
        self.outbox.finish(key, "sent", None, now)
        self.stats["sent"] += 1
        if self._relay_down:  # the relay is back: whatever waits on its back-off is due now
            self._relay_down = False
            self.outbox.release()
        return "done"

    def _failed(self, key: str, mail: FlaggedMail, detail: str) -> None:
        alerts, now = self.cfg.alerts, self.clock()
        self.stats["failed"] += 1
        self._relay_down = True
        self.paused_until = now + RELAY_PAUSE_S
        attempts, first = self.outbox.failed_attempt(key, detail, now, retry_delay)
        if now - first >= GIVE_UP_S:
            reason = (f"given up after {attempts} SMTP attempt(s) over "
                      f"{(now - first) / 60:.0f} min: {detail}")
            self.outbox.finish(key, "failed", detail, now)
            self._write(record(key, mail, warning_recipients(self.cfg, mail), mailed=False,
                               reason=reason))
            self.stats["given_up"] += 1
            log.error("warning %s %s (re-send: sakimori consume --resend-failed)",
                      clean(key, 80), reason)
            return
        log.error("warning mail via %s:%s failed: %s (kept, retried later)",
                  alerts.smtp_host, alerts.smtp_port, detail)

    def _write(self, rec: dict[str, Any]) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with (self.out_dir / JSONL).open("ab") as fh:
                fh.write(orjson.dumps(rec) + b"\n")
        except OSError as exc:
            self.stats["jsonl_errors"] += 1
            log.error("%s: cannot write the warning record: %s", self.out_dir / JSONL,
                      exc.strerror or exc)
