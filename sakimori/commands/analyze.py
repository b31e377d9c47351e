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

``--rules PATH`` (repeatable: a ``.rules`` file or a directory of them, e.g. an unpacked ET
Open) loads third-party rules with ours (:mod:`sakimori.rulesets`); the consumer classes their
alerts by the Table 1 class map (docs/classes.md). Rules Suricata cannot parse are skipped;
stderr and stats.json (``input.rules``) say how many loaded and failed.

``--baselines`` is optional, as for ``consume``: without it (a first day, nothing learned yet)
every threshold is its documented fallback (docs/baselines.md) and nothing is suppressed by
learned prevalence.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sakimori.errors import UsageError


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
    p.add_argument("--rules", type=Path, action="append", default=[], metavar="PATH",
                   help="third-party rules loaded with ours: a .rules file or a directory of "
                        "them (repeatable; e.g. an unpacked ET Open)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--state-dir", type=Path, help="state directory (default: OUT/state)")
    p.add_argument("--no-mail", action="store_true", help="never send alert mail")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: building the CLI parser must stay cheap for every other verb.
    from eve_consumer.pipeline import Consumer
    from generator.render_suricata import write_suricata
    from sakimori.baselines import empty_document, load_document
    from sakimori.config import load_config
    from sakimori.rulesets import expand
    from sakimori.suricata import find_binary, read_pcaps

    if not args.pcap and not args.proxy_log:
        raise UsageError("nothing to analyze: give --pcap or --proxy-log")
    for log in args.proxy_log:
        if not log.is_file():
            raise UsageError(f"--proxy-log: no such file: {log}")
    cfg = load_config(args.config)
    extra = expand(args.rules)
    doc: dict[str, Any] = (load_document(args.baselines) if args.baselines
                           else empty_document())
    out: Path = args.out
    eve, rule_stats = None, None
    if args.pcap:
        find_binary(cfg)  # fail fast, before rendering anything
        out.mkdir(parents=True, exist_ok=True)
        rules = write_suricata(cfg, doc, out / "build")
        t0 = time.monotonic()
        eve = read_pcaps(cfg, args.pcap, out, rules, extra)
        suricata_s = time.monotonic() - t0
        rule_stats = _rule_stats(out, extra, suricata_s) if extra else None
    elif extra:
        raise UsageError("--rules needs --pcap (proxy logs are not read by Suricata)")
    out.mkdir(parents=True, exist_ok=True)
    with Consumer(cfg, doc, out, args.state_dir or out / "state",
                  mail=not args.no_mail) as consumer:
        if rule_stats is not None:
            consumer.input_stats["rules"] = rule_stats
        consumer.run_once(eve, args.proxy_log)
        print(f"sakimori analyze: {consumer.summary()}", file=sys.stderr)
    print(out / "hosts.csv")
    return 0


def _rule_stats(out: Path, extra: list[Path], suricata_s: float) -> dict[str, Any]:
    """What Suricata said about loading the rules (first run), printed as one line."""
    from sakimori.rulesets import first_errors, load_counts

    runs = sorted((out / "suricata").glob("*/suricata.stdout"))
    text = runs[0].read_text(encoding="utf-8", errors="replace") if runs else ""
    counts = load_counts(text)
    stats: dict[str, Any] = {"third_party_files": len(extra),
                             "suricata_s": round(suricata_s, 2)}
    if counts is not None:
        stats.update(loaded=counts.loaded, failed=counts.failed)
    errors = first_errors(text)
    if errors:
        stats["first_errors"] = errors
    loaded = (f"Suricata loaded {counts.loaded} rules, {counts.failed} failed"
              if counts is not None else "Suricata did not report its rule count")
    print(f"sakimori analyze: {len(extra)} third-party rule file(s); {loaded}; "
          f"Suricata {suricata_s:.1f} s over {len(runs)} capture(s)"
          + (f"; first error: {errors[0]}" if errors else ""), file=sys.stderr)
    return stats
