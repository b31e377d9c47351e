"""Consumer report fixtures shared by the tests that compare two ways of running the consumer
(tests/test_consumer_fastfeed.py: the batch loops against the per-line loop;
tests/test_flowgate.py: the compiled flow gates against the handlers' own ``handle``):
a small config, a report read back for comparison and hostile variants of real lines (the
EVE real Suricata writes for each capture of ``shared/data/real`` is conftest's
``real_eves``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from sakimori.config import load_config

SLIPS_HOME = ["192.168.0.0/16"]


def report(out: Path) -> dict[str, Any]:
    """hosts.csv, findings.jsonl and stats.json of a run in *out* (stats without its timing;
    the loop that ran apart, as ``loop``)."""
    stats = json.loads((out / "stats.json").read_text())
    loop = stats.pop("timing")["loop"]
    return {"csv": (out / "hosts.csv").read_text(),
            "findings": (out / "findings.jsonl").read_text(), "stats": stats, "loop": loop}


def config(tmp: Path, home: list[str], queue_size: int = 10_000,
            max_line_bytes: int = 1 << 20) -> Any:
    """A config with *home* networks, alerts off, the given consumer limits (file in *tmp*)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "networks": {"home": home}, "alerts": {"enabled": False},
        "consumer": {"queue_size": queue_size, "max_line_bytes": max_line_bytes}}))
    return load_config(path)


def broken(lines: list[bytes]) -> list[bytes]:
    """Hostile and odd variants of real lines (each a full line without its newline)."""
    flow = next(x for x in lines if b'"event_type":"flow"' in x
                and b'"src_ip":"192.168.1.129"' in x and b'"proto":"TCP"' in x
                and b'"pkts_toclient":0' not in x)
    inbound = next(x for x in lines if b'"event_type":"flow"' in x
                   and b'"dest_ip":"192.168.' in x and b'"src_ip":"192.168.' not in x)
    other = re.sub(rb'"dest_ip":"[^"]*"', b'"dest_ip":"198.51.100.7"',
                   flow.replace(b'"src_ip":"192.168.1.129"', b'"src_ip":"203.0.113.9"'))
    some = [x for x in lines if b'"event_type":"' in x][:: max(1, len(lines) // 40)][:40]
    out = [
        flow[: len(flow) // 2],  # cut short
        flow[: len(flow) // 2] + flow,  # cut and continued by the next record
        flow + flow,  # two records on one line
        flow.replace(b'"src_ip":"192.168.1.129"', b'"src_ip":192168'),  # wrong type
        flow.replace(b'"src_port":', b'"src_port":-'),
        re.sub(rb'"dest_port":\d+', b'"dest_port":65536', flow),
        re.sub(rb'"flow_id":\d+', b'"flow_id":"12"', flow),
        re.sub(rb'"flow_id":\d+', str(2**63).encode().join([b'"flow_id":', b""]), flow),
        re.sub(rb'"bytes_toserver":\d+', b'"bytes_toserver":1.5', flow),
        re.sub(rb'"age":\d+', b'"age":null', flow),
        re.sub(rb'"timestamp":"[^"]*"', b'"timestamp":"yesterday"', flow),
        re.sub(rb'"timestamp":"[^"]*"', b'"timestamp":"9999-12-31T23:59:59.000000-0100"',
               flow),
        re.sub(rb'"timestamp":"([^"]*)"', rb'"timestamp":"\1","x":{"timestamp":1}', flow),
        flow.replace(b'"event_type":"flow"', b'"event_type":"flaw"'),
        flow.replace(b'"event_type":"flow"', b'"event_type":7'),
        flow.replace(b'"event_type":"flow"', b'"event_type":"stats"'),  # unwanted type
        flow.replace(b'"event_type":"flow",', b""),
        flow.replace(b'"src_ip":"192.168.1.129"', b'"src_ip":"192.168.1.12\\u0039"'),
        inbound.replace(b'"proto":"', b'"proto":"\\u0055'),
        other.replace(b"}", b',"pad":"' + b"x" * 300 + b'"}', 1),
        re.sub(rb'"timestamp":"([^"]*)"', rb'"timestamp":"\1","x":{"timestamp":1}', other),
        re.sub(rb'"age":\d+', b'"age":null', other),
        re.sub(rb'"age":\d+', b'"age":null', inbound),
        other.replace(b'"flow":{', b'"flow":{"timestamp":"x",'),
        other + b"\r",  # CRLF
        b"  " + other,  # leading blanks
        b"",
        b"   ",
        b"[1,2,3]",
        b"null",
        b'{"timestamp":"2020-01-01T00:00:00.000000+0000"}',
        b"\x00" * 50,
        b'{"timestamp":"x","event_type":"tls","flow_id":1,"tls":{"sni":"a\\"b"}}',
        b"x" * 5000,  # over max_line_bytes below
        flow.replace(b'"event_type":"flow"', b'"event_type":"flow","event_type":"dns"'),
        # not ASCII: a seconds digit float() reads (U+0660), a zone it makes unknown
        re.sub(rb'("timestamp":"[^"]{17})\d', lambda m: m.group(1) + "\u0660".encode(), flow),
        re.sub(rb'("timestamp":"[^"]{27})\d', lambda m: m.group(1) + "\u0660".encode(), flow),
    ]
    for x in some:  # every event type of the file, broken in the middle
        out.append(x[:-3])
        out.append(x.replace(b'"timestamp":"', b'"timestamp":"2', 1))
    return out
