"""The ``mail_classes`` section of sakimori.yaml: Table 1 mail classes and ClamAV.

Its keys (types, defaults, bounds, choices) are declared in :mod:`sakimori.config_keys` and
checked by :mod:`sakimori.config_schema`; :func:`build_mail_classes` adds what a bound cannot
say. Every key is documented in ``examples/sakimori.yaml``, docs/configuration.md and
docs/mail-checks.md ("Mail classes (Table 1)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sakimori.config_keys import MAIL_CLASSES, default
from sakimori.errors import ConfigError

CLASSES = MAIL_CLASSES
SPAM_ACTIONS = ("reject", "rewrite subject", "add header")


@dataclass(frozen=True)
class MailClassesConfig:
    antivirus_servers: str = default("mail_classes.antivirus_servers")
    antivirus_timeout: float = default("mail_classes.antivirus_timeout")
    clamd_binary: str = default("mail_classes.clamd_binary")
    clamd_database: str = default("mail_classes.clamd_database")
    mass_min_recipients: int = default("mail_classes.mass_min_recipients")
    mass_window_hours: float = default("mail_classes.mass_window_hours")
    warn_classes: tuple[str, ...] = default("mail_classes.warn_classes")


def build_mail_classes(c: dict[str, Any], src: str) -> MailClassesConfig:
    """The typed ``mail_classes`` section (*c*: every key, checked against its declaration)."""
    servers = c["antivirus_servers"]
    if any(ch in servers for ch in "\"\\\n;{}"):
        raise ConfigError(src, "mail_classes.antivirus_servers",
                          f"must be HOST:PORT or a socket path, got {servers!r}")
    return MailClassesConfig(
        antivirus_servers=servers, antivirus_timeout=c["antivirus_timeout"],
        clamd_binary=c["clamd_binary"], clamd_database=c["clamd_database"],
        mass_min_recipients=c["mass_min_recipients"],
        mass_window_hours=c["mass_window_hours"],
        warn_classes=tuple(dict.fromkeys(c["warn_classes"])),
    )
