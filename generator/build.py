"""Build = render + check + swap: BUILD_DIR/suricata/ and BUILD_DIR/rspamd/ all at once, or not
at all. Rendered into a staging directory, checked in Python (:mod:`generator.rulecheck`,
always), with ``suricata -T`` and ``rspamadm configtest`` when the tools are installed, and only
then swapped into place (:mod:`generator.atomic`). The one regeneration path: the ``generate``
verb and the admin screen's whitelist editor both call :func:`render_build`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from generator import atomic
from generator.render_rspamd import write_rspamd
from generator.render_suricata import write_suricata
from generator.rulecheck import check_rspamd, check_rules
from sakimori import rspamd
from sakimori.config import Config
from sakimori.errors import SakimoriError, ToolMissingError
from sakimori.listen_secret import ensure_secret
from sakimori.suricata import find_binary, validate_rules

log = logging.getLogger(__name__)


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
    regeneration path, used by ``sakimori generate`` and by the admin screen's whitelist editor.
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
