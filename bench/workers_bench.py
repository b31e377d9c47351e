"""Figure 2b of ``bench/run.py``: ``consume --workers N`` against one worker (docs/bench.md).

Both runs are child processes that are not pinned (the figure needs every core), alternating;
the notes give the CPU seconds of all processes, the CPU-bound ceiling on N free cores and
the load average before each run, so a reader can tell what the machine allowed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
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


def workers(b: Any, big_path: Path, events: int) -> None:
    """Figure 2b: ``consume --workers N`` against one worker, both unpinned (all cores)."""
    n = b.args.workers
    runs: dict[str, list[dict[str, Any]]] = {"one": [], "many": []}
    base = ["--baselines", str(b.out / "baselines.json")]
    with step(f"consume with 1 and with {n} workers over {events:,} events, "
              f"{b.args.big_reps}× each (child processes, not pinned)"):
        try:
            for i in range(b.args.big_reps):
                order = ("one", "many") if i % 2 == 0 else ("many", "one")
                for name in order:
                    load = os.getloadavg()[0]
                    if name == "one":
                        run, res = measure.child("consume", b.out / "big-one", config=b.cfg_path,
                                                 eve=big_path, extra=base)
                        res = {**res, "wall_s": res["total_s"], "cpu_s": run.cpu_s}
                    else:
                        run, res = measure.child("consume-workers", b.out / "big-many",
                                                 config=b.cfg_path, eve=big_path,
                                                 extra=[*base, "--workers", str(n)])
                        res = {**res, "wall_s": res["run_s"], "cpu_s": run.cpu_s}
                    runs[name].append({**res, "load_before": load})
        except BenchError as exc:  # e.g. a consumer without eve_consumer.workers
            b.notes.append(f"workers: not measured ({str(exc)[:160]})")
            return
    b.raw["workers"] = runs
    one, many = (median([r["wall_s"] for r in runs[k]]) for k in ("one", "many"))
    speedup = ratio(one, many)
    b.figures.append(Figure(
        "workers_speedup", f"consume --workers {n}, {events:,} events, wall (median of "
        f"{len(runs['many'])})", ratio(events, many), "ev/s", "one worker, same file",
        ratio(events, one), speedup, f"ratio ≥ {table.GOAL_WORKERS_SPEEDUP}",
        speedup >= table.GOAL_WORKERS_SPEEDUP))
    cpu = {k: median([r["cpu_s"] for r in runs[k]]) for k in runs}
    loads = [r["load_before"] for rs in runs.values() for r in rs]
    # What the work allows on n free cores: one worker's CPU over the busiest worker's
    # (worker 0's timed CPU, or the mean of the others' whole CPU).
    one_cpu = median([r["run_cpu_s"] for r in runs["one"]])
    busiest = median([max(r["run_cpu_s"], r["workers_cpu_s"] / max(1, n - 1))
                      for r in runs["many"]])
    b.notes.append(
        f"workers: wall s one {spread([r['wall_s'] for r in runs['one']])}, {n} workers "
        f"{spread([r['wall_s'] for r in runs['many']])}; CPU s (all processes) median "
        f"{cpu['one']:.2f} vs {cpu['many']:.2f} ({ratio(cpu['many'], cpu['one']):.2f} × one "
        f"worker's CPU: each worker reads and sorts every line); CPU-bound ceiling on {n} "
        f"free cores (one worker's CPU ÷ the busiest worker's) {ratio(one_cpu, busiest):.2f}; "
        f"1-min load average before the runs {min(loads):.2f}–{max(loads):.2f} on "
        f"{os.cpu_count()} CPUs; same hosts reported: "
        f"{sorted({r['hosts'] for rs in runs.values() for r in rs})}")
