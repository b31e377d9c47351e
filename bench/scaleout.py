"""Scale-out benchmark: events/s through Redis with one consumer and with two.

Run: ``.venv/bin/python bench/scaleout.py [--copies N] [--out DIR]`` (also part of ``make bench``).
Workload: real Suricata 7 reads the crafted office capture of tests/test_consumer_scenario.py
(17 internal hosts, 3.5 h) once per half — the capture split by internal host, as two sensors
would see it — with its ``redis`` eve-log output pushing to two keys of a private
redis-server (free loopback port, stopped by PID). The keys are then repeated ``--copies``
times (``LRANGE``/``RPUSH`` of Suricata's own events) so the run lasts long enough to time.
Measured, with ``consume --redis … --drain --no-mail`` and ``consumer.shared`` on the same
Redis (what a scale-out deployment runs), wall time from start to exit:

- **one consumer** reading both keys;
- **two consumers** in parallel, one key each.

Printed: events, wall seconds, events/s, the consumers' CPU seconds (start-up included) and
redis-server's CPU seconds of each run, the 1-minute load average, and the ratio two/one of
events/s. The ratio is bounded by the cores free on the machine (2 here, shared with other
work): see docs/bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "tests"))

from redisd import RedisServer  # noqa: E402
from scenario import build_scenario, split_by_host  # noqa: E402

from generator.render_suricata import write_suricata  # noqa: E402
from sakimori.config import load_config  # noqa: E402
from sakimori.suricata import pcap_to_redis  # noqa: E402

KEYS = ("sensor-a", "sensor-b")


def _prepare(work: Path, server: RedisServer, copies: int) -> tuple[Path, int]:
    cfg_path, baselines, pcap, extra = build_scenario(work / "data")
    cfg = load_config(cfg_path)
    rules = [*write_suricata(cfg, json.loads(baselines.read_text()), work / "build"), extra]
    split_by_host(pcap, work / "a.pcap", work / "b.pcap")
    r = server.client()
    for key, half in zip(KEYS, ("a", "b"), strict=True):
        pcap_to_redis(cfg, work / f"{half}.pcap", work / f"sur-{half}", "127.0.0.1",
                      server.port, f"{key}-src", "rpush", rules)
        events = r.lrange(f"{key}-src", 0, -1)
        for _ in range(copies):
            for i in range(0, len(events), 5000):
                r.rpush(f"{key}-all", *events[i:i + 5000])
    total = sum(r.llen(f"{k}-all") for k in KEYS)
    conf = work / "sakimori.yaml"
    conf.write_text(cfg_path.read_text() + f"consumer:\n  shared: redis://127.0.0.1:"
                    f"{server.port}/1\nredis:\n  mode: rpush\n", encoding="utf-8")
    (work / "relays.txt").write_text((work / "data" / "relays.txt").read_text())
    return conf, total


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _server_cpu(pid: int) -> float:
    """CPU seconds the redis-server process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(conf: Path, port: int, groups: list[list[str]], state: Path) -> tuple[float, float]:
    """Start one consumer per key group at once; (wall seconds until the last exits, CPU
    seconds of the consumers)."""
    t0, c0 = time.perf_counter(), _cpu()
    procs = []
    for i, keys in enumerate(groups):
        argv = [sys.executable, "-m", "sakimori", "consume", "--config", str(conf), "--redis",
                f"redis://127.0.0.1:{port}/0", "--drain", "--no-mail",
                "--state-dir", str(state / str(i))]
        for k in keys:
            argv += ["--redis-key", k]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"consumer failed: {err.decode(errors='replace')[-500:]}")
    return time.perf_counter() - t0, _cpu() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="events/s through Redis, one and two consumers")
    p.add_argument("--copies", type=int, default=60, help="repeat each key N times (60)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "scaleout")
    args = p.parse_args(argv)
    work = args.out.resolve()
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    server = RedisServer(work / "redis").start()
    try:
        conf, total = _prepare(work, server, args.copies)
        r = server.client()
        results = {}
        for label, groups in (("one consumer", [list(KEYS)]),
                              ("two consumers", [[KEYS[0]], [KEYS[1]]])):
            for k in KEYS:  # a fresh copy of the workload for each run
                r.delete(k, "{" + k + "}:sakimori:processing", "{" + k + "}:sakimori:acked")
                r.copy(f"{k}-all", k)
            server.client(db=1).flushdb()
            s0 = _server_cpu(server.proc.pid)
            seconds, cpu = _run(conf, server.port, [[f"{k}#rpush" for k in g] for g in groups],
                           work / label.replace(" ", "-"))
            assert all(r.llen(k) == 0 for k in KEYS)
            results[label] = (seconds, total / seconds, cpu, _server_cpu(server.proc.pid) - s0)
    finally:
        server.stop()
    print(f"{'run':<16}{'events':>10}{'seconds':>10}{'events/s':>12}{'cpu s':>10}"
          f"{'redis cpu s':>13}{'load':>7}")
    load = os.getloadavg()[0]
    for label, (seconds, rate, cpu, rcpu) in results.items():
        print(f"{label:<16}{total:>10}{seconds:>10.2f}{rate:>12.0f}{cpu:>10.2f}{rcpu:>13.2f}"
              f"{load:>7.1f}")
    ratio = results["two consumers"][1] / results["one consumer"][1]
    print(f"ratio two/one: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
