"""Inline-only behaviour of the plugin in a real Rspamd (the checks themselves are proven by
tests/vectors through test_vectors_lua.py): tagging (X-Sakimori header, subject prefix, an
incoming X-Sakimori removed), metadata_exporter posts for flagged mail only, options sanitised
and length-capped, scores from the group file, and a disabled module."""

from __future__ import annotations

import time

import pytest
from rspamd_support import configure, requires_rspamd

pytestmark = [pytest.mark.rspamd, requires_rspamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"], "tag_header": True,
                   "tag_subject": ""},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}
MAIL = {"domains": {"partner.co.jp": {"messages": 40, "infra": {"net:133.0.0.0/24": 40}}},
        "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"]}
SPOOF = (b"From: CEO <ceo@example.co.jp>\r\nTo: hanako@example.co.jp\r\n"
         b"Subject: =?UTF-8?B?6Iez5oCl?= transfer\r\nX-Sakimori: clean\r\n\r\npay\r\n")
CLEAN = (b"From: Partner <info@partner.co.jp>\r\nTo: hanako@example.co.jp\r\nSubject: hi\r\n"
         b"\r\nhello\r\n")
SPOOF_ENV = {"ip": "8.8.8.8", "mail_from": "ceo@example.co.jp",
             "rcpt": ["hanako@example.co.jp"], "helo": "mx.evil.example"}
CLEAN_ENV = {"ip": "133.0.0.1", "mail_from": "info@partner.co.jp",
             "rcpt": ["hanako@example.co.jp"], "hostname": "mail.partner.co.jp"}


def _with(**mail):
    return {**CONFIG, "mail": {**CONFIG["mail"], **mail}}


def test_flagged_mail_is_tagged_and_an_incoming_tag_removed() -> None:
    inst = configure(CONFIG, MAIL)
    reply = inst.scan(SPOOF, **SPOOF_ENV)
    milter = reply["milter"]
    assert milter["add_headers"]["X-Sakimori"]["value"] == "SAKIMORI_INTERNAL_SPOOF"
    assert "X-Sakimori" in milter["remove_headers"]
    assert "Subject" not in milter.get("add_headers", {})
    assert reply["symbols"]["SAKIMORI_INTERNAL_SPOOF"]["score"] == 6.0  # scores.d group file


def test_clean_mail_is_not_tagged() -> None:
    inst = configure(CONFIG, MAIL)
    reply = inst.scan(CLEAN, **CLEAN_ENV)
    assert not [s for s in reply["symbols"] if s.startswith("SAKIMORI_") and s != "SAKIMORI_CHECK"]
    assert "X-Sakimori" not in reply.get("milter", {}).get("add_headers", {})


def test_subject_prefix_keeps_the_original_encoded_subject() -> None:
    inst = configure(_with(tag_subject="[なりすまし $SPOOF]", tag_header=False), MAIL)
    reply = inst.scan(SPOOF, **SPOOF_ENV)
    added = reply["milter"]["add_headers"]
    assert "X-Sakimori" not in added
    subject = added["Subject"]["value"]
    assert subject.endswith(" =?UTF-8?B?6Iez5oCl?= transfer")  # attacker text not re-decoded
    prefix = subject[: -len(" =?UTF-8?B?6Iez5oCl?= transfer")]
    assert prefix.startswith("=?") and prefix.isascii()  # non-ASCII prefix MIME-encoded
    assert "\r" not in subject and "\n" not in subject
    assert reply["milter"]["remove_headers"]["Subject"] == 0
    assert inst.lua_errors() == []


def test_subject_prefix_dollar_survives_ucl() -> None:
    inst = configure(_with(tag_subject="[$SPOOF]"), MAIL)
    subject = inst.scan(SPOOF, **SPOOF_ENV)["milter"]["add_headers"]["Subject"]["value"]
    assert subject.startswith("[$SPOOF] ")


def test_exporter_posts_flagged_mail_only() -> None:
    inst = configure(CONFIG, MAIL)
    before = len(inst.events)
    inst.scan(CLEAN, **CLEAN_ENV)
    inst.scan(SPOOF, **SPOOF_ENV)
    deadline = time.monotonic() + 5
    while len(inst.events) < before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    new = inst.events[before:]
    assert len(new) == 1
    event = new[0]
    assert event["from"] == "ceo@example.co.jp" and event["ip"] == "8.8.8.8"
    assert event["rcpt"] == ["hanako@example.co.jp"]
    symbols = {s["name"]: s for s in event["symbols"]}
    assert symbols["SAKIMORI_INTERNAL_SPOOF"]["options"] == ["from=example.co.jp", "ip=8.8.8.8"]


def test_options_are_sanitised_and_capped() -> None:
    inst = configure(CONFIG, MAIL)
    label = "example-co-jp-" + "x" * 40
    domain = ".".join([label] * 4) + ".com"
    message = f"From: <a@{domain}>\r\nSubject: x\r\n\r\nx\r\n".encode()
    reply = inst.scan(message, ip="8.8.8.8", helo="x")
    options = reply["symbols"]["SAKIMORI_LOOKALIKE_DOMAIN"]["options"]
    assert all(len(o.encode()) <= 128 for o in options)
    assert "like=example.co.jp" in options and "how=hyphen" in options
    assert all(ch >= " " for o in options for ch in o)


def test_disabled_module_adds_nothing() -> None:
    inst = configure(CONFIG, MAIL)
    assert inst.scan(SPOOF, **SPOOF_ENV)["symbols"].get("SAKIMORI_INTERNAL_SPOOF")
    override = inst.etc / "override.d" / "sakimori.conf"  # the operator's way, priority 10
    override.write_text("enabled = false;\n")
    inst.restart()
    try:
        reply = inst.scan(SPOOF, **SPOOF_ENV)
        assert not [s for s in reply["symbols"] if s.startswith("SAKIMORI_")]
        assert "X-Sakimori" not in reply.get("milter", {}).get("add_headers", {})
        assert inst.lua_errors() == []
    finally:
        override.unlink()
        inst.restart()


def test_first_non_blank_from_header_is_the_one_displayed() -> None:
    """The plugin reads the first From header as two strings and falls back to the full list
    only when that one is blank: the displayed From must then come from a later header."""
    inst = configure(CONFIG, MAIL)
    override = inst.etc / "override.d" / "sakimori.conf"
    override.parent.mkdir(exist_ok=True)
    override.write_text("expose_from = true;\n")
    inst.restart()
    try:
        for froms, shown in ((["  ", "CEO <ceo@example.co.jp>"], "shown=example.co.jp"),
                             (["Partner <info@partner.co.jp>", "<x@evil-mail.net>"],
                              "shown=partner.co.jp"),
                             (["", "\t", "=?UTF-8?B?5L2Q6Jek?= <sato@partner.co.jp>"],
                              "shown=partner.co.jp")):
            message = "".join(f"From: {v}\r\n" for v in froms) + "Subject: x\r\n\r\nx\r\n"
            reply = inst.scan(message.encode(), ip="8.8.8.8", helo="x")
            assert shown in reply["symbols"]["SAKIMORI_FROM"]["options"], (froms, reply)
        assert inst.lua_errors() == []
    finally:
        override.unlink()
        inst.restart()


def test_tag_milter_reply_is_exactly_the_helpers() -> None:
    """The plugin writes the tag with task:set_milter_reply and task:modify_header itself
    (Rspamd 3.4's lua_mime.modify_headers, 'compat' mode, did it before: docs/bench.md, "item
    4, sixth round"): the whole milter section, merged with other modules' changes (X-Spam),
    must stay what the helper produced — a flagged mail with and without an incoming tag, a
    clean mail with one (removed, nothing added) and without, a subject prefix with the tag."""
    inst = configure(CONFIG, MAIL)
    untagged = SPOOF.replace(b"X-Sakimori: clean\r\n", b"")
    clean_tagged = CLEAN.replace(b"Subject: hi\r\n",
                                 b"Subject: hi\r\nX-Sakimori: SAKIMORI_INTERNAL_SPOOF\r\n")
    tag = {"X-Sakimori": {"value": "SAKIMORI_INTERNAL_SPOOF", "order": 0}}
    for message, env, milter in (
            (SPOOF, SPOOF_ENV, {"add_headers": tag,
                                "remove_headers": {"X-Sakimori": 0, "X-Spam": 0}}),
            (untagged, SPOOF_ENV, {"add_headers": tag, "remove_headers": {"X-Spam": 0}}),
            (clean_tagged, CLEAN_ENV, {"remove_headers": {"X-Sakimori": 0, "X-Spam": 0}}),
            (CLEAN, CLEAN_ENV, {"remove_headers": {"X-Spam": 0}})):
        assert inst.scan(message, **env).get("milter") == milter, message
    inst = configure(_with(tag_subject="[SPOOF]"), MAIL)
    assert inst.scan(untagged, **SPOOF_ENV)["milter"] == {
        "add_headers": {**tag, "Subject": {"value": "[SPOOF] =?UTF-8?B?6Iez5oCl?= transfer",
                                           "order": 0}},
        "remove_headers": {"Subject": 0, "X-Spam": 0}}
    assert inst.lua_errors() == []


def _received(ips: list[str]) -> bytes:
    return "".join(f"Received: from h{i}.partner.co.jp (h{i}.partner.co.jp [{ip}]) by "
                   f"mx{i}.partner.co.jp with ESMTP id q{i}; Mon, 7 Dec 2026 10:00:00 +0900\r\n"
                   for i, ip in enumerate(ips)).encode()


def test_reused_tables_carry_nothing_to_the_next_mail() -> None:
    """The plugin refills one facts table, one check context and pooled hop tables from mail
    to mail (docs/bench.md, "item 4, sixth round"): a mail judged right after one with a longer
    Received chain — longer than the pool, too — gets the verdict it gets alone."""
    inst = configure(CONFIG, MAIL)
    short = _received(["133.0.0.2", "133.0.0.3"]) + CLEAN

    def sakimori(reply: dict) -> dict:
        return {k: v.get("options") for k, v in reply["symbols"].items()
                if k.startswith("SAKIMORI_")}

    alone = sakimori(inst.scan(short, **CLEAN_ENV))
    assert "SAKIMORI_DOMESTIC_VIA_OVERSEAS" not in alone
    for hops in (10, 80, 600):  # 600: more than the pool (512 hops)
        long = _received(["133.0.0.2", "133.0.0.3"] + ["8.8.8.8"] * (hops - 2)) + CLEAN
        assert "SAKIMORI_DOMESTIC_VIA_OVERSEAS" in sakimori(inst.scan(long, **CLEAN_ENV))
        assert sakimori(inst.scan(short, **CLEAN_ENV)) == alone, hops
    assert inst.lua_errors() == []
