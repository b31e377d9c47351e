"""The ``mail_classes`` section of sakimori.yaml: Table 1 mail classes and ClamAV.

Kept apart from :mod:`sakimori.config` (which calls :func:`build_mail_classes`). Every key is
documented in ``examples/sakimori.yaml`` and docs/mail-checks.md ("Mail classes (Table 1)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sakimori.errors import ConfigError

CLASSES = ("targeted", "mass_virus", "spam", "clean")
DATABASES = ("auto", "system", "test")
SPAM_ACTIONS = ("reject", "rewrite subject", "add header")

MAIL_CLASSES_DEFAULTS: dict[str, Any] = {
    "antivirus_servers": "/run/clamav/clamd.ctl",
    "antivirus_timeout": 5.0,
    "clamd_binary": "clamd",
    "clamd_database": "auto",
    "mass_min_recipients": 10,
    "mass_window_hours": 24,
    "warn_classes": ["targeted"],
}


@dataclass(frozen=True)
class MailClassesConfig:
    antivirus_servers: str = "/run/clamav/clamd.ctl"
    antivirus_timeout: float = 5.0
    clamd_binary: str = "clamd"
    clamd_database: str = "auto"
    mass_min_recipients: int = 10
    mass_window_hours: float = 24.0
    warn_classes: tuple[str, ...] = ("targeted",)


def _positive(value: Any, src: str, key: str, kind: type, maximum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(src, key, f"must be a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise ConfigError(src, key, f"must be an integer, got {value!r}")
    if not 0 < value <= maximum:
        raise ConfigError(src, key, f"must be > 0 and <= {maximum}, got {value!r}")
    return kind(value)


def _text(value: Any, src: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(src, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def build_mail_classes(c: dict[str, Any], src: str) -> MailClassesConfig:
    """The typed ``mail_classes`` section (*c* holds every key, defaults merged)."""
    database = _text(c["clamd_database"], src, "mail_classes.clamd_database")
    if database not in DATABASES:
        raise ConfigError(src, "mail_classes.clamd_database",
                          f"must be one of {', '.join(DATABASES)}, got {database!r}")
    warn = c["warn_classes"]
    if not isinstance(warn, list) or any(w not in CLASSES for w in warn):
        raise ConfigError(src, "mail_classes.warn_classes",
                          f"must be a list of {', '.join(CLASSES)}, got {warn!r}")
    servers = _text(c["antivirus_servers"], src, "mail_classes.antivirus_servers")
    if any(ch in servers for ch in "\"\\\n;{}"):
        raise ConfigError(src, "mail_classes.antivirus_servers",
                          f"must be HOST:PORT or a socket path, got {servers!r}")
    return MailClassesConfig(
        antivirus_servers=servers,
        antivirus_timeout=_positive(c["antivirus_timeout"], src,
                                    "mail_classes.antivirus_timeout", float, 120.0),
        clamd_binary=_text(c["clamd_binary"], src, "mail_classes.clamd_binary"),
        clamd_database=database,
        mass_min_recipients=_positive(c["mass_min_recipients"], src,
                                      "mail_classes.mass_min_recipients", int, 1_000_000),
        mass_window_hours=_positive(c["mass_window_hours"], src,
                                    "mail_classes.mass_window_hours", float, 24 * 366),
        warn_classes=tuple(dict.fromkeys(warn)),
    )
