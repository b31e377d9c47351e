"""``hosts_csv``: OUT_DIR/hosts.csv, one row per internal host with a detection.

Columns (design.md §2, in this order): ``host,score,severity,detections,classes,first_seen,
last_seen,destinations,evidence``. ``detections``, ``classes`` (Table 1: ``backdoor``,
``web_attack``, ``malware``, ``anonymizer``; docs/classes.md) and ``destinations`` are
``;``-separated; times are ISO 8601 UTC; rows by score, highest first. Readers take columns by
name. Written with the csv module (quoting as needed)
and :func:`~sakimori.textsafe.csv_cell` on every cell, so network-derived text stays data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from eve_consumer.correlate import HostReport
from eve_consumer.model import iso
from eve_consumer.outputs import Output, Report, atomic_write
from sakimori.textsafe import csv_cell

COLUMNS = ("host", "score", "severity", "detections", "classes", "first_seen", "last_seen",
           "destinations", "evidence")


def render_csv(rows: Iterable[HostReport]) -> bytes:
    """The hosts.csv bytes for *rows* (header included)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([csv_cell(v) for v in (
            r.host, r.score, r.severity, ";".join(r.detections), ";".join(r.classes),
            iso(r.first_seen), iso(r.last_seen), ";".join(r.destinations), r.evidence_text())])
    return buf.getvalue().encode("utf-8")


class HostsCsv(Output):
    name = "hosts_csv"
    FILENAME = "hosts.csv"

    def write(self, report: Report) -> None:
        atomic_write(report.out_dir / self.FILENAME, render_csv(report.rows))
