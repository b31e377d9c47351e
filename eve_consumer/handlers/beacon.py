"""``beacon``: mechanical, periodic connections from one internal host to one destination.

Per (internal host, destination key) pair the handler keeps the ``flow.start`` times (never the
flow event's top-level timestamp) of answered TCP/UDP flows to external, non-whitelisted
destinations. The key is the TLS SNI or HTTP Host of the flow (joined by flow_id) when known,
else ``dest_ip:port``. Excluded from timing: unanswered or refused flows (failed retries look
like 1-second beacons), DNS flows, internal destinations. Memory is bounded: at most
``MAX_TIMES`` most recent starts per pair and ``MAX_PAIRS`` pairs (drops counted).

At the end each pair with ≥ ``traffic.beacon_min_connections`` beats is scored by
:func:`~eve_consumer.handlers.beacon_score.score_beacon`; a pair is reported when its score
reaches ``traffic.beacon_threshold`` and its destination is not *prevalent*: contacted by at
least max(``MIN_PREVALENT_HOSTS``, ``traffic.beacon_prevalence_fraction`` × internal hosts)
internal hosts, in the current data or in the baselines' ``destinations`` prevalence.
A sakimori rule tagged ``beacon`` counts as a finding of its own (confidence 0.8).
"""

from __future__ import annotations

import math
from typing import Any

from eve_consumer.decode import Event, parse_ts
from eve_consumer.handlers import Handler, register, rule_meta
from eve_consumer.handlers.beacon_score import preload_numpy, score_beacon
from eve_consumer.model import Finding, Tally, tallies_from_state, tallies_to_state

MAX_TIMES = 4096
MAX_PAIRS = 300_000
MAX_HOSTS_PER_DEST = 64
MIN_PREVALENT_HOSTS = 3
STALE_AFTER_S = 2 * 86400.0
RULE_CONFIDENCE = 0.8


class _Pair:
    __slots__ = ("dest_ip", "dest_port", "flow_ids", "sizes", "times")

    def __init__(self, dest_ip: str, dest_port: int) -> None:
        self.dest_ip = dest_ip
        self.dest_port = dest_port
        self.times: list[float | str] = []  # flow.start: text until first judged
        self.sizes: list[int] = []
        self.flow_ids: list[int] = []


@register
class BeaconHandler(Handler):
    name = "beacon"
    detections = ("beacon",)
    kinds = ("flow",)
    flow_scope = "outbound"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        preload_numpy()  # set-up cost, not in the middle of the first evaluation
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.dest_hosts: dict[str, set[str]] = {}
        self.hosts: set[str] = set()
        self.rule_hits: dict[str, Tally] = {}
        self.rule_meta: dict[str, dict[str, Any]] = {}

    def handle(self, ev: Event) -> None:
        ctx = self.ctx
        src = ev.src_ip
        if ev.proto != "TCP" and ev.proto != "UDP":
            return
        rec = ev.data
        flow = rec.get("flow")
        if type(flow) is not dict:
            return
        self.hosts.add(src)
        if not flow.get("pkts_toclient") or rec.get("app_proto") == "dns":
            return
        tcp = rec.get("tcp")
        if type(tcp) is dict and tcp.get("rst") and "syn" not in _server_flags(tcp):
            return  # refused: the server only answered with RST
        name = ctx.flow_names.get(ev.flow_id)
        if ctx.whitelisted(ev.dest_ip, name):
            ctx.counters["beacon_whitelisted_flows"] += 1
            return
        start = flow.get("start")
        if type(start) is not str:
            start = ev.ts
        key = name or f"{ev.dest_ip}:{ev.dest_port}"
        pair = self.pairs.get((src, key))
        if pair is None:
            pair = self._new_pair(src, key, ev)
            if pair is None:
                return
        # flow.start kept as text; parsed once, when the pair is first judged (findings)
        pair.times.append(start)
        size = flow.get("bytes_toserver")
        pair.sizes.append(size if type(size) is int else 0)
        if len(pair.times) > MAX_TIMES:
            del pair.times[0], pair.sizes[0]
            ctx.counters["beacon_times_dropped"] += 1
        if len(pair.flow_ids) < 10:
            pair.flow_ids.append(ev.flow_id)

    def _new_pair(self, src: str, key: str, ev: Event) -> _Pair | None:
        if len(self.pairs) >= MAX_PAIRS:
            self.ctx.counters["beacon_pairs_dropped"] += 1
            return None
        pair = self.pairs[(src, key)] = _Pair(ev.dest_ip, ev.dest_port)
        hosts = self.dest_hosts.setdefault(key, set())
        if len(hosts) < MAX_HOSTS_PER_DEST:
            hosts.add(src)
        return pair

    def _times(self, pair: _Pair) -> list[float]:
        """The pair's start times as floats (texts are parsed once, in place; bad ones go)."""
        times = pair.times
        if all(type(t) is float for t in times):
            return times  # type: ignore[return-value]
        parsed: list[float] = []
        for t in times:
            try:
                parsed.append(t if type(t) is float else parse_ts(t))  # type: ignore[arg-type]
            except (ValueError, TypeError):
                self.ctx.counters["beacon_bad_flow_start"] += 1
        pair.times = parsed  # type: ignore[assignment]
        return parsed

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        side = self.ctx.home_side(ev)
        if side is None:
            return
        host, other, label = side
        if self.ctx.whitelisted_peer(ev, other, self.ctx.name_of(ev.flow_id)):
            return
        self.rule_hits.setdefault(host, Tally()).add(ev.ts, label, ev.flow_id)
        self.rule_meta.setdefault(host, rule_meta(meta))

    # --- verdicts --------------------------------------------------------------------------
    def prevalent(self, key: str, dest_ip: str) -> tuple[bool, str]:
        """Is *key* a common service? Returns (verdict, explanation)."""
        frac = self.ctx.cfg.traffic.beacon_prevalence_fraction
        n_now = len(self.hosts)
        seen = len(self.dest_hosts.get(key, ()))
        if n_now and seen >= max(MIN_PREVALENT_HOSTS, math.ceil(frac * n_now)):
            return True, f"{seen}/{n_now} internal hosts in this data"
        th = self.ctx.thresholds
        if th.n_internal_hosts:
            for k in (key, dest_ip):
                count = th.prevalence.get(k, 0)
                if count >= max(MIN_PREVALENT_HOSTS, math.ceil(frac * th.n_internal_hosts)):
                    return True, f"{count}/{th.n_internal_hosts} internal hosts in the baselines"
        return False, ""

    def findings(self) -> list[Finding]:
        cfg = self.ctx.cfg.traffic
        per_host: dict[str, list[tuple[str, _Pair, Any]]] = {}
        for (host, key), pair in self.pairs.items():
            if len(pair.times) < cfg.beacon_min_connections:
                continue
            verdict = score_beacon(self._times(pair), cfg.beacon_min_connections, pair.sizes)
            if verdict is None or verdict.score < cfg.beacon_threshold:
                continue
            common, why = self.prevalent(key, pair.dest_ip)
            if common:
                self.ctx.counters["beacon_suppressed_prevalent"] += 1
                self.ctx.notes.append(f"beacon {host} -> {key} suppressed: prevalent ({why})")
                continue
            per_host.setdefault(host, []).append((key, pair, verdict))
        out = [self._finding(host, items) for host, items in per_host.items()]
        for host, tally in self.rule_hits.items():
            if host not in per_host:
                out.append(Finding(host, "beacon", RULE_CONFIDENCE, tally.first, tally.last,
                                   tally.top_destinations(), list(tally.flow_ids),
                                   {"rule": self.rule_meta.get(host, {}), "alerts": tally.count},
                                   f"{tally.count} beacon rule alert(s)"))
        return out

    def _finding(self, host: str, items: list[tuple[str, _Pair, Any]]) -> Finding:
        items.sort(key=lambda it: -it[2].score)
        best = items[0][2]
        pairs = []
        for key, pair, verdict in items[:10]:
            ev = verdict.evidence()
            ev.update(destination=key, dest_ip=pair.dest_ip, dest_port=pair.dest_port)
            pairs.append(ev)
        first = min(min(self._times(p)) for _, p, _ in items)
        last = max(max(self._times(p)) for _, p, _ in items)
        flow_ids = [f for _, p, _ in items for f in p.flow_ids][:20]
        key0 = items[0][0]
        summary = (f"{key0} every ~{best.period_s:.0f}s (jitter ±{best.jitter:.0%}, "
                   f"{best.beats} beats, score {best.score:.2f} >= "
                   f"{self.ctx.cfg.traffic.beacon_threshold:g})")
        if len(items) > 1:
            summary += f" and {len(items) - 1} more destination(s)"
        return Finding(host, "beacon", best.score, first, last, [k for k, _, _ in items],
                       flow_ids, {"pairs": pairs,
                                  "threshold": self.ctx.cfg.traffic.beacon_threshold,
                                  "min_connections": self.ctx.cfg.traffic.beacon_min_connections},
                       summary)

    # --- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "pairs": [[h, k, p.dest_ip, p.dest_port, p.times, p.sizes, p.flow_ids]
                      for (h, k), p in self.pairs.items()],
            "dest_hosts": {k: sorted(v) for k, v in self.dest_hosts.items()},
            "hosts": sorted(self.hosts),
            "rule_hits": tallies_to_state(self.rule_hits), "rule_meta": self.rule_meta,
        }

    def restore(self, state: dict[str, Any]) -> None:
        for h, k, ip, port, times, sizes, flow_ids in state.get("pairs", []):
            pair = self.pairs[(h, k)] = _Pair(ip, port)
            pair.times, pair.sizes, pair.flow_ids = list(times), list(sizes), list(flow_ids)
        self.dest_hosts = {k: set(v) for k, v in state.get("dest_hosts", {}).items()}
        self.hosts = set(state.get("hosts", []))
        self.rule_hits = tallies_from_state(state.get("rule_hits", {}))
        self.rule_meta = dict(state.get("rule_meta", {}))

    def prune(self, now: float) -> None:
        stale = [k for k, p in self.pairs.items()
                 if p.times and (self._times(p) or [now])[-1] < now - STALE_AFTER_S]
        for k in stale:
            del self.pairs[k]
        self.ctx.counters["beacon_pairs_pruned"] += len(stale)


def _server_flags(tcp: dict[str, Any]) -> str:
    """'syn' when the server side sent a SYN (from ``tcp_flags_tc``), else ''."""
    flags = tcp.get("tcp_flags_tc")
    try:
        return "syn" if type(flags) is str and int(flags, 16) & 0x02 else ""
    except ValueError:
        return ""
