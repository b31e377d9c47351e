"""``non_http_on_http_port``: something other than HTTP spoken to an HTTP port.

Sources, deduplicated by flow_id per internal (client) host:

- sakimori ``non_http_on_http_port`` alerts (``app-layer-protocol:!http`` family rules);
- ``flow`` events from an internal host to a port in ``traffic.http_ports`` that were answered
  and whose ``app_proto`` is set and is not HTTP: ``tls`` (TLS on port 80 is its own case),
  ``failed`` (payload that no parser recognised — raw binary protocols), or any other
  protocol. Flows without ``app_proto`` carried no payload and are ignored.

One flow is enough: HTTP ports carry HTTP. Whitelisted destinations (IP, SNI) are skipped.
Confidence: 0.9 for TLS or a rule alert, 0.8 for other protocols.
"""

from __future__ import annotations

from typing import Any

from eve_consumer.decode import Event, flow_start
from eve_consumer.handlers import Handler, register, rule_meta
from eve_consumer.model import Finding, Tally

HTTP_PROTOS = frozenset({"http", "http1", "http2"})
MAX_FLOWS_PER_HOST = 20_000


class _Host:
    __slots__ = ("flows", "protos", "tally")

    def __init__(self) -> None:
        self.flows: set[int] = set()
        self.protos: dict[str, int] = {}
        self.tally = Tally()


@register
class NonHttpHandler(Handler):
    name = "non_http_on_http_port"
    detections = ("non_http_on_http_port",)
    kinds = ("flow",)
    flow_scope = "internal_src"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.hosts: dict[str, _Host] = {}
        self.meta: dict[str, Any] = {}

    def handle(self, ev: Event) -> None:
        ctx = self.ctx
        if ev.dest_port not in ctx.http_ports or ev.proto != "TCP":
            return
        rec = ev.data
        proto = rec.get("app_proto")
        if type(proto) is not str or proto in HTTP_PROTOS:
            return
        flow = rec.get("flow")
        if type(flow) is not dict or not flow.get("pkts_toclient"):
            return
        ts = flow_start(ev)
        self._add(ev, proto, ts, ctx.name_of(ev.flow_id))

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        if not self.ctx.home(ev.src_ip):
            return
        rec = ev.record or {}
        tls = rec.get("tls")
        sni = tls.get("sni") if type(tls) is dict else None
        proto = rec.get("app_proto")
        self._add(ev, f"rule:{proto}" if type(proto) is str else "rule", ev.ts,
                  sni if type(sni) is str else None)
        if not self.meta:
            self.meta = rule_meta(meta)

    def _add(self, ev: Event, proto: str, ts: float, name: str | None) -> None:
        if self.ctx.whitelisted(ev.dest_ip, name):
            self.ctx.counters["non_http_whitelisted"] += 1
            return
        host = self.hosts.get(ev.src_ip)
        if host is None:
            host = self.hosts[ev.src_ip] = _Host()
        if ev.flow_id in host.flows:
            return
        if len(host.flows) < MAX_FLOWS_PER_HOST:
            host.flows.add(ev.flow_id)
        host.protos[proto] = host.protos.get(proto, 0) + 1
        dest = f"{ev.dest_ip}:{ev.dest_port}"
        host.tally.add(ts, f"{name} ({dest})" if name else dest, ev.flow_id)

    def findings(self) -> list[Finding]:
        out = []
        for ip, host in sorted(self.hosts.items()):
            t = host.tally
            strong = any(p == "tls" or p.startswith("rule") for p in host.protos)
            protos = ", ".join(f"{n}x {p}" for p, n in sorted(host.protos.items()))
            evidence: dict[str, Any] = {"flows": t.count, "app_protos": dict(host.protos),
                                        "http_ports": sorted(self.ctx.http_ports)}
            if self.meta and any(p.startswith("rule") for p in host.protos):
                evidence["rule"] = self.meta
            out.append(Finding(ip, "non_http_on_http_port", 0.9 if strong else 0.8, t.first,
                               t.last, t.top_destinations(), t.flow_ids, evidence,
                               f"{t.count} non-HTTP flow(s) to HTTP ports ({protos})"))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"hosts": {ip: [sorted(h.flows), h.protos, h.tally.to_state()]
                          for ip, h in self.hosts.items()}, "meta": self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        for ip, (flows, protos, tally) in state.get("hosts", {}).items():
            h = self.hosts[ip] = _Host()
            h.flows, h.protos, h.tally = set(flows), dict(protos), Tally.from_state(tally)
        self.meta = dict(state.get("meta", {}))
