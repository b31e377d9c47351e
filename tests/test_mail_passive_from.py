"""Passive mode judges the From as the reader sees it (docs/mail-checks.md "Displayed From").

A crafted capture (scapy, full SMTP sessions to our MX 10.0.0.25, as in test_mail_passive.py)
carries mails whose From is written the way phishers write it — a strict parser finds no
usable address, or the wrong one — and one ordinary partner mail. Real Suricata 7 logs the raw
From in ``email.from``; ``sakimori consume`` over its EVE flags every malformed one with the
check that judges its displayed domain, and the partner mail not at all.
"""

from __future__ import annotations

import json

import pytest
from pcapcraft import write_pcap
from smtpcapture import T0, consume, run_suricata, smtp_session

pytestmark = pytest.mark.suricata

RECEIVED = ("from pc (pc [45.0.0.1]) by mx.bulk-mail.example with ESMTP id 0; "
            "Tue, 25 Nov 2026 09:59:00 +0900")
# (From as written, the check that must fire, an option it must carry)
FORMS = [
    ("CEO <taro@example.co.jp>>", "SAKIMORI_INTERNAL_SPOOF", "from=example.co.jp"),
    ("Yamada,(<taro@example.co.jp>)", "SAKIMORI_INTERNAL_SPOOF", "from=example.co.jp"),
    ("Sales <desk>, Sales <info@partner.co.jp>", "SAKIMORI_DOMESTIC_VIA_OVERSEAS",
     "domain=partner.co.jp"),
    ("notice@bulk-mail.example@partner.co.jp", "SAKIMORI_DOMESTIC_VIA_OVERSEAS",
     "domain=partner.co.jp"),
    ('"taro@example.co.jp" <x@bulk-mail.example>', "SAKIMORI_DISPLAY_NAME_SPOOF",
     "shows=taro@example.co.jp"),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    pkts = []
    for i, (value, _, _) in enumerate(FORMS):
        pkts += smtp_session("8.8.8.8", 41000 + i, "mx.bulk-mail.example",
                             "bounce@bulk-mail.example", ["hanako@example.co.jp"], [
                                 ("Received", RECEIVED), ("From", value),
                                 ("To", "hanako@example.co.jp"), ("Subject", "invoice"),
                                 ("Message-ID", f"<form-{i}@bulk-mail.example>")], T0 + 60 * i)
    pkts += smtp_session("133.0.0.7", 41100, "mail.partner.co.jp", "info@partner.co.jp",
                         ["hanako@example.co.jp"], [
                             ("From", '"Sato, Jiro" <info@partner.co.jp>'),
                             ("To", "hanako@example.co.jp"), ("Subject", "monthly report"),
                             ("Message-ID", "<report-8@partner.co.jp>")], T0 + 900)
    return write_pcap(tmp_path_factory.mktemp("pcap") / "malformed-from.pcap", pkts)


def test_passive_path_flags_malformed_from(capture, tmp_path, require_suricata,
                                           free_port) -> None:
    eve = run_suricata([capture], tmp_path / "suri", tmp_path)
    mails = [e for e in map(json.loads, eve.read_text().splitlines())
             if e.get("event_type") == "smtp" and e.get("email")]
    assert [m["email"].get("from") for m in mails] == \
        [f for f, _, _ in FORMS] + ['"Sato, Jiro" <info@partner.co.jp>']
    proc = consume(tmp_path, eve, free_port, "--no-mail")
    assert proc.returncode == 0, proc.stderr
    log = tmp_path / "out" / "mail_warnings.jsonl"
    records = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    hits = {r["key"]: r["evidence"] for r in records}
    assert "mid:report-8@partner.co.jp" not in hits
    for i, (value, symbol, option) in enumerate(FORMS):
        fired = hits.get(f"mid:form-{i}@bulk-mail.example", {})
        assert option in fired.get(symbol, []), (value, fired)
