"""Alert mail through a real SMTP server on loopback (aiosmtpd), from real Suricata EVE.

The capture carries hostile network strings: an HTTP Host ``=cmd|' /C calc'!A0`` with long
URLs holding ``<script>``, and a TLS SNI with CR/LF, a ``Bcc:`` header and ``<script>`` sent
to port 80. Proven: one mail per host, parsed back, the attachment is the host's CSV row;
no network-derived text in any header; CSV cells neutralised; a second run with the same
state dir sends nothing; an SMTP failure is one logged line, counted, and retried next run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from engines import require_binary
from mailsink import Sink
from pcapcraft import http_get, tls_session, write_pcap

from eve_consumer.pipeline import Consumer
from generator.render_suricata import write_suricata
from sakimori.config import load_config
from sakimori.suricata import read_pcaps

pytestmark = pytest.mark.suricata

T0 = 1793577600.0
EVIL_HOST = "=cmd|' /C calc'!A0"
EVIL_SNI = "evil.example\r\nBcc: attacker@evil.example\r\n<script>alert(1)</script>"
CONFIG = """\
networks:
  home: [10.1.0.0/16]
alerts:
  smtp: 127.0.0.1:{port}
  sender: sakimori@example.co.jp
  admins: [soc@example.co.jp, ciso@example.co.jp]
  language: {language}
"""


@pytest.fixture(scope="module")
def eve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_binary("suricata")
    tmp = tmp_path_factory.mktemp("mail")
    pkts = []
    for i in range(3):
        pkts += http_get("10.1.20.14", "198.51.100.30", EVIL_HOST,
                         "/q?<script>alert(1)</script>" + "A" * 700, sport=30000 + i,
                         t0=T0 + 600 * i)
    pkts += tls_session("10.1.20.15", "198.51.100.31", EVIL_SNI, sport=31000, dport=80,
                        t0=T0 + 100)
    pcap = write_pcap(tmp / "hostile.pcap", pkts)
    (tmp / "cfg.yaml").write_text(CONFIG.format(port=25, language="en"))
    cfg = load_config(tmp / "cfg.yaml")
    rules = write_suricata(cfg, None, tmp / "build")
    return read_pcaps(cfg, [pcap], tmp / "run", rules)


def _run(eve: Path, tmp: Path, port: int, state: Path, language: str = "en") -> Consumer:
    cfg_path = tmp / f"cfg-{language}-{port}.yaml"
    cfg_path.write_text(CONFIG.format(port=port, language=language))
    with Consumer(load_config(cfg_path), None, tmp / "out", state) as consumer:
        consumer.run_once(eve)
    return consumer


def test_one_mail_per_host_parsed_back_and_sent_once(eve: Path, tmp_path: Path,
                                                     smtp: Any) -> None:
    sink, port = smtp, smtp.port
    _run(eve, tmp_path, port, tmp_path / "state")
    assert len(sink.messages) == 2
    by_host = {m["Subject"].split()[1].rstrip(":"): m for m in sink.messages}
    assert set(by_host) == {"10.1.20.14", "10.1.20.15"}
    assert sink.envelopes[0] == ("sakimori@example.co.jp",
                                 ["soc@example.co.jp", "ciso@example.co.jp"])
    long_url = by_host["10.1.20.14"]
    assert re.fullmatch(r"\[sakimori\] 10\.1\.20\.14: 1 new finding\(s\), score \d+ "
                        r"\((low|medium|high|critical)\)", long_url["Subject"])
    attachment = next(long_url.iter_attachments())
    assert attachment.get_filename() == "sakimori-10.1.20.14.csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert [r["host"] for r in rows] == ["10.1.20.14"]
    assert rows[0]["detections"] == "long_url" and rows[0]["classes"] == "backdoor"
    assert rows[0]["destinations"].startswith("'=cmd")  # formula neutralised
    assert "Classes (Table 1): backdoor" in long_url.get_body(("plain",)).get_content()
    _run(eve, tmp_path, port, tmp_path / "state")  # same state dir: nothing new
    assert len(sink.messages) == 2


def test_hostile_strings_never_reach_headers_and_stay_data(eve: Path, tmp_path: Path,
                                                           smtp: Any) -> None:
    sink, port = smtp, smtp.port
    _run(eve, tmp_path, port, tmp_path / "state")
    for msg in sink.messages:
        for key, value in msg.items():
            for bad in ("cmd", "script", "evil", "Bcc", "attacker"):
                assert bad not in f"{key}: {value}", (key, value)
        body = msg.get_body(("plain",)).get_content()
        assert "\nBcc:" not in body and "\r" not in body.replace("\r\n", "\n")
    with (tmp_path / "out" / "hosts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["host"]: r for r in csv.DictReader(fh)}
    sni_row = rows["10.1.20.15"]
    assert "evil.example\\x0d\\x0aBcc: attacker@evil.example\\x0d\\x0a<script>" in \
        sni_row["destinations"]
    raw = (tmp_path / "out" / "hosts.csv").read_bytes()
    assert raw.count(b"\r\n") == 3  # header + 2 rows: no value breaks a line
    findings = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text()
                .splitlines()]
    assert {f["host"] for f in findings} == {"10.1.20.14", "10.1.20.15"}


def test_japanese_mail(eve: Path, tmp_path: Path, smtp: Any) -> None:
    sink, port = smtp, smtp.port
    _run(eve, tmp_path, port, tmp_path / "state", language="ja")
    subjects = sorted(m["Subject"] for m in sink.messages)
    assert re.fullmatch(r"\[sakimori\] 10\.1\.20\.14: 新しい検知 1 件 \(スコア \d+, \w+\)",
                        subjects[0])
    assert "バックドア通信" in sink.messages[0].get_body(("plain",)).get_content()


def test_smtp_failure_is_logged_counted_and_retried(eve: Path, tmp_path: Path, free_port: int,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    with caplog.at_level(logging.ERROR, logger="sakimori.mail"):
        consumer = _run(eve, tmp_path, free_port, state)  # nothing listens there
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert "will retry" in errors[0].getMessage()
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["mail"] == {"sent": 0, "failed": 1, "deferred": 1}
    assert consumer.last_rows  # the report was still written
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        _run(eve, tmp_path, free_port, state)
    finally:
        controller.stop()
    assert len(sink.messages) == 2


def test_no_mail_flag_and_disabled_alerts(eve: Path, tmp_path: Path, smtp: Any) -> None:
    sink, port = smtp, smtp.port
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(CONFIG.format(port=port, language="en"))
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "s1",
                  mail=False) as consumer:
        consumer.run_once(eve)
    cfg_path.write_text(CONFIG.format(port=port, language="en") + "  enabled: false\n")
    with Consumer(load_config(cfg_path), None, tmp_path / "out", tmp_path / "s2") as consumer:
        consumer.run_once(eve)
    assert sink.messages == []
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["mail"]["skipped"] == "alerts.enabled is false"
