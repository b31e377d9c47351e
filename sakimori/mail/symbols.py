"""The mail-symbol catalogue: loader of ``symbols.yaml`` (packaged next to this module).

The one definition of every SAKIMORI_* Rspamd symbol: name, default score (weight), group,
description and the en/ja text a warning shows for it. The Python checks take their names from
here, the warnings their texts, and ``generator/render_rspamd.py`` renders the Rspamd symbol
group and the plugin's scores/descriptions from it (docs/architecture.md, "One catalogue").

API: :data:`SYMBOLS` (catalogue order), :data:`NAMES`, :data:`GROUP`, :func:`load`.
A malformed catalogue raises :class:`~sakimori.errors.ConfigError` naming the entry and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sakimori.errors import ConfigError

CATALOGUE = Path(__file__).with_name("symbols.yaml")
LANGUAGES = ("en", "ja")


@dataclass(frozen=True)
class Symbol:
    """One catalogue entry."""

    name: str
    score: float
    group: str
    description: str
    warning: dict[str, str]  # language → what the check means, for a warning's reader


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, key, "must be a non-empty string")
    return value


def _entry(raw: Any, index: int, group: str, where: str) -> Symbol:
    key = f"symbols[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(where, key, "must be a mapping")
    unknown = set(raw) - {"name", "score", "description", "warning"}
    if unknown:
        raise ConfigError(where, f"{key}.{sorted(unknown)[0]}", "unknown key")
    name = _text(raw.get("name"), where, f"{key}.name")
    if not name.startswith("SAKIMORI_") or not name.replace("_", "").isalnum():
        raise ConfigError(where, f"{key}.name", f"{name!r} is not a SAKIMORI_* symbol name")
    score = raw.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise ConfigError(where, f"{key}.score", "must be a number")
    warning = raw.get("warning")
    if not isinstance(warning, dict) or set(warning) != set(LANGUAGES):
        raise ConfigError(where, f"{key}.warning", f"must have exactly the languages "
                          f"{', '.join(LANGUAGES)}")
    texts = {lang: _text(warning[lang], where, f"{key}.warning.{lang}") for lang in LANGUAGES}
    return Symbol(name=name, score=float(score), group=group,
                  description=_text(raw.get("description"), where, f"{key}.description"),
                  warning=texts)


def load(path: Path = CATALOGUE) -> tuple[str, tuple[Symbol, ...]]:
    """``(group, symbols)`` of the catalogue at ``path`` (default: the packaged one)."""
    where = str(path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or set(doc) != {"group", "symbols"}:
        raise ConfigError(where, "", "must be a mapping with exactly 'group' and 'symbols'")
    group = _text(doc["group"], where, "group")
    if not isinstance(doc["symbols"], list) or not doc["symbols"]:
        raise ConfigError(where, "symbols", "must be a non-empty list")
    symbols = tuple(_entry(raw, i, group, where) for i, raw in enumerate(doc["symbols"]))
    names = [s.name for s in symbols]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(where, f"symbols[{i}].name", f"{name} appears twice")
    return group, symbols


GROUP, SYMBOLS = load()
NAMES: tuple[str, ...] = tuple(s.name for s in SYMBOLS)
BY_NAME: dict[str, Symbol] = {s.name: s for s in SYMBOLS}


def warning_texts(lang: str) -> dict[str, str]:
    """symbol name → the warning's text for it in ``lang`` (one of :data:`LANGUAGES`)."""
    return {s.name: s.warning[lang] for s in SYMBOLS}
