"""Run the real Suricata 7 offline: validate rules (``-T``) and read captures (``-r``).

sakimori never re-implements Suricata; ``learn --pcap`` and ``analyze`` call :func:`read_pcaps`,
tests call :func:`validate_rules`. The configuration is project-owned (rendered from
``suricata_rules/offline.yaml.j2``) so results do not depend on the host's suricata.yaml.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from sakimori import progress
from sakimori.config import Config
from sakimori.errors import InputError, ToolFailedError, ToolMissingError
from suricata_rules import CLASSIFICATION, OFFLINE_YAML_TEMPLATE

# Longer than the keep-alive gap of any session we want to see as one flow (see platform.md:
# a gap beyond tcp.established splits a flow into pieces).
TCP_ESTABLISHED_TIMEOUT_S = 3600


def find_binary(cfg: Config | None = None, binary: str | None = None) -> str:
    """Absolute path of the Suricata binary, or ToolMissingError with a hint."""
    name = binary or (cfg.suricata.binary if cfg else "suricata")
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(name, "install Suricata 7 with `make setup`, or set "
                                     "suricata.binary in sakimori.yaml")
    return path


def render_offline_yaml(cfg: Config, log_dir: Path, rule_files: Sequence[Path],
                        classification: Path | None = None,
                        reference: Path | None = None,
                        eve_redis: Mapping[str, Any] | None = None) -> str:
    """The offline Suricata configuration for *cfg* (HOME_NET, HTTP ports, rules); third-party
    rules bring their own *classification* (and *reference*) files (sakimori.rulesets).

    With *eve_redis* (``server``, ``port``, ``mode`` list/rpush, ``key``) EVE goes to
    Suricata's redis output instead of ``eve.json`` (``consume --redis``, docs/consumer.md).
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    template = env.from_string(OFFLINE_YAML_TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        home_net=[str(n) for n in cfg.networks.home] or ["10.0.0.0/8"],
        http_ports=list(cfg.traffic.http_ports),
        log_dir=str(log_dir),
        rule_dir=str(log_dir),
        rule_files=[str(Path(r).resolve()) for r in rule_files],
        classification=str(classification or CLASSIFICATION),
        reference=str(reference) if reference else "",
        tcp_established_timeout=TCP_ESTABLISHED_TIMEOUT_S,
        eve_redis=dict(eve_redis) if eve_redis else None,
    )


def _first_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith(("E:", "Error:")) or " E: " in line or "<Error>" in line:
            return line
    return lines[-1] if lines else "no output"


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                              timeout=3600)
    except FileNotFoundError as exc:
        raise ToolMissingError(argv[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolFailedError(Path(argv[0]).name, "did not finish within an hour") from exc


def _mb(path: Path) -> str:
    try:
        return f"{path.stat().st_size / 1e6:.1f} MB"
    except OSError:
        return "-"


def validate_rules(cfg: Config, rule_files: Sequence[Path], work_dir: Path) -> None:
    """``suricata -T`` over *rule_files*; raises ToolFailedError with the first ``E:`` line."""
    binary = find_binary(cfg)
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    conf = work_dir / "suricata-test.yaml"
    conf.write_text(render_offline_yaml(cfg, work_dir, rule_files), encoding="utf-8")
    proc = _run([binary, "-T", "-c", str(conf), "-l", str(work_dir)], cwd=work_dir)
    if proc.returncode != 0:
        raise ToolFailedError("suricata -T", _first_error(proc.stdout + proc.stderr))


def read_pcaps(cfg: Config, pcaps: Sequence[Path], out_dir: Path,
               rule_files: Sequence[Path] = (), extra_rules: Sequence[Path] = ()) -> Path:
    """Run Suricata over each capture in turn; return one concatenated ``out_dir/eve.json``.

    Each capture is read in its own run (``--runmode single`` for deterministic output) in a
    sub-directory; the EVE files are concatenated in the order given. *extra_rules* are
    third-party rule files loaded after *rule_files*, with a classification file merged from
    ours and theirs (:mod:`sakimori.rulesets`). Suricata runs with ``-v``: its output, kept in
    each run directory as ``suricata.stdout``, says how many rules loaded and failed.
    """
    from sakimori import rulesets

    classification = reference = None
    if extra_rules:
        classification = rulesets.write_classification(
            extra_rules, Path(out_dir).resolve() / "suricata" / "classification.config")
        reference = rulesets.reference_config(extra_rules)
    all_rules = [*rule_files, *extra_rules]
    binary = find_binary(cfg)
    out_dir = Path(out_dir).resolve()  # Suricata runs in run_dir: relative paths would move
    for pcap in pcaps:
        if not Path(pcap).is_file():
            raise InputError(str(pcap), None, "capture not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    eve_out = out_dir / "eve.json"
    with eve_out.open("wb") as combined:
        for i, pcap in enumerate(pcaps):
            run_dir = out_dir / "suricata" / f"{i:03d}-{Path(pcap).stem}"
            run_dir.mkdir(parents=True, exist_ok=True)
            eve = run_dir / "eve.json"
            eve.unlink(missing_ok=True)
            conf = run_dir / "suricata.yaml"
            conf.write_text(render_offline_yaml(cfg, run_dir, all_rules, classification,
                                                reference), encoding="utf-8")
            with progress.phase(f"suricata {Path(pcap).name}",
                                text=lambda eve=eve: f"eve.json {_mb(eve)}"):
                proc = _run([binary, "-c", str(conf), "-r", str(Path(pcap).resolve()), "-v",
                             "-l", str(run_dir), "-k", "none", "--runmode", "single"],
                            cwd=run_dir)
            (run_dir / "suricata.stdout").write_text(proc.stdout + proc.stderr, "utf-8")
            if proc.returncode != 0:
                raise ToolFailedError("suricata", f"{pcap}: "
                                      f"{_first_error(proc.stdout + proc.stderr)}")
            if eve.exists():
                with eve.open("rb") as part:
                    shutil.copyfileobj(part, combined)
    return eve_out


def pcap_to_redis(cfg: Config, pcap: Path, run_dir: Path, server: str, port: int, key: str,
                  mode: str = "list", rule_files: Sequence[Path] = ()) -> None:
    """Run Suricata over *pcap* with its redis eve-log output pushing to *key* (mode
    ``list`` = LPUSH or ``rpush``) at *server*:*port* (database 0, no AUTH: Suricata 7.0.10's
    redis output has neither AUTH nor TLS)."""
    if mode not in ("list", "rpush") or not key or not all(
            c.isalnum() or c in "-_.:" for c in key):
        raise ValueError(f"redis key {key!r} / mode {mode!r}: key [A-Za-z0-9-_.:], "
                         f"mode list or rpush")
    binary = find_binary(cfg)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "suricata.yaml"
    conf.write_text(render_offline_yaml(cfg, run_dir, rule_files, eve_redis={
        "server": server, "port": int(port), "mode": mode, "key": key}), encoding="utf-8")
    proc = _run([binary, "-c", str(conf), "-r", str(Path(pcap).resolve()), "-l", str(run_dir),
                 "-k", "none", "--runmode", "single"], cwd=run_dir)
    (run_dir / "suricata.stdout").write_text(proc.stdout + proc.stderr, "utf-8")
    if proc.returncode != 0:
        raise ToolFailedError("suricata", f"{pcap}: {_first_error(proc.stdout + proc.stderr)}")
