"""The ``sakimori generate`` verb: render Suricata rules, data files and the
suricata-update source package into ``BUILD_DIR/suricata/`` (see docs/rules.md), and the
Rspamd plugin, settings and maps into ``BUILD_DIR/rspamd/`` (see docs/rspamd.md).

Thresholds come from the baselines with sakimori.yaml overrides winning; without ``--baselines``
the documented fallbacks are used. :func:`generator.build.render_build` renders the build into a
staging directory, checks it in Python (:mod:`generator.rulecheck`, always), with ``suricata
-T`` and ``rspamadm configtest`` when the tools are installed (``--no-validate`` skips those
two), and only then swaps it into place (:mod:`generator.atomic`): a failing build never
replaces or half-writes the deployed one. The exporter configuration carries the consumer's
listener secret (``rspamd.listen_secret_file``), created here when absent
(:mod:`sakimori.listen_secret`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.build import render_build
from sakimori.baselines import load_document
from sakimori.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="render Suricata rules and the Rspamd plugin",
                       description="Render sakimori.rules, static.rules, dataset files and a "
                                   "suricata-update source into BUILD_DIR/suricata/, and the "
                                   "Rspamd plugin, settings and maps into BUILD_DIR/rspamd/.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--baselines", type=Path, default=None,
                   help="baselines.json from `sakimori learn` (omit: fallback thresholds)")
    p.add_argument("--out", required=True, type=Path, metavar="BUILD_DIR",
                   help="build directory (suricata/ and rspamd/ are written inside)")
    p.add_argument("--no-validate", action="store_true",
                   help="do not check with `suricata -T` and `rspamadm configtest` (the "
                        "Python checks still run)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    doc = load_document(args.baselines) if args.baselines is not None else None
    files, status, rspamd_dir, rspamd_status = render_build(cfg, doc, args.out,
                                                            not args.no_validate)
    out = args.out / "suricata"
    for path in sorted(out.iterdir()):
        if path.is_file():
            print(f"wrote {path}")
    print(f"rules: {', '.join(str(f) for f in files)} — {status}")
    print(f"rspamd: {rspamd_dir} (plugin, settings, {len(list(rspamd_dir.glob('maps/*.map')))} "
          f"maps) — {rspamd_status}")
    return 0
