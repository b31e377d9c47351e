"""The ``sakimori demo`` verb's arguments; the demo itself is :mod:`sakimori_demo.command`,
imported only when this verb runs (the ``demo`` extra: simulators and SMTP sink are not part of
the product, docs/architecture.md). Without the extra the verb fails with one line saying so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sakimori.errors import SakimoriError

# The demo package and the distributions only it needs (pyproject.toml, extra "demo").
DEMO_EXTRA = ("sakimori_demo", "scapy", "cryptography", "aiosmtpd")
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "sakimori.yaml"


class DemoMissing(SakimoriError):
    """The demo package or one of its dependencies (the ``demo`` extra) is not installed."""

    exit_code = 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on simulated example data")
    p.add_argument("--out", type=Path, default=Path("build/demo"),
                   help="output directory (default: build/demo)")
    p.add_argument("--config", type=Path, default=EXAMPLE_CONFIG,
                   help="configuration to start from (default: examples/sakimori.yaml)")
    p.add_argument("--seed", type=int, default=2026, help="simulation seed")
    p.add_argument("--hours", type=float, default=26.0, help="simulated hours (>= 24)")
    p.add_argument("--no-serve", action="store_true",
                   help="do not serve the admin screen at the end; print how to start it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from sakimori_demo import command
    except ImportError as exc:  # the package, or scapy/cryptography/aiosmtpd it needs
        if (exc.name or "").split(".")[0] not in DEMO_EXTRA:
            raise  # a broken import inside the demo is a bug, not a missing extra
        raise DemoMissing(f"the demo is not installed ({exc.name or exc}): "
                          "pip install -e '.[demo]' (make setup does)") from exc
    return command.run(args)
