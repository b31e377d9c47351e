"""Start one program and report its own wall time, CPU time and peak RSS as JSON.

Usage: ``python -S bench/launch.py RESULT.json LOG -- PROGRAM [ARG ...]``.

Why a launcher: Linux carries a process's peak-RSS record across ``fork``/``vfork`` and
``exec`` (``ru_maxrss`` of a child starts at the RSS of whatever spawned it). Spawned straight
from the benchmark, which holds the simulator and EVE data, every child would report at
least the benchmark's own peak. This launcher is a bare interpreter (stdlib only, ``-S``), so
the floor it passes on is a few MiB (``floor_kb`` in the result: its own ``VmHWM``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def vm_hwm_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    result, log, program = argv[0], argv[1], argv[3:]
    with open(log, "wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(program, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    with open(result, "w", encoding="utf-8") as fh:
        json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                   "maxrss_kb": usage.ru_maxrss, "floor_kb": vm_hwm_kb(),
                   "returncode": os.waitstatus_to_exitcode(status)}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
