"""Command line: ``python -m sakimori_demo.officesim --out DIR [--seed N] [--hours H] ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sakimori_demo.officesim.params import SimParams
from sakimori_demo.officesim.sim import generate


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, print a one-line JSON summary; exit code 0/2."""
    defaults = SimParams()
    ap = argparse.ArgumentParser(prog="python -m sakimori_demo.officesim",
                                 description="Generate a simulated office capture with "
                                             "ground truth.")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--hours", type=float, default=defaults.hours)
    ap.add_argument("--benign-hosts", type=int, default=defaults.benign_hosts)
    ap.add_argument("--scale", type=float, default=defaults.scale,
                    help="multiplier of benign browsing volume")
    ap.add_argument("--start", default=defaults.start, help="capture start, ISO 8601 UTC")
    ap.add_argument("--no-infected", action="store_true", help="benign hosts only")
    args = ap.parse_args(argv)
    try:
        params = SimParams(seed=args.seed, hours=args.hours, benign_hosts=args.benign_hosts,
                           scale=args.scale, start=args.start, infected=not args.no_infected)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()  # duration report only; never feeds the output
    gt = generate(args.out, params)
    summary = {"out": str(args.out), "seconds": round(time.perf_counter() - began, 1),
               "counts": {k: {"packets": v["packets"], "flows": v["flows"]}
                          for k, v in gt["counts"].items()}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
