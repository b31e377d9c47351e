"""Warning mails about spoofed mail: what was flagged, who is told, and the text they get.

- :class:`FlaggedMail` — one mail a check flagged, from Rspamd's ``metadata_exporter`` (inline)
  or from the passive checks on Suricata ``smtp`` events; JSON round-trip for the outbox.
- :func:`dedupe_key` — one warning per message: ``mid:<Message-ID>``, else ``hash:`` of the
  normalised header-From address, envelope recipients, decoded subject and date.
- :func:`warning_recipients` — ``alerts.admins``; plus the original recipients when
  ``alerts.notify_recipient`` is true and (``alerts.recipient_checks`` is empty or lists a
  fired check). Original recipients are warned only when they are addresses of
  ``mail.internal_domains`` (a warning never leaves the organisation), not matching
  ``alerts.notify_exclude`` (glob patterns: distribution lists, role addresses), and only
  when there are at most ``alerts.notify_max`` of them (default 20) — a mail to more is
  reported to the admins alone, so no flagged mail turns sakimori into a mass mailer.
- :func:`compose` — a plain-text mail in English or Japanese (``alerts.language``), naming
  the mail's Table 1 class and malware verdict (:mod:`sakimori.mail.classes`) when known.

Every value taken from the flagged mail is hostile: it only ever goes into the body, through
the consumer's :func:`sakimori.textsafe.clean` (control, C1 and bidi characters escaped so
they cannot break a line or reorder text) and a length cap. Headers hold fixed text, the
configured sender and admins, and the names of the fired checks (a fixed vocabulary) only;
original recipients get the mail through the envelope, never a header.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sakimori.config import Config
from sakimori.mail import norm, symbols
from sakimori.mail.checks import SYMBOLS, Hit
from sakimori.mail.facts import parse_from
from sakimori.mail.features import decode_words
from sakimori.textsafe import clean

MAX_VALUE = 300  # characters of one original header value shown
MAX_OPTION = 200
MAX_RECIPIENTS_SHOWN = 20
STORED = 2000  # characters of one value kept in the outbox
_SAFE_ADDRESS = re.compile(r"^[a-z0-9._%+=-]{1,64}@[a-z0-9.-]{1,253}$")
KNOWN = frozenset(SYMBOLS)

TEXT = {
    "en": {
        "subject": "[sakimori] Warning: possibly spoofed mail ({checks})",
        "subject_malware": "[sakimori] Warning: possibly targeted mail with malware",
        "class": "Class (Table 1)",
        "classes": {"targeted": "targeted attack", "mass_virus": "mass virus mail",
                    "spam": "spam", "clean": "clean"},
        "malware": "Malware (ClamAV)",
        "intro": "sakimori flagged a mail as possibly spoofed (a targeted attack may be under "
                 "way).",
        "advice": "Do not reply, open attachments or follow links in it before confirming "
                  "with the supposed sender through another channel (e.g. by phone).",
        "checks": "Checks that fired:",
        "evidence": "evidence",
        "related": "Rspamd also reported",
        "original": "The flagged mail (values as received, shortened and escaped):",
        "fields": {"header_from": "From", "envelope_from": "Envelope sender",
                   "recipients": "Recipients", "subject": "Subject", "date": "Date",
                   "message_id": "Message-ID", "ip": "Connecting IP",
                   "queue_id": "Queue ID"},
        "seen_rspamd": "Seen by: Rspamd (inline), score {score}, action {action}",
        "seen_suricata": "Seen by: Suricata sensor (passive)",
        "none": "(none)",
        "footer": "This warning is sent once per message. Questions: contact the security "
                  "team ({admins}).",
        "checks_text": symbols.warning_texts("en"),
    },
    "ja": {
        "subject": "[sakimori] 警告: なりすましの疑いがあるメール ({checks})",
        "subject_malware": "[sakimori] 警告: マルウェアを含む標的型攻撃の疑いがあるメール",
        "class": "分類 (表 1)",
        "classes": {"targeted": "標的型攻撃", "mass_virus": "ばらまき型ウイルスメール",
                    "spam": "迷惑メール", "clean": "問題なし"},
        "malware": "マルウェア (ClamAV)",
        "intro": "sakimori は、なりすましの疑いがあるメールを検知しました (標的型攻撃の可能性が"
                 "あります)。",
        "advice": "送信者とされる相手に電話など別の手段で確認するまで、返信、添付ファイルの"
                  "開封、リンクのクリックをしないでください。",
        "checks": "該当したチェック:",
        "evidence": "根拠",
        "related": "Rspamd の関連判定",
        "original": "検知したメール (受信した値を短縮・エスケープして表示):",
        "fields": {"header_from": "差出人 (From)", "envelope_from": "エンベロープ送信者",
                   "recipients": "宛先", "subject": "件名", "date": "日付",
                   "message_id": "Message-ID", "ip": "接続元 IP", "queue_id": "キュー ID"},
        "seen_rspamd": "検知: Rspamd (インライン), スコア {score}, アクション {action}",
        "seen_suricata": "検知: Suricata センサー (パッシブ)",
        "none": "(なし)",
        "footer": "この警告はメール 1 通につき 1 回だけ送信されます。お問い合わせ: "
                  "セキュリティ担当 ({admins})",
        "checks_text": symbols.warning_texts("ja"),
    },
}


@dataclass(frozen=True)
class FlaggedMail:
    """One flagged mail: the fired checks and the original mail's identifying values."""

    source: str  # "rspamd" (inline, metadata_exporter) or "suricata" (passive)
    hits: tuple[Hit, ...]
    header_from: str = ""
    envelope_from: str = ""
    recipients: tuple[str, ...] = ()
    subject: str = ""
    date: str = ""
    message_id: str = ""
    ip: str = ""
    queue_id: str = ""
    score: float | None = None
    action: str = ""
    related: tuple[str, ...] = ()  # Rspamd's own symbols about the same divergence
    extra: dict[str, Any] = field(default_factory=dict)
    malware: tuple[str, ...] = ()  # ClamAV signature names (Rspamd's CLAM_VIRUS options)
    mail_class: str = ""  # Table 1 class (sakimori.mail.classes); '' = not classed yet
    class_reasons: tuple[str, ...] = ()

    @property
    def symbols(self) -> list[str]:
        return [h.symbol for h in self.hits]

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "hits": [[h.symbol, list(h.options)] for h in self.hits],
                "header_from": self.header_from, "envelope_from": self.envelope_from,
                "recipients": list(self.recipients), "subject": self.subject,
                "date": self.date, "message_id": self.message_id, "ip": self.ip,
                "queue_id": self.queue_id, "score": self.score, "action": self.action,
                "related": list(self.related), "extra": dict(self.extra),
                "malware": list(self.malware), "mail_class": self.mail_class,
                "class_reasons": list(self.class_reasons)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlaggedMail:
        return cls(source=str(d.get("source", "")),
                   hits=tuple(Hit(str(s), [str(o) for o in opts])
                              for s, opts in d.get("hits", [])),
                   header_from=str(d.get("header_from", "")),
                   envelope_from=str(d.get("envelope_from", "")),
                   recipients=tuple(map(str, d.get("recipients", []))),
                   subject=str(d.get("subject", "")), date=str(d.get("date", "")),
                   message_id=str(d.get("message_id", "")), ip=str(d.get("ip", "")),
                   queue_id=str(d.get("queue_id", "")), score=d.get("score"),
                   action=str(d.get("action", "")),
                   related=tuple(map(str, d.get("related", []))),
                   extra=dict(d.get("extra") or {}),
                   malware=tuple(map(str, d.get("malware") or [])),
                   mail_class=str(d.get("mail_class") or ""),
                   class_reasons=tuple(map(str, d.get("class_reasons") or [])))


def cap(value: Any, limit: int = STORED) -> str:
    """A stored value: a string of at most *limit* characters (hostile content kept as is)."""
    return value[:limit] if isinstance(value, str) else ""


def message_id_key(message_id: str) -> str:
    """The Message-ID without angle brackets and white space ('' when none/``undef``)."""
    text = "".join(str(message_id)[:998].split()).strip("<>")
    return "" if text.lower() in ("", "undef", "unknown") else text


def dedupe_key(mail: FlaggedMail) -> str:
    """``mid:<Message-ID>``, else ``hash:<sha256>`` of sender, recipients, subject, date."""
    mid = message_id_key(mail.message_id)
    if mid:
        return "mid:" + mid
    sender = norm.normalise_address(parse_from([mail.header_from])[1])
    rcpts = sorted({norm.normalise_address(r) or r for r in mail.recipients})
    subject = " ".join(decode_words(mail.subject[:STORED]).split())
    basis = "\n".join([sender, ",".join(rcpts), subject, " ".join(mail.date.split())])
    return "hash:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()[:40]


def _wanted_check(name: str, listed: Iterable[str]) -> bool:
    wanted = {c.upper() if c.upper().startswith("SAKIMORI_") else "SAKIMORI_" + c.upper()
              for c in listed}
    return name in wanted


def notified_recipients(cfg: Config, mail: FlaggedMail) -> list[str]:
    """Original recipients to warn (see the module docstring): plausible addresses of
    ``mail.internal_domains`` not matching ``alerts.notify_exclude``; none at all when there
    are more than ``alerts.notify_max`` of them (a mass mailing is the admins' to handle)."""
    alerts = cfg.alerts
    if not alerts.notify_recipient or alerts.notify_max <= 0:
        return []
    if alerts.recipient_checks and not any(_wanted_check(s, alerts.recipient_checks)
                                           for s in mail.symbols):
        return []
    internal = [d for d in map(norm.normalise_domain, cfg.mail.internal_domains) if d]
    out: list[str] = []
    for rcpt in mail.recipients[:1000]:
        addr = norm.normalise_address(rcpt)
        domain = addr.rpartition("@")[2]
        if (addr and _SAFE_ADDRESS.match(addr) and addr not in out
                and any(domain == d or domain.endswith("." + d) for d in internal)
                and not any(fnmatch.fnmatchcase(addr, p) for p in alerts.notify_exclude)):
            out.append(addr)
            if len(out) > alerts.notify_max:
                return []
    return out


def warning_recipients(cfg: Config, mail: FlaggedMail) -> list[str]:
    """Envelope recipients of the warning: admins, then the notified original recipients."""
    out = list(dict.fromkeys(cfg.alerts.admins))
    return out + [r for r in notified_recipients(cfg, mail) if r not in out]


def _checks_named(mail: FlaggedMail) -> list[str]:
    return [s for s in dict.fromkeys(mail.symbols) if s in KNOWN]


def _score(value: Any) -> str:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return "?"


def body_text(cfg: Config, mail: FlaggedMail) -> str:
    """The plain-text body (see the module docstring for what is escaped)."""
    text = TEXT.get(cfg.alerts.language, TEXT["en"])
    lines = [text["intro"], text["advice"], ""]
    if mail.mail_class in text["classes"]:
        reason = "; ".join(clean(r, MAX_OPTION) for r in mail.class_reasons[:3])
        lines.append(f"{text['class']}: {mail.mail_class} ({text['classes'][mail.mail_class]})"
                     + (f" - {reason}" if reason else ""))
    if mail.malware:
        lines.append(f"{text['malware']}: "
                     f"{', '.join(clean(m, MAX_OPTION) for m in mail.malware[:10])}")
    lines.append(text["checks"])
    if not mail.hits:
        lines.append(f"  {text['none']}")
    for hit in mail.hits:
        name = hit.symbol if hit.symbol in KNOWN else clean(hit.symbol, 60)
        meaning = text["checks_text"].get(hit.symbol)
        lines.append(f"  - {name}: {meaning}" if meaning else f"  - {name}")
        evidence = ", ".join(clean(o, MAX_OPTION) for o in hit.options[:20])
        if evidence:
            lines.append(f"      {text['evidence']}: {evidence}")
    if mail.related:
        lines.append(f"  ({text['related']}: "
                     f"{', '.join(clean(r, 60) for r in mail.related[:10])})")
    fields = text["fields"]
    shown = ", ".join(clean(r, 120) for r in mail.recipients[:MAX_RECIPIENTS_SHOWN])
    if len(mail.recipients) > MAX_RECIPIENTS_SHOWN:
        shown += f", … (+{len(mail.recipients) - MAX_RECIPIENTS_SHOWN})"
    values = {"header_from": decode_words(mail.header_from[:STORED]),
              "envelope_from": mail.envelope_from, "recipients": shown,
              "subject": decode_words(mail.subject[:STORED]), "date": mail.date,
              "message_id": mail.message_id, "ip": mail.ip, "queue_id": mail.queue_id}
    lines += ["", text["original"]]
    for key, label in fields.items():
        if key == "queue_id" and not mail.queue_id:
            continue  # only an MTA (Rspamd) knows a queue ID
        value = values[key] if key == "recipients" else clean(values[key], MAX_VALUE)
        lines.append(f"  {label}: {value or text['none']}")
    if mail.source == "rspamd":
        lines.append("  " + text["seen_rspamd"].format(score=_score(mail.score),
                                                       action=clean(mail.action, 40)))
    else:
        lines.append("  " + text["seen_suricata"])
    lines += ["", text["footer"].format(admins=", ".join(cfg.alerts.admins) or "-")]
    return "\n".join(lines) + "\n"


def compose(cfg: Config, mail: FlaggedMail) -> EmailMessage:
    """The warning mail for *mail*; headers carry no value taken from it."""
    text = TEXT.get(cfg.alerts.language, TEXT["en"])
    msg = EmailMessage()
    msg["From"] = cfg.alerts.sender
    msg["To"] = ", ".join(cfg.alerts.admins) if cfg.alerts.admins else \
        "undisclosed-recipients:;"
    named = _checks_named(mail)
    msg["Subject"] = text["subject"].format(checks=", ".join(named)) if named or \
        not mail.malware else text["subject_malware"]
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="sakimori.invalid")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, no loops
    msg["X-Sakimori-Warning"] = "spoofed-mail"
    msg.set_content(body_text(cfg, mail), charset="utf-8")
    return msg
