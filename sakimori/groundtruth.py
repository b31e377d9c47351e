"""Compare a hosts.csv report with a simulator ground-truth file.

Used by ``sakimori demo`` (to show what was found) and by the end-to-end tests. A host is
*right* when the report's detections equal the expected ones: an infected host must carry
every expected detection and nothing else, a benign host must not be in the report. The
table also shows each reported host's Table 1 classes (hosts.csv ``classes``, docs/classes.md).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from sakimori.errors import InputError


@dataclass(frozen=True)
class HostVerdict:
    host: str
    role: str
    expected: frozenset[str]
    reported: frozenset[str]
    classes: tuple[str, ...] = ()

    @property
    def missing(self) -> frozenset[str]:
        return self.expected - self.reported

    @property
    def extra(self) -> frozenset[str]:
        return self.reported - self.expected

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def read_report(path: Path) -> dict[str, frozenset[str]]:
    """host → detections from a hosts.csv file."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read report: {exc.strerror or exc}") from exc
    report = {}
    for i, row in enumerate(rows, 2):
        host, detections = row.get("host"), row.get("detections")
        if host is None or detections is None:
            raise InputError(str(path), i, "row without host/detections columns")
        report[host] = frozenset(d for d in detections.split(";") if d)
    return report


def read_classes(path: Path) -> dict[str, tuple[str, ...]]:
    """host → Table 1 classes from a hosts.csv file (empty when the column is absent)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {row.get("host") or "": tuple(c for c in (row.get("classes") or "").split(";")
                                             if c) for row in csv.DictReader(fh)}


def compare(report_csv: Path, ground_truth_json: Path) -> list[HostVerdict]:
    """Verdicts for every host of the ground truth plus any unknown host in the report."""
    try:
        truth = json.loads(ground_truth_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(str(ground_truth_json), None, f"cannot read ground truth: {exc}")\
            from exc
    report = read_report(report_csv)
    classes = read_classes(report_csv)
    verdicts = []
    hosts = truth.get("hosts", {})
    for host, info in sorted(hosts.items()):
        verdicts.append(HostVerdict(host, info.get("role", "?"),
                                    frozenset(info.get("expected_detections", [])),
                                    report.get(host, frozenset()), classes.get(host, ())))
    for host in sorted(set(report) - set(hosts)):
        verdicts.append(HostVerdict(host, "unknown", frozenset(), report[host],
                                    classes.get(host, ())))
    return verdicts


def format_table(verdicts: list[HostVerdict], only_interesting: bool = True) -> str:
    """A plain-text table; benign hosts that are correctly absent are summarised in one line."""
    lines = [f"{'host':<15} {'role':<9} {'expected':<28} {'reported':<28} {'classes':<12} "
             "result"]
    quiet = 0
    for v in verdicts:
        if only_interesting and v.role == "benign" and v.ok:
            quiet += 1
            continue
        lines.append(f"{v.host:<15} {v.role:<9} {','.join(sorted(v.expected)) or '-':<28} "
                     f"{','.join(sorted(v.reported)) or '-':<28} {','.join(v.classes) or '-':<12} "
                     f"{'ok' if v.ok else 'WRONG'}")
    if quiet:
        lines.append(f"({quiet} benign hosts correctly not reported)")
    return "\n".join(lines)
