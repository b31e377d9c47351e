"""Output stage: reports and warnings, registered by name in :data:`OUTPUTS`.

- ``hosts_csv``      — OUT_DIR/hosts.csv, the per-host report (design.md §2 contract);
- ``findings_jsonl`` — OUT_DIR/findings.jsonl, one JSON object per finding for a SIEM;
- ``stats_json``     — OUT_DIR/stats.json, what was read, skipped, dropped and why;
- ``mail``           — one alert mail per host with new findings, to ``alerts.admins``.

Every output gets the same :class:`Report`. Network-derived text (Host, SNI, URL, signature
names) is data, never markup or formulas: the shared :mod:`sakimori.textsafe` escapes control
and bidi characters (``clean``), neutralises spreadsheet formulas (``csv_cell``) and drops them
from text a person typed (``strip_unsafe``). An unknown output name is a configuration error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eve_consumer.classes import ClassMap
from eve_consumer.correlate import HostReport
from eve_consumer.model import Finding
from eve_consumer.store import StateStore
from sakimori.config import Config
from sakimori.errors import ConfigError


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

    def __init__(self, cfg: Config, store: StateStore | None, mail: bool = True,
                 classes: ClassMap | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.mail_enabled = mail
        self.classes = classes  # the consumer's loaded class map (None: load it when needed)

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
                  mail: bool = True, classes: ClassMap | None = None) -> list[Output]:
    """The named outputs (default :data:`DEFAULT_OUTPUTS`); *classes*: the class map the
    consumer already loaded from ``classes.map_file``, so no output parses it again."""
    registry = _registry()
    out = []
    for name in names or DEFAULT_OUTPUTS:
        cls = registry.get(name)
        if cls is None:
            raise ConfigError(cfg.source, "consumer.outputs",
                              f"unknown output {name!r} (known: {', '.join(registry)})")
        out.append(cls(cfg, store, mail, classes))
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write *path* via a temporary file and rename, so readers never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
