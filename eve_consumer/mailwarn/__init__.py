"""Spoofed-mail warnings: receive flagged mail, warn once per message, record it.

Sources: Rspamd's ``metadata_exporter`` (HTTP receiver, :mod:`.receiver`, or a JSON-lines file,
:mod:`.rspamd_events`) and the passive checks on Suricata ``smtp`` events
(:mod:`eve_consumer.handlers.mail_spoof`). All go through :meth:`MailWarnings.submit` →
the outbox in the consumer's state store (:mod:`.outbox`: dedupe by Message-ID, else a hash)
→ :mod:`.send` (compose, SMTP straight to ``alerts.smtp``, ``OUT_DIR/mail_warnings.jsonl``).

Every mail is given its Table 1 class on arrival (:meth:`MailWarnings.classify`,
:mod:`sakimori.mail.classes`): the malware volume is counted over the mails this consumer
received within ``mail_classes.mass_window_hours`` (:mod:`.volume`, in the state store: it
survives a restart), so the first copies of a mass mailing may be ``targeted`` until the campaign
reaches ``mail_classes.mass_min_recipients`` recipients.

A mail that is sakimori's own warning (envelope sender ``alerts.sender`` arriving from a
trusted address) is never warned about: with the warnings sent around Rspamd this cannot
happen, the rule only stops a loop if the relay were misconfigured. Details:
docs/mail-warnings.md.

:class:`MailWarnings` is used one-shot (``submit`` …, then :meth:`~MailWarnings.drain`) or as a
service (:meth:`~MailWarnings.start`: a worker thread sends at once, and sleeps until the next
warning is due — its SMTP back-off, the relay pause or the rate limit — at most ``RETRY_S``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from eve_consumer.mailwarn.intake import Intake, journal_path, recover
from eve_consumer.mailwarn.outbox import Outbox
from eve_consumer.mailwarn.receiver import Receiver
from eve_consumer.mailwarn.rspamd_events import FileStats, read_events_file
from eve_consumer.mailwarn.send import MAX_MAILS_PER_ROUND, WarningSender
from eve_consumer.mailwarn.volume import VolumeStore
from sakimori.config import Config
from sakimori.listen_secret import read_secret
from sakimori.mail import norm
from sakimori.mail.classes import AV_SYMBOL, classify, volume_keys
from sakimori.mail.received import clean_ip
from sakimori.mail.relays import OWN, Trust
from sakimori.mail.warnings import FlaggedMail

RETRY_S = 60.0
SWITCH_INTERVAL_S = 0.0005
MAX_ROUNDS = 1000  # drain(): rounds of MAX_MAILS_PER_ROUND at most


class MailWarnings:
    """Outbox + sender (+ optional worker thread and HTTP receiver) of one consumer."""

    def __init__(self, cfg: Config, db_path: Path, out_dir: Path, mail: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        self.cfg = cfg
        self.trust = Trust(cfg)  # own_warning: the one "own address" decision
        self.clock = clock or (lambda: time.time())  # looked up per call
        self.outbox = Outbox(db_path)
        self.sender = WarningSender(cfg, self.outbox, out_dir, mail, clock)
        self.counts: Counter[str] = Counter()
        self.classes: Counter[str] = Counter()
        self._db_path = db_path
        self._volume: VolumeStore | None = None  # opened by the first mail (see volume)
        self.files: list[FileStats] = []
        self.receiver: Receiver | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed_counts: dict[str, Any] | None = None
        self.journal = journal_path(db_path)
        self.intake: Intake | None = None
        self._switch_interval: float | None = None  # the process' own, restored by close()
        self.recovered, _bad = recover(self.journal, self.submit)  # left by a crash

    @property
    def volume(self) -> VolumeStore:
        """The malware volume table, opened on first use: a consumer that receives no mail
        (most runs over EVE) does not open its SQLite connection."""
        if self._volume is None:
            self._volume = VolumeStore(self._db_path,
                                       self.cfg.mail_classes.mass_window_hours * 3600)
        return self._volume

    # --- intake ------------------------------------------------------------------------------
    def own_warning(self, mail: FlaggedMail) -> bool:
        """True for sakimori's own warning coming back (see the module docstring)."""
        sender = norm.normalise_address(self.cfg.alerts.sender)
        if not sender or norm.normalise_address(mail.envelope_from) != sender:
            return False
        ip = clean_ip(mail.ip)  # '' when not an address: not ours
        return bool(ip) and self.trust.address(ip) == OWN

    def classify(self, mail: FlaggedMail) -> FlaggedMail:
        """*mail* with its Table 1 class; its malware's recipients counted first."""
        symbols: dict[str, list[str]] = {h.symbol: list(h.options) for h in mail.hits}
        if mail.malware:
            symbols[AV_SYMBOL] = list(mail.malware)
        keys = volume_keys(symbols)
        now = self.clock()
        with self._lock:
            self.volume.add(keys, mail.recipients, now)
            volume = self.volume.volume(keys, now)
        result = classify(self.cfg.mail_classes, symbols, mail.action, volume, None)
        return replace(mail, mail_class=result.name, class_reasons=result.reasons)

    def submit(self, mail: FlaggedMail) -> str:
        """Record *mail*: ``new``, ``duplicate`` or ``own_warning``. OutboxFull when full."""
        if self.own_warning(mail):
            outcome = "own_warning"
        else:
            mail = self.classify(mail)
            with self._lock:
                self.classes[mail.mail_class] += 1
            _key, new = self.outbox.add(mail, self.clock())
            outcome = "new" if new else "duplicate"
        with self._lock:
            self.counts[outcome] += 1
        if outcome == "new":
            self._wake.set()
        return outcome

    def read_file(self, path: str | Path) -> FileStats:
        """File mode: every flagged mail of a JSON-lines events file (bad lines counted)."""
        stats = read_events_file(path, self.submit)
        self.files.append(stats)
        return stats

    def listen(self, host: str | None = None, port: int | None = None) -> Receiver:
        """Start the HTTP receiver (and the worker, so warnings leave at once); ConfigError
        without a usable listener secret (:func:`sakimori.listen_secret.read_secret`)."""
        secret = read_secret(self.cfg)
        # Rspamd's reply to the MTA waits for our answer: a handler thread whose socket is
        # ready must not wait the default 5 ms for the GIL while the EVE pipeline or the
        # intake's writer computes. A shorter switch interval costs only when threads contend.
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        self.intake = Intake(self.journal, self.submit)  # answers after a cheap durable append
        try:
            self.receiver = Receiver(self.cfg, self.intake.accept, secret, host, port).start()
        except BaseException:
            self.intake.close()
            self.intake = None
            raise
        self.start()
        return self.receiver

    # --- sending -----------------------------------------------------------------------------
    def resend_failed(self) -> int:
        """Make given-up warnings pending again (``consume --resend-failed``)."""
        count = self.outbox.resend_failed()
        self.counts["resent"] += count
        if count:
            self._wake.set()
        return count

    def drain(self) -> bool:
        """Send everything due now; False when an SMTP failure or the rate limit left some."""
        for _ in range(MAX_ROUNDS):
            taken, completed = self.sender.drain(MAX_MAILS_PER_ROUND)
            if not completed:
                return False
            if taken < MAX_MAILS_PER_ROUND:
                return True
        return True

    def start(self) -> None:
        """Worker thread: drain when something new arrives, retry after failures."""
        if self._worker is not None:
            return
        self._worker = threading.Thread(target=self._run, name="sakimori-mailwarn",
                                        daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            hint = self.sender.wait_hint()
            self._wake.wait(RETRY_S if hint is None else min(RETRY_S, max(hint, 0.05)))
            self._wake.clear()
            if not self._stop.is_set():
                self.drain()

    def close(self) -> None:
        """Stop the receiver and the worker, send what is pending, close the outbox."""
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        if self.intake is not None:  # what the receiver accepted goes into the outbox first
            self.intake.close()
            self.intake = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self._worker is not None:
            self._stop.set()
            self._wake.set()
            self._worker.join(timeout=60)
            self._worker = None
        self.drain()
        self._closed_counts = self.outbox.counts()
        self.outbox.close()
        if self._volume is not None:
            self._volume.close()

    # --- reporting ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"submitted": dict(self.counts), "classes": dict(self.classes),
                               "mail": dict(self.sender.stats),
                               "outbox": self._outbox_counts()}
        if self.receiver is not None:
            out["receiver"] = {"url": self.receiver.url, **self.receiver.stats}
        if self.files:
            out["files"] = [vars(f) for f in self.files]
        return out

    def _outbox_counts(self) -> dict[str, Any]:
        return self._closed_counts if self._closed_counts is not None else self.outbox.counts()

    def summary(self) -> str:
        """One line: what came in, how many warnings went out."""
        c, s = self.counts, self.sender.stats
        text = (f"mail warnings: {c['new']} new, {c['duplicate']} duplicate(s); "
                f"{s['sent']} sent, {s['skipped']} recorded without mail, {s['failed']} "
                f"SMTP failure(s)")
        if s["rate_limited"]:
            text += f"; {s['rate_limited']} delayed by the rate limit"
        if s["given_up"]:
            text += f"; {s['given_up']} given up (re-send: consume --resend-failed)"
        waiting = self._outbox_counts()["by_state"].get("pending", 0)
        if waiting and (s["rate_limited"] or s["failed"]):
            text += f"; {waiting} waiting in the outbox"
        bad = sum(f.bad for f in self.files)
        if bad:
            first = next(e for f in self.files for e in f.examples)
            text += f"; {bad} bad event line(s) (first: {first})"
        return text


def attach(consumer: Any, baselines: dict[str, Any] | None, mail: bool) -> MailWarnings:
    """The mail warnings of a :class:`~eve_consumer.pipeline.Consumer`: an outbox in its state
    store, records in its OUT_DIR, and the passive ``mail_spoof`` handler wired to it."""
    warnings = MailWarnings(consumer.cfg, consumer.store.path, consumer.out_dir, mail)
    section = (baselines or {}).get("mail") if isinstance(baselines, dict) else None
    for handler in consumer.handlers:
        if handler.name == "mail_spoof":
            handler.mail_baseline = section if isinstance(section, dict) else {}
            handler.sink = warnings.submit
    return warnings
