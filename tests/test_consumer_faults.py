"""Faults from input (issue 11 item 9): one hostile EVE line never stops the consumer.

The hostile lines are real Suricata EVE lines (stratosphereips test6-malicious, via
tests/conftest.py) with one value pushed out of range — what a broken or forged writer can
put in the file and no pcap can make Suricata write: a year past 9999 once the zone is
applied, a 2**64-1 byte counter, a 2**64-1 age. Before the fix each one raised (model.iso,
numpy in the beacon series, orjson writing the finding) and, in follow mode, the checkpoint
never passed the line: the service crash-looped. Now each is rejected at decode as a bad line
(file:line, one fixed reason) — except a ``flow.start``/``end`` out of range, which
``decode.parse_ts`` refuses wherever it is parsed, so the beacon handler counts it as a bad
flow start (``beacon_bad_flow_start``) — the rest of the file is processed, and a line that
still makes a handler raise is skipped, counted and logged.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from eve_consumer.handlers.long_session import LongSessionHandler
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config

CONFIG = "networks:\n  home: [192.168.0.0/16]\nalerts:\n  admins: []\n"
BIG = str(2**64 - 1).encode()
HOSTILE = {  # name -> (pattern, replacement) applied to a real outbound TCP flow line
    "start_year_10000": (rb'"(start|end)":"[^"]*"', rb'"\1":"9999-12-31T23:59:59.000000-0100"'),
    "timestamp_year_10000": (rb'"timestamp":"[^"]*"',
                             b'"timestamp":"9999-12-31T23:59:59.000000-0100"'),
    "bytes_toserver_2e64": (rb'"bytes_toserver":\d+', b'"bytes_toserver":' + BIG),
    "age_2e64": (rb'"age":\d+', b'"age":' + BIG),
    "flow_id_2e64": (rb'"flow_id":\d+', b'"flow_id":' + BIG),
}


def _flow_line(lines: list[bytes]) -> bytes:
    """A real answered outbound TCP flow of the beaconing host (reaches every flow handler)."""
    return next(x for x in lines if b'"event_type":"flow"' in x
                and b'"src_ip":"192.168.1.129"' in x and b'"proto":"TCP"' in x
                and b'"pkts_toclient":0' not in x)


def _hostile(lines: list[bytes]) -> list[bytes]:
    base = _flow_line(lines).rstrip(b"\n")
    out = []
    for pattern, repl in HOSTILE.values():
        mutated = re.sub(pattern, repl, base)
        assert mutated != base
        out.append(mutated + b"\n")
    return out


def _findings(out: Path) -> dict[tuple[str, str], dict]:
    by = {}
    for line in (out / "findings.jsonl").read_text().splitlines():
        f = json.loads(line)
        by[(f["host"], f["detection"])] = f
    return by


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(CONFIG)
    return p


def test_hostile_values_are_bad_lines_one_shot(tmp_path: Path, cfg_path: Path,
                                               slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    with Consumer(load_config(cfg_path), None, tmp_path / "ref", tmp_path / "rs",
                  mail=False) as ref:
        ref.run_once(slips_eve)
    bad = _hostile(lines)
    half = len(lines) // 2
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"".join(lines[:half] + bad + lines[half:]))
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "st",
                  mail=False) as consumer:
        consumer.run_once(eve)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["decode"]["lines"] == len(lines) + len(bad)
    assert sum(stats["decode"]["bad"].values()) == len(bad) - 1
    assert stats["counters"]["beacon_bad_flow_start"] == 1  # the start of year 10000
    assert stats["decode"]["examples"][0].startswith(f"{eve}:{half + 2}: ")
    assert _findings(tmp_path / "out") == _findings(tmp_path / "ref")


def test_hostile_values_in_follow_mode_do_not_stop_the_service(
        tmp_path: Path, cfg_path: Path, slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    eve, out = tmp_path / "eve.json", tmp_path / "out"
    half = len(lines) // 2
    eve.write_bytes(b"".join(lines[:half]) + b"".join(_hostile(lines)))
    consumer = Consumer(load_config(cfg_path), None, out, tmp_path / "st", mail=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.follow(eve, stop, poll_s=0.02, interval_s=0.05, rotate_grace=0.1)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    total = len(lines) + len(HOSTILE)
    try:
        _wait(lambda: consumer.decoder.stats.lines >= half + len(HOSTILE) or bool(errors))
        time.sleep(0.2)  # an evaluation with the hostile lines in the state
        with eve.open("ab") as fh:  # later good lines are still read
            fh.write(b"".join(lines[half:]))
        _wait(lambda: consumer.decoder.stats.lines >= total or bool(errors))
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
    assert not errors, errors
    stats = json.loads((out / "stats.json").read_text())
    assert stats["decode"]["lines"] == total
    assert sum(stats["decode"]["bad"].values()) == len(HOSTILE) - 1
    assert stats["counters"]["beacon_bad_flow_start"] == 1
    assert ("192.168.1.129", "beacon") in _findings(out)


def test_a_line_a_handler_fails_on_is_skipped_counted_and_logged(
        tmp_path: Path, cfg_path: Path, slips_eve: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    victim = _flow_line(lines)
    victim_no = lines.index(victim) + 1
    victim_id = json.loads(victim)["flow_id"]
    real = LongSessionHandler.handle

    def flaky(self: LongSessionHandler, ev: object) -> None:
        if getattr(ev, "flow_id", None) == victim_id:
            raise OverflowError("a value this handler cannot hold")
        real(self, ev)

    monkeypatch.setattr(LongSessionHandler, "handle", flaky)
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "st",
                  mail=False) as consumer:
        consumer.decoder.prefilter = None  # every flow reaches the handlers
        consumer.run_once(slips_eve)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["decode"]["lines"] == len(lines)
    assert stats["counters"]["lines_failed_in_handler"] == 1
    assert f"{slips_eve}:{victim_no}: OverflowError" in caplog.text
    assert any(f":{victim_no}: OverflowError" in n for n in stats["notes"])
    assert ("192.168.1.129", "beacon") in _findings(tmp_path / "out")


def _wait(predicate, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_handler_failing_at_evaluation_does_not_stop_the_others(
        tmp_path: Path, cfg_path: Path, slips_eve: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(self: LongSessionHandler) -> list:
        raise ValueError("year 10000 is out of range")

    monkeypatch.setattr(LongSessionHandler, "findings", broken)
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "st",
                  mail=False) as consumer:
        consumer.run_once(slips_eve)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["counters"]["handler_findings_failed"] == 1
    assert "handler long_session: findings failed: ValueError" in caplog.text
    assert ("192.168.1.129", "beacon") in _findings(tmp_path / "out")


def test_times_out_of_range_do_not_parse_anywhere(tmp_path: Path) -> None:
    from eve_consumer.inputs.fwlog import read_fw_log
    from sakimori.eve.decode import DecodeStats, parse_ts

    for text in ("9999-12-31T23:59:59.000000-0100", "9999-12-31T23:59:59-01:00",
                 "1969-12-31T23:59:59.000000+0000", "2200-01-01T00:00:00.000000+0000"):
        with pytest.raises(ValueError):
            parse_ts(text)
    assert parse_ts("2199-12-31T23:59:59.000000+0000") > 0
    log = tmp_path / "fw.log"
    log.write_text("9999-12-31T23:59:59-01:00 gw kernel: DROP IN=eth1 OUT=eth0 "
                   "SRC=10.1.20.11 DST=198.51.100.7 PROTO=TCP SPT=40000 DPT=8443 SYN\n")
    stats = DecodeStats()
    assert list(read_fw_log(log, stats)) == [] and stats.bad_total == 1
