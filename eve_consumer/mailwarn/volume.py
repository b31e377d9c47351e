"""The consumer's malware volume for the mail classes, kept across restarts.

Table ``mail_volume`` in ``STATE_DIR/state.sqlite`` (a connection of its own, as the outbox):
``key`` (``malware:<signature name>``, :func:`sakimori.mail.classes.volume_keys`) · ``rcpt``
(normalised recipient address) · ``seen`` (last time). The same contract as the in-memory
:class:`sakimori.mail.classes.VolumeCounter` that ``scan-mail`` uses: distinct recipients per
key within the window; a mail without envelope recipients counts as one recipient of its own.
Rows older than the window are deleted as new ones arrive; at most ``MAX_ROWS`` rows are kept
(beyond that, new keys are not counted and :attr:`VolumeStore.dropped` says how many).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from sakimori.errors import SakimoriError
from sakimori.mail.classes import recipient_keys

MAX_ROWS = 1_000_000
PRUNE_EVERY = 200  # adds between deletions of expired rows
_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_volume (
    key TEXT NOT NULL, rcpt TEXT NOT NULL, seen REAL NOT NULL, PRIMARY KEY (key, rcpt));
CREATE INDEX IF NOT EXISTS mail_volume_seen ON mail_volume (seen);
"""


class VolumeStore:
    """Distinct recipients per malware key within a sliding window, in SQLite."""

    def __init__(self, db_path: Path, window_s: float) -> None:
        self.window_s = window_s
        self.dropped = 0
        self._adds = 0
        self._full = False
        self._anon = itertools.count()
        self._lock = threading.Lock()
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(db_path), timeout=30, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SakimoriError(f"{db_path}: cannot open the mail volume table: {exc}") from exc

    def add(self, keys: Iterable[str], recipients: Iterable[str],
            now: float | None = None) -> None:
        now = time.time() if now is None else now
        keys = list(keys)
        if not keys:
            return
        rcpts = recipient_keys(recipients)
        if not rcpts:  # unique across restarts and processes
            rcpts = [f"(copy {os.getpid()}-{now:.6f}-{next(self._anon)})"]
        with self._lock:
            self._adds += 1
            if self._adds % PRUNE_EVERY == 1 or self._full:
                self.db.execute("DELETE FROM mail_volume WHERE seen < ?",
                                (now - self.window_s,))
                (rows,) = self.db.execute("SELECT COUNT(*) FROM mail_volume").fetchone()
                self._full = rows >= MAX_ROWS
            if self._full:
                self.dropped += 1
                return
            self.db.executemany(
                "INSERT INTO mail_volume (key, rcpt, seen) VALUES (?, ?, ?) "
                "ON CONFLICT (key, rcpt) DO UPDATE SET seen = excluded.seen",
                [(k, r, now) for k in keys for r in rcpts])

    def volume(self, keys: Iterable[str], now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._lock:
            return max((self.db.execute(
                "SELECT COUNT(*) FROM mail_volume WHERE key = ? AND seen >= ?",
                (k, now - self.window_s)).fetchone()[0] for k in keys), default=0)

    def close(self) -> None:
        with self._lock:
            self.db.close()
