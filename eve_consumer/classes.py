"""Table 1 classes (HTTP side): ``backdoor``, ``web_attack``, ``malware``, ``anonymizer``.

The mapping is data — ``eve_consumer/classes.yaml``, or the file named by
``classes.map_file`` — read once into a :class:`ClassMap` (docs/classes.md):

- ``detections``: each sakimori detection → its class (or none);
- ``alerts``: ordered entries for third-party alerts (no ``sakimori_detection`` metadata):
  conditions on the signature's msg prefix, the EVE ``alert.category``, the classtype (via
  the ``classtypes`` table) and the rule metadata; the first entry whose conditions all hold
  gives the class (or none) and which side of the flow is the reported host.

A third-party alert's class picks the detection it is reported under
(:data:`CLASS_DETECTION`): ``web_attack`` → ``web_attack``, ``malware`` and ``backdoor`` →
``malware_signature``, ``anonymizer`` → ``anonymizer``. A bad map file is a
:class:`~sakimori.errors.ConfigError` naming the file and entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eve_consumer.model import VOCABULARY
from sakimori.errors import ConfigError

CLASSES: tuple[str, ...] = ("backdoor", "web_attack", "malware", "anonymizer")
CLASS_DETECTION = {"web_attack": "web_attack", "malware": "malware_signature",
                   "backdoor": "malware_signature", "anonymizer": "anonymizer"}
HOST_SIDES = ("client", "server", "internal")
DEFAULT_MAP = Path(__file__).resolve().parent / "classes.yaml"
_CONDITIONS = ("signature_prefix", "category", "classtype", "metadata")
_ENTRY_KEYS = frozenset({"name", "class", "host", *_CONDITIONS})


@dataclass(frozen=True)
class AlertRule:
    """One ``alerts`` entry: conditions (lower-cased) → class and reported side."""

    name: str
    cls: str | None
    host: str
    prefixes: tuple[str, ...] = ()
    categories: frozenset[str] | None = None
    metadata: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches_text(self, category: str, signature: str) -> bool:
        """The msg/category conditions (metadata not looked at)."""
        if self.prefixes and not signature.startswith(self.prefixes):
            return False
        return self.categories is None or category in self.categories

    def matches_meta(self, meta: dict[str, Any]) -> bool:
        for key, wanted in self.metadata:
            values = meta.get(key)
            if type(values) is not list or not any(
                    type(v) is str and v.lower() in wanted for v in values):
                return False
        return True


# libyaml's safe loader when PyYAML has it (the same objects, ≈ 10× faster: the map is read
# at start and by the findings output, inside a one-shot run's timed section)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ClassMap:
    """The loaded mapping; :meth:`for_alert` classes one third-party alert."""

    def __init__(self, detections: dict[str, str | None], rules: list[AlertRule],
                 source: str) -> None:
        self.detections = detections
        self.rules = rules
        self.source = source

    # --- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> ClassMap:
        """Read *path* (None: the packaged default map)."""
        path = Path(path) if path is not None else DEFAULT_MAP
        src = str(path)
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
        except OSError as exc:
            raise ConfigError(src, "", f"cannot read the classes map: {exc.strerror or exc}")\
                from exc
        except yaml.YAMLError as exc:
            raise ConfigError(src, "", f"not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(src, "", "the classes map must be a mapping")
        unknown = set(doc) - {"version", "detections", "alerts", "classtypes"}
        if unknown:
            raise ConfigError(src, sorted(unknown)[0], "unknown key (known: version, "
                                                       "detections, alerts, classtypes)")
        classtypes = doc.get("classtypes") or {}
        if not isinstance(classtypes, dict):
            raise ConfigError(src, "classtypes", "must map classtype names to descriptions")
        alerts = doc.get("alerts") or []
        if not isinstance(alerts, list):
            raise ConfigError(src, "alerts", "must be a list of entries")
        rules = [_rule(e, i, src, classtypes) for i, e in enumerate(alerts)]
        return cls(_detections(doc.get("detections"), src), rules, src)

    # --- use --------------------------------------------------------------------------------
    def of_detection(self, detection: str) -> str | None:
        return self.detections.get(detection)

    def host_classes(self, detections: list[str], extra: list[str] | tuple = ()) -> list[str]:
        """The classes of a host with *detections* (plus *extra*), in :data:`CLASSES` order."""
        got = {self.detections.get(d) for d in detections} | set(extra)
        return [c for c in CLASSES if c in got]

    def for_alert(self, alert: dict[str, Any]) -> AlertRule | None:
        """The first entry matching *alert* (EVE ``alert`` object), or None."""
        category, signature = _text(alert.get("category")), _text(alert.get("signature"))
        meta = alert.get("metadata")
        meta = meta if type(meta) is dict else {}
        for rule in self.rules:
            if rule.matches_text(category, signature) and rule.matches_meta(meta):
                return rule
        return None

    def may_class(self, category: str, signature: str) -> bool:
        """False only when no metadata could make an alert with this category and signature
        get a class (the prefilter's question; True = parse it and decide)."""
        category, signature = category.lower(), signature.lower()
        for rule in self.rules:
            if not rule.matches_text(category, signature):
                continue
            if not rule.metadata:
                return rule.cls is not None
            if rule.cls is not None:
                return True
        return False


def _text(value: Any) -> str:
    return value.lower() if type(value) is str else ""


def _detections(raw: Any, src: str) -> dict[str, str | None]:
    if not isinstance(raw, dict):
        raise ConfigError(src, "detections", "must map every detection to a class or null")
    out: dict[str, str | None] = {}
    for det in VOCABULARY:
        if det not in raw:
            raise ConfigError(src, f"detections.{det}", "missing (list every detection)")
        out[det] = _class(raw[det], src, f"detections.{det}")
    extra = set(raw) - set(VOCABULARY)
    if extra:
        raise ConfigError(src, f"detections.{sorted(extra)[0]}",
                          f"unknown detection (known: {', '.join(VOCABULARY)})")
    return out


def _class(value: Any, src: str, key: str) -> str | None:
    if value is None or value in CLASSES:
        return value
    raise ConfigError(src, key, f"unknown class {value!r} (known: {', '.join(CLASSES)}, null)")


def _strings(value: Any, src: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or \
            not all(isinstance(v, str) and v for v in value):
        raise ConfigError(src, key, "must be a non-empty list of strings")
    return tuple(v.lower() for v in value)


def _rule(entry: Any, i: int, src: str, classtypes: dict[str, Any]) -> AlertRule:
    key = f"alerts[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(src, key, "must be a mapping")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(src, f"{key}.{sorted(unknown)[0]}",
                          f"unknown key (known: {', '.join(sorted(_ENTRY_KEYS))})")
    if "class" not in entry:
        raise ConfigError(src, f"{key}.class", "missing (a class or null)")
    if not any(c in entry for c in _CONDITIONS):
        raise ConfigError(src, key, f"needs at least one condition ({', '.join(_CONDITIONS)})")
    host = entry.get("host", "internal")
    if host not in HOST_SIDES:
        raise ConfigError(src, f"{key}.host", f"must be one of {', '.join(HOST_SIDES)}")
    categories: set[str] | None = None
    if "category" in entry:
        categories = set(_strings(entry["category"], src, f"{key}.category"))
    if "classtype" in entry:
        categories = categories or set()
        for name in _strings(entry["classtype"], src, f"{key}.classtype"):
            desc = {k.lower(): v for k, v in classtypes.items()}.get(name)
            if not isinstance(desc, str):
                raise ConfigError(src, f"{key}.classtype",
                                  f"classtype {name!r} is not in the map's classtypes table")
            categories.add(desc.lower())
    meta: list[tuple[str, frozenset[str]]] = []
    if "metadata" in entry:
        raw = entry["metadata"]
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(src, f"{key}.metadata", "must map metadata keys to value lists")
        for mkey, values in raw.items():
            meta.append((str(mkey), frozenset(_strings(values, src, f"{key}.metadata.{mkey}"))))
    prefixes = _strings(entry["signature_prefix"], src, f"{key}.signature_prefix") \
        if "signature_prefix" in entry else ()
    return AlertRule(name=str(entry.get("name") or key),
                     cls=_class(entry["class"], src, f"{key}.class"), host=host,
                     prefixes=prefixes,
                     categories=frozenset(categories) if categories is not None else None,
                     metadata=tuple(meta))
