"""Correlation stage: the findings of every handler → one report row per internal host.

Score (0–100, integer)::

    p     = 1 − Π_d (1 − W[d] / 100 · confidence_d)      # noisy-OR over distinct detections
    score = min(100, round(100 · p + BONUS · (distinct detections − 1)))

so each detection adds evidence, independent detections reinforce each other, and a second
kind of detection always raises the score. Weights ``W`` (how much one confident detection of
that kind alone says about a backdoor) are in :data:`WEIGHTS`. Severity: ``critical`` ≥ 80,
``high`` ≥ 60, ``medium`` ≥ 40, else ``low``.

Only internal hosts (``networks.home``) get rows; rows are sorted by score, highest first
(ties: by address). Each row carries its Table 1 ``classes`` (docs/classes.md): the class of
each detection under the class map, plus the classes third-party alerts gave its findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from eve_consumer.classes import ClassMap
from eve_consumer.model import VOCABULARY, Finding

WEIGHTS: dict[str, float] = {
    "malware_signature": 70.0,
    "beacon": 60.0,
    "anonymizer": 55.0,
    "non_http_on_http_port": 50.0,
    "long_url": 45.0,
    "web_attack": 45.0,
    "long_session": 40.0,
    "fw_blocked": 35.0,
}
BONUS = 5.0
SEVERITIES = ((80, "critical"), (60, "high"), (40, "medium"), (0, "low"))
MAX_DESTINATIONS = 20


@dataclass
class HostReport:
    """One hosts.csv row and the findings behind it."""

    host: str
    score: int
    severity: str
    detections: list[str]
    first_seen: float
    last_seen: float
    destinations: list[str]
    findings: list[Finding] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def evidence_text(self) -> str:
        """``detection: summary | detection: summary`` in vocabulary order."""
        return " | ".join(f"{f.detection}: {f.summary}" for f in self.findings)


def host_score(findings: Iterable[Finding]) -> int:
    """The documented 0–100 score of one host's findings (one per detection)."""
    best: dict[str, float] = {}
    for f in findings:
        best[f.detection] = max(best.get(f.detection, 0.0), min(1.0, max(0.0, f.confidence)))
    if not best:
        return 0
    miss = 1.0
    for detection, conf in best.items():
        miss *= 1.0 - WEIGHTS.get(detection, 30.0) / 100.0 * conf
    return int(min(100, round(100.0 * (1.0 - miss) + BONUS * (len(best) - 1))))


_DEFAULT: list[ClassMap] = []


def default_class_map() -> ClassMap:
    """The packaged class map, loaded once."""
    if not _DEFAULT:
        _DEFAULT.append(ClassMap.load())
    return _DEFAULT[0]


def severity(score: int) -> str:
    for floor, name in SEVERITIES:
        if score >= floor:
            return name
    return "low"


def _addr_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def finding_classes(f: Finding, classes: ClassMap) -> list[str]:
    """The classes *f* stands for: its own (third-party alerts), else its detection's."""
    return list(f.classes) or classes.host_classes([f.detection])


def correlate(findings: Iterable[Finding], is_home: object = None,
              classes: ClassMap | None = None) -> list[HostReport]:
    """Group findings per host (internal only when *is_home* is given) into sorted rows;
    *classes* is the class map (None: the packaged default)."""
    cmap = classes if classes is not None else default_class_map()
    order = {d: i for i, d in enumerate(VOCABULARY)}
    per_host: dict[str, list[Finding]] = {}
    for f in findings:
        if callable(is_home) and not is_home(f.host):
            continue
        per_host.setdefault(f.host, []).append(f)
    rows = []
    for host, items in per_host.items():
        items.sort(key=lambda f: (order.get(f.detection, 99), -f.confidence))
        dests: list[str] = []
        for f in items:
            for d in f.destinations:
                if d not in dests and len(dests) < MAX_DESTINATIONS:
                    dests.append(d)
        score = host_score(items)
        rows.append(HostReport(
            host=host, score=score, severity=severity(score),
            detections=sorted({f.detection for f in items}, key=lambda d: order.get(d, 99)),
            first_seen=min(f.first_seen for f in items),
            last_seen=max(f.last_seen for f in items),
            destinations=dests, findings=items,
            classes=cmap.host_classes([], [c for f in items for c in finding_classes(f, cmap)])))
    rows.sort(key=lambda r: (-r.score, _addr_key(r.host)))
    return rows
