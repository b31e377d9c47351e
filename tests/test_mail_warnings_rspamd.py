"""End to end with real Rspamd 3.4: generated plugin + exporter → ``sakimori consume
--rspamd-listen`` (the real CLI service) → a real SMTP server on loopback.

The Rspamd build is rendered by ``generator.render_rspamd.write_rspamd`` with ``rspamd.listen``
pointing at the consumer; the private instance of ``sakimori.rspamd`` (the harness) is told
``export_to=`` that same URL, so the exporter posts exactly where the rendered config says
instead of to the harness's own sink. Proven: a spoofed mail scanned
twice (an MTA retry) gives one warning, parsed back; a mail without Message-ID scanned twice
gives one warning (hash key); a legitimate mail gives none.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from mailsink import Sink

from eve_consumer.mailwarn.outbox import Outbox
from sakimori.config import load_config
from sakimori.listen_secret import ensure_secret
from sakimori.smtpsink import free_port

rspamd_harness = pytest.importorskip(
    "sakimori.rspamd", reason="the Rspamd harness (sakimori/rspamd.py) is not available yet")
render = pytest.importorskip("generator.render_rspamd",
                             reason="the Rspamd renderer is not available yet")
pytestmark = [pytest.mark.rspamd, pytest.mark.skipif(
    shutil.which("rspamd") is None, reason="rspamd not installed (run `make setup`)")]

CONFIG = """\
networks: {{home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}}
mail: {{internal_domains: [example.co.jp], domestic_country: JP, domestic_tlds: [jp]}}
alerts:
  smtp: 127.0.0.1:{smtp}
  sender: sakimori@example.co.jp
  admins: [soc@example.co.jp]
  notify_recipient: true
  language: en
rspamd: {{listen: "127.0.0.1:{listen}"}}
"""
MAIL = {"messages": 50, "domains": {"partner.co.jp": {
    "messages": 40, "infra": {"net:133.0.0.0/24": 40, "ptr:partner.co.jp": 40},
    "countries": {"JP": 40}}}, "domestic_domains": ["partner.co.jp"],
    "frequent_domains": ["partner.co.jp"],
    "names": {"山田太郎": {"display": "山田 太郎", "addresses": {"taro@example.co.jp": 12}}}}
SPOOF = (b"Received: from mx.evil.example (unknown [8.8.8.8]) by mx.example.co.jp (Postfix) "
         b"with ESMTP id 4Ab1; Tue, 25 Nov 2026 10:00:00 +0900\r\n"
         b"From: =?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= <taro@example.co.jp>\r\n"
         b"To: hanako@example.co.jp\r\nSubject: =?UTF-8?Q?invoice=0D=0ABcc:_x@evil.example?=\r\n"
         b"Date: Tue, 25 Nov 2026 10:00:00 +0900\r\nMessage-ID: <ceo-1@evil.example>\r\n"
         b"\r\nplease pay\r\n")
NAME_SPOOF = (b"From: =?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= <yamada.taro@free-mail.example>\r\n"
              b"To: hanako@example.co.jp\r\nSubject: urgent\r\n\r\ncall me\r\n")
LEGIT = (b"Received: from mail.partner.co.jp (mail.partner.co.jp [133.0.0.1]) by "
         b"mx.example.co.jp (Postfix) with ESMTPS id 51; Tue, 25 Nov 2026 10:00:03 +0900\r\n"
         b"From: Partner <info@partner.co.jp>\r\nTo: hanako@example.co.jp\r\n"
         b"Subject: monthly report\r\nMessage-ID: <report-1@partner.co.jp>\r\n\r\nreport\r\n"
         )
ENVELOPE = {"rcpt": ["hanako@example.co.jp"]}


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _start_consumer(cfg: Path, tmp: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sakimori", "consume", "--config", str(cfg), "--rspamd-listen",
         "--state-dir", str(tmp / "state"), "--out", str(tmp / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "receiving Rspamd events on URL" once it listens
    assert "receiving Rspamd events on" in line, line
    return proc


def test_rspamd_flagged_mail_is_warned_once(tmp_path) -> None:
    sink = Sink()
    smtp_port, listen = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    cfg_path = tmp_path / "sakimori.yaml"
    cfg_path.write_text(CONFIG.format(smtp=smtp_port, listen=listen), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    doc = {"schema_version": 1, "generated_at": "2026-11-01T00:00:00Z", "traffic": {},
           "mail": MAIL}
    render.write_rspamd(cfg, doc, tmp_path / "build", ensure_secret(cfg))
    consumer = _start_consumer(cfg_path, tmp_path)
    try:
        with rspamd_harness.RspamdInstance(tmp_path / "build",
                                           export_to=render.exporter_url(cfg)) as inst:
            _scan_all(inst, tmp_path)
            assert inst.lua_errors() == []
    finally:
        consumer.send_signal(signal.SIGTERM)
        _out, err = consumer.communicate(timeout=60)
        controller.stop()
    assert consumer.returncode == 0, err
    assert "mail warnings: 2 new, 2 duplicate(s); 2 sent" in err
    _check_warnings(sink, tmp_path)


def _scan_all(inst: Any, tmp: Path) -> None:
    outbox = Outbox(tmp / "state" / "state.sqlite")
    try:
        counts = lambda: outbox.counts()  # noqa: E731
        spoof = inst.scan(SPOOF, ip="8.8.8.8", helo="mx.evil.example",
                          mail_from="bounce@evil.example", **ENVELOPE)
        assert "SAKIMORI_INTERNAL_SPOOF" in spoof["symbols"]
        assert _wait(lambda: counts()["by_state"].get("sent") == 1)
        inst.scan(SPOOF, ip="8.8.8.8", helo="mx.evil.example", mail_from="bounce@evil.example",
                  **ENVELOPE)  # the MTA retried: the same message again
        assert _wait(lambda: counts()["duplicates"] == 1)
        for _ in range(2):  # no Message-ID: the hash key still makes it one message
            reply = inst.scan(NAME_SPOOF, ip="8.8.4.4", helo="x", mail_from="a@free-mail.example",
                              **ENVELOPE)
            assert "SAKIMORI_DISPLAY_NAME_SPOOF" in reply["symbols"]
        assert _wait(lambda: counts()["duplicates"] == 2)
        legit = inst.scan(LEGIT, ip="133.0.0.1", hostname="mail.partner.co.jp",
                          helo="mail.partner.co.jp", mail_from="info@partner.co.jp", **ENVELOPE)
        assert not [s for s in legit["symbols"] if s.startswith("SAKIMORI_") and
                    s != "SAKIMORI_CHECK"]
        assert _wait(lambda: counts()["by_state"].get("sent") == 2)
        time.sleep(1.0)  # an export of the legitimate mail would have arrived by now
        assert counts() == {"by_state": {"sent": 2}, "duplicates": 2}
    finally:
        outbox.close()


def _check_warnings(sink: Sink, tmp: Path) -> None:
    assert len(sink.messages) == 2
    first = sink.messages[0]
    assert sink.envelopes[0] == ("sakimori@example.co.jp",
                                 ["soc@example.co.jp", "hanako@example.co.jp"])
    assert "SAKIMORI_INTERNAL_SPOOF" in first["Subject"]
    assert not any("evil" in str(v) for v in first.values())
    body = first.get_content()
    assert "from=example.co.jp, ip=8.8.8.8" in body
    assert "Seen by: Rspamd (inline), score" in body
    assert "Message-ID: ceo-1@evil.example" in body
    assert "Subject: invoice  Bcc: x@evil.example\r\n" in body  # Rspamd blanked the CR LF
    assert "SAKIMORI_DISPLAY_NAME_SPOOF" in sink.messages[1]["Subject"]
    records = [json.loads(x) for x in (tmp / "out" / "mail_warnings.jsonl").read_text()
               .splitlines()]
    assert [r["source"] for r in records] == ["rspamd", "rspamd"]
    assert records[0]["key"] == "mid:ceo-1@evil.example"
    assert records[1]["key"].startswith("hash:")
