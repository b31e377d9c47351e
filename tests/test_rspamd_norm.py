"""The Lua normalisation (rspamd_lua/sakimori/{unicode,idna,norm}.lua, fed by the generated
unidata.lua/psl.lua) gives exactly what sakimori.mail.norm gives, on curated hostile strings
and thousands of seeded random ones — run inside Rspamd's own Lua (``rspamadm lua``)."""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
from pathlib import Path

import pytest
from rspamd_support import make_config, make_doc

from generator.render_rspamd import write_rspamd
from sakimori.mail import norm
from sakimori.mail.checks import skeleton

pytestmark = [pytest.mark.rspamd,
              pytest.mark.engine("rspamadm")]

RUNNER = r"""
local dir = arg[1]
package.path = package.path .. ';' .. dir .. '/?.lua' -- as the plugin does (lib_dir)
local ucl = require 'ucl'
local N, U = require('sakimori.norm'), require('sakimori.unicode')
local L = require('sakimori.lookalike')
local SFX = {'.google.com', '.outlook.com', '.jp'} -- one list: has_suffix memoises per list
for line in io.lines(arg[2]) do
  local p = ucl.parser(); p:parse_string(line); local o = p:get_object()
  local r = {}
  if o.rcvd then
    r.vname = N.verified_name(o.rcvd) or ''
  elseif o.ip then
    r.public = N.is_public_ip(o.ip); r.net = N.network_key(o.ip)
    r.keys = table.concat(N.infrastructure_keys(o.ip, o.host), ',')
  else
    local s = o.s
    r.fold = (U.fold_name(s)); r.norm = N.normalise_domain(s)
    r.reg = N.registrable_domain(s); r.dom = N.domain_of(s); r.addr = N.normalise_address(s)
    r.tld = N.is_domestic_tld(s, {'jp', 'co.jp'})
    r.sfx = N.has_suffix(s, SFX)
  end
  io.write(ucl.to_format(r, 'json-compact'), '\n')
end
"""

CURATED = [
    "山田　太郎", "ﾔﾏﾀﾞ ﾀﾛｳ", "ＴＡＲＯ　Ｙａｍａｄａ", '"Taro"', "「山田」", "Straße", "İstanbul",
    "ΟΔΥΣΣΕΥΣ", "exаmple.co.jp", "EXAMPLE.CO.JP.", " example.com ", "xn--exmple-4nf.co.jp",
    "foo.github.io", "a.b.ck", "www.ck", "city.kawasaki.jp", "x.y.kawasaki.jp", "例え.jp",
    "mail.例え.テスト", "a..jp", "", ".", "1.2.3.4", "[::1]", "a@b.co.jp", "x@Y.COM>",
    "u@exämple.de", "bücher.de", "ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "exa\u200bmple.com",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629.com", "a\u0627b.com", "sub.example.co.uk",
    "http://x.com/y", "a:b@c.com:25", "xn--zz.com", "-a.com", "<Taro.Yamada@Example.CO.JP>",
    "a@b@c.jp", "ΣΑΣ@x.jp", "a\x00b@x.jp", "山田\r\n太郎", "\u3099\u309a", "ｶﾞｷﾞｸﾞ", "ﬁle.jp",
    "①②.jp", "㈱山田", "Ǆ", "a" * 70 + ".jp", "é" * 70 + ".jp",
    "MAIL-SOR-F41.GOOGLE.COM.", ".google.com", "google.com", "x.outlook.com..", "é.jp",
]
POOL = [chr(c) for c in (*range(0x20, 0x7F), *range(0xA0, 0x180), *range(0x300, 0x370),
                         *range(0x391, 0x3CA), *range(0x400, 0x460), *range(0x3000, 0x3100),
                         *range(0xFF00, 0xFFA0), *range(0x1100, 0x1200), *range(0xAC00, 0xAC40),
                         0x2460, 0x3231, 0xFB01, 0x1E9E, 0x130, 0x3A3, 0x200B, 0x202E, 0xAD,
                         0x2028, 0x85, 0xFEFF, 0x1F600, 0xE000, 0x10FFFF, 0xFDD0, 0x3099)]


def _random_strings(n: int) -> list[str]:
    rnd = random.Random(20261125)
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rnd.randint(1, 12)):
            if rnd.random() < 0.7:
                chars.append(rnd.choice(POOL))
            else:
                cp = rnd.choice([rnd.randint(0x80, 0xFFFF), rnd.randint(0x10000, 0x10FFFF)])
                chars.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "x")
        text = "".join(chars)
        text = rnd.choice(["", "<", " ", "a@"]) + text + rnd.choice(
            ["", ".jp", ".co.jp", ".com", "@x.jp", ".xn--p1ai", "@ｅｘ.jp>", ">"])
        out.append(text)
    return out


# The look-alike skeleton of each string, as hex (a skeleton is not always valid UTF-8 text).
SKELETON_RUNNER = r"""
local dir = arg[1]
package.path = package.path .. ';' .. dir .. '/?.lua'
local ucl = require 'ucl'
local L = require('sakimori.lookalike')
for line in io.lines(arg[2]) do
  local p = ucl.parser(); p:parse_string(line); local o = p:get_object()
  local hex = L.skeleton(o.s):gsub('.', function(c) return string.format('%02x', c:byte()) end)
  io.write(ucl.to_format({hex = hex}, 'json-compact'), '\n')
end
"""


def _run_lua(tmp_path: Path, rows: list[dict], runner: str = RUNNER) -> list[dict]:
    plugins = write_rspamd(make_config({}, tmp_path), make_doc({}), tmp_path / "b") / "plugins"
    (tmp_path / "run.lua").write_text(runner, encoding="utf-8")
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    proc = subprocess.run(["rspamadm", "lua", "-b", "-s", str(tmp_path / "run.lua"),
                           "-a", str(plugins), "-a", str(inp)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


SUFFIXES = (".google.com", ".outlook.com", ".jp")


def _has_suffix(name: str) -> bool:
    """Python relays.Trust.address's suffix test as the Lua twin writes it (ASCII lower case,
    a suffix shorter than the name)."""
    name = "".join(c.lower() if c.isascii() else c for c in name).rstrip(".")
    return any(len(name.encode()) > len(s) and name.endswith(s) for s in SUFFIXES)


def test_strings_fold_and_normalise_like_python(tmp_path: Path) -> None:
    rand = _random_strings(6000)
    # more strings than the plugin's memo tables hold (2,048: they are dropped and refilled),
    # then the last ones again: answered from the memo, they must not differ either
    strings = CURATED + rand + rand[-300:]
    got = _run_lua(tmp_path, [{"s": s} for s in strings])
    assert len(got) == len(strings)
    bad = []
    for s, lua in zip(strings, got, strict=True):
        want = {"fold": norm.fold_name(s), "norm": norm.normalise_domain(s),
                "reg": norm.registrable_domain(s), "dom": norm.domain_of(s),
                "addr": norm.normalise_address(s), "tld": norm.is_domestic_tld(s, ["jp", "co.jp"]),
                "sfx": _has_suffix(s)}
        diff = {k: (v, lua.get(k)) for k, v in want.items() if lua.get(k) != v}
        if diff:
            bad.append((s, diff))
    assert bad == [], f"{len(bad)} differences, first: {bad[:3]}"
    assert 100 < sum(lua["sfx"] for lua in got) < len(got) - 100  # both answers, memoised


def test_lookalike_skeleton_like_python(tmp_path: Path) -> None:
    """lookalike.skeleton == sakimori.mail.checks.skeleton: xn-- labels decoded, NFKD (Hangul
    syllables into their jamo too) without combining marks, confusables, rn→m, vv→w."""
    rnd = random.Random(20261208)
    hangul = [chr(c) for c in range(0xAC00, 0xD7A4, 97)]
    strings = CURATED + _random_strings(3000) + [
        "".join(rnd.choice(hangul + POOL) for _ in range(rnd.randint(1, 8))) + ".kr"
        for _ in range(300)] + ["xn--3e0b707e.kr", "한국.kr", "rnicrosoft.com", "vvestern.jp"]
    got = _run_lua(tmp_path, [{"s": s} for s in strings], SKELETON_RUNNER)
    bad = [(s, skeleton(s), bytes.fromhex(lua["hex"]).decode("utf-8", "replace"))
           for s, lua in zip(strings, got, strict=True)
           if bytes.fromhex(lua["hex"]) != skeleton(s).encode("utf-8", "surrogatepass")]
    assert bad == [], f"{len(bad)} differences, first: {bad[:3]}"
    assert skeleton("한국.kr") != "한국.kr"  # the Hangul case is exercised


def test_ip_classes_and_infrastructure_keys_like_python(tmp_path: Path) -> None:
    rnd = random.Random(7)
    ips = ["8.8.8.8", "133.0.0.1", "10.1.2.3", "192.0.2.10", "100.64.1.1", "192.0.0.9",
           "192.0.0.8", "224.0.0.1", "255.255.255.255", "0.1.2.3", "2001:db8::1", "2001:200::1",
           "2001:1::1", "2001:1::3", "2001:3::5", "2002::1", "fe80::1", "::1", "ff02::1",
           "2001:0:0:1::1", "2a00:1450:4001:81c::200e", "1:0:0:0:0:0:0:1", "64:ff9b:1::1"]
    for _ in range(400):
        ips.append(str(ipaddress.IPv4Address(rnd.getrandbits(32))))
        zero = ~(((1 << 16) - 1) << rnd.choice([16, 32, 64, 80]))
        ips.append(str(ipaddress.IPv6Address(rnd.getrandbits(128) & zero)))
    hosts = ["mail.Partner.co.jp", "unknown", "", "x.github.io", "[1.2.3.4]"]
    rows = [{"ip": ip, "host": hosts[i % len(hosts)]} for i, ip in enumerate(ips)]
    got = _run_lua(tmp_path, rows)
    for row, lua in zip(rows, got, strict=True):
        want = {"public": norm.is_public_ip(row["ip"]), "net": norm.network_key(row["ip"]),
                "keys": ",".join(norm.infrastructure_keys(row["ip"], row["host"]))}
        assert {k: lua[k] for k in want} == want, row


RECEIVED = [
    "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com "
    "with SMTPS id a1sor1 for <x@example.co.jp> (Google Transport Security); Tue, 05 Mar 2024",
    "from SA1PR11MB8446.namprd11.prod.outlook.com (2603:10b6:806:3a5::9) by "
    "MN2PR11MB4711.namprd11.prod.outlook.com with HTTPS; Tue, 5 Mar 2024 03:36:52 +0000",
    "from NAM12-BN8-obe.outbound.protection.outlook.com (mail-bn8nam12on2101.outbound."
    "protection.outlook.com [40.107.237.101]) by mx1 (Postfix) with ESMTPS id 1",
    "from x (unknown [IPv6:2001:db8::1]) by mx1 (Postfix) with ESMTP id 2",
    "from x (user@Mail.Partner.CO.JP [133.0.0.1]) by mx1 with SMTP",
    "from x.prod.outlook.com [203.0.113.5] by mx1 with ESMTP",
    "from x.prod.outlook.com ([203.0.113.5] helo=y.prod.outlook.com) by mx1 with esmtp",
    "from helo (a@b@c.com [1.2.3.4]) by mx1", "from helo (localhost [127.0.0.1]) by mx1",
    "from helo (1.2.3.4 [1.2.3.4]) by mx1", "from h (x.123 [1.2.3.4]) by m",
    "from h (comment) (real.example.com [1.2.3.4]) by m", "from h\r\n\t(ptr.example.com\r\n "
    "[1.2.3.4]) by m", "from h by (ptr.example.com [1.2.3.4])", "from h (p.example.com [junk])",
    "from h (p.example.com [IPv6:fe80::1%eth0]) by m", "(.example.com [1.2.3.4])",
    "from h ( p.example.com  [1.2.3.4] ) by m", "from h (_dmarc.example.com [1.2.3.4]) by m",
    "from h (p-.example.com [1.2.3.4]) by m", "from h (p.example.c0m [::1]) by m",
]


def test_verified_name_of_a_received_header_like_python(tmp_path: Path) -> None:
    """The name suffix trust uses (rspamd_lua norm.verified_name == facts._verified_name)."""
    from sakimori.mail.facts import _verified_name
    rnd = random.Random(99)
    labels = ["mail", "Ex-ample", "a_b", "x1", "123", "-x", "", "é", "co", "jp", "com",
              "unknown", "localhost", "p" * 64, "1", "xn--p1ai"]
    ips = ["1.2.3.4", "IPv6:2001:db8::1", "::1", "junk", "1.2.3.4%x", "", "ipv6:::1", "fe80::"]
    noise = ["", " ", "(", ")", "[", "]", "@", " by ", "\t", "\r\n ", "é", "\x00", "helo="]
    strings = list(RECEIVED)
    for _ in range(4000):
        name = ".".join(rnd.choice(labels) for _ in range(rnd.randint(1, 4)))
        name = rnd.choice(["", "", "u@", "a@b@", " "]) + name + rnd.choice(["", ".", ".."])
        comment = f"({rnd.choice(['', ' '])}{name}{rnd.choice([' ', '  ', '', chr(9)])}" \
                  f"[{rnd.choice(ips)}]{rnd.choice([')', '', ' x)'])}"
        body = [rnd.choice(["from h ", "from ", ""]), rnd.choice(["", "(c) ", "by m "]),
                comment, rnd.choice([" by m", "", " (more [1.2.3.4])"])]
        text = "".join(body)
        for _ in range(rnd.randint(0, 2)):
            at = rnd.randint(0, len(text))
            text = text[:at] + rnd.choice(noise) + text[at:]
        strings.append(text)
    got = _run_lua(tmp_path, [{"rcvd": s} for s in strings])
    bad = [(s, _verified_name(s), lua["vname"]) for s, lua in zip(strings, got, strict=True)
           if lua["vname"] != _verified_name(s)]
    assert bad == [], f"{len(bad)} differences, first: {bad[:3]}"
    assert 150 < sum(bool(lua["vname"]) for lua in got) < len(strings) - 150  # both kinds
    assert _verified_name(RECEIVED[0]) == "mail-sor-f41.google.com"
    assert _verified_name(RECEIVED[1]) == ""  # Exchange writes the HELO, no verified name
    assert _verified_name(RECEIVED[5]) == ""  # 'from NAME [IP]': a HELO
