"""The Python reference checks (sakimori.mail.checks) beyond the shared vectors: helpers of
the look-alike check, option sanitising, hostile input that must never raise, and speed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sakimori.config import load_config
from sakimori.mail import checks
from sakimori.mail.checks import Hit, osa_distance, run_checks, sanitise_option, skeleton
from sakimori.mail.facts import MailFacts, facts_from_message, parse_from, parse_hops
from sakimori.mail.received import Hop

CONFIG = """\
networks: {home: [10.0.0.0/8], mail_relays: [192.0.2.10/32]}
mail: {internal_domains: [example.co.jp], domestic_country: JP, domestic_tlds: [jp]}
"""
BASELINE = {
    "domains": {"partner.co.jp": {"messages": 40, "infra": {"net:133.0.0.0/24": 40}}},
    "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"],
    "names": {"山田太郎": {"addresses": {"taro@example.co.jp": 3}}},
}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("cfg") / "sakimori.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, env={})


def symbols(hits: list[Hit]) -> dict[str, list[str]]:
    return {h.symbol: h.options for h in hits}


# --- helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "d"), [
    ("example", "example", 0), ("exampie", "example", 1), ("partenr", "partner", 1),
    ("bigbnak2", "bigbank", 2), ("", "abc", 3), ("ca", "abc", 3), ("abcd", "acbd", 1),
])
def test_osa_distance(a: str, b: str, d: int) -> None:
    assert osa_distance(a, b) == d
    assert osa_distance(b, a) == d


@pytest.mark.parametrize(("domain", "skel"), [
    ("xn--exmple-4nf.co.jp", "example.co.jp"),  # Cyrillic а
    ("exarnple.co.jp", "example.co.jp"),
    ("vvebmail.com", "webmail.com"),
    ("examp1e.co.jp", "example.co.jp"),
    ("xn--zz-.co.jp", "zz.co.jp"),  # punycode with no non-ASCII part decodes plainly
    ("xn--a-9999999999.co.jp", "xn--a-9999999999.co.jp"),  # invalid: kept as written
])
def test_skeleton(domain: str, skel: str) -> None:
    assert skeleton(domain) == skel


def test_sanitise_option_drops_controls_and_caps_bytes() -> None:
    assert sanitise_option("name=山田\r\nBcc: x\u202e\x85") == "name=山田Bcc: x"
    capped = sanitise_option("name=" + "山" * 100)
    assert len(capped.encode()) <= 128 and capped.startswith("name=山")
    assert "\ufffd" not in capped


def test_parse_from_keeps_a_name_without_a_usable_address() -> None:
    assert parse_from(["=?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= <garbage>"]) == ("山田 太郎",
                                                                          "garbage")
    assert parse_from(["", "Taro <taro@example.co.jp>"]) == ("Taro", "taro@example.co.jp")
    assert parse_from(["undisclosed-recipients:;"]) == ("", "")


def test_display_name_spoof_with_unusable_address(cfg) -> None:
    facts = MailFacts(ip="8.8.8.8", from_name="山田 太郎", from_addr="garbage")
    assert symbols(run_checks(facts, cfg, BASELINE))["SAKIMORI_DISPLAY_NAME_SPOOF"] == [
        "name=山田太郎", "addr="]


def test_passive_has_no_verified_name(cfg) -> None:
    """A HELO naming the partner's server never makes new infrastructure look known."""
    facts = MailFacts(ip="133.0.1.5", helo="mail.partner.co.jp",
                      from_addr="info@partner.co.jp")
    base = dict(BASELINE, domains={"partner.co.jp": {
        "messages": 40, "infra": {"net:133.0.0.0/24": 40, "ptr:partner.co.jp": 40}}})
    assert symbols(run_checks(facts, cfg, base))["SAKIMORI_NEW_INFRASTRUCTURE"] == [
        "domain=partner.co.jp", "infra=net:133.0.1.0/24"]
    verified = MailFacts(ip="133.0.1.5", hostname="out.partner.co.jp",
                         from_addr="info@partner.co.jp")
    assert "SAKIMORI_NEW_INFRASTRUCTURE" not in symbols(run_checks(verified, cfg, base))


def test_prepared_data_follows_a_new_baseline_object(cfg) -> None:
    facts = MailFacts(ip="8.8.8.8", from_name="Suzuki Ichiro", from_addr="x@evil.example")
    assert run_checks(facts, cfg, BASELINE) == []
    other = dict(BASELINE, names={"suzukiichiro": {"addresses": {"i@partner.co.jp": 5}}})
    assert symbols(run_checks(facts, cfg, other))["SAKIMORI_DISPLAY_NAME_SPOOF"]


# --- hostile input -----------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "", "\r\n", "a" * 100_000, "=?UTF-8?Q?=0D=0ABcc:_x@y?= <a@b.c>", "<<<@@@>>>", "\x00\x01",
    "xn--.xn--zz-.co.jp", "例え.テスト", "[IPv6:zz::zz]", "999.1.2.3", "::ffff:8.8.8.8",
    "2001:db8::1%eth0", "a@" + "b." * 5000 + "jp", "\udcff", "\u202eevil",
    "ｅｘａｍｐｌｅ．ｃｏ．ｊｐ",
]


def test_run_checks_never_raises_on_hostile_facts(cfg, caplog) -> None:
    """Not even the last-resort guard is needed: nothing is logged as failed."""
    rnd = random.Random(7)
    for _ in range(400):
        pick = lambda: rnd.choice(HOSTILE_STRINGS)  # noqa: E731
        hops = tuple(Hop(ip=pick(), hostname=pick(), ptr=pick()) for _ in range(rnd.randint(0, 5)))
        facts = MailFacts(ip=pick(), hostname=pick(), helo=pick(), user=rnd.choice([None, ""]),
                          envelope_from=rnd.choice([None, "", pick()]), rcpt=(pick(),),
                          from_name=pick(), from_addr=pick(), reply_to=pick(), hops=hops)
        for hit in run_checks(facts, cfg, BASELINE):
            assert hit.symbol in checks.SYMBOLS
            for option in hit.options:
                assert len(option.encode()) <= 128
                assert not any(ch in option for ch in "\r\n\x00\u202e")
    assert "mail checks failed" not in caplog.text


def test_facts_from_message_on_garbage_and_huge_headers(cfg, caplog) -> None:
    huge = b"Received: from x ([8.8.8.8]) by y; " + b"(" * 50_000 + b"\r\n"
    messages = [b"", b"\x00\xff\xfe", b"From: \r\n\r\n", huge * 200 + b"From: a@b\r\n\r\nx",
                b"From: " + b"=?UTF-8?B?" + b"A" * 100_000 + b"?= <a@example.co.jp>\r\n\r\n",
                b"Subject: x\nFrom: <ceo@example.co.jp>\n\nbody"]
    for raw in messages:
        facts = facts_from_message(raw, ip="8.8.8.8", envelope_from=None)
        run_checks(facts, cfg, BASELINE)
    assert "mail checks failed" not in caplog.text
    facts = facts_from_message(messages[-1], ip="8.8.8.8")
    assert symbols(run_checks(facts, cfg, BASELINE))["SAKIMORI_INTERNAL_SPOOF"] == [
        "from=example.co.jp", "ip=8.8.8.8"]


def test_wrong_types_in_the_baseline_are_tolerated(cfg, caplog) -> None:
    """Wrong-typed entries are read as absent, not by the last-resort handler (which would
    pass every mail unjudged): the verdict equals the one with an empty baseline."""
    facts = MailFacts(ip="8.8.8.8", from_name="x y z", from_addr="a@partner.co.jp")
    bad = {"domains": {"partner.co.jp": "oops", "x.jp": {"messages": "many", "infra": [1]}},
           "names": {"xyz": None, "abc": {"addresses": ["a"]}}, "frequent_domains": [None, 5]}
    expected = symbols(run_checks(facts, cfg, {}))
    assert symbols(run_checks(facts, cfg, bad)) == expected
    assert symbols(run_checks(facts, cfg, None)) == expected  # type: ignore[arg-type]
    assert "mail checks failed" not in caplog.text


def test_lookalike_is_found_with_a_large_frequent_list(cfg) -> None:
    """300 frequent domains: the look-alike is still found (its speed: bench/mail.py)."""
    base = dict(BASELINE, frequent_domains=[f"partner{i}.co.jp" for i in range(300)])
    raw = (b"Received: from mx.evil.example (unknown [8.8.8.8]) by mx.example.co.jp with ESMTP"
           b" id 1; Tue, 25 Nov 2026 10:00:00 +0900\r\nFrom: =?UTF-8?B?5bGx55Sw44CA5aSq6YOO?= "
           b"<billing@partnerl.co.jp>\r\nReply-To: <x@gmail.com>\r\n\r\nx")
    facts = facts_from_message(raw, ip="8.8.8.8", envelope_from="a@evil.example")
    run_checks(facts, cfg, base)
    hits = run_checks(facts_from_message(raw, ip="8.8.8.8"), cfg, base)
    assert "SAKIMORI_LOOKALIKE_DOMAIN" in symbols(hits)


@pytest.mark.parametrize(("received", "ptr"), [
    ("from helo.x (vps12.cheap-hosting.net [133.0.1.5]) by relay (Postfix)",
     "vps12.cheap-hosting.net"),
    ("from x (user@ident.example.net [133.0.9.9]) by y with ESMTP", "ident.example.net"),
    ("from mail.partner.co.jp (unknown [133.0.9.9]) by relay", ""),
    ("from vps7.cheap-hosting.net ([133.0.9.9] helo=mail.partner.co.jp) by relay", ""),  # Exim
    ("from unknown (HELO mail.partner.co.jp) (133.0.9.9) by relay with SMTP", ""),  # qmail
    ("from a (b) by relay.example (relay.example [192.0.2.10])", ""),  # only the sending part
])
def test_verified_hop_name_is_the_ptr_in_parentheses(received: str, ptr: str) -> None:
    (hop,) = parse_hops([received])
    assert hop.ptr == ptr
