"""Bounded input (issue 11 item 7): line length, label lengths, what memory holds.

- A line longer than ``consumer.max_line_bytes`` is skipped and counted as bad (file:line);
  while it is being written only ``max_line_bytes + 1`` of it is held, and the byte offsets
  stay exact (the checkpoint resumes after it).
- Host names kept in findings are at most 253 characters and other text is cut with a
  marker: real Suricata 7 over a crafted capture (scapy, tests/pcapcraft.py) of a host
  polling a server with a 4,000-character Host header and an 8,000-character URL.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest
from pcapcraft import T0, http_get, write_pcap

from eve_consumer.inputs.eve_follow import FollowInput
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config
from sakimori.suricata import read_pcaps

LIMIT = 65536
MAX_NAME, MAX_LABEL, MAX_TEXT = 253, 320, 1024  # eve_consumer.model (docs/consumer.md)
CONFIG = f"""\
networks:
  home: [192.168.0.0/16, 10.1.0.0/16]
alerts:
  admins: []
consumer:
  max_line_bytes: {LIMIT}
"""


def test_a_line_being_written_is_held_only_up_to_the_limit(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b'{"a":1}\n')
    inp = FollowInput(eve, rotate_grace=0, max_line_bytes=LIMIT, max_bytes=1 << 16)
    assert [x for x in inp.read_batch().lines] == [b'{"a":1}']
    with eve.open("ab") as fh:  # 3 MB of one line, no newline yet
        for _ in range(48):
            fh.write(b"x" * 65536)
            fh.flush()
            assert inp.read_batch().lines == []
            assert len(inp._lines.buf) <= LIMIT + 1
        fh.write(b'"}\n{"b":2}\n')
    got = []
    for _ in range(4):
        batch = inp.read_batch()
        got += [(len(x), batch.first + i) for i, x in enumerate(batch.lines)]
    assert got == [(LIMIT + 1, 2), (7, 3)]
    assert inp.checkpoint().offset == eve.stat().st_size


def test_long_lines_are_skipped_and_counted(tmp_path: Path, slips_eve: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    # a real alert line padded to 200 KB (a broken or hostile writer): valid JSON, too long
    alert = next(x for x in lines if b'"event_type":"alert"' in x)
    huge = alert.replace(b'"alert":{', b'"pad":"' + b"A" * 200_000 + b'","alert":{', 1)
    half = len(lines) // 2
    data = b"".join(lines[:half]) + huge + b"".join(lines[half:])
    # one-shot
    eve = tmp_path / "eve.json"
    eve.write_bytes(data)
    with Consumer(load_config(cfg), None, tmp_path / "o1", tmp_path / "s1", mail=False) as c:
        c.run_once(eve)
    one = json.loads((tmp_path / "o1" / "stats.json").read_text())["decode"]
    assert one["lines"] == len(lines) + 1
    assert one["bad"] == {"line longer than consumer.max_line_bytes": 1}
    assert one["examples"][0].startswith(f"{eve}:{half + 1}: line longer")
    # follow mode, the long line written in pieces
    live = tmp_path / "live.json"
    live.write_bytes(b"".join(lines[:half]))
    consumer = Consumer(load_config(cfg), None, tmp_path / "o2", tmp_path / "s2", mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(live, stop), kwargs={
        "poll_s": 0.01, "interval_s": 0.05})
    worker.start()
    try:
        with live.open("ab") as fh:
            for i in range(0, len(huge), 50_000):
                fh.write(huge[i:i + 50_000])
                fh.flush()
                time.sleep(0.02)
            fh.write(b"".join(lines[half:]))
        end = time.monotonic() + 30
        while consumer.decoder.stats.lines < len(lines) + 1:
            assert time.monotonic() < end, "timed out"
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
    two = json.loads((tmp_path / "o2" / "stats.json").read_text())["decode"]
    for key in ("lines", "bad", "decoded", "fast", "ignored"):
        assert two[key] == one[key], key


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.suricata
def test_labels_in_findings_are_capped(tmp_path: Path, require_suricata: str) -> None:
    rng = random.Random(7)
    # a DNS-like name of 4,000 characters (labels of 60) and an 8,000-character path
    host = ".".join(f"l{i:02d}" + "x" * 56 for i in range(66)) + ".example"
    path = "/q?" + "".join(rng.choice("abcdef0123456789") for _ in range(8000))
    pkts, t, port = [], T0, 42000
    while t < T0 + 3 * 3600:
        port += 1
        pkts += http_get("10.1.20.11", "198.51.100.20", host, path, sport=port, t0=t)
        t += 120 * (1 - 0.3 * rng.random())
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    cfg = load_config(cfg_path)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "poll.pcap", pkts)], tmp_path / "run", [])
    assert host.encode() in eve.read_bytes()  # Suricata logged the name whole
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        consumer.run_once(eve)
    findings = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text()
                .splitlines()]
    got = {f["detection"]: f for f in findings if f["host"] == "10.1.20.11"}
    assert {"beacon", "long_url"} <= set(got)
    for f in findings:
        for dest in f["destinations"]:
            assert len(dest) <= MAX_LABEL
            assert len(dest.split(" (")[0]) <= MAX_NAME
        for text in _strings(f):
            assert len(text) <= MAX_TEXT + 20, text[:80]
    beacon = got["beacon"]["evidence"]["pairs"][0]["destination"]
    assert len(beacon) == MAX_NAME and beacon.endswith("…")
    assert beacon[:-1] == host[:MAX_NAME - 1]
    assert got["long_url"]["evidence"]["longest"] >= 8000  # the length is still reported


@pytest.mark.suricata
def test_tracked_hosts_are_bounded_and_drops_counted(tmp_path: Path, require_suricata: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pkts, port = [], 43000
    for h in range(4):  # four hosts, two long-URL requests each
        for r in range(2):
            port += 1
            pkts += http_get(f"10.1.20.{11 + h}", "198.51.100.20", "files.example.net",
                             "/d?" + "a" * 300, sport=port, t0=T0 + 60 * (2 * h + r))
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG + "traffic:\n  url_length_threshold: 100\n")
    cfg = load_config(cfg_path)
    eve = read_pcaps(cfg, [write_pcap(tmp_path / "urls.pcap", pkts)], tmp_path / "run", [])
    monkeypatch.setattr("eve_consumer.model.MAX_HOSTS", 2)  # the bound, made small
    with Consumer(cfg, None, tmp_path / "out", tmp_path / "state", mail=False) as consumer:
        rows = consumer.run_once(eve)
    assert sorted(r.host for r in rows) == ["10.1.20.11", "10.1.20.12"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["counters"]["long_url_hosts_dropped"] == 4
