"""The mail half of ``sakimori demo``: real Rspamd judges the example test mails and the real
warning path (metadata_exporter → ``sakimori consume --rspamd-listen`` → SMTP) sends warnings.

The consumer runs as its own process exactly as an operator would run it; the private Rspamd
instance (``sakimori.rspamd``) runs the generated plugin and maps and posts flagged mail to it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sakimori.config import Config
from sakimori.errors import SakimoriError

SERVICE_START_S = 30.0
WARNINGS_WAIT_S = 30.0


@dataclass(frozen=True)
class MailVerdict:
    name: str
    kind: str
    expected: frozenset[str]
    got: frozenset[str]

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SakimoriError(f"the warning receiver exited early (code {proc.returncode})")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SakimoriError(f"the warning receiver did not listen on {host}:{port} in time")


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for _ in path.open("rb"))
    except OSError:
        return 0


def _scan_all(cfg: Config, build_dir: Path, testset: dict, events_url: str,
              until_posted: Callable[[int], None]) -> list[MailVerdict]:
    """Scan every test mail; *until_posted(flagged)* runs before Rspamd stops (its exporter
    posts apart from the scans: a post still on its way would be lost with the worker)."""
    from sakimori.rspamd import RspamdInstance

    root = Path(testset["dir"])
    verdicts = []
    with RspamdInstance(build_dir, binary=cfg.rspamd.binary,
                        export_to=events_url) as inst:
        for case in testset["cases"]:
            reply = inst.scan((root / case["file"]).read_bytes(), ip=case.get("ip"),
                              mail_from=case.get("envelope_from"), rcpt=case.get("rcpt") or (),
                              helo=case.get("helo"), hostname=case.get("hostname"),
                              user=case.get("user"))
            got = {s for s in (reply.get("symbols") or {}) if s.startswith("SAKIMORI_")}
            verdicts.append(MailVerdict(case["name"], case["kind"],
                                        frozenset(case["expected_symbols"]), frozenset(got)))
        until_posted(sum(1 for v in verdicts if v.got))
        errors = inst.lua_errors()
    if errors:
        raise SakimoriError(f"Rspamd logged {len(errors)} Lua error(s); first: {errors[0]}")
    return verdicts


def run_mail_demo(cfg: Config, cfg_path: Path, build_dir: Path, testset: dict,
                  out: Path) -> list[MailVerdict]:
    """Scan every test mail through real Rspamd; warnings reach the configured SMTP relay."""
    from generator.render_rspamd import exporter_url

    report = out / "mail-report"
    cmd = [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg_path),
           "--rspamd-listen", "--out", str(report), "--state-dir", str(out / "state-mail")]
    print("==> sakimori " + " ".join(cmd[3:]) + "   (in the background)", flush=True)
    service = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        _wait_port(cfg.rspamd.listen_host, cfg.rspamd.listen_port, service, SERVICE_START_S)
        print(f"==> scanning {len(testset['cases'])} mails with a private Rspamd running the "
              "generated plugin", flush=True)

        def until_posted(flagged: int) -> None:
            deadline = time.monotonic() + WARNINGS_WAIT_S
            while (_count_lines(report / "mail_warnings.jsonl") < flagged
                   and time.monotonic() < deadline):
                time.sleep(0.2)

        verdicts = _scan_all(cfg, build_dir, testset, exporter_url(cfg), until_posted)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
    return verdicts


def format_mail_table(verdicts: list[MailVerdict]) -> str:
    def short(symbols: frozenset[str]) -> str:
        return ",".join(sorted(s.removeprefix("SAKIMORI_") for s in symbols)) or "-"

    lines = [f"{'mail':<44} {'kind':<11} {'expected':<34} {'got':<34} result"]
    for v in verdicts:
        lines.append(f"{v.name[:44]:<44} {v.kind:<11} {short(v.expected):<34} "
                     f"{short(v.got):<34} {'ok' if v.ok else 'WRONG'}")
    return "\n".join(lines)


def warning_summaries(report_dir: Path) -> list[str]:
    """One line per warning the consumer sent (from its mail_warnings.jsonl)."""
    out = []
    path = report_dir / "mail_warnings.jsonl"
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        status = "sent" if rec.get("mailed") else f"not sent ({rec.get('reason')})"
        out.append(f"warning {status} to {', '.join(rec.get('warned') or [])}: "
                   f"{', '.join(str(c) for c in rec.get('symbols') or [])} — mail from "
                   f"{rec.get('header_from')!r}, subject {rec.get('subject')!r}")
    return out
