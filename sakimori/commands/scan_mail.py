"""The ``sakimori scan-mail`` verb: judge .eml files with a real Rspamd running the plugin.

The build is rendered into a temporary directory (:func:`generator.render_rspamd.write_rspamd`)
and a private Rspamd is started on loopback (:class:`sakimori.rspamd.RspamdInstance`), unless
``rspamd.url`` names a running Rspamd that already has the plugin installed. Each message is
sent to ``/checkv2`` with its SMTP envelope: ``--ip/--from/--rcpt/--helo/--hostname/--user``
give defaults; a sidecar ``<file>.json`` (or ``<stem>.json``, as ``sakimori_demo.mailsim`` writes)
with ``ip``, ``helo``, ``hostname``, ``envelope_from``, ``rcpt``, ``user`` overrides them.

One JSON object per message on stdout: ``file``, ``symbols`` (SAKIMORI_* and the notable Rspamd
symbols, name → options), ``score``, ``action``, ``warnings`` (the warning mails sakimori would
send: ``{"to": "admins"|"recipient", "addresses": [...], "checks": [...]}``, by the consumer's
recipient policy), ``class`` (Table 1: ``targeted`` | ``mass_virus`` | ``spam`` | ``clean``,
:mod:`sakimori.mail.classes`) with ``class_reasons``, ``malware`` (ClamAV signature names),
``volume`` (distinct recipients the malware reached) and ``antivirus`` (``clean``,
``infected``, ``failed``, ``off``, ``unknown``) — or ``file`` and ``error`` when the
file cannot be read or scanned. A broken mail is scanned like any other.

The private Rspamd asks a private clamd (:class:`sakimori.clamd_local.ClamdInstance`): the
system's signature database when there is one, otherwise a minimal test database (EICAR); a
stderr line says which. Every message is scanned first and the objects are printed after the
last one: copies of one malware in the run count towards its volume as they would at the
gateway (see docs/mail-checks.md, "Mail classes (Table 1)").
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from generator.render_rspamd import write_rspamd
from sakimori.baselines import load_document
from sakimori.clamd_local import ClamdInstance
from sakimori.config import Config, load_config
from sakimori.errors import SakimoriError
from sakimori.mail.checks import Hit
from sakimori.mail.classes import AV_SYMBOLS, VolumeCounter, classify, volume_keys
from sakimori.mail.warnings import FlaggedMail, notified_recipients
from sakimori.rspamd import RspamdInstance, find_binary, scan_url

log = logging.getLogger(__name__)

# Rspamd's own symbols worth showing next to ours (sender forgery and authentication).
NOTABLE = frozenset({
    "FORGED_SENDER", "FROM_NEQ_ENVFROM", "REPLYTO_DOM_NEQ_FROM_DOM", "REPLYTO_EQ_TO_ADDR",
    "SPOOF_REPLYTO", "FORGED_RECIPIENTS", "R_SPF_FAIL", "R_SPF_SOFTFAIL", "R_DKIM_REJECT",
    "DMARC_POLICY_REJECT", "DMARC_POLICY_QUARANTINE", "DMARC_POLICY_SOFTFAIL",
})
ENVELOPE_KEYS = ("ip", "helo", "hostname", "envelope_from", "rcpt", "user")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan-mail", help="judge .eml files with Rspamd and the sakimori plugin",
                       description="Scan each EML with a real Rspamd running the generated "
                                   "plugin; print one JSON object per message.")
    p.add_argument("--config", required=True, type=Path, help="sakimori.yaml")
    p.add_argument("--baselines", type=Path, default=None,
                   help="baselines.json from `sakimori learn` (omit: nothing learned)")
    p.add_argument("--ip", help="connecting IP (default for every message)")
    p.add_argument("--from", dest="mail_from", metavar="ADDR", help="envelope sender")
    p.add_argument("--rcpt", action="append", default=[], metavar="ADDR",
                   help="envelope recipient (repeat for several)")
    p.add_argument("--helo", help="HELO/EHLO name")
    p.add_argument("--hostname", help="PTR name of the connecting IP")
    p.add_argument("--user", help="SMTP AUTH user (authenticated submission)")
    p.add_argument("eml", nargs="+", type=Path, metavar="EML")
    p.set_defaults(func=run)


def planned_warnings(cfg: Config, checks: list[str],
                     rcpt: list[str] | tuple[str, ...] = (), mail_class: str | None = None,
                     malware: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The warning mails the consumer would send for a message whose SAKIMORI_* symbols are
    *checks*, whose malware verdict is *malware*, whose class is *mail_class* and whose
    envelope recipients are *rcpt*: the same policy (``mail_classes.warn_classes``,
    :func:`sakimori.mail.warnings.notified_recipients`), not a copy of it."""
    if (not checks and not malware) or not cfg.alerts.enabled:
        return []
    if mail_class and mail_class not in cfg.mail_classes.warn_classes:
        return []
    out: list[dict[str, Any]] = [{"to": "admins", "addresses": list(cfg.alerts.admins),
                                  "checks": checks}]
    mail = FlaggedMail(source="scan", hits=tuple(Hit(c, []) for c in checks),
                       recipients=tuple(rcpt), malware=tuple(malware))
    notified = notified_recipients(cfg, mail)
    if notified:
        out.append({"to": "recipient", "addresses": notified, "checks": checks})
    return out


def _sidecar(path: Path) -> dict[str, Any]:
    for side in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if side.is_file() and side != path:
            try:
                data = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("%s: sidecar ignored (%s)", side, exc)
                return {}
            return {k: data[k] for k in ENVELOPE_KEYS if isinstance(data, dict) and k in data}
    return {}


def _envelope(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    env: dict[str, Any] = {"ip": args.ip, "helo": args.helo, "hostname": args.hostname,
                           "envelope_from": args.mail_from, "rcpt": list(args.rcpt),
                           "user": args.user}
    env.update({k: v for k, v in _sidecar(path).items() if v is not None})
    rcpt = env.get("rcpt") or []
    return {"ip": env.get("ip") or None, "helo": env.get("helo") or None,
            "hostname": env.get("hostname") or None, "user": env.get("user") or None,
            "mail_from": env.get("envelope_from") or None,
            "rcpt": [rcpt] if isinstance(rcpt, str) else [str(r) for r in rcpt]}


def judge(cfg: Config, reply: dict[str, Any],
          rcpt: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``symbols``, ``score``, ``action`` and ``warnings`` of one Rspamd reply."""
    symbols = {name: list(sym.get("options") or [])
               for name, sym in sorted((reply.get("symbols") or {}).items())
               if (name.startswith("SAKIMORI_") and name != "SAKIMORI_CHECK") or name in NOTABLE
               or name in AV_SYMBOLS or name == "GTUBE"}
    checks = sorted(n for n in symbols if n.startswith("SAKIMORI_"))
    return {"symbols": symbols, "score": reply.get("score"), "action": reply.get("action"),
            "warnings": planned_warnings(cfg, checks, rcpt)}


def _scan_all(args: argparse.Namespace, cfg: Config, scan,
              antivirus: bool | None) -> int:
    """Scan every file, then class each (volume over the whole run) and print."""
    code = 0
    results: list[dict[str, Any]] = []
    for path in args.eml:
        result: dict[str, Any] = {"file": str(path)}
        try:
            message = path.read_bytes()
        except OSError as exc:
            result["error"] = f"cannot read: {exc.strerror or exc}"
            code = 1
        else:
            try:
                envelope = _envelope(args, path)
                result.update(judge(cfg, scan(message, **envelope), envelope["rcpt"]))
                result["_rcpt"] = envelope["rcpt"]
            except SakimoriError as exc:
                result["error"] = str(exc)
                code = 1
        results.append(result)
    counter = VolumeCounter(cfg.mail_classes.mass_window_hours * 3600)
    for result in results:
        if "symbols" in result:
            counter.add(volume_keys(result["symbols"]), result["_rcpt"], now=0.0)
    for result in results:
        if "symbols" in result:
            keys = volume_keys(result["symbols"])
            mail_class = classify(cfg.mail_classes, result["symbols"], result.get("action"),
                                  counter.volume(keys, now=0.0), antivirus)
            result.update(mail_class.as_dict())
            checks = sorted(n for n in result["symbols"] if n.startswith("SAKIMORI_"))
            result["warnings"] = planned_warnings(cfg, checks, result.pop("_rcpt"),
                                                  mail_class.name, mail_class.malware)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return code


def _clamd(cfg: Config) -> ClamdInstance | None:
    """A started private clamd, or None (stderr says why: the mail is scanned without)."""
    mc = cfg.mail_classes
    system = {"auto": None, "system": True, "test": False}[mc.clamd_database]
    try:
        clamd = ClamdInstance(binary=mc.clamd_binary, use_system_db=system).start()
    except SakimoriError as exc:
        print(f"sakimori scan-mail: no ClamAV, scanning without malware verdicts: {exc}",
              file=sys.stderr)
        return None
    note = "" if clamd.database.startswith("system") else \
        " (minimal test database: only test samples such as EICAR are detected)"
    print(f"sakimori scan-mail: ClamAV signatures: {clamd.database}{note}", file=sys.stderr)
    return clamd


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    doc = load_document(args.baselines) if args.baselines is not None else None
    if cfg.rspamd.url:
        url = cfg.rspamd.url
        return _scan_all(args, cfg, lambda m, **env: scan_url(url, m, **env), None)
    find_binary(cfg.rspamd.binary)
    with tempfile.TemporaryDirectory(prefix="sakimori-scan-") as tmp:
        build = Path(tmp)
        write_rspamd(cfg, doc, build)
        print(f"sakimori scan-mail: starting a private Rspamd ({cfg.rspamd.binary})",
              file=sys.stderr)
        clamd = _clamd(cfg)
        try:
            with RspamdInstance(build, binary=cfg.rspamd.binary,
                                antivirus=clamd.address if clamd else None) as inst:
                return _scan_all(args, cfg, inst.scan, clamd is not None)
        finally:
            if clamd is not None:
                clamd.stop()
