"""The ``sakimori learn`` verb: learn traffic baselines from EVE, captures and proxy logs,
and mail baselines from stored mail.

``--out`` is updated incrementally when it exists: the new inputs are merged into its
summaries and every threshold is recomputed (an input already learned — same sha256 — is
skipped). ``--pcap`` runs Suricata over the capture and learns from the EVE it wrote.
``--mail`` learns the ``mail`` section from EML files/directories, mbox files and Maildirs
(:mod:`generator.mail.learn`); traffic learning runs only when traffic inputs are given, so
a mail-only learn leaves the ``traffic`` section as it was. See docs/baselines.md and
docs/mail-learning.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from generator.learn_traffic import TrafficLearner
from generator.mail.learn import MailLearner
from sakimori import progress
from sakimori.baselines import effective_traffic, empty_document, load_document, save_document
from sakimori.config import RELAY_MAX_DOMAINS, Config, load_config
from sakimori.errors import InputError, UsageError
from sakimori.suricata import read_pcaps

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("learn", help="learn baselines from past traffic and mail",
                       description="Learn traffic baselines (URL lengths, session durations, "
                                   "failed connections, port protocols, destination "
                                   "prevalence) from EVE, captures and proxy logs, and mail "
                                   "baselines (sender infrastructure, domestic and frequent "
                                   "domains, display names) from stored mail.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--eve", action="extend", nargs="+", type=Path, default=[], metavar="F",
                   help="Suricata EVE JSON file(s)")
    p.add_argument("--pcap", action="extend", nargs="+", type=Path, default=[], metavar="P",
                   help="capture(s): Suricata reads them and the EVE it writes is learned")
    p.add_argument("--proxy-log", action="extend", nargs="+", type=Path, default=[],
                   metavar="F", help="proxy access log(s): Squid native or Apache combined")
    p.add_argument("--mail", action="extend", nargs="+", type=Path, default=[],
                   metavar="PATH",
                   help="stored mail: .eml file or directory (recursive), mbox, Maildir")
    p.add_argument("--out", required=True, type=Path,
                   help="baselines.json (updated incrementally when it exists)")
    p.add_argument("--state-dir", type=Path, default=None, metavar="D",
                   help="keep Suricata's work files for --pcap here (default: a temp dir)")
    p.set_defaults(func=run)


def _check_inputs(args: argparse.Namespace) -> None:
    if not (args.eve or args.pcap or args.proxy_log or args.mail):
        raise UsageError("nothing to learn from: give --eve, --pcap, --proxy-log or --mail")
    for kind, paths in (("EVE file", args.eve), ("capture", args.pcap),
                        ("proxy log", args.proxy_log)):
        for path in paths:
            if not path.is_file():
                raise InputError(str(path), None, f"{kind} not found")
    for path in args.mail:
        if not path.exists():
            raise InputError(str(path), None, "mail input not found")


def _learn_pcaps(learner: TrafficLearner, args: argparse.Namespace, work: Path) -> None:
    for i, pcap in enumerate(args.pcap):
        if learner.is_known(pcap):
            log.warning("%s: already learned (same sha256), skipped", pcap)
            continue
        eve = read_pcaps(learner.cfg, [pcap], work / f"pcap-{i:03d}")
        with progress.phase(f"learning {pcap.name} (EVE)",
                            text=progress.count(lambda: learner.lines_read, "lines")):
            _report(learner.add_eve(eve, kind="pcap", label=pcap))


def _report(entry: dict | None) -> None:
    if entry is None:
        return
    print(f"learned {entry['kind']} {entry['path']}: {entry['records']} records, "
          f"{entry['bad']} bad, {entry['first'] or '-'} .. {entry['last'] or '-'}")
    if entry["bad"]:
        log.warning("%s: %d bad lines skipped (first: %s)", entry["path"], entry["bad"],
                    "; ".join(entry["bad_examples"][:3]))


def _learn_mail(cfg: Config, doc: dict, args: argparse.Namespace) -> dict:
    learner = MailLearner(cfg, doc, source=str(args.out))
    for path in args.mail:
        with progress.phase(f"learning mail {path.name}",
                            text=progress.count(lambda: learner.messages_read, "messages")):
            entry = learner.add_path(path)
        if entry is not None:
            print(f"learned mail {entry['path']} ({entry['format'] or 'nothing'}): "
                  f"{entry['records']} messages, {entry['bad']} broken"
                  + (f", {entry['already_learned']} already learned"
                     if entry["already_learned"] else "")
                  + f", {entry['first'] or '-'} .. {entry['last'] or '-'}")
    new_doc = learner.document()
    mail = new_doc["mail"]
    print(f"mail: {mail['messages']} messages ({mail['broken']} broken), "
          f"{len(mail['domains'])} sender domains, {len(mail['frequent_domains'])} frequent, "
          f"{len(mail['domestic_domains'])} domestic, {len(mail['names'])} names; "
          f"country data {mail['country_data']['source']} {mail['country_data']['version']}")
    _print_relays(cfg, mail)
    return new_doc


def _print_relays(cfg: Config, mail: dict) -> None:
    """The learned receiving-side relays (docs/mail-learning.md), and whether they are used."""
    relays, total = mail.get("relays") or {}, (mail.get("relay_hops") or {}).get("messages", 0)
    params = mail["params"]
    print(f"mail relays: {len(relays)} learned (networks of the newest {params['relay_depth']} "
          f"public hops in >= {params['relay_min_share']:.0%} of {total} messages, from >= "
          f"{params['relay_min_domains']} sender domains)"
          + ("" if cfg.networks.learned_mail_relays or not relays
             else "; not used: networks.learned_mail_relays is false"))
    for net, rec in relays.items():
        print(f"  relay {net}: {rec['messages']} messages ({rec['share']:.0%}), "
              f"{rec['domains']}{'+' if rec['domains'] >= RELAY_MAX_DOMAINS else ''} "
              f"sender domains")


def run(args: argparse.Namespace) -> int:
    _check_inputs(args)
    cfg = load_config(args.config)
    doc = load_document(args.out) if args.out.exists() else empty_document()
    if not (args.eve or args.pcap or args.proxy_log):
        new_doc = _learn_mail(cfg, doc, args)
        save_document(new_doc, args.out)
        print(f"wrote {args.out}")
        return 0
    learner = TrafficLearner(cfg, doc, source=str(args.out))
    for eve in args.eve:
        with progress.phase(f"learning {eve.name}",
                            text=progress.count(lambda: learner.lines_read, "lines")):
            _report(learner.add_eve(eve))
    if args.pcap:
        if args.state_dir is not None:
            _learn_pcaps(learner, args, args.state_dir / "learn")
        else:
            with tempfile.TemporaryDirectory(prefix="sakimori-learn-") as tmp:
                _learn_pcaps(learner, args, Path(tmp))
    for proxy_log in args.proxy_log:
        with progress.phase(f"learning {proxy_log.name}",
                            text=progress.count(lambda: learner.lines_read, "lines")):
            _report(learner.add_proxy_log(proxy_log))
    new_doc = learner.document()
    if args.mail:
        new_doc = _learn_mail(cfg, new_doc, args)
    save_document(new_doc, args.out)
    eff = effective_traffic(cfg, new_doc)
    print(f"wrote {args.out}: url_length {eff.url_length.explain()}; "
          f"long_session_s {eff.long_session_s.explain()}; "
          f"fw_failures {eff.fw_failures.explain()}; "
          f"{eff.n_internal_hosts} internal hosts, {len(eff.prevalence)} destinations")
    return 0
