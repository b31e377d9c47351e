"""Decode stage: one EVE JSON line → one typed record (or a counted, explained rejection).

Shared by the consumer and by ``sakimori learn`` so both read EVE the same way. Only the event
types sakimori uses are decoded (flow, http, tls, dns, alert, drop, smtp); others are counted
as ``ignored`` without a full JSON parse. A bad line never raises: :meth:`Decoder.decode`
returns None and records the reason with the file and line in :class:`DecodeStats`.
Values are range-checked here (times by :mod:`sakimori.eve.evetime`), so no later stage is
handed a value it cannot hold; counter keys are fixed texts (see docs/consumer.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
import orjson

from sakimori.eve.evetime import _MINUTE_CACHE, parse_ts  # parse_ts: used by handlers too
from sakimori.eve.typed import FlowRecord, flow_dict, flow_struct

WANTED = frozenset({"flow", "http", "tls", "dns", "alert", "drop", "smtp"})
_ET_KEY = b'"event_type":'
_ET_FAST = b'"event_type":"'
_KINDS = {k.encode(): k for k in ("flow", "http", "tls", "dns", "alert", "drop", "smtp",
                                   "fileinfo", "anomaly", "stats", "netflow", "ssh")}
_ENDS = (b"}", b"}\n", b"}\r\n")
_TS_START = b'{"timestamp":'
_TS_KEY = b'"timestamp":'
PARSE: str | None = None  # prefilter verdicts
SKIP = "skip"
USED = "used"
MAX_EXAMPLES = 5
MAX_LINE_BYTES = 1 << 20  # consumer.max_line_bytes
MAX_KINDS = 32  # distinct ignored event types kept as keys; later ones count as "other"
OTHER_KIND = "other"
# Range checks at decode (no handler, store or report ever sees a value it cannot hold).
MAX_COUNT = 1 << 53  # counters (bytes, packets, age, tx_id): exact as a float, fits int64
MAX_ID = 1 << 63  # flow_id, signature ids: SQLite's and numpy's int64
_FLOW_NUMS = ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "age")
_APP_NUMS = (("http", ("status", "length")), ("alert", ("signature_id", "gid", "rev",
                                                        "severity")))


class Event(msgspec.Struct, weakref=False):
    """Fields common to every decoded event; ``raw`` keeps the original line.

    ``data`` is the event type's own object (the whole record for ``flow``/``drop``: a dict,
    or — from the consumer's batch loop, for handlers with ``typed_flows`` — the typed
    :class:`~sakimori.eve.typed.FlowRecord`, read through :func:`~sakimori.eve.typed.as_flow`);
    ``record`` is always the whole decoded record, for top-level fields such as ``tx_id``,
    ``app_proto`` or the ``http``/``tls``/``flow`` objects an ``alert`` carries.
    (A msgspec struct rather than a dataclass: made in C, ≈ 0.1 µs less per event.)
    """

    kind: str
    ts: float
    flow_id: int
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int
    proto: str
    data: Any  # dict[str, Any], or a FlowRecord (see above)
    raw: bytes = b""
    lineno: int = 0
    record: Any = None  # the whole decoded object (tx_id, app-layer, flow): as data for flows


@dataclass
class DecodeStats:
    """Counts of what was read; bad lines are explained with file:line examples."""

    lines: int = 0
    decoded: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    fast: Counter[str] = field(default_factory=Counter)  # used straight from the bytes

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def reject(self, where: str, reason: str, detail: str = "") -> None:
        """Count *reason* (a fixed text: counter keys stay few); *detail* (the offending
        value) goes only into the first few examples."""
        self.bad[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}{': ' + detail if detail else ''}")

    def ignore(self, kind: str) -> None:
        """Count an unwanted event type; keys stay few (EVE text is not a counter key)."""
        ignored = self.ignored
        if kind in ignored:
            ignored[kind] += 1
        elif len(ignored) < MAX_KINDS and len(kind) <= 32 and kind.isprintable():
            ignored[kind] = 1
        else:
            ignored[OTHER_KIND] += 1

    def restore(self, saved: dict[str, Any]) -> None:
        """Add counts saved by :meth:`as_dict` (a follow-mode restart). Keys stay bounded even
        from a state written before they were: past :data:`MAX_KINDS` keys per table, the
        rest is counted under ``other``."""
        self.lines += int(saved.get("lines", 0))
        for name in ("decoded", "fast", "ignored", "bad"):
            table: Counter[str] = getattr(self, name)
            for key, n in (saved.get(name) or {}).items():
                if key in table or len(table) < MAX_KINDS:
                    table[key] += int(n)
                else:
                    table[OTHER_KIND] += int(n)
        room = MAX_EXAMPLES - len(self.examples)
        self.examples.extend(str(e)[:300] for e in (saved.get("examples") or [])[:room])

    def summary(self) -> str:
        good = sum(self.decoded.values()) + sum(self.fast.values())
        text = (f"{self.lines} lines: {good} events used, {sum(self.ignored.values())} "
                f"ignored, {self.bad_total} bad")
        if self.examples:
            text += f" (first: {self.examples[0]})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "decoded": dict(self.decoded),
                "ignored": dict(self.ignored), "bad": dict(self.bad),
                "examples": list(self.examples), "fast": dict(self.fast)}


class Decoder:
    """Turns raw EVE lines into :class:`Event` records, counting everything."""

    def __init__(self, wanted: frozenset[str] = WANTED, keep_raw: bool = False,
                 source: str = "<eve>", max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.wanted = wanted
        self.max_line = max_line_bytes
        self.source = source
        self.keep_raw = keep_raw
        self.stats = DecodeStats()
        # Optional hook on the raw bytes of a complete-looking line (starts with "{", ends
        # with "}", no null value) of a kind in prefilter_kinds, called before the JSON parse.
        # It returns PARSE (None: decode normally), SKIP (no use: counted as ignored
        # "<kind> (prefiltered)") or USED (the hook used the fields it needed straight from
        # the bytes: counted in stats.fast). The consumer uses it to save the parse.
        # A hook may offer ``by_kind()``: {kind: callable(line) -> verdict}, saving a call.
        self._prefilter: Callable[[bytes, str], str | None] | None = None
        self._prefilter_kinds: frozenset[str] = frozenset({"flow", "dns", "alert"})
        self._hooks: dict[str, Callable[[bytes], str | None]] = {}
        # consume --workers: this worker's ShardFilter (eve_consumer.shard); decode_sharded
        # drops other workers' lines and decodes lines it shares without counting them.
        self.shard: Any = None
        self._scratch = DecodeStats()
        # True: the reference path (tests): every wanted line through orjson and _build.
        self.reference = False
        # True: a typed flow's data/record is the FlowRecord itself, not a dict (the consumer,
        # when every flow handler reads one: Handler.typed_flows); learning keeps dicts.
        self.typed_data = False

    @property
    def prefilter(self) -> Callable[[bytes, str], str | None] | None:
        return self._prefilter

    @prefilter.setter
    def prefilter(self, hook: Callable[[bytes, str], str | None] | None) -> None:
        self._prefilter = hook
        self._rehook()

    @property
    def prefilter_kinds(self) -> frozenset[str]:
        return self._prefilter_kinds

    @prefilter_kinds.setter
    def prefilter_kinds(self, kinds: frozenset[str]) -> None:
        self._prefilter_kinds = frozenset(kinds)
        self._rehook()

    def _rehook(self) -> None:
        hook = self._prefilter
        hooks: dict[str, Callable[[bytes], str | None]] = {}
        if hook is not None:
            by_kind = getattr(hook, "by_kind", None)
            table = by_kind() if by_kind is not None else {}
            for kind in self._prefilter_kinds:
                fn = table.get(kind)
                hooks[kind] = fn if fn is not None else partial(_call_hook, hook, kind)
        self._hooks = hooks

    def decode(self, line: bytes, lineno: int = 0) -> Event | None:
        """Decode one line; *lineno* (with ``self.source``) names it in rejections."""
        stats = self.stats
        stats.lines += 1
        if len(line) > self.max_line:
            self._reject(lineno, "line longer than consumer.max_line_bytes",
                         f"over {self.max_line} bytes")
            return None
        if line[:1] != b"{":
            line = line.strip()
            if not line:
                self._reject(lineno, "empty line")
                return None
        # The event type, read from the bytes (Suricata's compact layout; see _peek).
        i = line.find(_ET_FAST)
        if i >= 0:
            i += 14
            j = line.find(b'"', i)
            peek = _KINDS.get(line[i:j]) if j >= 0 else None
            if peek is None and j >= 0:
                peek = line[i:j].decode("ascii", "replace")
        else:
            peek = self._peek(line)
        if peek is not None:  # unwanted events are counted without a full parse
            if peek not in self.wanted:
                if _well_formed(line):
                    stats.ignore(peek)
                    return None
                hook = None  # parsed below: ignored if valid, else bad
            else:
                hook = self._hooks.get(peek)
            if hook is not None:
                verdict = hook(line)
                # Only lines that look complete and well-formed may bypass the parse:
                # anything odd is parsed, so bad lines are still counted as bad
                # (_well_formed, inline).
                if verdict is not None and line.startswith(_TS_START) \
                        and line.endswith(_ENDS) and line.find(_TS_KEY, 13) < 0 \
                        and b":null" not in line:
                    if verdict is USED:
                        stats.fast[peek] += 1
                    else:
                        stats.ignored[peek + " (prefiltered)"] += 1
                    return None
        return self.parse(line, lineno, peek)

    def parse(self, line: bytes, lineno: int, peek: str | None) -> Event | None:
        """The parse that follows the byte checks of :meth:`decode` (*peek*: the event type
        read from the bytes, or None): the typed decode of a flow line, else ``orjson`` and
        :meth:`_build`. Counts what it decodes or rejects, not the line itself (the caller
        did). The consumer's batch loop (:mod:`eve_consumer.fastfeed`) calls it for every
        line it does not settle from the bytes, so both paths parse the same way."""
        stats = self.stats
        if peek == "flow" and not self.reference:  # typed decode (sakimori.eve.typed)
            rec = flow_struct(line)
            if rec is not None:
                obj = rec if self.typed_data else flow_dict(rec)
                ts = _fast_ts(rec.timestamp)
                if ts is None:  # an error: the ordinary path below rejects it, with reason
                    with suppress(ValueError):
                        ts = parse_ts(rec.timestamp)
                if ts is not None:
                    stats.decoded["flow"] += 1
                    return Event("flow", ts, rec.flow_id, rec.src_ip, rec.src_port,
                                 rec.dest_ip, rec.dest_port, rec.proto, obj,
                                 line.rstrip() if self.keep_raw else b"", lineno, obj)
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._reject(lineno, "not valid JSON (truncated or garbage line)")
            return None
        if type(obj) is not dict:
            self._reject(lineno, "not a JSON object")
            return None
        et = obj.get("event_type")
        if type(et) is not str:
            self._reject(lineno, "field 'event_type' missing or not a string")
            return None
        if et not in self.wanted:
            stats.ignore(et)
            return None
        return self._build(obj, et, line, lineno)

    def decode_sharded(self, line: bytes, lineno: int = 0) -> Event | None:
        """:meth:`decode` for this worker's shard (``self.shard``): a line of another worker
        is passed over; a line this worker shares but another counts (an event between
        internal hosts of two shards, DNS) is decoded with scratch statistics."""
        owner = self.shard.owner(line)
        if owner == 1:  # shard.PRIMARY
            return self.decode(line, lineno)
        if owner == 0:  # shard.NOT_MINE
            return None
        stats, self.stats = self.stats, self._scratch
        try:
            return self.decode(line, lineno)
        finally:
            self.stats = stats

    def _build(self, obj: dict[str, Any], et: str, line: bytes, lineno: int) -> Event | None:
        """Validate the common fields of a wanted event and make its :class:`Event`."""
        get = obj.get
        ts_text = get("timestamp")
        if type(ts_text) is not str:
            self._reject(lineno, "field 'timestamp' missing or not a string")
            return None
        ts = _fast_ts(ts_text)
        if ts is None:
            try:
                ts = parse_ts(ts_text)
            except ValueError:
                self._reject(lineno, "field 'timestamp' not ISO 8601 or not in 1970-2199",
                             repr(ts_text[:40]))
                return None
        src, dst = get("src_ip"), get("dest_ip")
        if type(src) is not str or type(dst) is not str:
            self._reject(lineno, "field 'src_ip'/'dest_ip' missing or not a string")
            return None
        if et == "flow" or et == "drop":
            data = obj  # flow/drop details are spread over several top-level objects
        else:
            data = get(et)
            if type(data) is not dict:
                self._reject(lineno, f"field '{et}' missing or not an object")
                return None
        flow_id, sport, dport = get("flow_id", 0), get("src_port", 0), get("dest_port", 0)
        if type(flow_id) is not int or type(sport) is not int or type(dport) is not int:
            self._reject(lineno, "field 'flow_id'/'src_port'/'dest_port' not an integer")
            return None
        # Range checks, the common case in a few operations: a negative or too large int has
        # bits at or above the limit (x >> n is -1 for a negative x).
        if (sport | dport) >> 16 or flow_id >> 63:
            self._reject(lineno, "field 'flow_id'/'src_port'/'dest_port' out of range")
            return None
        # Every counter of every event (a valid flow line mostly comes by the typed path of
        # sakimori.eve.typed, whose struct checks the same ranges).
        problem = _out_of_range(obj, et)
        if problem is not None:
            self._reject(lineno, problem)
            return None
        proto = get("proto")
        self.stats.decoded[et] += 1
        return Event(et, ts, flow_id, src, sport, dst, dport,
                     proto if type(proto) is str else "", data,
                     line.rstrip() if self.keep_raw else b"", lineno, obj)

    @staticmethod
    def _peek(line: bytes) -> str | None:
        """The event type read from the bytes (Suricata's compact layout), or None."""
        i = line.find(_ET_FAST)
        if i < 0:
            i = line.find(_ET_KEY)  # tolerate '"event_type": "x"'
            if i < 0:
                return None
            i = line.find(b'"', i + 13) + 1
            if i <= 0:
                return None
        else:
            i += 14
        j = line.find(b'"', i)
        if j < 0:
            return None
        kind = line[i:j]
        known = _KINDS.get(kind)
        return known if known is not None else kind.decode("ascii", "replace")

    def _reject(self, lineno: int, reason: str, detail: str = "") -> None:
        self.stats.reject(f"{self.source}:{lineno}", reason, detail)


def _fast_ts(text: str) -> float | None:
    """:func:`parse_ts`'s fast path (Suricata's layout, a minute already seen), or None."""
    if len(text) == 31 and text[19] == "." and text[26] in "+-" and text[16] == ":":
        base = _MINUTE_CACHE.get(text[:16] + text[26:])
        if base is not None:
            try:
                sec = float(text[17:26])
            except ValueError:
                return None
            if 0.0 <= sec < 61.0:
                return base + sec
    return None


def _well_formed(line: bytes) -> bool:
    """Cheap check before a line is used or ignored from its bytes, without a parse: one
    Suricata record (starts ``{"timestamp":``, ends ``}``), no second record start in it, no
    ``null`` value. A line cut short and continued by the next record (a writer
    killed mid-line, or a block of NULs left by a crash before the next record) and a stump
    cut anywhere but after a ``}`` fail it and go to the full parse, which counts them as
    bad. (A line damaged inside without being cut, e.g. one flipped byte, can still pass.)"""
    return (line.startswith(_TS_START) and line.endswith(_ENDS)
            and line.find(_TS_KEY, 13) < 0 and b":null" not in line)


def _bad_number(value: Any, limit: int) -> bool:
    """True for a number outside [0, limit) (other types are the handlers' to judge)."""
    t = type(value)
    return (t is int or t is float) and not 0 <= value < limit


def _out_of_range(obj: dict[str, Any], et: str) -> str | None:
    """The numeric field of *obj* holding a value no handler may see (out of range), or None.
    (Times are range-checked where they are parsed: :func:`parse_ts` refuses any outside
    1970-2199, so ``flow.start``/``end`` out of range read as malformed to every handler.)"""
    flow = obj.get("flow")
    if type(flow) is dict:
        for key in _FLOW_NUMS:
            if _bad_number(flow.get(key), MAX_COUNT):
                return f"field 'flow.{key}' out of range"
    if et == "flow":
        return None
    if _bad_number(obj.get("tx_id"), MAX_COUNT):
        return "field 'tx_id' out of range"
    for name, keys in _APP_NUMS:
        app = obj.get(name)
        if type(app) is dict:
            for key in keys:
                if _bad_number(app.get(key), MAX_ID):
                    return f"field '{name}.{key}' out of range"
    return None


def _call_hook(hook: Callable[[bytes, str], str | None], kind: str, line: bytes
               ) -> str | None:
    return hook(line, kind)


def flow_times(ev: Event) -> tuple[float, float] | None:
    """(start, end) epoch seconds of a flow event, from ``flow.start``/``flow.end``.

    The top-level timestamp of a flow event is when it was logged, not the flow's time.
    Returns None when the fields are missing or malformed.
    """
    data = ev.data
    if type(data) is FlowRecord:  # the consumer's batch loop (eve_consumer.fastfeed)
        counts = data.flow
        if counts is None:
            return None
        start, end = counts.start, counts.end
    else:
        flow = data.get("flow")
        if not isinstance(flow, dict):
            return None
        start, end = flow.get("start"), flow.get("end")
    try:
        s = parse_ts(start) if isinstance(start, str) else None
        e = parse_ts(end) if isinstance(end, str) else None
    except ValueError:
        return None
    if s is None:
        return None
    return s, (e if e is not None else s)


def flow_start(ev: Event) -> float:
    """``flow.start`` of the event's record (flow, alert, drop) in epoch seconds; the event's
    own timestamp when it is missing or malformed."""
    rec = ev.record if ev.record is not None else ev.data
    if type(rec) is FlowRecord:  # the consumer's batch loop (eve_consumer.fastfeed)
        start = rec.flow.start if rec.flow is not None else None
    else:
        flow = rec.get("flow")
        start = flow.get("start") if type(flow) is dict else None
    if type(start) is str:
        try:
            return parse_ts(start)
        except ValueError:
            pass
    return ev.ts
