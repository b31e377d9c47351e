"""Follow mode: a real file appended to, rotated and truncated by the test.

Unit level (:class:`~eve_consumer.inputs.eve_follow.FollowInput`): partial last lines wait,
checkpoints resume exactly, rename rotation (also while stopped), copytruncate. Service level
(:meth:`~eve_consumer.pipeline.Consumer.follow`, and the ``consume --follow`` CLI stopped
with SIGTERM): real Suricata EVE (stratosphereips/StratosphereLinuxIPS
dataset/test6-malicious.suricata.json, GPL-2.0, via tests/conftest.py) fed in pieces across a
restart and a rotation gives exactly the one-shot result — nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engines import require_binary

from eve_consumer.inputs.eve_follow import FollowInput
from eve_consumer.pipeline import Consumer
from sakimori.config import load_config

CONFIG = """\
networks:
  home: [192.168.0.0/16]
alerts:
  admins: []
"""


def drain(inp: FollowInput, rounds: int = 3) -> list[tuple[bytes, int]]:
    out: list[tuple[bytes, int]] = []
    for _ in range(rounds):
        batch = inp.read_batch()
        out += [(line, batch.first + i) for i, line in enumerate(batch.lines)]
    return out


def test_partial_line_waits_until_complete(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b'{"a":1}\n{"b":')
    inp = FollowInput(eve, rotate_grace=0)
    assert drain(inp) == [(b'{"a":1}', 1)]
    cp = inp.checkpoint()
    assert cp is not None and cp.offset == 8 and cp.lineno == 1
    with eve.open("ab") as fh:
        fh.write(b"2}\n")
    assert drain(inp) == [(b'{"b":2}', 2)]
    assert inp.checkpoint().offset == eve.stat().st_size


def test_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"1\n2\n3\n")
    first = FollowInput(eve, rotate_grace=0)
    assert [n for _, n in drain(first)] == [1, 2, 3]
    cp = first.checkpoint()
    first.close()
    with eve.open("ab") as fh:
        fh.write(b"4\n5\n")
    again = FollowInput(eve, cp, rotate_grace=0)
    assert drain(again) == [(b"4", 4), (b"5", 5)]


def test_rename_rotation_finishes_the_old_file_first(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    writer = eve.open("ab")
    writer.write(b"old1\nold2\n")
    writer.flush()
    inp = FollowInput(eve, rotate_grace=0)
    assert [x for x, _ in drain(inp)] == [b"old1", b"old2"]
    os.rename(eve, tmp_path / "eve.json.1")
    writer.write(b"old3\nhalf")  # the writer has not reopened yet
    writer.flush()
    eve.write_bytes(b"new1\n")
    got = drain(inp, rounds=5)
    assert [x for x, _ in got] == [b"old3", b"half", b"new1"]
    assert got[-1][1] == 1  # line numbers restart with the new file
    assert inp.stats["rotations"] == 1
    writer.close()


def test_rotation_while_stopped_resumes_in_the_rotated_file(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"a\nb\n")
    first = FollowInput(eve, rotate_grace=0)
    drain(first)
    with eve.open("ab") as fh:
        fh.write(b"c\n")  # written after our last read, before the rotation
    cp = first.checkpoint()
    first.close()
    os.rename(eve, tmp_path / "eve.json.1")
    eve.write_bytes(b"d\n")
    again = FollowInput(eve, cp, rotate_grace=0)
    assert [x for x, _ in drain(again, rounds=4)] == [b"c", b"d"]
    assert again.stats["resumed_rotated"] == 1


def test_copytruncate_restarts_at_zero(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"x1\nx2\n")
    inp = FollowInput(eve, rotate_grace=0)
    drain(inp)
    with eve.open("r+b") as fh:
        fh.truncate(0)
    assert drain(inp, rounds=1) == []
    eve.write_bytes(b"y1\n")
    assert [x for x, _ in drain(inp)] == [b"y1"]
    assert inp.stats["truncations"] == 1


def test_file_that_appears_later(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    inp = FollowInput(eve, rotate_grace=0)
    assert drain(inp) == [] and inp.checkpoint() is None
    eve.write_bytes(b"z\n")
    assert drain(inp) == [(b"z", 1)]


# --- the service ------------------------------------------------------------------------

def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _follow(cfg_path: Path, eve: Path, out: Path, state: Path,
            until_lines: int) -> dict:
    consumer = Consumer(load_config(cfg_path), None, out, state, mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(eve, stop),
                              kwargs={"poll_s": 0.02, "interval_s": 0.05,
                                      "rotate_grace": 0.1})
    worker.start()
    try:
        _wait(lambda: consumer.decoder.stats.lines >= until_lines)
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
    return json.loads((out / "stats.json").read_text())


def _findings(out: Path) -> dict[tuple[str, str], dict]:
    by = {}
    for line in (out / "findings.jsonl").read_text().splitlines():
        f = json.loads(line)
        by[(f["host"], f["detection"])] = f  # later lines update earlier ones
    return by


def test_restart_and_rotation_lose_nothing_and_count_nothing_twice(
        tmp_path: Path, slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    # reference: one pass over the whole file
    with Consumer(load_config(cfg_path), None, tmp_path / "ref", tmp_path / "ref-state",
                  mail=False) as ref:
        ref.run_once(slips_eve)
    expected = _findings(tmp_path / "ref")
    assert ("192.168.1.129", "beacon") in expected

    eve, out, state = tmp_path / "eve.json", tmp_path / "out", tmp_path / "state"
    a, b = len(lines) // 3, 2 * len(lines) // 3
    eve.write_bytes(b"".join(lines[:a]) + lines[a][:40])  # ends in a partial line
    _follow(cfg_path, eve, out, state, a)
    with eve.open("ab") as fh:  # restart: the rest of the partial line and more
        fh.write(lines[a][40:] + b"".join(lines[a + 1:b]))
    os.rename(eve, tmp_path / "eve.json.1")  # rotated while the service was down
    eve.write_bytes(b"".join(lines[b:]))
    stats = _follow(cfg_path, eve, out, state, len(lines))

    assert stats["decode"]["lines"] == len(lines)
    assert stats["decode"]["bad"] == {}
    assert stats["input"]["resumed_rotated"] == 1
    got = _findings(out)
    assert got.keys() == expected.keys()
    for key, ref_f in expected.items():
        assert got[key]["evidence"] == ref_f["evidence"], key
        assert got[key]["first_seen"] == ref_f["first_seen"]


def test_consume_follow_cli_stops_cleanly_on_sigterm(tmp_path: Path, slips_eve: Path) -> None:
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    eve, out = tmp_path / "eve.json", tmp_path / "out"
    data = slips_eve.read_bytes()
    eve.write_bytes(data[:len(data) // 2].rsplit(b"\n", 1)[0] + b"\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg_path), "--eve",
         str(eve), "--follow", "--out", str(out), "--state-dir", str(tmp_path / "state"),
         "--interval", "0.1", "--poll", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (out / "stats.json").is_file())
        with eve.open("ab") as fh:
            fh.write(data[len(eve.read_bytes()):])
        total = data.count(b"\n")
        _wait(lambda: json.loads((out / "stats.json").read_text())["decode"]["lines"] == total)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.strip().splitlines()[-1] == str(out / "hosts.csv")
    assert "192.168.1.129" in (out / "hosts.csv").read_text()


def test_batches_are_bounded_and_lose_nothing(tmp_path: Path) -> None:
    from sakimori.eve.file import FileInput

    eve = tmp_path / "eve.json"
    eve.write_bytes(b"".join(b"line%d\n" % i for i in range(1, 26)) + b"tail")
    follow = FollowInput(eve, rotate_grace=0, max_lines=10)
    sizes = [len(follow.read_batch().lines) for _ in range(4)]
    assert sizes == [10, 10, 5, 0]
    assert follow.checkpoint().lineno == 25
    once = FileInput(eve, max_lines=10)
    got: list[tuple[bytes, int]] = []
    while (batch := once.read_batch()) is not None:
        assert len(batch.lines) <= 10
        got += [(line, batch.first + i) for i, line in enumerate(batch.lines)]
    assert got == [(b"line%d" % i, i) for i in range(1, 26)] + [(b"tail", 26)]


# --- copytruncate (issue 11 item 10) ------------------------------------------------------

def _copytruncate(eve: Path, copy: Path, gz: bool = False) -> None:
    """What logrotate's ``copytruncate`` does (then ``compress``): copy, truncate in place."""
    import gzip
    import shutil

    shutil.copyfile(eve, copy)
    with eve.open("r+b") as fh:
        fh.truncate(0)
    if gz:
        with copy.open("rb") as src, gzip.open(f"{copy}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        copy.unlink()


def _numbered(a: int, b: int) -> bytes:
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 50)) for i in range(a, b))


def test_copytruncate_while_running_reads_the_tail_from_the_copy(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    writer = eve.open("ab")
    writer.write(_numbered(0, 500))
    writer.flush()
    inp = FollowInput(eve, rotate_grace=0)
    assert len(drain(inp)) == 500
    writer.write(_numbered(500, 800))  # written, not yet read when logrotate runs
    writer.flush()
    _copytruncate(eve, tmp_path / "eve.json.1")
    writer.write(_numbered(800, 900))  # the writer goes on in the truncated file
    writer.flush()
    got = [json.loads(x)["n"] for x, _ in drain(inp, rounds=8)]
    assert got == list(range(500, 900))
    assert inp.stats["truncations"] == 1 and inp.stats["truncations_recovered"] == 1
    assert inp.stats["truncated_unread"] == 0


@pytest.mark.parametrize("gz", [False, True], ids=["plain copy", "gzip copy"])
def test_truncated_and_regrown_while_stopped(tmp_path: Path, gz: bool) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(_numbered(0, 300))
    first = FollowInput(eve, rotate_grace=0)
    assert len(drain(first)) == 300
    cp = first.checkpoint()
    first.close()
    with eve.open("ab") as fh:
        fh.write(_numbered(300, 400))
    _copytruncate(eve, tmp_path / "eve.json.1", gz=gz)
    eve.write_bytes(_numbered(1000, 1600))  # regrown past the old offset: size says nothing
    assert eve.stat().st_size > cp.offset
    again = FollowInput(eve, cp, rotate_grace=0)
    got = [json.loads(x)["n"] for x, _ in drain(again, rounds=8)]
    assert got == list(range(300, 400)) + list(range(1000, 1600))
    assert again.stats["truncations_recovered"] == 1


def test_truncation_without_a_copy_is_counted_as_a_loss(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(_numbered(0, 300))
    first = FollowInput(eve, rotate_grace=0)
    drain(first)
    cp = first.checkpoint()
    first.close()
    eve.write_bytes(_numbered(1000, 1600))  # truncated and regrown, the copy deleted
    again = FollowInput(eve, cp, rotate_grace=0)
    got = [json.loads(x)["n"] for x, _ in drain(again, rounds=8)]
    assert got == list(range(1000, 1600))  # from the start of the new content, not mid-way
    assert again.stats["truncated_unread"] == 1


def test_service_reports_copytruncate_in_stats(tmp_path: Path, slips_eve: Path) -> None:
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    eve, out, state = tmp_path / "eve.json", tmp_path / "out", tmp_path / "state"
    a, b = len(lines) // 3, 2 * len(lines) // 3
    eve.write_bytes(b"".join(lines[:a]))
    _follow(cfg_path, eve, out, state, a)
    with eve.open("ab") as fh:
        fh.write(b"".join(lines[a:b]))
    _copytruncate(eve, tmp_path / "eve.json.1", gz=True)
    eve.write_bytes(b"".join(lines[b:]))
    stats = _follow(cfg_path, eve, out, state, len(lines))
    assert stats["decode"]["lines"] == len(lines) and stats["decode"]["bad"] == {}
    assert stats["input"]["truncations_recovered"] == 1
    assert stats["input"].get("truncated_unread", 0) == 0


@pytest.mark.parametrize("gz", [False, True], ids=["plain copy", "gzip copy"])
def test_restart_while_reading_the_copy(tmp_path: Path, gz: bool) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(_numbered(0, 100))
    inp = FollowInput(eve, rotate_grace=0, max_lines=50)
    assert len(drain(inp, rounds=2)) == 100
    with eve.open("ab") as fh:
        fh.write(_numbered(100, 300))
    _copytruncate(eve, tmp_path / "eve.json.1", gz=gz)
    eve.write_bytes(_numbered(1000, 1100))
    got = [json.loads(x)["n"] for x, _ in drain(inp, rounds=1)]  # truncation seen, 50 read
    assert got == list(range(100, 150))
    cp = inp.checkpoint()
    inp.close()
    again = FollowInput(eve, cp, rotate_grace=0, max_lines=50)
    got = [json.loads(x)["n"] for x, _ in drain(again, rounds=12)]
    assert got == list(range(150, 300)) + list(range(1000, 1100))


def test_copytruncate_after_we_read_past_the_copy_is_no_loss(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    writer = eve.open("ab")
    writer.write(_numbered(0, 500))
    writer.flush()
    inp = FollowInput(eve, rotate_grace=0)
    drain(inp)
    import shutil

    shutil.copyfile(eve, tmp_path / "eve.json.1")  # logrotate copies...
    writer.write(_numbered(500, 520))  # ...the writer goes on, we read it...
    writer.flush()
    assert len(drain(inp)) == 20
    with eve.open("r+b") as fh:  # ...and logrotate truncates
        fh.truncate(0)
    writer.write(_numbered(1000, 1010))
    writer.flush()
    got = [json.loads(x)["n"] for x, _ in drain(inp, rounds=4)]
    assert got == list(range(1000, 1010))
    assert inp.stats["truncations_nothing_unread"] == 1 and not inp.stats["truncated_unread"]


def test_real_logrotate_copytruncate_compress_loses_nothing(tmp_path: Path,
                                                           slips_eve: Path) -> None:
    import shutil

    logrotate = shutil.which("logrotate", path="/usr/sbin") or require_binary("logrotate")
    lines = slips_eve.read_bytes().splitlines(keepends=True)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG)
    eve, out, state = tmp_path / "eve.json", tmp_path / "out", tmp_path / "state"
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{eve} {{\n  copytruncate\n  compress\n  rotate 3\n}}\n")
    a, b = len(lines) // 3, 2 * len(lines) // 3
    writer = eve.open("ab")
    writer.write(b"".join(lines[:a]))
    writer.flush()
    consumer = Consumer(load_config(cfg_path), None, out, state, mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(eve, stop), kwargs={
        "poll_s": 2.0, "interval_s": 0.05, "rotate_grace": 0.1})
    worker.start()
    try:
        _wait(lambda: consumer.decoder.stats.lines >= a)
        writer.write(b"".join(lines[a:b]))  # written while the consumer sleeps...
        writer.flush()
        subprocess.run([logrotate, "-f", "-s", str(tmp_path / "lr.state"), str(conf)],
                       check=True, capture_output=True, timeout=60)
        assert (tmp_path / "eve.json.1.gz").is_file() and eve.stat().st_size == 0
        writer.write(b"".join(lines[b:]))  # ...and the writer goes on in the truncated file
        writer.flush()
        _wait(lambda: consumer.decoder.stats.lines >= len(lines))
        time.sleep(0.2)
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
        writer.close()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["decode"]["lines"] == len(lines) and stats["decode"]["bad"] == {}
    assert stats["input"]["truncations_recovered"] == 1
    assert not stats["input"].get("truncated_unread")
