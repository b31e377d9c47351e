"""``non_http_on_http_port``: payload in none of the protocols a web port expects.

The port → expected-protocol table is ``cfg.traffic.ports`` (:mod:`sakimori.ports`: by
default 80, 8080, 3128, 8000 expect HTTP; 443, 8443 TLS or HTTP) — the same table the
generated rules use. Sources, deduplicated by flow_id per internal (client) host:

- sakimori ``non_http_on_http_port`` alerts (rules 1200-1204, docs/rules.md);
- ``flow`` events from an internal host to an external destination on a table port that were
  answered and carried payload (``app_proto`` set; a flow without payload has none) in none of
  the port's expected protocols. Every protocol Suricata saw counts — ``app_proto_orig`` (before
  a protocol change), ``app_proto``, ``app_proto_ts``/``_tc`` (per direction): when one of them
  is expected the flow is not reported. So an explicit-proxy ``CONNECT`` tunnel (``app_proto``
  ``tls`` or ``failed``, ``app_proto_orig`` ``http``), an ``h2c`` upgrade (``http2``) and a
  websocket upgrade (``http``) are HTTP; TLS on a plain-HTTP port and payload no parser
  recognised (``failed``: raw binary C2, on 443 too) are reported.

Alerts are judged with the same function on the alert's own record (Suricata writes the same
``app_proto*`` fields there): a rule that saw one side only — SSH inside a CONNECT tunnel
through an external proxy, a ClientHello lost to capture loss while the server spoke TLS — is
counted (``non_http_alert_expected``) and not reported.

Web-proxy logs (:mod:`eve_consumer.inputs.proxylog`): an allowed ``CONNECT`` to a port outside
the table (SSH on 22, WSUS on 8531, a Tor ORPort…) is a tunnel through the proxy's HTTP port
for a protocol the table does not expect there; its ``proxy`` event (``tunnel``) counts like
a flow (``CONNECT:<port>``, confidence 0.8).

Flows to internal destinations are not judged (as in the rules: intranet services use these
ports for anything). One flow is enough. Whitelisted destinations (IP, SNI) are skipped.
Confidence: 0.9 for TLS or a rule alert, 0.8 for other protocols.
"""

from __future__ import annotations

from typing import Any

from eve_consumer.handlers import Handler, register, rule_meta
from eve_consumer.model import Finding, Tally, host_room
from sakimori.eve.decode import Event, flow_start
from sakimori.eve.typed import FlowRecord, as_flow
from sakimori.ports import APP_PROTOS

APP_PROTO_FIELDS = ("app_proto_orig", "app_proto", "app_proto_ts", "app_proto_tc")
MAX_FLOWS_PER_HOST = 20_000
_ALLOWED: dict[tuple[str, ...], frozenset[str]] = {}  # expected names → allowed app_protos


def unexpected_protocol(rec: dict[str, Any], expected: tuple[str, ...]) -> str | None:
    """The protocol a flow record spoke that its port does not expect, or None (expected, or
    no payload). The value reported is ``app_proto`` (e.g. ``tls``, ``failed``, ``ssh``)."""
    return _mismatch(rec.get("app_proto"), rec.get("app_proto_orig"), rec.get("app_proto_ts"),
                     rec.get("app_proto_tc"), expected)


def _allowed(expected: tuple[str, ...]) -> frozenset[str]:
    """Every ``app_proto`` value the protocol names *expected* allow (cached)."""
    allowed = _ALLOWED.get(expected)
    if allowed is None:
        allowed = _ALLOWED[expected] = frozenset().union(*(APP_PROTOS[n] for n in expected))
    return allowed


def _mismatch(final: Any, orig: Any, ts: Any, tc: Any, expected: tuple[str, ...]
              ) -> str | None:
    """:func:`unexpected_protocol` over the four values (``app_proto`` is *final*)."""
    allowed = _allowed(expected)
    if type(final) is str and final in allowed:  # the common case: the expected protocol
        return None
    seen = [p for p in (orig, final, ts, tc) if type(p) is str]  # APP_PROTO_FIELDS' order
    if not seen or any(p in allowed for p in seen):
        return None
    return final if type(final) is str else seen[0]


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
    kinds = ("flow", "proxy")
    flow_scope = "outbound"
    typed_flows = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.hosts: dict[str, _Host] = {}
        self.meta: dict[str, Any] = {}
        # port → every app_proto its expected protocols allow (the context's table is fixed)
        self.allowed = {port: _allowed(expected) for port, expected in ctx.port_table.items()}

    def handle(self, ev: Event) -> None:
        ctx = self.ctx
        if ev.kind == "proxy":
            port = ev.data.get("tunnel")
            if port and ctx.home(ev.src_ip) and not ctx.home(ev.dest_ip):
                self._add(ev, f"CONNECT:{port}", ev.ts, ev.data.get("host"))
            return
        allowed = self.allowed.get(ev.dest_port)
        if allowed is None or ev.proto != "TCP":
            return
        rec = ev.data
        if type(rec) is not FlowRecord:
            rec = as_flow(rec)
        final = rec.app_proto
        if type(final) is str and final in allowed:
            return  # the common case, without a call: the port's expected protocol
        proto = _mismatch(final, rec.app_proto_orig, rec.app_proto_ts, rec.app_proto_tc,
                          ctx.port_table[ev.dest_port])
        if proto is None:
            return
        flow = rec.flow
        if flow is None or not flow.pkts_toclient:
            return
        ts = flow_start(ev)
        self._add(ev, proto, ts, ctx.name_of(ev.flow_id))

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        if not self.ctx.home(ev.src_ip):
            return
        rec = ev.record or {}
        expected = self.ctx.port_table.get(ev.dest_port)
        if expected is not None and any(type(rec.get(k)) is str for k in APP_PROTO_FIELDS) \
                and unexpected_protocol(rec, expected) is None:
            # e.g. SSH inside a CONNECT tunnel (app_proto_orig http), or a lost ClientHello
            # (app_proto failed, app_proto_tc tls): the rule saw one side, the record shows more
            self.ctx.counters["non_http_alert_expected"] += 1
            return
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
            if not host_room(self.hosts, ev.src_ip, self.ctx.counters, "non_http_hosts_dropped"):
                return
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
                                        "expected": self.ctx.cfg.traffic.ports.describe()}
            if self.meta and any(p.startswith("rule") for p in host.protos):
                evidence["rule"] = self.meta
            out.append(Finding(ip, "non_http_on_http_port", 0.9 if strong else 0.8, t.first,
                               t.last, t.top_destinations(), t.flow_ids, evidence,
                               f"{t.count} flow(s) to web ports in an unexpected protocol "
                               f"({protos})"))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"hosts": {ip: [sorted(h.flows), h.protos, h.tally.to_state()]
                          for ip, h in self.hosts.items()}, "meta": self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        for ip, (flows, protos, tally) in state.get("hosts", {}).items():
            h = self.hosts[ip] = _Host()
            h.flows, h.protos, h.tally = set(flows), dict(protos), Tally.from_state(tally)
        self.meta = dict(state.get("meta", {}))
