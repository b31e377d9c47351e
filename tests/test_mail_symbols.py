"""The mail-symbol catalogue (sakimori/mail/symbols.yaml) is the one definition of the
SAKIMORI_* symbols: every place that names, scores or describes one agrees with it."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from rspamd_support import requires_rspamd, shared_instance

from generator import render_rspamd
from rspamd_lua import LIB_DIR, PLUGIN
from sakimori.errors import ConfigError
from sakimori.mail import checks, symbols, warnings

CATALOGUE = {s.name: s for s in symbols.SYMBOLS}


def _lua_table(text: str, name: str) -> dict[str, str]:
    """``KEY = value`` pairs of the Lua table ``name = { ... }`` (one pair per line)."""
    block = re.search(rf"^\s*{name} = \{{\n(.*?)\n\s*\}},?$", text, re.S | re.M)
    assert block, f"no {name} table in {PLUGIN}"
    pairs = re.findall(r"^\s*(SAKIMORI_[A-Z_]+) = (.+?),\s*$", block.group(1), re.M)
    return dict(pairs)


def test_lua_checks_emit_exactly_the_catalogue():
    text = (LIB_DIR / "checks.lua").read_text(encoding="utf-8")
    emitted = set(re.findall(r"\{'(SAKIMORI_[A-Z_]+)', \w+\}", text))
    emitted |= set(re.findall(r"M\.[A-Z_]+ = '(SAKIMORI_[A-Z_]+)'", text))
    assert emitted == set(CATALOGUE)


def test_python_checks_emit_exactly_the_catalogue():
    emitted = {name for name, _ in checks._CHECKS} | {"SAKIMORI_HEADER_MISMATCH"}
    source = Path(checks.__file__).read_text(encoding="utf-8")
    assert set(re.findall(r'Hit\("(SAKIMORI_[A-Z_]+)"', source)) <= set(CATALOGUE)
    assert emitted == set(CATALOGUE)
    assert checks.SYMBOLS == symbols.NAMES


def test_lua_fallback_defaults_equal_the_catalogue():
    text = PLUGIN.read_text(encoding="utf-8")
    scores = {k: float(v) for k, v in _lua_table(text, "scores").items()}
    assert scores == {n: s.score for n, s in CATALOGUE.items()}
    descriptions = {k: v.strip("'") for k, v in _lua_table(text, "descriptions").items()}
    assert descriptions == {n: s.description for n, s in CATALOGUE.items()}


def test_the_plugin_registers_its_symbols_in_the_catalogue_group():
    text = PLUGIN.read_text(encoding="utf-8")
    assert re.search(r"^local N = '([a-z_]+)'$", text, re.M).group(1) == symbols.GROUP
    assert "group = N," in text
    assert f'group "{symbols.GROUP}" {{' in render_rspamd.render_loader()


def test_rendered_settings_and_group_carry_the_catalogue():
    from sakimori.config import load_config
    cfg = load_config(None)
    settings = render_rspamd.render_settings(cfg)
    group = render_rspamd.render_group()
    for sym in symbols.SYMBOLS:
        assert f"  {sym.name} = {sym.score:.1f};" in settings
        assert f"  {sym.name} = {render_rspamd.ucl_string(sym.description)};" in settings
        assert f'"{sym.name}" {{\n    weight = {sym.score:.1f};' in group
    assert set(render_rspamd.SYMBOL_NAMES) == set(CATALOGUE)


def test_warnings_read_their_texts_from_the_catalogue():
    for lang in symbols.LANGUAGES:
        assert warnings.TEXT[lang]["checks_text"] == {n: s.warning[lang]
                                                      for n, s in CATALOGUE.items()}


@pytest.mark.rspamd
@requires_rspamd
def test_real_rspamd_registers_the_catalogue_symbols():
    """The generated build, loaded by a real Rspamd, reports the catalogue's weights and
    descriptions for group sakimori (controller /symbols, loopback only)."""
    inst = shared_instance()
    with urllib.request.urlopen(f"http://127.0.0.1:{inst.controller_port}/symbols",
                                timeout=30) as resp:
        groups = json.load(resp)
    rules = next(g["rules"] for g in groups if g.get("group") == symbols.GROUP)
    seen = {r["symbol"]: (r["weight"], r["description"]) for r in rules
            if r["symbol"] != "SAKIMORI_CHECK"}
    assert seen == {n: (s.score, s.description) for n, s in CATALOGUE.items()}


@pytest.mark.parametrize("body, key", [
    ("group: g\nsymbols: []\n", "symbols"),
    ("group: g\nsymbols:\n  - {name: X, score: 1, description: d, warning: {en: a, ja: b}}\n",
     "symbols[0].name"),
    ("group: g\nsymbols:\n  - {name: SAKIMORI_A, score: x, description: d,"
     " warning: {en: a, ja: b}}\n", "symbols[0].score"),
    ("group: g\nsymbols:\n  - {name: SAKIMORI_A, score: 1, description: d, warning: {en: a}}\n",
     "symbols[0].warning"),
    ("group: g\nsymbols:\n  - {name: SAKIMORI_A, score: 1, description: d, colour: red,"
     " warning: {en: a, ja: b}}\n", "symbols[0].colour"),
])
def test_a_bad_catalogue_is_a_one_line_error(tmp_path, body, key):
    path = tmp_path / "symbols.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        symbols.load(path)
    assert err.value.key == key and str(path) in str(err.value)


def test_docs_list_the_catalogue_weights():
    text = (Path(__file__).resolve().parents[1] / "docs" / "rspamd.md").read_text(
        encoding="utf-8")
    listed = dict(re.findall(r"`(SAKIMORI_[A-Z_]+)` \((\d+(?:\.\d+)?)\)", text))
    assert {k: float(v) for k, v in listed.items()} == {n: s.score for n, s in CATALOGUE.items()}
