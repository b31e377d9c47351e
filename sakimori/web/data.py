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
outbox in ``state.sqlite`` (opened read-only): warnings still waiting for SMTP or given up
after SMTP failures, which mail_warnings.jsonl does not hold yet (or ever).

Rows become :class:`eve_consumer.correlate.HostReport` holding
:class:`eve_consumer.model.Finding` objects, so the CSV download is rendered by the consumer's
own :func:`eve_consumer.outputs.hosts_csv.render_csv` (formula neutralisation included).
Unreadable lines are counted and skipped, never fatal: every value is still hostile text.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eve_consumer.classes import CLASSES
from eve_consumer.correlate import HostReport, default_class_map
from eve_consumer.model import Finding

MAX_FILE_BYTES = 64 << 20  # a report file larger than this is read up to here only
MAX_WARNINGS = 5000


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


def _read_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES)
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def _finding(d: dict[str, Any]) -> Finding | None:
    try:
        host, detection = str(d["host"]), str(d["detection"])
        conf = float(d.get("confidence") or 0.0)
    except (KeyError, TypeError, ValueError):
        return None
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
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            out.append(obj)
        else:
            bad += 1
    if bad:
        data.problems.append(f"{path}: {bad} unreadable line(s) skipped")
    return out


def _read_findings(path: Path, data: ReportData) -> dict[tuple[str, str], Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for d in _json_objects(path, data):
        f = _finding(d)
        if f is not None:
            found[f.key] = f  # the last record of a (host, detection) wins
    return found


def _read_hosts(path: Path, findings: dict[tuple[str, str], Finding],
                data: ReportData) -> list[HostReport]:
    rows = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            records = list(csv.DictReader(fh))
    except OSError:
        return []
    except csv.Error as exc:
        data.problems.append(f"{path}: not readable as CSV: {exc}")
        return []
    for r in records:
        host = (r.get("host") or "").strip()
        if not host:
            continue
        try:
            score = int(float(r.get("score") or 0))
        except ValueError:
            score = 0
        detections = [d for d in (r.get("detections") or "").split(";") if d]
        mine = [findings[(host, d)] for d in detections if (host, d) in findings]
        first = parse_iso(r.get("first_seen")) or 0.0
        last = parse_iso(r.get("last_seen")) or first
        dests = [d for d in (r.get("destinations") or "").split(";") if d]
        classes = [c for c in (r.get("classes") or "").split(";") if c in CLASSES] \
            if "classes" in r else default_class_map().host_classes(detections)
        rows.append(HostReport(
            host=host, score=score, severity=(r.get("severity") or "").strip(),
            detections=detections, first_seen=first, last_seen=last, destinations=dests,
            findings=mine or [Finding(host, d, 0.0, first, last, dests[:5],
                                      summary=_csv_summary(r, d)) for d in detections],
            classes=classes))
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


def _read_outbox(state_dir: Path, data: ReportData) -> None:
    """Warnings pending or given up in a consumer's outbox, as records like the JSONL's."""
    from eve_consumer.mailwarn.send import record
    from sakimori.mail.warnings import FlaggedMail

    path = Path(state_dir) / "state.sqlite"
    if not path.is_file():
        return
    known = {w.get("key") for w in data.warnings}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT key, first_seen, data, state, attempts, last_error FROM "
                              "mail_warnings WHERE state IN ('pending', 'failed') "
                              "ORDER BY first_seen DESC LIMIT ?", (MAX_WARNINGS,)).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return  # no outbox table yet (no mail consumer ran here)
    for key, first_seen, blob, state, attempts, error in rows:
        try:
            mail = FlaggedMail.from_dict(json.loads(blob))
        except (ValueError, TypeError, AttributeError):
            continue
        rec = record(str(key), mail, [], mailed=False,
                     reason=f"{state} after {attempts} SMTP attempt(s)"
                            + (f": {error}" if error else ""))
        if rec["key"] in known:
            continue
        rec["time"] = datetime.fromtimestamp(float(first_seen), UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        data.warnings.append(rec)


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
