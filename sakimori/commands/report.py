"""The ``sakimori report`` verb: the merged report of every consumer sharing ``consumer.shared``.

Reads the findings, stats and mail warnings each consumer published to the shared Redis
(:mod:`eve_consumer.shared`) and writes OUT_DIR/hosts.csv, findings.jsonl, stats.json and
mail_warnings.jsonl with the same writers as ``consume``. Point ``web.report_dirs`` at OUT_DIR
for the merged view on the admin screen (``serve``). See docs/consumer.md "Scale-out".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the merged report of every consumer sharing "
                                      "consumer.shared",
                       description="Merge the findings every consumer published to "
                                   "consumer.shared into one report directory.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--out", required=True, type=Path, help="report directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eve_consumer.outputs import build_outputs
    from eve_consumer.shared import merged_report
    from sakimori.config import load_config

    cfg = load_config(args.config)
    report = merged_report(cfg, args.out)
    for out in build_outputs(cfg, None, ("hosts_csv", "findings_jsonl", "stats_json"),
                             mail=False):
        out.write(report)
    consumers = len(report.stats["consumers"])
    print(f"sakimori report: {consumers} consumer(s), {len(report.rows)} host(s), "
          f"{len(report.findings)} finding(s)", file=sys.stderr)
    print(args.out / "hosts.csv")
    return 0
