"""Spoofed-mail warnings: composition (English and Japanese), hostile values, recipients
policy, dedupe key, Rspamd exporter events (real Rspamd 3.4 JSON shape), file mode, the outbox
across restarts, SMTP through a real aiosmtpd server on loopback, and the HTTP receiver."""

from __future__ import annotations

import json
import time
from email import message_from_bytes, policy

import pytest
import requests
from aiosmtpd.controller import Controller
from mailsink import Sink
from mailwarnfixtures import RSPAMD_EVENT, auth, flagged, make_cfg

from eve_consumer.mailwarn import MailWarnings
from eve_consumer.mailwarn.outbox import Outbox, OutboxFull
from eve_consumer.mailwarn.rspamd_events import flagged_from_rspamd, read_events_file
from sakimori.mail.checks import Hit
from sakimori.mail.warnings import (
    FlaggedMail,
    body_text,
    compose,
    dedupe_key,
    notified_recipients,
    warning_recipients,
)
from sakimori_demo.smtpsink import free_port as other_port

EVIL_SUBJECT = "invoice\r\nBcc: victim@example.co.jp\r\n\u202e<script>alert(1)</script>"


# --- composition -------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "ja"])
def test_compose_both_languages_hostile_values_only_in_the_body(tmp_path, language) -> None:
    cfg = make_cfg(tmp_path, language=language)
    mail = flagged(subject=EVIL_SUBJECT, header_from="=?UTF-8?Q?=E5=B1=B1=E7=94=B0=0D=0ABcc:"
                   "_x@evil.example?= <taro@example.co.jp>", message_id="<a\r\nX-Evil: 1>",
                   hits=(Hit("SAKIMORI_INTERNAL_SPOOF", ["from=example.co.jp"]),
                         Hit("SAKIMORI_HEADER_MISMATCH", ["from=example.co.jp",
                                                          "envelope=evil.example"])),
                   related=("FORGED_SENDER",))
    msg = compose(cfg, mail)
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    headers = "\n".join(f"{k}: {v}" for k, v in parsed.items())
    for bad in ("Bcc", "X-Evil", "victim", "evil.example", "script", "invoice"):
        assert bad not in headers
    assert parsed["Subject"].endswith("(SAKIMORI_INTERNAL_SPOOF, SAKIMORI_HEADER_MISMATCH)")
    assert parsed["To"] == "soc@example.co.jp" and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "text/plain" and not parsed.is_multipart()
    body = parsed.get_content()
    assert "invoice\\x0d\\x0aBcc: victim@example.co.jp\\x0d\\x0a\\u202e<script>" in body
    assert "\r" not in body.replace("\r\n", "\n") and "\u202e" not in body
    assert "山田\\x0d\\x0aBcc:" in body  # RFC 2047-decoded, then escaped
    assert "from=example.co.jp, envelope=evil.example" in body
    assert "FORGED_SENDER" in body and "8.40" in body
    if language == "ja":
        assert "なりすまし" in parsed["Subject"] and "該当したチェック" in body
        assert "自社ドメインを名乗っているが" in body
    else:
        assert "possibly spoofed" in parsed["Subject"] and "Checks that fired" in body


def test_body_caps_long_values_and_many_recipients(tmp_path) -> None:
    cfg = make_cfg(tmp_path)
    mail = flagged(subject="x" * 5000, recipients=tuple(f"u{i}@example.co.jp" for i in range(60)),
                   source="suricata")
    body = body_text(cfg, mail)
    assert max(len(line) for line in body.splitlines()) < 2000
    assert "… (+40)" in body and "Suricata" in body and "Queue ID" not in body


# --- recipients policy -------------------------------------------------------------------------

def test_recipients_policy(tmp_path) -> None:
    mail = flagged(recipients=("Hanako@Example.co.jp", "boss@sub.example.co.jp",
                               "friend@gmail.com", "evil\r\n@example.co.jp", "",
                               "x y@example.co.jp"))
    assert warning_recipients(make_cfg(tmp_path), mail) == ["soc@example.co.jp"]
    everyone = make_cfg(tmp_path, notify=True)
    assert warning_recipients(everyone, mail) == ["soc@example.co.jp", "hanako@example.co.jp",
                                                  "boss@sub.example.co.jp"]
    only_names = make_cfg(tmp_path, notify=True, checks="[SAKIMORI_DISPLAY_NAME_SPOOF]")
    assert notified_recipients(only_names, mail) == []
    short_name = make_cfg(tmp_path, notify=True, checks="[internal_spoof]", port=26)
    assert notified_recipients(short_name, mail) == ["hanako@example.co.jp",
                                                     "boss@sub.example.co.jp"]


def test_recipients_policy_caps_and_lists(tmp_path) -> None:
    """A forged or real mass mailing never makes sakimori a mass mailer: more internal
    recipients than alerts.notify_max (20) → the admins alone; alerts.notify_exclude keeps
    distribution lists and role addresses out."""
    many = flagged(recipients=tuple(f"u{i}@example.co.jp" for i in range(21)))
    cfg = make_cfg(tmp_path, notify=True)
    assert warning_recipients(cfg, many) == ["soc@example.co.jp"]
    twenty = flagged(recipients=tuple(f"u{i}@example.co.jp" for i in range(20)))
    assert len(warning_recipients(cfg, twenty)) == 21
    listy = make_cfg(tmp_path, notify=True, port=27, extra=(
        '  notify_exclude: ["all-*@example.co.jp", "*-list@*"]\n  notify_max: 2\n'))
    mail = flagged(recipients=("All-Staff@example.co.jp", "sales-list@example.co.jp",
                               "hanako@example.co.jp"))
    assert notified_recipients(listy, mail) == ["hanako@example.co.jp"]


# --- dedupe key ----------------------------------------------------------------------------------

def test_dedupe_key_message_id_else_hash() -> None:
    assert dedupe_key(flagged(message_id="<abc@evil.example>")) == "mid:abc@evil.example"
    assert dedupe_key(flagged(message_id="abc@evil.example")) == "mid:abc@evil.example"
    inline = flagged(message_id="undef", header_from="山田 太郎 <Taro@example.co.jp>",
                     subject="請求書", recipients=("hanako@example.co.jp",))
    passive = flagged(message_id="", source="suricata",
                      header_from="=?UTF-8?B?5bGx55Sw?= <taro@example.co.jp>",
                      subject="=?UTF-8?B?6KuL5rGC5pu4?=", recipients=("<hanako@example.co.jp>",))
    assert dedupe_key(inline).startswith("hash:")
    assert dedupe_key(inline) == dedupe_key(passive)  # both paths: the same message
    assert dedupe_key(inline) != dedupe_key(flagged(message_id="", subject="other"))


def test_flagged_mail_round_trip() -> None:
    mail = flagged(related=("FORGED_SENDER",), extra={"user": "x"})
    assert FlaggedMail.from_dict(json.loads(json.dumps(mail.as_dict()))) == mail


# --- Rspamd exporter events ----------------------------------------------------------------------

def test_flagged_from_rspamd_event() -> None:
    mail = flagged_from_rspamd(RSPAMD_EVENT)
    assert mail is not None
    assert mail.hits == (Hit("SAKIMORI_INTERNAL_SPOOF", ["from=example.co.jp", "ip=8.8.8.8"]),)
    assert mail.related == ("FORGED_SENDER",)
    assert (mail.header_from, mail.envelope_from, mail.subject) == (
        "山田　太郎 <taro@example.co.jp>", "bounce@evil.example", "請求書 invoice")
    assert mail.recipients == ("hanako@example.co.jp", "b@example.co.jp")
    assert (mail.message_id, mail.ip, mail.queue_id, mail.score) == (
        "abc@evil.example", "8.8.8.8", "", 8.4)
    unflagged = dict(RSPAMD_EVENT, symbols=[RSPAMD_EVENT["symbols"][0]])
    assert flagged_from_rspamd(unflagged) is None


@pytest.mark.parametrize("broken", [
    {"symbols": [{"name": "SAKIMORI_LOOKALIKE_DOMAIN", "options": "oops"}, 5, None]},
    {"symbols": {"SAKIMORI_LOOKALIKE_DOMAIN": {"options": [1, None, "how=edit"]}},
     "rcpt": "unknown", "header_from": 7, "score": "nan?", "message_id": ["x"], "ip": None},
])
def test_rspamd_event_with_wrong_types(broken: dict) -> None:
    mail = flagged_from_rspamd(broken)
    assert mail is not None and mail.symbols == ["SAKIMORI_LOOKALIKE_DOMAIN"]
    assert mail.recipients == () and mail.score is None
    assert mail.header_from in ("", "7")  # a number is kept as text, anything else dropped


def test_events_file_counts_bad_lines_with_file_and_line(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(RSPAMD_EVENT), "", "{truncated", "[1, 2]", '{"no": "symbols"}',
             json.dumps(dict(RSPAMD_EVENT, symbols=[])), "x" * ((1 << 20) + 10),
             json.dumps(dict(RSPAMD_EVENT, message_id="other@evil.example"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got: list[FlaggedMail] = []
    stats = read_events_file(path, got.append)
    assert (stats.flagged, stats.not_flagged, stats.bad) == (2, 1, 4)
    assert stats.examples[0] == f"{path}:3: not valid JSON"
    assert [e.split(": ", 1)[0] for e in stats.examples] == [f"{path}:{n}" for n in (3, 4, 5, 7)]
    assert [m.message_id for m in got] == ["abc@evil.example", "other@evil.example"]


# --- outbox, sending, JSONL ----------------------------------------------------------------------

def test_outbox_dedupes_across_restarts_and_is_bounded(tmp_path) -> None:
    db = tmp_path / "state.sqlite"
    box = Outbox(db)
    assert box.add(flagged())[1] is True
    assert box.add(flagged(source="suricata"))[1] is False
    box.close()
    box = Outbox(db, max_pending=2)
    assert box.add(flagged())[1] is False
    box.add(flagged(message_id="2@x"))
    with pytest.raises(OutboxFull):
        box.add(flagged(message_id="3@x"))
    assert box.counts() == {"by_state": {"pending": 2}, "duplicates": 2}
    box.close()


def test_one_warning_per_message_through_real_smtp(tmp_path, smtp) -> None:
    cfg = make_cfg(tmp_path, smtp.port, notify=True, language="ja")
    out = tmp_path / "out"
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", out)
    assert [warnings.submit(flagged()) for _ in range(3)] == ["new", "duplicate", "duplicate"]
    assert warnings.drain() is True
    warnings.close()
    again = MailWarnings(cfg, tmp_path / "state.sqlite", out)  # a restart: still known
    assert again.submit(flagged()) == "duplicate"
    again.close()
    smtp.wait(1)
    assert len(smtp.messages) == 1
    assert smtp.envelopes[0] == ("sakimori@example.co.jp",
                                 ["soc@example.co.jp", "hanako@example.co.jp"])
    msg = smtp.messages[0]
    assert "SAKIMORI_INTERNAL_SPOOF" in msg["Subject"] and "自社ドメイン" in msg.get_content()
    records = [json.loads(x) for x in (out / "mail_warnings.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["mailed"] is True
    assert records[0]["key"] == "mid:abc@evil.example"
    assert records[0]["warned"] == ["soc@example.co.jp", "hanako@example.co.jp"]
    assert records[0]["warning_message_id"] == msg["Message-ID"]


def test_smtp_failure_keeps_the_warning_and_retries(tmp_path, free_port, caplog) -> None:
    cfg = make_cfg(tmp_path, free_port)  # nothing listens there yet
    now = [1_800_000_000.0]
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out",
                            clock=lambda: now[0])
    warnings.submit(flagged())
    warnings.submit(flagged(message_id="second@x"))
    assert warnings.drain() is False
    assert warnings.sender.stats["failed"] == 1 and warnings.sender.stats["deferred"] == 1
    assert "warning mail via 127.0.0.1" in caplog.text
    assert not (tmp_path / "out" / "mail_warnings.jsonl").exists()
    assert warnings.drain() is False and warnings.sender.stats["failed"] == 1  # relay pause
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        assert warnings.sender.wait_hint() == 30.0
        now[0] += 30.0
        assert warnings.drain() is True
        sink.wait(2)
    finally:
        controller.stop()
    warnings.close()
    assert len(sink.messages) == 2


def test_no_mail_still_records_once(tmp_path) -> None:
    cfg = make_cfg(tmp_path)
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out", mail=False)
    warnings.submit(flagged())
    warnings.submit(flagged())
    warnings.close()
    records = (tmp_path / "out" / "mail_warnings.jsonl").read_text().splitlines()
    assert len(records) == 1
    assert json.loads(records[0])["mailed"] is False
    assert json.loads(records[0])["reason"] == "--no-mail"


def test_own_warning_from_a_trusted_address_is_never_warned(tmp_path) -> None:
    warnings = MailWarnings(make_cfg(tmp_path), tmp_path / "s.sqlite", tmp_path / "o",
                            mail=False)
    own = flagged(envelope_from="sakimori@example.co.jp", ip="127.0.0.1")
    assert warnings.submit(own) == "own_warning"
    spoofed = flagged(envelope_from="sakimori@example.co.jp", ip="8.8.8.8")
    assert warnings.submit(spoofed) == "new"  # spoofing our sender from outside is warned
    warnings.close()


# --- HTTP receiver ----------------------------------------------------------------------------

def test_receiver_http(tmp_path, smtp) -> None:
    listen = other_port()
    cfg = make_cfg(tmp_path, smtp.port, listen=listen)
    warnings = MailWarnings(cfg, tmp_path / "state.sqlite", tmp_path / "out")
    receiver = warnings.listen()
    try:
        url = receiver.url
        assert url == f"http://127.0.0.1:{listen}/rspamd/events"
        post = lambda body: requests.post(url, data=body, timeout=5,  # noqa: E731
                                          headers=auth(cfg))
        first = post(json.dumps(RSPAMD_EVENT))
        assert first.status_code == 200 and first.text.strip() == "accepted"
        assert post(json.dumps(RSPAMD_EVENT)).text.strip() == "accepted"  # stored as duplicate
        assert post(json.dumps(dict(RSPAMD_EVENT, symbols=[]))).text.strip() == "not_flagged"
        assert post(b"{not json").status_code == 400
        assert post(b"[1]").status_code == 400
        assert post(b"x" * ((1 << 20) + 1)).status_code == 413
        assert requests.post(url.replace("/rspamd/events", "/x"), data=b"{}",
                             timeout=5, headers=auth(cfg)).status_code == 404
        assert requests.get(url, timeout=5).status_code == 405
        smtp.wait(1)
    finally:
        warnings.close()
    assert len(smtp.messages) == 1
    assert receiver.stats["accepted"] == 2 and receiver.stats["not_flagged"] == 1
    assert warnings.counts["new"] == 1 and warnings.counts["duplicate"] == 1


def test_receiver_refuses_clients_outside_loopback_and_relays(tmp_path) -> None:
    from eve_consumer.mailwarn.receiver import Receiver

    receiver = Receiver(make_cfg(tmp_path), lambda m: "new", "s" * 32)
    assert receiver.allowed("127.0.0.1") and receiver.allowed("::1")
    assert receiver.allowed("192.0.2.10") and receiver.allowed("::ffff:192.0.2.10")
    assert not receiver.allowed("10.1.2.3") and not receiver.allowed("8.8.8.8")
    assert not receiver.allowed("garbage")


def test_receiver_port_taken_is_one_line_error(tmp_path, free_port) -> None:
    from sakimori.errors import SakimoriError

    cfg = make_cfg(tmp_path, listen=free_port)
    first = MailWarnings(cfg, tmp_path / "a.sqlite", tmp_path / "o")
    first.listen()
    second = MailWarnings(cfg, tmp_path / "b.sqlite", tmp_path / "o")
    try:
        with pytest.raises(SakimoriError, match=f"rspamd.listen 127.0.0.1:{free_port}: "
                                                "cannot listen"):
            second.listen()
    finally:
        first.close()
        second.close()


def test_receiver_survives_stalled_and_garbage_clients(tmp_path, monkeypatch, capfd) -> None:
    import socket

    from eve_consumer.mailwarn import receiver as rec_mod

    monkeypatch.setattr(rec_mod._Handler, "timeout", 0.3)
    cfg = make_cfg(tmp_path, listen=other_port())
    warnings = MailWarnings(cfg, tmp_path / "s.sqlite", tmp_path / "o", mail=False)
    receiver = warnings.listen()
    try:
        stalled = socket.create_connection(("127.0.0.1", receiver.port))
        stalled.sendall(b"POST /rspamd/events HTTP/1.0\r\nContent-Length: 1000\r\n"
                        b"Authorization: " + auth(cfg)["Authorization"].encode() + b"\r\n\r\n{")
        garbage = socket.create_connection(("127.0.0.1", receiver.port))
        garbage.sendall(b"\x00\xff GARBAGE\r\n\r\n")
        time.sleep(0.8)
        stalled.close()
        garbage.close()
        ok = requests.post(receiver.url, data=json.dumps(RSPAMD_EVENT), timeout=5,
                           headers=auth(cfg))
        assert ok.status_code == 200
    finally:
        warnings.close()
    assert receiver.stats["client_error"] == 2 and receiver.stats["accepted"] == 1
    assert warnings.counts["new"] == 1
    assert "Traceback" not in capfd.readouterr().err
