"""Server-side sessions and the login throttle, in one small SQLite file (``web.sessions_file``).

The signed session cookie holds only a random session id (and the CSRF token); what the id
may do lives here, so it can be taken back:

- ``sessions(id, user, created, last_seen, revoked)``: :meth:`SessionStore.create` at login;
  :meth:`SessionStore.user` on every request returns the user only while the row exists, is
  not revoked and is younger than ``web.session_minutes``; logout revokes the row
  (:meth:`SessionStore.revoke`), and ``sakimori serve --delete-user`` revokes every session of
  the user (:meth:`SessionStore.revoke_user`) — a copied cookie is worth nothing after either.
- ``failures(key, time)``: failed logins, keyed ``addr:CLIENT`` and ``user:NAME``
  (:class:`LoginThrottle`). Being a file, the throttle is shared by every ``sakimori serve``
  process that uses the same ``web.sessions_file`` and survives restarts.

Ids are stored as SHA-256 digests, so a copy of the file does not hold usable cookies.
Connections are opened per call (WAL mode, 5 s busy timeout): cheap, and safe across threads
and processes.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
CREATE TABLE IF NOT EXISTS failures (key TEXT NOT NULL, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_key ON failures (key, time);
"""
LAST_SEEN_EVERY_S = 60.0  # last_seen is written at most this often per session
MAX_FAILURE_ROWS = 100_000  # older failure rows are dropped beyond this


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Sessions and failed logins in *path* (created 0600 with its directory on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():  # first use, or deleted (which ends every session)
            self._ready = False
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                self._ready = True
            yield db
        finally:
            db.close()

    def create(self, user: str, now: float | None = None) -> str:
        """A new session id for *user* (put it in the cookie)."""
        now = time.time() if now is None else now
        sid = secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute("INSERT INTO sessions (id, user, created, last_seen) VALUES (?,?,?,?)",
                       (_digest(sid), user, now, now))
            db.execute("DELETE FROM sessions WHERE created < ?", (now - 8 * 86400,))
        return sid

    def user(self, sid: object, max_age_s: float, now: float | None = None) -> str | None:
        """The user of a live session *sid*, or None (unknown, revoked, expired)."""
        if not isinstance(sid, str) or not sid:
            return None
        now = time.time() if now is None else now
        with self._db() as db:
            row = db.execute("SELECT user, created, last_seen, revoked FROM sessions "
                             "WHERE id = ?", (_digest(sid),)).fetchone()
            if row is None or row[3] or now - row[1] > max_age_s or row[1] > now + 60:
                return None
            if now - row[2] >= LAST_SEEN_EVERY_S:
                db.execute("UPDATE sessions SET last_seen = ? WHERE id = ?",
                           (now, _digest(sid)))
        return str(row[0])

    def revoke(self, sid: object) -> None:
        if isinstance(sid, str) and sid:
            with self._db() as db:
                db.execute("UPDATE sessions SET revoked = 1 WHERE id = ?", (_digest(sid),))

    def revoke_user(self, user: str) -> int:
        """Revoke every session of *user*; the number of live sessions ended."""
        with self._db() as db:
            return db.execute("UPDATE sessions SET revoked = 1 WHERE user = ? AND revoked = 0",
                              (user,)).rowcount


class LoginThrottle:
    """Failed logins per key (``addr:…``, ``user:…``) in a sliding window, kept in the
    session store's file (shared by processes)."""

    def __init__(self, store: SessionStore, limit: int, window_s: float) -> None:
        self.store, self.limit, self.window_s = store, limit, window_s

    def blocked(self, keys: Iterable[str], now: float | None = None) -> bool:
        """True when any of *keys* has *limit* failures within the window."""
        now = time.time() if now is None else now
        with self.store._db() as db:
            return any(db.execute("SELECT count(*) FROM failures WHERE key = ? AND time >= ?",
                                  (k, now - self.window_s)).fetchone()[0] >= self.limit
                       for k in keys)

    def failed(self, keys: Iterable[str], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.store._db() as db:
            db.executemany("INSERT INTO failures (key, time) VALUES (?, ?)",
                           [(k, now) for k in keys])
            db.execute("DELETE FROM failures WHERE time < ?", (now - self.window_s,))
            db.execute("DELETE FROM failures WHERE rowid <= (SELECT max(rowid) FROM failures)"
                       " - ?", (MAX_FAILURE_ROWS,))
