"""An SQLite index of the report directories, so a page never re-parses the report files.

The screen asks :meth:`ReportIndex.refresh` before reading; it stats each directory's
``hosts.csv``, ``findings.jsonl`` and ``mail_warnings.jsonl`` and brings ``web.index_file``
up to date only when one changed (inode, size, mtime):

- ``hosts.csv`` (rewritten whole by the consumer) is parsed again and only the rows that
  differ are written to ``rows``; ``best`` keeps each host's highest-scoring row across
  directories (first directory on a tie), recomputed for the changed hosts, and so does
  ``hostclass`` (:mod:`sakimori.web.classindex`: the best row's Table 1 classes);
- ``findings.jsonl`` and ``mail_warnings.jsonl`` are read **incrementally**: when the file is
  the same inode, not shorter than the offset read so far, and starts with the same bytes and
  has the same bytes just before that offset (:data:`HEAD_BYTES` each), only
  the appended part is read (complete lines only; a line being written waits for the next
  refresh); otherwise (rotated, truncated, rewritten) the directory's records are rebuilt.
  Files are read in chunks of :data:`READ_CHUNK` to the end, whatever their size — so the
  **last record of a (host, detection) in the file wins**, even far past 64 MiB. A line over
  :data:`MAX_LINE` or not a valid record is skipped and counted (shown on the hosts page).

Refreshes are serialised by a lock file (several threads or ``sakimori serve`` processes); a
request that finds another refresh running reads the index as it is (WAL snapshot) instead
of waiting, once a first build exists. An index of another layout (``PRAGMA user_version``
differs from :data:`SCHEMA_VERSION`) is dropped and rebuilt. The index is a cache: deleting
the file only costs one rebuild. Every value in it is still hostile text, parsed by
:mod:`sakimori.web.data` as before.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from sakimori.web import classindex, data

READ_CHUNK = 1 << 20  # bytes read per step from a JSON-lines file
MAX_LINE = 16 << 20  # a longer line is skipped and counted
HEAD_BYTES = 256  # a file whose first bytes changed is a new file
BATCH = 5000
SCHEMA_VERSION = 2  # 2: hostclass, warnings.cls (the triage page)
BEST_FULL = 20_000  # more changed hosts than this: recompute every host's best row
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dir TEXT, ino INT, size INT,
    mtime_ns INT, offset INT, head BLOB, bad INT, tail BLOB);
CREATE TABLE IF NOT EXISTS rows (dir TEXT, host TEXT, score INT, raw TEXT,
    PRIMARY KEY (dir, host));
CREATE TABLE IF NOT EXISTS best (host TEXT PRIMARY KEY, dir TEXT, score INT);
CREATE INDEX IF NOT EXISTS best_rank ON best (score DESC, host);
CREATE TABLE IF NOT EXISTS hostclass (host TEXT, cls TEXT, dir TEXT, score INT, day TEXT,
    PRIMARY KEY (host, cls));
CREATE INDEX IF NOT EXISTS hostclass_rank ON hostclass (cls, score DESC, host);
CREATE INDEX IF NOT EXISTS hostclass_day ON hostclass (cls, day);
CREATE TABLE IF NOT EXISTS findings (dir TEXT, host TEXT, detection TEXT, summary TEXT,
    data TEXT, PRIMARY KEY (dir, host, detection));
CREATE TABLE IF NOT EXISTS warnings (dir TEXT, pos INT, time TEXT, key TEXT, data TEXT,
    cls TEXT, PRIMARY KEY (dir, pos));
CREATE INDEX IF NOT EXISTS warnings_cls ON warnings (cls, time DESC, dir, pos DESC);
CREATE INDEX IF NOT EXISTS warnings_time ON warnings (time DESC, dir, pos DESC);
CREATE INDEX IF NOT EXISTS warnings_key ON warnings (key);
"""
Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _tail(fh: BinaryIO, offset: int) -> bytes:
    """The bytes just before *offset*: with the first bytes, what tells an appended file from
    one rewritten in place (same inode) to at least the old length."""
    fh.seek(max(0, offset - HEAD_BYTES))
    return fh.read(min(offset, HEAD_BYTES))


class ReportIndex:
    """The index of *report_dirs* in the SQLite file *path*."""

    FILES = ("hosts.csv", "findings.jsonl", "mail_warnings.jsonl")

    def __init__(self, path: Path, report_dirs: Iterable[Path]) -> None:
        self.path = Path(path)
        self.dirs = [str(Path(d)) for d in report_dirs]
        self._seen: list[Stamp | None] | None = None
        self.generation = 0  # bumped whenever a refresh changed the index

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            yield conn
        finally:
            conn.close()

    def refresh(self) -> bool:
        """Bring the index up to date with the files; True when something changed. While
        another thread or process is refreshing, an index built before is used as it is
        (pages never queue behind a refresh; they are at most one refresh behind)."""
        stamps = [_stamp(Path(d) / f) for d in self.dirs for f in self.FILES]
        if not self.path.exists():  # deleted: rebuilt
            self._seen = None
        if stamps == self._seen:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock, self.db() as db:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self._built(db):
                    return False
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._schema(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = self._sync(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._seen = stamps
        self.generation += changed
        return changed

    @staticmethod
    def _schema(db: sqlite3.Connection) -> None:
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            for table in ("files", "rows", "best", "hostclass", "findings", "warnings"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.executescript(SCHEMA)

    def _built(self, db: sqlite3.Connection) -> bool:
        """True when the index holds a refresh of the configured directories."""
        if self._seen is not None:
            return True
        try:
            return db.execute("SELECT count(*) FROM files").fetchone()[0] > 0
        except sqlite3.Error:
            return False

    def _sync(self, db: sqlite3.Connection) -> bool:
        marks = ",".join("?" * len(self.dirs))
        gone = db.execute(f"SELECT count(*) FROM files WHERE dir NOT IN ({marks})",
                          self.dirs).fetchone()[0]
        for table in ("files", "rows", "findings", "warnings"):
            db.execute(f"DELETE FROM {table} WHERE dir NOT IN ({marks})", self.dirs)
        hosts: set[str] = set()
        changed = bool(gone)
        for d in self.dirs:
            hosts |= self._sync_csv(db, d)
            changed |= self._sync_jsonl(db, d, "findings.jsonl", self._finding_rows)
            changed |= self._sync_jsonl(db, d, "mail_warnings.jsonl", self._warning_rows)
        if gone or hosts:
            self._best(db, None if gone or len(hosts) > BEST_FULL else hosts)
        return changed or bool(hosts)

    def _best(self, db: sqlite3.Connection, hosts: set[str] | None) -> None:
        """Recompute each host's best row (highest score, first directory on a tie): of
        *hosts*, or of all (None)."""
        order = " ".join(f"WHEN ? THEN {i}" for i in range(len(self.dirs)))
        dirs = ",".join("?" * len(self.dirs))

        def insert(where: str, params: list[str]) -> None:
            db.execute("INSERT INTO best (host, dir, score) SELECT host, dir, score FROM ("
                       "SELECT host, dir, score, row_number() OVER (PARTITION BY host ORDER "
                       f"BY score DESC, CASE dir {order} END) AS n FROM rows{where}) "
                       "WHERE n = 1", [*self.dirs, *params])

        if hosts is None:
            db.execute("DELETE FROM best")
            insert("", [])
            classindex.rebuild(db, None)
            return
        todo = sorted(hosts)
        for i in range(0, len(todo), 500):
            part = todo[i:i + 500]
            marks = ",".join("?" * len(part))
            db.execute(f"DELETE FROM best WHERE host IN ({marks})", part)
            insert(f" WHERE dir IN ({dirs}) AND host IN ({marks})", [*self.dirs, *part])
        classindex.rebuild(db, todo)

    @staticmethod
    def _known(db: sqlite3.Connection, path: str) -> tuple[Any, ...] | None:
        return db.execute("SELECT ino, size, mtime_ns, offset, head, bad, tail FROM files "
                          "WHERE path = ?", (path,)).fetchone()

    def _forget(self, db: sqlite3.Connection, d: str, path: str, table: str) -> None:
        db.execute(f"DELETE FROM {table} WHERE dir = ?", (d,))
        db.execute("DELETE FROM files WHERE path = ?", (path,))

    def _sync_csv(self, db: sqlite3.Connection, d: str) -> set[str]:
        """Update the rows of *d* from its hosts.csv; the hosts whose row changed."""
        path = str(Path(d) / "hosts.csv")
        prev = self._known(db, path)
        old = dict(db.execute("SELECT host, raw FROM rows WHERE dir = ?", (d,))) \
            if prev is not None else {}
        try:
            fh = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
        except OSError:
            if prev is not None:
                self._forget(db, d, path, "rows")
            return set(old)
        with fh:
            st = os.fstat(fh.fileno())
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if prev is not None and tuple(prev[:3]) == stamp:
                return set()
            problems: list[str] = []
            new: dict[str, tuple[str, int, str]] = {}
            for r in data.csv_records_from(fh, path, problems):
                host, score = data.csv_host_score(r)
                if host:
                    new[host] = (host, score, orjson.dumps(
                        r, option=orjson.OPT_NON_STR_KEYS).decode())
        changed = [(d, *v) for h, v in new.items() if old.get(h) != v[2]]
        gone = [(d, h) for h in old if h not in new]
        db.executemany("INSERT OR REPLACE INTO rows VALUES (?,?,?,?)", changed)
        db.executemany("DELETE FROM rows WHERE dir = ? AND host = ?", gone)
        db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)",
                   (path, d, *stamp, 0, b"", len(problems), b""))
        return {c[1] for c in changed} | {h for _, h in gone}

    def _sync_jsonl(self, db: sqlite3.Connection, d: str, name: str, parse: Any) -> bool:
        path = str(Path(d) / name)
        table = "findings" if name == "findings.jsonl" else "warnings"
        prev = self._known(db, path)
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except OSError:
            if prev is not None:
                self._forget(db, d, path, table)
            return prev is not None
        with fh:
            st = os.fstat(fh.fileno())
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if prev is not None and tuple(prev[:3]) == stamp:
                return False
            head = fh.read(HEAD_BYTES)
            start, bad = 0, 0
            if prev is not None and prev[0] == st.st_ino and st.st_size >= prev[3] and \
                    head.startswith(prev[4]) and _tail(fh, prev[3]) == prev[6]:
                start, bad = prev[3], prev[5]  # appended to: read the new part only
            else:
                db.execute(f"DELETE FROM {table} WHERE dir = ?", (d,))
            offset, bad = self._read(db, d, fh, start, bad, parse)
            tail = _tail(fh, offset)
        db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)",
                   (path, d, *stamp, offset, head, bad, tail))
        return True

    def _read(self, db: sqlite3.Connection, d: str, fh: BinaryIO, start: int, bad: int,
              parse: Any) -> tuple[int, int]:
        """Index the complete lines from *start*; (offset after the last one, bad lines)."""
        fh.seek(start)
        pos, buf, skipping, lines = start, b"", False, []
        while chunk := fh.read(READ_CHUNK):
            parts = (buf + chunk).split(b"\n")
            buf = parts.pop()
            for line in parts:
                if skipping:
                    skipping = False
                else:
                    lines.append((pos, line))
                pos += len(line) + 1
            if len(buf) > MAX_LINE:  # counted once, skipped to its end
                bad, pos, buf, skipping = bad + (not skipping), pos + len(buf), b"", True
            if len(lines) >= BATCH:
                bad += parse(db, d, lines)
                lines = []
        bad += parse(db, d, lines)
        return pos, bad

    @staticmethod
    def _finding_rows(db: sqlite3.Connection, d: str, lines: list[tuple[int, bytes]]) -> int:
        batch, bad = [], 0
        for _, line in lines:
            obj = data.json_object(line) if line.strip() else None
            key = data.finding_key(obj) if obj is not None else None
            if key is not None:
                batch.append((d, *key, str(obj.get("summary") or ""),  # type: ignore[union-attr]
                              line.decode("utf-8", "replace")))
            elif line.strip():
                bad += 1
        db.executemany("INSERT OR REPLACE INTO findings VALUES (?,?,?,?,?)", batch)
        return bad

    @staticmethod
    def _warning_rows(db: sqlite3.Connection, d: str, lines: list[tuple[int, bytes]]) -> int:
        batch, bad = [], 0
        for pos, line in lines:
            obj = data.json_object(line) if line.strip() else None
            if obj is not None:
                batch.append((d, pos, str(obj.get("time", "")), str(obj.get("key")),
                              line.decode("utf-8", "replace"), str(obj.get("class") or "")))
            elif line.strip():
                bad += 1
        db.executemany("INSERT OR REPLACE INTO warnings VALUES (?,?,?,?,?,?)", batch)
        return bad
