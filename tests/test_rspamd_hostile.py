"""Hostile input too big or too random for tests/vectors: huge headers, thousands of Received
headers and recipients, and seeded byte-level mutations of real test mails. Every scan must get
a normal reply and Rspamd's log must show no Lua error: the plugin never raises, mail flow never
stops."""

from __future__ import annotations

import random

import pytest
from rspamd_support import (
    build_message,
    configure,
    envelope,
    load_vectors,
    requires_rspamd,
)

pytestmark = [pytest.mark.rspamd, requires_rspamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}
MAIL = {"domains": {"partner.co.jp": {"messages": 40, "infra": {"net:133.0.0.0/24": 40}}},
        "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"],
        "names": {"山田太郎": {"display": "山田 太郎", "addresses": {"taro@example.co.jp": 9}}}}


def _scan_ok(inst, message: bytes, **env) -> dict:
    reply = inst.scan(message, timeout=60, **env)
    assert reply.get("action") and "symbols" in reply
    return reply


def test_huge_headers() -> None:
    inst = configure(CONFIG, MAIL)
    before = len(inst.lua_errors())
    name = "山田 太郎 " + "あ" * 20000
    received = "".join(
        f"Received: from h{i}.example.net (h{i}.example.net [8.8.{i % 256}.{i % 250}]) by "
        f"relay{i}.example.net with ESMTP id {i}; Tue, 25 Nov 2026 10:00:00 +0900\r\n"
        for i in range(1500))
    message = (received + f"From: =?UTF-8?B?{name.encode().hex()}?= <a@evil-mail.net>\r\n"
               f"From: \"{'x' * 30000}\" <taro@example.co.jp>\r\n"
               f"Reply-To: {'<r@x.jp>, ' * 3000}<r@y.jp>\r\n"
               f"Subject: {'件名' * 60000}\r\n"
               f"X-Long: {'a' * 200000}\r\n\r\nbody\r\n").encode()
    rcpt = [f"user{i}@example.co.jp" for i in range(1000)]
    reply = _scan_ok(inst, message, ip="8.8.8.8", helo="h" * 300, hostname="p" * 300,
                     mail_from="x" * 200 + "@example.co.jp", rcpt=rcpt)
    for sym, data in reply["symbols"].items():
        if sym.startswith("SAKIMORI_"):
            assert all(len(o.encode()) <= 128 for o in data.get("options") or [])
    assert inst.lua_errors()[before:] == []


def test_many_hops_behind_our_relay() -> None:
    inst = configure(CONFIG, MAIL)
    hops = "".join(
        f"Received: from r{i} (r{i} [10.{i // 250 % 250}.{i % 250}.1]) by x with ESMTP id {i}; "
        f"Tue, 25 Nov 2026 10:00:00 +0900\r\n" for i in range(3000))
    message = (hops + "From: Partner <info@partner.co.jp>\r\nSubject: x\r\n\r\nx\r\n").encode()
    reply = _scan_ok(inst, message, ip="192.0.2.10")
    assert not [s for s in reply["symbols"] if s.startswith("SAKIMORI_") and s != "SAKIMORI_CHECK"]
    assert inst.lua_errors() == []


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 40)):
        op = rnd.random()
        pos = rnd.randrange(len(buf) + 1)
        if op < 0.4 and buf:
            buf[min(pos, len(buf) - 1)] = rnd.randrange(256)
        elif op < 0.7:
            buf[pos:pos] = rnd.choice([b"\r\n", b"\x00", b"=?UTF-8?B?", b"?=", b"<", b">",
                                       b"@", b"\xff\xfe", b"\r\nFrom: ", b"\r\nReceived: ",
                                       b"[IPv6:", b"xn--", b"\xe3\x80\x80", b'"', b"\\"])
        else:
            del buf[pos:pos + rnd.randint(1, 20)]
    return bytes(buf)


def test_mutated_vectors() -> None:
    inst = configure(CONFIG, MAIL)
    before = len(inst.lua_errors())
    rnd = random.Random(3)
    seeds = [(build_message(c["message"]), envelope(c["message"]))
             for _, _, _, c in load_vectors("inline")]
    for _ in range(300):
        message, env = rnd.choice(seeds)
        env = {**env, "helo": rnd.choice([env.get("helo"), "[[[", "\u202e" * 3, None])}
        _scan_ok(inst, _mutate(rnd, message), **env)
    assert inst.lua_errors()[before:] == []
