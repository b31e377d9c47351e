"""The warning outbox: one row per flagged message, in the consumer's state store.

Table ``mail_warnings`` in ``STATE_DIR/state.sqlite`` (the file of
:class:`eve_consumer.store.StateStore`, through a connection of its own so the HTTP receiver's
thread never shares a transaction with the EVE pipeline):

``key`` (:func:`sakimori.mail.warnings.dedupe_key`, primary key) · ``first_seen`` · ``source``
· ``data`` (the :class:`~sakimori.mail.warnings.FlaggedMail` as JSON) · ``state``
(``pending`` → ``sent`` | ``skipped`` | ``failed``) · ``attempts`` · ``last_error`` ·
``done_at`` · ``duplicates`` (how often the same message came again: Rspamd retries, the
sensor seeing a relay hop, inline and passive both judging it) · ``next_attempt`` (not
before this time: the warning's own back-off after an SMTP failure) · ``first_failure``.

**One warning per message** follows from the primary key: a second report of the same key is
only counted. A flagged mail accepted from Rspamd is in the intake journal before the HTTP
receiver answers and written here right after (:mod:`.intake`), so it survives a crash; a
warning is marked ``sent`` after the SMTP server accepted it (at-least-once across a crash in
between, never lost). Bounded: at most ``MAX_PENDING`` pending rows. Retries and giving up are
time-based and decided by the sender (:mod:`.send`); a ``failed`` (given-up) row stays and
:meth:`Outbox.resend_failed` makes it pending again (``sakimori consume --resend-failed``).
Times come from the caller's clock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sakimori.errors import SakimoriError
from sakimori.mail.warnings import FlaggedMail, dedupe_key

MAX_PENDING = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_warnings (
    key TEXT PRIMARY KEY, first_seen REAL NOT NULL, source TEXT NOT NULL,
    data BLOB NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, done_at REAL, duplicates INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0, first_failure REAL);
CREATE INDEX IF NOT EXISTS mail_warnings_state ON mail_warnings (state, first_seen);
"""
_ADDED = {"next_attempt": "REAL NOT NULL DEFAULT 0", "first_failure": "REAL"}  # older stores


class OutboxFull(SakimoriError):
    """More than MAX_PENDING warnings wait for SMTP."""


class Outbox:
    """Thread-safe access to the ``mail_warnings`` table (see the module docstring)."""

    def __init__(self, db_path: Path, max_pending: int = MAX_PENDING) -> None:
        self.path = Path(db_path)
        self.max_pending = max_pending
        self.lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # as the StateStore: survives a crash
            self.db.executescript(_SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(mail_warnings)")}
            for column, decl in _ADDED.items():
                if column not in have:
                    self.db.execute(f"ALTER TABLE mail_warnings ADD COLUMN {column} {decl}")
        except (OSError, sqlite3.Error) as exc:
            raise SakimoriError(f"{self.path}: cannot open the warning outbox: {exc}") from exc

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def add(self, mail: FlaggedMail, now: float | None = None) -> tuple[str, bool]:
        """(key, new?) — records *mail* once; a known key only counts a duplicate."""
        key = dedupe_key(mail)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM mail_warnings WHERE key=?", (key,)).fetchone():
                db.execute("UPDATE mail_warnings SET duplicates=duplicates+1 WHERE key=?",
                           (key,))
                return key, False
            (waiting,) = db.execute(
                "SELECT COUNT(*) FROM mail_warnings WHERE state='pending'").fetchone()
            if waiting >= self.max_pending:
                raise OutboxFull(f"{self.path}: {waiting} warnings wait for SMTP; "
                                 "new ones are refused until the relay accepts mail")
            db.execute("INSERT INTO mail_warnings (key, first_seen, source, data, state) "
                       "VALUES (?,?,?,?, 'pending')",
                       (key, time.time() if now is None else now, mail.source,
                        orjson.dumps(mail.as_dict())))
        return key, True

    def pending(self, limit: int, now: float) -> list[tuple[str, FlaggedMail, int]]:
        """(key, mail, attempts) of the oldest pending warnings due at *now*."""
        with self.lock:
            rows = self.db.execute(
                "SELECT key, data, attempts FROM mail_warnings WHERE state='pending' "
                "AND next_attempt <= ? ORDER BY first_seen LIMIT ?", (now, limit)).fetchall()
        return [(k, FlaggedMail.from_dict(orjson.loads(d)), int(a)) for k, d, a in rows]

    def next_due(self) -> float | None:
        """The earliest ``next_attempt`` of the pending warnings (None: nothing pending)."""
        with self.lock:
            (due,) = self.db.execute("SELECT MIN(next_attempt) FROM mail_warnings "
                                     "WHERE state='pending'").fetchone()
        return None if due is None else float(due)

    def finish(self, key: str, state: str, error: str | None = None,
               now: float | None = None) -> None:
        """Mark *key* ``sent``, ``skipped`` or ``failed`` (given up)."""
        with self._tx() as db:
            db.execute("UPDATE mail_warnings SET state=?, done_at=?, last_error=? "
                       "WHERE key=?", (state, time.time() if now is None else now, error, key))

    def failed_attempt(self, key: str, error: str, now: float,
                       retry_in: Callable[[int], float]) -> tuple[int, float]:
        """Count one failed SMTP attempt, not retried before *now* + ``retry_in(attempts)``;
        returns (attempts so far, time of the first failure)."""
        with self._tx() as db:
            row = db.execute("SELECT attempts, first_failure FROM mail_warnings WHERE key=?",
                             (key,)).fetchone()
            if row is None:
                return 0, now
            attempts = int(row[0]) + 1
            first = now if row[1] is None else float(row[1])
            db.execute("UPDATE mail_warnings SET attempts=?, last_error=?, first_failure=?, "
                       "next_attempt=? WHERE key=?",
                       (attempts, error, first, now + retry_in(attempts), key))
        return attempts, first

    def release(self) -> None:
        """The relay accepts mail again: every pending warning is due now."""
        with self._tx() as db:
            db.execute("UPDATE mail_warnings SET next_attempt=0 WHERE state='pending' "
                       "AND next_attempt > 0")

    def resend_failed(self) -> int:
        """Given-up warnings become pending again (attempts reset); returns how many."""
        with self._tx() as db:
            cur = db.execute("UPDATE mail_warnings SET state='pending', attempts=0, "
                             "next_attempt=0, first_failure=NULL, done_at=NULL "
                             "WHERE state='failed'")
        return int(cur.rowcount)

    def counts(self) -> dict[str, Any]:
        """Rows by state, and the duplicates seen."""
        with self.lock:
            by_state = dict(self.db.execute(
                "SELECT state, COUNT(*) FROM mail_warnings GROUP BY state").fetchall())
            (dups,) = self.db.execute(
                "SELECT COALESCE(SUM(duplicates), 0) FROM mail_warnings").fetchone()
        return {"by_state": by_state, "duplicates": int(dups)}


@dataclass(frozen=True)
class Unsent:
    """A warning still pending or given up, as :func:`read_unsent` returns it."""

    key: str
    first_seen: float
    mail: FlaggedMail
    state: str
    attempts: int
    error: str | None


def read_unsent(db_path: Path, limit: int) -> list[Unsent]:
    """Pending and given-up warnings of the outbox in *db_path*, newest first, opened
    read-only (the admin screen's view; the consumer may be writing). No file or no table yet
    (no mail consumer ran there): []. Rows whose JSON no longer parses are left out."""
    path = Path(db_path)
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT key, first_seen, data, state, attempts, last_error FROM "
                              "mail_warnings WHERE state IN ('pending', 'failed') "
                              "ORDER BY first_seen DESC LIMIT ?", (limit,)).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []
    out = []
    for key, first_seen, blob, state, attempts, error in rows:
        try:
            mail = FlaggedMail.from_dict(orjson.loads(blob))
        except (ValueError, TypeError, AttributeError):
            continue
        out.append(Unsent(str(key), float(first_seen), mail, str(state), int(attempts), error))
    return out
