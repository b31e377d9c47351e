"""Typed decode of ``flow`` events (msgspec): only the fields a handler reads, range-checked.

Half of the consumer's lines are ``flow`` events that survive the relevance prefilter. For
them the decoder tries :func:`decode_flow` before ``orjson.loads``: msgspec reads the line
into the :class:`FlowRecord` struct in C, skipping every field no handler reads (``ether``,
``community_id``, ``metadata``, …) and checking types and ranges on the way — the same
ranges as :mod:`sakimori.eve.decode` (ports 0–65535, ``flow_id`` in [0, 2^63), the
``flow`` counters and ``age`` in [0, 2^53)).

It returns None for anything unusual — a type or range error, a value of another JSON type,
a truncated line, a second record on the line, nesting deeper than the recursion limit, a
timestamp the fast path does not read —
and the decoder then takes the ordinary path (``orjson`` + ``Decoder._build``), which
accepts or rejects the line with its usual reason and ``file:line``. So the typed path
never changes which lines are used or bad, only how fast a valid line is read.

In the consumer (``Decoder.typed_data``) the struct itself is the event's ``data``/``record``
and the flow handlers read its attributes (``Handler.typed_flows``; a dict record from the
ordinary path is copied into a struct by :func:`as_flow`, unvalidated). Elsewhere (learning)
the event's ``data``/``record`` dict holds the struct's fields (:func:`flow_dict`: absent ones
as None, which ``.get`` reads as absent), ``flow`` as a dict of its counters and times, and
``tcp`` as a dict of the flags read (:class:`TcpFlags`: ``tcp_flags_ts``, ``tcp_flags_tc``,
``syn``, ``rst``; the other keys of Suricata's ``tcp`` object are skipped, not decoded).
Handlers of flow events and traffic learning
(:mod:`generator.learn_traffic`, which also reads ``flow.state``) read nothing else (tests
compare the findings with the reference path on real EVE: tests/test_consumer_workers.py;
learning: tests/test_generator_learn.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0, lt=1 << 53)]  # decode.MAX_COUNT
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
FlowId = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # decode.MAX_ID, exclusive


class FlowCounts(msgspec.Struct):
    """The ``flow`` object of a flow event, as far as handlers read it."""

    pkts_toserver: Count | None = None
    pkts_toclient: Count | None = None
    bytes_toserver: Count | None = None
    bytes_toclient: Count | None = None
    start: str | None = None
    end: str | None = None
    age: Count | None = None
    state: str | None = None  # new/established/closed (learn's session lengths, fw_blocked)
    reason: str | None = None
    alerted: bool | None = None


class TcpFlags(msgspec.Struct):
    """The ``tcp`` object of a flow event, as far as handlers and learning read it. Values
    keep their JSON type (``Any``): the readers check types, as they did on the dict."""

    tcp_flags_ts: Any = None  # client's flags, hex text ("02": SYN only)
    tcp_flags_tc: Any = None  # server's flags
    syn: Any = None
    rst: Any = None


class FlowRecord(msgspec.Struct):
    """A flow event's top level, as far as handlers read it."""

    timestamp: str
    event_type: Literal["flow"]
    src_ip: str
    dest_ip: str
    flow_id: FlowId = 0
    src_port: Port = 0
    dest_port: Port = 0
    proto: str = ""
    app_proto: str | None = None
    app_proto_orig: str | None = None
    app_proto_ts: str | None = None
    app_proto_tc: str | None = None
    flow: FlowCounts | None = None
    tcp: TcpFlags | None = None


_decode = msgspec.json.Decoder(FlowRecord).decode
_asdict = msgspec.structs.asdict
_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)  # deep nesting too


def decode_flow(line: bytes) -> tuple[FlowRecord, dict[str, Any]] | None:
    """(the struct, its record dict) of a valid flow line, or None (take the ordinary path)."""
    rec = flow_struct(line)
    return None if rec is None else (rec, flow_dict(rec))


def flow_struct(line: bytes) -> FlowRecord | None:
    """The struct of a valid flow line, or None (take the ordinary path)."""
    try:
        return _decode(line)
    except _ERRORS:
        return None


_COUNT_FIELDS = FlowCounts.__struct_fields__
_TCP_FIELDS = TcpFlags.__struct_fields__


def as_flow(data: Any) -> FlowRecord:
    """*data* as a :class:`FlowRecord`: itself when it is one, else a dict record (the
    ``orjson`` path, proxy logs, the reference path) copied field by field **without**
    validation — values keep whatever JSON type they had, so handlers keep their type checks;
    an absent key, or a ``flow`` or ``tcp`` that is not an object, reads as None, as
    ``dict.get`` did."""
    if type(data) is FlowRecord:
        return data
    get = data.get
    flow = get("flow")
    counts = FlowCounts(*[flow.get(k) for k in _COUNT_FIELDS]) if type(flow) is dict \
        else None
    tcp = get("tcp")
    flags = TcpFlags(*[tcp.get(k) for k in _TCP_FIELDS]) if type(tcp) is dict else None
    return FlowRecord(get("timestamp"), "flow", get("src_ip"), get("dest_ip"),
                      get("flow_id", 0), get("src_port", 0), get("dest_port", 0),
                      get("proto", ""), get("app_proto"), get("app_proto_orig"),
                      get("app_proto_ts"), get("app_proto_tc"), counts, flags)


def flow_dict(rec: FlowRecord) -> dict[str, Any]:
    """The record dict handlers read (``flow`` and ``tcp`` as dicts too)."""
    data = _asdict(rec)
    flow = rec.flow
    if flow is not None:
        data["flow"] = _asdict(flow)
    tcp = rec.tcp
    if tcp is not None:
        data["tcp"] = _asdict(tcp)
    return data


# --- dns (the consumer's compiled batch loop) ------------------------------------------------
# A DNS answer reaches the consumer only for Context.on_dns (the IP → name map of the
# whitelist). eve_consumer._fastfeed decodes it into these structs instead of orjson + a dict
# when the line is plain (ASCII, no number msgspec would read where orjson refuses one: an
# exponent, 309 digits or more): every value on_dns or Decoder._build judges is typed and
# range-checked here as there, so a line the struct takes is one the ordinary path accepts
# with the same fields; anything else (a type error, a value of another JSON type) is read
# by the ordinary path, which decides as always.

class DnsAnswer(msgspec.Struct):
    """One element of ``dns.answers`` (as far as ``Context.on_dns`` reads it)."""

    rrname: str | None = None
    rrtype: str | None = None
    rdata: str | None = None


class DnsData(msgspec.Struct):
    """The ``dns`` object of a dns event (v2 ``answers``, or v1: one answer per event)."""

    type: str | None = None
    rrname: str | None = None
    rrtype: str | None = None
    rdata: str | None = None
    answers: list[DnsAnswer] | None = None


Id = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # decode.MAX_ID, exclusive


class _FlowNums(msgspec.Struct):
    """decode._out_of_range's ``flow`` counters."""

    pkts_toserver: Count | None = None
    pkts_toclient: Count | None = None
    bytes_toserver: Count | None = None
    bytes_toclient: Count | None = None
    age: Count | None = None


class _HttpNums(msgspec.Struct):
    status: Id | None = None
    length: Id | None = None


class _AlertNums(msgspec.Struct):
    signature_id: Id | None = None
    gid: Id | None = None
    rev: Id | None = None
    severity: Id | None = None


class DnsRecord(msgspec.Struct):
    """A dns event's top level: what Decoder._build checks, and the ``dns`` object."""

    timestamp: str
    event_type: Literal["dns"]
    src_ip: str
    dest_ip: str
    dns: DnsData
    flow_id: FlowId = 0
    src_port: Port = 0
    dest_port: Port = 0
    proto: str = ""
    tx_id: Count | None = None
    flow: _FlowNums | None = None
    http: _HttpNums | None = None
    alert: _AlertNums | None = None


_decode_dns = msgspec.json.Decoder(DnsRecord).decode
DNS_ERRORS = _ERRORS


def dns_struct(line: bytes) -> DnsRecord | None:
    """The struct of a dns line, or None (the ordinary path decides). The caller checks
    first that the line is plain (see above): msgspec alone reads some numbers and bytes
    orjson refuses."""
    try:
        return _decode_dns(line)
    except DNS_ERRORS:
        return None
