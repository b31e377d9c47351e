# cython: language_level=3
"""The flow branch of the four flow handlers, compiled (Cython): what
:mod:`eve_consumer.handlers.flowgate` gives the dispatcher in place of their ``handle``.

One gate per handler; its ``handle`` method is called for every ``flow`` event in the
handler's ``flow_scope``, exactly where the handler's own ``handle`` would be. Each gate
repeats, in C, the early exits of that ``handle`` (same tests, same order, the same Python
operations on the same objects) and hands every flow it does not settle to the handler's own
``handle`` — the pure-Python code stays the reference:

- ``fw_blocked``: not TCP, no ``tcp`` flags, a client that sent more than a SYN;
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
decode path gives a dict) always goes to the handler's ``handle``. A gate stands in only for
the stock ``handle`` (:func:`gate`: not for a subclass that changes it, nor a ``handle``
replaced on the instance or the class), and reads the whitelist caches only of a stock
``Context`` (checked when the gate first sees the context). Handler state (``pairs``,
``hosts``, ``allowed``, ``limit``, the context's caches) is read from the handler on each
call, never copied, so a restore or a replaced whitelist is seen at once.

Where the time goes: fields of ``Event``, ``FlowRecord``, ``FlowCounts``, ``TcpFlags`` and
beacon's ``_Pair`` are read at their slot offset (taken from their member descriptors at
import; exact types only, else getattr); plain attributes of the handler and the context
from their ``__dict__``; beacon's ``dest_ip:port`` key from cached ``:port`` texts.
tests/test_flowgate.py compares reports with and without the gates on real and hostile EVE.
"""

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject

from eve_consumer.context import Context
from eve_consumer.handlers import beacon as _beacon
from eve_consumer.handlers.beacon import BeaconHandler, _server_flags
from eve_consumer.handlers.fw_blocked import _SYN_ONLY, FwBlockedHandler
from eve_consumer.handlers.long_session import LongSessionHandler
from eve_consumer.handlers.non_http import NonHttpHandler
from sakimori.distinct import DistinctCount
from sakimori.eve.typed import FlowRecord

from eve_consumer.handlers.beacon import _Pair
from sakimori.eve.decode import Event
from sakimori.eve.typed import FlowCounts, TcpFlags

_WHITELISTED = Context.whitelisted
_MEMBER = type(FlowRecord.__dict__["tcp"])  # member_descriptor


# --- fields read at their offset ------------------------------------------------------------
# A msgspec Struct's fields and a __slots__ class's slots are object pointers at fixed offsets
# of the instance (their member descriptors say where). For an object whose type is exactly
# the class the offset was taken from, the field is read there; an empty slot (or another
# type) is read by getattr, which gives the value or the AttributeError as Python would.

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

cdef enum:
    _T_OBJECT = 6
    _T_OBJECT_EX = 16


cdef Py_ssize_t _offset(cls, str name) except -2:
    """The offset of the object field *name* of *cls*, or -1 (read it by getattr)."""
    d = cls.__dict__.get(name)
    if type(d) is not _MEMBER:
        return -1
    cdef PyMemberDef *m = (<PyMemberDescrObject *>d).d_member
    if m.type != _T_OBJECT_EX and m.type != _T_OBJECT:
        return -1
    return m.offset


cdef inline object _get(object obj, bint exact, Py_ssize_t off, str name):
    """``obj.<name>``: read at *off* when *exact* (``type(obj)`` is the offset's class)."""
    cdef PyObject *p
    if exact and off >= 0:
        p = (<PyObject **>((<char *><PyObject *>obj) + off))[0]
        if p != NULL:
            return <object>p
    return getattr(obj, name)


cdef Py_ssize_t EV_PROTO = _offset(Event, "proto")
cdef Py_ssize_t EV_DATA = _offset(Event, "data")
cdef Py_ssize_t EV_SRC_IP = _offset(Event, "src_ip")
cdef Py_ssize_t EV_DEST_IP = _offset(Event, "dest_ip")
cdef Py_ssize_t EV_DEST_PORT = _offset(Event, "dest_port")
cdef Py_ssize_t EV_FLOW_ID = _offset(Event, "flow_id")
cdef Py_ssize_t EV_TS = _offset(Event, "ts")
cdef Py_ssize_t FR_FLOW = _offset(FlowRecord, "flow")
cdef Py_ssize_t FR_TCP = _offset(FlowRecord, "tcp")
cdef Py_ssize_t FR_APP_PROTO = _offset(FlowRecord, "app_proto")
cdef Py_ssize_t FC_PKTS_TC = _offset(FlowCounts, "pkts_toclient")
cdef Py_ssize_t FC_BYTES_TS = _offset(FlowCounts, "bytes_toserver")
cdef Py_ssize_t FC_START = _offset(FlowCounts, "start")
cdef Py_ssize_t FC_AGE = _offset(FlowCounts, "age")
cdef Py_ssize_t TCP_FLAGS_TS = _offset(TcpFlags, "tcp_flags_ts")
cdef Py_ssize_t TCP_RST = _offset(TcpFlags, "rst")
cdef Py_ssize_t PAIR_PENDING = _offset(_Pair, "pending")
cdef Py_ssize_t PAIR_SIZES = _offset(_Pair, "sizes")
cdef Py_ssize_t PAIR_FLOW_IDS = _offset(_Pair, "flow_ids")
cdef Py_ssize_t DC_ITEMS = _offset(DistinctCount, "items")


def offsets() -> dict:
    """The offsets found (-1: read by getattr), for tests."""
    return {"Event.proto": EV_PROTO, "Event.data": EV_DATA, "Event.src_ip": EV_SRC_IP,
            "Event.dest_ip": EV_DEST_IP, "Event.dest_port": EV_DEST_PORT,
            "Event.flow_id": EV_FLOW_ID, "Event.ts": EV_TS, "FlowRecord.flow": FR_FLOW,
            "FlowRecord.tcp": FR_TCP, "FlowRecord.app_proto": FR_APP_PROTO,
            "FlowCounts.pkts_toclient": FC_PKTS_TC, "FlowCounts.bytes_toserver": FC_BYTES_TS,
            "FlowCounts.start": FC_START, "FlowCounts.age": FC_AGE,
            "TcpFlags.tcp_flags_ts": TCP_FLAGS_TS, "TcpFlags.rst": TCP_RST,
            "_Pair.pending": PAIR_PENDING, "_Pair.sizes": PAIR_SIZES,
            "_Pair.flow_ids": PAIR_FLOW_IDS, "DistinctCount.items": DC_ITEMS}


# --- attributes read from the instance's __dict__ ----------------------------------------
# A plain attribute (no descriptor of that name on the class) lives in the instance's
# __dict__: read there, or by getattr when it is not (the AttributeError as Python gives it).

cdef inline object _attr(object obj, dict d, str name):
    """``obj.<name>``, from *d* (``obj.__dict__``, or None: getattr)."""
    cdef PyObject *p
    if d is not None:
        p = PyDict_GetItem(d, name)
        if p != NULL:
            return <object>p
    return getattr(obj, name)


cdef dict _plain_dict(obj, tuple names):
    """``obj.__dict__`` when none of *names* is defined on its class (plain attributes),
    else None."""
    d = getattr(obj, "__dict__", None)
    if type(d) is not dict:
        return None
    cls = type(obj)
    for n in names:
        if hasattr(cls, n):
            return None
    return d


_CTX_NAMES = ("flow_names", "counters", "_wl_active", "_wl_ip", "_wl_name", "dns_names")
_BEACON_NAMES = ("hosts", "ctx", "pairs")

# the destination key's ":<port>" texts (a port is an int in 0–65535 on a decoded event)
cdef list _PORT_TEXT = [None] * 65536


cdef object _dest_key(dest_ip, dest_port):
    """``f"{dest_ip}:{dest_port}"``."""
    cdef Py_ssize_t port
    if type(dest_ip) is str and type(dest_port) is int and 0 <= dest_port <= 65535:
        port = dest_port
        text = _PORT_TEXT[port]
        if text is None:
            text = _PORT_TEXT[port] = f":{port}"
        return <str>dest_ip + <str>text
    return f"{dest_ip}:{dest_port}"


cdef bint _stock_ctx(ctx) except -1:
    """True when *ctx*'s whitelist verdict may be read from its caches here (a stock
    :class:`Context` whose ``whitelisted`` is replaced neither on the instance nor on the
    class)."""
    return type(ctx) is Context and Context.whitelisted is _WHITELISTED \
        and "whitelisted" not in ctx.__dict__


cdef class _Gate:
    """A gate in front of one handler: ``full`` is the handler's own ``handle``, called for
    every event the gate cannot settle."""

    cdef object handler, full

    def __init__(self, handler) -> None:
        self.handler = handler
        self.full = handler.handle


cdef class FwBlockedGate(_Gate):
    """``fw_blocked``: flows that cannot be a blocked attempt stop here."""

    def handle(self, ev):
        cdef bint e = type(ev) is Event
        if _get(ev, e, EV_PROTO, "proto") != "TCP":
            return
        rec = _get(ev, e, EV_DATA, "data")
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        tcp = _get(rec, True, FR_TCP, "tcp")
        if type(tcp) is not TcpFlags:
            return
        flags = _get(tcp, True, TCP_FLAGS_TS, "tcp_flags_ts")
        if type(flags) is not str or flags not in _SYN_ONLY:
            return
        self.full(ev)


cdef class NonHttpGate(_Gate):
    """``non_http_on_http_port``: flows to ports outside the table, and the expected
    protocol, stop here."""

    def handle(self, ev):
        cdef bint e = type(ev) is Event
        allowed = self.handler.allowed.get(_get(ev, e, EV_DEST_PORT, "dest_port"))
        if allowed is None or _get(ev, e, EV_PROTO, "proto") != "TCP":
            return
        rec = _get(ev, e, EV_DATA, "data")
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        final = _get(rec, True, FR_APP_PROTO, "app_proto")
        if type(final) is str and final in allowed:
            return
        self.full(ev)


cdef class LongSessionGate(_Gate):
    """``long_session``: flows with an integer age under the threshold stop here."""

    def handle(self, ev):
        rec = _get(ev, type(ev) is Event, EV_DATA, "data")
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        flow = _get(rec, True, FR_FLOW, "flow")
        if flow is None:
            return
        age = _get(flow, type(flow) is FlowCounts, FC_AGE, "age")
        if type(age) is int and age < self.handler.limit:
            return
        self.full(ev)


cdef class BeaconGate(_Gate):
    """``beacon``: the flow branch of :meth:`BeaconHandler.handle` (see the module's
    docstring)."""

    cdef object ctx
    cdef dict hd, cd  # the handler's and the stock context's __dict__ (None: getattr)
    cdef bint stock

    def __init__(self, handler) -> None:
        _Gate.__init__(self, handler)
        self.hd = _plain_dict(handler, _BEACON_NAMES)
        self.ctx = None
        self.cd = None
        self.stock = False

    def handle(self, ev):
        cdef object h = self.handler
        cdef bint e = type(ev) is Event
        cdef bint fc, pe
        proto = _get(ev, e, EV_PROTO, "proto")
        if proto != "TCP" and proto != "UDP":
            return
        rec = _get(ev, e, EV_DATA, "data")
        if type(rec) is not FlowRecord:
            self.full(ev)
            return
        flow = _get(rec, True, FR_FLOW, "flow")
        if flow is None:
            return
        fc = type(flow) is FlowCounts
        src = _get(ev, e, EV_SRC_IP, "src_ip")
        hosts = _attr(h, self.hd, "hosts")
        if type(hosts) is DistinctCount:
            items = _get(hosts, True, DC_ITEMS, "items")
            if type(items) is not set or src not in <set>items:
                hosts.add(src)
        else:
            hosts.add(src)
        if not _get(flow, fc, FC_PKTS_TC, "pkts_toclient") \
                or _get(rec, True, FR_APP_PROTO, "app_proto") == "dns":
            return
        tcp = _get(rec, True, FR_TCP, "tcp")
        if type(tcp) is TcpFlags and _get(tcp, True, TCP_RST, "rst") \
                and "syn" not in _server_flags(tcp):
            return  # refused: the server only answered with RST
        ctx = _attr(h, self.hd, "ctx")
        if ctx is not self.ctx:
            self.ctx = ctx
            self.stock = _stock_ctx(ctx)
            self.cd = _plain_dict(ctx, _CTX_NAMES) if self.stock else None
        cd = self.cd
        flow_id = _get(ev, e, EV_FLOW_ID, "flow_id")
        name = _attr(ctx, cd, "flow_names").get(flow_id)
        dest_ip = _get(ev, e, EV_DEST_IP, "dest_ip")
        if (_cached_whitelisted(ctx, cd, dest_ip, name) if self.stock
                else ctx.whitelisted(dest_ip, name)):
            ctx.counters["beacon_whitelisted_flows"] += 1
            return
        start = _get(flow, fc, FC_START, "start")
        if type(start) is not str:
            start = _get(ev, e, EV_TS, "ts")
        size = _get(flow, fc, FC_BYTES_TS, "bytes_toserver")
        key = name or _dest_key(dest_ip, _get(ev, e, EV_DEST_PORT, "dest_port"))
        pair = _attr(h, self.hd, "pairs").get((src, key))
        if pair is None:
            h._count_host(key, src)
            pair = h._new_pair(src, key, ev)
            if pair is None:
                return
        pe = type(pair) is _Pair
        pending = _get(pair, pe, PAIR_PENDING, "pending")
        pending.append(start)
        _get(pair, pe, PAIR_SIZES, "sizes").append(size if type(size) is int else 0)
        if len(pending) >= _beacon.MAX_PENDING:
            h._fold(pair)
        flow_ids = _get(pair, pe, PAIR_FLOW_IDS, "flow_ids")
        if len(flow_ids) < 10:
            flow_ids.append(flow_id)


cdef object _cached_whitelisted(ctx, dict cd, ip, name):
    """:meth:`Context.whitelisted` of a stock context (*cd*: its ``__dict__`` or None), from
    its verdict caches when they hold the answer (else the method itself)."""
    if not _attr(ctx, cd, "_wl_active"):
        return False
    hit = _attr(ctx, cd, "_wl_ip").get(ip)
    if hit is None:
        return _WHITELISTED(ctx, ip, name)
    if hit:
        return True
    by_name = _attr(ctx, cd, "_wl_name")
    if name:
        hit = by_name.get(name)
        if hit is None:
            return _WHITELISTED(ctx, ip, name)
        return hit
    names = _attr(ctx, cd, "dns_names").get(ip)
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
    a subclass that changes ``handle``, a ``handle`` replaced on the instance or on the
    class): the gate repeats the stock ``handle``, so it stands in for that one only."""
    own = getattr(handler.handle, "__func__", None)  # not replaced on the instance
    for cls, make in _GATES:
        if isinstance(handler, cls) and own is cls.handle \
                and getattr(own, "__module__", None) == cls.__module__ \
                and getattr(own, "__qualname__", None) == f"{cls.__qualname__}.handle":
            return make(handler).handle
    return None


_GATES = ((BeaconHandler, BeaconGate), (FwBlockedHandler, FwBlockedGate),
          (NonHttpHandler, NonHttpGate), (LongSessionHandler, LongSessionGate))
