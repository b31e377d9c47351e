"""The declaration format of sakimori.yaml's keys and what follows from it.

Every key is declared once, as a :class:`Key` in :data:`sakimori.config_keys.KEYS`: its type,
default (``None`` = learned or unset), bounds or choices and a one-line description. From that
one table come

- the defaults and the known-key check of the file, ``SAKIMORI_<SECTION>__<KEY>`` and CLI
  overrides (:func:`defaults`, used by :mod:`sakimori.config`);
- the type/bound validation, one line naming the dotted key (:func:`check`);
- the configuration reference ``docs/configuration.md`` (:func:`render_markdown`;
  ``python -m sakimori.config_schema --markdown > docs/configuration.md`` regenerates it and a
  test fails when the committed file differs).

What needs more than a type and a bound (IP networks, host:port, paths against the config
file's directory, the whitelist policy, the port table, relay presets, …) is post-processing
in :mod:`sakimori.config` and the section builders, on values already checked here.

Why not ``msgspec.convert`` onto ``Struct`` types with ``Meta(ge=, le=)``: its errors read
``Expected `int` >= 1 - at `$.mail.new_infra_min_history``` without the offending value, and
the ``$.``-path would have to be parsed back into the dotted key; the checks here are a few
lines per type and keep the project's ``FILE: section.key[i]: must be …, got V`` line.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sakimori.errors import ConfigError

# type -> (what the reference calls it). "str" is non-empty and stripped; "text" may be empty
# (null reads as "") and has no line breaks; "path" is a non-empty string resolved later
# against the config file's directory; "list" holds items checked by post-processing.
TYPES: dict[str, str] = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "str": "string",
    "text": "string (may be empty)",
    "path": "path",
    "list[str]": "list of strings",
    "list[int]": "list of integers",
    "list[path]": "list of paths",
    "list": "list",
    "map": "mapping",
}


@dataclass(frozen=True, eq=False)
class Key:
    """One configuration key: ``section.name`` with its type, default and limits."""

    section: str
    name: str
    type: str
    default: Any
    doc: str
    ge: float | None = None  # inclusive lower bound (numbers, list[int] items)
    gt: float | None = None  # exclusive lower bound
    le: float | None = None  # inclusive upper bound
    choices: tuple[str, ...] = ()  # allowed values (str, or each item of list[str])
    nullable: bool = False  # null is allowed (and then kept as None)
    blank: bool = False  # a "path": "" reads as null
    extra: str = ""  # further constraint checked by post-processing, for the reference

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.dotted}: unknown type {self.type!r}")

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


@dataclass(frozen=True)
class Section:
    """A section of sakimori.yaml: its name, one line about it, and its keys in order."""

    name: str
    doc: str
    keys: tuple[Key, ...] = field(default=())


def section(name: str, doc: str, *keys: tuple[str, str, Any, str, dict[str, Any]]) -> Section:
    """A :class:`Section` from ``(name, type, default, description, {limits})`` rows."""
    return Section(name, doc, tuple(Key(name, k, t, d, text, **opts)
                                    for k, t, d, text, opts in keys))


def defaults(sections: Iterable[Section]) -> dict[str, dict[str, Any]]:
    """section -> key -> default (a fresh deep copy: callers may change it)."""
    return {s.name: {k.name: copy.deepcopy(k.default) for k in s.keys} for s in sections}


# --- validation: each check names the dotted key (with [i] for a list item) ---------------

def _bounds(key: Key) -> str:
    low = (f">= {key.ge}" if key.ge is not None else f"> {key.gt}" if key.gt is not None
           else "")
    if key.ge is not None and key.le is not None:
        return f"between {key.ge} and {key.le}"
    if low and key.le is not None:
        return f"{low} and <= {key.le}"
    return low or f"<= {key.le}"


def _number(key: Key, value: Any, src: str, where: str, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        kind = "an integer" if integer else "a number"
        raise ConfigError(src, where, f"must be {kind}, got {value!r}")
    if ((key.ge is not None and value < key.ge) or (key.gt is not None and value <= key.gt)
            or (key.le is not None and value > key.le)):
        raise ConfigError(src, where, f"must be {_bounds(key)}, got {value!r}")
    return value if integer else float(value)


def _choice(key: Key, value: str, src: str, where: str) -> str:
    if key.choices and value not in key.choices:
        raise ConfigError(src, where, f"must be one of {', '.join(key.choices)}, got "
                                      f"{value!r}")
    return value


def _hint(key: Key) -> str:
    """The declared further constraint, told with a wrong type: " (host:port)"."""
    return f" ({key.extra})" if key.extra else ""


def _string(key: Key, value: Any, src: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(src, where, f"must be a non-empty string{_hint(key)}, got "
                                      f"{value!r}")
    return value.strip()


def _path(value: Any, src: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(src, where, f"must be a non-empty path, got {value!r}")
    return value.strip()


def _list(key: Key, value: Any, src: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(src, where, f"must be a {TYPES[key.type]}{_hint(key)}")
    return value


def _str_item(key: Key, item: Any, src: str, where: str) -> str:
    if not isinstance(item, str | int | float) or isinstance(item, bool):
        raise ConfigError(src, where, "must be a string")
    return _choice(key, str(item).strip(), src, where)


def check(key: Key, value: Any, src: str) -> Any:
    """*value* of *key* checked against its declaration (lists become tuples, numbers of a
    float key floats, strings stripped); :class:`ConfigError` naming ``section.key[i]``."""
    where = key.dotted
    if value is None and key.nullable:
        return None
    kind = key.type
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(src, where, f"must be true or false, got {value!r}")
        return value
    if kind in ("int", "float"):
        return _number(key, value, src, where, kind == "int")
    if kind == "str":
        return _choice(key, _string(key, value, src, where), src, where)
    if kind == "text":
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ConfigError(src, where, f"must be a string, got {value!r}")
        if any(ch in value for ch in "\r\n\0"):
            raise ConfigError(src, where, "must not contain line breaks")
        return value
    if kind == "path":
        if key.blank and isinstance(value, str) and not value.strip():
            return None
        return _path(value, src, where)
    if kind == "map":
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(src, where, f"must be a mapping{_hint(key)}")
        return value
    items = _list(key, value, src, where)
    if kind == "list[str]":
        return tuple(_str_item(key, v, src, f"{where}[{i}]") for i, v in enumerate(items))
    if kind == "list[int]":
        return tuple(_number(key, v, src, f"{where}[{i}]", True) for i, v in enumerate(items))
    if kind == "list[path]":
        return tuple(_path(v, src, f"{where}[{i}]") for i, v in enumerate(items))
    return list(items)  # "list": its items are checked by post-processing


def check_all(sections: Iterable[Section], merged: dict[str, dict[str, Any]],
              src: str) -> dict[str, dict[str, Any]]:
    """Every declared key of *merged* (defaults, file, environment, overrides) checked."""
    return {s.name: {k.name: check(k, merged[s.name][k.name], src) for k in s.keys}
            for s in sections}


# --- the reference (docs/configuration.md) -----------------------------------------------

def _yaml(value: Any) -> str:
    """*value* as it is written in sakimori.yaml (flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = value and value.strip() == value and value[0] not in "{[]},&*#?|-<>=!%@`'\":" \
            and ": " not in value and " #" not in value \
            and value.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "~")
        return value if plain and not _numeric(value) else json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml(k)}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _allowed(key: Key) -> str:
    parts = []
    if key.choices:
        parts.append("one of " + ", ".join(f"`{c}`" for c in key.choices))
    if key.ge is not None or key.gt is not None or key.le is not None:
        parts.append(_bounds(key))
    if key.nullable:
        parts.append("`null`" + (" or `\"\"`" if key.blank else ""))
    if key.extra:
        parts.append(key.extra)
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


HEADER = """\
# Configuration reference (sakimori.yaml)

<!-- Generated from sakimori/config_keys.py by
     `python -m sakimori.config_schema --markdown > docs/configuration.md`; do not edit:
     tests/test_config_schema.py fails when this file and the declaration differ. -->

Every key of `sakimori.yaml`, declared once in `sakimori/config_keys.py` (type, default,
limits, description); `examples/sakimori.yaml` shows each of them with a longer comment.

- Precedence: built-in defaults (below) → the file → environment → command-line flags.
- Environment: `SAKIMORI_<SECTION>__<KEY>=<YAML value>`, e.g.
  `SAKIMORI_TRAFFIC__URL_LENGTH_THRESHOLD=800`.
- An unknown section or key, a wrong type or a value out of bounds is a one-line error
  naming the file (or the environment variable that set the value) and the dotted key, e.g.
  `sakimori.yaml: traffic.beacon_threshold: must be between 0.0 and 1.0, got 2`.
- Relative paths are resolved against the directory of the configuration file.
- A default of `null` means learned from the baselines, or unset (see the description).
"""


def render_markdown(sections: Sequence[Section]) -> str:
    """The configuration reference: one table per section, from the declaration."""
    out = [HEADER]
    for sec in sections:
        out += [f"\n## `{sec.name}`\n", f"{sec.doc}\n",
                "| key | type | default | allowed | description |",
                "|---|---|---|---|---|"]
        out += [f"| `{k.name}` | {TYPES[k.type]} | `{_cell(_yaml(k.default))}` | "
                f"{_cell(_allowed(k))} | {_cell(k.doc)} |" for k in sec.keys]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sakimori.config_schema",
                                     description="The declared sakimori.yaml keys.")
    parser.add_argument("--markdown", action="store_true", required=True,
                        help="print docs/configuration.md")
    parser.parse_args(argv)
    from sakimori.config_keys import SECTIONS

    print(render_markdown(SECTIONS), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
