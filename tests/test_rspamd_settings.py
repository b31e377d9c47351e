"""The plugin's settings in a real Rspamd: a bad setting (checked against the plugin's
tableshape schema) disables the module with one logged line naming the key while Rspamd keeps
answering scans; the modules load with ``require``; ``debug_modules = ["sakimori"]`` shows the
plugin's ``lua_util.debugm`` lines; ``rspamadm confighelp`` shows the example."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rspamd_support import make_config, make_doc, requires_rspamd

from generator.render_rspamd import write_rspamd
from sakimori.rspamd import RspamdInstance

pytestmark = [pytest.mark.rspamd, requires_rspamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"]},
          "networks": {"home": ["10.0.0.0/8"]}}
SPOOF = (b"From: CEO <ceo@example.co.jp>\r\nTo: hanako@example.co.jp\r\nSubject: pay\r\n"
         b"\r\npay\r\n")
SPOOF_ENV = {"ip": "8.8.8.8", "mail_from": "ceo@example.co.jp",
             "rcpt": ["hanako@example.co.jp"], "helo": "mx.evil.example"}


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RspamdInstance]:
    tmp = tmp_path_factory.mktemp("rspamd-settings")
    build = tmp / "build"
    write_rspamd(make_config(CONFIG, tmp), make_doc({}), build)
    # merged into the stock logging section (the harness owns override.d/logging.inc)
    (build / "rspamd" / "local.d" / "logging.inc").write_text('debug_modules = ["sakimori"];\n')
    with RspamdInstance(build) as running:
        yield running


def _restart_with(inst: RspamdInstance, override: str) -> str:
    """Restart with *override* as override.d/sakimori.conf; the log text of this start."""
    path: Path = inst.etc / "override.d" / "sakimori.conf"
    path.write_text(override)
    before = len(inst.log_text())
    inst.restart()
    return inst.log_text()[before:]


def test_modules_load_and_debug_lines_name_the_module(inst: RspamdInstance) -> None:
    reply = inst.scan(SPOOF, **SPOOF_ENV)
    assert "SAKIMORI_INTERNAL_SPOOF" in reply["symbols"]
    debug = [ln for ln in inst.log_text().splitlines()
             if "(debug)" in ln.lower() or "[debug]" in ln.lower()]
    facts = [ln for ln in debug if "sakimori" in ln and "facts: ip=8.8.8.8" in ln]
    assert facts, debug[-5:]
    assert inst.lua_errors() == []


def test_received_host_names_log_nothing(inst: RspamdInstance) -> None:
    """Host names in Received hops are never handed to rspamd_ip.from_string (it logs a
    warning per failure: a log line per hop of every mail)."""
    message = (b"Received: from mx.partner.example (mx.partner.example [198.51.100.7])\r\n"
               b"\tby mail.example.co.jp (Postfix) with ESMTP id 1; Mon, 2 Feb 2026 10:00 +0900\r\n"
               b"Received: from pc-1.partner.example (unknown [192.168.1.5])\r\n"
               b"\tby mx.partner.example (Postfix) with ESMTPSA id 2; 2 Feb 2026 09:59 +0900\r\n"
               + SPOOF)
    before = len(inst.log_text())
    reply = inst.scan(message, **SPOOF_ENV)
    assert "SAKIMORI_INTERNAL_SPOOF" in reply["symbols"]
    assert "cannot parse ip" not in inst.log_text()[before:]


@pytest.mark.parametrize(("override", "key"), [
    ("lookalike_max_distance = 9;\n", "lookalike_max_distance = 9"),
    ('tag_header = "maybe";\n', "tag_header = maybe"),
    ("tag_headr = true;\n", "tag_headr = true (unknown setting)"),
    ('domestic_country = "JPN";\n', "domestic_country = JPN"),
    ('maps { countyr = "/nowhere"; }\n', "maps.countyr = /nowhere (unknown setting)"),
])
def test_a_bad_setting_disables_the_module_and_mail_flows(inst: RspamdInstance, override: str,
                                                          key: str) -> None:
    log = _restart_with(inst, override)
    try:
        ours = [ln for ln in log.splitlines() if ("[error]" in ln or "[critical]" in ln)
                and ("sakimori: " in ln or "sakimori.lua" in ln or "plugins/sakimori/" in ln)]
        assert len(ours) == 1, ours
        assert f"sakimori: bad {key}" in ours[0] and "disabling the module" in ours[0]
        reply = inst.scan(SPOOF, **SPOOF_ENV)
        assert reply["action"] and reply["symbols"]  # Rspamd still judges the mail
        assert not [s for s in reply["symbols"] if s.startswith("SAKIMORI_")]
    finally:
        (inst.etc / "override.d" / "sakimori.conf").unlink()


def test_a_good_override_keeps_the_module(inst: RspamdInstance) -> None:
    log = _restart_with(inst, 'new_infra_min_history = "7";\ninternal_domains = "example.co.jp";\n')
    try:
        assert not [ln for ln in log.splitlines() if "sakimori: " in ln and "[error]" in ln]
        assert "SAKIMORI_INTERNAL_SPOOF" in inst.scan(SPOOF, **SPOOF_ENV)["symbols"]
    finally:
        (inst.etc / "override.d" / "sakimori.conf").unlink()


@pytest.mark.engine("rspamadm")
def test_confighelp_shows_the_example(tmp_path: Path) -> None:
    """``rspamd_config:add_example``: ``rspamadm confighelp`` documents the section."""
    out = write_rspamd(make_config(CONFIG, tmp_path), make_doc({}), tmp_path / "b")
    proc = subprocess.run(["rspamadm", "confighelp", "-P", str(out / "plugins"), "sakimori"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert "lookalike_max_distance = 1;" in proc.stdout
    assert re.search(r"Configuration element: internal_domains\s+Description: our own sender "
                     r"domains", proc.stdout)
