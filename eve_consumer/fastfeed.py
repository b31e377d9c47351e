"""The consumer's batch loop: decode and route a whole batch of EVE lines in one function.

:meth:`eve_consumer.pipeline.Consumer.feed` runs every batch through :func:`feed_batch`
unless the reference loop is asked for (``Consumer.fast = False``: one
:meth:`~sakimori.eve.decode.Decoder.decode` and one
:meth:`~eve_consumer.dispatch.Dispatcher.dispatch` call per line). Both give the same events
in the same order, the same decode counts and the same file:line rejections
(tests/test_consumer_fastfeed.py compares the reports on real EVE and on broken lines).

What the loop saves is per-line Python work, not JSON parsing: the relevance prefilter's
verdicts are read as in :meth:`Decoder.decode`, but the lines it settles are counted in local
integers (added to :class:`~sakimori.eve.decode.DecodeStats` once per batch), the typed flow
decode, the timestamp's cached fast path and the routing of flow events (half of all lines)
are inline, and the hooks and handler tuples are looked up once per batch.

A ``consume --workers`` worker's share of a batch comes with a flag per line: a line it
shares with another worker that counts it (an event between hosts of two workers, a DNS
answer) is decoded and dispatched in its place with the decoder's scratch statistics, as
:meth:`~sakimori.eve.decode.Decoder.decode_sharded` does in the per-line loop — so the shared
lines keep their order among the others (beacon series and the flow_id joins need it) and
each line is counted by one worker.

Anything unusual — a line not starting with ``{"timestamp":`` or not ending with ``}``, too
long, without a readable ``event_type``, an event type :data:`sakimori.eve.decode._KINDS`
does not know — goes whole to :meth:`Decoder.decode`, and a line the bytes do not settle to
:meth:`Decoder.parse`: the per-line path's own code judges it.

The same loop compiled (Cython, ``eve_consumer/_fastfeed.pyx``, built by ``setup.py`` when
a C compiler is there) is used when it is built: :func:`batch_loop` picks it, or this module's
loop (the fallback, and the reference the tests compare it with on the same EVE). The
compiled loop reads a file input's :class:`~sakimori.eve.lines.Lines` in its chunk, making a
line's ``bytes`` only where Python code needs it; this loop iterates the lines (a ``Lines``
is then made into its list once, the values the compiled loop reads).

A ``flow`` line is decoded first (msgspec) and its ``src_ip``/``dest_ip`` stand for the text
:meth:`~eve_consumer.prefilter.Prefilter.flow` reads from the bytes: the same for every
Suricata layout (a line with a JSON escape asks the byte hook); they can differ only when the
first ``"src_ip":"`` text of a line is not its top-level value (a duplicated key, the key
nested in an earlier object, a top-level key spaced after the colon), see docs/consumer.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import cache
from itertools import count, repeat
from typing import TYPE_CHECKING

from eve_consumer.prefilter import Prefilter
from eve_consumer.shard import PRIMARY, SECONDARY
from sakimori.accel import compiled as compiled_module
from sakimori.eve.decode import _ET_FAST, _KINDS, _TS_KEY, _TS_START, SKIP, USED, Event
from sakimori.eve.evetime import _MINUTE_CACHE, parse_ts
from sakimori.eve.typed import _ERRORS, flow_dict
from sakimori.eve.typed import _decode as decode_struct

if TYPE_CHECKING:
    from eve_consumer.dispatch import Dispatcher
    from sakimori.eve.decode import Decoder

# Consumers made from now use the compiled loop when it is built (tests switch it off before
# consume --workers forks, so every worker runs the pure loop).
USE_COMPILED = True

_NULL = b":null"
_ESC = b"\\"
_END = ord("}")


def feed_batch(decoder: Decoder, dispatcher: Dispatcher, lines: Sequence[bytes], first: int,
               failed: Callable[[int, Exception], None],
               numbers: Sequence[int] | None = None, flags: bytes | None = None) -> None:
    """Decode and dispatch *lines* (line numbers from *first*, or *numbers* when they do not
    follow each other: a worker's share of a batch); a line whose handler raises is passed
    to *failed* (line number, exception) and the loop goes on with the next.

    *flags* (``consume --workers``): one byte per line, :data:`SECONDARY` for a line this
    worker shares but another counts. Such a line is decoded and dispatched in its place
    like any other, with the decoder's scratch statistics — nothing of it is counted — as
    :meth:`~sakimori.eve.decode.Decoder.decode_sharded` does in the per-line loop."""
    stats = decoder.stats
    scratch = decoder._scratch
    hooks = decoder._hooks
    wanted = decoder.wanted
    max_line = decoder.max_line
    decode, parse = decoder.decode, decoder.parse
    dispatch = dispatcher.dispatch
    ctx = dispatcher.ctx
    homes = ctx._home
    home = ctx.home
    flow_names = ctx.flow_names
    flow_internal, flow_outbound = dispatcher.flow_internal, dispatcher.flow_outbound
    flow_any = dispatcher.flow_any
    typed_data = decoder.typed_data  # the struct itself as the event's data
    flow_hook = hooks.get("flow")
    owner = getattr(flow_hook, "__self__", None)
    by_struct = isinstance(owner, Prefilter) and flow_hook == owner.flow
    internal_non_tcp = by_struct and owner.internal_non_tcp
    flow_wanted = "flow" in wanted
    minutes = _MINUTE_CACHE
    used: list[str] = []  # kinds of the lines the bytes settled: used (stats.fast) ...
    skipped: list[str] = []  # ... or of no use (ignored "<kind> (prefiltered)")
    used_add, skipped_add = used.append, skipped.append
    dropped: list[str] = []  # ... both of a SECONDARY line
    cur = stats  # decoder.stats: the scratch on a SECONDARY line
    kept = 0, 0
    n_typed = 0  # flow lines decoded here (typed path)
    n_mine = 0  # lines counted here rather than by decoder.decode
    if numbers is not None and type(numbers) is not list:
        numbers = list(numbers)  # sized: the flags below are as many
    if flags is None:
        flags = repeat(PRIMARY, len(numbers)) if numbers is not None else repeat(PRIMARY)
    elif numbers is None:  # strict: a flag for each line
        numbers = list(range(first, first + len(lines)))
    it = zip(count(first), lines, flags) if numbers is None \
        else zip(numbers, lines, flags, strict=True)
    lineno = first
    in_shared = False  # the current line is a SECONDARY one: decoder.stats is the scratch
    try:
        while True:
            try:  # outside the loop: free while nothing raises
                for lineno, line, flag in it:
                    if (flag == SECONDARY) is not in_shared:  # into or out of shared lines
                        in_shared = not in_shared
                        if in_shared:  # counts of shared lines: the scratch's, or dropped
                            decoder.stats = cur = scratch
                            kept = n_mine, n_typed
                            used_add = skipped_add = dropped.append
                        else:
                            decoder.stats = cur = stats
                            n_mine, n_typed = kept
                            used_add, skipped_add = used.append, skipped.append
                    if len(line) > max_line or not line.startswith(_TS_START) \
                            or line[-1] != _END:  # line[-1]: not empty (starts "{...")
                        ev = decode(line, lineno)  # the per-line path judges odd lines
                        if ev is not None:
                            dispatch(ev)
                        continue
                    i = line.find(_ET_FAST)
                    j = line.find(b'"', i + 14) if i >= 0 else -1
                    kind = _KINDS.get(line[i + 14:j]) if j >= 0 else None
                    if kind is None:
                        ev = decode(line, lineno)
                        if ev is not None:
                            dispatch(ev)
                        continue
                    n_mine += 1
                    if kind == "flow" and flow_wanted:
                        # The typed decode first: its src/dest give the prefilter's verdict
                        # and the routing (one home lookup each). A line with a JSON escape
                        # takes the per-line order (the verdict from the raw bytes first).
                        if _ESC in line:
                            rec = None
                        else:
                            try:
                                rec = decode_struct(line)
                            except _ERRORS:
                                rec = None
                        if rec is None:
                            if flow_hook is not None:
                                verdict = flow_hook(line)
                                if verdict is not None and line.find(_TS_KEY, 13) < 0 \
                                        and _NULL not in line:
                                    (used_add if verdict is USED else skipped_add)(kind)
                                    continue
                            ev = parse(line, lineno, kind)
                            if ev is not None:
                                dispatch(ev)
                            continue
                        src = rec.src_ip
                        src_home = homes.get(src)
                        if src_home is None:
                            src_home = home(src)
                        dst_home = None
                        if flow_hook is not None:
                            if not by_struct:
                                verdict = flow_hook(line)
                            elif src_home and not internal_non_tcp:
                                verdict = None  # Prefilter.flow: an internal source is kept
                            else:
                                dst = rec.dest_ip
                                dst_home = homes.get(dst)
                                if dst_home is None:
                                    dst_home = home(dst)
                                if not dst_home:
                                    verdict = None if src_home else SKIP
                                else:  # proto and age decide: read from the bytes
                                    verdict = flow_hook(line)
                            if verdict is not None and line.find(_TS_KEY, 13) < 0 \
                                    and _NULL not in line:
                                (used_add if verdict is USED else skipped_add)(kind)
                                continue
                        text = rec.timestamp
                        ts = None
                        if len(text) == 31 and text[19] == "." and text[26] in "+-" \
                                and text[16] == ":":  # evetime.parse_ts's cached fast path
                            base = minutes.get(text[:16] + text[26:])
                            if base is not None:
                                try:
                                    sec = float(text[17:26])
                                except ValueError:
                                    sec = -1.0
                                if 0.0 <= sec < 61.0:
                                    ts = base + sec
                        if ts is None:
                            with suppress(ValueError):
                                ts = parse_ts(text)
                            if ts is None:  # the ordinary path rejects it, with reason
                                ev = parse(line, lineno, kind)
                                if ev is not None:
                                    dispatch(ev)
                                continue
                        n_typed += 1
                        obj = rec if typed_data else flow_dict(rec)
                        flow_id = rec.flow_id
                        ev = Event("flow", ts, flow_id, src, rec.src_port, rec.dest_ip,
                                   rec.dest_port, rec.proto, obj, b"", lineno, obj)
                        # Dispatcher.dispatch's flow branch, inline
                        if ts > ctx.latest_ts:
                            ctx.latest_ts = ts
                        if src_home:
                            for handle in flow_internal:
                                handle(ev)
                            if dst_home is None:
                                dst = rec.dest_ip
                                dst_home = homes.get(dst)
                                if dst_home is None:
                                    dst_home = home(dst)
                            if not dst_home:
                                for handle in flow_outbound:
                                    handle(ev)
                        for handle in flow_any:
                            handle(ev)
                        if flow_names:
                            flow_names.pop(flow_id, None)
                        continue
                    if kind in wanted:
                        hook = hooks.get(kind)
                        if hook is not None:
                            verdict = hook(line)
                            if verdict is not None and line.find(_TS_KEY, 13) < 0 \
                                    and _NULL not in line:
                                (used_add if verdict is USED else skipped_add)(kind)
                                continue
                    elif line.find(_TS_KEY, 13) < 0 and _NULL not in line:
                        cur.ignore(kind)
                        continue
                    ev = parse(line, lineno, kind)
                    if ev is not None:
                        dispatch(ev)
                break
            except Exception as exc:
                failed(lineno, exc)
    finally:
        if in_shared:
            decoder.stats = stats
            n_mine, n_typed = kept
        stats.lines += n_mine
        if n_typed:
            stats.decoded["flow"] += n_typed
        if used:
            stats.fast.update(used)
        for kind, n in Counter(skipped).items():
            stats.ignored[kind + " (prefiltered)"] += n


FeedBatch = Callable[["Decoder", "Dispatcher", Sequence[bytes], int,
                      Callable[[int, Exception], None], "list[int] | None", "bytes | None"],
                     None]


@cache
def compiled_loop() -> FeedBatch | None:
    """The compiled :func:`feed_batch` (``eve_consumer._fastfeed``), or None when it is not
    built (no C compiler when the package was installed). Looked up once."""
    module = compiled_module("eve_consumer._fastfeed")
    return None if module is None else module.feed_batch  # type: ignore[no-any-return]


def batch_loop(compiled: bool = True) -> tuple[FeedBatch, str]:
    """(the batch loop, its name for the logs and stats.json): the compiled one when
    *compiled* and it is built, else this module's (``"python"``)."""
    if compiled:
        loop = compiled_loop()
        if loop is not None:
            return loop, "compiled"
    return feed_batch, "python"
