"""``long_session``: a connection held open far longer than this network's sessions last.

Two sources, merged per internal host:

- sakimori ``long_session`` alerts (``flow.age`` rules: the only way to see a session that is
  still open, since EVE ``flow`` events are written when a flow ends);
- ``flow`` events whose age (``flow.age``, else ``end - start``) reaches the effective
  long-session threshold (learned, config override, or fallback; ``Threshold.explain()`` is in
  the evidence). When Suricata reads a capture, flows still open at its end are logged at
  shutdown with their age so far, so they are caught here too.

Whitelisted destinations are skipped. Confidence: 0.8 for a rule alert; for flows 0.6 at the
threshold, +0.2 per doubling of the age (max 1.0).
"""

from __future__ import annotations

from typing import Any

from eve_consumer.handlers import Handler, register, rule_meta
from eve_consumer.model import (
    Finding,
    Tally,
    host_room,
    ratio_confidence,
    tallies_from_state,
    tallies_to_state,
)
from sakimori.eve.decode import Event, flow_times
from sakimori.eve.typed import FlowRecord, as_flow

RULE_CONFIDENCE = 0.8


@register
class LongSessionHandler(Handler):
    name = "long_session"
    detections = ("long_session",)
    kinds = ("flow",)
    typed_flows = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.threshold = ctx.thresholds.long_session_s
        self.limit = self.threshold.value
        self.flows: dict[str, Tally] = {}
        self.max_age: dict[str, float] = {}
        self.alerts: dict[str, Tally] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def handle(self, ev: Event) -> None:
        rec = ev.data
        if type(rec) is not FlowRecord:
            rec = as_flow(rec)
        flow = rec.flow
        if flow is None:
            return
        age = flow.age
        if type(age) is int and age < self.limit:
            return
        if type(age) is not int:
            span = flow_times(ev)  # age missing: fall back to end - start
            if span is None:
                return
            age = span[1] - span[0]
        if age < self.threshold.value:
            return
        side = self.ctx.home_side(ev)
        if side is None:
            return
        host, other, label = side
        if self.ctx.whitelisted_peer(ev, other, self.ctx.name_of(ev.flow_id)):
            self.ctx.counters["long_session_whitelisted"] += 1
            return
        if not host_room(self.flows, host, self.ctx.counters, "long_session_hosts_dropped"):
            return
        times = flow_times(ev)
        start, end = times if times else (ev.ts, ev.ts)
        tally = self.flows.setdefault(host, Tally())
        tally.add(start, self._dest(ev.flow_id, label), ev.flow_id)
        tally.last = max(tally.last, end)
        self.max_age[host] = max(self.max_age.get(host, 0.0), float(age))

    def _dest(self, flow_id: int, label: str) -> str:
        name = self.ctx.name_of(flow_id)
        return f"{name} ({label})" if name else label

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        side = self.ctx.home_side(ev)
        if side is None:
            return
        host, other, label = side
        name = self.ctx.name_of(ev.flow_id)  # the dispatcher noted the alert's SNI/Host
        if self.ctx.whitelisted_peer(ev, other, name):
            return
        if not host_room(self.alerts, host, self.ctx.counters, "long_session_hosts_dropped"):
            return
        self.alerts.setdefault(host, Tally()).add(ev.ts, self._dest(ev.flow_id, label),
                                                  ev.flow_id)
        self.meta.setdefault(host, rule_meta(meta))

    def findings(self) -> list[Finding]:
        out = []
        explain = self.threshold.explain()
        for host in sorted(set(self.flows) | set(self.alerts)):
            flows, alerts = self.flows.get(host), self.alerts.get(host)
            conf, parts, evidence = 0.0, [], {"threshold_s": explain}
            merged = Tally()
            if flows:
                age = self.max_age.get(host, 0.0)
                conf = ratio_confidence(age, self.threshold.value)
                parts.append(f"{flows.count} session(s), longest {age:.0f}s >= {explain}")
                evidence.update(sessions=flows.count, longest_s=round(age))
                merged.merge(flows)
            if alerts:
                conf = max(conf, RULE_CONFIDENCE)
                parts.append(f"{alerts.count} long-session rule alert(s)")
                evidence.update(rule_alerts=alerts.count, rule=self.meta.get(host, {}))
                merged.merge(alerts)
            out.append(Finding(host, "long_session", conf, merged.first, merged.last,
                               merged.top_destinations(), merged.flow_ids, evidence,
                               "; ".join(parts)))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"flows": tallies_to_state(self.flows), "max_age": self.max_age,
                "alerts": tallies_to_state(self.alerts), "meta": self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        self.flows = tallies_from_state(state.get("flows", {}))
        self.max_age = dict(state.get("max_age", {}))
        self.alerts = tallies_from_state(state.get("alerts", {}))
        self.meta = dict(state.get("meta", {}))

