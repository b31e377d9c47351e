"""``malware_signature`` and ``web_attack`` from third-party rules (e.g. ET Open) and sakimori
static rules tagged with those detections.

Alerts without ``sakimori_detection`` metadata are classed by the Table 1 map
(:mod:`eve_consumer.classes`, ``eve_consumer/classes.yaml``, docs/classes.md): ET
WEB_SERVER / WEB_SPECIFIC_APPS and ``web-application-attack`` on an internal server →
``web_attack`` (the server is the host); ET MALWARE / TROJAN / CNC / JA3, botnet C2 and
compromised-host lists, ``trojan-activity`` / ``command-and-control`` from an internal client →
``malware_signature`` (class ``malware``); policy, info and scan alerts → nothing (counted as
``alerts_ignored``). The dispatcher passes the chosen host (``_host``) and class (``_class``).

Without a chosen host (sakimori's own rules) the host is the internal side of the alert
(source preferred) — for ``web_attack`` rules (uploaded web shells, scripts written by PUT;
suricata_rules/static.rules) the flow's internal server. Alerts whose other side is a
whitelisted destination (IP, or the flow's Host/SNI) are skipped. Confidence by severity:
1 → 1.0, 2 → 0.8, 3 or more → 0.6. Each finding carries the classes of the alerts behind it
(``Finding.classes``).
"""

from __future__ import annotations

from typing import Any

from eve_consumer.classes import CLASS_DETECTION
from eve_consumer.correlate import default_class_map
from eve_consumer.handlers import Handler, alert_host, register
from eve_consumer.model import Finding, Tally, host_room, tallies_from_state, tallies_to_state
from eve_consumer.saved import shaped
from sakimori.eve.decode import Event

MAX_SIGNATURES = 10


def classify(alert: dict[str, Any]) -> str | None:
    """The detection a third-party alert maps to under the packaged default class map, or
    None (kept for callers without a :class:`~eve_consumer.context.Context`)."""
    rule = default_class_map().for_alert(alert)
    return CLASS_DETECTION[rule.cls] if rule is not None and rule.cls else None


def _confidence(severity: Any) -> float:
    if type(severity) is not int:
        return 0.6
    return 1.0 if severity <= 1 else 0.8 if severity == 2 else 0.6


@register
class SignaturesHandler(Handler):
    name = "signatures"
    detections = ("malware_signature", "web_attack")
    kinds = ()

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.tallies: dict[str, Tally] = {}  # "host detection" -> tally
        self.sigs: dict[str, dict[str, int]] = {}
        self.conf: dict[str, float] = {}
        self.classes: dict[str, list[str]] = {}

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        if detection == "web_attack" and "_host" not in meta:
            # sakimori's own web_attack rules: the victim is the flow's (internal) server
            meta = {**meta, "_host": self.ctx.alert_side(ev, "server")}
            if meta["_host"] is None:
                self.ctx.counters["alerts_without_internal_host"] += 1
                return
        side = alert_host(self.ctx, ev, meta)
        if side is None:
            self.ctx.counters["alerts_without_internal_host"] += 1
            return
        host, other, label, other_is_dest = side
        if other_is_dest and self.ctx.whitelisted(other, self.ctx.name_of(ev.flow_id)):
            self.ctx.counters["signatures_whitelisted"] += 1
            return
        key = f"{host} {detection}"
        if not host_room(self.tallies, key, self.ctx.counters, "signatures_hosts_dropped"):
            return
        cls = meta.get("_class") or self.ctx.classes.of_detection(detection)
        known = self.classes.setdefault(key, [])
        if cls and cls not in known:
            known.append(cls)
        self.tallies.setdefault(key, Tally()).add(ev.ts, label, ev.flow_id)
        alert = ev.data
        sig = f"{alert.get('signature_id')}: {alert.get('signature')}"
        sigs = self.sigs.setdefault(key, {})
        if sig in sigs or len(sigs) < MAX_SIGNATURES:
            sigs[sig] = sigs.get(sig, 0) + 1
        self.conf[key] = max(self.conf.get(key, 0.0), _confidence(alert.get("severity")))

    def findings(self) -> list[Finding]:
        out = []
        for key, t in sorted(self.tallies.items()):
            host, detection = key.split(" ", 1)
            sigs = self.sigs.get(key, {})
            top = max(sigs.items(), key=lambda kv: kv[1])[0] if sigs else "?"
            out.append(Finding(host, detection, self.conf.get(key, 0.6), t.first, t.last,
                               t.top_destinations(), t.flow_ids,
                               {"alerts": t.count, "signatures": sigs},
                               f"{t.count} alert(s), e.g. {top}",
                               classes=list(self.classes.get(key, []))))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"tallies": tallies_to_state(self.tallies), "sigs": self.sigs, "conf": self.conf,
                "classes": self.classes}

    def restore(self, state: dict[str, Any]) -> None:
        self.tallies = tallies_from_state(state.get("tallies", {}), "signatures tallies")
        self.sigs = shaped(state.get("sigs", {}), dict[str, dict[str, int]], "signatures sigs")
        self.conf = shaped(state.get("conf", {}), dict[str, float], "signatures conf")
        self.classes = shaped(state.get("classes", {}), dict[str, list[str]],
                              "signatures classes")
