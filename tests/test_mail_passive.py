"""Passive mode: the mail checks on Suricata ``smtp`` EVE events, with real Suricata.

A crafted capture (scapy, full TCP handshakes, EHLO / MAIL FROM / RCPT TO / DATA with Received,
From, Reply-To, Subject, Message-ID headers, ``.`` and QUIT) holds, in front of our MX
10.0.0.25:

- an internal-domain spoof from an external IP, with a CRLF-injection attempt in the encoded
  Subject — delivered twice (the sender retried in a second session);
- a legitimate partner mail from its learned network, and an internal mail from our relay.

Real Suricata 7 reads it with the project's offline configuration; ``sakimori consume`` over
its EVE sends exactly one warning to a real SMTP server (aiosmtpd) on loopback, parsed back
here; a second run with the same state sends nothing. Real SMTP captures from
shared/data (OISF suricata-verify, nDPI) go through the same path without a crash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from engines import require_path
from pcapcraft import write_pcap
from smtpcapture import T0, consume, run_suricata, smtp_session

pytestmark = pytest.mark.suricata

SPOOF_SUBJECT = "=?UTF-8?Q?invoice=0D=0ABcc:_victim@example.co.jp?="


SPOOF_HEADERS = [
    ("Received", "from pc (pc [45.0.0.1]) by mx.evil.example with ESMTP id 0; "
                 "Tue, 25 Nov 2026 09:59:00 +0900"),
    ("From", "=?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= <taro@example.co.jp>"),
    ("To", "Hanako <hanako@example.co.jp>"), ("Reply-To", "<taro.yamada@evil.example>"),
    ("Subject", SPOOF_SUBJECT), ("Date", "Tue, 25 Nov 2026 10:00:00 +0900"),
    ("Message-ID", "<spoof-1@evil.example>"),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcap") / "office-mail.pcap"
    pkts = smtp_session("8.8.8.8", 40001, "mx.evil.example", "bounce@evil.example",
                        ["hanako@example.co.jp"], SPOOF_HEADERS, T0)
    pkts += smtp_session("8.8.8.8", 40002, "mx.evil.example", "bounce@evil.example",
                         ["hanako@example.co.jp"], SPOOF_HEADERS, T0 + 60)  # a retry
    pkts += smtp_session("133.0.0.7", 40003, "mail.partner.co.jp", "info@partner.co.jp",
                         ["hanako@example.co.jp"], [
                             ("From", "Partner <info@partner.co.jp>"),
                             ("To", "hanako@example.co.jp"), ("Subject", "monthly report"),
                             ("Message-ID", "<report-7@partner.co.jp>")], T0 + 120)
    pkts += smtp_session("192.0.2.10", 40004, "relay.example.co.jp", "taro@example.co.jp",
                         ["hanako@example.co.jp"], [
                             ("Received", "from pc12.example.co.jp (pc12.example.co.jp "
                                          "[10.1.2.3]) by relay.example.co.jp with ESMTP id 9;"
                                          " Tue, 25 Nov 2026 10:01:00 +0900"),
                             ("From", "=?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= <taro@example.co.jp>"),
                             ("To", "hanako@example.co.jp"), ("Subject", "lunch"),
                             ("Message-ID", "<lunch@example.co.jp>")], T0 + 180)
    return write_pcap(path, pkts)


def test_suricata_logs_the_fields_the_checks_need(capture, tmp_path, require_suricata) -> None:
    eve = run_suricata([capture], tmp_path / "suri", tmp_path)
    events = [json.loads(x) for x in eve.read_text().splitlines() if '"smtp"' in x]
    mails = [e for e in events if e["event_type"] == "smtp" and e.get("email")]
    assert len(mails) == 4
    spoof = mails[0]
    assert spoof["src_ip"] == "8.8.8.8" and spoof["smtp"]["mail_from"] == "<bounce@evil.example>"
    assert spoof["email"]["subject"] == SPOOF_SUBJECT
    assert spoof["email"]["message_id"] == "<spoof-1@evil.example>"
    assert spoof["email"]["reply_to"] == "<taro.yamada@evil.example>"
    assert spoof["email"]["received"] == [SPOOF_HEADERS[0][1]]


def test_spoof_warned_once_legitimate_mail_not(capture, tmp_path, require_suricata,
                                                smtp) -> None:
    eve = run_suricata([capture], tmp_path / "suri", tmp_path)
    proc = consume(tmp_path, eve, smtp.port)
    assert proc.returncode == 0, proc.stderr
    assert "mail warnings: 1 new, 1 duplicate(s); 1 sent" in proc.stderr
    smtp.wait(1)
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert smtp.envelopes[0] == ("sakimori@example.co.jp", ["soc@example.co.jp"])
    assert msg["Subject"] == ("[sakimori] Warning: possibly spoofed mail "
                              "(SAKIMORI_INTERNAL_SPOOF, SAKIMORI_HEADER_MISMATCH)")
    assert not any("victim" in str(v) or "evil" in str(v) for v in msg.values())
    body = msg.get_content()
    assert "from=example.co.jp, ip=8.8.8.8" in body
    assert "from=example.co.jp, reply_to=evil.example, envelope=evil.example" in body
    assert "Subject: invoice\\x0d\\x0aBcc: victim@example.co.jp" in body
    assert "Message-ID: <spoof-1@evil.example>" in body and "Suricata" in body
    records = (tmp_path / "out" / "mail_warnings.jsonl").read_text().splitlines()
    assert len(records) == 1 and json.loads(records[0])["source"] == "suricata"
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["counters"]["mail_smtp_judged"] == 4
    assert stats["counters"]["mail_flagged"] == 2  # the retry, then deduplicated
    assert stats["mail_warnings"]["outbox"] == {"by_state": {"sent": 1}, "duplicates": 1}
    again = consume(tmp_path, eve, smtp.port)  # same state: nothing new
    assert again.returncode == 0 and "0 new, 2 duplicate(s)" in again.stderr
    smtp.wait(2, timeout=1.0)
    assert len(smtp.messages) == 1


SHARED_PCAPS = ["sv-smtp-attachment-md5.pcap", "sv-smtp-rfc2231.pcap",
                "sv-smtp-data-rejected.pcap", "ndpi-smtp.pcap"]


def test_real_smtp_captures_do_not_crash(tmp_path, require_suricata, smtp) -> None:
    pcaps = [SHARED_DATA / "pcaps" / p for p in SHARED_PCAPS]
    for pcap in pcaps:
        require_path(pcap, "shared SMTP capture")
    eve = run_suricata(pcaps, tmp_path / "suri", tmp_path)
    proc = consume(tmp_path, eve, smtp.port, "--no-mail")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["decode"]["bad"] == {}
    assert stats["counters"]["mail_smtp_judged"] >= 4
    assert stats["decode"]["decoded"]["smtp"] >= 7
