"""The ``sakimori generate`` verb: render Suricata rules, data files and the
suricata-update source package into ``BUILD_DIR/suricata/`` (see docs/rules.md), and the
Rspamd plugin, settings and maps into ``BUILD_DIR/rspamd/`` (see docs/rspamd.md).

Thresholds come from the baselines with sakimori.yaml overrides winning; without
``--baselines`` the documented fallbacks are used. The rules are checked with ``suricata -T``
and the Rspamd configuration with ``rspamadm configtest`` when the tools are installed
(``--no-validate`` skips both). The exporter configuration carries the consumer's listener
secret (``rspamd.listen_secret_file``), created here when absent (:mod:`sakimori.listen_secret`).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from generator.render_rspamd import write_rspamd
from generator.render_suricata import write_suricata
from sakimori import rspamd
from sakimori.baselines import load_document
from sakimori.config import Config, load_config
from sakimori.errors import ToolMissingError
from sakimori.listen_secret import ensure_secret
from sakimori.suricata import find_binary, validate_rules

log = logging.getLogger(__name__)


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
                   help="do not check with `suricata -T` and `rspamadm configtest`")
    p.set_defaults(func=run)


def _validate(cfg: Config, files: list[Path]) -> str:
    try:
        find_binary(cfg)
    except ToolMissingError as exc:
        log.warning("rules not validated: %s", exc)
        return "not validated (suricata missing)"
    with tempfile.TemporaryDirectory(prefix="sakimori-validate-") as tmp:
        validate_rules(cfg, files, Path(tmp))
    return "valid (suricata -T)"


def _validate_rspamd(cfg: Config, build_dir: Path) -> str:
    try:
        rspamd.find_binary(cfg.rspamd.binary)
    except ToolMissingError as exc:
        log.warning("Rspamd configuration not validated: %s", exc)
        return "not validated (rspamd missing)"
    rspamd.configtest(build_dir, cfg.rspamd.binary)
    return "valid (rspamadm configtest)"


def render_build(cfg: Config, doc: dict | None, build_dir: Path,
                 validate: bool = True) -> tuple[list[Path], str, Path, str]:
    """Write BUILD_DIR/suricata/ and BUILD_DIR/rspamd/ (and validate them): the one
    regeneration path, used by this verb and by the admin screen's whitelist editor.
    Returns (rule files, their status, the Rspamd directory, its status)."""
    files = write_suricata(cfg, doc, build_dir)
    status = _validate(cfg, files) if validate else "not validated (--no-validate)"
    rspamd_dir = write_rspamd(cfg, doc, build_dir, ensure_secret(cfg))
    rspamd_status = (_validate_rspamd(cfg, build_dir) if validate
                     else "not validated (--no-validate)")
    return files, status, rspamd_dir, rspamd_status


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
