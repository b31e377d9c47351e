"""The consumer's state store: one SQLite file ``state.sqlite`` in the state directory.

Tables:

- ``checkpoint(input, path, inode, offset, lineno, fingerprint)`` — where follow mode
  stopped, per input; the fingerprint (hashes of the file's first bytes and of the bytes
  before the offset) tells a file truncated and regrown while stopped from the same file;
- ``handler_state(name, state)`` — each handler's bounded snapshot (JSON);
- ``findings(host, detection, …, data)`` — every finding ever reported, with when it was last
  written to findings.jsonl (follow mode appends only new or changed ones);
- ``alerted(host, detection, sent_at)`` — (host, finding) pairs already mailed; a mail is
  never sent twice for the same pair, across runs and restarts;
- ``meta(key, value)`` — counters that must survive a restart (e.g. mail failures).

:meth:`StateStore.commit` writes checkpoint, snapshots and findings in **one transaction**, so
after a crash the checkpoint and the handler state always agree: nothing is lost, nothing is
counted twice.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.model import Finding
from sakimori.errors import SakimoriError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (
    input TEXT PRIMARY KEY, path TEXT NOT NULL, inode INTEGER NOT NULL,
    offset INTEGER NOT NULL, lineno INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handler_state (name TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    host TEXT NOT NULL, detection TEXT NOT NULL, first_seen REAL, last_seen REAL,
    confidence REAL, data BLOB NOT NULL, updated REAL NOT NULL, emitted REAL,
    emitted_digest TEXT, PRIMARY KEY (host, detection));
CREATE TABLE IF NOT EXISTS alerted (
    host TEXT NOT NULL, detection TEXT NOT NULL, sent_at REAL NOT NULL,
    PRIMARY KEY (host, detection));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Checkpoint:
    """A position in a followed file: inode + byte offset of the next unread line, and a
    fingerprint of the content up to there (``eve_follow.fingerprint``; '' when unknown)."""

    path: str
    inode: int
    offset: int
    lineno: int
    fingerprint: str = ""


def _check_writable(path: Path) -> None:
    """Refuse, in one line, a state file this user cannot write. SQLite opens such a file
    read-only without a word and fails at the first commit — e.g. a ``state.sqlite`` left by a
    run as root in a service's state directory."""
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists() and not os.access(f, os.R_OK | os.W_OK):
            raise SakimoriError(f"{f}: not writable by {_user(os.geteuid())} (owned by "
                                f"{_user(f.stat().st_uid)}); give the state directory's files "
                                f"to the user that runs the consumer")
    if not os.access(path.parent, os.W_OK):
        raise SakimoriError(f"{path.parent}: state directory not writable by "
                            f"{_user(os.geteuid())}")


class StateUnreadable(SakimoriError):
    """A value saved in the state store that cannot be read back (a damaged file, or one
    written by a different version): one line naming the file and what was being read. The
    file is left as it is — nothing in it is lost — and the consumer does not start."""

    def __init__(self, path: Path, what: str, exc: BaseException) -> None:
        detail = repr(f"{type(exc).__name__}: {exc}"[:200])[1:-1]  # one line, escaped
        super().__init__(f"{path}: {what} cannot be read back ({detail}); the file is left "
                         f"unchanged — move it aside to start with an empty state (its "
                         f"checkpoints, findings, windows and the record of mails already sent are "
                         f"then forgotten)")


# What reading back a malformed saved value raises: wrong types, shapes and lengths.
_MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def _user(uid: int) -> str:
    """The name of *uid*, or ``uid N`` when the system has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class StateStore:
    """SQLite-backed state; use as a context manager or call :meth:`close`."""

    FILENAME = "state.sqlite"

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / self.FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _check_writable(self.path)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                      check_same_thread=False)  # one user at a time
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            cols = {r[1] for r in self.db.execute("PRAGMA table_info(checkpoint)")}
            if "fingerprint" not in cols:  # a state store from before the fingerprint
                self.db.execute("ALTER TABLE checkpoint ADD COLUMN fingerprint TEXT "
                                "NOT NULL DEFAULT ''")
        except (OSError, sqlite3.Error) as exc:
            raise SakimoriError(f"{self.path}: cannot open state store: {exc}") from exc

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- reads ------------------------------------------------------------------------------
    def checkpoint(self, input_name: str) -> Checkpoint | None:
        row = self.db.execute("SELECT path, inode, offset, lineno, fingerprint FROM checkpoint"
                              " WHERE input=?", (input_name,)).fetchone()
        return Checkpoint(*row) if row else None

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[None]:
        """Turn a malformed saved value met while *what* is read back into
        :class:`StateUnreadable` (one line) instead of a traceback."""
        try:
            yield
        except _MALFORMED as exc:
            raise StateUnreadable(self.path, what, exc) from exc

    def handler_states(self) -> dict[str, dict[str, Any]]:
        """Each handler's saved snapshot by name; StateUnreadable names a row that is not a
        JSON object."""
        rows = self.db.execute("SELECT name, state FROM handler_state").fetchall()
        out: dict[str, dict[str, Any]] = {}
        for name, blob in rows:
            with self.reading(f"saved state {str(name)[:40]!r}"):
                state = orjson.loads(blob)
                if not isinstance(state, dict):
                    raise TypeError(f"a JSON {type(state).__name__}, not an object")
            out[name] = state
        return out

    def findings(self) -> list[Finding]:
        rows = self.db.execute("SELECT data FROM findings ORDER BY host, detection").fetchall()
        with self.reading("a saved finding"):
            return [Finding.from_dict(orjson.loads(blob)) for (blob,) in rows]

    def emitted(self) -> dict[tuple[str, str], tuple[float | None, str | None]]:
        rows = self.db.execute("SELECT host, detection, emitted, emitted_digest FROM findings")
        return {(h, d): (e, g) for h, d, e, g in rows}

    def alerted(self) -> set[tuple[str, str]]:
        return {(h, d) for h, d in self.db.execute("SELECT host, detection FROM alerted")}

    def meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    # --- writes -----------------------------------------------------------------------------
    def commit(self, *, checkpoints: dict[str, Checkpoint] | None = None,
               handler_states: dict[str, dict[str, Any]] | None = None,
               findings: Iterable[Finding] = ()) -> None:
        """Write everything given in one transaction."""
        now = time.time()
        with self._tx() as db:
            for name, cp in (checkpoints or {}).items():
                db.execute("INSERT OR REPLACE INTO checkpoint (input, path, inode, offset,"
                           " lineno, updated, fingerprint) VALUES (?,?,?,?,?,?,?)",
                           (name, cp.path, cp.inode, cp.offset, cp.lineno, now,
                            cp.fingerprint))
            for name, state in (handler_states or {}).items():
                db.execute("INSERT OR REPLACE INTO handler_state VALUES (?,?)",
                           (name, orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS)))
            for f in findings:
                db.execute(
                    "INSERT INTO findings (host, detection, first_seen, last_seen, confidence,"
                    " data, updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT (host, detection) DO "
                    "UPDATE SET first_seen=excluded.first_seen, last_seen=excluded.last_seen,"
                    " confidence=excluded.confidence, data=excluded.data,"
                    " updated=excluded.updated",
                    (f.host, f.detection, f.first_seen, f.last_seen, f.confidence,
                     orjson.dumps(f.as_dict()), now))

    def mark_emitted(self, items: Iterable[tuple[str, str, str]]) -> None:
        """Record that (host, detection, digest) went to findings.jsonl now."""
        now = time.time()
        with self._tx() as db:
            db.executemany("UPDATE findings SET emitted=?, emitted_digest=? "
                           "WHERE host=? AND detection=?",
                           [(now, g, h, d) for h, d, g in items])

    def mark_alerted(self, pairs: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO alerted VALUES (?,?,?)",
                           [(h, d, now) for h, d in pairs])

    def bump_meta(self, key: str, n: int = 1) -> int:
        value = int(self.meta(key, "0") or 0) + n
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, str(value)))
        return value

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
