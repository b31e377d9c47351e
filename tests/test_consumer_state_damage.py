"""A damaged state store: one clear line, the file left as it is — never a traceback.

The consumer's ``state.sqlite`` is its own file, but it outlives versions and disks: a row can
come back damaged. Real state is made by following real Suricata EVE
(stratosphereips/StratosphereLinuxIPS test6-malicious.suricata.json, via tests/conftest.py);
then seeded damage of every handler's saved snapshot (a value replaced by one of another
type or shape, a list cut short) is written back, and a new consumer restores it and
evaluates. Each damaged state must either be read back and evaluated without an exception,
or refused with :class:`~eve_consumer.store.StateUnreadable` naming the file and the
handler — and every row of the file must be unchanged after a refusal. The CLI prints that
one line and exits 1.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SLIPS_EVE
from engines import require_path

from eve_consumer.pipeline import Consumer
from eve_consumer.store import StateStore, StateUnreadable
from sakimori.config import load_config

CONFIG = """\
networks:
  home: [192.168.0.0/16]
alerts:
  admins: []
"""

# Replacements of another type or shape than the value they replace.
ODD_VALUES: list[Any] = [None, [], {}, "x", -1, 1e308, [[1]], {"a": [2]}, "2026-13-99", True]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config, state dir) after following the whole real EVE once."""
    slips_eve = require_path(SLIPS_EVE)
    base = tmp_path_factory.mktemp("state")
    cfg = base / "cfg.yaml"
    cfg.write_text(CONFIG)
    total = slips_eve.read_bytes().count(b"\n")
    consumer = Consumer(load_config(cfg), None, base / "out", base / "state", mail=False)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.follow, args=(slips_eve, stop),
                              kwargs={"poll_s": 0.02, "interval_s": 0.05, "rotate_grace": 0.1})
    worker.start()
    try:
        end = time.monotonic() + 60
        while consumer.decoder.stats.lines < total and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(30)
        consumer.close()
    assert consumer.decoder.stats.lines == total
    return cfg, base / "state"


def _rows(state: Path) -> dict[str, Any]:
    with sqlite3.connect(state / StateStore.FILENAME) as db:
        return {n: json.loads(b) for n, b in db.execute("SELECT name, state FROM handler_state")}


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside *value* (dict keys and list indexes)."""
    out = [at] if at else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):  # the first items stand for the rest
            out += _paths(v, (*at, i))
    return out


def _damaged(state: Any, path: tuple[Any, ...], rnd: random.Random) -> Any:
    copy = json.loads(json.dumps(state))
    parent = copy
    for k in path[:-1]:
        parent = parent[k]
    old = parent[path[-1]]
    if isinstance(old, list) and old and rnd.random() < 0.3:
        parent[path[-1]] = old[: rnd.randrange(len(old))]  # cut short
    else:
        parent[path[-1]] = rnd.choice([v for v in ODD_VALUES if type(v) is not type(old)])
    return copy


def _dump(state_dir: Path) -> list[str]:
    """Every row of the store as SQL (the file's own bytes change when SQLite opens it)."""
    with sqlite3.connect(state_dir / StateStore.FILENAME) as db:
        return list(db.iterdump())


def _write(state_dir: Path, name: str, state: Any) -> None:
    with sqlite3.connect(state_dir / StateStore.FILENAME) as db:
        db.execute("UPDATE handler_state SET state=? WHERE name=?",
                   (json.dumps(state).encode(), name))


def _cases(saved_rows: dict[str, Any], per_handler: int = 25) -> list[tuple[str, Any]]:
    rnd = random.Random(15)
    cases = []
    for name, state in sorted(saved_rows.items()):
        paths = _paths(state)
        for path in rnd.sample(paths, min(per_handler, len(paths))):
            cases.append((name, _damaged(state, path, rnd)))
    return cases


def test_damaged_snapshots_are_read_back_or_refused_in_one_line(
        saved: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, state = saved
    rows = _rows(state)
    assert {"beacon", "long_url"} <= rows.keys()  # the real EVE left real state
    cases = _cases(rows, 40)
    assert len(cases) > 60
    refused = 0
    for i, (name, bad) in enumerate(cases):
        copy = tmp_path / f"s{i}"
        copy.mkdir()
        (copy / StateStore.FILENAME).write_bytes((state / StateStore.FILENAME).read_bytes())
        _write(copy, name, bad)
        before = _dump(copy)
        with Consumer(load_config(cfg), None, tmp_path / f"o{i}", copy, mail=False) as c:
            try:
                c.restore()
            except StateUnreadable as exc:
                refused += 1
                text = str(exc)
                assert "\n" not in text and str(copy / StateStore.FILENAME) in text
                assert repr(name) in text or "consumer" in text, text
                assert _dump(copy) == before
                continue
            c.evaluate(follow=True)  # what was read back must also be usable
    assert 0 < refused < len(cases)  # both outcomes occur: the damage is varied


def test_a_row_that_is_not_json_is_refused(saved: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, state = saved
    (tmp_path / StateStore.FILENAME).write_bytes((state / StateStore.FILENAME).read_bytes())
    with sqlite3.connect(tmp_path / StateStore.FILENAME) as db:
        db.execute("UPDATE handler_state SET state=? WHERE name='beacon'", (b'{"pairs": [',))
    with Consumer(load_config(cfg), None, tmp_path / "o", tmp_path, mail=False) as c, \
            pytest.raises(StateUnreadable, match=r"saved state 'beacon'.*JSONDecodeError"):
        c.restore()


def test_the_cli_prints_one_line_and_exits_1(saved: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, state = saved
    copy = tmp_path / "state"
    copy.mkdir()
    (copy / StateStore.FILENAME).write_bytes((state / StateStore.FILENAME).read_bytes())
    rows = _rows(copy)
    rows["beacon"]["pairs"][0][0] = {"not": "a host"}  # a dict where a host name was
    _write(copy, "beacon", rows["beacon"])
    before = _dump(copy)
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg), "--eve", str(eve),
         "--follow", "--out", str(tmp_path / "out"), "--state-dir", str(copy)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "handler 'beacon'" in err[0] and "Traceback" not in proc.stderr
    assert _dump(copy) == before
