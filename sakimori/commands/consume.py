"""The ``sakimori consume`` verb: run the EVE consumer over an EVE file, once or as a service.

Without ``--follow`` it reads the file to its end, writes OUT_DIR/hosts.csv, findings.jsonl
and stats.json, sends the alert mails and exits. With ``--follow`` it tails the file (rotation
and restarts handled through the state store) until SIGTERM/SIGINT. See docs/consumer.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consume", help="correlate an EVE file into the per-host report",
                       description="Run the EVE consumer over an EVE JSON file.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--eve", required=True, type=Path, help="EVE JSON file to read or follow")
    p.add_argument("--baselines", type=Path,
                   help="baselines.json (optional: fallback thresholds without it)")
    p.add_argument("--follow", action="store_true",
                   help="keep following the file as a service (until SIGTERM/SIGINT)")
    p.add_argument("--out", type=Path,
                   help="report directory (default: STATE_DIR/report)")
    p.add_argument("--state-dir", type=Path,
                   help="state directory (default: consumer.state_dir of the config)")
    p.add_argument("--no-mail", action="store_true", help="never send alert mail")
    p.add_argument("--fw-log", type=Path, action="append", default=[], metavar="FILE",
                   help="iptables/nftables LOG lines counted as blocked attempts "
                        "(repeatable)")
    p.add_argument("--interval", type=float, default=5.0, metavar="S",
                   help="follow mode: evaluate and commit at most every S seconds (5)")
    p.add_argument("--poll", type=float, default=0.5, metavar="S",
                   help="follow mode: wait S seconds when the file has nothing new (0.5)")
    p.set_defaults(func=run)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace) -> int:
    # Imported here: building the CLI parser must stay cheap for every other verb.
    from eve_consumer.pipeline import Consumer
    from sakimori.baselines import load_document
    from sakimori.config import load_config

    cfg = load_config(args.config)
    doc = load_document(args.baselines) if args.baselines else None
    state_dir = args.state_dir or cfg.consumer.state_dir
    out = args.out or state_dir / "report"
    with Consumer(cfg, doc, out, state_dir, mail=not args.no_mail) as consumer:
        for fw_log in args.fw_log:
            consumer.add_fw_log(fw_log)
        if args.follow:
            stop = threading.Event()
            _stop_on_signals(stop)
            consumer.follow(args.eve, stop, poll_s=args.poll, interval_s=args.interval)
        else:
            consumer.run_once(args.eve)
        print(f"sakimori consume: {consumer.summary()}", file=sys.stderr)
    print(out / "hosts.csv")
    return 0
