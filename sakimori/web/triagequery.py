"""Bounded reads of the report index for the triage page (:mod:`sakimori.web.triage`).

Every query is either an aggregate (counts per class and UTC day, totals per class) or
limited (the top *limit* hosts or mails of one class, one page of a class). Hosts are
counted on their best row (the row the hosts page shows) through ``hostclass``
(:mod:`sakimori.web.classindex`: one line per host and class, with the row's score and the
day of its first_seen); mails through ``warnings.cls`` (the record's
``class``; a warning recorded without one, before mail classes existed, was a spoofing
finding: ``targeted``) on the day of the record's ``time``.

Mail records come back as dicts like :func:`sakimori.web.reportquery.warnings` gives, plus
``_d`` (the index of their report directory in ``web.report_dirs``) and ``_pos`` (the byte
offset of the line): numbers only, what the drill-down link ``/mail/D/POS`` carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from eve_consumer.correlate import HostReport
from sakimori.web import data
from sakimori.web.reportindex import ReportIndex
from sakimori.web.reportquery import CHUNK, hosts_with_findings

HOST_CLASSES = ("backdoor", "web_attack", "malware", "anonymizer")
MAIL_CLASSES = ("targeted", "mass_virus", "spam")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def class_days(ix: ReportIndex) -> dict[tuple[str, str], int]:
    """(class, day) → hosts (HTTP classes) or mails (mail classes) of that class that day;
    day "" for hosts and mails without a readable time (two scans of an index)."""
    out: dict[tuple[str, str], int] = {}
    with ix.db() as db:
        rows = db.execute("SELECT cls, day, count(*) FROM hostclass GROUP BY cls, day"
                          ).fetchall()
        rows += db.execute("SELECT cls, substr(time, 1, 10) AS day, count(*) FROM warnings "
                           "GROUP BY cls, day").fetchall()
    for cls, day, n in rows:
        cls = cls or "targeted"  # a spoofing warning recorded before mail classes
        day = day if _DAY.fullmatch(day or "") else ""
        if cls in HOST_CLASSES or cls in MAIL_CLASSES:
            out[(cls, day)] = out.get((cls, day), 0) + n
    return out


def totals(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    """class → hosts or mails of that class (every day, undated ones too) from
    :func:`class_days`."""
    out = dict.fromkeys((*HOST_CLASSES, *MAIL_CLASSES), 0)
    for (cls, _), n in counts.items():
        out[cls] += n
    return out


def class_total(ix: ReportIndex, cls: str) -> int:
    """Hosts or mails of one class (a count over an index)."""
    with ix.db() as db:
        if cls in MAIL_CLASSES:
            return db.execute("SELECT count(*) FROM warnings WHERE cls IN (?, ?)",
                              (cls, "" if cls == "targeted" else cls)).fetchone()[0]
        return db.execute("SELECT count(*) FROM hostclass WHERE cls = ?", (cls,)).fetchone()[0]


def top_hosts(ix: ReportIndex, cls: str, limit: int, offset: int = 0,
              exclude: Iterable[str] = ()) -> list[HostReport]:
    """The hosts of *cls* by score (highest first, then address), *limit* from *offset*,
    without *exclude*, with their findings."""
    skip = sorted(set(exclude))
    where = f" AND host NOT IN ({','.join('?' * len(skip))})" if skip else ""
    with ix.db() as db:
        hosts = [h for (h,) in db.execute(
            f"SELECT host FROM hostclass WHERE cls = ?{where} ORDER BY score DESC, host "
            "LIMIT ? OFFSET ?", [cls, *skip, limit, offset])]
    return hosts_with_findings(ix, hosts)


def host_classes(ix: ReportIndex, hosts: Iterable[str]) -> dict[str, list[str]]:
    """host → its classes (best row), for a few hosts."""
    wanted, out = sorted(set(hosts)), {}
    with ix.db() as db:
        for i in range(0, len(wanted), CHUNK):
            part = wanted[i:i + CHUNK]
            for host, cls in db.execute(
                    f"SELECT host, cls FROM hostclass WHERE host IN "
                    f"({','.join('?' * len(part))})", part):
                out.setdefault(host, []).append(cls)
    return out


def _mails(ix: ReportIndex, rows: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    index = {d: i for i, d in enumerate(ix.dirs)}
    out = []
    for d, pos, line in rows:
        rec = data.json_object(line)
        if rec is not None and d in index:
            rec.update(_dir=d, _d=index[d], _pos=pos)
            out.append(rec)
    return out


def top_mails(ix: ReportIndex, cls: str, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """The warnings of mail class *cls*, newest first, *limit* from *offset*."""
    with ix.db() as db:
        rows = db.execute("SELECT dir, pos, data FROM warnings WHERE cls IN (?, ?) ORDER BY "
                          "time DESC, dir, pos DESC LIMIT ? OFFSET ?",
                          (cls, "" if cls == "targeted" else cls, limit, offset)).fetchall()
    return _mails(ix, rows)


def mail_at(ix: ReportIndex, d: int, pos: int) -> dict[str, Any] | None:
    """The warning at byte offset *pos* of the *d*-th report directory, or None."""
    if not 0 <= d < len(ix.dirs):
        return None
    with ix.db() as db:
        rows = db.execute("SELECT dir, pos, data FROM warnings WHERE dir = ? AND pos = ?",
                          (ix.dirs[d], pos)).fetchall()
    got = _mails(ix, rows)
    return got[0] if got else None
