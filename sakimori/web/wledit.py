"""The whitelist editor: mark a destination benign, regenerate, reload, audit.

:func:`add_entry` (one at a time, under a lock):

1. validates the entry with :func:`sakimori.whitelist.entry_problem` under the configured
   policy — the one validator of config, whitelist file and editor (a bad entry changes
   nothing) — and requires a reason;
2. appends it to ``whitelist.file`` (written atomically), which :mod:`sakimori.config` merges
   with ``whitelist.destinations`` wherever the whitelist is built — one meaning;
3. reloads the configuration from its file and regenerates ``web.build_dir`` with
   :func:`generator.build.render_build`, the very code of ``sakimori generate``
   (``web.baselines`` for the thresholds), which deploys a build only when all of it passed
   its checks. If that fails, the file is restored; the deployed build was never touched;
4. runs each of ``web.reload_commands`` (argv, no shell, 60 s timeout) — output captured and
   shown; a failing or missing command is reported, never raised;
5. appends a JSON line to ``web.audit_log``: who, when, why, entry, result, rule lines. The
   reason is one line without control or bidi characters
   (:func:`sakimori.textsafe.strip_unsafe`).

"Mark benign" on a host page (:func:`offers`) proposes only the flow's exact IP and the exact
host name of a destination in that host's evidence, and its POST handler accepts only one of
those (re-computed from the report); the whitelist page's own form takes any valid entry, typed
by the analyst.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sakimori.config import Config, load_config
from sakimori.errors import SakimoriError
from sakimori.textsafe import strip_unsafe
from sakimori.whitelist import (
    DEFAULT_POLICY,
    EntryPolicy,
    entry_problem,
    normalise_host,
    parse_network,
)

RELOAD_TIMEOUT_S = 60.0
MAX_OUTPUT = 4000
MAX_REASON = 500
_LOCK = threading.Lock()
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # exact names only: no '*', no leading '.'


@dataclass
class EditResult:
    ok: bool
    entry: str
    message: str
    user: str = ""
    reason: str = ""
    time: str = ""
    id: str = ""
    regenerated: list[str] = field(default_factory=list)
    rule_lines: list[str] = field(default_factory=list)
    reloads: list[dict[str, Any]] = field(default_factory=list)


def _flow_ip(label: str) -> str | None:
    """The address of a flow label (``ip:port``, ``[v6]:port``, ``v6:port``, ``ip -> :port``),
    or None. A bare address without a port is no flow label: it is Host/SNI text."""
    head, sep, port = label.partition(" -> :")
    if not sep:
        if label.startswith("[") and "]:" in label:
            head, port = label[1:label.index("]:")], label[label.index("]:") + 2:]
        else:
            head, _, port = label.rpartition(":")
    if not port.isdigit():
        return None
    try:
        return str(ipaddress.ip_address(head))
    except ValueError:
        return None


def offers(destination: str, policy: EntryPolicy = DEFAULT_POLICY) -> list[str]:
    """The entries "mark benign" offers for one evidence destination: the flow's exact IP and
    the exact host name, each only when it is a valid entry under *policy*.

    Destinations read ``name (ip:port)``, ``ip:port``, ``ip -> :port`` or a bare name (HTTP
    Host / TLS SNI, which the client — possibly the attacker — wrote). Never offered: a CIDR, a
    ``*.`` or ``.`` form, a public suffix, or an address that only appears as Host/SNI text.
    """
    text = " ".join(destination.split())
    m = re.fullmatch(r"(\S+) \((.+)\)", text)
    name, label = (m.group(1), m.group(2)) if m else (None, text)
    ip = _flow_ip(label)
    if ip is None and name is None:
        name = label
    out = []
    if ip is not None and entry_problem(ip, policy) is None:
        out.append(ip)
    host = normalise_host(name) if name else ""
    if (host and _NAME.fullmatch(host) and parse_network(host) is None
            and not _is_ip(host) and entry_problem(host, policy) is None):
        out.append(host)
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _write_file(path: Path, entries: list[str], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(header + "".join(e + "\n" for e in entries), encoding="utf-8")
    tmp.replace(path)


def _header(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    kept = [ln for ln in lines if ln.startswith("#")]
    if not kept:
        kept = ["# sakimori whitelist file: one entry per line (see whitelist.destinations).",
                "# Written by the admin screen's whitelist editor; audit: web.audit_log."]
    return "".join(ln + "\n" for ln in kept)


def _regenerate(cfg: Config) -> list[str]:
    from generator.build import render_build
    from sakimori.baselines import load_document

    web = cfg.web
    if web.build_dir is None:
        return ["not regenerated: web.build_dir is not set"]
    doc = load_document(web.baselines) if web.baselines is not None else None
    files, status, rspamd_dir, rspamd_status = render_build(cfg, doc, web.build_dir)
    return [f"{', '.join(str(f) for f in files)} — {status}", f"{rspamd_dir} — {rspamd_status}"]


def rule_lines(cfg: Config, entry: str) -> list[str]:
    """Lines of the generated sakimori.rules that carry *entry* (as text or as PCRE)."""
    if cfg.web.build_dir is None:
        return []
    path = cfg.web.build_dir / "suricata" / "sakimori.rules"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    text = entry.strip().lower().rstrip(".").lstrip("*").lstrip(".")
    needles = {text, text.replace(".", "\\."), re.escape(text)}
    return [ln for ln in lines if any(n in ln.lower() for n in needles)][:20]


def run_reloads(cfg: Config) -> list[dict[str, Any]]:
    out = []
    for argv in cfg.web.reload_commands:
        rec: dict[str, Any] = {"command": " ".join(argv)}
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                                  timeout=RELOAD_TIMEOUT_S, stdin=subprocess.DEVNULL)
            rec.update(ok=proc.returncode == 0, returncode=proc.returncode,
                       output=(proc.stdout + proc.stderr)[-MAX_OUTPUT:])
        except (OSError, subprocess.SubprocessError) as exc:
            rec.update(ok=False, returncode=None, output=str(exc)[:MAX_OUTPUT])
        out.append(rec)
    return out


def _audit(cfg: Config, result: EditResult) -> None:
    path = cfg.web.audit_log
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
    except OSError as exc:
        result.message += f" (audit log not written: {exc.strerror})"


def read_audit(cfg: Config, limit: int = 50) -> list[dict[str, Any]]:
    """The newest *limit* audit records, newest first."""
    try:
        lines = cfg.web.audit_log.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in reversed(lines[-limit:]):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def add_entry(cfg: Config, entry: str, user: str, reason: str) -> EditResult:
    """Whitelist *entry* (see the module docstring); the result is audited unless invalid."""
    entry = (entry or "").strip()
    # one line, no control or bidi characters (a U+202E would reverse what admins read)
    reason = " ".join(strip_unsafe(reason or "", MAX_REASON * 2).split())[:MAX_REASON]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = EditResult(False, entry, "", user, reason, now, f"{time.time_ns():x}")
    problem = entry_problem(entry, cfg.whitelist.policy) if entry else "empty entry"
    if problem:
        result.message = f"not changed: {problem}"
        return result
    if not reason:
        result.message = "not changed: a reason is required"
        return result
    path = cfg.whitelist.file
    if path is None:
        result.message = "not changed: whitelist.file is not set in the configuration"
        return result
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, path.with_name(f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other `sakimori serve` processes on the same file
        return _apply(cfg, path, entry, result)


def _apply(cfg: Config, path: Path, entry: str, result: EditResult) -> EditResult:
    try:
        fresh = load_config(cfg.source) if Path(cfg.source).is_file() else cfg
    except SakimoriError as exc:
        result.message = f"not changed: the configuration does not load now: {exc}"
        return result
    problem = entry_problem(entry, fresh.whitelist.policy)
    if problem:  # the policy (min_prefix, networks.home) of the configuration as it is now
        result.message = f"not changed: {problem}"
        return result
    if entry.lower() in {e.lower() for e in fresh.whitelist.destinations}:
        result.message = f"not changed: {entry} is already whitelisted"
        return result
    old = path.read_bytes() if path.is_file() else None
    _write_file(path, [*fresh.whitelist.from_file, entry], _header(path))
    try:
        new_cfg = load_config(cfg.source)
        result.regenerated = _regenerate(new_cfg)
    except (SakimoriError, OSError) as exc:  # e.g. a full disk while staging the build
        if old is None:  # the deployed build was never touched (render_build is atomic)
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(old)
        result.message = f"not changed (restored): regeneration failed: {exc}"
        _audit(cfg, result)
        return result
    result.rule_lines = rule_lines(new_cfg, entry)
    result.reloads = run_reloads(new_cfg)
    failed = [r["command"] for r in result.reloads if not r["ok"]]
    result.ok = True
    result.message = f"{entry} whitelisted and rules regenerated" + (
        f"; reload failed: {', '.join(failed)}" if failed else
        "; reload commands ran" if result.reloads else "; no reload command configured")
    _audit(cfg, result)
    return result
