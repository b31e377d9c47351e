"""The ``sakimori generate`` verb: render Suricata rules, data files and the
suricata-update source package into ``BUILD_DIR/suricata/`` (see docs/rules.md), and the
Rspamd plugin, settings and maps into ``BUILD_DIR/rspamd/`` (see docs/rspamd.md).

Thresholds come from the baselines with sakimori.yaml overrides winning; without
``--baselines`` the documented fallbacks are used. The build is rendered into a staging
directory, checked in Python (:mod:`generator.rulecheck`, always), with ``suricata -T`` and
``rspamadm configtest`` when the tools are installed (``--no-validate`` skips those two), and
only then swapped into place (:mod:`generator.atomic`): a failing build never replaces or
half-writes the deployed one. The exporter configuration carries the consumer's listener
secret (``rspamd.listen_secret_file``), created here when absent (:mod:`sakimori.listen_secret`).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from generator import atomic
from generator.render_rspamd import write_rspamd
from generator.render_suricata import write_suricata
from generator.rulecheck import check_rspamd, check_rules
from sakimori import rspamd
from sakimori.baselines import load_document
from sakimori.config import Config, load_config
from sakimori.errors import SakimoriError, ToolMissingError
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
                   help="do not check with `suricata -T` and `rspamadm configtest` (the "
                        "Python checks still run)")
    p.set_defaults(func=run)


PARTS = ("suricata", "rspamd")


class BuildNotDeployed(SakimoriError):
    """A check of the staged build failed; the deployed build is unchanged."""


def _validate(cfg: Config, files: list[Path]) -> str:
    try:
        find_binary(cfg)
    except ToolMissingError as exc:
        log.warning("rules not validated by Suricata: %s (checked in Python)", exc)
        return "checked in Python (suricata missing)"
    with tempfile.TemporaryDirectory(prefix="sakimori-validate-") as tmp:
        validate_rules(cfg, files, Path(tmp))
    return "valid (suricata -T)"


def _validate_rspamd(cfg: Config, build_dir: Path) -> str:
    try:
        rspamd.find_binary(cfg.rspamd.binary)
    except ToolMissingError as exc:
        log.warning("Rspamd configuration not validated by rspamadm: %s (checked in Python)",
                    exc)
        return "checked in Python (rspamd missing)"
    rspamd.configtest(build_dir, cfg.rspamd.binary)
    return "valid (rspamadm configtest)"


def _render_checked(cfg: Config, doc: dict | None, stage: Path, build_dir: Path,
                    validate: bool) -> tuple[list[str], str, str]:
    """Render into *stage* and check it; returns (rule file names, statuses)."""
    files = write_suricata(cfg, doc, stage, deploy_dir=build_dir)
    check_rules(files, cfg.suricata.sid_base, shown=build_dir / "suricata")
    status = _validate(cfg, files) if validate else "checked in Python (--no-validate)"
    rspamd_dir = write_rspamd(cfg, doc, stage, ensure_secret(cfg))
    check_rspamd(rspamd_dir, shown=build_dir / "rspamd")
    rspamd_status = (_validate_rspamd(cfg, stage) if validate
                     else "checked in Python (--no-validate)")
    return [f.name for f in files], status, rspamd_status


def render_build(cfg: Config, doc: dict | None, build_dir: Path,
                 validate: bool = True) -> tuple[list[Path], str, Path, str]:
    """Write BUILD_DIR/suricata/ and BUILD_DIR/rspamd/ all at once, or not at all: the one
    regeneration path, used by this verb and by the admin screen's whitelist editor.
    Rendered and checked in a staging directory, then swapped in (module docstring).
    Returns (rule files, their status, the Rspamd directory, its status); raises
    BuildNotDeployed (the deployed build untouched) when a check fails."""
    build_dir = Path(build_dir)
    with atomic.staging(build_dir, PARTS) as stage:
        try:
            names, status, rspamd_status = _render_checked(cfg, doc, stage, build_dir,
                                                           validate)
        except SakimoriError as exc:
            err = BuildNotDeployed(f"{exc} — build not deployed, {build_dir} unchanged")
            err.exit_code = exc.exit_code
            raise err from exc
        atomic.publish(stage, build_dir, PARTS)
    return ([build_dir / "suricata" / n for n in names], status, build_dir / "rspamd",
            rspamd_status)


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
