"""Handler stage: one module per detection, registered by name in :data:`HANDLERS`.

A handler receives the decoded events of the kinds it lists in ``kinds`` (``handle``) and the
sakimori alerts whose ``sakimori_detection`` it owns (``on_alert``); ``findings()`` turns what
it accumulated into at most one :class:`~eve_consumer.model.Finding` per internal host.
``snapshot()``/``restore()`` carry its bounded state through the state store, so a follow-mode
restart continues where it stopped. An unknown handler name is a configuration error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from eve_consumer.context import Context
from eve_consumer.model import Finding
from sakimori.errors import ConfigError
from sakimori.eve.decode import Event


class Handler:
    """Base class; subclasses set ``name``, ``detections`` and ``kinds``."""

    name: ClassVar[str] = ""
    detections: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[tuple[str, ...]] = ()
    # Which flow events reach handle(): "any", "internal_src" (source internal) or
    # "outbound" (source internal, destination external). The dispatcher checks it once.
    flow_scope: ClassVar[str] = "any"
    # True: handle() reads a flow event's ``data`` through sakimori.eve.typed.as_flow, so the
    # batch loop may hand it the typed FlowRecord itself (no dict made per flow).
    typed_flows: ClassVar[bool] = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def handle(self, ev: Event) -> None:
        """One decoded event of a kind in ``kinds``."""

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        """One alert whose rule metadata names *detection* (one of ``detections``)."""

    def findings(self) -> list[Finding]:
        return []

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for the store (bounded)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Load what :meth:`snapshot` returned."""

    def prune(self, now: float) -> None:
        """Forget state older than the handler's window (follow mode)."""


HANDLERS: dict[str, type[Handler]] = {}


def register(cls: type[Handler]) -> type[Handler]:
    """Class decorator adding a handler to :data:`HANDLERS` under ``cls.name``."""
    HANDLERS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Imported for their @register side effect.
    from eve_consumer.handlers import (  # noqa: F401
        anonymizer,
        beacon,
        fw_blocked,
        long_session,
        long_url,
        mail_spoof,
        non_http,
        signatures,
    )


def build_handlers(ctx: Context, names: Iterable[str] | None = None,
                   source: str = "<config>") -> list[Handler]:
    """Instantiate the named handlers: all when *names* is None, in name order (not the
    registry's, which follows whichever module was imported first: ``consume --workers``
    imports beacon early, and its stats.json must list the handlers as one consumer does)."""
    _load_builtin()
    if names is None:
        return [cls(ctx) for _, cls in sorted(HANDLERS.items())]
    out = []
    for name in names:
        cls = HANDLERS.get(name)
        if cls is None:
            raise ConfigError(source, "consumer.handlers",
                              f"unknown handler {name!r} (known: {', '.join(HANDLERS)})")
        out.append(cls(ctx))
    return out


def alert_host(ctx: Context, ev: Event, meta: dict[str, Any]) -> tuple[str, str, str, bool] | None:
    """(host, other side, label, other side is a destination): the side the dispatcher chose
    for a third-party alert (``_host``), else the internal side, source first."""
    chosen = meta.get("_host")
    if type(chosen) is tuple:
        return chosen
    side = ctx.home_side(ev)
    if side is None:
        return None
    host, other, label = side
    return host, other, label, other == ev.dest_ip


def rule_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The sakimori_* keys of an alert's metadata as scalars (EVE gives lists)."""
    out: dict[str, Any] = {}
    for key in ("sakimori_threshold", "sakimori_source"):
        value = meta.get(key)
        if type(value) is list and value:
            value = value[0]
        if value is not None:
            out[key[len("sakimori_"):]] = value
    return out
