"""The compiled router (``eve_consumer._route``) against the pure one (``shard.Router``).

Both must give the same route code for every line, the same host placement (order and
workers) and the same loads: on real Suricata EVE (the Stratosphere capture of shared/data, in
small and large batches, with 2 and 3 workers), and on lines mutated the ways hostile or
broken EVE looks — truncated at every byte, escapes, NUL bytes, duplicated keys, non-UTF-8,
repeated ``"event_type"`` markers, other field layouts. The compact scan alone must read the
same fields as the pure router's regular expression. Skipped (with the reason; a failure in
CI) when the extension is not built.
"""

from __future__ import annotations

import json
import mmap
import random
from array import array
from pathlib import Path
from typing import Any

import pytest
from engines import missing

from eve_consumer import shard
from eve_consumer.shard import _COMPACT, Router
from sakimori.eve.lines import Lines, line_ends


@pytest.fixture(autouse=True)
def _compiled() -> None:
    """Every test here needs the extension: skipped without it, a failure in CI."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install: make setup)")

_HOME = ("192.168.", "10.")


def _home(ip: str) -> bool:
    return ip.startswith(_HOME)


def _both(lines: list[bytes], batch: int, count: int, dns_skip: Any = None,
          flow_skip: Any = None) -> tuple[Any, Any]:
    """(codes, hosts, load) of the pure and of the compiled router over *lines* in batches."""
    out = []
    for compiled in (False, True):
        router = Router(count, _home, compiled=compiled, handicap=0.15, dns_skip=dns_skip,
                        flow_skip=flow_skip)
        codes = b"".join(router.route(lines[i:i + batch]) for i in range(0, len(lines), batch))
        out.append((codes, list(router.hosts.items()), router.load))
    return out[0], out[1]


def _mutations(line: bytes, rng: random.Random) -> list[bytes]:
    """Broken and hostile variants of one EVE line."""
    out = [line[:k] for k in range(0, len(line), max(1, len(line) // 97))]  # truncations
    out += [
        line.replace(b'"src_ip":"', b'"src_ip":"\\u0031', 1),  # escapes
        line.replace(b'"dest_ip":"', b'"dest_ip":"1\\"', 1),
        line.replace(b'","src_ip"', b'\\","src_ip"', 1),
        line.replace(b'"event_type":"', b'"event_type":"\\u0066', 1),
        line.replace(b'"src_ip":"', b'"src_ip":"\x00', 1),  # NUL bytes
        line.replace(b'"dest_ip":"', b'"dest_ip":"10.0.0.1\x00', 1),
        b"\x00" + line,
        line.replace(b'"src_ip":"', b'"src_ip":"\xff\xfe', 1),  # not UTF-8
        line.replace(b'"dest_ip":"', b'"dest_ip":"\xc3', 1),
        line.replace(b'"src_port":', b'"src_port":-', 1),  # no digits: other layout
        line.replace(b'"src_port":', b'"src_port":"', 1),
        line.replace(b'"event_type":"', b'"event_type":"Flow', 1),  # not [a-z_]
        line.replace(b'"event_type":"', b'"event_type":"",', 1),
        b'{"event_type":"' + line,  # a marker that does not match, then the real one
        b'{"event_type":"event_type":"' + line[1:],
        line[:-1] + b',' + line[1:],  # duplicated keys (the first compact match counts)
        line.replace(b'"src_ip":"', b'"dest_ip":"9.9.9.9","src_ip":"', 1),
        line.replace(b'"src_ip":"', b'"src_ip":"10.0.0.7","src_ip":"', 1),
        line.replace(b'"dest_ip":"', b'"dest_ip"', 1),
        line.replace(b'"', b"'"),
        line.replace(b"\n", b"") + b"\n" + line,
        line + b"garbage",
        line[:-1] + b',"dns":{"type":"answer"}}',  # DNS: answers, escapes, two types
        line[:-1] + b',"x":"answer\\u0020"}',
        line.replace(b'"event_type":"', b'"event_type":"dns","event_type":"', 1),
        line.replace(b'"event_type":"', b'"event_type":"dns","x":"', 1),
        b"null", b"[]", b"{}", b"", b"\xff" * 40, b'"event_type":"', b'"event_type":"flow"',
        b'"event_type":"flow","src_ip":"', b'"event_type":"flow","src_ip":"1","src_port":1,',
        b'"event_type":"flow","src_ip":"1","src_port":1,"dest_ip":"2',
        b'"event_type":"flow","src_ip":"1","src_port":1,"dest_ip":"2"',
    ]
    cut = rng.randrange(1, len(line)) if len(line) > 1 else 1
    out.append(line[:cut] + bytes([rng.randrange(256)]) + line[cut + 1:])  # a random byte
    return out


def _home_lines(n: int) -> list[bytes]:
    """Flows between internal and external hosts in Suricata's layout, the other layout,
    and DNS/smtp/unwanted events: a mix whose first batch places several hosts."""
    rng = random.Random(5)
    lines = []
    for k in range(n):
        src = f"10.0.{rng.randrange(3)}.{rng.randrange(1, 30)}"
        dst = rng.choice([f"10.0.0.{rng.randrange(1, 30)}", f"8.8.{rng.randrange(9)}.8"])
        kind = rng.choice(["flow", "flow", "tls", "http", "alert", "drop", "dns", "smtp",
                           "stats", "fileinfo"])
        if rng.random() < 0.5:
            src, dst = dst, src
        obj: dict[str, Any] = {"timestamp": "2026-11-02T00:00:00.000000+0000", "flow_id": k,
                               "event_type": kind, "src_ip": src, "src_port": 1000 + k,
                               "dest_ip": dst, "dest_port": 443, "proto": "TCP"}
        if kind == "dns":
            obj["dns"] = {"type": rng.choice(["query", "answer"]), "rrname": "a.example"}
        if k % 17 == 0:  # the other layout: the general path
            obj = {"dest_ip": obj.pop("dest_ip"), **obj}
        lines.append(json.dumps(obj, separators=(",", ":")).encode())
    return lines


@pytest.mark.parametrize(("batch", "count"), [(10_000, 2), (37, 3), (1, 2)])
def test_same_codes_on_real_eve(real_lines: list[bytes], batch: int, count: int) -> None:
    pure, fast = _both(real_lines, batch, count)
    assert pure[1], "the capture's internal hosts are placed"
    assert len(set(pure[0])) >= 3, "several routes are exercised"
    assert fast == pure


def test_same_codes_on_mixed_hosts_and_layouts() -> None:
    lines = _home_lines(3000)
    for batch, count in ((500, 2), (3000, 3), (7, 4)):
        pure, fast = _both(lines, batch, count)
        assert len(pure[1]) > 20 and shard.FALLBACK not in pure[0]
        assert {0, shard.ALL} <= set(pure[0])
        assert fast == pure


def test_same_codes_on_mutated_lines(real_lines: list[bytes]) -> None:
    rng = random.Random(11)
    sample = [ln for ln in real_lines if b'"src_ip":"192.168.' in ln][:40]
    sample += rng.sample(real_lines, 40) + _home_lines(40)
    mutated = [m for ln in sample for m in _mutations(ln, rng)]
    rng.shuffle(mutated)
    pure, fast = _both(mutated, 250, 3)
    assert fast == pure
    assert shard.ALL in pure[0] and 0 in pure[0]  # escapes (every worker), bad lines
    dns = [c for c, ln in zip(pure[0], mutated, strict=True) if _COMPACT(ln)
           and _COMPACT(ln).group(1) == b"dns"]
    assert 0 in dns and shard.ALL in dns  # DNS lines to worker 0 alone and to every worker


def _dns_mutations(line: bytes, rng: random.Random) -> list[bytes]:
    """A DNS line and the variants that change what the decoder's prefilter does with it."""
    out = [line, *_mutations(line, rng)]
    out += [
        line[:-1] + b',"x":null}',  # not well-formed: parsed
        line[:-1] + b',"timestamp":"x"}',
        line + b" ",  # does not end with }
        b" " + line,
        line.replace(b'"rrname":"', b'"rrname":"whitelisted.example', 1),
        line.replace(b'"rrname":"', b'"rrname":"', 1)[:-1] + b',"rrname":"x}',  # no quote
        line.replace(b'"type":"answer"', b'"type":"query"', 1),
        line[:-1] + b',"q":"\\"type\\":\\"query\\""}',
        line.replace(b'"answers":', b'"rrname":"whitelisted.example","answers":', 1),
        line + b"x" * 5000,  # over the decoder's max_line: parsed (rejected) everywhere
    ]
    return out


def _wl(name: str) -> bool:
    return name.endswith("whitelisted.example") or len(name) % 4 == 0


def test_same_codes_with_the_dns_skip(real_lines: list[bytes]) -> None:
    """With the DNS skip, both routers give the same codes on real and broken DNS lines:
    some DNS answers go to worker 0 alone, the others to every worker."""
    rng = random.Random(13)
    dns = [ln for ln in real_lines if b'"event_type":"dns"' in ln and b'"answer"' in ln]
    assert len(dns) > 100
    lines = [m for ln in rng.sample(dns, 40) for m in _dns_mutations(ln, rng)]
    lines += rng.sample(real_lines, 200)
    rng.shuffle(lines)
    max_line = max(map(len, dns)) + 100
    for wl_names in (True, False):
        skip = shard.DnsSkip(max_line, wl_names, _wl)
        pure, fast = _both(lines, 97, 2, dns_skip=skip)
        assert fast == pure
        answers = [c for c, ln in zip(pure[0], lines, strict=True) if _COMPACT(ln)
                   and _COMPACT(ln).group(1) == b"dns" and b'"answer"' in ln]
        assert 0 in answers and (shard.ALL in answers or not wl_names)


def test_the_dns_skip_is_what_the_decoder_skips(real_lines: list[bytes], tmp_path: Path
                                                ) -> None:
    """Every DNS line the router sends to worker 0 alone for its skip is one the consumer's
    decoder skips unparsed (counted "dns (prefiltered)"): a worker that would share it does
    nothing with it. Checked on real and broken DNS lines, against the real prefilter."""
    from eve_consumer.pipeline import Consumer
    from sakimori.config import load_config

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("networks:\n  home: [192.168.0.0/16]\nwhitelist:\n  destinations:"
                        "\n    - .whitelisted.example\n    - '*.microsoft.com'\n"
                        "consumer:\n  max_line_bytes: 4096\n")
    rng = random.Random(17)
    dns = [ln for ln in real_lines if b'"event_type":"dns"' in ln]
    lines = [m for ln in rng.sample(dns, 60) for m in _dns_mutations(ln, rng)]
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "state",
                  mail=False) as consumer:
        decoder = consumer.decoder
        skip = shard.DnsSkip.of(decoder)
        assert skip is not None and skip.wl_names and skip.max_line == 4096
        router = Router(2, _home, compiled=False, dns_skip=skip)
        skipped = kept = 0
        for line in lines:
            if not _COMPACT(line) or b"\\" in line or line.count(b'"event_type"') != 1:
                continue
            before = decoder.stats.ignored.get("dns (prefiltered)", 0)
            event = decoder.decode(line, 1)
            if router.dns_skipped(line):
                skipped += 1
                assert event is None, line
                assert decoder.stats.ignored.get("dns (prefiltered)", 0) == before + 1, line
            else:
                kept += 1
        assert skipped > 20 and kept > 20
        decoder.reference = True
        assert shard.DnsSkip.of(decoder) is None  # the reference path: no prefilter skip


def _assert_compact_as_regex(lines: list[bytes]) -> None:
    """The compiled compact scan finds in every line what the pure router's regex finds
    (some lines compact, some not: not vacuous)."""
    found = 0
    for line in lines:
        m = _COMPACT(line)
        want = m.groups() if m else None
        assert shard.compiled_route.compact_fields(line) == want, line
        found += want is not None
    assert 0 < found < len(lines)


def test_compact_scan_reads_what_the_regex_reads(real_lines: list[bytes]) -> None:
    rng = random.Random(3)
    lines = [m for ln in rng.sample(real_lines, 60) for m in _mutations(ln, rng)]
    _assert_compact_as_regex(lines)


def test_compiled_cache_clear_keeps_the_codes(real_lines: list[bytes],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A full code cache is cleared (memory bound) without changing any code."""
    monkeypatch.setattr(shard, "_ROUTE_CACHE", 5)
    pure, fast = _both(real_lines, 50, 2)
    assert fast == pure


def test_bytes_like_lines_and_empty_batches() -> None:
    lines = _home_lines(50)
    pure = Router(2, _home, compiled=False, handicap=0.0).route(lines)
    fast = Router(2, _home, compiled=True, handicap=0.0)
    assert fast.route([bytearray(x) for x in lines]) == pure
    assert fast.route([]) == b"" == Router(2, _home, compiled=False).route([])
    with pytest.raises(TypeError):
        fast.route(["text, not bytes"])  # type: ignore[list-item]


def test_same_codes_on_random_bytes_around_the_markers() -> None:
    """Lines assembled from random pieces of the compact layout, addresses, escapes, NULs
    and random bytes: no crash, no read past a line (an address cut at its end), same codes."""
    rng = random.Random(23)
    pieces = [b'"event_type":"', b'flow', b'dns', b'tls', b'","src_ip":"', b'","src_port":',
              b'123', b',"dest_ip":"', b'10.0.0.1', b'10.0.0.2', b'8.8.8.8', b'"', b'\\',
              b'\x00', b'\xff', b'"answer"', b'"event_type"', b'{', b'}', b',', b'12']
    template = [b"{", b'"event_type":"', b"flow", b'","src_ip":"', b"10.0.0.1",
                b'","src_port":', b"123", b',"dest_ip":"', b"8.8.8.8", b'"', b"}"]
    lines = []
    for k in range(3000):
        if k % 2:  # random pieces
            parts = [rng.choice(pieces) if rng.random() < 0.9 else bytes([rng.randrange(256)])
                     for _ in range(rng.randrange(0, 14))]
        else:  # the layout with a few pieces replaced, dropped or cut short
            parts = [rng.choice(pieces) if rng.random() < 0.1 else b"" if rng.random() < 0.05
                     else p for p in template][:rng.randrange(6, 12)]
        lines.append(b"".join(parts))
    pure, fast = _both(lines, 300, 3)
    assert fast == pure
    assert sum(_COMPACT(ln) is not None for ln in lines) > 50  # the markers do match


def test_compiled_cut_gives_the_pure_cut(real_lines: list[bytes], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's lines cut from the memory-mapped file: the compiled loop and the pure
    ``mine`` give the same lines, line numbers and flags, for every worker of 2 and 3, with
    empty lines and a last line without newline; a line past the end of the map is an error."""
    rng = random.Random(9)
    lines = [*real_lines[:400], b"", b"", b"x", *real_lines[400:600]]
    path = tmp_path / "eve.json"
    path.write_bytes(b"\n".join(lines))  # no newline at the end
    lens = array("I", map(len, lines))
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        for count in (2, 3):
            codes = bytes(rng.choice([*range(count + count * count), shard.ALL])
                          for _ in lines)
            for index in range(count):
                table = shard.worker_table(index, count)
                monkeypatch.setattr(shard, "USE_COMPILED", False)
                want = shard.mine(codes, table, 7, None, view=view, base=0, lens=lens)
                monkeypatch.setattr(shard, "USE_COMPILED", True)
                got = shard.mine(codes, table, 7, None, view=view, base=0, lens=lens)
                assert want is not None and got is not None
                assert (got[0], list(got[1]), got[2]) == want  # numbers: an array("q")
                assert shard.mine(codes, table, 7, lines) == want  # the batch's own lines
        nobody = shard.compiled_route.cut(bytes(len(lines)), shard.worker_table(1, 2), 1,
                                          view, 0, lens)
        assert nobody is None
        with pytest.raises(ValueError):
            shard.compiled_route.cut(bytes([255]), shard.worker_table(1, 2), 1, view,
                                     len(view) - 3, array("I", [10]))
        with pytest.raises(ValueError):
            shard.compiled_route.cut(bytes([255, 255]), shard.worker_table(1, 2), 1, view,
                                     0, array("I", [1]))


def _cut_both(data: bytes, lines: list[bytes], codes: bytes, table: bytes, first: int,
              path: Path) -> tuple[Any, Any]:
    """The compiled cut and the pure ``mine`` of *lines* laid out in *data* (a file, mapped)
    from offset 0: (compiled, pure)."""
    path.write_bytes(data)
    lens = array("I", map(len, lines))
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        got = shard.compiled_route.cut(codes, table, first, view, 0, lens)
        want = shard.mine(codes, table, first, lines)
    return got, want


def _raw_cut(got: Any, want: Any) -> None:
    """*got* (the compiled cut) is the part *want* (its list) as one raw Lines: the lines
    joined, each ended by a newline, with their newlines' offsets; the same numbers (an
    ``array("q")``, no int object per line) and flags."""
    lines, numbers, flags = got
    assert type(lines) is Lines and lines.listed is None and lines.head is None
    assert lines.data == b"".join(x + b"\n" for x in want[0])
    assert (lines.lo, lines.hi, len(lines)) == (0, len(lines.data), len(want[0]))
    assert lines.ends == line_ends(lines.data, 0, len(lines.data))
    assert type(numbers) is array and numbers.typecode == "q" and type(flags) is bytes
    assert (list(numbers), flags) == want[1:]
    assert lines == want[0]  # read as a sequence: the list


def test_compiled_cut_is_one_raw_lines(real_lines: list[bytes], tmp_path: Path) -> None:
    """The compiled cut hands a worker's lines out as one bytes object (a raw ``Lines`` the
    compiled batch loop reads in place), equal to the list the pure cut makes: real lines for
    every worker of 2 and 3; a part of one line (the first, a middle one, an empty one, the
    last line of a file without newline); nothing (None)."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install)")
    rng = random.Random(11)
    lines = [*real_lines[:300], b"", b"x", *real_lines[300:500]]
    data = b"\n".join(lines)  # no newline at the end
    for count in (2, 3):
        codes = bytes(rng.choice([*range(count + count * count), shard.ALL]) for _ in lines)
        for index in range(count):
            got, want = _cut_both(data, lines, codes, shard.worker_table(index, count), 3,
                                  tmp_path / "eve.json")
            assert want is not None
            _raw_cut(got, want)
    table = shard.worker_table(1, 2)
    for at in (0, 150, 300, len(lines) - 1):  # one line: first, middle, empty, the last
        codes = bytes(1 if k == at else 0 for k in range(len(lines)))
        got, want = _cut_both(data, lines, codes, table, 1, tmp_path / "eve.json")
        assert want is not None and len(want[0]) == 1 and want[1] == [1 + at]
        _raw_cut(got, want)
    got, want = _cut_both(data, lines, bytes(len(lines)), table, 1, tmp_path / "eve.json")
    assert got is None and want is None
    # an empty batch (of an empty file: nothing mapped)
    assert shard.compiled_route.cut(b"", table, 1, b"", 0, array("I")) is None


def test_batch_end_is_the_python_sum() -> None:
    """Where a batch ends, summed in C: Python's ``base + sum(lens) + len(lens) - 1`` for
    empty batches, empty lines and lengths near 2**32."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install)")
    rng = random.Random(3)
    for lens in ([], [0], [0, 0, 0], [5, 0, 7], [2**32 - 1, 2**32 - 1],
                 [rng.randrange(0, 2000) for _ in range(10_000)]):
        for base in (0, 1, 10**12):
            assert shard.compiled_route.batch_end(base, array("I", lens)) == \
                base + sum(lens) + len(lens) - 1


def test_compiled_cut_of_hostile_lines(tmp_path: Path) -> None:
    """Lines no parser would take — NULs, CR, bytes that are not UTF-8, empty, a lone
    quote or brace, a long line — are copied byte for byte; a line that holds a newline (the
    file rewritten in place after the splitter measured it) keeps the lengths' count: the
    part is the lines as cut, listed, never split at that newline."""
    if shard.compiled_route is None:
        missing("eve_consumer._route is not built (no C compiler at install)")
    rng = random.Random(5)
    hostile = [b"\x00", b"\r", b"\xff\xfe\x80", b"", b'"', b"{", b"}" * 70_000,
               b'{"event_type":"flow","src_ip":"\x00","src_port":1,"dest_ip":"\xff"}',
               bytes(rng.randrange(256) for _ in range(5000)).replace(b"\n", b"\r")]
    lines = [rng.choice(hostile) for _ in range(400)]
    codes = bytes(rng.choice((0, 1, 2, 3, 255)) for _ in lines)
    for index in (0, 1):
        got, want = _cut_both(b"\n".join(lines) + b"\n", lines, codes,
                              shard.worker_table(index, 2), 1, tmp_path / "eve.json")
        _raw_cut(got, want)
    # measured as [b"ab", b"cd", b"ef"] (lengths 2, 2, 2), then rewritten: "a\nb\ncd\nef"
    # keeps the size, so the second "line" is now b"\nc" … the cut copies what is there
    data = b"a\nb\ncd\nef\n"
    cut = [data[0:2], data[3:5], data[6:8]]
    assert b"\n" in cut[0] + cut[1]
    got, want = _cut_both(data, cut, bytes([255, 255, 255]), shard.worker_table(0, 2), 4,
                          tmp_path / "eve.json")
    assert type(got[0]) is Lines and got[0].listed == cut == want[0]
    assert (list(got[1]), got[2]) == want[1:] == ([4, 5, 6], bytes([1, 1, 1]))


def _flow_mutations(line: bytes, rng: random.Random) -> list[bytes]:
    """A flow line between internal hosts and variants of what the flow skip reads: proto,
    age, keys twice or nested, escapes, NULs, non-ASCII addresses, other records in it."""
    out = [line, line.replace(b'"proto":"UDP"', b'"proto":"TCP"'),
           line.replace(b'"proto":"UDP"', b'"proto":"ICMP"')]
    for age in (b"0", b"1", b"29", b"30", b"31", b"0029", b" 5", b"5e1", b"-1", b"+3", b"1_0",
                b"99999999999999999999", b"3600", b'"5"', b"", b"1.5"):
        out.append(line.replace(b'"age":1,', b'"age":' + age + b",", 1))
    out += [
        line.replace(b'"age":1,', b"", 1),  # no age
        line.replace(b'"age":1,', b'"x":1,', 1)[:-2] + b',"age":2}}',
        line[:-1] + b',"age":1}',  # age at the end, before the last brace
        line.replace(b'"proto":"UDP"', b'"proto":"UDP","age":1,"proto":"TCP"', 1),
        line.replace(b'"proto":"UDP"', b'"proto":"U\\u0044P"', 1),
        line.replace(b'"proto":"UDP",', b"", 1),
        line.replace(b'"src_ip":"', b'"src_ip":"\xc3\xa9', 1),
        line.replace(b'"dest_ip":"', b'"dest_ip":"\xff', 1),
        line[:-1] + b',"src_ip":"192.168.1.1"}',
        line[:-1] + b',"x":{"dest_ip":"8.8.8.8"}}',
        line[:-1] + b',"event_type":"flow"}',
        line[:-1] + b',"x":null}', line[:-1] + b',"timestamp":"x"}',
        line.replace(b'"flow":{', b'"flow":{"a":"\\"",', 1),
        line[:-1], line + b" ", b" " + line, line.replace(b'{"timestamp"', b'{"timestamp" ', 1),
        line + b"\x00", line[:-1] + b',"pad":"' + b"x" * 4000 + b'"}',
    ]
    out += _mutations(line, rng)[:20]
    return out


def _flow_skip(tmp_path: Path, long_s: float | None) -> tuple[Any, Any]:
    """A consumer over the test's home networks (its decoder: the flow skip's source) with
    the prefilter's long_session threshold set to *long_s*."""
    from eve_consumer.pipeline import Consumer
    from sakimori.config import load_config

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("networks:\n  home: [192.168.0.0/16, 10.0.0.0/8]\n"
                        "consumer:\n  max_line_bytes: 4096\n")
    consumer = Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "state",
                        mail=False)
    consumer.decoder.prefilter.long_s = long_s
    return consumer, shard.FlowSkip.of(consumer.decoder)


@pytest.mark.parametrize("long_s", [None, 30, 30.5])
def test_same_codes_with_the_flow_skip(real_lines: list[bytes], tmp_path: Path,
                                       long_s: float | None) -> None:
    """With the flow skip, both routers give the same codes (and placement, loads) on real
    and broken flow lines between internal hosts: some go to their primary alone."""
    rng = random.Random(19)
    inner = [ln for ln in real_lines if _COMPACT(ln) and _COMPACT(ln).group(1) == b"flow"
             and all(_home(x.decode()) for x in _COMPACT(ln).groups()[1:])]
    assert len(inner) > 100
    lines = [m for ln in rng.sample(inner, 30) for m in _flow_mutations(ln, rng)]
    lines += rng.sample(real_lines, 300)
    rng.shuffle(lines)
    consumer, skip = _flow_skip(tmp_path, long_s)
    with consumer:
        assert skip is not None and skip.long_s == long_s
        for count in (2, 3):
            pure, fast = _both(lines, 97, count, flow_skip=skip)
            assert fast == pure
            plain, _ = _both(lines, 97, count)
            moved = [(a, b) for a, b in zip(plain[0], pure[0], strict=True) if a != b]
            assert moved and all(count <= a < count * (count + 1) and b == (a - count) // count
                                 for a, b in moved)  # shared codes → their primary


@pytest.mark.parametrize("long_s", [None, 30])
@pytest.mark.parametrize("compiled", [True, False])
def test_the_flow_skip_is_what_the_batch_loop_skips(real_lines: list[bytes], tmp_path: Path,
                                                    long_s: float | None, compiled: bool
                                                    ) -> None:
    """Every shared flow line the router gives to its primary alone is one the consumer's
    batch loop (compiled and pure) skips unparsed — counted "flow (prefiltered)", nothing
    dispatched — so the other worker would have done nothing with it. On real and broken
    flow lines between internal hosts, against the real prefilter (the compiled router
    gives the pure one's codes: the test above)."""
    from sakimori.eve.lines import Batch

    rng = random.Random(23)
    inner = [ln for ln in real_lines if _COMPACT(ln) and _COMPACT(ln).group(1) == b"flow"
             and all(_home(x.decode()) for x in _COMPACT(ln).groups()[1:])]
    lines = [m for ln in rng.sample(inner, 40) for m in _flow_mutations(ln, rng)]
    consumer, skip = _flow_skip(tmp_path, long_s)
    with consumer:
        consumer.compiled = compiled
        seen: list[Any] = []
        consumer.dispatcher.dispatch = seen.append  # type: ignore[method-assign]
        pure = Router(2, _home, compiled=False, flow_skip=skip)  # the compiled: the same
        stats = consumer.decoder.stats
        skipped = kept = 0
        for line in lines:
            m = _COMPACT(line)
            if not m or m.group(1) != b"flow" or b"\n" in line:
                continue
            code = pure.flow_code(line, 3)  # primary worker 0, secondary worker 1
            if code == 3:
                kept += 1
                continue
            assert code == 0
            skipped += 1
            before = stats.ignored.get("flow (prefiltered)", 0)
            consumer.feed(Batch("eve", [line], 1))
            assert stats.ignored.get("flow (prefiltered)", 0) == before + 1, line
            assert not seen, line
        assert skipped > 20 and kept > 20
        assert consumer.loops == {"compiled" if compiled else "python": skipped}
        consumer.decoder.reference = True
        assert shard.FlowSkip.of(consumer.decoder) is None  # the reference path: no skip


def test_flow_markers_at_every_offset(real_lines: list[bytes], tmp_path: Path) -> None:
    """The flow byte tests visit the line 16 bytes a step (``_sk_flow_plain``): each text they
    look for (``:null``, a second ``"src_ip"``/``"dest_ip"``/``"event_type"``, a
    ``"timestamp":``), put at every offset of two blocks and across the end of the line, gives
    the pure router's code."""
    inner = [ln for ln in real_lines if _COMPACT(ln) and _COMPACT(ln).group(1) == b"flow"
             and all(_home(x.decode()) for x in _COMPACT(ln).groups()[1:])
             and b'"proto":"UDP"' in ln]
    assert inner
    base = inner[0]
    lines = [base]
    for marker in (b'"x":null', b'"src_ip":"1"', b'"dest_ip":"1"', b'"event_type":"f"',
                   b'"timestamp":"t"', b'"ok":"fine"'):
        for pad in range(33):
            lines.append(base[:-1] + b',"p":"' + b"x" * pad + b'",' + marker + b"}")
        for cut in range(1, len(marker) + 1):  # the marker cut short by the line's end
            lines.append(base[:-1] + b"," + marker[:cut])
    consumer, skip = _flow_skip(tmp_path, None)
    with consumer:
        pure, fast = _both(lines, 17, 2, flow_skip=skip)
        assert fast == pure
        plain, _ = _both(lines, 17, 2)
        assert plain[0] != pure[0], "some lines go to their primary alone"


@pytest.mark.parametrize("long_s", [None, 30])
def test_flow_fields_before_the_keys_at_every_offset(real_lines: list[bytes], tmp_path: Path,
                                                     long_s: float | None) -> None:
    """The flow tests' pass notes the first ``"proto":"`` and ``"age":`` as it goes, and the
    top-level test reads only the quotes and brackets before ``src_ip``/``dest_ip``, 16
    bytes a step (``_sk_flow_plain``, ``_sk_top_keys``): an earlier proto or age, decoys,
    brackets balanced, unbalanced and inside strings, put after the timestamp at every offset
    of three blocks, give the pure router's code."""
    inner = [ln for ln in real_lines if _COMPACT(ln) and _COMPACT(ln).group(1) == b"flow"
             and all(_home(x.decode()) for x in _COMPACT(ln).groups()[1:])
             and b'"proto":"UDP"' in ln]
    assert inner
    base = inner[0]
    cut = base.index(b'",', 13) + 2  # after the timestamp's value
    snippets = [b"", b'"proto":"TCP",', b'"proto":"ICMP",', b'"age":999999,', b'"age":1,',
                b'"ag":1,"prot":"x","a":"p","pr":"age",', b'"o":{"a":[1,{"b":"]}"}]},',
                b'"o":{"k":"v",', b'"o":["{",', b'"s":"{[",', b'"o":{}}],']
    lines = [base]
    for snippet in snippets:
        for pad in range(48):
            lines.append(base[:cut] + b'"p":"' + b"x" * pad + b'",' + snippet + base[cut:])
    consumer, skip = _flow_skip(tmp_path, long_s)
    with consumer:
        pure, fast = _both(lines, 17, 2, flow_skip=skip)
        assert fast == pure
        plain, _ = _both(lines, 17, 2)
        alone = sum(a != b for a, b in zip(pure[0], plain[0], strict=True))
        assert 0 < alone < len(lines), "some lines go to their primary alone, some not"


def test_compact_marker_at_every_offset() -> None:
    """The compact scan finds its markers 16 bytes a step (``_sk_find``): the layout after a
    prefix of every length up to three blocks, with decoys (the marker's first bytes, the
    marker not followed by a kind, by upper case), and cut at every byte, reads what the
    regular expression reads."""
    layout = b'"event_type":"flow","src_ip":"10.0.0.1","src_port":5,"dest_ip":"8.8.8.8"}'
    decoys = [b"", b'"e', b'"ev', b'"event_type":"', b'"event_type":"X', b'"event_type":',
              b'""e"e']
    lines = []
    for pad in range(49):
        for decoy in decoys:
            line = b"{" + b"x" * pad + decoy + b"," + layout
            lines.append(line)
            lines += [line[:cut] for cut in range(len(line) - len(layout) - 2, len(line))]
    _assert_compact_as_regex(lines)
