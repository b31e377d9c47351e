"""Admin-screen test data written by the consumer's own output code, with hostile strings.

:func:`write_reports` writes OUT_DIR/hosts.csv, findings.jsonl (through the consumer's
``hosts_csv`` and ``findings_jsonl`` outputs and ``correlate``) and mail_warnings.jsonl
(through the warning sender's ``record``). :func:`write_config` writes a sakimori.yaml whose
``web`` section points at them. The payloads stand for what an attacker controls: URLs, Host
headers, SNI, mail subjects and display names.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import yaml

from eve_consumer.correlate import correlate
from eve_consumer.mailwarn.send import record
from eve_consumer.model import Finding
from eve_consumer.outputs import Report
from eve_consumer.outputs.findings_jsonl import FindingsJsonl
from eve_consumer.outputs.hosts_csv import HostsCsv
from sakimori.config import load_config
from sakimori.mail.checks import Hit
from sakimori.mail.warnings import FlaggedMail

XSS_SCRIPT = "<script>alert('xss')</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_JS = "javascript:alert(document.cookie)"
PAYLOADS = (XSS_SCRIPT, XSS_IMG)
T0 = 1_793_491_200.0  # 2026-11-01T00:00:00Z
BEACON_HOST = "10.1.20.11"
PROXY_SECRET = "proxy-shared-secret-0123456789"
PROXY = {"X-Sakimori-Proxy-Secret": PROXY_SECRET}  # what the trusted proxy adds
C2 = "c2.evil-cdn.test"


def findings() -> list[Finding]:
    intervals = [60.0 + (i % 7) - 3 for i in range(150)]
    beacon = Finding(
        BEACON_HOST, "beacon", 0.95, T0 + 3600, T0 + 90000, [C2, f"evil.test{XSS_SCRIPT}"],
        [1111, 2222],
        {"pairs": [{"score": 0.95, "z": 8.6, "period_s": 60.0, "jitter": 0.05, "beats": 151,
                    "gaps": 0, "sub_z_shape": 9.1, "sub_z_local": 8.1,
                    "sub_size_regularity": 1.0, "intervals_s": intervals, "destination": C2,
                    "dest_ip": "198.51.100.9", "dest_port": 443},
                   {"score": 0.8, "period_s": 300.0, "jitter": 0.2, "beats": 40,
                    "sub_z_shape": 4.4, "destination": f"evil.test{XSS_SCRIPT}",
                    "dest_ip": "198.51.100.10", "dest_port": 80}],
         "threshold": 0.7, "min_connections": 8},
        f"{C2} every ~60s (jitter ±5%, 151 beats, score 0.95 >= 0.7)")
    long_url = Finding(
        "10.1.20.14", "long_url", 0.8, T0 + 7200, T0 + 8000, [f"x.test{XSS_IMG}", XSS_JS],
        [3333], {"requests": 3, "longest": 2400, "threshold": "urilen > 180 (learned)",
                 "url": f"http://x.test/{XSS_IMG}{XSS_SCRIPT}"},
        f"3 URL(s) longer than 180, e.g. http://x.test/{XSS_IMG}")
    tor = Finding(
        "10.1.20.18", "anonymizer", 0.9, T0 + 100, T0 + 200, ["176.58.115.27:9001"], [4444],
        {"alerts": 2, "snis": [f"www.{XSS_SCRIPT}.com"], "signatures": [XSS_IMG]},
        f"Tor TLS, SNI www.{XSS_SCRIPT}.com")
    formula = Finding(
        "10.1.20.19", "fw_blocked", 0.7, T0 + 10, T0 + 20, ["=HYPERLINK(\"http://x\")"], [],
        {"failures": 40, "threshold": 20}, "=cmd|' /C calc'!A0")
    return [beacon, long_url, tor, formula]


def warnings() -> list[dict[str, Any]]:
    spoof = FlaggedMail(
        source="rspamd", hits=(Hit("SAKIMORI_DISPLAY_NAME_SPOOF", [f"name={XSS_IMG}"]),),
        header_from=f'"{XSS_IMG}" <ceo@examp1e.co.jp>', envelope_from="x@examp1e.co.jp",
        recipients=("keiri@example.co.jp", "tanaka@example.co.jp"), subject=XSS_SCRIPT,
        date="Sun, 01 Nov 2026 00:30:00 +0000", message_id="<m1@examp1e.co.jp>",
        ip="45.77.0.10", score=9.0, action="add header")
    other = FlaggedMail(
        source="suricata", hits=(Hit("SAKIMORI_INTERNAL_SPOOF", ["from=example.co.jp"]),),
        header_from="総務 <soumu@example.co.jp>", recipients=("sato@example.co.jp",),
        subject="お打ち合わせの件", date="Sun, 01 Nov 2026 01:00:00 +0000",
        message_id="<m2@x>", ip="45.77.0.11")
    return [record("mid:m1@examp1e.co.jp", spoof, ["soc@example.co.jp"], mailed=True),
            record("mid:m2@x", other, [], mailed=False, reason="--no-mail")]


def write_reports(out: Path, extra: list[Finding] | None = None) -> Path:
    """The consumer's report files for the crafted findings (and *extra* ones) and warnings,
    in *out*."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(None, env={})
    rows = correlate(findings() + list(extra or []))
    report = Report(out_dir=out, rows=rows, findings=[f for r in rows for f in r.findings])
    HostsCsv(cfg, None).write(report)
    FindingsJsonl(cfg, None).write(report)
    with (out / "mail_warnings.jsonl").open("w", encoding="utf-8") as fh:
        for w in warnings():
            fh.write(json.dumps(w, ensure_ascii=False) + "\n")
    (out / "stats.json").write_text("{}\n", encoding="utf-8")
    return out


def write_config(tmp: Path, *, report_dirs: list[Path], build_dir: Path | None = None,
                 auth: str = "local", reload_commands: list[str] | None = None,
                 extra_web: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {
        "networks": {"home": ["10.1.0.0/16"]},
        "mail": {"internal_domains": ["example.co.jp"]},
        "whitelist": {"destinations": ["ntp.nict.jp"], "file": str(tmp / "whitelist.txt")},
        "alerts": {"admins": ["soc@example.co.jp"], "sender": "sakimori@example.co.jp"},
        "consumer": {"state_dir": str(tmp / "state")},
        "web": {
            "auth": auth, "report_dirs": [str(d) for d in report_dirs],
            "users_file": str(tmp / "users.json"), "secret_key_file": str(tmp / "secret.key"),
            "audit_log": str(tmp / "audit.jsonl"), "session_minutes": 30,
            "reload_commands": reload_commands or [],
            "user_hosts": {"keiri@example.co.jp": [BEACON_HOST]},
            **(extra_web or {}),
        },
    }
    if build_dir is not None:
        doc["web"]["build_dir"] = str(build_dir)
    if auth == "header":
        (tmp / "proxy.secret").write_text(PROXY_SECRET + "\n", encoding="utf-8")
        doc["web"].setdefault("proxy_secret_file", str(tmp / "proxy.secret"))
    path = tmp / "sakimori.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def many_findings(n: int) -> list[Finding]:
    """*n* hosts' findings in 10.2.0.0/16 and 10.3.0.0/16 (deterministic, varied scores and
    detections; beacon findings carry 150 intervals like the real consumer's)."""
    from eve_consumer.model import VOCABULARY

    out = []
    for i in range(n):
        host = f"10.{2 + i // 65536}.{i // 256 % 256}.{i % 256}"
        for k in range(1 + i % 3):
            det = VOCABULARY[(i + k) % len(VOCABULARY)]
            conf = 0.5 + ((i * 7919 + k) % 50) / 100
            evidence: dict[str, Any] = {"threshold": 0.7}
            if det == "beacon":
                evidence["pairs"] = [{"score": conf, "period_s": 60.0, "beats": 150,
                                      "destination": f"c2-{i % 97}.test",
                                      "intervals_s": [60.0 + (j % 5) for j in range(150)]}]
            out.append(Finding(host, det, conf, T0 + i, T0 + i + 3600 * (k + 1),
                               [f"d{i % 1000}.example.net", f"198.51.100.{i % 250}:443"],
                               [i * 10 + k], evidence, f"{det} of {host} #{k}"))
    return out


def write_many(out: Path, n: int) -> Path:
    """hosts.csv and findings.jsonl of *n* hosts, written by the consumer's outputs."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(None, env={})
    rows = correlate(many_findings(n))
    report = Report(out_dir=out, rows=rows, findings=[f for r in rows for f in r.findings])
    HostsCsv(cfg, None).write(report)
    FindingsJsonl(cfg, None).write(report)
    return out


# --- the triage page (every Table 1 class over three days) -----------------------------------
DAY = 86_400.0
KC_HOST = "10.1.40.10"  # beacon after its user got a targeted mail: the kill chain
BD_TOP = "10.1.40.11"  # the highest-scoring backdoor
BD_URL = "10.1.40.12"  # backdoor (long_url)
BD_MAL = "10.1.40.13"  # backdoor and malware: listed once, under backdoor
WEB_SERVER = "10.1.30.80"  # web_attack: the internal server is the row
MALWARE = "10.1.40.20"
TOR = "10.1.40.30"
KC_USER = "yamada@example.co.jp"


def triage_findings(t0: float = T0) -> list[Finding]:
    """Findings of every HTTP class; a host's first finding decides its day (t0 = day 0)."""
    def f(host: str, det: str, conf: float, start: float, dests: list[str],
          summary: str, **kw: Any) -> Finding:
        return Finding(host, det, conf, t0 + start, t0 + start + 3600, dests, [7000], {},
                       summary, **kw)

    return [
        f(KC_HOST, "beacon", 0.6, DAY + 7200, [f"kc.{XSS_SCRIPT}.test"],
          f"kc.evil.test every ~300s {XSS_IMG}"),
        f(BD_TOP, "beacon", 0.95, DAY + 3600, [C2], f"{C2} every ~60s"),
        f(BD_URL, "long_url", 0.8, 2 * DAY, [f"x.test{XSS_IMG}"], "3 URL(s) longer than 180"),
        f(BD_MAL, "beacon", 0.7, DAY, ["c2b.test"], "c2b.test every ~120s"),
        f(BD_MAL, "malware_signature", 0.9, 2 * DAY, ["c2b.test"], f"ET MALWARE {XSS_SCRIPT}"),
        f(WEB_SERVER, "web_attack", 0.8, 2 * DAY, ["198.51.100.20 -> :80"],
          "2 alert(s), e.g. ET WEB_SERVER …", classes=["web_attack"]),
        f(MALWARE, "malware_signature", 0.85, 2 * DAY + 60, ["203.0.113.7:443"],
          "ET MALWARE Win32/Agent CnC"),
        f(TOR, "anonymizer", 0.9, 100, ["176.58.115.27:9001"], "Tor TLS"),
    ]


def _mail(cls: str, subject: str, rcpts: tuple[str, ...], date: str, *, malware: tuple = (),
          reasons: tuple = (), hits: tuple = (), action: str = "") -> FlaggedMail:
    return FlaggedMail(source="rspamd", hits=hits, header_from="x <x@examp1e.co.jp>",
                       recipients=rcpts, subject=subject, date=date,
                       message_id=f"<{zlib.crc32(subject.encode())}@x>", ip="45.77.0.12", score=9.0,
                       action=action, malware=malware, mail_class=cls, class_reasons=reasons)


def triage_warnings(t0: float = T0) -> list[dict[str, Any]]:
    """Mail warnings of every mail class (records by the sender's ``record``), recorded at
    the given days: (class, day) = targeted 0, 2 (and a classless spoofing warning, day 1),
    mass_virus 1, 1, spam 2."""
    from datetime import UTC, datetime
    from email.utils import format_datetime

    def at(days: float) -> tuple[str, str]:
        dt = datetime.fromtimestamp(t0 + days * DAY, UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ"), format_datetime(dt)

    spoof = (Hit("SAKIMORI_DISPLAY_NAME_SPOOF", [f"name={XSS_IMG}"]),)
    clam = (Hit("CLAM_VIRUS", ["Win.Trojan.Mass-1"]),)
    mails = [
        (0.5, _mail("targeted", f"請求書 {XSS_SCRIPT}", (KC_USER,), "", hits=spoof,
                    reasons=("spoofing finding: SAKIMORI_DISPLAY_NAME_SPOOF",))),
        (2.5, _mail("targeted", "見積書の件", ("sato@example.co.jp",), "", hits=spoof,
                    reasons=("spoofing finding: SAKIMORI_DISPLAY_NAME_SPOOF",))),
        (1.2, _mail("", f"old warning {XSS_IMG}", ("suzuki@example.co.jp",), "", hits=spoof)),
        (1.3, _mail("mass_virus", "Invoice", tuple(f"u{i}@example.co.jp" for i in range(12)),
                    "", hits=clam, malware=("Win.Trojan.Mass-1",),
                    reasons=("malware Win.Trojan.Mass-1 reached 12 recipients >= 10",))),
        (1.4, _mail("mass_virus", f"Invoice 2 {XSS_IMG}", ("u1@example.co.jp",), "", hits=clam,
                    malware=("Win.Trojan.Mass-1",),
                    reasons=("malware Win.Trojan.Mass-1 reached 13 recipients >= 10",))),
        (2.6, _mail("spam", "Cheap watches", ("u2@example.co.jp",), "", action="add header",
                    reasons=("Rspamd action add header",))),
    ]
    out = []
    for days, mail in mails:
        when, date = at(days)
        mail = FlaggedMail(**{**mail.__dict__, "date": date})
        rec = record(f"mid:{mail.message_id}", mail, [], mailed=False, reason="--no-mail")
        rec["time"] = when  # when the consumer recorded it
        out.append(rec)
    return out


def write_triage(out: Path, extra: list[Finding] | None = None, t0: float = T0) -> Path:
    """The consumer's report files for :func:`triage_findings` (and *extra*) and
    :func:`triage_warnings`, in *out*."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(None, env={})
    rows = correlate(triage_findings(t0) + list(extra or []))
    report = Report(out_dir=out, rows=rows, findings=[f for r in rows for f in r.findings])
    HostsCsv(cfg, None).write(report)
    FindingsJsonl(cfg, None).write(report)
    with (out / "mail_warnings.jsonl").open("w", encoding="utf-8") as fh:
        for w in triage_warnings(t0):
            fh.write(json.dumps(w, ensure_ascii=False) + "\n")
    return out
