"""Intake of the HTTP receiver: answer Rspamd after a cheap durable append, store afterwards.

Rspamd 3.4's ``metadata_exporter`` registers its export as an *idempotent* symbol whose HTTP
request is bound to the task, so Rspamd's reply to the MTA waits until our receiver answers
(docs/bench.md). Classifying a mail and writing it into the outbox (SQLite transactions in the
state store, which the EVE pipeline also writes: a post could wait for its lock) took 0.10 ms
per post (0.35–0.45 ms under load); this module takes that off the answer path:

- :meth:`Intake.accept` (receiver thread) appends the flagged mail as one JSON line to the
  journal beside the state store (``STATE_DIR/state.mail-intake.jsonl``) with one
  ``write(2)`` on an ``O_APPEND`` descriptor, then queues it in memory; the receiver answers
  ``200 accepted`` after that.
  The line is in the kernel's page cache before the answer: it survives a crash of the
  consumer, as the outbox's own commits do (SQLite WAL, ``synchronous=NORMAL``, no fsync per
  commit) — the same guarantee as before, at a fraction of the cost;
- a writer thread hands each queued mail to ``submit`` (classification, the outbox: one
  warning per message), and empties the journal whenever everything appended is stored;
- a journal left by a crash is replayed by :func:`recover` when the consumer starts (the
  outbox's dedupe key makes a replayed mail at most a counted duplicate);
- bounded: at most ``max_queued`` mails wait; beyond that, and while the outbox refuses mail
  (:class:`~eve_consumer.mailwarn.outbox.OutboxFull`), :meth:`accept` raises
  :class:`IntakeFull` and the receiver answers 503 as before. A mail already accepted is never
  dropped: the writer retries it until the outbox takes it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.mailwarn.outbox import OutboxFull
from sakimori.errors import SakimoriError
from sakimori.mail.warnings import FlaggedMail

log = logging.getLogger("sakimori.mailwarn")
JOURNAL_SUFFIX = ".mail-intake.jsonl"
MAX_QUEUED = 1000
RETRY_S = 1.0


class IntakeFull(SakimoriError):
    """Too many accepted mails wait for the outbox, or the outbox refuses new ones."""


def journal_path(db_path: Path) -> Path:
    """The journal of the outbox in *db_path* (``state.sqlite`` → ``state.mail-intake.jsonl``)."""
    return Path(db_path).with_name(Path(db_path).stem + JOURNAL_SUFFIX)


def recover(path: Path, submit: Callable[[FlaggedMail], Any]) -> tuple[int, int]:
    """Submit every mail of a journal left by a crash, then remove it: (replayed, bad lines).
    A torn last line (the crash hit the write) is counted as bad, never fatal."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0, 0
    except OSError as exc:
        raise SakimoriError(f"{path}: cannot read the warning intake journal: "
                            f"{exc.strerror or exc}") from exc
    replayed = bad = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            mail = FlaggedMail.from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            bad += 1
            continue
        submit(mail)
        replayed += 1
    Path(path).unlink(missing_ok=True)
    if replayed or bad:
        log.warning("%s: %d accepted warning(s) recovered after a crash (%d unreadable line(s))",
                    path, replayed, bad)
    return replayed, bad


class Intake:
    """Journal + bounded queue + writer thread (see the module docstring)."""

    def __init__(self, path: Path, submit: Callable[[FlaggedMail], Any],
                 max_queued: int = MAX_QUEUED) -> None:
        self.path = Path(path)
        self.submit = submit
        self.max_queued = max_queued
        self._queue: queue.Queue[FlaggedMail | None] = queue.Queue()
        self._lock = threading.Lock()  # journal append + queue put; journal truncation
        self._done = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._waiting = 0  # accepted, not yet stored (guarded by _lock)
        self._refusing = False  # the outbox said full: refuse new posts until it takes one
        self.stored = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SakimoriError(f"{self.path}: cannot open the warning intake journal: "
                                f"{exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._run, name="sakimori-mailwarn-intake",
                                        daemon=True)
        self._thread.start()

    def accept(self, mail: FlaggedMail) -> None:
        """Append *mail* to the journal and queue it; IntakeFull when over the bound."""
        line = orjson.dumps(mail.as_dict()) + b"\n"
        with self._lock:
            if self._refusing or self._waiting >= self.max_queued:
                raise IntakeFull(f"{self._waiting} accepted warnings wait for the outbox")
            view = memoryview(line)
            while view:  # a regular file: one write unless interrupted or the disk is full
                view = view[os.write(self._fd, view):]
            self._waiting += 1
            self._queue.put(mail)

    def _run(self) -> None:
        while True:
            mail = self._queue.get()
            if mail is None or not self._store(mail):
                return
            with self._done:
                self._waiting -= 1
                if self._waiting == 0 and not self._closing.is_set():
                    os.ftruncate(self._fd, 0)  # everything appended is in the outbox
                    self._done.notify_all()

    def _store(self, mail: FlaggedMail) -> bool:
        """Submit *mail*, retrying until the outbox takes it (it is accepted: never dropped);
        False only when the intake closes first (the mail then stays in the journal)."""
        while True:
            try:
                self.submit(mail)
            except OutboxFull:
                self._refusing = True
            except Exception:  # store trouble: keep the mail, log, retry
                log.exception("warning intake: cannot store an accepted mail; retrying")
            else:
                self._refusing = False
                self.stored += 1
                return True
            if self._closing.wait(RETRY_S):
                return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted mail is stored (True) or *timeout* passes (False)."""
        with self._done:
            return self._done.wait_for(lambda: self._waiting == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Store what is queued, stop the writer; the journal is removed when empty, else kept
        for :func:`recover` at the next start."""
        self.flush(timeout)
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout=timeout)
        with self._done:
            empty = self._waiting == 0
            os.close(self._fd)
        if empty:
            self.path.unlink(missing_ok=True)
