"""DNS answers in the consumer: the compiled loop's typed decode against the ordinary path.

A DNS answer whose names the whitelist may match is parsed for ``Context.on_dns`` (the
IP → name map). The compiled batch loop (``eve_consumer._fastfeed``) reads a plain line with
the msgspec structs of :mod:`sakimori.eve.typed` instead of ``orjson`` + ``Decoder._build``;
the pure batch loop and the per-line reference loop (``Decoder.reference``: every wanted line
through ``orjson``) keep the ordinary path. All three must count the same (decoded, bad with
their reasons and examples) and build the same ``dns_names`` on the real DNS answers of the
public slips capture's EVE (stratosphereips, GPL-2.0) and on hostile variants of them: wrong
types, escaped and duplicated keys, numbers msgspec reads where orjson refuses them (overflow,
309 digits), bytes that are not UTF-8, deep nesting, values out of range, odd answers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from engines import missing

from eve_consumer.context import Context
from eve_consumer.fastfeed import compiled_loop
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.eve.lines import Batch

SLIPS_HOME = ["192.168.0.0/16"]


def _variants(line: bytes) -> list[bytes]:
    """Hostile and odd versions of one real DNS answer line."""
    body = line[:-1]
    subs = [
        (rb'"flow_id":\d+', b'"flow_id":' + str(2**63).encode()),
        (rb'"flow_id":\d+', b'"flow_id":"7"'),
        (rb'"src_port":\d+', b'"src_port":65536'),
        (rb'"src_port":\d+', b'"src_port":53.0'),
        (rb'"src_port":\d+', b'"src_port":true'),
        (rb'"proto":"UDP"', b'"proto":null'),
        (rb'"proto":"UDP"', b'"proto":17'),
        (rb'"src_ip":"[^"]*"', b'"src_ip":5'),
        (rb'"timestamp":"[^"]*"', b'"timestamp":"yesterday"'),
        (rb'"timestamp":"[^"]*"', b'"timestamp":"2999-01-01T00:00:00.000000+0000"'),
        (rb'"timestamp":"[^"]*"', b'"timestamp":"2021-06-06T16:26:27+0200"'),
        (rb'"type":"answer"', b'"type":"query"'),
        (rb'"type":"answer"', b'"type":7'),
        (rb'"answers":\[', b'"answers":"x","zz":['),
        (rb'"answers":\[', b'"answers":null,"zz":['),
        (rb'"answers":\[', b'"answers":[7,'),
        (rb'"rrtype":"A"', b'"rrtype":["A"]'),
        (rb'"rdata":"[^"]*"', b'"rdata":[1,2]'),
        (rb'"rdata":"[^"]*"', b'"rdata":""'),
        (rb'"rrname":"[^"]*"', b'"rrname":"WWW.Example.COM.:53"'),
        (rb'"rrname":"[^"]*"', b'"rrname":"' + b"a" * 300 + b'.example.com"'),
        (rb'"ttl":\d+', b'"ttl":1e999'),
        (rb'"ttl":\d+', b'"ttl":' + b"9" * 400),
        (rb'"ttl":\d+', b'"ttl":1E400'),
        (rb'"ttl":\d+', b'"ttl":1e5'),
        (rb'"id":\d+', b'"id":-12345678901234567890123'),
        (rb'"flags":"[^"]*"', b'"flags":"\xff\xfe"'),
        (rb'"flags":"[^"]*"', b'"flags":"\xc3\xa9"'),
        (rb'"flags":"[^"]*"', b'"flags":"\\ud800"'),
        (rb'"src_ip"', b'"src\\u005fip":5,"src_ip"'),
        (rb'"dns":\{', b'"dns":5,"dns":{'),
        (rb'"dns":\{', b'"dns":{"type":"query"},"dns":{'),
        (rb'"event_type":"dns"', b'"event_type":"dns","event_type":"flow"'),
    ]
    out = [re.sub(pat, lambda _m, new=new: new, line, count=1) for pat, new in subs]
    out += [
        body + b',"tx_id":-1}', body + b',"tx_id":' + str(2**53).encode() + b"}",
        body + b',"tx_id":"3"}', body + b',"tx_id":1.5}',
        body + b',"flow":{"bytes_toserver":' + str(2**53).encode() + b"}}",
        body + b',"flow":{"age":-1}}', body + b',"flow":"x"}',
        body + b',"http":{"status":' + str(2**63).encode() + b"}}",
        body + b',"alert":{"gid":-1}}', body + b',"alert":{"gid":2.5}}',
        body + b',"zz":' + b"[" * 1100 + b"]" * 1100 + b"}",
        body + b',"zz":' + b"[" * 600 + b"]" * 600 + b"}",
        line + b"x", line[:-20], line + line,
    ]
    return [x for x in out if x != line]


def _run(cfg: Any, tmp: Path, lines: list[bytes], mode: str) -> dict[str, Any]:
    parsed = [0]
    with Consumer(cfg, None, tmp / mode / "out", tmp / mode / "state", mail=False) as c:
        c.fast = mode != "reference"
        c.compiled = mode == "compiled"
        c.decoder.reference = mode == "reference"
        parse = c.decoder.parse

        def counting(line: bytes, lineno: int, peek: str | None) -> Any:
            parsed[0] += peek == "dns"
            return parse(line, lineno, peek)

        c.decoder.parse = counting  # type: ignore[method-assign]
        for first in range(0, len(lines), 500):
            c.feed(Batch("dns.json", lines[first:first + 500], first + 1))
        return {"stats": json.dumps(c.decoder.stats.as_dict()),
                "dns": list(c.ctx.dns_names.items()),
                "counters": sorted(c.ctx.counters.items()), "parsed": parsed[0]}


def test_typed_dns_answers_same_as_the_ordinary_path(slips_eve: Path, tmp_path: Path) -> None:
    if compiled_loop() is None:
        missing("eve_consumer._fastfeed is not built (no C compiler at install)")
    real = [x for x in slips_eve.read_bytes().split(b"\n") if b'"event_type":"dns"' in x]
    answers = [x for x in real if b'"type":"answer"' in x and b'"answers":[' in x]
    assert len(answers) > 100
    lines = list(real)
    for x in answers[::25]:
        lines += _variants(x)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "networks": {"home": SLIPS_HOME}, "alerts": {"enabled": False},
        "whitelist": {"destinations": ["www.google.com", "*.myedimax.com", "*.example.com"]}}))
    cfg = load_config(path)
    ref = _run(cfg, tmp_path, lines, "reference")
    for mode in ("python", "compiled"):
        got = _run(cfg, tmp_path, lines, mode)
        assert got["stats"] == ref["stats"], mode
        assert got["dns"] == ref["dns"], mode
        assert got["counters"] == ref["counters"], mode
    stats = json.loads(ref["stats"])
    # not vacuous: answers decoded and learned, hostile lines rejected with their reasons,
    # and the compiled loop read most answers without the ordinary parse
    assert stats["decoded"]["dns"] > 300 and ref["dns"]
    assert len(stats["bad"]) >= 5
    typed = ref["parsed"] - got["parsed"]
    assert typed > 300, typed


def test_context_reads_the_typed_dns_as_the_dict(tmp_path: Path) -> None:
    """Context.on_dns: the same IP → name map from the dns dict and from the struct, and
    the normalised-name cache gives what normalising each time gives (long names uncached)."""
    from sakimori.eve.decode import Decoder
    from sakimori.eve.typed import dns_struct

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"networks": {"home": SLIPS_HOME}}))
    cfg = load_config(path)
    long_name = "b" * 300 + ".example.net"
    line = json.dumps({
        "timestamp": "2021-06-06T16:26:27.442512+0200", "event_type": "dns",
        "src_ip": "192.168.1.2", "dest_ip": "192.168.1.1",
        "dns": {"type": "answer", "rrname": "A.Example.COM.", "rrtype": "A",
                "answers": [{"rrname": "a.example.com", "rrtype": "A", "rdata": "198.51.100.1"},
                            {"rrname": long_name, "rrtype": "AAAA", "rdata": "2001:db8::1"},
                            {"rrname": "x", "rrtype": "CNAME", "rdata": "y"}]}}).encode()
    ev = Decoder().decode(line)
    assert ev is not None
    rec = dns_struct(line)
    assert rec is not None
    by_dict, by_struct = Context(cfg, None), Context(cfg, None)
    for _ in range(2):  # the second time from the name cache
        by_dict.on_dns(ev)
        by_struct.on_dns(type(ev)(**{**{f: getattr(ev, f) for f in ev.__struct_fields__},
                                     "data": rec.dns, "record": rec}))
    assert by_dict.dns_names == by_struct.dns_names
    assert by_dict.dns_names["198.51.100.1"] == ["a.example.com"]
    assert len(by_dict.dns_names["2001:db8::1"]) == 2
    assert long_name not in by_dict._dns_norm and "A.Example.COM." in by_dict._dns_norm


@pytest.mark.parametrize("number", [b"1e999", b"-1E400", b"9" * 309])
def test_numbers_msgspec_reads_and_orjson_refuses_stay_bad(number: bytes, tmp_path: Path
                                                           ) -> None:
    """Why the compiled loop checks a line first: msgspec alone would take these."""
    import orjson

    from sakimori.eve.typed import dns_struct

    line = (b'{"timestamp":"2021-06-06T16:26:27.442512+0200","event_type":"dns",'
            b'"src_ip":"192.168.1.2","dest_ip":"192.168.1.1","dns":{"type":"answer"},'
            b'"ttl":' + number + b"}")
    assert dns_struct(line) is not None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
