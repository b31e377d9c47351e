"""Command line: ``python -m sakimori_demo.mailsim --out DIR [--seed N] [--months M] [--scale F]
[--hosted microsoft365|google_workspace]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sakimori_demo.mailsim.corpus import generate_corpus


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus, print a one-line JSON summary; exit code 0, or 2 on bad args."""
    ap = argparse.ArgumentParser(prog="python -m sakimori_demo.mailsim",
                                 description="Generate the example mail corpus (past mail as "
                                             "Maildir and mbox, a test set with ground truth).")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--months", type=int, default=4, help="months of past mail (1-24)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplier of mail volume")
    ap.add_argument("--hosted", default="", choices=("microsoft365", "google_workspace"),
                    help="external mail crosses our tenant at this provider before our MX")
    args = ap.parse_args(argv)
    try:
        truth = generate_corpus(args.out, seed=args.seed, months=args.months, scale=args.scale,
                                hosted=args.hosted)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    past = truth["past"]
    print(json.dumps({"out": str(args.out), "past_messages": past["messages"],
                      "past_broken": past["broken"], "maildir": past["maildir"],
                      "mbox": past["mbox"], "testset": len(truth["testset"]["cases"])},
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
