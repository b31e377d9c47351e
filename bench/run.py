"""sakimori benchmark: consumer throughput, consumer vs Suricata, rule cost, memory, learning.

``make bench`` runs ``.venv/bin/python bench/run.py``; ``--quick`` is a small smoke run. The
workload is made in the same run (office simulator → real Suricata with the generated rules),
every figure is set against a baseline measured in the same run, and goals are marked
PASS/MISS. Scratch data goes to ``bench/out/`` (git-ignored). See docs/bench.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import measure
import table
import workers_bench
import workload
from measure import BenchError, median
from table import Figure, fmt, ratio

from generator.render_suricata import write_suricata
from sakimori.baselines import load_document
from sakimori.config import Config, load_config
from sakimori.errors import SakimoriError
from sakimori.suricata import find_binary, read_pcaps
from sakimori_demo.officesim import SimParams

BENCH_DIR = Path(__file__).resolve().parent
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"hours": 26.0, "benign_hosts": 30, "scale": 1.0, "events": 1_000_000, "reps": 7,
             "big_reps": 3},
    "quick": {"hours": 3.0, "benign_hosts": 10, "scale": 1.0, "events": 100_000, "reps": 3,
              "big_reps": 3},
}
MIB = 1024.0
# Table order, numbered after the items of docs/bench.md.
NUMBERS = {"consumer_events_per_s": "1", "decode_events_per_s": "1b",
           "consumer_over_parse": "1c", "consumer_over_parse_office": "1d",
           "consumer_over_suricata": "2", "workers_speedup": "2b",
           "suricata_rules_over_none": "3",
           "consumer_peak_rss_mib": "4a", "consumer_peak_rss_office_mib": "4b",
           "suricata_peak_rss_mib": "4c", "learn_records_per_s": "5", "simulate_s": "6"}
GOAL_SIMULATE_S = 90.0  # office simulator at its default size (was a test's wall-clock limit)
ROWS = list(NUMBERS)


@dataclass
class Bench:
    """One benchmark run: options, paths, and everything measured so far."""

    args: argparse.Namespace
    out: Path
    data: Path
    cfg_path: Path
    cfg: Config
    cpu: int
    raw: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """Progress on stderr: what runs, and how long it took."""
    print(f"==> {text}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    print(f"    ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="sakimori benchmark (see docs/bench.md)")
    p.add_argument("--quick", action="store_true", help="small data: a smoke run (< 1 min)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="scratch directory")
    p.add_argument("--seed", type=int, default=2026, help="simulation seed (2026)")
    p.add_argument("--hours", type=float, help="simulated hours of the capture")
    p.add_argument("--benign-hosts", type=int, help="benign PCs in the simulation")
    p.add_argument("--scale", type=float, help="browsing volume multiplier of the simulation")
    p.add_argument("--events", type=int, help="minimum events in the large EVE file")
    p.add_argument("--reps", type=int, help="repetitions of the timed Suricata/consumer runs")
    p.add_argument("--big-reps", type=int, help="repetitions over the large EVE file")
    p.add_argument("--workers", type=int, default=2,
                   help="processes of the consume --workers figure (2)")
    p.add_argument("--profile", action="store_true",
                   help="also profile the consumer (cProfile) and print where the time goes")
    p.add_argument("--keep", action="store_true", help="keep the large EVE file afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    for key, value in PRESETS[args.mode].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def prepare(args: argparse.Namespace) -> Bench:
    """Simulate the office captures and write the benchmark's configuration."""
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    params = SimParams(seed=args.seed, hours=args.hours, benign_hosts=args.benign_hosts,
                       scale=args.scale)
    with step(f"simulating {args.hours:g} h, {args.benign_hosts} benign hosts, "
              f"scale {args.scale:g} (seed {args.seed}) into {data}"):
        t0 = time.perf_counter()
        workload.simulate(data, params)
        simulate_s = time.perf_counter() - t0
    cfg_path = workload.write_config(out, data)
    cpu, speeds = measure.one_core()
    bench = Bench(args, out, data, cfg_path, load_config(cfg_path), cpu)
    bench.raw["core_check_s"] = speeds
    bench.raw["workload"] = {
        "seed": args.seed, "hours": args.hours, "benign_hosts": args.benign_hosts,
        "scale": args.scale,
        "office_pcap_bytes": (data / "office.pcap").stat().st_size,
        "baseline_pcap_bytes": (data / "baseline.pcap").stat().st_size}
    default = params == SimParams(seed=args.seed)
    bench.figures.append(Figure(
        "simulate_s", "office simulator: every capture written (s)", simulate_s, "s",
        goal=f"≤ {GOAL_SIMULATE_S:g} s (default size)" if default else "",
        passed=simulate_s <= GOAL_SIMULATE_S if default else None))
    return bench


def learn(b: Bench) -> Path:
    """Suricata over the baseline capture, then the learner (timed, one core)."""
    baselines = b.out / "baselines.json"
    with step("learn: Suricata over baseline.pcap, then TrafficLearner (pinned)"):
        eve = read_pcaps(b.cfg, [b.data / "baseline.pcap"], b.out / "learn")
        _, res = measure.child("learn", b.out / "learn" / "child", config=b.cfg_path,
                               eve=eve, cpu=b.cpu,
                               extra=["--proxy-log", str(b.data / "squid-access.log"),
                                      "--out-file", str(baselines)])
    b.raw["learn"] = res
    rate = ratio(res["records"], res["run_s"])
    b.figures.append(Figure(
        "learn_records_per_s", "learn: EVE records/s (baseline day, 1 core)", rate, "rec/s",
        baseline_label=f"{res['records']:,} records of {res['lines']:,} lines in "
                       f"{res['run_s']:.2f} s = {fmt(ratio(res['lines'], res['run_s']))} lines/s"))
    return baselines


def rules(b: Bench, baselines: Path) -> list[Path]:
    """The generated rule files (static + learned), as ``analyze`` writes them."""
    with step("generate: Suricata rules from the learned baselines"):
        files = write_suricata(b.cfg, load_document(baselines), b.out / "build")
    count = sum(1 for f in files for ln in f.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.lstrip().startswith("#"))
    b.raw["rules"] = {"files": [str(f) for f in files], "rules": count}
    return files


def suricata_runs(b: Bench, rule_files: list[Path]) -> Path:
    """Suricata with the generated rules and with none, interleaved; returns the rules' EVE."""
    pcap = b.data / "office.pcap"
    variants = {"rules": rule_files, "none": []}
    with step(f"Suricata over office.pcap: warm-up, then {b.args.reps}× with rules and "
              f"{b.args.reps}× with none (interleaved)"):
        warm = measure.suricata(b.cfg, pcap, b.out / "suricata" / "rules", rule_files)
        eve = b.out / "office-eve.json"
        shutil.copyfile(b.out / "suricata" / "rules" / "eve.json", eve)
        runs: dict[str, list[measure.ProcRun]] = {"rules": [], "none": []}
        for i in range(b.args.reps):
            order = ("rules", "none") if i % 2 == 0 else ("none", "rules")
            for name in order:
                runs[name].append(measure.suricata(b.cfg, pcap, b.out / "suricata" / name,
                                                   variants[name]))
    packets = measure.packets_read(warm.log)
    b.raw["suricata"] = {
        "packets": packets[0] if packets else None, "eve_events": workload.count_lines(eve),
        **{name: {"wall_s": [r.wall_s for r in rs], "cpu_s": [r.cpu_s for r in rs],
                  "maxrss_kb": [r.maxrss_kb for r in rs]} for name, rs in runs.items()}}
    return eve


def suricata_figures(b: Bench) -> float:
    """Figures 3 and Suricata's peak RSS; returns the median time with rules."""
    s = b.raw["suricata"]
    with_rules, without = median(s["rules"]["wall_s"]), median(s["none"]["wall_s"])
    r = ratio(with_rules, without)
    b.figures.append(Figure(
        "suricata_rules_over_none", f"Suricata time, generated rules (median of {b.args.reps})",
        with_rules, "s", "no rules", without, r, f"ratio ≤ {table.GOAL_RULES_OVER_NO_RULES}",
        r <= table.GOAL_RULES_OVER_NO_RULES))
    rss_rules = median(s["rules"]["maxrss_kb"]) / MIB
    rss_none = median(s["none"]["maxrss_kb"]) / MIB
    b.figures.append(Figure(
        "suricata_peak_rss_mib", "Suricata peak RSS, generated rules (median)", rss_rules,
        "MiB", "no rules", rss_none, ratio(rss_rules, rss_none)))
    cpu_rules, cpu_none = median(s["rules"]["cpu_s"]), median(s["none"]["cpu_s"])
    b.notes.append(f"Suricata wall s with rules {_spread(s['rules']['wall_s'])}, without "
                   f"{_spread(s['none']['wall_s'])}; CPU s (user+sys, all threads) median "
                   f"{cpu_rules:.2f} vs {cpu_none:.2f} = {ratio(cpu_rules, cpu_none):.2f}")
    return with_rules


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def consumer_vs_suricata(b: Bench, eve: Path, suricata_s: float) -> None:
    """Figure 2: the consumer over the EVE Suricata wrote for the same capture."""
    totals, runs, rss, lines, run_cpu = [], [], [], 0, []
    with step(f"consumer over that EVE, {b.args.reps}× (child process, pinned to CPU {b.cpu})"):
        for i in range(b.args.reps):
            run, res = measure.child("consume", b.out / "consume-office" / str(i),
                                     config=b.cfg_path, eve=eve, cpu=b.cpu,
                                     extra=["--baselines", str(b.out / "baselines.json")])
            totals.append(res["total_s"])
            runs.append(res["run_s"])
            run_cpu.append(res["run_cpu_s"])
            rss.append(run.maxrss_kb)
            lines = res["lines"]
    parses, parse_cpu = [], []
    with step(f"orjson.loads over that EVE, {b.args.reps}× (child process, pinned)"):
        for i in range(b.args.reps):
            _, res = measure.child("parse", b.out / "parse-office" / str(i), config=b.cfg_path,
                                   eve=eve, cpu=b.cpu)
            parses.append(res["run_s"])
            parse_cpu.append(res["run_cpu_s"])
    b.raw["consume_office"] = {"total_s": totals, "run_s": runs, "parse_s": parses,
                                "maxrss_kb": rss, "lines": lines}
    r_parse = ratio(median(parses), median(runs))  # rates: (lines/run) / (lines/parse)
    b.figures.append(Figure(
        "consumer_over_parse_office", "consumer rate ÷ orjson.loads rate, capture's EVE",
        ratio(lines, median(runs)), "ev/s", "orjson.loads only", ratio(lines, median(parses)),
        r_parse, f"ratio ≥ {table.GOAL_CONSUMER_OVER_PARSE}",
        r_parse >= table.GOAL_CONSUMER_OVER_PARSE))
    cons = median(totals)
    r = ratio(cons, suricata_s)
    b.figures.append(Figure(
        "consumer_over_suricata", "consumer time, same capture's EVE (child, timed inside)",
        cons, "s", "Suricata with rules", suricata_s, r,
        f"ratio ≤ {table.GOAL_CONSUMER_OVER_SURICATA}", r <= table.GOAL_CONSUMER_OVER_SURICATA))
    sur_rss = median(b.raw["suricata"]["rules"]["maxrss_kb"]) / MIB
    mine = median(rss) / MIB
    b.figures.append(Figure(
        "consumer_peak_rss_office_mib", "consumer peak RSS, same capture's EVE (median)",
        mine, "MiB", "Suricata with rules", sur_rss, ratio(mine, sur_rss)))
    b.notes.append(f"consumer ÷ orjson.loads on the capture's EVE per CPU-second (pinned "
                   f"children, medians): {ratio(median(parse_cpu), median(run_cpu)):.3f} "
                   f"({fmt(ratio(lines, median(run_cpu)))} vs "
                   f"{fmt(ratio(lines, median(parse_cpu)))} events/s)")
    b.notes.append(f"consumer on the capture's EVE: {fmt(ratio(lines, cons))} events/s "
                   f"({lines:,} events, construction to close; s {_spread(totals)}; "
                   f"run_once alone median {median(runs):.3f} s)")


def throughput(b: Bench, eve: Path) -> None:
    """Figure 1 and the consumer's peak RSS over the large repeated EVE file."""
    big_path = b.out / "big-eve.json"
    with step(f"building the large EVE file (≥ {b.args.events:,} events)"):
        big = workload.build_big_eve(eve, big_path, b.args.events)
    b.raw["big_eve"] = {"copies": big.copies, "events": big.events, "bytes": big.size,
                        "shift_days": big.shift_days}
    runs: dict[str, list[dict[str, Any]]] = {"parse": [], "decode": [], "consume": []}
    with step(f"parse, decode, consume over {big.events:,} events, {b.args.big_reps}× each "
              f"(child processes, pinned to CPU {b.cpu})"):
        for _ in range(b.args.big_reps):
            for mode, results in runs.items():
                run, res = measure.child(
                    mode, b.out / f"big-{mode}", config=b.cfg_path, eve=big_path, cpu=b.cpu,
                    extra=["--baselines", str(b.out / "baselines.json")])
                results.append({**res, "maxrss_kb": run.maxrss_kb,
                                "events_per_s": ratio(res["lines"], res["run_s"]),
                                "events_per_cpu_s": ratio(res["lines"], res["run_cpu_s"])})
    b.raw["throughput"] = runs
    throughput_figures(b, runs)
    workers_bench.workers(b, big_path, big.events)
    if not b.args.keep:
        big_path.unlink(missing_ok=True)


def _median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (an odd count gives a real run; even: the lower one)."""
    ordered = sorted(results, key=lambda r: r["events_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def throughput_figures(b: Bench, runs: dict[str, list[dict[str, Any]]]) -> None:
    res = {m: _median_run(r) for m, r in runs.items()}
    rate = {m: r["events_per_s"] for m, r in res.items()}
    ev, n = rate["consume"], len(runs["consume"])
    b.figures.append(Figure(
        "consumer_events_per_s", f"consumer throughput, 1 core, mail off (median of {n})",
        ev, "ev/s", "decode only", rate["decode"], ratio(ev, rate["decode"]),
        f"≥ {table.GOAL_EVENTS_PER_S:,.0f} ev/s", ev >= table.GOAL_EVENTS_PER_S))
    r_parse = ratio(ev, rate["parse"])
    b.figures.append(Figure(
        "consumer_over_parse", "consumer rate ÷ orjson.loads rate, large file", ev, "ev/s",
        "orjson.loads only", rate["parse"], r_parse, f"ratio ≥ {table.GOAL_CONSUMER_OVER_PARSE}",
        r_parse >= table.GOAL_CONSUMER_OVER_PARSE))
    b.figures.append(Figure(
        "decode_events_per_s", "  decode only (consumer with no-op handlers)",
        rate["decode"], "ev/s", "orjson.loads only", rate["parse"],
        ratio(rate["decode"], rate["parse"])))
    mib = {m: median([r["maxrss_kb"] for r in rs]) / MIB for m, rs in runs.items()}
    b.figures.append(Figure(
        "consumer_peak_rss_mib", f"consumer peak RSS, {res['consume']['lines']:,} events",
        mib["consume"], "MiB", "decode-only child", mib["decode"],
        ratio(mib["consume"], mib["decode"])))
    share = ratio(ev, rate["decode"])
    spread = {m: _spread([r["events_per_s"] / 1000 for r in rs]) for m, rs in runs.items()}
    b.notes.append(f"consumer time split (large file, medians): input+decode {share:.0%}, "
                   f"handlers+correlation+outputs {1 - share:.0%}; JSON parsing alone "
                   f"{ratio(ev, rate['parse']):.0%}; k events/s ranges: consume "
                   f"{spread['consume']}, decode {spread['decode']}, parse {spread['parse']}")
    cpu = {m: median([r["events_per_cpu_s"] for r in rs]) for m, rs in runs.items()}
    b.notes.append(f"per CPU-second of the pinned child (robust to a shared core), medians: "
                   f"consume {fmt(cpu['consume'])}, decode {fmt(cpu['decode'])}, parse "
                   f"{fmt(cpu['parse'])} events/s; consume ÷ parse "
                   f"{ratio(cpu['consume'], cpu['parse']):.3f}")
    c = res["consume"]
    b.notes.append(f"consumer on the large file: {c['lines']:,} lines, {c['parsed']:,} parsed, "
                   f"{c['ignored']:,} skipped unparsed (prefilter/unwanted types), "
                   f"{c['bad']} bad, {c['hosts']} hosts reported")


def profile(b: Bench, eve: Path) -> str:
    """cProfile of the consumer over a few copies of the capture's EVE: top functions."""
    import pstats

    path = b.out / "profile-eve.json"
    big = workload.build_big_eve(eve, path, min(b.args.events, 200_000))
    prof = b.out / "consumer.pstats"
    with step(f"profiling the consumer over {big.events:,} events (cProfile)"):
        measure.child("consume", b.out / "profile", config=b.cfg_path, eve=path, cpu=b.cpu,
                      extra=["--baselines", str(b.out / "baselines.json"),
                             "--profile", str(prof)])
    path.unlink(missing_ok=True)
    text = profile_text(pstats.Stats(str(prof)))
    (b.out / "profile.txt").write_text(text, encoding="utf-8")
    return text


def profile_text(stats: Any, top: int = 25) -> str:
    """Top functions by own time and by cumulative time, with % of the profiled total."""
    total = stats.total_tt or 1.0
    entries = [(func, st[2], st[3], st[1]) for func, st in stats.stats.items()]
    lines = [f"profile: {total:.2f} s under cProfile (slower than unprofiled)", "",
             f"{'own %':>6} {'cum %':>6} {'calls':>10}  function (own time order)"]
    for (file, line, name), tt, ct, calls in sorted(entries, key=lambda e: -e[1])[:top]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        lines.append(f"{tt / total:6.1%} {ct / total:6.1%} {calls:>10,}  {name} ({where})")
    lines += ["", f"{'cum %':>6} {'own %':>6} {'calls':>10}  function (cumulative order)"]
    for (file, line, name), tt, ct, calls in sorted(entries, key=lambda e: -e[2])[:top]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        lines.append(f"{ct / total:6.1%} {tt / total:6.1%} {calls:>10,}  {name} ({where})")
    return "\n".join(lines)


def header(b: Bench) -> list[str]:
    """What ran, on what, with which data."""
    w, s, big = b.raw["workload"], b.raw["suricata"], b.raw.get("big_eve", {})
    cal = b.raw["calibration_s"]
    checks = ", ".join(f"CPU {c} {t:.3f}" for c, t in b.raw["core_check_s"].items())
    version = subprocess.run([find_binary(b.cfg), "-V"], capture_output=True, text=True,
                             check=False).stdout.strip().replace("This is ", "")
    return [
        f"sakimori bench ({b.args.mode}) — {b.raw['date']} — {os.cpu_count()} CPUs "
        f"(speed check s: {checks}), one-core figures pinned to the fastest, CPU {b.cpu}; "
        f"load average {b.raw['loadavg']} at start, "
        f"{b.raw['loadavg_end']} at end",
        f"{version}; Python {platform.python_version()}; CPU {b.cpu} speed check "
        f"(sum(range(1e7)), best of 5): {cal[0]:.3f} s at start, {cal[1]:.3f} s at end",
        f"capture: office.pcap {s['packets'] or 0:,} packets ({w['office_pcap_bytes'] / 1e6:.0f} "
        f"MB), simulator seed {w['seed']}, {w['hours']:g} h, {w['benign_hosts']} benign hosts, "
        f"scale {w['scale']:g}; {b.raw['rules']['rules']} rules (static + generated)",
        f"EVE with rules: {s['eve_events']:,} events; large EVE: {big.get('copies', 0)} copies "
        f"= {big.get('events', 0):,} events ({big.get('bytes', 0) / 1e6:.0f} MB), dates "
        f"+{big.get('shift_days', 0)} days per copy",
        "consumer: fresh child process per measurement, timed inside (interpreter start-up "
        "and imports excluded); Suricata: process wall time incl. start-up, --runmode single",
        ""]


def run_bench(args: argparse.Namespace) -> Bench:
    b = prepare(args)
    b.raw["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    b.raw["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    b.raw["calibration_s"] = [b.raw["core_check_s"][b.cpu]]
    baselines = learn(b)
    rule_files = rules(b, baselines)
    eve = suricata_runs(b, rule_files)
    suricata_s = suricata_figures(b)
    consumer_vs_suricata(b, eve, suricata_s)
    throughput(b, eve)
    if args.profile:
        b.raw["profile"] = profile(b, eve)
    b.raw["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    b.raw["calibration_s"].append(measure.calibrate(b.cpu))
    return b


def output(b: Bench) -> None:
    b.figures.sort(key=lambda f: ROWS.index(f.key) if f.key in ROWS else len(ROWS))
    for f in b.figures:
        f.num = NUMBERS.get(f.key, "")
    print(table.render(b.figures, header(b)))
    print()
    for note in b.notes:
        print(f"- {note}")
    if "profile" in b.raw:
        print()
        print(b.raw["profile"])
    if b.args.json:
        doc = {"mode": b.args.mode, "figures": [f.as_dict() for f in b.figures],
               "notes": b.notes, "raw": b.raw}
        b.args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        b = run_bench(args)
    except (BenchError, SakimoriError, OSError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    output(b)
    missed = [f.key for f in b.figures if f.passed is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
