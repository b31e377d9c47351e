"""Atomic generate (issue 11, item 4): a build that fails a check — ``suricata -T``, the Python
rule and Rspamd checks, or a renderer that dies half-way — never replaces or half-writes the
deployed build; a good build is swapped in whole and passes real ``suricata -T``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import webfixtures as wf
from engines import require_binary

import generator.render_suricata as render_suricata
from generator import atomic
from generator import build as build_module
from generator.build import BuildNotDeployed, render_build
from generator.rulecheck import check_rspamd, rule_problem, split_options, ucl_problem
from sakimori.cli import main
from sakimori.config import load_config
from sakimori.errors import InputError
from sakimori.web.wledit import add_entry

CONFIG = """\
networks:
  home: [10.1.0.0/16]
whitelist:
  destinations: [ntp.nict.jp]
  file: whitelist.txt
suricata:
  binary: {suricata}
rspamd:
  binary: {rspamd}
"""
GOOD = ('alert http $HOME_NET any -> [!$HOME_NET,!203.0.113.0/24] [80,8080] (msg:"SAKIMORI x";'
        ' flow:established,to_server; http.host; pcre:!"/^(?:a\\.b)\\.?$/i"; '
        'content:"a\\;b"; classtype:bad-unknown; sid:9301100; rev:1; '
        'metadata:sakimori_detection long_url;)')


def _snapshot(build: Path) -> dict[str, bytes]:
    return {str(p.relative_to(build)): p.read_bytes()
            for p in sorted(build.rglob("*")) if p.is_file()}


def _config(tmp: Path, suricata: str = "no-such-suricata", rspamd: str = "no-such-rspamd",
            dests: str = "[ntp.nict.jp]") -> Path:
    path = tmp / "sakimori.yaml"
    path.write_text(CONFIG.format(suricata=suricata, rspamd=rspamd)
                    .replace("[ntp.nict.jp]", dests), encoding="utf-8")
    return path


def _fake_suricata(tmp: Path) -> Path:
    fake = tmp / "bin" / "suricata"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\necho 'E: detect: fake failure for the test' >&2\nexit 1\n")
    fake.chmod(0o755)
    return fake


def _first_build(tmp: Path) -> tuple[Path, dict[str, bytes]]:
    cfg = load_config(_config(tmp), env={})
    build = tmp / "build"
    render_build(cfg, None, build)
    before = _snapshot(build)
    assert "suricata/sakimori.rules" in before and "rspamd/rspamd.conf.local" in before
    return build, before


def test_failing_suricata_t_leaves_previous_build_byte_identical(tmp_path: Path,
                                                                 capsys) -> None:
    build, before = _first_build(tmp_path)
    cfg_path = _config(tmp_path, suricata=str(_fake_suricata(tmp_path)),
                       dests="[ntp.nict.jp, updates.example.net]")
    with pytest.raises(BuildNotDeployed, match=r"fake failure.*build not deployed"):
        render_build(load_config(cfg_path, env={}), None, build)
    assert _snapshot(build) == before
    assert not list(build.glob(".sakimori-build-*"))  # no staging left behind
    with pytest.raises(SystemExit) as done:  # the verb: one line, exit 1, nothing deployed
        main(["generate", "--config", str(cfg_path), "--out", str(build)])
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unchanged" in err
    assert _snapshot(build) == before


def test_broken_template_is_refused_in_python_without_suricata(tmp_path: Path,
                                                               monkeypatch) -> None:
    """No Suricata on the admin host (and even --no-validate): the Python checks refuse a
    rule that injects an alert-silencing keyword, an unbalanced quote or a missing sid."""
    build, before = _first_build(tmp_path)
    cfg = load_config(_config(tmp_path), env={})
    templates = tmp_path / "templates"
    shutil.copytree(render_suricata.TEMPLATE_DIR, templates)
    original = (templates / "sakimori.rules.j2").read_text()
    monkeypatch.setattr(render_suricata, "TEMPLATE_DIR", templates)
    for breakage, message in (("flow:established,to_server; urilen", "keyword 'noalert'"),
                              ('msg:"SAKIMORI BACKDOOR Long URL (', "unbalanced quotes"),
                              ("{{ sid(1100) }}", "no sid")):
        broken = {"flow:established,to_server; urilen":
                  "noalert; flow:established,to_server; urilen",
                  'msg:"SAKIMORI BACKDOOR Long URL (':
                  'msg:"SAKIMORI BACKDOOR "Long URL (',
                  "{{ sid(1100) }}": "rev:1;"}[breakage]
        assert breakage in original
        (templates / "sakimori.rules.j2").write_text(original.replace(breakage, broken, 1))
        for validate in (True, False):
            with pytest.raises(BuildNotDeployed, match=message) as err:
                render_build(cfg, None, build, validate=validate)
            assert str(build / "suricata" / "sakimori.rules") in str(err.value)
            assert _snapshot(build) == before


def test_renderer_dying_half_way_leaves_no_half_build(tmp_path: Path, monkeypatch) -> None:
    build, before = _first_build(tmp_path)
    cfg = load_config(_config(tmp_path, dests="[ntp.nict.jp, updates.example.net]"), env={})

    def dies(*_args: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module, "write_rspamd", dies)  # the Suricata half is already written
    with pytest.raises(OSError):
        render_build(cfg, None, build, validate=False)
    assert _snapshot(build) == before
    assert not list(build.glob(".sakimori-build-*"))


def test_good_build_swaps_in_whole_and_keeps_unchanged_mtimes(tmp_path: Path,
                                                               monkeypatch) -> None:
    build, before = _first_build(tmp_path)
    static = build / "suricata" / "static.rules"
    os.utime(static, (1_000_000_000, 1_000_000_000))
    cfg = load_config(_config(tmp_path, dests="[ntp.nict.jp, updates.example.net]"), env={})
    files, status, rspamd_dir, _ = render_build(cfg, None, build)
    assert files == [static, build / "suricata" / "sakimori.rules"]
    assert status == "checked in Python (suricata missing)" and rspamd_dir == build / "rspamd"
    assert b"updates\\.example\\.net" in files[1].read_bytes()
    assert static.stat().st_mtime == 1_000_000_000  # unchanged content, unchanged file
    assert not list(build.glob(".sakimori-build-*"))
    # without renameat2 the fallback (rename aside, rename in) gives the same result
    monkeypatch.setattr(atomic, "_renameat2_exchange", lambda a, b: False)
    cfg = load_config(_config(tmp_path, dests="[ntp.nict.jp]"), env={})
    render_build(cfg, None, build)
    assert _snapshot(build) == before


def test_editor_regeneration_failure_keeps_the_build(tmp_path: Path, monkeypatch) -> None:
    build = tmp_path / "build"
    cfg_path = wf.write_config(tmp_path, report_dirs=[tmp_path], build_dir=build)
    render_build(load_config(cfg_path, env={}), None, build, validate=False)
    before = _snapshot(build)
    text = cfg_path.read_text() + f"suricata:\n  binary: {_fake_suricata(tmp_path)}\n"
    cfg_path.write_text(text)
    result = add_entry(load_config(cfg_path, env={}), "updates.example.net", "alice", "CDN")
    assert not result.ok and "not changed (restored)" in result.message
    assert "fake failure" in result.message
    assert _snapshot(build) == before
    assert not (tmp_path / "whitelist.txt").exists()

    def dies(*_args: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module, "write_rspamd", dies)
    cfg_path.write_text(text.replace(str(_fake_suricata(tmp_path)), "no-such-suricata"))
    result = add_entry(load_config(cfg_path, env={}), "updates.example.net", "alice", "CDN")
    assert not result.ok and "No space left" in result.message
    assert _snapshot(build) == before and not (tmp_path / "whitelist.txt").exists()


@pytest.mark.suricata
def test_real_suricata_accepts_the_normal_build(tmp_path: Path, require_suricata: str) -> None:
    rspamd = require_binary("rspamd")
    require_binary("rspamadm")
    cfg = load_config(_config(tmp_path, suricata=require_suricata, rspamd=rspamd,
                              dests="[ntp.nict.jp, '*.windowsupdate.com', 203.0.113.0/24]"),
                      env={})
    _, status, _, rspamd_status = render_build(cfg, None, tmp_path / "build")
    assert status == "valid (suricata -T)"
    assert rspamd_status == "valid (rspamadm configtest)"


@pytest.mark.parametrize(("line", "problem"), [
    (GOOD, None),
    (GOOD.replace("[80,8080]", "[80,8080"), "bad destination port"),
    (GOOD.replace("!203.0.113.0/24", "!fe80::%[1.2.3.4]"), "bad destination"),
    (GOOD.replace("!203.0.113.0/24", "!203.0.113.0/24 any"), "header must have 7 fields"),
    (GOOD.replace("$HOME_NET any", "$HOME_NET 70000"), "bad source port"),
    (GOOD.replace("classtype", "threshold:type limit; classtype"), "keyword 'threshold'"),
    (GOOD.replace("classtype", "noalert; classtype"), "keyword 'noalert'"),
    (GOOD.replace('"a\\;b"', '"a;b"'), "unbalanced quotes"),
    (GOOD.replace('msg:"SAKIMORI x"', "msg:SAKIMORI"), "msg must be quoted"),
    (GOOD.replace(" rev:1;", ""), "no rev"),
    (GOOD.rstrip(")"), "closing the line"),
    (GOOD.replace("alert http", "alert\x00 http"), "control character"),
])
def test_rule_checker(line: str, problem: str | None) -> None:
    found, _ = rule_problem(line, Path("."))
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_option_split_follows_suricata_escaping() -> None:
    assert split_options('msg:"a\\;b"; sid:1; rev:1;') == ['msg:"a\\;b"', "sid:1", "rev:1"]


@pytest.mark.parametrize(("text", "problem"), [
    ('a { b = "x"; }\n', None),
    ("a {\n b = 1;\n", "never closed"),
    ('a = "x;\n', "unterminated string"),
    ("a = <<EOD\n{ not ucl\n", "heredoc EOD not closed"),
    ("a = 1; }\n", "unmatched"),
    ('a = "}"; # } in a comment\n', None),
])
def test_ucl_checker(text: str, problem: str | None) -> None:
    found = ucl_problem(text)
    assert (found is None) if problem is None else (found is not None and problem in found[1])


def test_rspamd_overlay_checks(tmp_path: Path) -> None:
    build, _ = _first_build(tmp_path)
    overlay = tmp_path / "overlay"
    shutil.copytree(build / "rspamd", overlay)
    assert check_rspamd(overlay) > 5
    (overlay / "scores.d" / "sakimori_group.conf").unlink()
    with pytest.raises(InputError, match=r"sakimori_group\.conf"):
        check_rspamd(overlay)
    shutil.rmtree(overlay)
    shutil.copytree(build / "rspamd", overlay)
    conf = overlay / "local.d" / "sakimori.conf"
    conf.write_text(conf.read_text() + "maps {\n")
    with pytest.raises(InputError, match="never closed"):
        check_rspamd(overlay)
