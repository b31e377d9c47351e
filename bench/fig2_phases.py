"""Where figure 2's timed span goes: the consumer over one EVE file, phase by phase.

Figure 2 of ``bench/run.py`` times ``bench/child.py consume`` from the consumer's construction
to ``close()`` in a fresh, pinned process. This script repeats that span in fresh processes
(``--runs``, each one interpreter: page faults and cold caches as in the child) and splits it
into construction, reading (input, decode, handlers), evaluation and ``close()``, in CPU
seconds (``time.process_time``: robust to a shared core) with the wall time, minor page faults
and context switches beside. ``--by-type`` then feeds each event type's lines alone to a
consumer in one process (best of ``--reps``), and splits the beacon evaluation into its fold
and its scoring — the sizes of what is left to attack, not a figure of its own.

    python bench/fig2_phases.py --config bench/out/sakimori.yaml \
        --eve bench/out/office-eve.json --baselines bench/out/baselines.json --by-type

Scratch directories go under ``--out`` (default ``bench/out/fig2-phases``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def one_run(args: argparse.Namespace) -> dict[str, float]:
    """The child's timed span once, in this (fresh) process: CPU ms per phase."""
    from eve_consumer.pipeline import Consumer
    from sakimori.baselines import load_document
    from sakimori.config import load_config

    cfg, doc = load_config(args.config), load_document(args.baselines)
    out = args.out
    # as bench/child.py: an untimed construction loads the handlers' modules first
    Consumer(cfg, doc, _fresh(out / "warm"), _fresh(out / "warm-state"), mail=False).close()
    cpu = time.process_time
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w0, c0 = time.perf_counter(), cpu()
    consumer = Consumer(cfg, doc, _fresh(out / "out"), _fresh(out / "state"), mail=False)
    c1 = cpu()
    consumer.read(args.eve)
    c2 = cpu()
    consumer.evaluate(follow=False)
    c3 = cpu()
    consumer.close()
    c4, w4 = cpu(), time.perf_counter()
    r4 = resource.getrusage(resource.RUSAGE_SELF)
    return {"construct_ms": 1e3 * (c1 - c0), "read_ms": 1e3 * (c2 - c1),
            "evaluate_ms": 1e3 * (c3 - c2), "close_ms": 1e3 * (c4 - c3),
            "cpu_ms": 1e3 * (c4 - c0), "wall_ms": 1e3 * (w4 - w0),
            "minflt": float(r4.ru_minflt - r0.ru_minflt),
            "ctx_switches": float(r4.ru_nvcsw + r4.ru_nivcsw - r0.ru_nvcsw - r0.ru_nivcsw)}


def by_type(args: argparse.Namespace) -> dict[str, Any]:
    """Each event type's lines fed alone (best of ``--reps`` CPU ms), and the beacon
    evaluation of the whole file split into fold and scoring."""
    import orjson

    from eve_consumer.pipeline import Consumer
    from sakimori.baselines import load_document
    from sakimori.config import load_config
    from sakimori.eve.file import FileInput
    from sakimori.eve.lines import Batch

    cfg, doc = load_config(args.config), load_document(args.baselines)
    out = args.out
    inp = FileInput(args.eve)
    lines: list[bytes] = []
    while (batch := inp.read_batch()) is not None:
        lines += batch.lines
    groups: dict[str, list[bytes]] = {}
    for line in lines:
        try:
            kind = str(orjson.loads(line).get("event_type"))
        except (orjson.JSONDecodeError, AttributeError):
            kind = "(not JSON)"
        groups.setdefault(kind, []).append(line)
    groups["all"] = lines
    cpu = time.process_time
    result: dict[str, Any] = {"feed": {}}
    for kind, part in groups.items():
        best = float("inf")
        for _ in range(args.reps):
            consumer = Consumer(cfg, doc, _fresh(out / "out"), _fresh(out / "state"),
                                mail=False)
            c0 = cpu()
            for k in range(0, len(part), 10_000):
                consumer.feed(Batch(str(args.eve), part[k:k + 10_000], k + 1))
            best = min(best, cpu() - c0)
            consumer.close()
        result["feed"][kind] = {"lines": len(part), "ms": round(1e3 * best, 2),
                                "us_per_line": round(1e6 * best / max(1, len(part)), 3)}
    fold = score = float("inf")
    for _ in range(args.reps):
        consumer = Consumer(cfg, doc, _fresh(out / "out"), _fresh(out / "state"), mail=False)
        consumer.read(args.eve)
        beacon = [h for h in consumer.handlers if h.name == "beacon"]
        if beacon:
            c0 = cpu()
            beacon[0]._short_window()  # folds every pair's pending starts
            c1 = cpu()
            beacon[0].findings()  # scores every pair (the fold has nothing left)
            fold, score = min(fold, c1 - c0), min(score, cpu() - c1)
        consumer.close()
    if fold != float("inf"):
        result["beacon"] = {"fold_ms": round(1e3 * fold, 2), "score_ms": round(1e3 * score, 2)}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--eve", required=True, type=Path)
    p.add_argument("--baselines", type=Path)
    p.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "fig2-phases")
    p.add_argument("--runs", type=int, default=7, help="fresh processes for the span (7)")
    p.add_argument("--reps", type=int, default=5, help="--by-type: best of (5)")
    p.add_argument("--cpu", type=int, default=1, help="pin to this CPU (1)")
    p.add_argument("--by-type", action="store_true", help="also feed each event type alone")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a fresh child
    args = p.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(one_run(args)))
        return 0
    child = [sys.executable, str(Path(__file__).resolve()), "--one", "--config",
             str(args.config), "--eve", str(args.eve), "--out", str(args.out),
             "--cpu", str(args.cpu)] + (["--baselines", str(args.baselines)]
                                        if args.baselines else [])
    runs = [json.loads(subprocess.run(child, check=True, capture_output=True,
                                      text=True).stdout) for _ in range(args.runs)]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} fresh processes, CPU "
          f"{args.cpu}: best / median")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:14s} {min(values):9.1f} {statistics.median(values):9.1f}")
    if args.by_type:
        print(json.dumps(by_type(args), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
