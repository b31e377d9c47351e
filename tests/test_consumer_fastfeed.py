"""The consumer's batch loop (eve_consumer.fastfeed) against its per-line reference loop.

``Consumer.fast = False`` feeds every line through ``Decoder.decode`` and
``Dispatcher.dispatch``, one call each — the reference. The batch loop must give the same
report byte for byte: hosts.csv, findings.jsonl, and stats.json (every decode count, every
bad-line example with its file:line, every counter; only the timing differs) on

- real Suricata EVE: the public slips capture's EVE and the EVE real Suricata 7 writes for
  each capture of ``shared/data/real`` (with each capture's home network);
- that real EVE with broken lines spliced in: bad JSON, cut lines, wrong types, values out of
  range, lines over ``consumer.max_line_bytes``, blank and CRLF lines, JSON escapes, ``null``
  values, two records on a line, unknown and unwanted event types;
- a handler that raises on some lines (skipped, counted and logged alike);
- the decoder hooks the loop cannot read from a struct (a plain function, none at all).

Every comparison runs for both batch loops: the compiled one (``eve_consumer._fastfeed``,
skipped with the reason when it is not built) and the pure-Python one
(``Consumer.compiled = False``). :func:`test_compiled_matches_pure_on_damaged_lines` compares
the two batch loops directly on real lines damaged at random (seeded);
:func:`test_shared_lines_same_on_every_loop` compares both with the per-line loop on a
``consume --workers`` worker's share (lines flagged SECONDARY: decoded, not counted).
"""

from __future__ import annotations

import json
import pickle
import random
import re
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from consumerfixtures import SLIPS_HOME
from consumerfixtures import broken as _broken
from consumerfixtures import config as _config
from consumerfixtures import report as _report
from engines import missing

from eve_consumer.fastfeed import compiled_loop
from eve_consumer.pipeline import Consumer
from eve_consumer.shard import PRIMARY, SECONDARY, WorkerShard
from eve_consumer.workers import feed_part
from sakimori.config import load_config
from sakimori.eve.decode import PARSE, SKIP
from sakimori.eve.lines import Batch, LineBuffer, Lines, line_ends
from sakimori.eve.typed import DnsRecord, FlowRecord, TcpFlags, _decode, _decode_dns


@pytest.fixture(params=["compiled", "python"])
def compiled(request: pytest.FixtureRequest) -> bool:
    """Which batch loop a test compares with the reference: True for the compiled one."""
    if request.param == "compiled" and compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install; "
                    "make setup builds it)")
    return bool(request.param == "compiled")


def _run(cfg: Any, eve: Path, out: Path, *, fast: bool, setup: Any = None,
         compiled: bool = True) -> dict[str, Any]:
    with Consumer(cfg, None, out, out.with_name(out.name + "-state"), mail=False) as c:
        c.fast = fast
        c.compiled = compiled
        if setup is not None:
            setup(c)
        c.run_once(eve)
        loop = c.feed_loop
    report = _report(out)
    assert report["loop"] == loop == (("compiled" if compiled else "python") if fast
                                      else "per-line")
    return report


def _both(cfg: Any, eve: Path, tmp: Path, setup: Any = None, *, compiled: bool
          ) -> dict[str, Any]:
    """The report of the reference loop and of the batch loop (compiled or not); asserts
    they are identical and returns it."""
    ref = _run(cfg, eve, tmp / "ref", fast=False, setup=setup)
    got = _run(cfg, eve, tmp / "fast", fast=True, setup=setup, compiled=compiled)
    assert got["csv"] == ref["csv"]
    assert got["findings"] == ref["findings"]
    assert got["stats"] == ref["stats"]
    assert json.dumps(got["stats"]) == json.dumps(ref["stats"])  # keys in the same order
    return got


def test_slips_eve_same_report(slips_eve: Path, tmp_path: Path, compiled: bool) -> None:
    cfg = _config(tmp_path, SLIPS_HOME)
    got = _both(cfg, slips_eve, tmp_path, compiled=compiled)
    decode = got["stats"]["decode"]
    # the comparison is not vacuous: findings, lines settled from the bytes, typed flows
    assert got["findings"].count("\n") >= 2
    assert sum(decode["fast"].values()) > 0 or any("prefiltered" in k
                                                   for k in decode["ignored"])
    assert decode["decoded"].get("flow", 0) > 100


def test_real_captures_same_report(real_eves: list[tuple[str, list[str], Path]],
                                   tmp_path: Path, compiled: bool) -> None:
    found = 0
    for name, home, eve in real_eves:
        cfg = _config(tmp_path / name, home)
        got = _both(cfg, eve, tmp_path / name, compiled=compiled)
        found += got["findings"].count("\n")
    assert found > 0  # the captures hold backdoors: some finding to compare


@pytest.mark.parametrize("queue_size", [10_000, 7])
def test_broken_lines_same_counts_and_messages(slips_eve: Path, tmp_path: Path,
                                               queue_size: int, compiled: bool) -> None:
    lines = slips_eve.read_bytes().rstrip(b"\n").split(b"\n")
    broken = _broken([x for x in lines if x])
    mixed: list[bytes] = []
    step = max(1, len(lines) // (len(broken) + 1))
    for i, bad in enumerate(broken):
        mixed += lines[i * step:(i + 1) * step]
        mixed.append(bad)
    mixed += lines[len(broken) * step:]
    eve = tmp_path / "broken.json"
    eve.write_bytes(b"\n".join(mixed) + b"\n")
    cfg = _config(tmp_path, SLIPS_HOME, queue_size=queue_size, max_line_bytes=4096)
    got = _both(cfg, eve, tmp_path, compiled=compiled)
    decode = got["stats"]["decode"]
    assert decode["lines"] == len(mixed)
    assert sum(decode["bad"].values()) >= 25, decode["bad"]
    assert "line longer than consumer.max_line_bytes" in decode["bad"]
    assert all(re.match(rf"{re.escape(str(eve))}:\d+: ", e) for e in decode["examples"])


def test_handler_failures_same_counts(slips_eve: Path, tmp_path: Path, compiled: bool) -> None:
    cfg = _config(tmp_path, SLIPS_HOME, queue_size=500)

    def setup(c: Consumer) -> None:
        beacon = next(h for h in c.handlers if h.name == "beacon")
        handle = beacon.handle
        seen = [0]

        def flaky(ev: Any) -> None:
            seen[0] += 1
            if seen[0] % 97 == 0:
                raise RuntimeError("boom")
            handle(ev)

        beacon.handle = flaky  # type: ignore[method-assign]
        c.dispatcher = type(c.dispatcher)(c.ctx, c.handlers)

    got = _both(cfg, slips_eve, tmp_path, setup, compiled=compiled)
    assert got["stats"]["counters"]["lines_failed_in_handler"] > 3


@pytest.mark.parametrize("hook", ["function", "none", "skip_all_flows"])
def test_other_hooks_same_report(slips_eve: Path, tmp_path: Path, hook: str,
                                 compiled: bool) -> None:
    """Hooks the batch loop cannot judge from the decoded struct: called as they are."""
    cfg = _config(tmp_path, SLIPS_HOME)

    def setup(c: Consumer) -> None:
        if hook == "none":
            c.decoder.prefilter = None
            return
        pre = c.decoder.prefilter
        assert pre is not None

        def plain(line: bytes, kind: str) -> str | None:
            if hook == "skip_all_flows" and kind == "flow":
                return SKIP
            return pre(line, kind) if kind != "dns" else PARSE

        c.decoder.prefilter = plain

    got = _both(cfg, slips_eve, tmp_path, setup, compiled=compiled)
    ignored = got["stats"]["decode"]["ignored"]
    assert ("flow (prefiltered)" in ignored) == (hook != "none")


def test_flow_data_typed_only_for_handlers_that_read_it(slips_eve: Path, tmp_path: Path,
                                                        compiled: bool) -> None:
    """The flow handlers get the FlowRecord itself; a handler without ``typed_flows`` makes
    every flow handler get the dict again (on both loops), with the same report."""
    from eve_consumer.handlers import Handler
    from sakimori.eve.typed import FlowRecord

    seen: dict[str, set[type]] = {}

    class Plain(Handler):
        name = "plain_probe"
        kinds = ("flow",)

    def probe(extra: bool) -> Any:
        def setup(c: Consumer) -> None:
            beacon = next(h for h in c.handlers if h.name == "beacon")
            handle = beacon.handle

            def spy(ev: Any) -> None:
                if ev.kind == "flow":
                    seen.setdefault(f"{extra}", set()).add(type(ev.data))
                handle(ev)

            beacon.handle = spy  # type: ignore[method-assign]
            if extra:
                c.handlers.append(Plain(c.ctx))
            c.dispatcher = type(c.dispatcher)(c.ctx, c.handlers)
        return setup

    cfg = _config(tmp_path, SLIPS_HOME)
    typed = _both(cfg, slips_eve, tmp_path / "typed", probe(False), compiled=compiled)
    plain = _both(cfg, slips_eve, tmp_path / "plain", probe(True), compiled=compiled)
    assert seen["False"] == {FlowRecord} and seen["True"] == {dict}
    assert typed["findings"] == plain["findings"] and typed["csv"] == plain["csv"]


def test_as_flow_keeps_json_types() -> None:
    from sakimori.eve.typed import as_flow

    rec = as_flow({"app_proto": 5, "tcp": {"rst": "x", "syn": [1]}, "flow": {"start": 3,
                                                                           "age": "x"},
                   "src_ip": "10.0.0.1"})
    assert (rec.app_proto, rec.src_ip, rec.app_proto_tc) == (5, "10.0.0.1", None)
    assert rec.tcp is not None and (rec.tcp.rst, rec.tcp.syn, rec.tcp.tcp_flags_ts) == \
        ("x", [1], None)
    assert rec.flow is not None and (rec.flow.start, rec.flow.age, rec.flow.end) == (3, "x", None)
    assert as_flow({"flow": [1, 2]}).flow is None
    assert as_flow({"tcp": [1]}).tcp is None and as_flow({"tcp": "x"}).tcp is None
    assert as_flow(rec) is rec


# --- compiled loop against the pure batch loop on damaged lines -------------------------------

_IPS = (b"192.168.1.129", b"192.168.1.7", b"10.0.0.1", b"203.0.113.9", b"8.8.8.8", b"",
        b"192.168.1.12\\u0039", b"fe80::1", b"192.168.\xff.1", b"x")
_NUMBERS = (b"9" * 30, b"1e400", b"-1", b"+1", b" 1", b"1_0", b"0x10", b"18446744073709551616",
            b"9223372036854775807", b"9223372036854775808", b"007", b"1.0", b"", b"0",
            b"9007199254740993", b"-0", b"1 ", b'"5"', b"null", b"4" * 5000)
_KEYS = (b"src_ip", b"dest_ip", b"flow_id", b"event_type", b"timestamp", b"sni", b"hostname",
         b"url", b"tx_id", b"rrname", b"age", b"proto", b"type", b"signature_id", b"src_port")
_VALUES = _NUMBERS[:8] + tuple(b'"' + x + b'"' for x in _IPS) + (
    b'"flow"', b'"tls"', b'"query"', b'"TCP"', b'"UDP"', b"{}", b"[]", b'{"src_ip":"10.0.0.1"}',
    b'"www.google.com"', b'"2020-01-01T00:00:00.000000+0000"', b"true", b"null")


def _sub(pattern: bytes, new: bytes, line: bytes) -> bytes:
    """The first match of *pattern* replaced by the literal bytes *new*."""
    return re.sub(pattern, lambda _: new, line, count=1)


def _damage(rng: random.Random, line: bytes) -> bytes:
    """*line* with one or two random kinds of damage (hostile or odd EVE)."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        n = len(line)
        pos = rng.randrange(n + 1)
        what = rng.randrange(17)
        if what == 0:  # cut short, sometimes closed again
            line = line[:pos] + (b"}" if rng.random() < 0.5 else b"")
        elif what == 1:  # a JSON escape in a string
            quotes = [m.end() for m in re.finditer(rb':"', line)]
            if quotes:
                at = rng.choice(quotes)
                line = line[:at] + rng.choice((b"\\u0041", b'\\"', b"\\\\", b"\\")) + line[at:]
        elif what == 2:  # NUL bytes
            line = line[:pos] + b"\x00" * rng.randrange(1, 4) + line[pos:]
        elif what in (3, 4):  # a duplicated key, at the top level or nested
            key = rng.choice(_KEYS[:2] if rng.random() < 0.5 else _KEYS)  # often an address
            pair = b'"' + key + b'":' + rng.choice(_VALUES)
            if what == 4:
                pair = b'"x":{' + pair + b"}"
            first = line.find(b",")
            if first > 0 and rng.random() < 0.5:
                line = line[:first + 1] + pair + b"," + line[first + 1:]
            elif line.endswith(b"}"):
                line = line[:-1] + b"," + pair + b"}"
        elif what == 5:  # a number replaced
            nums = list(re.finditer(rb"(?<=:)-?\d+", line))
            if nums:
                m = rng.choice(nums)
                line = line[:m.start()] + rng.choice(_NUMBERS) + line[m.end():]
        elif what == 6:  # bytes that are not UTF-8
            line = line[:pos] + rng.choice((b"\xff", b"\xc3", b"\xe3\x81", b"\xed\xa0\x80")) \
                + line[pos:]
        elif what == 7 and n:  # one byte flipped
            at = rng.randrange(n)
            line = line[:at] + bytes([rng.randrange(256)]) + line[at + 1:]
        elif what == 8:  # blanks after a colon
            colons = [m.start() for m in re.finditer(rb'":', line)]
            if colons:
                at = rng.choice(colons) + 2
                line = line[:at] + b" " + line[at:]
        elif what == 9:  # a value set to null
            vals = list(re.finditer(rb'(?<=":)("[^"]*"|-?\d+)', line))
            if vals:
                m = rng.choice(vals)
                line = line[:m.start()] + b"null" + line[m.end():]
        elif what == 10:  # another event type
            et = rng.choice((b"flow", b"tls", b"http", b"dns", b"alert", b"stats", b"drop", b"x"))
            line = _sub(rb'"event_type":"[a-z]*"', b'"event_type":"' + et + b'"', line)
        elif what == 11:  # addresses moved in or out of the home network
            for key in (b"src_ip", b"dest_ip"):
                if rng.random() < 0.7:
                    ip = rng.choice(_IPS)
                    line = _sub(b'"' + key + b'":"[^"]*"', b'"' + key + b'":"' + ip + b'"', line)
        elif what == 12:  # a key removed
            line = _sub(b'"' + rng.choice(_KEYS) + rb'":("[^"]*"|[^,}]*),?', b"", line)
        elif what == 13:  # trailing blanks, CR
            line = line + rng.choice((b"\r", b" ", b"\t", b"\n"))
        elif what == 14:  # the protocol or age changed
            proto = rng.choice((b"TCP", b"UDP", b"ICMP", b"T\\u0043P", b""))
            line = _sub(rb'"proto":"[A-Z0-9]*"', b'"proto":"' + proto + b'"', line)
            age = rng.choice((b"0", b"7200", b"99999999999999999999", b"-5", b"1.5"))
            line = _sub(rb'"age":\d+', b'"age":' + age, line)
        elif what == 15:  # a URL around the long-URL threshold (100 below)
            url = b"/" + b"a" * rng.randrange(97, 102)
            line = _sub(rb'"url":"[^"]*"', b'"url":"' + url + b'"', line)
        else:  # a second record or a stray timestamp key
            line = line + rng.choice((line, b'"timestamp":1', b"{}"))
    return line


def _spy_run(cfg: Any, tmp: Path, batches: list[list[bytes]] | list[Lines], compiled: bool, *,
             flags: list[bytes] | None = None, fast: bool = True) -> dict[str, Any]:
    """Feed *batches* through one batch loop (*fast* off: the per-line reference loop);
    every handler call recorded (repr of the event at that moment), with the decode stats
    and the shared state afterwards. *flags*: each batch's PRIMARY/SECONDARY flags, fed as
    a worker's share (:func:`eve_consumer.workers.feed_part`, line numbers by 3)."""
    calls: list[str] = []
    with Consumer(cfg, None, tmp / "out", tmp / "state", mail=False) as c:
        c.compiled = compiled
        c.fast = fast
        for h in c.handlers:
            def spy(ev: Any, _name: str = h.name, _handle: Any = h.handle) -> None:
                calls.append(f"{_name} {ev!r}")
                if ev.lineno % 211 == 0:
                    raise RuntimeError("boom")  # a failing handler: same skips on both
                _handle(ev)

            def spy_alert(ev: Any, detection: str, meta: Any, _name: str = h.name,
                          _on: Any = h.on_alert) -> None:
                calls.append(f"{_name} alert {detection} {ev!r} {meta!r}")
                _on(ev, detection, meta)

            h.handle = spy  # type: ignore[method-assign]
            h.on_alert = spy_alert  # type: ignore[method-assign]
        c.dispatcher = type(c.dispatcher)(c.ctx, c.handlers)
        first = 1
        shard = WorkerShard(1)
        for k, lines in enumerate(batches):
            if flags is None:
                c.feed(Batch("damaged.json", lines, first))
            else:
                numbers: Sequence[int] = list(range(first, first + 3 * len(lines), 3))
                if isinstance(lines, Lines):  # as the compiled cut gives them
                    numbers = array("q", numbers)
                feed_part(c, shard, "damaged.json", (lines, numbers, flags[k]))
            first += 3 * len(lines)
        assert c.feed_loop == ("per-line" if not fast else "compiled" if compiled
                               else "python")
        assert set(c.loops) == {c.feed_loop}  # no batch fell back to another loop
        ctx = c.ctx
        return {"calls": calls, "stats": json.dumps(c.decoder.stats.as_dict()),
                "counters": sorted(ctx.counters.items()), "notes": list(ctx.notes),
                "names": list(ctx.flow_names.items()), "latest": ctx.latest_ts,
                "dns": list(ctx.dns_names.items())}


def _damaged_cfg(tmp_path: Path) -> Any:
    """The configuration the damaged-line comparisons run with (lines over 4,096 bytes
    rejected, two whitelisted destinations, the long-session and URL checks on)."""
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "networks": {"home": [*SLIPS_HOME, "fe80::/10"]}, "alerts": {"enabled": False},
        "whitelist": {"destinations": ["www.google.com", "*.myedimax.com"]},
        "traffic": {"long_session_seconds": 3600, "url_length_threshold": 100},
        "consumer": {"max_line_bytes": 4096}}))
    return load_config(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_matches_pure_on_damaged_lines(slips_eve: Path, tmp_path: Path,
                                                seed: int) -> None:
    """Real lines of every event type, damaged at random (seeded): cut, escaped, NULs,
    duplicated or nested keys, odd and huge numbers, bytes that are not UTF-8, flipped bytes,
    blanks, nulls, other event types and addresses. The compiled loop must call the handlers
    with the same events in the same order, count the same and leave the same shared state
    as the pure batch loop (hostile lines never crash either)."""
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    rng = random.Random(seed)
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x]
    by_kind: dict[bytes, list[bytes]] = {}
    for x in lines:
        m = re.search(rb'"event_type":"([a-z]*)"', x)
        by_kind.setdefault(m.group(1) if m else b"?", []).append(x)
    kinds = sorted(by_kind)
    mixed: list[bytes] = []
    for _ in range(4000):
        pool = by_kind[rng.choice(kinds)]  # every event type, however rare in the file
        line = rng.choice(pool)
        mixed.append(_damage(rng, line) if rng.random() < 0.7 else line)
    batches: list[list[bytes]] = []
    while mixed:
        size = rng.choice((1, 7, 100, 1000))
        batches.append(mixed[:size])
        mixed = mixed[size:]
    cfg = _damaged_cfg(tmp_path)
    pure = _spy_run(cfg, tmp_path / "pure", batches, False)
    fast = _spy_run(cfg, tmp_path / "compiled", batches, True)
    for key in pure:
        assert fast[key] == pure[key], key
    stats = json.loads(pure["stats"])
    # not vacuous: lines used, skipped from the bytes, decoded and rejected, handlers called
    assert stats["bad"] and stats["fast"] and stats["decoded"].get("flow")
    assert any(k.endswith("(prefiltered)") for k in stats["ignored"])
    assert len(pure["calls"]) > 200 and pure["counters"]


def _chunks(stream: bytes, rng: random.Random, max_line: int) -> list[Lines]:
    """*stream* cut as a file input cuts it: chunks of random sizes through a LineBuffer
    (the first line joined across chunks, a held line over *max_line* cut)."""
    buf, out, pos, handed = LineBuffer(10_000, max_line), [], 0, 0
    while pos < len(stream):
        size = rng.choice((100, 5000, 60_000))
        lines, nbytes, cut = buf.split(stream[pos:pos + size])
        pos += size
        handed += nbytes
        assert not cut  # (fewer than 10,000 lines a chunk)
        if lines:
            out.append(lines)
    # the stream ends with a newline: every byte handed out in lines, cut ones too
    assert buf.take_rest() == (b"", 0) and handed == len(stream)
    return out


@pytest.mark.parametrize(("seed", "ends"), [(1, "scanned"), (2, "scanned"), (3, "none"),
                                           (4, "wrong"), (5, "listed")])
def test_compiled_reads_chunks_in_place(slips_eve: Path, tmp_path: Path, seed: int,
                                        ends: str) -> None:
    """Batches as the file inputs hand them out (:class:`Lines`: the chunk and where its
    lines are), real lines damaged at random (escapes, cut JSON, NULs, bytes that are not
    UTF-8, lines over ``max_line_bytes`` …): the compiled loop reads each line in the chunk
    (a bytes object only where Python code reads one, msgspec through a view) and must call
    the handlers with the same events, count the same and leave the same state as the pure
    loop fed the same lines as lists — without ever making the batch's list. The loop walks
    the newline offsets LineBuffer found (*ends* ``scanned``), or searches the chunk when
    there are none or they do not check out (``wrong``: offsets that are not newlines); a
    batch already made into its list (``listed``) is read as the list."""
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    rng = random.Random(seed)
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x]
    mixed = [_damage(rng, x) if rng.random() < 0.5 else x
             for x in (rng.choice(lines) for _ in range(3000))]
    stream = b"\n".join(mixed) + b"\n"
    raw = _chunks(stream, random.Random(seed), 4096)
    listed = [list(x) for x in _chunks(stream, random.Random(seed), 4096)]
    assert any(x.head is not None for x in raw) and any(len(y) > 4096 for y in mixed)
    for x in raw:
        assert x.ends is not None
        if ends == "listed":
            x.as_list()
        elif ends != "scanned":
            x.ends = None if ends == "none" else bytes(len(x.ends))  # offset 0 each
    cfg = _damaged_cfg(tmp_path)
    pure = _spy_run(cfg, tmp_path / "pure", listed, False)
    fast = _spy_run(cfg, tmp_path / "compiled", raw, True)
    # read in the chunk, never listed (unless listed before)
    assert all((x.listed is None) == (ends != "listed") for x in raw)
    for key in pure:
        assert fast[key] == pure[key], key
    stats = json.loads(pure["stats"])
    assert stats["bad"] and stats["fast"] and stats["decoded"].get("flow")
    assert any(k.endswith("(prefiltered)") for k in stats["ignored"])
    assert "line longer than consumer.max_line_bytes" in stats["bad"]  # the cut lines


def _raw_types(t: Any, seen: set[int]) -> Iterator[Any]:
    """Every msgspec.inspect type inside *t* (fields, items, union members), once."""
    if id(t) in seen:
        return
    seen.add(id(t))
    yield t
    if isinstance(t, msgspec.inspect.StructType):
        for f in t.fields:
            yield from _raw_types(f.type, seen)
    for name in ("item_type", "key_type", "value_type"):
        if hasattr(t, name):
            yield from _raw_types(getattr(t, name), seen)
    for x in getattr(t, "types", ()):
        yield from _raw_types(x, seen)


def test_typed_decode_through_the_view_is_the_bytes_decode(slips_eve: Path) -> None:
    """The compiled loop's typed decodes (msgspec: the flow and dns structs) read a line it
    has not made into bytes through a view of the chunk. For real lines and damaged ones
    (escapes, cut JSON, NULs, bytes that are not UTF-8, …): the same struct or the same
    error as from the line's bytes, and nothing of the view kept after success or error (no
    buffer still exported, no reference) — msgspec keeps its input only for a
    ``msgspec.Raw`` field, and the structs have none."""
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    from eve_consumer._fastfeed import _LineView, decode_in_place

    with pytest.raises(TypeError):  # a pointer into a chunk is never pickled
        pickle.dumps(_LineView())

    seen_types: set[int] = set()
    kinds = [t for root in msgspec.inspect.multi_type_info([FlowRecord, DnsRecord])
             for t in _raw_types(root, seen_types)]
    assert not any(isinstance(t, msgspec.inspect.RawType) for t in kinds)
    assert any(getattr(t, "cls", None) is TcpFlags for t in kinds)  # nested structs seen
    rng = random.Random(11)
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x]
    sample = [rng.choice(lines) for _ in range(1500)]
    seen = {"ok": 0, "error": 0}
    for line in sample + [_damage(rng, x) for x in sample]:
        data = b"junk\n" + line + b"\n{}"
        for decode in (_decode, _decode_dns):
            got, exports, refs = decode_in_place(decode, data, 5, 5 + len(line))
            assert (exports, refs) == (0, 0)
            try:
                want = decode(line)
            except Exception as exc:  # any error: compared with the view's
                assert type(got) is type(exc) and str(got) == str(exc), line
                seen["error"] += 1
            else:
                assert got == want, line
                seen["ok"] += 1
    assert seen["ok"] > 500 and seen["error"] > 500


def _judged_alike(line: bytes) -> bool:
    """False for a line the batch loops may judge differently from the per-line loop by
    design (eve_consumer/fastfeed.py's docstring, docs/consumer.md): an address key text
    that occurs twice (duplicated, or nested in an earlier object) or has a blank after its
    colon — the batch loops read the typed record's top-level value, the per-line prefilter
    the first ``"src_ip":"`` text."""
    return all(line.count(b'"' + key + b'"') <= 1 and b'"' + key + b'": ' not in line
               for key in (b"src_ip", b"dest_ip"))


def _as_cut(lines: list[bytes]) -> Lines:
    """*lines* as :func:`eve_consumer._route.cut` hands a worker's share out: joined into
    one bytes object, each ended by a newline, with the newlines' offsets (no line may hold
    one)."""
    assert not any(b"\n" in x for x in lines)
    data = b"".join(x + b"\n" for x in lines)
    return Lines(data, 0, len(data), len(lines), ends=line_ends(data, 0, len(data)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_shared_lines_same_on_every_loop(slips_eve: Path, tmp_path: Path, seed: int) -> None:
    """A worker's share of batches (``consume --workers``) with lines flagged SECONDARY
    (shared, counted by another worker) in runs of every length, real lines and damaged ones:
    the compiled and pure batch loops call the handlers with the same events in the same
    order as the per-line reference loop (``Decoder.decode_sharded``), count only the PRIMARY
    lines and leave the same shared state — the compiled loop too when the shares are the
    compiled cut's (a :class:`Lines` over one bytes object, read in place, with the numbers
    as an ``array("q")``; a part listed already: read as its list)."""
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    rng = random.Random(seed)
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x]
    mixed = [damaged if rng.random() < 0.2 and _judged_alike(damaged := _damage(rng, x))
             else x for x in (rng.choice(lines) for _ in range(3000))]
    mixed = [x.replace(b"\n", b"\r") for x in mixed]  # as a file's lines: no newline inside
    batches: list[list[bytes]] = []
    flags: list[bytes] = []
    while mixed:
        size = rng.choice((1, 5, 100, 700))
        batch, mixed = mixed[:size], mixed[size:]
        share = rng.choice((0.0, 0.1, 0.5, 1.0))
        flag = bytearray()
        while len(flag) < len(batch):  # runs of 1 … 20 lines of one flag
            flag += bytes([SECONDARY if rng.random() < share else PRIMARY]) \
                * rng.randrange(1, 21)
        batches.append(batch)
        flags.append(bytes(flag[:len(batch)]))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "networks": {"home": SLIPS_HOME}, "alerts": {"enabled": False},
        "whitelist": {"destinations": ["www.google.com", "*.myedimax.com"]},
        "consumer": {"max_line_bytes": 4096}}))
    cfg = load_config(path)
    ref = _spy_run(cfg, tmp_path / "ref", batches, False, flags=flags, fast=False)
    pure = _spy_run(cfg, tmp_path / "pure", batches, False, flags=flags)
    fast = _spy_run(cfg, tmp_path / "compiled", batches, True, flags=flags)
    # the same shares as the compiled cut hands them out (eve_consumer._route.cut): one
    # bytes object and its newline offsets, walked in place with the numbers and flags
    cut = [_as_cut(b) for b in batches]
    for x in cut[::7]:
        x.as_list()  # a cut part listed (a line that held a newline): read as its list
    lazy = _spy_run(cfg, tmp_path / "lazy", cut, True, flags=flags)
    assert all((x.listed is None) == (k % 7 != 0) for k, x in enumerate(cut))  # not listed
    # the pure and the per-line loops given the cut's parts read them as lists
    pure_cut = _spy_run(cfg, tmp_path / "pure-cut", [_as_cut(b) for b in batches], False,
                        flags=flags)
    ref_cut = _spy_run(cfg, tmp_path / "ref-cut", [_as_cut(b) for b in batches], False,
                       flags=flags, fast=False)
    assert ref_cut == ref and pure_cut == pure
    for key in ref:
        assert fast[key] == pure[key] == lazy[key], key  # the batch loops: byte for byte
        if key == "stats":  # the batch loops add the "(prefiltered)" keys per batch
            assert json.loads(pure[key]) == json.loads(ref[key])
        else:
            assert pure[key] == ref[key], key
    stats = json.loads(ref["stats"])
    primary = sum(f.count(PRIMARY) for f in flags)
    assert stats["lines"] == primary < sum(map(len, flags))  # shared lines not counted
    assert stats["bad"] and stats["fast"] and stats["decoded"].get("flow")
    # the shared lines reached the handlers: more calls than with them left out
    kept = [[x for x, f in zip(b, fl, strict=True) if f == PRIMARY]
            for b, fl in zip(batches, flags, strict=True)]
    alone = _spy_run(cfg, tmp_path / "alone", kept, True)
    assert len(alone["calls"]) < len(ref["calls"])


def test_compiled_byte_search_is_bytes_find(slips_eve: Path) -> None:
    """The compiled loop's search (memchr on the pattern's rarest byte) finds what
    ``bytes.find`` finds, at every start, on real lines and on random bytes."""
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    from eve_consumer._fastfeed import find

    rng = random.Random(7)
    lines = [x for x in slips_eve.read_bytes().split(b"\n") if x][:300]
    pats = [b":null", b'"timestamp":', b'"src_ip":"', b'"rrname":"', b'"', b"}", b"zz",
            b'"event_type":"', b'"flow_id":']
    for line in lines + [bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
                         for _ in range(300)]:
        for pat in [*pats, line[3:9] or b"x", line[-4:] or b"y"]:
            for start in {0, 1, 13, len(line) // 2, max(len(line) - 3, 0), len(line),
                          len(line) + 2}:
                assert find(line, pat, start) == line.find(pat, start), (line, pat, start)
