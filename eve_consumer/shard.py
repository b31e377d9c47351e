"""Routing of EVE lines to ``consume --workers N`` (see :mod:`eve_consumer.workers`).

One process — the *splitter* — reads the file and gives every line of a batch a one-byte
**route code** (:class:`Router`); each worker turns the codes into its own lines with C-level
``bytes.translate`` and ``itertools.compress`` (:func:`worker_table`, :func:`mine`), so no
worker looks at another worker's lines in Python. The fields a route needs (event type,
``src_ip``, ``dest_ip``) come from one regex search per line, mapped over the batch in C;
a dict maps each distinct (event type, src, dest) to its code, and only a new key runs
Python (``Router.__missing__``). When built, the compiled router (:mod:`eve_consumer._route`)
does the per-line part in C — byte scan, one key, a cache of codes — and asks this class
only what it would compute in Python anyway; this class stays the fallback and the
reference (same codes, placement and loads).

A line's owners (the *primary* one counts and decodes it; *secondary* ones decode it with
scratch statistics, so each line is counted once):

- ``flow``, ``http``, ``tls``, ``alert``, ``drop`` events: the workers of their internal
  sides, the source's first. An event between two internal hosts of different workers goes
  to both, so each worker sees every event that involves one of its hosts and computes that
  host's findings from exactly the events one worker would see — except a ``flow`` line
  every worker's decoder skips unparsed (:class:`FlowSkip`), which goes to its primary
  alone. No internal side: worker 0.
  An address holding a JSON escape (its decoded text unknown from the bytes): every worker.
- ``dns`` events: with ``dns_forwarded`` (the splitter is worker 0) worker 0 alone, which
  forwards the changes they make to the IP → name map (:mod:`eve_consumer.workers`).
  Otherwise every worker, counted by worker 0 (the IP → name map serves every host); worker 0
  alone when the line cannot feed that map, or when every worker's decoder skips it
  unparsed (:class:`DnsSkip`: the prefilter's verdict — a query, or no whitelisted name — on
  a well-formed line; :meth:`Router.dns_code`).
- Everything else — ``smtp`` (spoofed-mail warnings are per mail, not per host), unwanted
  event types, lines without a readable event type (bad lines) — worker 0 alone.

**Hosts to workers.** A host belongs to one worker for the whole run (sticky). A host seen
for the first time goes to the worker with the least load so far (lines it decodes weighted
by :data:`KIND_COST`, plus a handicap for worker 0 while it is also the splitter,
:data:`SPLIT_COST_LINES`); the new hosts of a batch are placed heaviest first (their weighted
lines in that batch), so the first batch is bin-packed. The placement depends only on the
file and ``consumer.queue_size`` (and the router's handicap), so a run is reproducible; the
report does not depend on it (any placement gives one worker's report).

Codes: ``c < N`` — worker c alone; ``N + p·N + s`` — primary p, secondary s; :data:`ALL` —
primary 0, every other worker secondary; :data:`FALLBACK` (inside the splitter only) — a
line not in Suricata's compact layout, parsed (``orjson``) and routed by its top-level fields
as the decoder reads them (a line that does not parse: worker 0, which counts it as bad).
Hence N ≤ :data:`MAX_WORKERS`.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, compress, repeat
from operator import add
from typing import Any

import orjson

from sakimori.accel import compiled
from sakimori.eve.decode import _well_formed  # the decoder's test before a byte verdict

# The compiled router (setup.py builds every *.pyx, optionally): absent when there was no C
# compiler at install — then the pure-Python router below, the reference; present but broken
# fails loudly at import.
compiled_route: Any = compiled("eve_consumer._route")

NOT_MINE = 0
PRIMARY = 1
SECONDARY = 2
ALL = 255
FALLBACK = 254
MAX_WORKERS = 15  # N + N² codes below FALLBACK
# The load model that places hosts: a line costs its decoders KIND_COST[event type] (a flow
# line = 1; other types and lines without the compact fields: 1). Measured with one worker
# over each event type's lines of the bench's office capture: flow 6.2, http 5.6, dns 3.8,
# tls 2.4 µs per line (decode and handle; every flow line parsed, most tls lines only joined).
KIND_COST = {b"flow": 1.0, b"http": 0.9, b"dns": 0.6, b"tls": 0.4}
_KIND_CLASS = {kind: k for k, kind in enumerate(KIND_COST, 1)}  # class 0: cost 1
COST_OF_CLASS = (1.0, *KIND_COST.values())
# Worker 0's handicap while it also splits, in flow lines per line read: what splitting
# (read, route, send) costs it beyond what another worker pays to receive and cut its lines
# and to decode lines that are no longer in the cache (worker 0 decodes its lines right after
# reading them), against ≈ 6 µs for a flow line. With the compiled router splitting costs
# ≈ 0.55–0.65 µs per line. Since a worker's batches holding shared lines run the batch loop
# (not the per-line one), the receiving worker is cheaper: in 2-worker runs over the quick
# bench's EVE repeated to 404k lines (4 runs per value), worker 0 was the busier by
# ≈ 0.1–0.17 s at 0.04 and 0.12, the two within 0.01 s at 0.16, worker 1 the busier at 0.2:
# hence 0.16 (was 0.04 when those batches took the per-line loop). The pure router's
# (splitting ≈ 1.1–1.3 µs per line), the same way: worker 0 the busier by 0.15–0.24 s at 0.2
# and 0.08 s at 0.3, worker 1 by 0.06–0.07 s at 0.35 and 0.24 s at 0.5: hence 0.33 (was 0.2).
# Since the compiled splitter scans the memory-mapped file instead of reading it as lines
# (splitting ≈ 0.25 µs per line, was ≈ 0.55), and worker 0 cuts its lines from the map as the
# others do: over the full bench's 1M lines (2 runs per value, CPU seconds) worker 1 was the
# busier by 0.20–0.23 s at 0.16, 0.15–0.17 s at 0.12, 0.08–0.11 s at 0.11, worker 0 by
# 0.04–0.08 s at 0.10 and 0.11–0.13 s at 0.06 (the placement moves by whole hosts): 0.10.
# With the DNS skip (DNS answers every decoder skips go to worker 0 alone, checked by the
# splitter): worker 0 the busier by 0.17–0.18 s at 0.10, within 0.03 s at 0.11, worker 1 by
# 0.09–0.12 s at 0.12 and 0.14–0.16 s at 0.13 (2 runs each, load average 4–5): 0.11.
# With DNS forwarded (no DNS line parsed by worker 1, no DNS skip in the splitter) and the
# flow skip (shared flows every decoder skips to their primary alone): worker 0 the busier
# by 0.19–0.33 s at 0.07, 0.18–0.25 at 0.09, 0.02–0.05 at 0.11, within 0.01–0.02 s at 0.13
# and 0.15 (3–4 alternating runs each, full bench EVE, load 2.9–3.5): 0.13.
# With lazy lines, the compiled beacon evaluation and the splitter's C route cache (a line
# cheaper to decode, its split ≈ 0.13–0.16 µs): worker 0 the busier by 0.24–0.27 s at 0.07,
# 0.15–0.16 s at 0.10, 0.03–0.06 s at 0.13, 0.01–0.04 s at 0.16, worker 1 by 0.01–0.04 s at
# 0.17, 0.03–0.06 s at 0.18 and 0.16–0.19 s at 0.25 (25 alternating runs, full bench EVE,
# load 1.8–2.4; docs/bench.md "Issue 15 figure 2b — splitter"): 0.16.
# With the cheaper route step (splitting ≈ 0.14–0.17 s over the full bench EVE, was
# 0.17–0.19 in the same runs): worker 0 the busier by 0.10–0.15 s at 0.10, 0.01–0.05 s at
# 0.12, within −0.03…+0.01 s at 0.13, worker 1 the busier by 0.03–0.08 s at 0.14, 0.02–0.04 s
# at 0.15 and 0.02–0.06 s at 0.16 (the former build: within −0.02…0.00 s at 0.16; 36
# alternating runs, load 1.4–3.7; docs/bench.md "Issue 15 figure 2b — the route step"): 0.13.
SPLIT_COST_LINES = 0.33
SPLIT_COST_LINES_COMPILED = 0.13
_BY_HOST = frozenset({b"flow", b"http", b"tls", b"alert", b"drop"})
_BY_HOST_TEXT = frozenset(k.decode() for k in _BY_HOST)
# event_type, src_ip and dest_ip as Suricata writes them (adjacent, compact); other layouts
# take the general path (each field found on its own).
_COMPACT = re.compile(rb'"event_type":"([a-z_]+)","src_ip":"([^"]*)","src_port":[0-9]+,'
                      rb'"dest_ip":"([^"]*)"').search
_RRNAME = b'"rrname":"'
_EXTERNAL_CACHE = 200_000
_ROUTE_CACHE = 200_000
# Routers made without compiled=...: the compiled one when built (tests switch it off to run
# the pure one; set before the workers fork).
USE_COMPILED = compiled_route is not None


@dataclass(frozen=True)
class DnsSkip:
    """Which ``dns`` lines every worker's decoder skips unparsed (the stock prefilter's
    verdict, :meth:`eve_consumer.prefilter.Prefilter.dns`, on a well-formed line): a worker
    that would only share such a line does nothing with it, so the router sends it to
    worker 0 alone (:meth:`Router.dns_code`). *max_line*: ``consumer.max_line_bytes``;
    *wl_names*: the whitelist holds names; *matches*: the whitelist's name test."""

    max_line: int
    wl_names: bool
    matches: Callable[[str], bool]

    @classmethod
    def of(cls, decoder: Any) -> DnsSkip | None:
        """The skip of *decoder* (worker 0's; every worker's is built alike), or None when
        it does not skip ``dns`` lines by the stock prefilter (reference path, no prefilter,
        DNS not decoded, another hook)."""
        from eve_consumer.prefilter import Prefilter  # the consumer's, loaded with it

        pre = decoder.prefilter
        if type(pre) is not Prefilter or decoder.reference or "dns" not in decoder.wanted \
                or "dns" not in decoder.prefilter_kinds:
            return None
        return cls(decoder.max_line, pre.wl_names, pre.ctx.whitelist.matches_host)


@dataclass(frozen=True)
class FlowSkip:
    """Which ``flow`` lines between internal hosts every worker's decoder skips unparsed (the
    stock prefilter's verdict, :meth:`eve_consumer.prefilter.Prefilter.flow` — not TCP, and
    ``long_session`` off or the flow younger than its threshold — on a well-formed line whose
    ``src_ip``/``dest_ip`` keys are the top-level ones, as the batch loop accepts it): shared
    by the workers of its two hosts, such a line goes to its primary alone
    (:meth:`Router.flow_code`; DNS flows to an internal resolver, mostly). *max_line*:
    ``consumer.max_line_bytes``; *long_s*: the prefilter's ``long_session`` threshold
    (None: off); *verdict*: the prefilter's ``flow``, *skip*: its SKIP."""

    max_line: int
    long_s: float | None
    verdict: Callable[[bytes], Any]
    skip: Any

    @classmethod
    def of(cls, decoder: Any) -> FlowSkip | None:
        """The skip of *decoder* (worker 0's; every worker's is built alike), or None when
        it does not skip internal flows by the stock prefilter (reference path, no
        prefilter, flows not decoded, internal non-TCP flows kept, another hook)."""
        from eve_consumer.prefilter import SKIP, Prefilter  # the consumer's, loaded with it

        pre = decoder.prefilter
        if type(pre) is not Prefilter or decoder.reference or "flow" not in decoder.wanted \
                or "flow" not in decoder.prefilter_kinds or not pre.internal_non_tcp:
            return None
        return cls(decoder.max_line, pre.long_s, pre.flow, SKIP)


def top_once(line: bytes) -> bool:
    """Do ``"src_ip"`` and ``"dest_ip"`` occur once each in *line*, outside strings at
    depth 1 (the top-level keys, if the line is JSON)? The batch loop's test before it takes
    a flow verdict from the bytes (``_fastfeed._top_once``)."""
    p_src, p_dst = line.find(b'"src_ip"'), line.find(b'"dest_ip"')
    if p_src < 0 or p_dst < 0 or line.find(b'"src_ip"', p_src + 1) >= 0 \
            or line.find(b'"dest_ip"', p_dst + 1) >= 0:
        return False
    depth, in_str = 0, False
    for k in range(max(p_src, p_dst) + 1):
        if k in (p_src, p_dst) and (in_str or depth != 1):
            return False
        c = line[k]
        if in_str:
            in_str = c != 34
        elif c == 34:
            in_str = True
        elif c in (123, 91):
            depth += 1
        elif c in (125, 93):
            depth -= 1
    return True


def _key(m: Any) -> tuple[bytes, bytes, bytes] | None:
    return m and m.groups()


def worker_table(index: int, count: int) -> bytes:
    """The ``bytes.translate`` table of worker *index*: route code → NOT_MINE / PRIMARY /
    SECONDARY."""
    table = bytearray(256)
    table[index] = PRIMARY
    for p in range(count):
        for s in range(count):
            if p != s:
                code = count + p * count + s
                table[code] = PRIMARY if p == index else SECONDARY if s == index else NOT_MINE
    table[ALL] = PRIMARY if index == 0 else SECONDARY
    return bytes(table)


class Router(dict):  # type: ignore[type-arg]
    """The splitter's routes: (event type, src, dest) raw bytes → route code, learnt on
    first sight; :meth:`route` gives the codes of a whole batch."""

    def __init__(self, count: int, home: Callable[[str], bool], *,
                 splitter_is_worker0: bool = True, compiled: bool | None = None,
                 dns_wanted: bool = True, handicap: float | None = None,
                 dns_skip: DnsSkip | None = None, dns_forwarded: bool = False,
                 flow_skip: FlowSkip | None = None) -> None:
        super().__init__()
        if compiled is None:
            compiled = USE_COMPILED
        if compiled and compiled_route is None:
            raise ValueError("the compiled router (eve_consumer._route) is not built")
        if not 1 <= count <= MAX_WORKERS:
            raise ValueError(f"{count} workers (1 … {MAX_WORKERS})")
        self.count = count
        self.home = home
        self.hosts: dict[bytes, int] = {}  # internal host address → its worker (sticky)
        self._external: set[bytes] = set()
        self.load = [0.0] * count  # KIND_COST of the lines each worker decodes so far
        if handicap is None:  # the splitter's own cost (tests set it to compare routers)
            handicap = 0.0 if not splitter_is_worker0 or count == 1 else \
                SPLIT_COST_LINES_COMPILED if compiled else SPLIT_COST_LINES
        self.handicap = handicap
        # DNS lines that cannot feed the IP → name map go to worker 0 alone (dns_code)
        self.dns_wanted = dns_wanted
        self.dns_skip = dns_skip  # DNS answers every decoder skips: worker 0 alone
        # every dns line to worker 0 alone: it forwards the IP → name map's changes to the
        # other workers (eve_consumer.workers: Context.dns_log), who decode no DNS line
        self.dns_forwarded = dns_forwarded
        self._dns = 0 if dns_forwarded else ALL  # the code of a dns line (before dns_code)
        self._skip_names: dict[bytes, bool] = {}  # rrname → whitelisted (dns_skip.matches)
        self.flow_skip = flow_skip  # shared flows every decoder skips: their primary alone
        self._pending: set[bytes] = set()  # internal, not placed yet
        # code → the workers that decode its lines
        self.decoders: dict[int, tuple[int, ...]] = {c: (c,) for c in range(count)}
        for p in range(count):
            for s in range(count):
                if p != s:
                    self.decoders[count + p * count + s] = (p, s)
        self.decoders[ALL] = tuple(range(count))
        self.costs = COST_OF_CLASS
        self._fast = compiled_route.FastRoutes(self, _ROUTE_CACHE, _KIND_CLASS) \
            if compiled else None

    # --- hosts -----------------------------------------------------------------------------
    def _internal(self, ip: bytes) -> bool:
        if ip in self.hosts or ip in self._pending:
            return True
        if ip in self._external:
            return False
        if self.home(ip.decode("utf-8", "replace")):
            self._pending.add(ip)
            return True
        if len(self._external) > _EXTERNAL_CACHE:
            self._external.clear()
        self._external.add(ip)
        return False

    def place(self, weights: dict[bytes, float],
              pairs: dict[tuple[bytes, bytes], float] | None = None) -> None:
        """Give each new internal host of *weights* (address → its expected load) a worker:
        heaviest first, each to the least loaded worker (ties: the lowest index). *pairs*:
        the load of lines between two internal hosts (in both hosts' weights), decoded once
        when both hosts are on one worker, by both workers otherwise."""
        load = self.load[:]
        shared: dict[bytes, list[tuple[bytes, float]]] = {}
        for (a, b), cost in (pairs or {}).items():
            shared.setdefault(a, []).append((b, cost))
            shared.setdefault(b, []).append((a, cost))
        now: set[bytes] = set()
        for ip in sorted(weights, key=lambda h: (-weights[h], h)):
            if ip in self.hosts:
                continue
            w = min(range(self.count), key=load.__getitem__)
            self.hosts[ip] = w
            now.add(ip)
            load[w] += weights[ip]
            for other, cost in shared.get(ip, ()):
                ow = self.hosts.get(other)
                if ow is None:
                    continue  # placed later: counted then
                if other in now and ow == w:
                    load[w] -= cost  # already counted with the other host, decoded once
                elif other not in now and ow != w:
                    load[ow] += cost  # a host placed before: its worker decodes it too

    # --- routes ----------------------------------------------------------------------------
    def __missing__(self, key: tuple[bytes, bytes, bytes] | None) -> int:
        if key is None:
            return FALLBACK  # not cached: depends on the whole line
        if len(self) > _ROUTE_CACHE:
            self.clear()
        code = self[key] = self._code(*key)
        return code

    def _code(self, kind: bytes, src: bytes, dst: bytes) -> int:
        if kind not in _BY_HOST:
            return self._dns if kind == b"dns" else 0
        if b"\\" in src or b"\\" in dst:
            return ALL  # the decoded address is unknown from the bytes: every worker judges
        a = self.hosts[src] if self._internal(src) else -1
        b = self.hosts[dst] if self._internal(dst) else -1
        if a < 0:
            a, b = b, -1
        if a < 0:
            return 0
        if b < 0 or b == a:
            return a
        return self.count + a * self.count + b

    def general(self, line: bytes) -> int:
        """The code of a line that is not in Suricata's compact layout (rare): its top-level
        fields as the decoder reads them, from a full parse."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return 0  # a bad line: worker 0 counts it
        if type(obj) is not dict:
            return 0
        kind, src, dst = obj.get("event_type"), obj.get("src_ip"), obj.get("dest_ip")
        if kind == "dns":
            return self._dns
        if kind not in _BY_HOST_TEXT or type(src) is not str or type(dst) is not str:
            return 0  # not per host, or rejected by the decoder wherever it goes
        key = (kind.encode(), src.encode("utf-8", "replace"),
               dst.encode("utf-8", "replace"))
        self._learn_hosts([key], Counter({key: 1}))
        return self._code(*key)

    def _learn_hosts(self, keys: Iterable[Any], counts: Counter[Any]) -> None:
        """Place the internal hosts first seen in *keys* (weighted by their lines)."""
        weights: dict[bytes, float] = {}
        pairs: dict[tuple[bytes, bytes], float] = {}
        for key in keys:
            if key is None or key[0] not in _BY_HOST or b"\\" in key[1] or b"\\" in key[2]:
                continue
            kind, src, dst = key
            cost = counts[key] * COST_OF_CLASS[_KIND_CLASS.get(kind, 0)]
            new_src = src not in self.hosts and self._internal(src)
            new_dst = dst != src and dst not in self.hosts and self._internal(dst)
            if new_src:
                weights[src] = weights.get(src, 0) + cost
            if new_dst:
                weights[dst] = weights.get(dst, 0) + cost
            if (new_src or new_dst) and dst != src and self._internal(src) \
                    and self._internal(dst):
                pairs[(src, dst)] = pairs.get((src, dst), 0) + cost
        self._pending.clear()
        if weights:
            self.place(weights, pairs)

    def codes_of(self, keys: list[Any]) -> bytes:
        """The codes of *keys* (compact fields, or None: FALLBACK), the new internal hosts
        among them placed first, weighted by their lines in *keys*."""
        new = set(keys).difference(self)
        new.discard(None)
        if new:
            self._learn_hosts(sorted(new), Counter(keys))
        return bytes(map(self.__getitem__, keys))

    def route(self, lines: list[bytes]) -> bytes:
        """The route code of every line of a batch (and the loads updated): compiled
        (:mod:`eve_consumer._route`) when built and enabled, else in Python."""
        if self._fast is not None:
            return bytes(self._fast.route(lines))
        self.load[0] += self.handicap * len(lines)  # before placing this batch's hosts
        keys = list(map(_key, map(_COMPACT, lines)))
        codes = self.codes_of(keys)
        classes = bytes(_KIND_CLASS.get(k[0], 0) if k else 0 for k in keys)
        dns, flow = _KIND_CLASS[b"dns"], _KIND_CLASS[b"flow"]
        count = self.count
        skip_flows = self.flow_skip is not None and any(
            c in codes for c in range(count, count * (count + 1)))  # a shared code
        if FALLBACK in codes or (ALL in codes and dns in classes) or skip_flows:
            fixed = bytearray(codes)
            for i, code in enumerate(codes):
                if code == FALLBACK:
                    fixed[i] = self.general(lines[i])
                elif code == ALL and classes[i] == dns:
                    fixed[i] = self.dns_code(lines[i])
                elif skip_flows and classes[i] == flow and count <= code < count * (count + 1):
                    fixed[i] = self.flow_code(lines[i], code)
            codes = bytes(fixed)
        self.account(Counter(zip(codes, classes, strict=True)))
        return codes

    def route_view(self, view: Any, base: int, lens: array) -> bytes:
        """:meth:`route` of the lines of *view* (the memory-mapped file) from offset *base*,
        of lengths *lens*, each followed by its newline: by the compiled router without a
        line object when enabled, else over the lines cut out."""
        if self._fast is not None:
            return bytes(self._fast.route_view(view, base, lens))
        starts = list(accumulate(map(add, lens, repeat(1)), initial=base))[:-1]
        return self.route(list(map(view.__getitem__, map(slice, starts, map(add, starts, lens)))))

    def scan_route(self, view: Any, start: int, read_pos: int, max_bytes: int,
                   max_lines: int, max_line: int) -> tuple[int, Any, int, int, bytes | None]:
        """:func:`eve_consumer._route.scan` of the next batch of *view* and its codes in one
        pass (each line routed while its bytes are in the cache) — the compiled router only
        (ValueError otherwise)."""
        if self._fast is None:
            raise ValueError("scan_route needs the compiled router")
        return self._fast.scan_route(view, start, read_pos, max_bytes, max_lines, max_line)

    @property
    def compiled(self) -> bool:
        """Is this router the compiled one?"""
        return self._fast is not None

    def dns_code(self, line: bytes) -> int:
        """The code of a compact ``dns`` line: every worker (ALL), or worker 0 alone when the
        line cannot add to the IP → name map — DNS not decoded (no name whitelist), or no
        string "answer" in it (``Context.on_dns`` learns from answers only) — and holds no
        JSON escape and one ``"event_type"`` key (so it decodes as this dns event)."""
        if b"\\" in line or line.count(b'"event_type"') != 1:
            return ALL
        if self.dns_wanted and b'"answer"' in line and not self.dns_skipped(line):
            return ALL
        return 0

    def flow_code(self, line: bytes, code: int) -> int:
        """The code of a compact ``flow`` line shared by two workers (*code*): its primary
        alone when every worker's decoder skips it unparsed (:class:`FlowSkip`) — no JSON
        escape, one ``"event_type"`` key, the decoder's well-formed line with top-level
        ``src_ip``/``dest_ip``, and the prefilter's verdict SKIP; else *code*. (Both sides
        are internal: the code says so.)"""
        skip = self.flow_skip
        if skip is None or len(line) > skip.max_line or not _well_formed(line) \
                or b"\\" in line or line.count(b'"event_type"') != 1 \
                or not top_once(line) or skip.verdict(line) is not skip.skip:
            return code
        return (code - self.count) // self.count

    def dns_skipped(self, line: bytes) -> bool:
        """Does every decoder skip this compact ``dns`` line (no JSON escape, one
        ``"event_type"``) unparsed — :attr:`dns_skip`'s well-formed line that is a query or
        names no whitelisted host? False whenever unsure (the line then goes to every
        worker)."""
        skip = self.dns_skip
        if skip is None or len(line) > skip.max_line or not _well_formed(line):
            return False
        if b'"type":"query"' in line or not skip.wl_names:
            return True
        names = self._skip_names
        i = line.find(_RRNAME)
        while i >= 0:
            i += len(_RRNAME)
            j = line.find(b'"', i)
            if j < 0:
                return False
            name = line[i:j]
            hit = names.get(name)
            if hit is None:
                if len(names) > _ROUTE_CACHE:
                    names.clear()
                hit = names[name] = bool(skip.matches(name.decode("utf-8", "replace")))
            if hit:
                return False
            i = line.find(_RRNAME, j)
        return True

    def account(self, counts: Counter[tuple[int, int]]) -> None:
        """Add a batch's lines to the loads: *counts* (code, cost class) → lines, in order
        of first occurrence."""
        load, decoders = self.load, self.decoders
        for (code, cls), n in counts.items():
            cost = n * COST_OF_CLASS[cls]
            for w in decoders[code]:
                load[w] += cost


def mine(codes: bytes, table: bytes, first: int, lines: list[bytes] | None, *,
         view: Any = None, base: int = 0, lens: Any = None
         ) -> tuple[Sequence[bytes], Sequence[int], bytes] | None:
    """This worker's part of a batch: (its lines, their line numbers, their flags
    PRIMARY/SECONDARY), or None when nothing is its. The lines come from *lines* (the
    batch's) or are cut from *view* (the file, memory-mapped) at *base* with lengths *lens*
    (with an ``array("I")`` of lengths, by the compiled :func:`eve_consumer._route.cut` when
    built and enabled: the lines copied into one bytes object, a raw
    :class:`~sakimori.eve.lines.Lines` equal to the list cut here, and the numbers an
    ``array("q")``). Otherwise lists."""
    if lines is None and USE_COMPILED and isinstance(lens, array) and lens.typecode == "I":
        return compiled_route.cut(codes, table, first, view, base, lens)  # type: ignore[union-attr]
    mask = codes.translate(table)
    if mask.count(0) == len(mask):
        return None
    numbers = list(compress(range(first, first + len(mask)), mask))
    flags = bytes(compress(mask, mask))
    if lines is not None:
        mine_lines = list(compress(lines, mask))
    else:
        starts = list(accumulate(map(add, lens, repeat(1)), initial=base))
        ends = map(add, starts, lens)
        mine_lines = list(map(view.__getitem__, map(slice, compress(starts, mask),
                                                     compress(ends, mask))))
    return mine_lines, numbers, flags


class WorkerShard:
    """One worker's view for its consumer: which hosts it reports (:meth:`owns`) and, per
    batch, the flag of each line it is given (``owner``, what
    :meth:`sakimori.eve.decode.Decoder.decode_sharded` asks: PRIMARY or SECONDARY)."""

    def __init__(self, index: int, hosts: dict[bytes, int] | None = None) -> None:
        self.index = index
        self.hosts: dict[bytes, int] = dict(hosts or {})
        self.owner: Callable[[bytes], int] = partial(next, iter(()), PRIMARY)
        self.splitter_cpu_s = 0.0  # reported by the splitter at the end (benchmarks)

    def owns(self, host: str) -> bool:
        """Is the internal *host* one of this worker's (unplaced hosts: worker 0's)?"""
        return self.hosts.get(host.encode("utf-8", "replace"), 0) == self.index

    def flags(self, flags: bytes) -> None:
        """The flags of the next lines given to the decoder, in order."""
        self.owner = partial(next, iter(flags))  # owner(line) → next(flags, line): in order
