"""Records shared by the consumer stages: the detection vocabulary, findings, bounded tallies.

A :class:`Finding` is one detection for one internal host (handlers merge every destination
of that host into it), with a confidence in [0, 1], first/last seen times (epoch seconds,
rendered ISO 8601 UTC), destinations, flow ids and JSON-able evidence. A :class:`Tally` is the
bounded per-host accumulator most handlers use; its lists never grow past their caps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eve_consumer.saved import TALLY, shaped

# The fixed vocabulary of design.md §2, in report order.
VOCABULARY: tuple[str, ...] = (
    "beacon", "long_url", "non_http_on_http_port", "long_session", "fw_blocked",
    "anonymizer", "malware_signature", "web_attack",
)
VOCABULARY_SET = frozenset(VOCABULARY)

MAX_DESTINATIONS = 20
MAX_FLOW_IDS = 20
# Caps on text from the network kept in findings (and so in the store, findings.jsonl,
# hosts.csv, mail): a host name is at most 253 characters (DNS), a destination label (name +
# " (ip:port)") at most MAX_LABEL, any other text (URLs, signatures, header values) at most
# MAX_TEXT — longer text is cut and ends with a marker saying how much was cut.
MAX_NAME = 253
MAX_HOSTS = 100_000  # internal hosts tracked per handler table; more are dropped, counted


def host_room(table: dict[Any, Any], key: Any, counters: Any, counter: str) -> bool:
    """True when *key* is in *table* or the table has room for it (:data:`MAX_HOSTS`);
    otherwise the event is dropped and counted in ``counters[counter]``."""
    if key in table or len(table) < MAX_HOSTS:
        return True
    counters[counter] += 1
    return False

MAX_LABEL = 320
MAX_TEXT = 1024


def cap_name(name: str) -> str:
    """A host name (HTTP Host, TLS SNI, DNS name) cut to 253 characters, ending in '…'."""
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 1] + "…"


def cap_text(text: str, limit: int = MAX_TEXT) -> str:
    """*text* cut to *limit* characters plus a marker ``…[+N chars]`` when longer."""
    return text if len(text) <= limit else f"{text[:limit]}…[+{len(text) - limit} chars]"


def cap_evidence(value: Any, depth: int = 0) -> Any:
    """JSON-able *value* with every string (and key) capped by :func:`cap_text`."""
    t = type(value)
    if t is str:
        return cap_text(value)
    if depth > 8:
        return value if t in (int, float, bool) or value is None else "…"
    if t is dict:
        return {cap_text(k, MAX_LABEL) if type(k) is str else k: cap_evidence(v, depth + 1)
                for k, v in value.items()}
    if t is list or t is tuple:
        return [cap_evidence(v, depth + 1) for v in value]
    return value


def iso(ts: float | None) -> str:
    """Epoch seconds → ``2026-11-02T10:00:00Z`` (ISO 8601 UTC, whole seconds); '' for None."""
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # decode keeps times in 1970-2199
        return ""


def ratio_confidence(observed: float, threshold: float, floor: float = 0.6) -> float:
    """Confidence for a threshold crossing: *floor* at the threshold, +0.2 per doubling."""
    if threshold <= 0 or observed <= 0:
        return floor
    return max(floor, min(1.0, floor + 0.2 * math.log2(max(1.0, observed / threshold))))


@dataclass
class Finding:
    """One detection for one internal host."""

    host: str
    detection: str
    confidence: float
    first_seen: float
    last_seen: float
    destinations: list[str] = field(default_factory=list)
    flow_ids: list[int] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    # Table 1 classes this finding stands for; empty = the class map's class of `detection`.
    classes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.host, self.detection

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (findings.jsonl, the state store); times as ISO 8601 UTC; text
        from the network capped (:data:`MAX_LABEL`, :data:`MAX_TEXT`)."""
        return {
            "host": self.host, "detection": self.detection,
            "confidence": round(self.confidence, 3),
            "first_seen": iso(self.first_seen), "last_seen": iso(self.last_seen),
            "first_seen_epoch": self.first_seen, "last_seen_epoch": self.last_seen,
            "destinations": [cap_text(d, MAX_LABEL) for d in self.destinations],
            "flow_ids": list(self.flow_ids),
            "summary": cap_text(self.summary), "evidence": cap_evidence(self.evidence),
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(host=d["host"], detection=d["detection"], confidence=d["confidence"],
                   first_seen=d["first_seen_epoch"], last_seen=d["last_seen_epoch"],
                   destinations=list(d.get("destinations", [])),
                   flow_ids=list(d.get("flow_ids", [])), evidence=d.get("evidence", {}),
                   summary=d.get("summary", ""),
                   classes=[c for c in d.get("classes") or [] if isinstance(c, str)])


class Tally:
    """Bounded per-host accumulator: count, time span, top destinations, sample flow ids."""

    __slots__ = ("count", "dests", "first", "flow_ids", "last")

    def __init__(self) -> None:
        self.count = 0
        self.first = math.inf
        self.last = -math.inf
        self.dests: dict[str, int] = {}
        self.flow_ids: list[int] = []

    def add(self, ts: float, dest: str | None, flow_id: int = 0, n: int = 1) -> None:
        self.count += n
        if ts < self.first:
            self.first = ts
        if ts > self.last:
            self.last = ts
        if dest:
            if dest in self.dests:
                self.dests[dest] += n
            elif len(dest) > MAX_LABEL:  # kept cut (network text): counted under the cut key
                key = cap_text(dest, MAX_LABEL)
                if key in self.dests or len(self.dests) < MAX_DESTINATIONS * 5:
                    self.dests[key] = self.dests.get(key, 0) + n
            elif len(self.dests) < MAX_DESTINATIONS * 5:
                self.dests[dest] = n
        if flow_id and len(self.flow_ids) < MAX_FLOW_IDS and flow_id not in self.flow_ids:
            self.flow_ids.append(flow_id)

    def merge(self, other: Tally) -> None:
        """Add *other* into this tally (same caps)."""
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        for dest, n in other.dests.items():
            self.dests[dest] = self.dests.get(dest, 0) + n
        for flow_id in other.flow_ids:
            if flow_id not in self.flow_ids and len(self.flow_ids) < MAX_FLOW_IDS:
                self.flow_ids.append(flow_id)

    def top_destinations(self) -> list[str]:
        ranked = sorted(self.dests.items(), key=lambda kv: (-kv[1], kv[0]))
        return [d for d, _ in ranked[:MAX_DESTINATIONS]]

    def to_state(self) -> list[Any]:
        return [self.count, self.first, self.last, self.dests, self.flow_ids]

    @classmethod
    def from_state(cls, state: list[Any], where: str = "tally") -> Tally:
        """From :meth:`to_state` output; ValueError naming *where* on a malformed value."""
        t = cls()
        t.count, t.first, t.last, t.dests, t.flow_ids = shaped(state, TALLY, where)
        t.first = float(t.first) if t.first is not None else math.inf
        t.last = float(t.last) if t.last is not None else -math.inf
        return t


def tallies_to_state(tallies: dict[str, Tally]) -> dict[str, Any]:
    """JSON-able form of ``host -> Tally`` (inf is not JSON: empty tallies are dropped)."""
    return {h: t.to_state() for h, t in tallies.items() if t.count}


def tallies_from_state(state: dict[str, Any], where: str = "tallies") -> dict[str, Tally]:
    """From :func:`tallies_to_state` output; ValueError naming *where* and the key."""
    return {h: Tally.from_state(s, f"{where}[{h[:80]!r}]")
            for h, s in shaped(state, dict[str, list[Any]], where).items()}
