"""Reading the report index (:mod:`sakimori.web.reportindex`) for the pages: a page of hosts,
a few hosts with their findings, the CSV in chunks, a page of warnings, problems, statistics.

Each function opens its own read connection (a consistent WAL snapshot) and rebuilds the
consumer's own objects (:class:`~eve_consumer.correlate.HostReport`,
:class:`~eve_consumer.model.Finding`) through :mod:`sakimori.web.data`, so templates and the
CSV renderer are unchanged. Hosts come in the consumer's order: score, highest first, then
address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from eve_consumer.correlate import HostReport
from eve_consumer.model import Finding
from sakimori.web import data
from sakimori.web.reportindex import ReportIndex

_ROWS = "SELECT r.dir, r.host, r.raw FROM best b JOIN rows r ON r.dir = b.dir AND r.host = b.host"
CHUNK = 500  # hosts per query (SQLite parameter limits) and per CSV chunk


def _raw(text: str) -> dict[str, str]:
    return data.json_object(text) or {}


def host_count(ix: ReportIndex) -> int:
    with ix.db() as db:
        return db.execute("SELECT count(*) FROM best").fetchone()[0]


def host_page(ix: ReportIndex, offset: int, limit: int,
              exclude: Iterable[str] = ()) -> list[HostReport]:
    """Hosts by score from *offset* (without *exclude*), with the evidence of hosts.csv."""
    skip = sorted(set(exclude))
    where = f" WHERE b.host NOT IN ({','.join('?' * len(skip))})" if skip else ""
    with ix.db() as db:
        got = db.execute(f"{_ROWS}{where} ORDER BY b.score DESC, b.host LIMIT ? OFFSET ?",
                         [*skip, limit, offset]).fetchall()
    return [r for _, _, raw in got if (r := data.row_from_csv(_raw(raw), {}))]


def hosts_with_findings(ix: ReportIndex, hosts: Iterable[str]) -> list[HostReport]:
    """These hosts (those in the report) with their findings from findings.jsonl."""
    wanted, out = sorted(set(hosts)), []
    with ix.db() as db:
        for i in range(0, len(wanted), CHUNK):
            part = wanted[i:i + CHUNK]
            rows = db.execute(f"{_ROWS} WHERE b.host IN ({','.join('?' * len(part))})",
                              part).fetchall()
            for d, host, raw in rows:
                mine: dict[str, Finding] = {}
                for (line,) in db.execute("SELECT data FROM findings WHERE dir = ? AND "
                                          "host = ?", (d, host)):
                    obj = data.json_object(line)
                    f = data.finding(obj) if obj is not None else None
                    if f is not None:
                        mine[f.detection] = f
                row = data.row_from_csv(_raw(raw), mine)
                if row is not None:
                    out.append(row)
    return sorted(out, key=lambda r: (-r.score, r.host))


def csv_chunks(ix: ReportIndex) -> Iterator[list[HostReport]]:
    """Every host in order, *CHUNK* at a time, with the findings' summaries (all the CSV
    needs: its evidence column is rendered from them)."""
    with ix.db() as db:
        cur = db.execute(
            "SELECT r.raw, (SELECT json_group_object(f.detection, f.summary) FROM findings f "
            "WHERE f.dir = r.dir AND f.host = r.host) FROM best b JOIN rows r ON "
            "r.dir = b.dir AND r.host = b.host ORDER BY b.score DESC, b.host")
        while batch := cur.fetchmany(CHUNK):
            out = []
            for raw, summaries in batch:
                rec = _raw(raw)
                host = (rec.get("host") or "").strip()
                mine = {d: Finding(host, d, 0.0, 0.0, 0.0, summary=str(s))
                        for d, s in json.loads(summaries or "{}").items()}
                row = data.row_from_csv(rec, mine)
                if row is not None:
                    out.append(row)
            yield out


def warning_count(ix: ReportIndex) -> int:
    with ix.db() as db:
        return db.execute("SELECT count(*) FROM warnings").fetchone()[0]


def warnings(ix: ReportIndex, offset: int, limit: int) -> list[dict[str, Any]]:
    """mail_warnings.jsonl records, newest first (``_dir``: the report directory; ``_d``: its
    index in ``web.report_dirs``, ``_pos``: the line's byte offset)."""
    with ix.db() as db:
        got = db.execute("SELECT dir, pos, data FROM warnings ORDER BY time DESC, dir, "
                         "pos DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
    index = {d: i for i, d in enumerate(ix.dirs)}
    out = []
    for d, pos, line in got:
        rec = data.json_object(line)
        if rec is not None:
            rec.update(_dir=d, _d=index.get(d), _pos=pos)  # _d, _pos: the link /mail/D/POS
            out.append(rec)
    return out


def known_warnings(ix: ReportIndex, keys: Iterable[str]) -> set[str]:
    """Those of *keys* that mail_warnings.jsonl already holds."""
    wanted, out = sorted(set(keys)), set()
    with ix.db() as db:
        for i in range(0, len(wanted), CHUNK):
            part = wanted[i:i + CHUNK]
            out.update(k for (k,) in db.execute(
                f"SELECT key FROM warnings WHERE key IN ({','.join('?' * len(part))})", part))
    return out


def problems(ix: ReportIndex) -> list[str]:
    with ix.db() as db:
        got = db.execute("SELECT path, bad FROM files WHERE bad > 0 ORDER BY path").fetchall()
    return [f"{p}: {n} unreadable line(s) skipped" if not p.endswith(".csv") else
            f"{p}: not readable as CSV to the end" for p, n in got]


def stats(ix: ReportIndex) -> dict[str, Any]:
    """Each report directory's stats.json (small: read as it is)."""
    out: dict[str, Any] = {}
    for d in ix.dirs:
        try:
            doc = json.loads((Path(d) / "stats.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            out[d] = doc
    return out
