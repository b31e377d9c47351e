"""Child process: time one detector on one generated day (1M flows / 10k pairs by default).

``python bench/beacon/timing.py MODE --seed N`` with MODE ``sakimori`` (one evaluation at the
end), ``sakimori-hourly`` (a service evaluating after every hour) or ``rita``. The process pins
itself to one core, generates the data (untimed), then times the detector; prints one JSON
object: flows, pairs, wall and CPU seconds of the timed section, and the process's peak RSS
(``VmHWM``, generation included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

import detectors  # noqa: E402
from generate import generate  # noqa: E402
from launch import vm_hwm_kb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("sakimori", "sakimori-hourly", "rita"))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    data = generate(args.seed)
    detectors.prevalent_pairs(data)  # warm numpy paths outside the timed section
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if args.mode == "rita":
        detectors.rita_scores(data)
    else:
        detectors.sakimori_scores(data, hourly=args.mode == "sakimori-hourly")
    detectors.prevalent_pairs(data)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"mode": args.mode, "flows": int(data.ts.size), "pairs": data.n_pairs,
                      "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                      "peak_rss_mib": round(vm_hwm_kb() / 1024.0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
