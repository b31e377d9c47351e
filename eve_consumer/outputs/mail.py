"""``mail``: one alert mail per internal host with new findings, to ``alerts.admins``.

- Sent through ``alerts.smtp`` (host:port) with :mod:`smtplib`; the message is an
  :class:`email.message.EmailMessage`, text in English or Japanese (``alerts.language``), the
  host's hosts.csv row attached as ``sakimori-<host>.csv``; the body names the host's Table 1
  classes (docs/classes.md).
- **Once per host and finding**: (host, detection) pairs are recorded in the state store the
  moment the server has accepted the mail (before QUIT); pairs already recorded are not mailed
  again, across runs and restarts. Across a kill -9 this is at least once: only a crash in the
  instant between the server's acceptance and that record repeats the mail (never lost; SMTP
  cannot give exactly once). A host mail carries only its new detections (the attachment shows all).
- With ``web.base_url`` set, the body ends with a link to the host's page on the admin screen
  (built from the configuration and the validated host address only).
- **Headers carry no network-derived text**: the subject is built from the host address
  (validated as an IP), counts, the score and the severity word only. Destinations and evidence
  go into the body, with control characters escaped.
- **SMTP failure** (refused, timeout, rejected): one logged line, counted in stats.json
  (``mail.failed``) and in the store; nothing is recorded as sent, so the next run (or the next
  evaluation in follow mode) retries. The consumer never crashes on it. After the first failure
  the remaining hosts of that round are deferred, not hammered.
- At most ``MAX_MAILS_PER_ROUND`` mails per evaluation (a bounded outbox); the rest wait for
  the next round (``mail.deferred``).
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from eve_consumer.correlate import HostReport
from eve_consumer.model import Finding, iso
from eve_consumer.outputs import Output, Report
from eve_consumer.outputs.hosts_csv import render_csv
from sakimori.textsafe import clean

log = logging.getLogger("sakimori.mail")
MAX_MAILS_PER_ROUND = 50
SMTP_TIMEOUT_S = 15.0

_TEXT = {
    "en": {
        "subject": "[sakimori] {host}: {n} new finding(s), score {score} ({severity})",
        "intro": "sakimori found signs of backdoor traffic from internal host {host}.",
        "score": "Score: {score}/100 ({severity})",
        "seen": "Seen: {first} .. {last} (UTC)",
        "new": "New findings:",
        "all": "All detections of this host: {detections}",
        "classes": "Classes (Table 1): {classes}",
        "dests": "Destinations:",
        "attach": "The host's report row is attached (CSV, same columns as hosts.csv).",
        "footer": "This mail is sent once per host and finding.",
        "screen": "Admin screen (evidence, whitelist): {url}",
    },
    "ja": {
        "subject": "[sakimori] {host}: 新しい検知 {n} 件 (スコア {score}, {severity})",
        "intro": "内部ホスト {host} からバックドア通信の兆候を検知しました。",
        "score": "スコア: {score}/100 ({severity})",
        "seen": "観測期間: {first} 〜 {last} (UTC)",
        "new": "新しい検知:",
        "all": "このホストの全検知: {detections}",
        "classes": "分類 (Table 1): {classes}",
        "dests": "通信先:",
        "attach": "このホストの報告行を CSV で添付します (hosts.csv と同じ列)。",
        "footer": "このメールはホストと検知の組ごとに一度だけ送信されます。",
        "screen": "管理画面 (根拠、ホワイトリスト): {url}",
    },
}


def _safe_host(host: str) -> str:
    """The host as a canonical IP string (raises ValueError for anything else)."""
    return str(ipaddress.ip_address(host))


def build_message(cfg: Any, row: HostReport, new: list[Finding]) -> EmailMessage:
    """The alert mail for *row* announcing the *new* findings."""
    text = _TEXT.get(cfg.alerts.language, _TEXT["en"])
    host = _safe_host(row.host)
    msg = EmailMessage()
    msg["From"] = cfg.alerts.sender
    msg["To"] = ", ".join(cfg.alerts.admins)
    msg["Subject"] = text["subject"].format(host=host, n=len(new), score=int(row.score),
                                            severity=row.severity)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="sakimori.invalid")
    lines = [text["intro"].format(host=host), "",
             text["score"].format(score=row.score, severity=row.severity),
             text["seen"].format(first=iso(row.first_seen), last=iso(row.last_seen)), "",
             text["new"]]
    lines += [f"  - {f.detection}: {clean(f.summary, 300)}" for f in new]
    lines += ["", text["all"].format(detections=", ".join(row.detections)),
              text["classes"].format(classes=", ".join(row.classes) or "-"), "", text["dests"]]
    lines += [f"  - {clean(d, 200)}" for d in row.destinations[:20]]
    lines += ["", text["attach"], text["footer"]]
    base_url = getattr(getattr(cfg, "web", None), "base_url", "")
    if base_url:  # from the configuration only; the host part is a validated IP
        lines.append(text["screen"].format(url=f"{base_url}/hosts/{host}"))
    msg.set_content("\n".join(lines) + "\n", charset="utf-8")
    msg.add_attachment(render_csv([row]), maintype="text", subtype="csv",
                       filename=f"sakimori-{host.replace(':', '_')}.csv")
    return msg


def smtp_send(alerts: Any, msg: EmailMessage, to_addrs: list[str],
              accepted: Callable[[], None] | None = None) -> dict[str, Any]:
    """Send *msg* from ``alerts.sender`` to *to_addrs* through ``alerts.smtp``; returns the
    recipients the server refused (the rest were accepted). Raises OSError/SMTPException.
    *accepted* runs as soon as the server has accepted the message, before QUIT, so a record
    of the send leaves the narrowest window for a crash to repeat it. Shared with the
    spoofed-mail warnings (:mod:`eve_consumer.mailwarn`)."""
    with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
        refused = dict(smtp.send_message(msg, from_addr=alerts.sender, to_addrs=to_addrs))
        if accepted is not None:
            accepted()
        return refused


class AlertMail(Output):
    name = "mail"

    def write(self, report: Report) -> None:
        stats = report.stats.setdefault("mail", {"sent": 0, "failed": 0, "deferred": 0})
        alerts = self.cfg.alerts
        if not self.mail_enabled or not alerts.enabled or not alerts.admins:
            stats["skipped"] = ("--no-mail" if not self.mail_enabled else
                                "alerts.enabled is false" if not alerts.enabled else
                                "alerts.admins is empty")
            return
        done = self.store.alerted() if self.store is not None else set()
        pending = [(row, new) for row in report.rows
                   if (new := [f for f in row.findings if (row.host, f.detection) not in done])]
        for i, (row, new) in enumerate(pending):
            if i >= MAX_MAILS_PER_ROUND:
                stats["deferred"] += len(pending) - i
                break
            if not self._send_one(row, new, stats):
                stats["deferred"] += len(pending) - i - 1
                break

    def _send_one(self, row: HostReport, new: list[Finding], stats: dict[str, Any]) -> bool:
        alerts = self.cfg.alerts
        try:
            msg = build_message(self.cfg, row, new)
        except ValueError:
            stats["failed"] += 1
            log.error("mail for %r not sent: not an IP address", clean(row.host, 60))
            return True
        pairs = [(row.host, f.detection) for f in new]
        mark = (lambda: self.store.mark_alerted(pairs)) if self.store is not None else None
        try:
            smtp_send(alerts, msg, list(alerts.admins), mark)
        except (OSError, smtplib.SMTPException) as exc:
            stats["failed"] += 1
            if self.store is not None:
                self.store.bump_meta("mail_failures")
            detail = clean(str(exc) or type(exc).__name__, 200)
            log.error("alert mail via %s:%s failed: %s (will retry on the next run)",
                      alerts.smtp_host, alerts.smtp_port, detail)
            return False
        stats["sent"] += 1
        return True
