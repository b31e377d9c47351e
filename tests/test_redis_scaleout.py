"""Scale-out proven end to end: two real Suricata processes → one real Redis → two consumers.

The crafted office capture of tests/test_consumer_scenario.py is split by internal host into
two halves (scapy); each half is read by its own Suricata 7 whose ``redis`` eve-log output
pushes to its own key (one ``list`` = LPUSH, one ``rpush``) of a private redis-server. Two
consumers (``consume --redis … --drain``, ``consumer.shared`` on the same Redis) read one key
each; ``sakimori report`` merges. The merged hosts.csv must equal the one of a single consumer
over the whole capture (also through Redis), including the chat heartbeat of the benign hosts:
two of them are in half A, four in half B, so half A alone reports them as beacons — only the
shared prevalence (both halves counted) suppresses them. Then ``kill -9`` of a consumer
mid-way (twice) and a restart: every event counted exactly once, same report, every
(host, detection) mailed once at a real SMTP sink.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redisd import RedisServer
from scenario import BENIGN, EXPECTED, build_scenario, split_by_host

from generator.render_suricata import write_suricata
from sakimori.config import load_config
from sakimori.suricata import pcap_to_redis

pytestmark = pytest.mark.suricata

SAKIMORI = [sys.executable, "-m", "sakimori"]


def _sakimori(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*SAKIMORI, *args], capture_output=True, text=True, timeout=600,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"sakimori {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
    return proc


def _config(base: Path, data: Path, shared: str, smtp_port: int = 1,
            batch: int = 200) -> Path:
    text = (data / "sakimori.yaml").read_text(encoding="utf-8")
    text = text.replace("smtp: 127.0.0.1:1", f"smtp: 127.0.0.1:{smtp_port}")
    text += f"consumer:\n  shared: {shared}\n  queue_size: {batch}\n"
    path = base / "sakimori.yaml"
    path.write_text(text, encoding="utf-8")
    (base / "relays.txt").write_text((data / "relays.txt").read_text())
    return path


def _hosts(out: Path) -> dict[str, set[str]]:
    with (out / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        return {r["host"]: set(r["detections"].split(";")) for r in csv.DictReader(fh)}


def _consume(cfg: Path, url: str, key: str, state: Path, *extra: str) -> list[str]:
    return ["consume", "--config", str(cfg), "--redis", url, "--redis-key", key, "--drain",
            "--baselines", str(state.parent / "baselines.json"), "--state-dir", str(state),
            "--out", str(state / "report"), *extra]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("scaleout")
    data = tmp / "data"
    cfg_path, baselines, pcap, extra = build_scenario(data)
    cfg = load_config(cfg_path)
    rules = [*write_suricata(cfg, json.loads(baselines.read_text()), tmp / "build"), extra]
    split_by_host(pcap, tmp / "a.pcap", tmp / "b.pcap")
    server = RedisServer(tmp / "redis").start()
    try:
        port = server.port
        pcap_to_redis(cfg, pcap, tmp / "sur-all", "127.0.0.1", port, "sensor-all", "list", rules)
        r = server.client()
        for copy in ("kill", "ref"):  # for the kill -9 test, whatever runs first
            r.copy("sensor-all", copy)
        pcap_to_redis(cfg, tmp / "a.pcap", tmp / "sur-a", "127.0.0.1", port, "sensor-a",
                      "list", rules)
        pcap_to_redis(cfg, tmp / "b.pcap", tmp / "sur-b", "127.0.0.1", port, "sensor-b",
                      "rpush", rules)
        yield {"tmp": tmp, "data": data, "server": server, "baselines": baselines}
    finally:
        server.stop()


def _copy_baselines(world: dict, state: Path) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    (state.parent / "baselines.json").write_text(world["baselines"].read_text())


def test_two_sensors_two_consumers_merge_to_the_single_consumer_report(world: dict) -> None:
    tmp, server = world["tmp"], world["server"]
    r = server.client()
    n_all, n_a, n_b = r.llen("sensor-all"), r.llen("sensor-a"), r.llen("sensor-b")
    assert n_a and n_b and n_a + n_b >= n_all * 0.95  # the halves carry the whole capture
    url = f"redis://127.0.0.1:{server.port}/0"
    # one consumer over the whole capture (shared state in its own database)
    base1 = tmp / "single"
    base1.mkdir()
    cfg1 = _config(base1, world["data"], f"redis://127.0.0.1:{server.port}/1")
    _copy_baselines(world, base1 / "s")
    _sakimori(*_consume(cfg1, url, "sensor-all", base1 / "s"))
    _sakimori("report", "--config", str(cfg1), "--out", str(base1 / "merged"))
    single = _hosts(base1 / "merged")
    assert single == _hosts(base1 / "s" / "report")
    assert {h: d for h, d in single.items() if h in EXPECTED} == EXPECTED
    assert not set(single) & set(BENIGN)
    # half A alone (no sharing): its two chat hosts look like beacons
    base0 = tmp / "alone"
    base0.mkdir()
    cfg0 = _config(base0, world["data"], "null")
    _copy_baselines(world, base0 / "s")
    r.copy("sensor-a", "sensor-a-copy")
    _sakimori(*_consume(cfg0, url, "sensor-a-copy", base0 / "s"))
    alone = _hosts(base0 / "s" / "report")
    assert {h for h, d in alone.items() if "beacon" in d} >= set(BENIGN[:2])
    # two consumers, one per sensor key, sharing state in database 2
    base2 = tmp / "two"
    base2.mkdir()
    cfg2 = _config(base2, world["data"], f"redis://127.0.0.1:{server.port}/2")
    for name in ("a", "b"):
        _copy_baselines(world, base2 / name)
    procs = [subprocess.Popen([*SAKIMORI, *_consume(cfg2, url, key, base2 / name)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, key in (("a", "sensor-a"), ("b", "sensor-b#rpush"))]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    # each consumer evaluates once more now that both have published (follow mode does this
    # every --interval): a consumer that finished first judged prevalence without the other
    for name, key in (("a", "sensor-a"), ("b", "sensor-b#rpush")):
        _sakimori(*_consume(cfg2, url, key, base2 / name))
    _sakimori("report", "--config", str(cfg2), "--out", str(base2 / "merged"))
    merged = _hosts(base2 / "merged")
    assert merged == single
    stats = json.loads((base2 / "merged" / "stats.json").read_text())
    lines = sum(c["stats"]["decode"]["lines"] for c in stats["consumers"].values())
    assert lines == n_a + n_b  # every event read exactly once
    assert r.llen("sensor-a") == r.llen("sensor-b") == 0
    assert r.llen("{sensor-a}:sakimori:processing") == 0


def _mailed(sink: object) -> list[tuple[str, str]]:
    """(host, detection) of every new finding announced in the mails at the sink."""
    pairs = []
    for msg in sink.messages:  # type: ignore[attr-defined]
        host = msg["Subject"].split("]")[1].split(":")[0].strip()
        body = msg.get_body(("plain",)).get_content()
        lines = body.splitlines()
        for line in lines[lines.index("New findings:") + 1:]:  # the mail's new findings
            if not line.startswith("  - "):
                break
            pairs.append((host, line[4:].split(":")[0]))
    return pairs


def test_kill_9_mid_way_loses_nothing_and_mails_nothing_twice(world: dict, smtp) -> None:
    tmp, server = world["tmp"], world["server"]
    r = server.client()
    url = f"redis://127.0.0.1:{server.port}/0"
    assert r.llen("kill") == r.llen("ref") > 0
    total = r.llen("kill")
    base = tmp / "kill"
    base.mkdir()
    cfg = _config(base, world["data"], f"redis://127.0.0.1:{server.port}/3", smtp.port,
                  batch=25)  # many small rounds: the kills land mid-way
    _copy_baselines(world, base / "s")
    cmd = _consume(cfg, url, "kill", base / "s", "--interval", "0")
    rng = random.Random(14)
    for kill_at in (3, 12):
        proc = subprocess.Popen([*SAKIMORI, *cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while int(r.get("{kill}:sakimori:acked") or 0) < kill_at and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        assert proc.poll() is None, "the consumer finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert r.llen("kill") > 0  # really mid-way
    _sakimori(*cmd)
    killed = _hosts(base / "s" / "report")
    stats = json.loads((base / "s" / "report" / "stats.json").read_text())
    assert stats["decode"]["lines"] == total  # no event lost, none counted twice
    # the same data without a kill (mail off) gives the same report
    ref = tmp / "kill-reference"
    ref.mkdir()
    ref_cfg = _config(ref, world["data"], f"redis://127.0.0.1:{server.port}/4")
    _copy_baselines(world, ref / "s")
    _sakimori(*_consume(ref_cfg, url, "ref", ref / "s", "--no-mail"))
    assert killed == _hosts(ref / "s" / "report")
    smtp.wait(len(killed), timeout=5)
    pairs = _mailed(smtp)
    # At least once, never lost; a repeat only when a kill landed in the instant between the
    # SMTP server's acceptance and the record (eve_consumer/outputs/mail.py): at most one
    # repeated (host) mail per kill, each repeated once.
    repeats = [p for p in set(pairs) if pairs.count(p) > 1]
    assert len({h for h, _ in repeats}) <= 2 and all(pairs.count(p) == 2 for p in repeats), \
        f"mailed twice beyond the crash window: {sorted(pairs)}"
    assert {(h, d) for h, ds in killed.items() for d in ds} <= set(pairs)
