"""What the admin screen shows, read from what the consumer wrote — no detection logic here.

For each directory of ``web.report_dirs`` (a consumer's OUT_DIR):

- ``hosts.csv`` — the ranked host rows (the report contract, design.md §2; columns by name;
  a file without the ``classes`` column gets them from the packaged class map);
- ``findings.jsonl`` — each finding's details (sub-scores, destinations, flow ids, thresholds);
  in follow mode the file is appended to, so the last record of a (host, detection) wins;
- ``mail_warnings.jsonl`` — one record per spoofed-mail warning (checks, evidence, who was
  told, mailed or why not);
- ``stats.json`` — the consumer's counters (shown as is).

and, for each directory of ``web.state_dirs`` (default ``consumer.state_dir``), the warning
outbox in ``state.sqlite`` (read-only, through the consumer's own
:func:`eve_consumer.mailwarn.outbox.read_unsent`): warnings still waiting for SMTP or given up
after SMTP failures, which mail_warnings.jsonl does not hold yet (or ever).

Rows become :class:`eve_consumer.correlate.HostReport` holding
:class:`eve_consumer.model.Finding` objects, so the CSV download is rendered by the consumer's
own :func:`eve_consumer.outputs.hosts_csv.render_csv` (formula neutralisation included).
Unreadable lines are counted and skipped, never fatal: every value is still hostile text.

The screen itself reads through :mod:`sakimori.web.reportindex`, which keeps these records in
SQLite and parses them with the functions here (:func:`finding`, :func:`row_from_csv`,
:func:`json_object`, :func:`outbox_records`); :func:`load` reads everything directly, in full
(tests, and the un-indexed baseline of ``bench/web.py``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eve_consumer.classes import CLASSES
from eve_consumer.correlate import HostReport, default_class_map
from eve_consumer.model import Finding

MAX_WARNINGS = 5000  # newest warnings the kill chain considers


def parse_iso(text: Any) -> float | None:
    """``2026-11-02T10:00:00Z`` → epoch seconds; None when it is not such a time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _read_lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            yield from fh
    except OSError:
        return


def json_object(line: bytes | str) -> dict[str, Any] | None:
    """The JSON object of one JSON-lines line, or None (not JSON, not an object)."""
    try:
        obj = orjson.loads(line)
    except ValueError:
        try:  # what orjson refuses but json reads (NaN, integers past 64 bits)
            obj = json.loads(line)
        except ValueError:
            return None
    return obj if isinstance(obj, dict) else None


def finding_key(d: dict[str, Any]) -> tuple[str, str] | None:
    """(host, detection) of a usable findings.jsonl record — the checks of :func:`finding`
    without building it — or None."""
    try:
        float(d.get("confidence") or 0.0)
        return str(d["host"]), str(d["detection"])
    except (KeyError, TypeError, ValueError):
        return None


def finding(d: dict[str, Any]) -> Finding | None:
    """A findings.jsonl record as a Finding, or None when host/detection/confidence are bad."""
    key = finding_key(d)
    if key is None:
        return None
    (host, detection), conf = key, float(d.get("confidence") or 0.0)
    first = parse_iso(d.get("first_seen")) or 0.0
    last = parse_iso(d.get("last_seen")) or first
    evidence = d.get("evidence") if isinstance(d.get("evidence"), dict) else {}
    dests = [str(x) for x in d.get("destinations") or [] if isinstance(x, str | int)]
    flows = [x for x in d.get("flow_ids") or [] if isinstance(x, int)]
    return Finding(host, detection, conf, first, last, dests, flows, evidence,
                   str(d.get("summary") or ""))


@dataclass
class ReportData:
    """Everything read from the report directories at one moment."""

    hosts: list[HostReport] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def host(self, address: str) -> HostReport | None:
        return next((h for h in self.hosts if h.host == address), None)


def _json_objects(path: Path, data: ReportData) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; other lines are counted in ``data.problems``."""
    out, bad = [], 0
    for line in _read_lines(path):
        obj = json_object(line) if line.strip() else None
        if obj is not None:
            out.append(obj)
        elif line.strip():
            bad += 1
    if bad:
        data.problems.append(f"{path}: {bad} unreadable line(s) skipped")
    return out


def _read_findings(path: Path, data: ReportData) -> dict[tuple[str, str], Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for d in _json_objects(path, data):
        f = finding(d)
        if f is not None:
            found[f.key] = f  # the last record of a (host, detection) wins
    return found


def csv_records(path: Path, problems: list[str]) -> Iterator[dict[str, str]]:
    """The rows of a hosts.csv as dicts (none when missing; a CSV error is a problem)."""
    try:
        fh = path.open(newline="", encoding="utf-8", errors="replace")
    except OSError:
        return
    with fh:
        yield from csv_records_from(fh, str(path), problems)


def csv_records_from(fh: Iterable[str], name: str,
                     problems: list[str]) -> Iterator[dict[str, str]]:
    """The rows of an open hosts.csv; a CSV error ends them and is added to *problems*."""
    try:
        yield from csv.DictReader(fh)
    except csv.Error as exc:
        problems.append(f"{name}: not readable as CSV: {exc}")


def csv_host_score(r: dict[str, str]) -> tuple[str, int]:
    """(host, score) of a hosts.csv row; host "" when there is none, score 0 when bad."""
    host = (r.get("host") or "").strip()
    try:
        return host, int(float(r.get("score") or 0))
    except (ValueError, OverflowError):
        return host, 0


def csv_classes(r: dict[str, str]) -> list[str]:
    """The Table 1 classes of a hosts.csv row (its ``classes`` column; an older file without
    the column: the packaged class map of its detections), known classes only, once each."""
    if "classes" in r:
        return list(dict.fromkeys(c for c in (r.get("classes") or "").split(";")
                                  if c in CLASSES))
    detections = [d for d in (r.get("detections") or "").split(";") if d]
    return list(dict.fromkeys(default_class_map().host_classes(detections)))


def csv_day(r: dict[str, str]) -> str:
    """The UTC day (``YYYY-MM-DD``) of a hosts.csv row's first_seen; "" when it has none."""
    return day_of(parse_iso(r.get("first_seen")))


def day_of(ts: float | None) -> str:
    """The UTC day (``YYYY-MM-DD``) of epoch seconds *ts*; "" for None or out of range."""
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return ""


def row_from_csv(r: dict[str, str], mine: dict[str, Finding]) -> HostReport | None:
    """A hosts.csv row as a HostReport; *mine*: detection → the host's finding from
    findings.jsonl (a detection without one gets the CSV's evidence text)."""
    host, score = csv_host_score(r)
    if not host:
        return None
    detections = [d for d in (r.get("detections") or "").split(";") if d]
    first = parse_iso(r.get("first_seen")) or 0.0
    last = parse_iso(r.get("last_seen")) or first
    dests = [d for d in (r.get("destinations") or "").split(";") if d]
    found = [mine[d] for d in detections if d in mine]
    classes = csv_classes(r)
    return HostReport(
        host=host, score=score, severity=(r.get("severity") or "").strip(),
        detections=detections, first_seen=first, last_seen=last, destinations=dests,
        findings=found or [Finding(host, d, 0.0, first, last, dests[:5],
                                   summary=_csv_summary(r, d)) for d in detections],
        classes=classes)


def _read_hosts(path: Path, findings: dict[tuple[str, str], Finding],
                data: ReportData) -> list[HostReport]:
    rows = []
    for r in csv_records(path, data.problems):
        host = (r.get("host") or "").strip()
        mine = {d: findings[(host, d)] for d in (r.get("detections") or "").split(";")
                if (host, d) in findings}
        row = row_from_csv(r, mine)
        if row is not None:
            rows.append(row)
    return rows


def _csv_summary(row: dict[str, str], detection: str) -> str:
    """The summary of *detection* from a hosts.csv evidence cell (no findings.jsonl)."""
    for part in (row.get("evidence") or "").split(" | "):
        if part.startswith(detection + ": "):
            return part[len(detection) + 2:]
    return ""


def _read_warnings(path: Path, data: ReportData) -> None:
    for rec in _json_objects(path, data)[:max(0, MAX_WARNINGS - len(data.warnings))]:
        rec["_dir"] = str(path.parent)
        data.warnings.append(rec)


def outbox_records(state_dir: Path, known: Callable[[str], bool],
                   limit: int = MAX_WARNINGS) -> list[dict[str, Any]]:
    """Warnings pending or given up in a consumer's outbox, as records like the JSONL's
    (newest first; those *known* already from mail_warnings.jsonl left out)."""
    from eve_consumer.mailwarn.outbox import read_unsent
    from eve_consumer.mailwarn.send import record

    out = []
    for row in read_unsent(Path(state_dir) / "state.sqlite", limit):
        rec = record(row.key, row.mail, [], mailed=False,
                     reason=f"{row.state} after {row.attempts} SMTP attempt(s)"
                            + (f": {row.error}" if row.error else ""))
        if known(rec["key"]):
            continue
        rec["time"] = datetime.fromtimestamp(row.first_seen, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        out.append(rec)
    return out


def _read_outbox(state_dir: Path, data: ReportData) -> None:
    keys = {w.get("key") for w in data.warnings}
    data.warnings += outbox_records(state_dir, keys.__contains__)


def load(report_dirs: tuple[Path, ...] | list[Path],
         state_dirs: tuple[Path, ...] | list[Path] = ()) -> ReportData:
    """Read every report directory (a host in several keeps its highest-scoring row) and the
    outboxes of *state_dirs*."""
    data = ReportData()
    best: dict[str, HostReport] = {}
    for d in report_dirs:
        d = Path(d)
        findings = _read_findings(d / "findings.jsonl", data)
        for row in _read_hosts(d / "hosts.csv", findings, data):
            if row.host not in best or row.score > best[row.host].score:
                best[row.host] = row
        _read_warnings(d / "mail_warnings.jsonl", data)
        try:
            stats = json.loads((d / "stats.json").read_text(encoding="utf-8"))
            if isinstance(stats, dict):
                data.stats[str(d)] = stats
        except (OSError, ValueError):
            pass
    for d in state_dirs:
        _read_outbox(Path(d), data)
    data.hosts = sorted(best.values(), key=lambda r: (-r.score, r.host))
    data.warnings.sort(key=lambda w: str(w.get("time", "")), reverse=True)
    return data
