"""Output stage: reports and warnings, registered by name in :data:`OUTPUTS`.

- ``hosts_csv``      — OUT_DIR/hosts.csv, the per-host report (design.md §2 contract);
- ``findings_jsonl`` — OUT_DIR/findings.jsonl, one JSON object per finding for a SIEM;
- ``stats_json``     — OUT_DIR/stats.json, what was read, skipped, dropped and why;
- ``mail``           — one alert mail per host with new findings, to ``alerts.admins``.

Every output gets the same :class:`Report`. Network-derived text (Host, SNI, URL, signature
names) is data, never markup or formulas: :func:`clean` escapes control and bidi characters,
:func:`csv_cell` also neutralises spreadsheet formulas; :func:`strip_unsafe` drops them (text
a person typed, e.g. the whitelist editor's audit reason). An unknown output name is a
configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eve_consumer.correlate import HostReport
from eve_consumer.model import Finding
from eve_consumer.store import StateStore
from sakimori.config import Config
from sakimori.errors import ConfigError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0xFEFF]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _UNSAFE}


def clean(text: Any, limit: int = 400) -> str:
    """*text* as one safe line: control/bidi characters escaped, at most *limit* chars."""
    s = str(text).translate(_ESCAPES)
    return s if len(s) <= limit else s[:limit - 1] + "…"


_DROP = dict.fromkeys(_UNSAFE)


def strip_unsafe(text: Any, limit: int = 400) -> str:
    """*text* without control, C1 and bidi characters (dropped, not escaped: for text a person
    typed, e.g. an audit reason), at most *limit* characters."""
    return str(text).translate(_DROP)[:limit]


def csv_cell(text: Any, limit: int = 2000) -> str:
    """A CSV cell that no spreadsheet evaluates: a leading = + - @ TAB CR gets a ``'``."""
    raw = str(text)
    s = clean(raw, limit)
    if raw.startswith(FORMULA_START) or s.startswith(FORMULA_START):
        s = "'" + s
    return s


@dataclass
class Report:
    """What one evaluation produced, handed to every output."""

    out_dir: Path
    rows: list[HostReport]
    findings: list[Finding]
    stats: dict[str, Any] = field(default_factory=dict)
    follow: bool = False


class Output:
    """Base class; ``write`` must not raise for operational problems it can report."""

    name = ""

    def __init__(self, cfg: Config, store: StateStore | None, mail: bool = True) -> None:
        self.cfg = cfg
        self.store = store
        self.mail_enabled = mail

    def write(self, report: Report) -> None:
        raise NotImplementedError


def _registry() -> dict[str, type[Output]]:
    from eve_consumer.outputs.findings_jsonl import FindingsJsonl
    from eve_consumer.outputs.hosts_csv import HostsCsv
    from eve_consumer.outputs.mail import AlertMail
    from eve_consumer.outputs.stats_json import StatsJson

    return {c.name: c for c in (HostsCsv, FindingsJsonl, StatsJson, AlertMail)}


DEFAULT_OUTPUTS = ("hosts_csv", "findings_jsonl", "mail", "stats_json")


def build_outputs(cfg: Config, store: StateStore | None, names: tuple[str, ...] | None = None,
                  mail: bool = True) -> list[Output]:
    registry = _registry()
    out = []
    for name in names or DEFAULT_OUTPUTS:
        cls = registry.get(name)
        if cls is None:
            raise ConfigError(cfg.source, "consumer.outputs",
                              f"unknown output {name!r} (known: {', '.join(registry)})")
        out.append(cls(cfg, store, mail))
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write *path* via a temporary file and rename, so readers never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
