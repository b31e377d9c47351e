"""The simulated past: several months of mail delivered to ``example.co.jp``, for learning.

Each workday (and, rarely, a weekend day) every organisation of :mod:`catalogue` sends a
Poisson number of messages to internal users through its usual relays; internal users write
to each other through our relay (and sometimes from outside, authenticated); newsletters come
through overseas mail-service providers. Each message is stored as delivered: our store's
and our MX's Received headers on top of the sender's own hops, ``Return-Path`` and
``Delivered-To`` added at delivery.

:func:`past_mail` returns the messages with a record of what each one is (the oracle for the
learning tests); a few deliberately broken files are added by :func:`broken_mail`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

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

SUBJECTS = {
    "domestic": ("お見積りの件", "打ち合わせ日程のご相談", "納期について", "請求書送付のご案内",
                 "【ご確認】仕様変更について", "議事録の送付"),
    "cloud": ("発注書の送付", "来週のご訪問について"),
    "overseas": ("Quotation request", "Shipping schedule", "Meeting minutes", "Invoice"),
    "newsletter": ("今週のおすすめ", "Monthly product update", "セール開催のお知らせ"),
    "freemail": ("個人アドレスから失礼します", "週末の件"),
    "internal": ("社内会議の件", "経費精算について", "資料共有", "Re: 来期計画"),
}
BODY_JA = "{to}様\n\nいつもお世話になっております。\n{subject}についてご連絡いたします。\n\n{sig}\n"
BODY_EN = "Dear {to},\n\nplease find below our note on: {subject}.\n\nBest regards,\n{sig}\n"


@dataclass(frozen=True)
class Record:
    """What one generated message is (the oracle for learning tests)."""

    ts: float
    from_addr: str
    from_name: str
    to: tuple[tuple[str, str], ...]  # (display name, address)
    domain: str
    external: bool  # has an external sender (False: internal via our relays)
    authenticated: bool
    ip: str  # external sender IP ('' when internal)
    ptr: str
    chain_countries: tuple[str, ...]  # catalogue countries of the external chain


def rng_for(seed: int, *labels: str) -> random.Random:
    """An independent stream per purpose, so one stream never shifts another."""
    return random.Random(f"{seed}:" + ":".join(labels))


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


def _pick(rng: random.Random, people: tuple[cat.Person, ...]) -> cat.Person:
    return rng.choices(people, weights=[p.weight for p in people])[0]


def _display(rng: random.Random, person: cat.Person) -> str:
    return person.names[0] if rng.random() < 0.8 else rng.choice(person.names)


def _qid(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(10))


def _deliver(draft: Draft, rng: random.Random, ts: float, rcpt: str, envelope: str,
             hop: tuple[str, str, str, str]) -> None:
    """Our MX receiving from (helo, ptr, ip, proto), then our store; trace headers on top."""
    helo, ptr, ip, proto = hop
    mx_name, mx_ip = cat.OUR_MX
    draft.received.insert(0, received(helo, ptr, ip, mx_name, proto, _qid(rng), ts + 1, rcpt))
    draft.received.insert(0, received(mx_name, mx_name, mx_ip, cat.OUR_STORE, "LMTP",
                                      _qid(rng), ts + 2, rcpt))
    draft.trace = [("Return-Path", f"<{envelope}>"), ("Delivered-To", rcpt)]


def _headers(draft: Draft, rng: random.Random, ts: float, sender: tuple[str, str],
             to: tuple[str, str], subject: str, charset: str, english: bool) -> None:
    name, addr = sender
    draft.add("From", address(name, addr, charset)).add("To", address(*to, charset))
    draft.add("Subject", encode_words(subject, charset))
    draft.add("Date", rfc2822_date(ts - rng.randint(1, 40)))
    draft.add("Message-ID", f"<{int(ts)}.{_qid(rng).lower()}@{addr.rpartition('@')[2]}>")
    template = BODY_EN if english else BODY_JA
    mime, body = text_body(template.format(to=to[0] or to[1], subject=subject, sig=name),
                           charset)
    for key, value in mime:
        draft.add(key, value)
    draft.body = body


def _external(rng: random.Random, org: cat.Org, ts: float, hosted: str = ""
              ) -> tuple[bytes, Record]:
    person, user = _pick(rng, org.people), _pick(rng, cat.INTERNAL_USERS)
    sender = (_display(rng, person), f"{person.local}@{org.domain}")
    rcpt = f"{user.local}@{cat.INTERNAL_DOMAIN}"
    to = (user.names[0] + (" 様" if org.kind == "domestic" and rng.random() < 0.3 else ""),
          rcpt)
    relay = rng.choice(org.relays)
    n = rng.choice(relay.hosts)
    ip, ptr, helo = cat.relay_ip(relay, n), cat.relay_ptr(relay, n), cat.relay_helo(relay, n)
    draft = Draft()
    sent_by, countries = ptr, [relay.country]
    for up in org.upstream:  # outbound filter in front of the relay: an older public hop
        m = rng.choice(up.hosts)
        draft.received.append(received(cat.relay_helo(up, m), cat.relay_ptr(up, m),
                                       cat.relay_ip(up, m), ptr, "ESMTPS", _qid(rng), ts - 1))
        sent_by = cat.relay_ptr(up, m)
        countries.append(up.country)
    if org.inner:
        pc = rng.randint(10, 90)
        draft.received.append(received(f"pc-{pc:03d}.{org.domain}", "unknown",
                                       f"{org.inner}{pc}", sent_by, "ESMTPSA", _qid(rng), ts - 2))
    elif org.kind == "cloud":
        draft.received.append(received(
            f"TYCP286MB{rng.randint(1000, 9999)}.JPNP286.PROD.OUTLOOK.COM", "",
            f"2603:1096:400:{rng.randint(256, 4095):x}::{rng.randint(1, 15):x}", ptr, "",
            _qid(rng), ts - 2, style="exchange"))
        countries.append("US")
    elif org.kind == "freemail":
        draft.received.append(f"by 2002:a05:6a20:{rng.randint(4096, 65535):x}:b0:1e4:"
                              f"{rng.randint(4096, 65535):x} with SMTP id {_qid(rng).lower()};"
                              f"\r\n        {rfc2822_date(ts - 2)}")
    envelope = sender[1]
    if org.kind == "newsletter":
        envelope = f"bounces+{rng.randint(10**6, 10**7)}-{user.local}=example.co.jp@" \
                   f"em{rng.randint(100, 999)}.esp-mailer.net"
    _headers(draft, rng, ts, sender, to, rng.choice(SUBJECTS[org.kind]), org.charset,
             org.kind in ("overseas", "newsletter") and not org.domain.endswith(".jp"))
    if org.kind == "newsletter":
        draft.add("List-Unsubscribe", f"<mailto:unsubscribe@{org.domain}>")
    mx_hop = (helo, ptr, ip, "ESMTPS")
    if hosted:  # through our tenant at the provider first (sakimori_demo/mailsim/hosted.py)
        hops, mx_hop = provider_hops(hosted, rng, (helo, ptr, ip), ts, rcpt)
        draft.received[0:0] = hops
    _deliver(draft, rng, ts, rcpt, envelope, mx_hop)
    return draft.render(), Record(ts, sender[1], sender[0], (to,), org.domain, True, False,
                                  ip, ptr, tuple(countries))


def _internal(rng: random.Random, ts: float) -> tuple[bytes, Record]:
    person = _pick(rng, cat.INTERNAL_USERS)
    user = rng.choice([u for u in cat.INTERNAL_USERS if u is not person])
    sender = (_display(rng, person), f"{person.local}@{cat.INTERNAL_DOMAIN}")
    rcpt = f"{user.local}@{cat.INTERNAL_DOMAIN}"
    to = (_display(rng, user), rcpt)
    draft = Draft()
    roaming = rng.random() < 0.08
    if roaming:
        relay = cat.ROAMING[0]
        n = rng.choice(relay.hosts)
        hop = (f"[192.168.{rng.randint(0, 9)}.{rng.randint(2, 200)}]",
               cat.relay_ptr(relay, n), cat.relay_ip(relay, n), "ESMTPSA")
    else:
        pc = rng.randint(10, 120)
        hop = (f"pc-{pc:03d}.{cat.INTERNAL_DOMAIN}", f"pc-{pc:03d}.{cat.INTERNAL_DOMAIN}",
               f"{cat.OFFICE_NET}{pc}", "ESMTPSA")
    _headers(draft, rng, ts, sender, to, rng.choice(SUBJECTS["internal"]), "utf-8", False)
    _deliver(draft, rng, ts, rcpt, sender[1], hop)
    return draft.render(), Record(ts, sender[1], sender[0], (to,), cat.INTERNAL_DOMAIN,
                                  roaming, roaming, hop[2] if roaming else "",
                                  hop[1] if roaming else "", ("JP",) if roaming else ())


def _workday_times(rng: random.Random, day: datetime, count: int) -> list[float]:
    base = day.timestamp()
    return sorted(base + rng.uniform(8.5 * 3600, 19 * 3600) for _ in range(count))


def past_mail(seed: int, months: int = cat.MONTHS, scale: float = 1.0, hosted: str = ""
              ) -> list[tuple[bytes, Record]]:
    """All past messages, in delivery order (same seed → same bytes). *hosted*
    (``microsoft365``/``google_workspace``): external mail crosses our tenant at that
    provider before our MX (:mod:`sakimori_demo.mailsim.hosted`); the records stay the same."""
    start = datetime.fromisoformat(cat.START)
    end = (start.replace(day=1) + timedelta(days=31 * months)).replace(day=1)
    out: list[tuple[bytes, Record]] = []
    day = start
    while day < end:
        label = day.strftime("%Y-%m-%d")
        rng = rng_for(seed, "past", label)
        factor = scale * (1.0 if day.weekday() < 5 else 0.05)
        events: list[tuple[float, str]] = []
        for org in cat.ORGS:
            for ts in _workday_times(rng, day, _poisson(rng, org.rate * factor)):
                events.append((ts, org.domain))
        for ts in _workday_times(rng, day, _poisson(rng, 4.0 * factor)):
            events.append((ts, ""))
        for ts, domain in sorted(events):
            msg_rng = rng_for(seed, "msg", label, f"{ts:.3f}", domain)
            out.append(_internal(msg_rng, ts) if not domain
                       else _external(msg_rng, cat.org(domain), ts, hosted))
        day += timedelta(days=1)
    return out


def broken_mail(seed: int) -> list[tuple[str, bytes]]:
    """Files a learner must count as broken and skip: (reason, bytes)."""
    rng = rng_for(seed, "broken")
    garbage = bytes(rng.randrange(256) for _ in range(600))
    filler = "X-Filler: " + "a" * 998 + "\r\n"
    huge = ("From: big@tanaka-shoji.co.jp\r\n" + filler * 300 + "\r\nbody\r\n").encode()
    return [("empty", b""),
            ("garbage", b"\x00\x01" + garbage),
            ("no headers", "こんにちは。ヘッダーがありません。\r\n\r\n本文\r\n".encode()),
            ("huge headers", huge)]
