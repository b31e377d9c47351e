"""The ``sakimori analyze`` verb: generated rules → real Suricata over captures → consumer.

Steps: render the Suricata rules from the baselines into OUT_DIR/build
(``generator.render_suricata.write_suricata``), run Suricata 7 offline over the captures
(:func:`sakimori.suricata.read_pcaps` → OUT_DIR/eve.json), run the consumer over that EVE
(state in OUT_DIR/state unless ``--state-dir``), leaving OUT_DIR/hosts.csv, findings.jsonl,
stats.json and the alert mails. The hosts.csv path is printed last.

``--proxy-log FILE…`` (Squid native or Apache combined access logs, ``.gz`` too) runs the same
detections over the requests of an existing web proxy; no capture, rules or Suricata are
needed for them (docs/consumer.md, "Web-proxy logs"). Give ``--pcap``, ``--proxy-log`` or
both.

``--baselines`` is optional, as for ``consume``: without it (a first day, nothing learned yet)
every threshold is its documented fallback (docs/baselines.md) and nothing is suppressed by
learned prevalence.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sakimori.errors import SakimoriError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="run Suricata with the generated rules over captures "
                                       "and report per host",
                       description="Offline analysis of packet captures with real Suricata.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--baselines", type=Path,
                   help="baselines.json (optional: fallback thresholds without it)")
    p.add_argument("--pcap", type=Path, action="extend", nargs="+", default=[],
                   metavar="PCAP", help="capture file(s), read in the order given")
    p.add_argument("--proxy-log", type=Path, action="extend", nargs="+", default=[],
                   metavar="FILE", help="web-proxy access log(s): Squid native or Apache "
                                        "combined (no capture needed)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--state-dir", type=Path, help="state directory (default: OUT/state)")
    p.add_argument("--no-mail", action="store_true", help="never send alert mail")
    p.set_defaults(func=run)


def rule_writer() -> Callable[..., list[Path]]:
    """``generator.render_suricata.write_suricata``, or a one-line error if it is missing."""
    try:
        from generator.render_suricata import write_suricata
    except ImportError as exc:
        raise SakimoriError("the rule generator (generator.render_suricata.write_suricata) "
                            f"is not available: {exc}") from exc
    return write_suricata


def run(args: argparse.Namespace) -> int:
    # Imported here: building the CLI parser must stay cheap for every other verb.
    from eve_consumer.pipeline import Consumer
    from sakimori.baselines import empty_document, load_document
    from sakimori.config import load_config
    from sakimori.suricata import find_binary, read_pcaps

    if not args.pcap and not args.proxy_log:
        raise UsageError("nothing to analyze: give --pcap or --proxy-log")
    for log in args.proxy_log:
        if not log.is_file():
            raise UsageError(f"--proxy-log: no such file: {log}")
    cfg = load_config(args.config)
    doc: dict[str, Any] = (load_document(args.baselines) if args.baselines
                           else empty_document())
    out: Path = args.out
    eve = None
    if args.pcap:
        find_binary(cfg)  # fail fast, before rendering anything
        out.mkdir(parents=True, exist_ok=True)
        rules = rule_writer()(cfg, doc, out / "build")
        eve = read_pcaps(cfg, args.pcap, out, rules)
    out.mkdir(parents=True, exist_ok=True)
    with Consumer(cfg, doc, out, args.state_dir or out / "state",
                  mail=not args.no_mail) as consumer:
        consumer.run_once(eve, args.proxy_log)
        print(f"sakimori analyze: {consumer.summary()}", file=sys.stderr)
    print(out / "hosts.csv")
    return 0
