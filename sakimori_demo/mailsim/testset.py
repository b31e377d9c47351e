"""The test set: new mails arriving at our MX, legitimate, spoofed (one per check of
docs/mail-checks.md) and hostile, each with a sidecar ground truth.

A test mail is the message as our MX receives it (the sender's own Received hops only); the
SMTP session goes into the sidecar — connecting ``ip``, ``helo``, ``hostname`` (PTR, '' when
none), ``envelope_from``, ``rcpt``, ``user`` (authenticated submission) — ready for Rspamd's
``IP:``/``Helo:``/``Hostname:``/``From:``/``Rcpt:``/``User:`` request headers.

``expected_symbols`` are the ``SAKIMORI_*`` symbols the definitions in docs/mail-checks.md give
after learning the bundled past mail with ``examples/sakimori.yaml`` plus the provider presets
of :data:`RELAY_PRESETS` in ``networks.mail_relays`` (:func:`config_for_testset`; ``sakimori demo``
adds them too); Rspamd's own symbols are not listed. Where a legitimate mail is flagged *by the
current definitions*, the case says so in ``note`` (``legitimate: true`` with non-empty
``expected_symbols``).
"""

from __future__ import annotations

import base64
import ipaddress
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from sakimori.config import Config, load_config
from sakimori_demo.mailsim import catalogue as cat
from sakimori_demo.mailsim.compose import (
    Draft,
    address,
    encode_words,
    received,
    rfc2822_date,
    text_body,
)
from sakimori_demo.mailsim.hosted import provider_hops

# Part of the organisation's mailboxes are at Google Workspace, which routes their mail on to
# our MX (split delivery): the test set's expectations assume this preset is configured.
RELAY_PRESETS = ("google_workspace",)

T0 = datetime.fromisoformat("2026-02-02T10:00:00+09:00").timestamp()
S = "SAKIMORI_"
INTERNAL, DVO, NEW = S + "INTERNAL_SPOOF", S + "DOMESTIC_VIA_OVERSEAS", S + "NEW_INFRASTRUCTURE"
NAME, LOOK, MISMATCH = S + "DISPLAY_NAME_SPOOF", S + "LOOKALIKE_DOMAIN", S + "HEADER_MISMATCH"
VPS_JP = ("160.16.0.", "tk2-233-{n}.vs.sakura.ne.jp")  # a domestic VPS provider
VPS_US = "45.77.0."


@dataclass(frozen=True)
class Case:
    """One test mail: how it is sent and what the checks should say."""

    name: str
    kind: str  # legitimate | spoofed | hostile
    sender: tuple[str, str]  # From display name, address
    ip: str
    expected: tuple[str, ...] = ()
    check: str = ""  # the check this case is about ('' = none)
    hostname: str = ""
    helo: str = ""
    envelope: str | None = None  # None: the From address
    rcpt: str = "taro.yamada@example.co.jp"
    user: str = ""
    hops: tuple[tuple[str, str, str], ...] = ()  # older hops (helo, ptr, ip), newest first
    extra: tuple[tuple[str, str], ...] = ()  # more headers
    raw_from: str = ""  # the From header value as is (hostile cases)
    subject: str = "お打ち合わせの件"
    body: bytes | None = None
    mime: tuple[tuple[str, str], ...] | None = None
    raw_received: tuple[str, ...] = ()  # Received values as is, after the hops
    legitimate: bool = False
    note: str = ""
    charset: str = "utf-8"
    padding: int = 0  # bytes of filler headers (huge-header case)
    hosted: str = ""  # our tenant at this provider received it first (mailsim.hosted)


def _relay(domain: str, index: int = 0, host: int | None = None) -> dict:
    org = cat.org(domain)
    relay = org.relays[index]
    n = relay.hosts[0] if host is None else host
    return {"ip": cat.relay_ip(relay, n), "hostname": cat.relay_ptr(relay, n),
            "helo": cat.relay_helo(relay, n)}


def _vps(n: int) -> dict:
    return {"ip": f"{VPS_JP[0]}{n}", "hostname": VPS_JP[1].format(n=10000 + n),
            "helo": VPS_JP[1].format(n=10000 + n)}


def _us(n: int) -> dict:
    return {"ip": f"{VPS_US}{n}", "hostname": "", "helo": "mail.example.co.jp"}


TANAKA = ("田中 一郎", "ichiro.tanaka@tanaka-shoji.co.jp")
TARO = ("山田 太郎", "taro.yamada@example.co.jp")
FP = "false positive under the current definitions: "


_CRLF = base64.b64encode("経理部\r\nBcc: victim@example.co.jp".encode()).decode()
CASES = (
    Case("01-legit-domestic-partner", "legitimate", TANAKA, **_relay("tanaka-shoji.co.jp"),
         legitimate=True, charset="iso-2022-jp",
         hops=(("pc-031.tanaka-shoji.co.jp", "unknown", "192.168.10.31"),)),
    Case("02-legit-internal-via-our-relay", "legitimate", TARO, cat.OUR_MX[1],
         hostname=cat.OUR_MX[0], helo=cat.OUR_MX[0], rcpt="hanako.sato@example.co.jp",
         hops=(("pc-033.example.co.jp", "pc-033.example.co.jp", "10.1.30.33"),),
         legitimate=True),
    Case("03-legit-overseas-partner", "legitimate",
         ("Stefan Müller", "s.mueller@mueller-technik.de"),
         **_relay("mueller-technik.de"), legitimate=True, subject="Delivery schedule",
         hops=(("filter.mueller-technik.de", "filter.mueller-technik.de", "46.4.0.9"),)),
    Case("04-legit-shared-isp-relay", "legitimate",
         ("森田 健二", "k.morita@kyoto-seiki.co.jp"),
         **_relay("kyoto-seiki.co.jp", host=13), legitimate=True,
         hops=(("pc-044.kyoto-seiki.co.jp", "unknown", "192.168.1.44"),)),
    Case("05-legit-frequent-private-address", "legitimate",
         ("田中 一郎", "tanaka.ichiro.private@gmail.com"), **_relay("gmail.com", host=69),
         legitimate=True),
    Case("06-legit-roaming-authenticated", "legitimate", TARO, "126.0.0.57",
         hostname="softbank126000000057.bbtec.net", helo="[192.168.0.5]",
         user="taro.yamada", rcpt="ichiro.suzuki@example.co.jp", legitimate=True),
    Case("07-legit-jp-newsletter-via-overseas-esp", "legitimate",
         ("ショップ通信", "news@mag.kaimono-club.jp"), **_relay("mag.kaimono-club.jp"),
         envelope="bounces+1234567-taro.yamada=example.co.jp@em123.esp-mailer.net",
         legitimate=True,
         note="a .jp sender whose learned history is all overseas (US mail-service provider) "
              "is not domestic: learning overrides the TLD presumption; its provider's "
              "envelope domain alone is no header mismatch"),
    Case("08-legit-cloud-partner-ipv6", "legitimate",
         ("藤井 真一", "m.fujii@osaka-trading.co.jp"), **_relay("osaka-trading.co.jp"),
         legitimate=True,
         hops=(("TYCP286MB2345.JPNP286.PROD.OUTLOOK.COM", "", "2603:1096:400:1a2::9"),),
         note="a .co.jp company on a global cloud mail service (IPv6 relays registered in "
              "GB/US) has learned history abroad, so the TLD presumption does not apply"),
    Case("10-spoof-internal-ceo-from-outside", "spoofed",
         ("高橋 健", "ken.takahashi@example.co.jp"), **_us(10), expected=(INTERNAL,),
         check=INTERNAL, subject="至急：振込のお願い", rcpt="keiri@example.co.jp"),
    Case("11-spoof-domestic-via-overseas", "spoofed",
         ("請求書送付センター", "invoice@fukuoka-kikai.co.jp"), "37.48.67.26",
         hostname="", helo="fukuoka-kikai.co.jp", expected=(DVO,), check=DVO),
    Case("12-spoof-known-domestic-via-overseas", "spoofed", TANAKA, "113.108.0.99",
         helo="mail.tanaka-shoji.co.jp", expected=(DVO, NEW), check=DVO),
    Case("13-spoof-domestic-overseas-earlier-hop", "spoofed",
         ("小林 葵", "aoi@sakura-design.jp"), **_vps(77), expected=(DVO, NEW), check=DVO,
         hops=(("kali", "unknown", "5.188.10.44"),)),
    Case("14-spoof-new-infrastructure", "spoofed", TANAKA, **_vps(78),
         expected=(NEW,), check=NEW),
    Case("15-spoof-display-name-internal-user", "spoofed",
         ("山田　太郎", "yamada.taro.1985@gmail.com"), **_relay("gmail.com", host=41),
         expected=(NAME,), check=NAME, rcpt="keiri@example.co.jp"),
    Case("16-spoof-display-name-frequent-correspondent", "spoofed",
         ("田中一郎", "tanaka.ichiro.jp@outlook.com"), "40.92.18.5",
         hostname="mail-ty1jpn01olkn2005.outbound.protection.outlook.com",
         helo="mail-ty1jpn01olkn2005.outbound.protection.outlook.com",
         expected=(NAME,), check=NAME),
    Case("17-lookalike-digit-for-letter", "spoofed",
         ("Example Accounting", "keiri@examp1e.co.jp"), **_vps(79), expected=(LOOK,),
         check=LOOK),
    Case("18-lookalike-co-jp-to-jp", "spoofed", ("Example Info", "info@example.jp"),
         **_vps(80), expected=(LOOK,), check=LOOK),
    Case("19-lookalike-hyphenated", "spoofed",
         ("Example Support", "support@example-co-jp.com"), **_us(11), expected=(LOOK,),
         check=LOOK),
    Case("20-lookalike-cyrillic-homoglyph", "spoofed",
         ("Example Support", "support@xn--xample-2of.co.jp"), **_vps(81),
         expected=(LOOK,), check=LOOK, note="е (U+0435 CYRILLIC SMALL LETTER IE)"),
    Case("21-lookalike-frequent-domain-and-name", "spoofed",
         ("田中商事 営業部", "sales@tanaka-shouji.co.jp"), **_vps(82),
         expected=(LOOK, NAME), check=LOOK),
    Case("22-replyto-divergence-compromised-partner", "spoofed", TANAKA,
         **_relay("tanaka-shoji.co.jp"), expected=(MISMATCH,), check=MISMATCH,
         extra=(("Reply-To", "ichiro.tanaka.sales@gmail.com"),),
         subject="振込先変更のお知らせ"),
    Case("23-envelope-divergence-new-infra", "spoofed",
         ("Stefan Müller", "s.mueller@mueller-technik.de"), **_us(12),
         envelope="bounce@mailer.bulk-sender.example", expected=(NEW, MISMATCH),
         check=MISMATCH, subject="Updated bank details"),
    Case("30-hostile-crlf-in-display-name", "hostile", ("", "keiri@example.co.jp"),
         **_us(13), raw_from=f"=?UTF-8?B?{_CRLF}?= <keiri@example.co.jp>",
         expected=(INTERNAL,), check=INTERNAL),
    Case("31-hostile-html-in-display-name", "hostile", TARO, **_us(14),
         raw_from='"<a href=\\"http://evil.example/\\">山田 太郎</a>" '
                  "<taro.yamada@example.co.jp>",
         subject="<script>alert(1)</script> 至急", expected=(INTERNAL,), check=INTERNAL),
    Case("32-hostile-broken-mime", "hostile", TANAKA, **_relay("tanaka-shoji.co.jp"),
         mime=(("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed"),
               ("Content-Transfer-Encoding", "base64")),
         body=b"--\r\nContent-Type: text/plain\r\n\r\n=?broken\r\n--x--\r\nQUJD=!!\r\n"),
    Case("33-hostile-no-received", "hostile", ("John Miller",
                                                "john.miller@acme-industries.com"),
         **_relay("acme-industries.com"), subject="Quotation", legitimate=True),
    Case("34-hostile-garbled-received", "hostile", TARO, **_us(15),
         raw_received=("apparently", "from ((((((((((", "from [999.1.1.1] by", "by ;;;",
                       "from x (y [IPv6:zzzz::1]) by z"),
         expected=(INTERNAL,), check=INTERNAL),
    Case("35-hostile-ipv6-internal-spoof", "hostile", ("総務部", "soumu@example.co.jp"),
         "2a01:4f8::dead", helo="[IPv6:2a01:4f8::dead]", expected=(INTERNAL,),
         check=INTERNAL),
    Case("36-hostile-ipv6-legit-university", "hostile", ("林 誠",
                                                         "prof.hayashi@hokuriku-u.ac.jp"),
         **_relay("hokuriku-u.ac.jp"), legitimate=True,
         hops=(("lab-pc.hokuriku-u.ac.jp", "unknown", "10.50.1.20"),)),
    Case("37-hostile-idn-utf8-address", "hostile", ("サポート", "support@еxample.co.jp"),
         **_vps(83), expected=(LOOK,), check=LOOK,
         note="raw UTF-8 (SMTPUTF8) domain with a Cyrillic е"),
    Case("38-hostile-huge-headers", "hostile", ("経理部", "keiri@example.co.jp"),
         **_us(16), padding=300_000, expected=(INTERNAL,), check=INTERNAL),
    Case("39-hostile-many-received", "hostile", TANAKA, **_relay("tanaka-shoji.co.jp"),
         hops=tuple((f"relay{i}.tanaka-shoji.co.jp", f"relay{i}.tanaka-shoji.co.jp",
                     f"153.127.10.{100 + i % 100}") for i in range(300)),
         legitimate=True),
    Case("40-hostile-nul-and-invalid-utf8", "hostile", ("", "soumu@example.co.jp"),
         **_us(17), raw_from="\"\udcff\udcfe\x00総務\x00\" <soumu@example.co.jp>",
         expected=(INTERNAL,), check=INTERNAL),
    # From headers written the way phishers write them (issue 10; docs/mail-checks.md
    # "Displayed From"): a mail client still shows the domain, so the checks judge it.
    Case("41-malformed-from-address-in-comment", "spoofed", ("", "keiri@example.co.jp"),
         **_us(18), raw_from="経理部,(<keiri@example.co.jp>)", expected=(INTERNAL,),
         check=INTERNAL, subject="至急：お振込先のご確認"),
    Case("42-malformed-from-quoted-address", "spoofed",
         ("", "invoice@fukuoka-kikai.co.jp"), "37.48.67.27", helo="fukuoka-kikai.co.jp",
         raw_from='"請求書送付センター"<"invoice@fukuoka-kikai.co.jp">', expected=(DVO,),
         check=DVO, subject="請求書のご送付"),
    Case("43-malformed-from-two-at-signs", "spoofed",
         ("", "taro.yamada@example.co.jp@secure-docs-share.com"), **_us(19),
         raw_from="taro.yamada@example.co.jp@secure-docs-share.com", expected=(NAME,),
         check=NAME, envelope="noreply@secure-docs-share.com",
         note="the displayed address's domain is secure-docs-share.com; the internal address "
              "before it is address-like text a reader takes for the sender"),
    Case("44-malformed-from-junk-then-mailbox", "spoofed", ("", "soumu@example.co.jp"),
         **_us(20), raw_from="Support <support>, 総務部 <soumu@example.co.jp>",
         expected=(INTERNAL,), check=INTERNAL),
    Case("45-malformed-from-unquoted-comma", "spoofed", ("", "taro.yamada@example.co.jp"),
         **_us(21), raw_from="Yamada, Taro <taro.yamada@example.co.jp>",
         expected=(INTERNAL,), check=INTERNAL, rcpt="keiri@example.co.jp"),
    Case("46-malformed-from-extra-bracket", "spoofed", ("", "ken.takahashi@example.co.jp"),
         **_us(22), raw_from="CEO <ken.takahashi@example.co.jp>>", expected=(INTERNAL,),
         check=INTERNAL, subject="至急：振込のお願い", rcpt="keiri@example.co.jp"),
    Case("47-malformed-from-internal-address-as-name", "spoofed",
         ("", "billing@pay-notice-center.com"), **_us(23),
         raw_from='"keiri@example.co.jp" <billing@pay-notice-center.com>', expected=(NAME,),
         check=NAME, rcpt="keiri@example.co.jp"),
    Case("48-legit-quoted-comma-name", "legitimate",
         ("Mueller, Stefan", "s.mueller@mueller-technik.de"), **_relay("mueller-technik.de"),
         legitimate=True, subject="Delivery schedule",
         hops=(("filter.mueller-technik.de", "filter.mueller-technik.de", "46.4.0.9"),),
         note="'Last, First' quoted, as Outlook writes it: one mailbox, nothing to flag"),
    Case("49-legit-domestic-partner-via-our-google-tenant", "legitimate", TANAKA,
         **_relay("tanaka-shoji.co.jp"), legitimate=True, hosted="google_workspace",
         hops=(("pc-031.tanaka-shoji.co.jp", "unknown", "192.168.10.31"),),
         note="reached our MX through our Google Workspace tenant (US hops): the preset makes "
              "the partner's own relay the sender, so no DOMESTIC_VIA_OVERSEAS"),
)


def cases() -> list[Case]:
    """Every test case, in file order."""
    return list(CASES)


def build(case: Case, index: int) -> tuple[bytes, dict]:
    """The message bytes and the sidecar of one case."""
    ts = T0 + 600 * index
    draft = Draft()
    by = case.hostname or case.helo or "unknown"
    for n, (helo, ptr, ip) in enumerate(case.hops):
        style = "exchange" if ip.startswith("2603:") else "postfix"
        proto = "ESMTP" if ipaddress.ip_address(ip).is_global else "ESMTPSA"
        draft.received.append(received(helo, ptr, ip, by, proto, f"{index:02d}{n:06d}AB",
                                       ts - 1 - n, style=style))
        by = ptr if ptr and ptr != "unknown" else helo
    draft.received.extend(case.raw_received)
    session = {"ip": case.ip, "helo": case.helo, "hostname": case.hostname}
    if case.hosted:  # the provider's hops are newer than the sender's
        provider, (helo, ptr, ip, _proto) = provider_hops(
            case.hosted, random.Random(case.name), (case.helo, case.hostname, case.ip), ts,
            case.rcpt)
        draft.received[:0] = provider
        session = {"ip": ip, "helo": helo, "hostname": ptr}
    name, addr = case.sender
    draft.add("From", case.raw_from or address(name, addr, case.charset))
    draft.add("To", address("", case.rcpt)).add("Subject", encode_words(case.subject,
                                                                       case.charset))
    draft.add("Date", rfc2822_date(ts)).add("Message-ID", f"<test{index:02d}.{int(ts)}@"
                                                          f"{addr.rpartition('@')[2]}>")
    for key, value in case.extra:
        draft.add(key, value)
    for i in range(case.padding // 1000):
        draft.add(f"X-Filler-{i}", "x" * 985)
    mime, body = text_body(f"{case.rcpt} 様\n\n{case.subject}\n\n{name}\n", case.charset)
    for key, value in case.mime or mime:
        draft.add(key, value)
    draft.body = case.body if case.body is not None else body
    sidecar = {"file": f"{case.name}.eml", "name": case.name, "kind": case.kind,
               "legitimate": case.legitimate or case.kind == "legitimate",
               "check": case.check or None, "expected_symbols": sorted(case.expected),
               **session,
               "envelope_from": addr if case.envelope is None else case.envelope,
               "rcpt": [case.rcpt], "user": case.user or None, "note": case.note}
    return draft.render(), sidecar


def config_for_testset(config_path: Path) -> Config:
    """The configuration at *config_path* with :data:`RELAY_PRESETS` added to its
    ``networks.mail_relays`` (what the test set's expectations assume), environment ignored."""
    doc = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    relays = list((doc.get("networks") or {}).get("mail_relays") or [])
    extra = [p for p in RELAY_PRESETS if p not in relays]
    return load_config(config_path, env={}, overrides={"networks.mail_relays": relays + extra})
