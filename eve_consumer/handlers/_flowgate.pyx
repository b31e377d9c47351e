# cython: language_level=3
"""The flow branch of the four flow handlers, compiled (Cython): what
:mod:`eve_consumer.handlers.flowgate` gives the dispatcher in place of their ``handle``.

One gate per handler; its ``handle`` method is called for every ``flow`` event in the
handler's ``flow_scope``, exactly where the handler's own ``handle`` would be. Each gate
repeats, in C, the early exits of that ``handle`` (same tests, same order, the same Python
operations on the same objects) and hands every flow it does not settle to the handler's own
``handle`` — the pure-Python code stays the reference:

- ``fw_blocked``: not TCP, no ``tcp`` object, a client that sent more than a SYN;
- ``non_http_on_http_port``: a port outside the table, not TCP, the port's expected
  ``app_proto``;
- ``long_session``: no ``flow`` object, an integer ``age`` under the threshold;
- ``beacon``: the whole flow branch — the hosts count (an exact
  :class:`~sakimori.distinct.DistinctCount` that already holds the source is not called),
  the answered/refused/DNS exits, the whitelist verdict from
  :class:`~eve_consumer.context.Context`'s caches (any verdict not cached yet, or a context
  that is not a stock ``Context``, asks ``ctx.whitelisted``), the pair lookup and the appends;
  a new pair, a fold and a refused-looking TCP flow call the handler's own methods.

A flow whose ``data`` is not a typed :class:`~sakimori.eve.typed.FlowRecord` (the ordinary
decode path gives a dict) always goes to the handler's ``handle``. Handler state (``pairs``,
``hosts``, ``allowed``, ``limit``, the context's caches) is read from the handler on each call,
never copied, so a restore or a replaced whitelist is seen at once.
tests/test_flowgate.py compares reports with and without the gates on real and hostile EVE.
"""

from eve_consumer.context import Context
from eve_consumer.handlers import beacon as _beacon
from eve_consumer.handlers.beacon import BeaconHandler, _server_flags
from eve_consumer.handlers.fw_blocked import _SYN_ONLY, FwBlockedHandler
from eve_consumer.handlers.long_session import LongSessionHandler
from eve_consumer.handlers.non_http import NonHttpHandler
from sakimori.distinct import DistinctCount
from sakimori.eve.typed import FlowRecord

_WHITELISTED = Context.whitelisted


cdef bint _stock_ctx(ctx) except -1:
    """True when *ctx*'s whitelist verdict may be read from its caches here (a stock
    :class:`Context` whose ``whitelisted`` is not replaced on the instance)."""
    return type(ctx) is Context and "whitelisted" not in ctx.__dict__


cdef class FwBlockedGate:
    """``fw_blocked``: flows that cannot be a blocked attempt stop here."""

    cdef object handler, full

    def __init__(self, handler) -> None:
        self.handler = handler
        self.full = handler.handle

    def handle(self, ev):
        if ev.proto != "TCP":
            return
        rec = ev.data
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        tcp = rec.tcp
        if type(tcp) is not dict:
            return
        flags = (<dict>tcp).get("tcp_flags_ts")
        if type(flags) is not str or flags not in _SYN_ONLY:
            return
        self.full(ev)


cdef class NonHttpGate:
    """``non_http_on_http_port``: flows to ports outside the table, and the expected
    protocol, stop here."""

    cdef object handler, full

    def __init__(self, handler) -> None:
        self.handler = handler
        self.full = handler.handle

    def handle(self, ev):
        allowed = self.handler.allowed.get(ev.dest_port)
        if allowed is None or ev.proto != "TCP":
            return
        rec = ev.data
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        final = rec.app_proto
        if type(final) is str and final in allowed:
            return
        self.full(ev)


cdef class LongSessionGate:
    """``long_session``: flows with an integer age under the threshold stop here."""

    cdef object handler, full

    def __init__(self, handler) -> None:
        self.handler = handler
        self.full = handler.handle

    def handle(self, ev):
        rec = ev.data
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        flow = rec.flow
        if flow is None:
            return
        age = flow.age
        if type(age) is int and age < self.handler.limit:
            return
        self.full(ev)


cdef class BeaconGate:
    """``beacon``: the flow branch of :meth:`BeaconHandler.handle` (see the module's
    docstring)."""

    cdef object handler, full, ctx
    cdef bint stock

    def __init__(self, handler) -> None:
        self.handler = handler
        self.full = handler.handle
        self.ctx = None
        self.stock = False

    def handle(self, ev):
        cdef object h = self.handler
        proto = ev.proto
        if proto != "TCP" and proto != "UDP":
            return
        rec = ev.data
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        flow = rec.flow
        if flow is None:
            return
        src = ev.src_ip
        hosts = h.hosts
        if type(hosts) is DistinctCount:
            items = hosts.items
            if type(items) is not set or src not in <set>items:
                hosts.add(src)
        else:
            hosts.add(src)
        if not flow.pkts_toclient or rec.app_proto == "dns":
            return
        tcp = rec.tcp
        if type(tcp) is dict and (<dict>tcp).get("rst") and "syn" not in _server_flags(tcp):
            return  # refused: the server only answered with RST
        ctx = h.ctx
        if ctx is not self.ctx:
            self.ctx = ctx
            self.stock = _stock_ctx(ctx)
        flow_id = ev.flow_id
        name = ctx.flow_names.get(flow_id)
        dest_ip = ev.dest_ip
        if (_cached_whitelisted(ctx, dest_ip, name) if self.stock
                else ctx.whitelisted(dest_ip, name)):
            ctx.counters["beacon_whitelisted_flows"] += 1
            return
        start = flow.start
        if type(start) is not str:
            start = ev.ts
        size = flow.bytes_toserver
        key = name or f"{dest_ip}:{ev.dest_port}"
        pair = h.pairs.get((src, key))
        if pair is None:
            h._count_host(key, src)
            pair = h._new_pair(src, key, ev)
            if pair is None:
                return
        pending = pair.pending
        pending.append(start)
        pair.sizes.append(size if type(size) is int else 0)
        if len(pending) >= _beacon.MAX_PENDING:
            h._fold(pair)
        flow_ids = pair.flow_ids
        if len(flow_ids) < 10:
            flow_ids.append(flow_id)


cdef object _cached_whitelisted(ctx, ip, name):
    """:meth:`Context.whitelisted` of a stock context, from its verdict caches when they hold
    the answer (else the method itself)."""
    if not ctx._wl_active:
        return False
    hit = ctx._wl_ip.get(ip)
    if hit is None:
        return _WHITELISTED(ctx, ip, name)
    if hit:
        return True
    by_name = ctx._wl_name
    if name:
        hit = by_name.get(name)
        if hit is None:
            return _WHITELISTED(ctx, ip, name)
        return hit
    names = ctx.dns_names.get(ip)
    if names:
        for n in names:
            hit = by_name.get(n)
            if hit is None:
                return _WHITELISTED(ctx, ip, name)
            if hit:
                return True
    return False


def gate(handler):
    """The compiled gate's ``handle`` for *handler*, or None when it has none (another handler,
    a subclass that changes ``handle``, a ``handle`` replaced on the instance)."""
    own = getattr(handler.handle, "__func__", None)  # not replaced on the instance
    for cls, make in _GATES:
        if isinstance(handler, cls) and own is cls.handle:
            return make(handler).handle
    return None


_GATES = ((BeaconHandler, BeaconGate), (FwBlockedHandler, FwBlockedGate),
          (NonHttpHandler, NonHttpGate), (LongSessionHandler, LongSessionGate))
