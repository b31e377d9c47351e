"""Mail-warning test data shared by the test_mail_warnings*.py modules: a config writer, a flagged
mail and the Rspamd metadata_exporter event it comes from (hostile values included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sakimori.config import load_config
from sakimori.listen_secret import authorization, ensure_secret, read_secret
from sakimori.mail.checks import Hit
from sakimori.mail.warnings import FlaggedMail

CONFIG = """\
networks: {{home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}}
mail: {{internal_domains: [example.co.jp]}}
alerts:
  smtp: 127.0.0.1:{port}
  sender: sakimori@example.co.jp
  admins: [soc@example.co.jp]
  notify_recipient: {notify}
  recipient_checks: {checks}
  language: {language}
{extra}rspamd: {{listen: "127.0.0.1:{listen}"}}
"""

# What Rspamd 3.4's metadata_exporter (formatter json) posted for a flagged mail, as captured
# from the private instance (symbols shortened to three).
RSPAMD_EVENT = {
    "qid": "unknown", "rspamd_server": "vm", "fuzzy": [],
    "header_from": ["山田　太郎 <taro@example.co.jp>"], "header_to": ["hanako@example.co.jp"],
    "header_subject": ["請求書 invoice"], "header_date": ["Tue, 25 Nov 2026 10:00:00 +0900"],
    "message_id": "abc@evil.example", "subject": "請求書 invoice",
    "rcpt": ["hanako@example.co.jp", "b@example.co.jp"], "scan_time": 113, "score": 8.4,
    "symbols": [
        {"group": "headers", "name": "ONCE_RECEIVED", "score": 0.1, "groups": ["headers"]},
        {"group": "sakimori", "name": "SAKIMORI_INTERNAL_SPOOF", "score": 6,
         "options": ["from=example.co.jp", "ip=8.8.8.8"], "groups": ["sakimori"]},
        {"group": "headers", "name": "FORGED_SENDER", "score": 0.3,
         "options": ["taro@example.co.jp", "bounce@evil.example"], "groups": ["headers"]},
    ],
    "user": "unknown", "action": "add header", "from": "bounce@evil.example", "ip": "8.8.8.8",
}


def make_cfg(tmp: Path, port: int = 25, *, notify: bool = False, checks: str = "[]",
             language: str = "en", listen: int = 11339, extra: str = ""):
    path = tmp / f"sakimori-{language}-{notify}-{port}-{listen}.yaml"
    path.write_text(CONFIG.format(port=port, notify=str(notify).lower(), checks=checks,
                                  language=language, listen=listen, extra=extra),
                    encoding="utf-8")
    cfg = load_config(path, env={})
    ensure_secret(cfg)  # tmp/rspamd-listen.secret, as `sakimori generate` would create it
    return cfg


def flagged(**over: Any) -> FlaggedMail:
    base: dict[str, Any] = dict(
        source="rspamd", hits=(Hit("SAKIMORI_INTERNAL_SPOOF", ["from=example.co.jp",
                                                               "ip=8.8.8.8"]),),
        header_from="Taro <taro@example.co.jp>", envelope_from="bounce@evil.example",
        recipients=("hanako@example.co.jp",), subject="invoice",
        date="Tue, 25 Nov 2026 10:00:00 +0900", message_id="abc@evil.example", ip="8.8.8.8",
        score=8.4, action="add header")
    base.update(over)
    return FlaggedMail(**base)


def auth(cfg: Any) -> dict[str, str]:
    """The receiver's Authorization header for *cfg*'s listener secret."""
    return {"Authorization": authorization(read_secret(cfg))}
