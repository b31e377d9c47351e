"""The ``sakimori`` command line: one sub-command per verb (see design.md §2).

Each verb lives in ``sakimori/commands/<verb>.py`` with ``register(subparsers)`` and
``run(args) -> int``. Only :func:`main` exits. Exit codes: 0 ok, 1 operational error,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sakimori import __version__
from sakimori.errors import SakimoriError

VERBS = ("learn", "generate", "analyze", "consume", "report", "serve", "scan-mail", "demo")
# One-line help of each verb for the top-level listing; the full parser of a verb is built
# only when that verb runs, so `consume` does not pay for importing the generator.
SUMMARIES = {
    "learn": "learn baselines from past traffic and mail",
    "generate": "render Suricata rules and the Rspamd plugin",
    "analyze": "run Suricata with the generated rules over captures and report per host",
    "consume": "correlate an EVE file into the per-host report",
    "report": "write the merged report of every consumer sharing consumer.shared",
    "serve": "serve the admin screen (login required)",
    "scan-mail": "judge .eml files with Rspamd and the sakimori plugin",
    "demo": "run the whole pipeline on simulated example data",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with *only*, the other verbs are listed but not imported."""
    parser = _Parser(prog="sakimori", description="Early warning against targeted attacks.")
    parser.add_argument("--version", action="version", version=f"sakimori {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (repeat for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for verb in VERBS:
        if only is not None and verb != only:
            sub.add_parser(verb, help=SUMMARIES[verb])
            continue
        module = importlib.import_module(f"sakimori.commands.{verb.replace('-', '_')}")
        module.register(sub)
    return parser


def _chosen_verb(argv: Sequence[str]) -> str | None:
    """The verb on the command line (top-level options take no values), if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen_verb(argv))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.func(args)
    except SakimoriError as exc:
        print(f"sakimori {args.verb}: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)
