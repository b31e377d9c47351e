"""What every handler shares: configuration, effective thresholds, whitelist, joins, counters.

- ``home(ip)`` / ``whitelisted(ip, name)`` are cached per address (no ipaddress parsing per
  event). The caches are cleared when they grow past a bound, and the whitelist verdicts when
  the whitelist is replaced.
- ``flow_names``: flow_id → the name the flow talked to (HTTP Host, TLS SNI), filled from
  ``http``/``tls`` events and dropped when the flow's own ``flow`` event has been handled.
  Bounded: when full, the oldest entries are evicted and counted (``flow_names_evicted``).
- ``dns_names``: IP → names seen resolving to it in DNS answers of the same EVE (bounded);
  a destination without its own Host/SNI is whitelisted when one of those names is. With
  ``dns_log`` set (``consume --workers``: worker 0, which decodes every DNS line), each call
  that changed the map is logged with its line number, and the other workers replay the log
  (:meth:`Context.replay_dns`) instead of decoding the DNS lines: their maps stay equal.
- ``counters``: every skip, drop and eviction, written to stats.json; fixed keys (never
  text from EVE), persisted with the follow-mode state so they survive a restart. The keys in
  :data:`GAUGES` are not event counts but what the last evaluation found (e.g. how many
  beacon pairs it suppressed as prevalent): reset before each evaluation, so a handler that
  counts them once per evaluated pair reports the current number, not a sum over
  evaluations.
- ``classes``: the Table 1 class map (:class:`~eve_consumer.classes.ClassMap`,
  ``classes.map_file``); :meth:`Context.alert_side` picks the reported host of a third-party
  alert by the flow's orientation (client/server), as the map entry asks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from eve_consumer.classes import ClassMap
from eve_consumer.model import MAX_NAME, cap_name
from sakimori.baselines import TrafficThresholds, effective_traffic
from sakimori.config import Config
from sakimori.distinct import DistinctCount
from sakimori.eve.decode import Event
from sakimori.eve.typed import DnsData
from sakimori.whitelist import Whitelist, normalise_host

CACHE_LIMIT = 200_000
FLOW_NAMES_LIMIT = 200_000
DNS_LIMIT = 100_000
NAMES_PER_IP = 4
GAUGES = frozenset({"beacon_suppressed_prevalent"})


class _Notes(list[str]):
    """A list that keeps only its first ``limit`` entries (and counts the rest)."""

    limit = 50

    def append(self, text: str) -> None:
        if len(self) < self.limit and text not in self:
            super().append(text)


class Context:
    """Shared state of one consumer run (or one follow-mode service)."""

    def __init__(self, cfg: Config, baselines: dict[str, Any] | None) -> None:
        self.cfg = cfg
        self.thresholds: TrafficThresholds = effective_traffic(cfg, baselines)
        self.whitelist = Whitelist.from_entries(cfg.whitelist.destinations)
        self.counters: Counter[str] = Counter()
        self.notes = _Notes()  # a few human-readable explanations for stats.json
        self.sid_range = (cfg.suricata.sid_base, cfg.suricata.sid_base + 9999)
        self.port_table = cfg.traffic.ports.as_dict()  # port -> expected protocols
        self._home: dict[str, bool] = {}
        self.flow_names: dict[int, str] = {}
        self.dns_names: dict[str, list[str]] = {}
        self._dns_norm: dict[str, str] = {}  # DNS name -> its dns_names form (_add_dns)
        # consume --workers: (line number, ip, qname, rrname) of each _add_dns that changed
        # dns_names, for the other workers to replay (None: not logged)
        self.dns_log: list[tuple[int, Any, Any, Any]] | None = None
        self.latest_ts = 0.0  # newest event time seen (drives pruning in follow mode)
        self.classes = ClassMap.load(cfg.classes.map_file)
        self.shared: Any = None  # SharedCounters when consumer.shared is set (eve_consumer.shared)

    @property
    def whitelist(self) -> Whitelist:
        """The destinations whitelist. Setting it clears the verdict caches and keeps its
        emptiness (one test per flow instead of ``Whitelist.__bool__``'s four)."""
        return self._whitelist

    @whitelist.setter
    def whitelist(self, value: Whitelist) -> None:
        self._whitelist = value
        self._wl_active = bool(value)
        self._wl_ip: dict[str, bool] = {}
        self._wl_name: dict[str, bool] = {}

    def distinct(self, name: str, local: DistinctCount | None = None) -> Any:
        """A distinct counter named *name*: local, or shared by every consumer through Redis
        (``consumer.shared``; same interface, :mod:`sakimori.distinct_shared`)."""
        if self.shared is None:
            return local if local is not None else DistinctCount()
        return self.shared.counter(name, local)

    def reset_gauges(self) -> None:
        """Before an evaluation: the :data:`GAUGES` start again from zero."""
        for key in GAUGES:
            self.counters[key] = 0

    # --- address facts -----------------------------------------------------------------------
    def home(self, ip: str) -> bool:
        """True when *ip* is internal (``networks.home``); cached."""
        known = self._home.get(ip)
        if known is None:
            if len(self._home) > CACHE_LIMIT:
                self._home.clear()
            known = self._home[ip] = self.cfg.is_home(ip)
        return known

    def whitelisted(self, ip: str, name: str | None) -> bool:
        """Whitelist by IP and by name; without a name, by DNS names seen for *ip*."""
        if not self._wl_active:
            return False
        hit = self._wl_ip.get(ip)
        if hit is None:
            hit = self._cached(self._wl_ip, ip, self.whitelist.matches_ip)
        if hit:
            return True
        by_name = self._wl_name
        if name:
            hit = by_name.get(name)
            if hit is None:
                hit = self._cached(by_name, name, self.whitelist.matches_host)
            return hit
        names = self.dns_names.get(ip)
        if names:
            for n in names:
                hit = by_name.get(n)
                if hit is None:
                    hit = self._cached(by_name, n, self.whitelist.matches_host)
                if hit:
                    return True
        return False

    def whitelisted_peer(self, ev: Event, other: str, name: str | None) -> bool:
        """The whitelist for the other side of *ev* — only when it is the destination: the
        whitelist lists destinations our hosts contact, not who connects to them."""
        return other == ev.dest_ip and self.whitelisted(other, name)

    @staticmethod
    def _cached(cache: dict[str, bool], key: str, check: Any) -> bool:
        known = cache.get(key)
        if known is None:
            if len(cache) > CACHE_LIMIT:
                cache.clear()
            known = cache[key] = bool(check(key))
        return known

    # --- joins ---------------------------------------------------------------------------------
    def note_name(self, flow_id: int, name: Any) -> None:
        """Remember the Host/SNI of *flow_id* until its flow event arrives."""
        if not flow_id or type(name) is not str or not name:
            return
        names = self.flow_names
        if len(names) >= FLOW_NAMES_LIMIT and flow_id not in names:
            del names[next(iter(names))]
            self.counters["flow_names_evicted"] += 1
        low = name.lower()
        if ":" in low or low[-1] == "." or " " in low:
            low = normalise_host(low)
        if len(low) > MAX_NAME:
            low = cap_name(low)
        names[flow_id] = low

    def name_of(self, flow_id: int) -> str | None:
        return self.flow_names.get(flow_id)

    def on_dns(self, ev: Event) -> None:
        """Learn IP → name from a DNS answer (v2 ``answers``/``grouped`` or v1 ``rdata``).
        The data is the event's ``dns`` dict, or the typed :class:`~sakimori.eve.typed.DnsData`
        of the compiled batch loop (the same values: only strings, a list of answers)."""
        dns = ev.data
        if type(dns) is DnsData:
            if dns.type != "answer":
                return
            qname = dns.rrname
            if dns.answers is not None:
                for ans in dns.answers:
                    if ans.rrtype in ("A", "AAAA"):
                        self._add_dns(ans.rdata, qname, ans.rrname, ev.lineno)
            elif dns.rrtype in ("A", "AAAA"):
                self._add_dns(dns.rdata, qname, None, ev.lineno)
            return
        if dns.get("type") != "answer":
            return
        qname = dns.get("rrname")
        answers = dns.get("answers")
        if type(answers) is list:
            for ans in answers:
                if type(ans) is dict and ans.get("rrtype") in ("A", "AAAA"):
                    self._add_dns(ans.get("rdata"), qname, ans.get("rrname"), ev.lineno)
        elif dns.get("rrtype") in ("A", "AAAA"):  # EVE dns v1: one answer per event
            self._add_dns(dns.get("rdata"), qname, None, ev.lineno)

    def replay_dns(self, log: list[tuple[int, Any, Any, Any]]) -> None:
        """Apply another context's :attr:`dns_log` entries (in their order): the same
        changes to ``dns_names`` (and evictions) as decoding their DNS lines here."""
        add = self._add_dns
        for lineno, ip, qname, rrname in log:
            add(ip, qname, rrname, lineno)

    def _add_dns(self, ip: Any, qname: Any, rrname: Any, lineno: int = 0) -> None:
        if type(ip) is not str or not ip:
            return
        names = self.dns_names.get(ip)
        changed = names is None
        if names is None:
            if len(self.dns_names) >= DNS_LIMIT:
                del self.dns_names[next(iter(self.dns_names))]
                self.counters["dns_names_evicted"] += 1
            names = self.dns_names[ip] = []
        norm = self._dns_norm
        for n in (qname, rrname):
            if type(n) is str and n:
                known = norm.get(n)
                if known is None:  # the same few names in every answer: normalised once
                    known = cap_name(normalise_host(n))
                    if len(n) <= MAX_NAME:  # memory stays bounded whatever EVE holds
                        if len(norm) > CACHE_LIMIT:
                            norm.clear()
                        norm[n] = known
                if known not in names and len(names) < NAMES_PER_IP:
                    names.append(known)
                    changed = True
        if changed and self.dns_log is not None:
            self.dns_log.append((lineno, ip, qname, rrname))

    def home_side(self, ev: Event) -> tuple[str, str, str] | None:
        """(internal host, other side's IP, display label of the other side), preferring the
        source as the host. The label names the service port: ``ip:port`` for an outgoing
        connection, ``ip -> :port`` for one coming in to the internal host."""
        if self.home(ev.src_ip):
            return ev.src_ip, ev.dest_ip, f"{ev.dest_ip}:{ev.dest_port}"
        if self.home(ev.dest_ip):
            return ev.dest_ip, ev.src_ip, f"{ev.src_ip} -> :{ev.dest_port}"
        return None

    @staticmethod
    def flow_ends(ev: Event) -> tuple[str, str]:
        """(client, server) of the alert's flow: Suricata 7 writes the flow's own orientation
        in ``flow.src_ip``/``flow.dest_ip``; else ``direction`` says which way the packet went;
        else (older EVE) the packet's source is taken as the client."""
        rec = ev.record or {}
        flow = rec.get("flow")
        if type(flow) is dict:
            client, server = flow.get("src_ip"), flow.get("dest_ip")
            if type(client) is str and type(server) is str and client and server:
                return client, server
        if rec.get("direction") == "to_client":
            return ev.dest_ip, ev.src_ip
        return ev.src_ip, ev.dest_ip

    def alert_side(self, ev: Event, side: str) -> tuple[str, str, str, bool] | None:
        """(host, other side, label, other side is the flow's server) for a third-party alert
        whose map entry reports *side* (``client``, ``server`` or ``internal``); None when
        that side is not internal. Labels as :meth:`home_side`."""
        client, server = self.flow_ends(ev)
        if side == "client":
            host = client if self.home(client) else None
        elif side == "server":
            host = server if self.home(server) else None
        else:
            found = self.home_side(ev)
            host = found[0] if found else None
        if host is None:
            return None
        other = server if host == client else client
        port = ev.dest_port if ev.dest_ip == server else ev.src_port
        label = f"{other}:{port}" if host == client else f"{other} -> :{port}"
        return host, other, label, host == client
