"""Figure 2b of ``bench/run.py``: ``consume --workers N`` against one worker (docs/bench.md).

Both runs are child processes that are not pinned (the figure needs every core), alternating;
the notes give the CPU seconds of all processes, the CPU-bound ceiling on N free cores and
the load average before each run, so a reader can tell what the machine allowed.

Run alone, it measures figure 2b only, over the files a ``bench/run.py --keep --out DIR`` run
left in DIR (``big-eve.json``, ``sakimori.yaml``, ``baselines.json``)::

    python bench/workers_bench.py --out DIR [--workers 2] [--reps 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import measure
import table
from measure import BenchError, median
from table import Figure, ratio


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """Progress on stderr, as bench/run.py prints it."""
    print(f"==> {text}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    print(f"    ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


SPLITTERS = ("worker0", "process")


def _cpus(r: dict[str, Any]) -> list[float]:
    """CPU seconds of each process of a ``--workers`` run: worker 0 (timed), each other
    worker (its own count, from the fork), a splitter process."""
    return [r["run_cpu_s"], *r.get("worker_cpu_s", []),
            *([r["splitter_cpu_s"]] if r.get("splitter") == "process" else [])]


def _bound(r: dict[str, Any], cores: int) -> float:
    """The least wall time the run's CPU allows on *cores* free cores: the busiest process,
    or all of them shared out over the cores (N + 1 processes on N cores)."""
    cpus = _cpus(r)
    return max(max(cpus), sum(cpus) / cores)


def _processes(r: dict[str, Any], lines: int) -> str:
    """Each process's CPU seconds and µs per line of the file."""
    parts = []
    if r.get("splitter") == "process":
        parts.append(("splitter", r["splitter_cpu_s"]))
        parts.append(("worker 0", r["run_cpu_s"]))
    else:
        parts.append((f"worker 0 (splitting {r['splitter_cpu_s']:.2f} s = "
                      f"{r['splitter_cpu_s'] * 1e6 / lines:.2f} µs/line)", r["run_cpu_s"]))
    parts += [(f"worker {k}", cpu) for k, cpu in enumerate(r.get("worker_cpu_s", []), 1)]
    return ", ".join(f"{name} {cpu:.2f} s ({cpu * 1e6 / lines:.2f} µs/line)"
                     for name, cpu in parts)


def workers(b: Any, big_path: Path, events: int) -> None:
    """Figure 2b: ``consume --workers N`` against one worker, both unpinned (all cores); the
    splitter measured both ways (worker 0 — the figure — and a process of its own)."""
    n = b.args.workers
    runs: dict[str, list[dict[str, Any]]] = {"one": [], **{k: [] for k in SPLITTERS}}
    base = ["--baselines", str(b.out / "baselines.json")]
    with step(f"consume with 1 and with {n} workers (splitter: worker 0, own process) over "
              f"{events:,} events, {b.args.big_reps}× each (child processes, not pinned)"):
        try:
            for i in range(b.args.big_reps):
                order = ["one", *SPLITTERS]
                order = order[i % 3:] + order[:i % 3]  # rotate: no mode always first
                for name in order:
                    load = os.getloadavg()[0]
                    if name == "one":
                        run, res = measure.child("consume", b.out / "big-one", config=b.cfg_path,
                                                 eve=big_path, extra=base)
                        res = {**res, "wall_s": res["total_s"], "cpu_s": run.cpu_s}
                    else:
                        run, res = measure.child("consume-workers", b.out / f"big-{name}",
                                                 config=b.cfg_path, eve=big_path,
                                                 extra=[*base, "--workers", str(n),
                                                        "--splitter", name])
                        res = {**res, "wall_s": res["run_s"], "cpu_s": run.cpu_s}
                    runs[name].append({**res, "load_before": load})
        except BenchError as exc:  # e.g. a consumer without eve_consumer.workers
            b.notes.append(f"workers: not measured ({str(exc)[:160]})")
            return
    b.raw["workers"] = runs
    one, many = (median([r["wall_s"] for r in runs[k]]) for k in ("one", "worker0"))
    speedup = ratio(one, many)
    b.figures.append(Figure(
        "workers_speedup", f"consume --workers {n}, {events:,} events, wall (median of "
        f"{len(runs['worker0'])})", ratio(events, many), "ev/s", "one worker, same file",
        ratio(events, one), speedup, f"ratio ≥ {table.GOAL_WORKERS_SPEEDUP}",
        speedup >= table.GOAL_WORKERS_SPEEDUP))
    cpu = {k: median([r["cpu_s"] for r in runs[k]]) for k in runs}
    loads = [r["load_before"] for rs in runs.values() for r in rs]
    # What the work allows on n free cores: one worker's CPU over the least wall time of the
    # run's CPU on n cores (_bound).
    one_cpu = median([r["run_cpu_s"] for r in runs["one"]])
    lines = runs["one"][0]["lines"]
    b.notes.append(
        f"workers: one worker {one_cpu:.2f} s CPU ({one_cpu * 1e6 / lines:.2f} µs/line), "
        f"wall s {spread([r['wall_s'] for r in runs['one']])}; "
        f"1-min load average before the runs {min(loads):.2f}–{max(loads):.2f} on "
        f"{os.cpu_count()} CPUs; same hosts reported: "
        f"{sorted({r['hosts'] for rs in runs.values() for r in rs})}")
    for name in SPLITTERS:
        rs = runs[name]
        mid = sorted(rs, key=lambda r: _bound(r, n))[(len(rs) - 1) // 2]
        walls = [r["wall_s"] for r in rs]
        b.notes.append(
            f"workers, splitter {'= worker 0' if name == 'worker0' else 'a process'}: wall s "
            f"{spread(walls)} (ratio {ratio(one, median(walls)):.2f}); "
            f"CPU s of all processes median {cpu[name]:.2f} vs one worker's {cpu['one']:.2f} "
            f"({ratio(cpu[name], cpu['one']):.2f} ×); CPU-bound ceiling on {n} free cores (one "
            f"worker's CPU ÷ max(busiest process, all ÷ {n})) "
            f"{ratio(one_cpu, median([_bound(r, n) for r in rs])):.2f}; median run: "
            f"{_processes(mid, lines)}")


def main(argv: list[str] | None = None) -> int:
    """Figure 2b alone, over a kept ``bench/run.py`` output directory."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--out", type=Path, required=True,
                   help="a bench/run.py --keep --out directory")
    p.add_argument("--workers", type=int, default=2, help="processes (2)")
    p.add_argument("--reps", type=int, default=3, help="runs of each mode (3)")
    args = p.parse_args(argv)
    big = args.out / "big-eve.json"
    with big.open("rb") as fh:
        events = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    b = SimpleNamespace(args=SimpleNamespace(workers=args.workers, big_reps=args.reps),
                        out=args.out, cfg_path=args.out / "sakimori.yaml", raw={},
                        figures=[], notes=[])
    workers(b, big, events)
    print(table.render(b.figures))
    for note in b.notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
