"""Real-capture benchmark: sakimori's per-host result on the real captures against their truth.

Run: ``.venv/bin/python bench/real.py [--mode first-day|learned-on-capture|both] [--json F]
[--out DIR] [--strict]`` (also part of ``make bench``). Every capture of
``../shared/data/real/`` (``$SAKIMORI_SHARED_DATA/real``) goes through the real CLI and real
Suricata exactly as tests/test_real_captures.py runs it (tests/realdata.py: ``first-day`` =
``analyze`` without baselines, ``learned-on-capture`` = ``learn --pcap`` on the capture, then
``analyze``), and each host named by the ground truth (tests/real_truth.yaml) is compared with
hosts.csv: PASS when its set of labels is exactly the expected one (``-``: no row). The last
row of each capture is every host the truth does not name (expected: none). ``time`` is the
wall time of learn + analyze for the capture, CLI start-up included. See docs/bench.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

import realdata  # noqa: E402
from realdata import MODES, Outcome, Verdict  # noqa: E402
from table import columns  # noqa: E402

HEAD = ("capture", "mode", "host", "expected", "got", "result", "time")


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    """Progress on stderr: what runs, and how long it took."""
    print(f"==> {text}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    print(f"    ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="sakimori on the real captures against their "
                                            "ground truth (see docs/bench.md)")
    p.add_argument("--mode", choices=[*MODES, "both"], default="both",
                   help="first-day (no baselines), learned-on-capture, or both (default)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "real",
                   help="scratch directory (default bench/out/real)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a verdict fails")
    return p.parse_args(argv)


def labels(values: frozenset[str]) -> str:
    return ";".join(sorted(values)) or "-"


def rows_of(outcome: Outcome, verdicts: list[Verdict]) -> list[tuple[str, ...]]:
    rows = []
    for i, v in enumerate(verdicts):
        rows.append((outcome.capture.file if i == 0 else "", outcome.mode if i == 0 else "",
                     v.host, labels(v.expected), labels(v.got),
                     "PASS" if v.passed else "FAIL",
                     f"{outcome.seconds:.1f} s" if i == 0 else ""))
    return rows


def run(args: argparse.Namespace) -> tuple[list[tuple[Outcome, list[Verdict]]], float]:
    data = realdata.real_data_dir()
    truth = realdata.load_truth()
    problem = realdata.data_problem(truth, data)
    if problem:
        raise FileNotFoundError(problem)
    if shutil.which("suricata") is None:
        raise FileNotFoundError("suricata not found (run `make setup`)")
    modes = MODES if args.mode == "both" else (args.mode,)
    results = []
    t0 = time.perf_counter()
    for mode in modes:
        for capture in truth:
            work = args.out.resolve() / mode / Path(capture.file).stem
            shutil.rmtree(work, ignore_errors=True)
            with step(f"{mode}: {capture.file}"):
                outcome = realdata.run_capture(capture, mode, data, work)
            results.append((outcome, realdata.judge(outcome)))
    return results, time.perf_counter() - t0


def output(args: argparse.Namespace, results: list[tuple[Outcome, list[Verdict]]],
           total_s: float) -> int:
    """Print the table and the summary; the number of failed verdicts."""
    rows = [row for outcome, verdicts in results for row in rows_of(outcome, verdicts)]
    header = [f"sakimori on real captures — {datetime.now(UTC):%Y-%m-%d %H:%M UTC} — truth: "
              f"tests/real_truth.yaml; data: {realdata.real_data_dir()}", ""]
    print(columns(HEAD, rows, header))
    extra = realdata.untruthed(realdata.load_truth(), realdata.real_data_dir())
    if extra:
        print(f"\nnot judged (no ground truth in tests/real_truth.yaml): {', '.join(extra)}")
    verdicts = [v for _, vs in results for v in vs]
    failed = sum(not v.passed for v in verdicts)
    captures = {o.capture.file for o, _ in results}
    print(f"\nsummary: {len(verdicts) - failed}/{len(verdicts)} verdicts PASS, {failed} FAIL "
          f"({len(captures)} captures × {len({o.mode for o, _ in results})} mode(s)); "
          f"{total_s:.1f} s in all")
    if args.json:
        doc = [{"capture": o.capture.file, "mode": o.mode, "learn_s": o.learn_s,
                "analyze_s": o.analyze_s,
                "hosts": [{"host": v.host, "expected": sorted(v.expected),
                           "got": sorted(v.got), "pass": v.passed} for v in vs]}
               for o, vs in results]
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results, total_s = run(args)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"bench/real: {exc}", file=sys.stderr)
        return 1
    failed = output(args, results, total_s)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
