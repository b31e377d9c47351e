"""``malware_signature`` and ``web_attack`` from third-party rules (e.g. ET Open) and sakimori
static rules tagged with those detections.

Alerts without ``sakimori_detection`` metadata are mapped by :func:`classify`:

- category "A Network Trojan was detected" (classtype ``trojan-activity``), "Malware Command
  and Control Activity Detected" (``command-and-control``), any category mentioning malware,
  or a signature starting ``ET MALWARE``/``ET TROJAN``/``ET CNC`` → ``malware_signature``;
- category "Web Application Attack" (``web-application-attack``) → ``web_attack``;
- anything else is ignored and counted (``alerts_ignored``) — scans and reputation hits are
  not evidence of a backdoor on an internal host.

The host is the internal side of the alert (source preferred); alerts whose other side is a
whitelisted destination (IP, or the flow's Host/SNI) are skipped. Confidence by severity:
1 → 1.0, 2 → 0.8, 3 or more → 0.6.
"""

from __future__ import annotations

from typing import Any

from eve_consumer.decode import Event
from eve_consumer.handlers import Handler, register
from eve_consumer.model import Finding, Tally, host_room, tallies_from_state, tallies_to_state

MAX_SIGNATURES = 10
_MALWARE_PREFIXES = ("et malware", "et trojan", "et cnc", "etpro malware", "etpro trojan")


def classify(alert: dict[str, Any]) -> str | None:
    """The detection a non-sakimori alert maps to, or None."""
    category = alert.get("category")
    cat = category.lower() if type(category) is str else ""
    if "web application attack" in cat:
        return "web_attack"
    if "trojan" in cat or "command and control" in cat or "malware" in cat:
        return "malware_signature"
    signature = alert.get("signature")
    if type(signature) is str and signature.lower().startswith(_MALWARE_PREFIXES):
        return "malware_signature"
    return None


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

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        side = self.ctx.home_side(ev)
        if side is None:
            self.ctx.counters["alerts_without_internal_host"] += 1
            return
        host, other, label = side
        if self.ctx.whitelisted_peer(ev, other, self.ctx.name_of(ev.flow_id)):
            self.ctx.counters["signatures_whitelisted"] += 1
            return
        key = f"{host} {detection}"
        if not host_room(self.tallies, key, self.ctx.counters, "signatures_hosts_dropped"):
            return
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
                               f"{t.count} alert(s), e.g. {top}"))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"tallies": tallies_to_state(self.tallies), "sigs": self.sigs, "conf": self.conf}

    def restore(self, state: dict[str, Any]) -> None:
        self.tallies = tallies_from_state(state.get("tallies", {}))
        self.sigs = dict(state.get("sigs", {}))
        self.conf = dict(state.get("conf", {}))
