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

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from mailsink import Sink

from eve_consumer.mailwarn.outbox import Outbox
from generator import render_rspamd as render
from sakimori import rspamd as rspamd_harness
from sakimori.config import load_config
from sakimori.listen_secret import authorization, ensure_secret
from sakimori_demo.smtpsink import free_port

pytestmark = [pytest.mark.rspamd, pytest.mark.engine("rspamd")]

CONFIG = """\
networks: {{home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}}
mail: {{internal_domains: [example.co.jp], domestic_country: JP, domestic_tlds: [jp]}}
alerts:
  smtp: 127.0.0.1:{smtp}
  sender: sakimori@example.co.jp
  admins: [soc@example.co.jp]
  notify_recipient: true
  language: en
{extra}rspamd: {{listen: "127.0.0.1:{listen}"}}
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
DOC = {"schema_version": 1, "generated_at": "2026-11-01T00:00:00Z", "traffic": {},
       "mail": MAIL}


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
    cfg_path.write_text(CONFIG.format(smtp=smtp_port, listen=listen, extra=""),
                        encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    render.write_rspamd(cfg, DOC, tmp_path / "build", ensure_secret(cfg))
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


def _post(url: str, event: dict, authorization: str | None = None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    return requests.post(url, data=json.dumps(event), headers=headers, timeout=5).status_code


def test_forged_events_are_refused_and_a_flood_is_rate_limited(tmp_path) -> None:
    """The attack of issue 11 item 1 against the real chain (generated exporter in a real
    Rspamd 3.4, exporter file 0600 as deployed, consumer CLI): Rspamd's own post is accepted
    and warned about; a made-up event posted without credentials or with a wrong secret gets
    401 and sends nothing; a flood of 40 authenticated events (a leaked secret) yields at most
    alerts.max_per_recipient_per_minute warnings to the admin, the rest wait in the outbox;
    the list address in alerts.notify_exclude is never warned."""
    from mailwarnfixtures import RSPAMD_EVENT

    sink = Sink()
    smtp_port, listen = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    cfg_path = tmp_path / "sakimori.yaml"
    cfg_path.write_text(CONFIG.format(smtp=smtp_port, listen=listen, extra=(
        "  max_per_minute: 100\n  max_per_recipient_per_minute: 5\n"
        '  notify_exclude: ["all-*@example.co.jp"]\n')), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    secret = ensure_secret(cfg)
    render.write_rspamd(cfg, DOC, tmp_path / "build", secret)
    url = render.exporter_url(cfg)
    forged = dict(RSPAMD_EVENT, message_id="forged-1@attacker.example",
                  rcpt=["all-staff@example.co.jp"], header_subject=["Reset your password"])
    consumer = _start_consumer(cfg_path, tmp_path)
    outbox = Outbox(tmp_path / "state" / "state.sqlite")
    try:
        with rspamd_harness.RspamdInstance(tmp_path / "build", export_to=url) as inst:
            exporter = inst.etc / "local.d" / "metadata_exporter.conf"
            exporter.chmod(0o600)  # as deployed: root only (Rspamd's main process reads it)
            inst.restart()
            assert exporter.stat().st_mode & 0o777 == 0o600
            inst.scan(SPOOF, ip="8.8.8.8", helo="mx.evil.example",
                      mail_from="bounce@evil.example", **ENVELOPE)
            assert _wait(lambda: outbox.counts()["by_state"].get("sent") == 1)
            assert inst.lua_errors() == []
        assert _post(url, forged) == 401
        assert _post(url, forged, authorization("x" * 43)) == 401
        assert _post(url, forged, "Basic " + base64.b64encode(
            f"other:{secret}".encode()).decode()) == 401
        assert _post(url, forged, "Bearer " + secret) == 401
        time.sleep(1.0)
        assert outbox.counts() == {"by_state": {"sent": 1}, "duplicates": 0}
        assert len(sink.messages) == 1
        for i in range(40):
            event = dict(forged, message_id=f"flood-{i}@attacker.example")
            assert _post(url, event, authorization(secret)) == 200
        assert _wait(lambda: outbox.counts()["by_state"].get("pending") == 36)
        time.sleep(1.0)
        assert outbox.counts()["by_state"] == {"sent": 5, "pending": 36}
    finally:
        outbox.close()
        consumer.send_signal(signal.SIGTERM)
        _out, err = consumer.communicate(timeout=60)
        controller.stop()
    assert consumer.returncode == 0, err
    assert secret not in err
    assert "mail warnings: 41 new, 0 duplicate(s); 5 sent" in err
    assert "delayed by the rate limit; 36 waiting in the outbox" in err
    assert len(sink.messages) == 5
    assert sink.envelopes[0][1] == ["soc@example.co.jp", "hanako@example.co.jp"]
    assert all(rcpts == ["soc@example.co.jp"] for _f, rcpts in sink.envelopes[1:])
