"""``long_url``: statistically long URLs (data smuggled out in the query string).

Two sources, deduplicated by (flow_id, tx_id) so a request seen by both counts once:

- sakimori ``long_url`` alerts (``urilen`` rules rendered from the learned threshold);
- ``http`` events whose ``url`` is longer than the effective URL-length threshold (learned
  ``median + k·MAD``, config override, or fallback) — catches requests no rule saw, e.g. when
  the rules were rendered from older baselines.

A host is reported when it made at least ``traffic.long_url_min_events`` such requests to
non-whitelisted destinations (whitelist by HTTP Host and by IP). Requests to a destination the
baselines show as *prevalent* — used by at least max(3, ``traffic.beacon_prevalence_fraction``
× internal hosts) internal hosts, the beacon handler's rule — do not count
(``long_url_suppressed_prevalent``): analytics, ad and search services get long URLs from
every PC, and ``p99.9`` of the learned lengths puts a few of theirs above the threshold every
day. The price, as for beacons: exfiltration through a service most PCs use is not seen here.
Confidence 0.6 at the threshold, +0.2 per doubling of the longest URL and +0.1 per doubling
of the request count.
"""

from __future__ import annotations

import math
from typing import Any

from eve_consumer.handlers import Handler, register, rule_meta
from eve_consumer.handlers.beacon_series import prevalence_cutoff
from eve_consumer.model import Finding, Tally, cap_name, host_room, ratio_confidence
from sakimori.eve.decode import Event

MAX_SEEN_PER_HOST = 50_000


class _Host:
    __slots__ = ("max_len", "rule_alerts", "seen", "tally")

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.tally = Tally()
        self.max_len = 0
        self.rule_alerts = 0


@register
class LongUrlHandler(Handler):
    name = "long_url"
    detections = ("long_url",)
    kinds = ("http",)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.threshold = ctx.thresholds.url_length
        self.limit = int(self.threshold.value)
        self.hosts: dict[str, _Host] = {}
        self.meta: dict[str, Any] = {}
        th = ctx.thresholds
        self.common = frozenset(
            k for k, n in th.prevalence.items()
            if th.n_internal_hosts and n >= prevalence_cutoff(
                th.n_internal_hosts, ctx.cfg.traffic.beacon_prevalence_fraction))

    def handle(self, ev: Event) -> None:
        url = ev.data.get("url")
        if type(url) is not str or len(url) <= self.limit:
            return
        self._count(ev, ev.data, len(url), rule=False)

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        rec = ev.record or {}
        http = rec.get("http")
        http = http if type(http) is dict else {}
        url = http.get("url")
        self._count(ev, http, len(url) if type(url) is str else 0, rule=True)
        if not self.meta:
            self.meta = rule_meta(meta)

    def _count(self, ev: Event, http: dict[str, Any], length: int, rule: bool) -> None:
        ctx = self.ctx
        if not ctx.home(ev.src_ip):
            return
        hostname = http.get("hostname")
        hostname = cap_name(hostname) if type(hostname) is str else None
        if ctx.whitelisted(ev.dest_ip, hostname):
            ctx.counters["long_url_whitelisted"] += 1
            return
        if self.common and (hostname in self.common or ev.dest_ip in self.common):
            ctx.counters["long_url_suppressed_prevalent"] += 1
            return
        host = self.hosts.get(ev.src_ip)
        if host is None:
            if not host_room(self.hosts, ev.src_ip, ctx.counters, "long_url_hosts_dropped"):
                return
            host = self.hosts[ev.src_ip] = _Host()
        rec = ev.record or {}
        key = f"{ev.flow_id}:{rec.get('tx_id', ev.ts)}"
        if rule:
            host.rule_alerts += 1
        if key in host.seen:
            return
        if len(host.seen) < MAX_SEEN_PER_HOST:
            host.seen.add(key)
        else:
            ctx.counters["long_url_dedupe_overflow"] += 1
        host.max_len = max(host.max_len, length)
        host.tally.add(ev.ts, hostname or f"{ev.dest_ip}:{ev.dest_port}", ev.flow_id)

    def findings(self) -> list[Finding]:
        need = self.ctx.cfg.traffic.long_url_min_events
        explain = self.threshold.explain()
        out = []
        for ip, host in sorted(self.hosts.items()):
            t = host.tally
            if t.count < need:
                continue
            conf = ratio_confidence(max(host.max_len, self.limit), self.threshold.value)
            conf = min(1.0, conf + 0.1 * math.log2(t.count / need))
            evidence = {"requests": t.count, "longest": host.max_len, "threshold": explain,
                        "min_events": need, "rule_alerts": host.rule_alerts}
            if self.meta and host.rule_alerts:
                evidence["rule"] = self.meta
            out.append(Finding(ip, "long_url", conf, t.first, t.last, t.top_destinations(),
                               t.flow_ids, evidence,
                               f"{t.count} URL(s) longer than {explain}, longest "
                               f"{host.max_len} chars"))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"hosts": {ip: [sorted(h.seen), h.tally.to_state(), h.max_len, h.rule_alerts]
                          for ip, h in self.hosts.items()}, "meta": self.meta}

    def restore(self, state: dict[str, Any]) -> None:
        for ip, (seen, tally, max_len, rule_alerts) in state.get("hosts", {}).items():
            h = self.hosts[ip] = _Host()
            h.seen, h.tally, h.max_len = set(seen), Tally.from_state(tally), int(max_len)
            h.rule_alerts = int(rule_alerts)
        self.meta = dict(state.get("meta", {}))
