"""``beacon``: mechanical, periodic connections from one internal host to one destination.

Per (internal host, destination key) pair the handler keeps the ``flow.start`` times (never the
flow event's top-level timestamp) of answered TCP/UDP flows to external, non-whitelisted
destinations. The key is the TLS SNI or HTTP Host of the flow (joined by flow_id) when known,
else ``dest_ip:port``. A check-in that reuses a kept-alive HTTP connection leaves one flow
event: the ``http`` events of its later transactions (``tx_id`` ≥ 1, answered) are beats too.
Excluded from timing: unanswered or refused flows (failed retries look
like 1-second beacons — ``fw_blocked`` counts them), DNS flows, internal destinations.

Incremental and bounded: the hot path only appends a flow's start text and size to the pair's
*pending* list; each evaluation (end of a one-shot run, every ``--interval`` in follow mode)
parses the pending starts of all pairs in one :func:`~sakimori.eve.evetime.parse_many` call
(texts, and kept-alive requests' float times) and folds them into each pair's bounded
:class:`~eve_consumer.handlers.beacon_series.PairSeries` (≤ 1,024 starts) and scores again only
pairs that received beats. A pending list over ``MAX_PENDING`` is folded at once; at most
``MAX_PAIRS`` pairs (drops counted).

A pair with ≥ ``traffic.beacon_min_connections`` beats is reported when its
:func:`~eve_consumer.handlers.beacon_score.score_beacon` score reaches
``traffic.beacon_threshold`` and its destination is not *prevalent*: contacted by at least
max(3, ``traffic.beacon_prevalence_fraction`` × internal hosts) internal hosts, in the current
data or in the baselines' ``destinations`` prevalence (hosts counted exactly, then by a
HyperLogLog sketch: :mod:`sakimori.distinct`, right at any number of hosts). Periods from
0.4 s (reconnect loops) to hours are judged. A sakimori rule tagged ``beacon``
counts as a finding of its own (confidence 0.8). See docs/beacon.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import chain
from typing import Any

from eve_consumer.handlers import Handler, beacon_series, register, rule_meta
from eve_consumer.handlers.beacon_score import (
    COVER,
    MIN_EPISODE_S,
    BeaconScore,
    _numpy,
    preload_numpy,
)
from eve_consumer.handlers.beacon_series import PairSeries, add_chunks, prevalence_cutoff
from eve_consumer.model import Finding, Tally, tallies_from_state, tallies_to_state
from eve_consumer.saved import RULE_META, shaped
from sakimori.distinct import DistinctCount
from sakimori.eve.decode import Event, parse_ts
from sakimori.eve.evetime import parse_many
from sakimori.eve.typed import FlowRecord, TcpFlags, as_flow

MAX_PENDING = 4096
MAX_PAIRS = 300_000
STALE_AFTER_S = 2 * 86400.0
RULE_CONFIDENCE = 0.8


class _Pair:
    __slots__ = ("dest_ip", "dest_port", "flow_ids", "pending", "series", "sizes")

    def __init__(self, dest_ip: str, dest_port: int) -> None:
        self.dest_ip = dest_ip
        self.dest_port = dest_port
        self.pending: list[str | float] = []  # flow.start texts (request times: floats)
        self.sizes: list[int] = []    # their request sizes (-1: none)
        self.series = PairSeries()
        self.flow_ids: list[int] = []


# A saved pair (snapshot "pairs" rows, then the series' own state): host, destination key,
# destination address and port, pending starts (texts; floats: kept-alive requests), their
# request sizes, flow ids
_PAIR_STATE = tuple[str, str, str, int, list[str | float], list[int], list[int]]

@register
class BeaconHandler(Handler):
    name = "beacon"
    detections = ("beacon",)
    kinds = ("flow", "http")
    flow_scope = "outbound"
    typed_flows = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        preload_numpy()  # set-up cost, not in the middle of the first evaluation
        self.pairs: dict[tuple[str, str], _Pair] = {}
        # exact, then HyperLogLog: any scale; shared by all consumers with consumer.shared
        self.dest_hosts: dict[str, DistinctCount] = {}
        self.hosts = self._counter("hosts")
        self.rule_hits: dict[str, Tally] = {}
        self.rule_meta: dict[str, dict[str, Any]] = {}

    def handle(self, ev: Event) -> None:
        if ev.kind == "http":
            self._keepalive_request(ev)
            return
        # the cheapest tests first (half of all lines are flows; the compiled gate,
        # handlers/_flowgate.pyx, runs this branch when built)
        proto = ev.proto
        if proto != "TCP" and proto != "UDP":
            return
        rec = ev.data
        if type(rec) is not FlowRecord:
            rec = as_flow(rec)
        flow = rec.flow
        if flow is None:
            return
        src = ev.src_ip
        self.hosts.add(src)
        if not flow.pkts_toclient or rec.app_proto == "dns":
            return
        tcp = rec.tcp
        if type(tcp) is TcpFlags and tcp.rst and "syn" not in _server_flags(tcp):
            return  # refused: the server only answered with RST
        ctx = self.ctx
        flow_id = ev.flow_id
        name = ctx.flow_names.get(flow_id)
        if ctx.whitelisted(ev.dest_ip, name):
            ctx.counters["beacon_whitelisted_flows"] += 1
            return
        start = flow.start
        if type(start) is not str:
            start = ev.ts
        size = flow.bytes_toserver
        # flow.start kept as text; parsed when the pair is folded (each evaluation)
        pair = self._beat(src, name, ev, start, size if type(size) is int else 0)
        if pair is not None and len(pair.flow_ids) < 10:
            pair.flow_ids.append(flow_id)

    def _keepalive_request(self, ev: Event) -> None:
        """A later request on a kept-alive HTTP connection is a beat of its own (a check-in
        that reuses its connection leaves one flow event); the first request of a flow is
        the flow's start. Answered requests only; no size (the flow has it)."""
        rec = ev.record or {}
        tx_id = rec.get("tx_id")
        if type(tx_id) is not int or tx_id < 1 or not ev.data.get("status"):
            return
        ctx = self.ctx
        if not ctx.home(ev.src_ip) or ctx.home(ev.dest_ip):
            return
        name = ctx.flow_names.get(ev.flow_id)
        if ctx.whitelisted(ev.dest_ip, name):
            return
        if self._beat(ev.src_ip, name, ev, ev.ts, -1) is not None:
            ctx.counters["beacon_keepalive_requests"] += 1

    def _beat(self, src: str, name: str | None, ev: Event, start: str | float,
              size: int) -> _Pair | None:
        """Queue one start (and its size, -1: none) on the pair of *src* and the destination
        key (*name*, else ``dest_ip:port``); None when the pair table is full."""
        key = name or f"{ev.dest_ip}:{ev.dest_port}"
        pair = self.pairs.get((src, key))
        if pair is None:
            self._count_host(key, src)
            pair = self._new_pair(src, key, ev)
            if pair is None:
                return None
        pair.pending.append(start)
        pair.sizes.append(size)
        if len(pair.pending) >= MAX_PENDING:
            self._fold(pair)
        return pair

    def _new_pair(self, src: str, key: str, ev: Event) -> _Pair | None:
        if len(self.pairs) >= MAX_PAIRS:
            self.ctx.counters["beacon_pairs_dropped"] += 1
            return None
        pair = self.pairs[(src, key)] = _Pair(ev.dest_ip, ev.dest_port)
        return pair

    def _count_host(self, key: str, src: str) -> None:
        """Prevalence: *src* reached *key* (counted even when the pair table is full; at most
        ``MAX_PAIRS`` destinations, each exact to 4,096 hosts and a 16 KiB sketch past that)."""
        hosts = self.dest_hosts.get(key)
        if hosts is None:
            if len(self.dest_hosts) >= MAX_PAIRS:
                return
            hosts = self.dest_hosts[key] = self._counter(f"dest:{key}")
        hosts.add(src)

    def _counter(self, name: str, local: DistinctCount | None = None) -> DistinctCount:
        """A distinct counter: local, or shared by every consumer (``consumer.shared``)
        through :meth:`eve_consumer.context.Context.distinct` (same interface)."""
        distinct = getattr(self.ctx, "distinct", None)  # a bare test context has none
        if distinct is None:
            return local if local is not None else DistinctCount()
        return distinct(name, local)

    def fold(self, pairs: Iterable[_Pair]) -> None:
        """Fold the pending starts of *pairs* now rather than at the evaluation (``consume
        --workers``: a worker waiting for its next batch); the series do not depend on how
        the starts were chunked (:meth:`PairSeries.add`)."""
        self._fold_all(pairs)

    def _fold(self, pair: _Pair) -> None:
        """Parse the pair's pending starts (bad ones counted) into its bounded series."""
        self._fold_all([pair])

    def _fold_all(self, pairs: Iterable[_Pair]) -> None:
        """Fold the pending starts of every pair in *pairs*: all of them are read in one
        :func:`~sakimori.eve.evetime.parse_many` call (the same values and rejections as
        :func:`~sakimori.eve.decode.parse_ts` one by one), float times (kept-alive requests,
        old snapshots) and anything else by :func:`_start` — :meth:`_fold_each`'s reading
        of each start, the reference."""
        batch = [pair for pair in pairs if pair.pending]
        if not batch:
            return
        np = _numpy()
        starts, sizes, bounds = _gather(batch)  # pair i: rows bounds[i] .. bounds[i + 1]
        times, ok = parse_many(starts, _start)
        bad = int(ok.size - np.count_nonzero(ok))
        if bad:
            self.ctx.counters["beacon_bad_flow_start"] += bad
        if sizes is None:
            sizes = np.fromiter(chain.from_iterable(p.sizes for p in batch), np.int64,
                                count=times.size)
        keep = ok & (sizes >= 0)  # -1: a kept-alive request, no size of its own
        if bad or not bool(keep.all()):  # each pair's valid starts and its sizes
            tb, sb = _kept(ok, bounds), _kept(keep, bounds)
            times, sizes = times[ok], sizes[keep]
        else:  # the usual case: no mask
            tb = sb = bounds
        add_chunks([p.series for p in batch], times, tb, sizes, sb)
        for pair in batch:
            pair.pending, pair.sizes = [], []

    def _fold_each(self, pair: _Pair) -> None:
        """:meth:`_fold_all` of one pair, one start at a time (the reference the tests
        compare the bulk fold with)."""
        times: list[float] = []
        sizes: list[int] = []
        for text, size in zip(pair.pending, pair.sizes, strict=True):
            try:  # a float: a kept-alive request's time (or a start from an old snapshot)
                times.append(float(text) if type(text) is float else parse_ts(text))
            except (ValueError, TypeError):
                self.ctx.counters["beacon_bad_flow_start"] += 1
                continue
            if size >= 0:  # -1: a kept-alive request, no size of its own
                sizes.append(size)
        pair.series.add(times, sizes)
        pair.pending, pair.sizes = [], []

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
        if n_now and seen >= prevalence_cutoff(n_now, frac):
            return True, f"{seen}/{n_now} internal hosts in this data"
        th = self.ctx.thresholds
        if th.n_internal_hosts:
            for k in (key, dest_ip):
                count = th.prevalence.get(k, 0)
                if count >= prevalence_cutoff(th.n_internal_hosts, frac):
                    return True, f"{count}/{th.n_internal_hosts} internal hosts in the baselines"
        return False, ""

    def findings(self) -> list[Finding]:
        cfg = self.ctx.cfg.traffic
        per_host: dict[str, list[tuple[str, _Pair, BeaconScore]]] = {}
        observed = self._short_window()
        least, threshold = cfg.beacon_min_connections, cfg.beacon_threshold
        for (host, key), pair in self.pairs.items():
            series = pair.series
            if series.starts.size < least:  # len(series), without the call (≈ 1,000 pairs)
                continue
            verdict = series.verdict(least, observed)
            if verdict is None or verdict.score < threshold:
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

    def _short_window(self) -> float | None:
        """Fold every pair; the data's window (first to last start) when it is short enough
        for the episode rule to depend on it (a capture of minutes), else None."""
        first, last = math.inf, -math.inf
        self._fold_all(self.pairs.values())
        for pair in self.pairs.values():
            t = pair.series.starts  # sorted: PairSeries.first() and .last() without the calls
            if t.size:  # min(first, a) and max(last, b), without the calls
                a, b = t.item(0) or 0.0, t.item(-1) or 0.0
                if a < first:
                    first = a
                if b > last:
                    last = b
        window = last - first
        return window if 0 < window < MIN_EPISODE_S / COVER else None

    def _finding(self, host: str, items: list[tuple[str, _Pair, BeaconScore]]) -> Finding:
        items.sort(key=lambda it: -it[2].score)
        best = items[0][2]
        pairs = []
        for key, pair, verdict in items[:10]:
            ev = verdict.evidence()
            ev.update(destination=key, dest_ip=pair.dest_ip, dest_port=pair.dest_port)
            pairs.append(ev)
        first = min(p.series.first() or 0.0 for _, p, _ in items)
        last = max(p.series.last() or 0.0 for _, p, _ in items)
        flow_ids = [f for _, p, _ in items for f in p.flow_ids][:20]
        key0 = items[0][0]
        period = f"{best.period_s:.1f}" if best.period_s < 10 else f"{best.period_s:.0f}"
        summary = (f"{key0} every ~{period}s (jitter ±{best.jitter:.0%}, "
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
            "pairs": [[h, k, p.dest_ip, p.dest_port, p.pending, p.sizes, p.flow_ids,
                       p.series.to_state()] for (h, k), p in self.pairs.items()],
            "dest_hosts": {k: v.to_state() for k, v in self.dest_hosts.items()},
            "hosts": self.hosts.to_state(),
            "rule_hits": tallies_to_state(self.rule_hits), "rule_meta": self.rule_meta,
        }

    def restore(self, state: dict[str, Any]) -> None:
        for i, row in enumerate(shaped(state.get("pairs", []), list[list[Any]],
                                       "beacon pairs")):
            h, k, ip, port, pending, sizes, flow_ids = shaped(row[:7], _PAIR_STATE,
                                                              f"beacon pairs[{i}]")
            series = row[7:]
            pair = self.pairs[(h, k)] = _Pair(ip, port)
            pair.pending, pair.sizes, pair.flow_ids = list(pending), list(sizes), list(flow_ids)
            if series:
                pair.series = PairSeries.from_state(series[0])
        distinct = self._counter
        self.dest_hosts = {k: distinct(f"dest:{k}",
                                       DistinctCount.from_state(v, f"beacon dest_hosts.{k}"))
                           for k, v in state.get("dest_hosts", {}).items()}
        self.hosts = distinct("hosts", DistinctCount.from_state(state.get("hosts", []),
                                                                "beacon hosts"))
        self.rule_hits = tallies_from_state(state.get("rule_hits", {}), "beacon rule_hits")
        self.rule_meta = shaped(state.get("rule_meta", {}), RULE_META, "beacon rule_meta")

    def prune(self, now: float) -> None:
        self._fold_all(self.pairs.values())
        stale = [k for k, p in self.pairs.items()
                 if (p.series.last() or now) < now - STALE_AFTER_S]
        for k in stale:
            del self.pairs[k]
        self.ctx.counters["beacon_pairs_pruned"] += len(stale)


def _gather(batch: list[_Pair]) -> tuple[list[Any], Any, Any]:
    """(every pending start of *batch* in order, their sizes as int64 or None: read them
    with ``np.fromiter``, the bounds of each pair's rows): by the compiled ``gather``
    (``_beacon_judge.pyx``) with the fold's :data:`beacon_series.USE_COMPILED`, else with
    ``chain`` and the lengths' sums (sizes None)."""
    np = _numpy()
    module = beacon_series._JUDGE if beacon_series.USE_COMPILED else None
    if module is not None:
        return module.gather(batch, np)
    bounds = np.zeros(len(batch) + 1, dtype=np.intp)
    np.cumsum(np.fromiter(map(len, [p.pending for p in batch]), np.intp, len(batch)),
              out=bounds[1:])
    return list(chain.from_iterable(p.pending for p in batch)), None, bounds


def _kept(mask: Any, bounds: Any) -> Any:
    """The bounds of each pair's rows among the rows *mask* keeps (rows bounds[i] ..
    bounds[i + 1] are pair i's)."""
    np = _numpy()
    count = np.zeros(mask.size + 1, dtype=np.intp)
    np.cumsum(mask, out=count[1:])
    return count[bounds]


def _start(value: Any) -> float:
    """A pending start that is not a text in Suricata's layout, read as :meth:`_fold_each`
    reads it: a float as is (a kept-alive request's time), anything else by ``parse_ts``; a
    value it cannot read raises ValueError (counted as a bad start)."""
    if type(value) is float:
        return value
    try:
        return parse_ts(value)
    except TypeError as exc:
        raise ValueError(f"not a time: {type(value).__name__}") from exc


def _server_flags(tcp: TcpFlags) -> str:
    """'syn' when the server side sent a SYN (from ``tcp_flags_tc``), else ''."""
    flags = tcp.tcp_flags_tc
    try:
        return "syn" if type(flags) is str and int(flags, 16) & 0x02 else ""
    except ValueError:
        return ""
