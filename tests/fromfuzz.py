"""Seeded generator of hostile From header values (no tests here).

:func:`corpus` builds From values the way phishers and broken mailers write them — the forms
of docs/mail-checks.md "Displayed From" over internal, partner, look-alike, IDN and random
domains, names with commas, quotes, comments and RFC 2047 words — and mutates them (structural
characters inserted, spans deleted or repeated, folding). Values are valid UTF-8 without NUL
and without a line break that is not a fold, so every value stays one header line of one
message in both Rspamd and Python.
"""

from __future__ import annotations

import base64
import random

NAMES = ["CEO", "Yamada, Taro", "山田 太郎", "Sato, Jiro", "Info", "経理部", "Bank (Support)",
         "taro@example.co.jp", "info@partner.co.jp", "", "IT\\Desk", "Ａｄｍｉｎ", "a\"b",
         "=?UTF-8?B?5bGx55Sw44CA5aSq6YOO?=", "=?UTF-8?Q?Yamada=2C_Taro?=", "=?utf-8?b??=",
         "=?UTF-8?B?dGFyb0BleGFtcGxlLmNvLmpw?=", "=?ISO-8859-1?Q?J=F6rg?=", "=?x?Q?broken"]
LOCALS = ["taro", "info", "ceo", "a.b", "x+tag", "山田", "no-reply", '"q u"', "o'brien", "A",
          "support.team", ""]
DOMAINS = ["example.co.jp", "mail.example.co.jp", "partner.co.jp", "examp1e.co.jp",
           "exаmple.co.jp", "example-co-jp.com", "bulk-mail.example", "evil.example",
           "例え.jp", "xn--r8jz45g.jp", "gmail.com", "example.jp", "a", "[192.0.2.1]",
           "EXAMPLE.CO.JP.", "ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "sub.partner.co.jp",
           "x.y.z.unknown-shop.jp"]
TEMPLATES = ["{n} <{a}>", '"{n}" <{a}>', "{a}", "{a} ({n})", "{n},(<{a}>)", '"{n}"<"{a}">',
             "{l}@{d}@{d2}", "{n} <junk>, {n2} <{a}>", "{n} <{a}>>", '"{a2}" <{a}>',
             "{n}: {a}, {a2};", "{n} <{a}>, {n2} <{a2}>", "<{a}>", "{n} {a}", "{n}(<{a}>)",
             "{n} <<{a}>>", "{n} <{a}", "<@route.example:{a}>", "{n} <{l}@>", "(comment) {a}",
             "{n}:;", "{e} <{a}>", "{n} <{a}> ({a2})"]
PIECES = ["<", ">", '"', "(", ")", ",", ";", ":", "@", "\\", " ", "\r\n ", "\t", "<>", ">>",
          "=?", "?=", "\u3000", "＠", "「", "」", "\u202e", "\u200b", ".", "..", "'", "[", "]",
          "é", "\U0001F600"]


def _encoded(rnd: random.Random, text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _one(rnd: random.Random) -> str:
    def addr() -> str:
        return f"{rnd.choice(LOCALS)}@{rnd.choice(DOMAINS)}"
    value = rnd.choice(TEMPLATES).format(
        n=rnd.choice(NAMES), n2=rnd.choice(NAMES), a=addr(), a2=addr(), l=rnd.choice(LOCALS),
        d=rnd.choice(DOMAINS), d2=rnd.choice(DOMAINS), e=_encoded(rnd, addr()))
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        pos = rnd.randrange(len(value) + 1)
        op = rnd.random()
        if op < 0.6:
            value = value[:pos] + rnd.choice(PIECES) + value[pos:]
        elif op < 0.8:
            value = value[:pos] + value[pos + rnd.randint(1, 6):]
        else:
            value = value[:pos] + value[pos:pos + rnd.randint(1, 12)] * 2 + value[pos:]
    return value.strip(" \t\r\n") or "x"


def corpus(n: int, seed: int = 20261207) -> list[str]:
    """*n* distinct From values (seeded: the same list on every run)."""
    rnd = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        value = _one(rnd)
        bare = value.replace("\r\n ", "").replace("\r\n\t", "")
        if "\r" in bare or "\n" in bare:
            continue  # a line break that is not a fold would end the header
        out[value] = None
    return list(out)
