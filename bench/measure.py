"""Process measurements: wall time, CPU time and peak RSS of one child process.

Every measured program (Suricata, ``bench/child.py``) runs as its own child, started and reaped
by the small launcher ``bench/launch.py`` with ``os.wait4``, so its resource usage
(``ru_maxrss``, user+system time) is that process's alone — not the maximum over every child
as ``RUSAGE_CHILDREN`` would give, nor inflated by the benchmark's own memory. Suricata is started
exactly as :func:`sakimori.suricata.read_pcaps` starts it (same rendered configuration, same
arguments, ``--runmode single``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sakimori.config import Config, load_config
from sakimori.suricata import find_binary, render_offline_yaml

CHILD = Path(__file__).resolve().parent / "child.py"
LAUNCH = Path(__file__).resolve().parent / "launch.py"
_PACKETS = re.compile(r"read (\d+) files?, (\d+) packets, (\d+) bytes")


class BenchError(RuntimeError):
    """A measured step failed; the message names it and where its output is."""



def part_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments shared by the in-process benches of one part of ``consume --workers``
    (``bench/split_part.py``, ``bench/worker_part.py``): the configuration and large EVE a
    ``bench/run.py --keep --out DIR`` run left, the worker count, a CPU to pin to."""
    p = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--eve", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cpu", type=int, help="pin to this CPU")
    return p


def pinned_config(args: argparse.Namespace) -> Config:
    """Pin this process to ``args.cpu`` (when given) and load ``args.config``."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    return load_config(args.config)

@dataclass
class ProcRun:
    """One finished child process (figures from ``bench/launch.py``)."""

    wall_s: float
    cpu_s: float
    maxrss_kb: int
    returncode: int
    log: Path
    floor_kb: int = 0


def run_measured(argv: Sequence[str], log: Path, cwd: Path | None = None) -> ProcRun:
    """Run *argv* through the launcher, stdout+stderr to *log*; wall time from start to
    reaping, CPU time and peak RSS of that process alone."""
    log.parent.mkdir(parents=True, exist_ok=True)
    result = log.with_suffix(".proc.json")
    result.unlink(missing_ok=True)
    launcher = [sys.executable, "-S", str(LAUNCH), str(result), str(log), "--", *argv]
    proc = subprocess.run(launcher, cwd=cwd, stdin=subprocess.DEVNULL, check=False,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not result.is_file():
        raise BenchError(f"launcher failed (exit {proc.returncode}): {proc.stderr.strip()}")
    r = json.loads(result.read_text(encoding="utf-8"))
    return ProcRun(r["wall_s"], r["cpu_s"], r["maxrss_kb"], r["returncode"], log,
                   r["floor_kb"])


def _tail(log: Path, n: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return "(no output)"


def suricata(cfg: Config, pcap: Path, run_dir: Path, rule_files: Sequence[Path]) -> ProcRun:
    """One offline Suricata run over *pcap* into *run_dir* (EVE at ``run_dir/eve.json``)."""
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "eve.json").unlink(missing_ok=True)
    conf = run_dir / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, run_dir, rule_files), encoding="utf-8")
    argv = [find_binary(cfg), "-c", str(conf), "-r", str(pcap.resolve()), "-l", str(run_dir),
            "-k", "none", "--runmode", "single"]
    run = run_measured(argv, run_dir / "suricata.log", cwd=run_dir)
    if run.returncode != 0 or not (run_dir / "eve.json").is_file():
        raise BenchError(f"suricata failed (exit {run.returncode}): {_tail(run.log)}")
    return run


def packets_read(log: Path) -> tuple[int, int] | None:
    """(packets, bytes) Suricata says it read, from its log."""
    m = _PACKETS.search(log.read_text(errors="replace"))
    return (int(m.group(2)), int(m.group(3))) if m else None


def child(mode: str, work: Path, *, config: Path, eve: Path, cpu: int | None = None,
          extra: Sequence[str] = ()) -> tuple[ProcRun, dict[str, Any]]:
    """Run ``bench/child.py MODE`` in *work*; return the process figures and its result."""
    work.mkdir(parents=True, exist_ok=True)
    result = work / f"{mode}.result.json"
    result.unlink(missing_ok=True)
    argv = [sys.executable, str(CHILD), mode, "--config", str(config), "--eve", str(eve),
            "--out", str(work / "report"), "--result", str(result), *extra]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    run = run_measured(argv, work / f"{mode}.log")
    if run.returncode != 0 or not result.is_file():
        raise BenchError(f"bench child {mode!r} failed (exit {run.returncode}): "
                         f"{_tail(run.log)} — see {run.log}")
    return run, json.loads(result.read_text(encoding="utf-8"))


def one_core() -> tuple[int, dict[int, float]]:
    """The core the one-core figures are pinned to: the fastest allowed core right now
    (on a shared VM one vCPU can be much slower than the other), and every core's check."""
    speeds = {cpu: calibrate(cpu) for cpu in sorted(os.sched_getaffinity(0))}
    return min(speeds, key=lambda c: speeds[c]), speeds


def calibrate(cpu: int, n: int = 5) -> float:
    """Seconds of a fixed pure-Python loop on *cpu* (best of *n*), in a fresh child: shows how
    fast that core is right now (shared or throttled cores make every figure noisier)."""
    code = (f"import os,time\nos.sched_setaffinity(0,{{{cpu}}})\nbest=9e9\n"
            f"for _ in range({n}):\n t=time.perf_counter();sum(range(10_000_000))\n"
            " best=min(best,time.perf_counter()-t)\nprint(best)")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
