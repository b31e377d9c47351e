"""An SQLite index of the report directories, so a page never re-parses the report files.

The screen asks :meth:`ReportIndex.refresh` before reading; it stats each directory's
``hosts.csv``, ``findings.jsonl`` and ``mail_warnings.jsonl`` and brings ``web.index_file``
up to date only when one changed (inode, size, mtime):

- ``hosts.csv`` (rewritten whole by the consumer) is parsed again into ``rows``; ``best``
  keeps each host's highest-scoring row across directories (first directory on a tie);
- ``findings.jsonl`` and ``mail_warnings.jsonl`` are read **incrementally**: when the file is
  the same inode, not shorter than the offset read so far and starts with the same bytes, only
  the appended part is read (complete lines only; a line being written waits for the next
  refresh); otherwise (rotated, truncated, rewritten) the directory's records are rebuilt.
  Files are read in chunks of :data:`READ_CHUNK` to the end, whatever their size — so the
  **last record of a (host, detection) in the file wins**, even far past 64 MiB. A line over
  :data:`MAX_LINE` or not a valid record is skipped and counted (shown on the hosts page).

Refreshes are serialised by a lock file (several threads or ``sakimori serve`` processes);
readers use WAL snapshots. The index is a cache: deleting the file only costs one rebuild.
Every value in it is still hostile text, parsed by :mod:`sakimori.web.data` as before.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from sakimori.web import data

READ_CHUNK = 1 << 20  # bytes read per step from a JSON-lines file
MAX_LINE = 16 << 20  # a longer line is skipped and counted
HEAD_BYTES = 256  # a file whose first bytes changed is a new file
BATCH = 5000
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dir TEXT, ino INT, size INT,
    mtime_ns INT, offset INT, head BLOB, bad INT);
CREATE TABLE IF NOT EXISTS rows (dir TEXT, host TEXT, score INT, raw TEXT,
    PRIMARY KEY (dir, host));
CREATE TABLE IF NOT EXISTS best (host TEXT PRIMARY KEY, dir TEXT, score INT);
CREATE INDEX IF NOT EXISTS best_rank ON best (score DESC, host);
CREATE TABLE IF NOT EXISTS findings (dir TEXT, host TEXT, detection TEXT, summary TEXT,
    data TEXT, PRIMARY KEY (dir, host, detection));
CREATE TABLE IF NOT EXISTS warnings (dir TEXT, pos INT, time TEXT, key TEXT, data TEXT,
    PRIMARY KEY (dir, pos));
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
        """Bring the index up to date with the files; True when something changed."""
        stamps = [_stamp(Path(d) / f) for d in self.dirs for f in self.FILES]
        if stamps == self._seen:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock, self.db() as db:
            fcntl.flock(lock, fcntl.LOCK_EX)
            db.executescript(SCHEMA)
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

    def _sync(self, db: sqlite3.Connection) -> bool:
        marks = ",".join("?" * len(self.dirs))
        gone = db.execute(f"SELECT count(*) FROM files WHERE dir NOT IN ({marks})",
                          self.dirs).fetchone()[0]
        for table in ("files", "rows", "findings", "warnings"):
            db.execute(f"DELETE FROM {table} WHERE dir NOT IN ({marks})", self.dirs)
        rows_changed = bool(gone)
        changed = bool(gone)
        for d in self.dirs:
            rows_changed |= self._sync_csv(db, d)
            changed |= self._sync_jsonl(db, d, "findings.jsonl", self._finding_rows)
            changed |= self._sync_jsonl(db, d, "mail_warnings.jsonl", self._warning_rows)
        if rows_changed:
            order = " ".join(f"WHEN ? THEN {i}" for i in range(len(self.dirs)))
            db.execute("DELETE FROM best")
            db.execute("INSERT INTO best (host, dir, score) SELECT host, dir, score FROM ("
                       "SELECT host, dir, score, row_number() OVER (PARTITION BY host ORDER "
                       f"BY score DESC, CASE dir {order} END) AS n FROM rows) WHERE n = 1",
                       self.dirs)
        return changed or rows_changed

    @staticmethod
    def _known(db: sqlite3.Connection, path: str) -> tuple[Any, ...] | None:
        return db.execute("SELECT ino, size, mtime_ns, offset, head, bad FROM files "
                          "WHERE path = ?", (path,)).fetchone()

    def _forget(self, db: sqlite3.Connection, d: str, path: str, table: str) -> None:
        db.execute(f"DELETE FROM {table} WHERE dir = ?", (d,))
        db.execute("DELETE FROM files WHERE path = ?", (path,))

    def _sync_csv(self, db: sqlite3.Connection, d: str) -> bool:
        path = str(Path(d) / "hosts.csv")
        prev = self._known(db, path)
        try:
            fh = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
        except OSError:
            if prev is not None:
                self._forget(db, d, path, "rows")
            return prev is not None
        with fh:
            st = os.fstat(fh.fileno())
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if prev is not None and tuple(prev[:3]) == stamp:
                return False
            db.execute("DELETE FROM rows WHERE dir = ?", (d,))
            problems: list[str] = []
            batch = []
            for r in data.csv_records_from(fh, path, problems):
                host, score = data.csv_host_score(r)
                if host:
                    batch.append((d, host, score, json.dumps(r)))
                if len(batch) >= BATCH:
                    db.executemany("INSERT OR REPLACE INTO rows VALUES (?,?,?,?)", batch)
                    batch = []
            db.executemany("INSERT OR REPLACE INTO rows VALUES (?,?,?,?)", batch)
        db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)",
                   (path, d, *stamp, 0, b"", len(problems)))
        return True

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
                    head.startswith(prev[4]):
                start, bad = prev[3], prev[5]  # appended to: read the new part only
            else:
                db.execute(f"DELETE FROM {table} WHERE dir = ?", (d,))
            offset, bad = self._read(db, d, fh, start, bad, parse)
        db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)",
                   (path, d, *stamp, offset, head, bad))
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
            if len(buf) > MAX_LINE:
                bad, pos, buf, skipping = bad + 1, pos + len(buf), b"", True
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
                              line.decode("utf-8", "replace")))
            elif line.strip():
                bad += 1
        db.executemany("INSERT OR REPLACE INTO warnings VALUES (?,?,?,?,?)", batch)
        return bad
