"""Counters (issue 11 item 12): exact, bounded, and the same across a restart.

Real Suricata EVE (stratosphereips test6-malicious, via tests/conftest.py), damaged the ways
a file gets damaged: a writer killed mid-line and the next line appended to the stump;
forged timestamps and event types by the ten thousand; a restart and rotations in between.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from eve_consumer.pipeline import Consumer
from sakimori.config import load_config

CONFIG = "networks:\n  home: [192.168.0.0/16]\nalerts:\n  admins: []\n"


def _cfg(tmp: Path) -> Path:
    p = tmp / "cfg.yaml"
    p.write_text(CONFIG)
    return p


def _run(cfg: Path, eve: Path, out: Path, baselines: dict | None = None) -> dict:
    with Consumer(load_config(cfg), baselines, out, out / "state", mail=False) as c:
        c.run_once(eve)
    return json.loads((out / "stats.json").read_text())


def test_cut_lines_are_bad_not_used_from_the_bytes(tmp_path: Path, slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    clean = _run(_cfg(tmp_path), slips_eve, tmp_path / "clean")["decode"]
    assert clean["bad"] == {} and clean["fast"] and clean["ignored"]
    # A writer killed in the middle of a line, the next event appended to the stump: the
    # joined line ends in "}" and has no null — it used to be used or skipped unparsed.
    damaged, cut = [], 0
    for i, line in enumerate(lines):
        if i % 7 == 3 and i + 1 < len(lines):
            damaged.append(line[:len(line) // 2])
            cut += 1
        else:
            damaged.append(line)
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"".join(damaged))
    got = _run(_cfg(tmp_path), eve, tmp_path / "out")["decode"]
    # every stump swallowed the following line: each pair is one bad line, nothing else
    used = sum(got["decoded"].values()) + sum(got["fast"].values())
    assert got["lines"] == len(lines) - cut
    assert sum(got["bad"].values()) == cut
    assert got["bad"] == {"not valid JSON (truncated or garbage line)": cut}
    assert used + sum(got["ignored"].values()) + cut == got["lines"]


def test_forged_times_and_types_do_not_become_counter_keys(tmp_path: Path,
                                                            slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines()
    flow = next(x for x in lines if b'"event_type":"flow"' in x  # outbound: parsed
                and b'"src_ip":"192.168.1.129"' in x and b'"pkts_toclient":0' not in x)
    ts = json.loads(flow)["timestamp"].encode()
    n = 5000
    forged = []
    for i in range(n):
        forged.append(flow.replace(ts, b"2021-13-%02dT99:00:00.%06d+0200" % (i % 90, i)))
        forged.append(flow.replace(b'"event_type":"flow"', b'"event_type":"x%d"' % i))
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"\n".join(lines + forged) + b"\n")
    stats = _run(_cfg(tmp_path), eve, tmp_path / "out")
    dec = stats["decode"]
    assert dec["bad"] == {"field 'timestamp' not ISO 8601 or not in 1970-2199": n}
    assert len(dec["ignored"]) <= 48  # a few dozen types + "<kind> (prefiltered)" keys
    assert dec["ignored"]["other"] >= n - 48
    assert len(dec["examples"]) == 5 and "2021-13-" in dec["examples"][0]
    assert (tmp_path / "out" / "stats.json").stat().st_size < 20_000


def test_prevalence_suppressions_are_a_gauge_not_a_sum(tmp_path: Path,
                                                       slips_eve: Path) -> None:
    # the beaconing host's destination, declared common in the baselines
    baselines = {"traffic": {"destinations": {"122.248.252.67": 10}, "n_internal_hosts": 10}}
    out = tmp_path / "out"
    with Consumer(load_config(_cfg(tmp_path)), baselines, out, out / "state",
                  mail=False) as c:
        c.run_once(slips_eve)
        first = c.ctx.counters["beacon_suppressed_prevalent"]
        for _ in range(3):
            c.evaluate(follow=False)
        again = json.loads((out / "stats.json").read_text())["counters"]
    assert first >= 1
    assert again["beacon_suppressed_prevalent"] == first


def _follow(cfg: Path, eve: Path, out: Path, until_lines: int) -> dict:
    consumer = Consumer(load_config(cfg), None, out, out / "state", mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(eve, stop), kwargs={
        "poll_s": 0.02, "interval_s": 0.05, "rotate_grace": 0.1})
    worker.start()
    try:
        end = time.monotonic() + 30
        while consumer.decoder.stats.lines < until_lines:
            assert time.monotonic() < end, "timed out"
            time.sleep(0.02)
        time.sleep(0.3)  # a rotation of an idle file is noticed after rotate_grace
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
    return json.loads((out / "stats.json").read_text())


def test_counters_survive_a_restart(tmp_path: Path, slips_eve: Path) -> None:
    cfg = _cfg(tmp_path)
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    ref = _run(cfg, slips_eve, tmp_path / "ref")["decode"]
    eve, out = tmp_path / "eve.json", tmp_path / "out"
    a, b = len(lines) // 3, 2 * len(lines) // 3
    eve.write_bytes(b"".join(lines[:a]))
    _follow(cfg, eve, out, a)
    with eve.open("ab") as fh:
        fh.write(b"".join(lines[a:b]))
    os.rename(eve, tmp_path / "eve.json.1")  # rotated while stopped: run 2 resumes in .1
    _follow(cfg, eve, out, b)
    eve.write_bytes(b"".join(lines[b:]))  # the new file appears while stopped: run 3
    stats = _follow(cfg, eve, out, len(lines))  # resumes in .1 again, then rotates
    dec = stats["decode"]
    assert dec["lines"] == len(lines)
    for key in ("decoded", "fast", "ignored", "bad"):
        assert dec[key] == ref[key], key
    assert stats["input"]["resumed_rotated"] == 2  # runs 2 and 3, summed across restarts
    assert stats["input"]["rotations"] == 1


def test_a_state_with_runaway_keys_is_folded_on_restore() -> None:
    from sakimori.eve.decode import DecodeStats

    old = {"lines": 600_000, "ignored": {f"x{i}": 1 for i in range(500_000)},
           "bad": {f"field 'timestamp' not ISO 8601: '{i}'": 1 for i in range(100_000)},
           "examples": ["a:1: x"] * 9}
    st = DecodeStats()
    st.restore(old)
    assert st.lines == 600_000 and len(st.examples) == 5
    assert len(st.ignored) <= 33 and sum(st.ignored.values()) == 500_000
    assert len(st.bad) <= 33 and sum(st.bad.values()) == 100_000
