"""Displayed From on 12,000 generated hostile From headers (tests/fromfuzz.py), both paths.

- The reading itself: ``rspamd_lua/sakimori/from.lua`` inside Rspamd's own Lua (``rspamadm
  lua``) and :mod:`sakimori.mail.fromhdr` give the same displayed address and the same other
  address-like texts for every value.
- The plugin (slow: ~50 s on 2 busy cores): every value as the From of a mail scanned by a
  real Rspamd running the generated plugin (concurrent scans over one daemon, only the sakimori
  symbols enabled per request) — a normal reply each time, no Lua error in its log; the domain
  the plugin judged as displayed (diagnostic symbol ``SAKIMORI_FROM``, turned on through
  ``override.d``) equals the Python one for every value, and wherever the two strict parsers
  (Rspamd's ``get_from('mime')``, Python's ``email.utils``) and RFC 2047 decoders read the
  same strict domain, name and other domains (about a third of this hostile corpus), the
  SAKIMORI_* verdict and its evidence are the same.
- The Python path (``facts_from_message`` and the passive handler's ``facts_from_eve``, then
  ``run_checks``): no exception on any value.
"""

from __future__ import annotations

import json
import subprocess
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from fromfuzz import corpus
from rspamd_support import make_config, make_doc, requires_rspamd

from eve_consumer.handlers.mail_spoof import facts_from_eve
from generator.render_rspamd import write_rspamd
from sakimori.mail import norm
from sakimori.mail.checks import run_checks, sanitise_option
from sakimori.mail.facts import facts_from_message
from sakimori.mail.features import decode_words
from sakimori.mail.fromhdr import displayed, one_line
from sakimori.rspamd import RspamdInstance, scan_url

# Edge cases the generator may not reach: the cap, runs of specials, unterminated everything.
CURATED = ["", " ", '"', "(", "<", ">", "@", "@@@", "a@", "@b.jp", "a@b", "a@.jp", "a@b.jp.",
           "\\", '"\\', "((((a@b.jp", "(a@b.jp))))", "<<<<a@b.jp", '""""<a@b.jp>',
           "a@b.jp" * 2000, "@" * 9000, "x" * 5000 + "@b.jp", "<" + "a" * 4090 + "@b.jp>",
           "a@b.jp@", "\u3000a@b.jp\u3000", "「a@b.jp」", "“a@b.jp”", "(a@b.jp)",
           "=?UTF-8?B?YUBiLmpw?=", ",,,,;;;;::::", "Group:;, a@b.jp", "\u202ea@b.jp",
           "a@b.jp\u200b.evil.example", "ａ@ｂ.jp", "a@xn--.jp", "a@[1.2.3.4]", "<@a:b@c.jp>"]
VALUES = list(dict.fromkeys([*corpus(12_000), *CURATED]))
CONFIG = {"mail": {"internal_domains": ["example.co.jp"], "domestic_country": "JP",
                   "domestic_tlds": ["jp"]},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}
MAIL = {"messages": 100,
        "domains": {"partner.co.jp": {"messages": 40, "infra": {"net:133.0.0.0/24": 40},
                                      "countries": {"JP": 40}}},
        "domestic_domains": ["partner.co.jp"], "frequent_domains": ["partner.co.jp"],
        "names": {"山田太郎": {"display": "山田 太郎", "addresses": {"taro@example.co.jp": 9}}}}
IPS = ["8.8.8.8", "133.0.0.7", "192.0.2.10"]  # US, JP (partner's network), our relay

RUNNER = r"""
local dir = arg[1]
package.path = package.path .. ';' .. dir .. '/?.lua' -- as the plugin does (lib_dir)
local ucl = require 'ucl'
local F = require('sakimori.from')
for line in io.lines(arg[2]) do
  local p = ucl.parser(); p:parse_string(line); local o = p:get_object()
  local raw = F.one_line(o.raw)
  local shown, others = F.displayed(raw, o.dec)
  io.write(ucl.to_format({line = raw, shown = shown, others = others}, 'json-compact'), '\n')
end
"""


def _message(value: str) -> bytes:
    return (f"From: {value}\r\nTo: hanako@example.co.jp\r\nSubject: fuzz\r\n\r\nx\r\n"
            ).encode()


def _envelope(i: int) -> dict:
    return {"ip": IPS[i % 3], "helo": "mx.bulk-mail.example",
            "mail_from": "bounce@bulk-mail.example" if i % 2 else None,
            "rcpt": ["hanako@example.co.jp"]}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("from-fuzz")
    write_rspamd(make_config(CONFIG, tmp), make_doc(MAIL), tmp / "build")
    return tmp / "build"


def test_corpus_is_large_and_hostile() -> None:
    assert len(VALUES) == len(set(VALUES)) >= 10_000
    reads = [displayed(one_line(v)) for v in VALUES]
    assert sum(1 for shown, _ in reads if shown) > len(VALUES) // 2
    assert sum(1 for _, others in reads if others) > len(VALUES) // 10


@pytest.mark.rspamd
@pytest.mark.engine("rspamadm")
def test_lua_reads_every_value_as_python_does(build: Path, tmp_path: Path) -> None:
    runner = tmp_path / "runner.lua"
    runner.write_text(RUNNER, encoding="utf-8")
    lines = [(v, decode_words(one_line(v))) for v in VALUES]
    data = tmp_path / "values.jsonl"
    data.write_text("".join(json.dumps({"raw": v, "dec": d}, ensure_ascii=False) + "\n"
                            for v, d in lines),
                    encoding="utf-8")
    proc = subprocess.run(["rspamadm", "lua", "-b", "-s", str(runner),
                           "-a", str(build / "rspamd" / "plugins"), "-a", str(data)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(got) == len(lines)
    wrong = []
    for (value, dec), lua in zip(lines, got, strict=True):
        line = one_line(value)
        shown, others = displayed(line, dec)
        mine = {"line": line, "shown": shown, "others": list(others)}
        theirs = {"line": lua["line"], "shown": lua["shown"], "others": lua["others"] or []}
        if mine != theirs:
            wrong.append((value, mine, theirs))
    assert not wrong, f"{len(wrong)} values read differently, e.g. {wrong[:3]}"


def _invisible_as_rspamd(options: dict[str, list[str]]) -> dict[str, list[str]]:
    """Rspamd 3.4 shows invisible format characters (U+200B...) in symbol options as U+FFFD."""
    return {k: sorted("".join("\ufffd" if unicodedata.category(ch) == "Cf" else ch
                              for ch in o) for o in v) for k, v in options.items()}


def _python_verdict(cfg, value: str, i: int) -> tuple[dict[str, list[str]], list[str]]:
    """The SAKIMORI_* verdict and what SAKIMORI_FROM would show, from the Python path."""
    env = _envelope(i)
    facts = facts_from_message(_message(value), ip=env["ip"], helo=env["helo"],
                               envelope_from=env["mail_from"], rcpt=env["rcpt"])
    hits = run_checks(facts, cfg, MAIL)
    exposed = [sanitise_option("shown=" + norm.domain_of(facts.from_shown)),
               sanitise_option("strict=" + norm.domain_of(facts.from_addr)),
               sanitise_option("name=" + norm.fold_name(facts.from_name)),
               *(sanitise_option("other=" + norm.domain_of(o)) for o in facts.from_others)]
    return {h.symbol: sorted(h.options) for h in hits}, exposed


@pytest.mark.rspamd
@requires_rspamd
def test_python_path_never_raises(tmp_path: Path) -> None:
    cfg = make_config(CONFIG, tmp_path)
    for i, value in enumerate(VALUES):
        _python_verdict(cfg, value, i)
        record = {"src_ip": IPS[i % 3], "smtp": {"mail_from": "<bounce@bulk-mail.example>"},
                  "email": {"from": value}}
        run_checks(facts_from_eve(record), cfg, MAIL)


# Only the sakimori plugin runs (Rspamd's per-request settings): the stock modules would
# triple the time of 12,000 scans and judge nothing here.
ONLY_SAKIMORI = json.dumps({"symbols_enabled": ["SAKIMORI_CHECK"]})


def _scan_all(inst: RspamdInstance) -> list[dict]:
    local = threading.local()

    def scan(i: int) -> dict:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Settings"] = ONLY_SAKIMORI
        return scan_url(inst.url, _message(VALUES[i]), session=local.session, timeout=60,
                        **_envelope(i))
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(scan, range(len(VALUES))))


@pytest.mark.rspamd
@pytest.mark.slow
@requires_rspamd
def test_plugin_judges_every_value_as_python_does(build: Path, tmp_path: Path) -> None:
    override = build / "rspamd" / "override.d" / "sakimori.conf"
    override.parent.mkdir(exist_ok=True)
    override.write_text("expose_from = true;\n", encoding="utf-8")
    cfg = make_config(CONFIG, tmp_path)
    with RspamdInstance(build, workers=2) as inst:
        replies = _scan_all(inst)
        errors = inst.lua_errors()
    assert errors == []
    shown_differs, verdict_differs, compared = [], [], 0
    for i, (value, reply) in enumerate(zip(VALUES, replies, strict=True)):
        assert reply.get("action") and "symbols" in reply
        symbols = reply["symbols"]
        lua = {k: sorted(v.get("options") or []) for k, v in symbols.items()
               if k.startswith("SAKIMORI_") and k not in ("SAKIMORI_FROM", "SAKIMORI_CHECK")}
        exposed = set(symbols["SAKIMORI_FROM"]["options"])
        mine, read = _python_verdict(cfg, value, i)
        if read[0] not in exposed:
            shown_differs.append((value, read[0], exposed))
        elif set(read) == exposed:  # the strict parsers (and RFC 2047 decoders) agree
            compared += 1
            if _invisible_as_rspamd(lua) != _invisible_as_rspamd(mine):
                verdict_differs.append((value, mine, lua))
    assert not shown_differs, f"{len(shown_differs)} displayed domains differ: {shown_differs[:3]}"
    assert not verdict_differs, f"{len(verdict_differs)} verdicts differ: {verdict_differs[:3]}"
    assert compared >= 1000  # not vacuous: the strict parsers disagree on much of this corpus
