"""The ``sakimori learn`` verb: learn traffic baselines from EVE, captures and proxy logs.

``--out`` is updated incrementally when it exists: the new inputs are merged into its
summaries and every threshold is recomputed (an input already learned — same sha256 — is
skipped). ``--pcap`` runs Suricata over the capture and learns from the EVE it wrote.
``--mail`` is reserved for mail learning, which is not implemented yet: it is refused with
exit code 2 rather than pretending to learn. See docs/baselines.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from generator.learn_traffic import TrafficLearner
from sakimori.baselines import effective_traffic, empty_document, load_document, save_document
from sakimori.config import load_config
from sakimori.errors import InputError, UsageError
from sakimori.suricata import read_pcaps

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="learn baselines from past traffic",
                       description="Learn traffic baselines (URL lengths, session durations, "
                                   "failed connections, port protocols, destination "
                                   "prevalence) from EVE, captures and proxy logs.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--eve", action="extend", nargs="+", type=Path, default=[], metavar="F",
                   help="Suricata EVE JSON file(s)")
    p.add_argument("--pcap", action="extend", nargs="+", type=Path, default=[], metavar="P",
                   help="capture(s): Suricata reads them and the EVE it writes is learned")
    p.add_argument("--proxy-log", action="extend", nargs="+", type=Path, default=[],
                   metavar="F", help="proxy access log(s): Squid native or Apache combined")
    p.add_argument("--mail", action="extend", nargs="+", type=Path, default=[],
                   metavar="PATH", help="mail (not implemented yet: refused)")
    p.add_argument("--out", required=True, type=Path,
                   help="baselines.json (updated incrementally when it exists)")
    p.add_argument("--state-dir", type=Path, default=None, metavar="D",
                   help="keep Suricata's work files for --pcap here (default: a temp dir)")
    p.set_defaults(func=run)


def _check_inputs(args: argparse.Namespace) -> None:
    if args.mail:
        raise UsageError("mail learning not implemented yet")
    if not (args.eve or args.pcap or args.proxy_log):
        raise UsageError("nothing to learn from: give --eve, --pcap or --proxy-log")
    for kind, paths in (("EVE file", args.eve), ("capture", args.pcap),
                        ("proxy log", args.proxy_log)):
        for path in paths:
            if not path.is_file():
                raise InputError(str(path), None, f"{kind} not found")


def _learn_pcaps(learner: TrafficLearner, args: argparse.Namespace, work: Path) -> None:
    for i, pcap in enumerate(args.pcap):
        if learner.is_known(pcap):
            log.warning("%s: already learned (same sha256), skipped", pcap)
            continue
        eve = read_pcaps(learner.cfg, [pcap], work / f"pcap-{i:03d}")
        _report(learner.add_eve(eve, kind="pcap", label=pcap))


def _report(entry: dict | None) -> None:
    if entry is None:
        return
    print(f"learned {entry['kind']} {entry['path']}: {entry['records']} records, "
          f"{entry['bad']} bad, {entry['first'] or '-'} .. {entry['last'] or '-'}")
    if entry["bad"]:
        log.warning("%s: %d bad lines skipped (first: %s)", entry["path"], entry["bad"],
                    "; ".join(entry["bad_examples"][:3]))


def run(args: argparse.Namespace) -> int:
    _check_inputs(args)
    cfg = load_config(args.config)
    doc = load_document(args.out) if args.out.exists() else empty_document()
    learner = TrafficLearner(cfg, doc, source=str(args.out))
    for eve in args.eve:
        _report(learner.add_eve(eve))
    if args.pcap:
        if args.state_dir is not None:
            _learn_pcaps(learner, args, args.state_dir / "learn")
        else:
            with tempfile.TemporaryDirectory(prefix="sakimori-learn-") as tmp:
                _learn_pcaps(learner, args, Path(tmp))
    for proxy_log in args.proxy_log:
        _report(learner.add_proxy_log(proxy_log))
    new_doc = learner.document()
    save_document(new_doc, args.out)
    eff = effective_traffic(cfg, new_doc)
    print(f"wrote {args.out}: url_length {eff.url_length.explain()}; "
          f"long_session_s {eff.long_session_s.explain()}; "
          f"fw_failures {eff.fw_failures.explain()}; "
          f"{eff.n_internal_hosts} internal hosts, {len(eff.prevalence)} destinations")
    return 0
