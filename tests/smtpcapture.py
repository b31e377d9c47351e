"""Passive mail-check test helpers: crafted SMTP sessions (scapy), Suricata over them and the
consumer run on its EVE (shared by test_mail_passive.py and test_mail_passive_from.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pcapcraft import tcp_session

from sakimori.config import load_config
from sakimori.suricata import read_pcaps

MX = "10.0.0.25"
T0 = 1_790_000_000.0
CONFIG = """\
networks: {{home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}}
mail: {{internal_domains: [example.co.jp], domestic_country: JP, domestic_tlds: [jp]}}
alerts:
  smtp: 127.0.0.1:{port}
  sender: sakimori@example.co.jp
  admins: [soc@example.co.jp]
  language: en
"""
BASELINES = {"schema_version": 1, "generated_at": "2026-11-01T00:00:00Z", "traffic": {},
             "mail": {"messages": 50, "domains": {"partner.co.jp": {
                 "messages": 40, "infra": {"net:133.0.0.0/24": 40},
                 "countries": {"JP": 40}}},
                 "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"],
                 "names": {"山田太郎": {"display": "山田 太郎",
                                        "addresses": {"taro@example.co.jp": 12}}}}}


def smtp_session(client: str, sport: int, helo: str, mail_from: str, rcpts: list[str],
                 headers: list[tuple[str, str]], t0: float) -> list:
    data = "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\nPlease see attached.\r\n.\r\n"
    talk = [("s", b"220 mx.example.co.jp ESMTP\r\n"), ("c", f"EHLO {helo}\r\n".encode()),
            ("s", b"250-mx.example.co.jp\r\n250 8BITMIME\r\n"),
            ("c", f"MAIL FROM:<{mail_from}>\r\n".encode()), ("s", b"250 2.1.0 Ok\r\n")]
    for rcpt in rcpts:
        talk += [("c", f"RCPT TO:<{rcpt}>\r\n".encode()), ("s", b"250 2.1.5 Ok\r\n")]
    talk += [("c", b"DATA\r\n"), ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
             ("c", data.encode("utf-8")), ("s", b"250 2.0.0 Ok: queued as 4AbC\r\n"),
             ("c", b"QUIT\r\n"), ("s", b"221 2.0.0 Bye\r\n")]
    return tcp_session(client, MX, sport, 25, talk, t0=t0)


def run_suricata(pcaps: list[Path], out: Path, tmp: Path) -> Path:
    cfg_path = tmp / "suricata-only.yaml"
    cfg_path.write_text("networks: {home: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}\n")
    return read_pcaps(load_config(cfg_path, env={}), pcaps, out)


def consume(tmp: Path, eve: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    cfg = tmp / "sakimori.yaml"
    cfg.write_text(CONFIG.format(port=port), encoding="utf-8")
    baselines = tmp / "baselines.json"
    baselines.write_text(json.dumps(BASELINES, ensure_ascii=False), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "sakimori", "consume", "--config", str(cfg),
                           "--baselines", str(baselines), "--eve", str(eve), "--out",
                           str(tmp / "out"), "--state-dir", str(tmp / "state"), *extra],
                          capture_output=True, text=True, timeout=300, check=False)
