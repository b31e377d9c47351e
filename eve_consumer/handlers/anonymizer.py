"""``anonymizer``: traffic to anonymising networks (Tor), as tagged by sakimori rules (and
third-party alerts the Table 1 class map calls ``anonymizer``, e.g. ET TOR lists hit by an
internal client; the dispatcher chooses the host).

The generated rules carry the knowledge (Tor relay/guard lists as IP reputation, Tor's
certificate/SNI pattern, see docs/rules.md); the consumer collects every alert tagged
``sakimori_detection anonymizer`` per internal host. One alert is enough. Whitelisted
destinations are skipped. Confidence 0.9; evidence: rule threshold/source, signatures, SNIs.

Web-proxy logs (:mod:`eve_consumer.inputs.proxylog`) give the same knowledge without rules:
a ``proxy`` event with ``anonymizer`` (a request or CONNECT to a Tor relay address of
``anonymizer.tor_relays``, an ``.onion`` name, a tor2web gateway) counts like an alert, its
reason in ``signatures`` (``proxy: Tor relay``).
"""

from __future__ import annotations

from typing import Any

from eve_consumer.handlers import Handler, alert_host, register, rule_meta
from eve_consumer.model import (
    Finding,
    Tally,
    cap_name,
    host_room,
    tallies_from_state,
    tallies_to_state,
)
from sakimori.eve.decode import Event

CONFIDENCE = 0.9
MAX_SIGNATURES = 10


@register
class AnonymizerHandler(Handler):
    name = "anonymizer"
    detections = ("anonymizer",)
    kinds = ("proxy",)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.hosts: dict[str, Tally] = {}
        self.signatures: dict[str, list[str]] = {}
        self.meta: dict[str, Any] = {}

    def handle(self, ev: Event) -> None:
        why = ev.data.get("anonymizer")
        if not why or not self.ctx.home(ev.src_ip):
            return
        host = ev.data.get("host")
        if self.ctx.whitelisted(ev.dest_ip, host):
            self.ctx.counters["anonymizer_whitelisted"] += 1
            return
        dest = f"{ev.dest_ip}:{ev.dest_port}"
        self._count(ev.src_ip, ev.ts, f"{host} ({dest})" if host and host != ev.dest_ip
                    else dest, ev.flow_id, f"proxy: {why}")

    def _count(self, host: str, ts: float, dest: str, flow_id: int, sig: Any) -> None:
        if not host_room(self.hosts, host, self.ctx.counters, "anonymizer_hosts_dropped"):
            return
        self.hosts.setdefault(host, Tally()).add(ts, dest, flow_id)
        sigs = self.signatures.setdefault(host, [])
        if type(sig) is str and sig not in sigs and len(sigs) < MAX_SIGNATURES:
            sigs.append(sig)

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        side = alert_host(self.ctx, ev, meta)
        if side is None:
            return
        host, other, label, other_is_dest = side
        rec = ev.record or {}
        tls = rec.get("tls")
        sni = tls.get("sni") if type(tls) is dict else None
        sni = cap_name(sni) if type(sni) is str else None
        if other_is_dest and self.ctx.whitelisted(other, sni):
            self.ctx.counters["anonymizer_whitelisted"] += 1
            return
        dest = f"{sni} ({label})" if sni else label
        self._count(host, ev.ts, dest, ev.flow_id, ev.data.get("signature"))
        if not self.meta:
            self.meta = rule_meta(meta)

    def findings(self) -> list[Finding]:
        out = []
        for host, t in sorted(self.hosts.items()):
            out.append(Finding(host, "anonymizer", CONFIDENCE, t.first, t.last,
                               t.top_destinations(), t.flow_ids,
                               {"alerts": t.count, "signatures": self.signatures.get(host, []),
                                "rule": self.meta},
                               f"{t.count} anonymizer "
                               f"{'hit(s)' if self._proxy_only(host) else 'rule alert(s)'}"))
        return out

    def _proxy_only(self, host: str) -> bool:
        sigs = self.signatures.get(host, [])
        return bool(sigs) and all(s.startswith("proxy: ") for s in sigs)

    def snapshot(self) -> dict[str, Any]:
        return {"hosts": tallies_to_state(self.hosts), "signatures": self.signatures,
                "meta": self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        self.hosts = tallies_from_state(state.get("hosts", {}))
        self.signatures = dict(state.get("signatures", {}))
        self.meta = dict(state.get("meta", {}))
