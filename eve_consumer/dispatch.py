"""Routing of decoded events to handlers (between the decode and handler stages).

- ``flow`` events reach each flow handler through :func:`~eve_consumer.handlers.flowgate.
  flow_handle`: its compiled gate (the handler's early exits in C) or its ``handle``.
- ``dns`` answers feed the IP → name map; ``http`` (Host) and ``tls`` (SNI) feed the
  flow_id → name join before any handler sees them; a ``flow`` event goes to the handlers
  whose ``flow_scope`` it fits (the internal/external test is made once here), then its join
  entry is dropped.
- ``alert``: an alert with ``sakimori_detection`` metadata goes to the handler owning that
  detection (an unknown word is counted, ``alerts_unknown_detection``); a sakimori SID without
  that metadata is counted (``alerts_sakimori_without_metadata``) and classified like any
  other; other (third-party) alerts are classed by the Table 1 map
  (:meth:`~eve_consumer.classes.ClassMap.for_alert`, docs/classes.md): no entry →
  ``alerts_ignored``; an entry with no class (policy, info, scans) → ``alerts_ignored`` and
  ``alerts_no_class``; a class whose reported side (client/server) is not internal →
  ``alerts_class_outside``; else the alert goes, with the chosen host (``_host``) and class
  (``_class``) added to its metadata, to the handler owning the class's detection
  (:data:`~eve_consumer.classes.CLASS_DETECTION`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eve_consumer.classes import CLASS_DETECTION
from eve_consumer.context import Context
from eve_consumer.handlers import Handler
from eve_consumer.handlers.flowgate import flow_handle
from eve_consumer.model import VOCABULARY_SET
from sakimori.eve.decode import Event


class Dispatcher:
    """Send each event to the handlers that want it."""

    def __init__(self, ctx: Context, handlers: list[Handler]) -> None:
        self.ctx = ctx
        self.handlers = handlers
        self.routes: dict[str, list[Callable[[Event], None]]] = {}
        scopes: dict[str, list[Callable[[Event], None]]] = {
            "any": [], "internal_src": [], "outbound": []}
        for h in handlers:
            for kind in h.kinds:
                if kind == "flow":  # the handler's compiled gate when it has one
                    scopes[h.flow_scope].append(flow_handle(h))
                else:
                    self.routes.setdefault(kind, []).append(h.handle)
        self.flow_any = tuple(scopes["any"])
        self.flow_internal = tuple(scopes["internal_src"])
        self.flow_outbound = tuple(scopes["outbound"])
        self.owners: dict[str, Handler] = {d: h for h in handlers for d in h.detections}
        # every flow handler reads a FlowRecord as well as a dict (Handler.typed_flows): the
        # consumer then sets Decoder.typed_data
        self.typed_flows = all(h.typed_flows for h in handlers if "flow" in h.kinds)

    def dispatch(self, ev: Event) -> None:
        kind = ev.kind
        ctx = self.ctx
        if kind == "flow":  # half of all events: routed inline, the home test memoised
            ts = ev.ts
            if ts > ctx.latest_ts:
                ctx.latest_ts = ts
            homes = ctx._home
            src_home = homes.get(ev.src_ip)
            if src_home is None:
                src_home = ctx.home(ev.src_ip)
            if src_home:
                for handle in self.flow_internal:
                    handle(ev)
                dst_home = homes.get(ev.dest_ip)
                if dst_home is None:
                    dst_home = ctx.home(ev.dest_ip)
                if not dst_home:
                    for handle in self.flow_outbound:
                        handle(ev)
            for handle in self.flow_any:
                handle(ev)
            names = ctx.flow_names
            if names:
                names.pop(ev.flow_id, None)
            return
        if kind == "alert":
            self._alert(ev)
            return
        if kind == "http":
            ctx.note_name(ev.flow_id, ev.data.get("hostname"))
        elif kind == "tls":
            ctx.note_name(ev.flow_id, ev.data.get("sni"))
        elif kind == "dns":
            ctx.on_dns(ev)
            return
        if ev.ts > ctx.latest_ts:
            ctx.latest_ts = ev.ts
        for handle in self.routes.get(kind, ()):
            handle(ev)

    def _alert(self, ev: Event) -> None:
        ctx = self.ctx
        alert = ev.data
        rec = ev.record or {}
        app = rec.get("http")
        if type(app) is dict:
            ctx.note_name(ev.flow_id, app.get("hostname"))
        else:
            app = rec.get("tls")
            if type(app) is dict:
                ctx.note_name(ev.flow_id, app.get("sni"))
        meta = alert.get("metadata")
        meta = meta if type(meta) is dict else {}
        detections = meta.get("sakimori_detection")
        if type(detections) is list and detections:
            self._sakimori(ev, detections, meta)
            return
        sid = alert.get("signature_id")
        if type(sid) is int and ctx.sid_range[0] <= sid <= ctx.sid_range[1]:
            ctx.counters["alerts_sakimori_without_metadata"] += 1
        rule = ctx.classes.for_alert(alert)
        if rule is None or rule.cls is None:
            ctx.counters["alerts_ignored"] += 1
            if rule is not None:
                ctx.counters["alerts_no_class"] += 1
            return
        detection = CLASS_DETECTION[rule.cls]
        owner = self.owners.get(detection)
        if owner is None:
            ctx.counters["alerts_ignored"] += 1
            return
        side = ctx.alert_side(ev, rule.host)
        if side is None:
            ctx.counters["alerts_class_outside"] += 1
            return
        ctx.counters[f"alerts_{detection}"] += 1
        owner.on_alert(ev, detection, {**meta, "_host": side, "_class": rule.cls})

    def _sakimori(self, ev: Event, detections: list[Any], meta: dict[str, Any]) -> None:
        ctx = self.ctx
        for detection in detections:
            known = type(detection) is str and detection in VOCABULARY_SET
            owner = self.owners.get(detection) if known else None
            if owner is None:
                ctx.counters["alerts_unknown_detection"] += 1
                continue
            ctx.counters[f"alerts_{detection}"] += 1
            owner.on_alert(ev, detection, meta)
