"""The baselines document: schema, load/save, and the effective thresholds.

``sakimori learn`` writes one JSON document (see docs/baselines.md); ``generate``, ``analyze``
and ``consume`` read it. Every learned value sits next to its provenance (n, method,
parameters). :func:`effective_traffic` applies the rule *an operator override in sakimori.yaml
always wins over a learned value* in one place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sakimori.config import Config
from sakimori.distinct import state_count
from sakimori.errors import InputError

SCHEMA_VERSION = 1

# Used when neither the baselines nor the config give a value (documented in docs/baselines.md).
FALLBACK_URL_LENGTH = 512
FALLBACK_LONG_SESSION_S = 3600
FALLBACK_FW_FAILURES = 10


def empty_document() -> dict[str, Any]:
    """A valid, empty baselines document (nothing learned yet)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": None,
        "provenance": {"inputs": [], "records": 0, "first_seen": None, "last_seen": None},
        "traffic": {},
        "mail": {},
    }


def load_document(path: str | Path) -> dict[str, Any]:
    """Read and validate a baselines file; InputError names the file and the problem."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(p, None, f"cannot read baselines: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(p, exc.lineno, f"baselines are not valid JSON: {exc.msg}") from exc
    if not isinstance(doc, dict):
        raise InputError(p, None, "baselines must be a JSON object")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(p, None, f"schema_version {version!r} not supported "
                                  f"(this sakimori reads {SCHEMA_VERSION})")
    for section in ("traffic", "mail", "provenance"):
        if not isinstance(doc.get(section, {}), dict):
            raise InputError(p, None, f"'{section}' must be an object")
    return doc


def save_document(doc: dict[str, Any], path: str | Path) -> None:
    """Write atomically with sorted keys, so two learns of the same data diff cleanly."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".baselines.", dir=str(target.parent))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, target)


@dataclass(frozen=True)
class Threshold:
    """One effective threshold and where it came from (``config``, ``learned`` or
    ``fallback``), with the learned record kept for evidence."""

    value: float
    origin: str
    detail: dict[str, Any] = field(default_factory=dict)

    def explain(self) -> str:
        if self.origin == "learned":
            method = self.detail.get("method", "?")
            n = self.detail.get("n", "?")
            return f"{self.value:g} (learned: {method}, n={n})"
        return f"{self.value:g} ({self.origin})"


@dataclass(frozen=True)
class TrafficThresholds:
    """What the rule renderer and the consumer use, after config overrides."""

    url_length: Threshold
    long_session_s: Threshold
    fw_failures: Threshold
    expected_protocols: dict[int, str]
    prevalence: dict[str, int]
    n_internal_hosts: int


def _pick(override: float | None, learned: Any, fallback: float) -> Threshold:
    if override is not None:
        return Threshold(float(override), "config")
    if isinstance(learned, dict) and isinstance(learned.get("threshold"), int | float):
        return Threshold(float(learned["threshold"]), "learned", learned)
    return Threshold(float(fallback), "fallback")


def effective_traffic(cfg: Config, doc: dict[str, Any] | None) -> TrafficThresholds:
    """Merge learned traffic baselines with sakimori.yaml overrides (config wins)."""
    traffic = (doc or {}).get("traffic", {}) or {}
    protocols: dict[int, str] = {}
    for port, counts in (traffic.get("port_protocols") or {}).items():
        if isinstance(counts, dict) and counts and str(port).isdigit():
            protocols[int(port)] = max(sorted(counts), key=lambda k: counts[k])
    prevalence = {str(k): state_count(v) for k, v in (traffic.get("destinations") or {}).items()}
    return TrafficThresholds(
        url_length=_pick(cfg.traffic.url_length_threshold, traffic.get("url_length"),
                         FALLBACK_URL_LENGTH),
        long_session_s=_pick(cfg.traffic.long_session_seconds, traffic.get("session_duration"),
                             FALLBACK_LONG_SESSION_S),
        fw_failures=_pick(cfg.traffic.fw_blocked_min_failures, traffic.get("fw_failures"),
                          FALLBACK_FW_FAILURES),
        expected_protocols=protocols,
        prevalence=prevalence,
        n_internal_hosts=int(traffic.get("n_internal_hosts") or 0),
    )
