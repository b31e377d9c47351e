"""``fw_blocked``: an internal host that keeps trying connections the firewall blocks.

Counted per internal (source) host and UTC day, each attempt once (deduplicated by flow):

- ``unanswered``: a TCP flow whose client sent only SYNs and got nothing back
  (``tcp_flags_ts`` = SYN, ``pkts_toclient`` 0);
- ``refused``: SYN answered by RST without SYN (``tcp_flags_tc`` has RST, no SYN);
- ``dropped``: Suricata ``drop`` events (IPS mode) from the host;
- ``rule``: sakimori alerts tagged ``fw_blocked``;
- ``proxy_denied``: requests a web proxy refused (``proxy`` events with ``denied``, from
  :mod:`eve_consumer.inputs.proxylog`: Squid ``TCP_DENIED``, 407 never answered, 403);
- ``logged``: iptables/nftables LOG lines (``SRC= DST= DPT=``) read with
  :func:`eve_consumer.inputs.fwlog.read_fw_log`.

A host is reported when one day's count reaches the effective fw-failures threshold
(``traffic.fw_blocked_min_failures``, else learned, else fallback). Whitelisted destinations do
not count. Confidence 0.6 at the threshold, +0.2 per doubling.
"""

from __future__ import annotations

from typing import Any

from eve_consumer.handlers import Handler, register
from eve_consumer.model import Finding, Tally, iso, ratio_confidence
from sakimori.eve.decode import Event, flow_start
from sakimori.eve.typed import FlowRecord, TcpFlags, as_flow

MAX_KEYS_PER_DAY = 20_000
MAX_DAYS = 200_000


class _Day:
    __slots__ = ("keys", "kinds", "tally")

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.kinds: dict[str, int] = {}
        self.tally = Tally()


def _hex(value: Any) -> int:
    if type(value) is not str:
        return 0
    try:
        return int(value, 16)
    except ValueError:
        return 0


# tcp_flags_ts values of a client that sent nothing but SYN (with or without ECN bits)
_SYN_ONLY = frozenset({"02", "42", "82", "c2", "C2"})


def classify_flow(rec: FlowRecord | dict[str, Any]) -> str | None:
    """'unanswered', 'refused' or None for one EVE flow record."""
    if type(rec) is not FlowRecord:
        rec = as_flow(rec)
    tcp = rec.tcp
    if type(tcp) is not TcpFlags:
        return None
    flags = tcp.tcp_flags_ts
    if type(flags) is not str or flags not in _SYN_ONLY:
        return None  # the client did more than SYN: the connection got somewhere
    flow = rec.flow
    if flow is None:
        return None
    if not flow.pkts_toclient:
        return "unanswered"
    tc = _hex(tcp.tcp_flags_tc)
    if tc & 0x04 and not tc & 0x02:
        return "refused"
    return None


@register
class FwBlockedHandler(Handler):
    name = "fw_blocked"
    detections = ("fw_blocked",)
    kinds = ("flow", "drop", "proxy")
    flow_scope = "internal_src"
    typed_flows = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.threshold = ctx.thresholds.fw_failures
        self.days: dict[str, _Day] = {}

    def handle(self, ev: Event) -> None:
        kind = ev.kind
        if kind == "flow":  # flows arrive here only from internal sources (flow_scope)
            if ev.proto != "TCP":
                return
            rec = ev.data
            if type(rec) is not FlowRecord:
                rec = as_flow(rec)
            tcp = rec.tcp  # classify_flow's first test, inline: most flows stop
            if type(tcp) is not TcpFlags:
                return
            flags = tcp.tcp_flags_ts
            if type(flags) is not str or flags not in _SYN_ONLY:
                return
            if (kind := classify_flow(rec)) is None:
                return
            ts = flow_start(ev)
        elif kind == "proxy":
            if ev.data.get("denied") and self.ctx.home(ev.src_ip):
                self.add(ev.src_ip, ev.ts, ev.dest_ip, ev.dest_port, str(ev.flow_id),
                         "proxy_denied", ev.flow_id, name=ev.data.get("host"))
            return
        else:  # drop
            if not self.ctx.home(ev.src_ip):
                return
            kind, ts = "dropped", ev.ts
        self.add(ev.src_ip, ts, ev.dest_ip, ev.dest_port, str(ev.flow_id), kind, ev.flow_id)

    def on_alert(self, ev: Event, detection: str, meta: dict[str, Any]) -> None:
        if self.ctx.home(ev.src_ip):
            self.add(ev.src_ip, ev.ts, ev.dest_ip, ev.dest_port, str(ev.flow_id), "rule",
                     ev.flow_id)

    def add(self, host: str, ts: float, dest_ip: str, dest_port: int, key: str, kind: str,
            flow_id: int = 0, name: str | None = None) -> None:
        """Count one blocked attempt (deduplicated by *key* within the host's day); *name*:
        the destination's host name when known (else the flow's joined name)."""
        if name is None and flow_id:
            name = self.ctx.name_of(flow_id)
        if self.ctx.whitelisted(dest_ip, name):
            self.ctx.counters["fw_blocked_whitelisted"] += 1
            return
        day_key = f"{host} {iso(ts)[:10]}"
        day = self.days.get(day_key)
        if day is None:
            if len(self.days) >= MAX_DAYS:
                self.ctx.counters["fw_blocked_days_dropped"] += 1
                return
            day = self.days[day_key] = _Day()
        if key in day.keys:
            return
        if len(day.keys) < MAX_KEYS_PER_DAY:
            day.keys.add(key)
        else:
            self.ctx.counters["fw_blocked_dedupe_overflow"] += 1
        day.kinds[kind] = day.kinds.get(kind, 0) + 1
        day.tally.add(ts, f"{dest_ip}:{dest_port}", flow_id)

    def findings(self) -> list[Finding]:
        best: dict[str, tuple[str, _Day]] = {}
        merged: dict[str, Tally] = {}
        for day_key, day in self.days.items():
            host, date = day_key.split(" ", 1)
            merged.setdefault(host, Tally()).merge(day.tally)
            if host not in best or day.tally.count > best[host][1].tally.count:
                best[host] = (date, day)
        out = []
        explain = self.threshold.explain()
        for host, (date, day) in sorted(best.items()):
            count = day.tally.count
            if count < self.threshold.value:
                continue
            total = merged[host]
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(day.kinds.items()))
            out.append(Finding(
                host, "fw_blocked", ratio_confidence(count, self.threshold.value),
                total.first, total.last, total.top_destinations(), total.flow_ids,
                {"day": date, "attempts": count, "kinds": dict(day.kinds),
                 "threshold": explain, "attempts_all_days": total.count},
                f"{count} blocked attempts on {date} ({kinds}) >= {explain}"))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"days": {k: [sorted(d.keys), d.kinds, d.tally.to_state()]
                         for k, d in self.days.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        for key, (keys, kinds, tally) in state.get("days", {}).items():
            day = self.days[key] = _Day()
            day.keys, day.kinds, day.tally = set(keys), dict(kinds), Tally.from_state(tally)

    def prune(self, now: float) -> None:
        oldest = iso(now - 8 * 86400)[:10]
        for key in [k for k in self.days if k.split(" ", 1)[1] < oldest]:
            del self.days[key]
