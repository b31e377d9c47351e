"""The ``hostclass`` table of the report index: each host's Table 1 classes, from its best row.

One line per (host, class) with the best row's directory, score and the UTC day of its
first_seen (:func:`sakimori.web.data.csv_day`); kept by
:meth:`sakimori.web.reportindex.ReportIndex._best` for the hosts whose best row it
recomputed, so the triage page (:mod:`sakimori.web.triagequery`) counts classes per day with
one scan of an index (``hostclass_day``) and lists the top hosts of a class from another
(``hostclass_rank``), never joining or parsing 100,000 rows per request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from sakimori.web import data

_BEST = ("SELECT b.host, b.dir, b.score, r.raw FROM best b JOIN rows r ON r.dir = b.dir AND "
         "r.host = b.host")
PART = 500


def _write(db: sqlite3.Connection, rows: Iterable[tuple[str, str, int, str]]) -> None:
    batch = []
    for host, d, score, raw in rows:
        rec = data.json_object(raw) or {}
        day = data.csv_day(rec)
        batch += [(host, cls, d, score, day) for cls in data.csv_classes(rec)]
    db.executemany("INSERT OR REPLACE INTO hostclass VALUES (?,?,?,?,?)", batch)


def rebuild(db: sqlite3.Connection, hosts: list[str] | None) -> None:
    """Recompute the lines of *hosts* (None: of every host) from ``best``."""
    if hosts is None:
        db.execute("DELETE FROM hostclass")
        cur = db.execute(_BEST)
        while rows := cur.fetchmany(5000):
            _write(db, rows)
        return
    for i in range(0, len(hosts), PART):
        part = hosts[i:i + PART]
        marks = ",".join("?" * len(part))
        db.execute(f"DELETE FROM hostclass WHERE host IN ({marks})", part)
        _write(db, db.execute(f"{_BEST} WHERE b.host IN ({marks})", part).fetchall())
