"""Maps re-learned without a restart: rewrite the baselines, render again (only the changed
maps are replaced, atomically), and the running Rspamd — same PID — judges with the new data:
a native hash map (sakimori_history/infra) and a callback map the plugin parses itself
(sakimori_names)."""

from __future__ import annotations

import time

import pytest
from rspamd_support import configure, make_config, make_doc, requires_rspamd

from generator.render_rspamd import write_rspamd

pytestmark = [pytest.mark.rspamd, requires_rspamd]

CONFIG = {"mail": {"internal_domains": ["example.co.jp"], "new_infra_min_history": 5},
          "networks": {"home": ["10.0.0.0/8"], "mail_relays": ["192.0.2.10/32"]}}
BEFORE = {"domains": {"partner.co.jp": {"messages": 2, "infra": {"net:133.0.0.0/24": 2}}}}
AFTER = {"domains": {"partner.co.jp": {"messages": 40, "infra": {"net:133.0.0.0/24": 40}}},
         "names": {"山田太郎": {"display": "山田 太郎", "addresses": {"taro@example.co.jp": 9}}}}
MESSAGE = "From: 山田 太郎 <info@partner.co.jp>\r\nSubject: x\r\n\r\nx\r\n".encode()
ENVELOPE = {"ip": "133.0.1.5", "mail_from": "info@partner.co.jp", "helo": "x"}


def _sakimori(reply: dict) -> set[str]:
    return {s for s in reply["symbols"] if s.startswith("SAKIMORI_") and s != "SAKIMORI_CHECK"}


def test_maps_reload_without_restart(tmp_path) -> None:
    inst = configure(CONFIG, BEFORE)
    pid = inst.pid
    assert _sakimori(inst.scan(MESSAGE, **ENVELOPE)) == set()
    build = tmp_path / "build"
    write_rspamd(make_config(CONFIG, tmp_path), make_doc(AFTER), build)
    changed = {p.name for p in inst.sync(build)}
    assert changed == {"sakimori_history.map", "sakimori_infra.map", "sakimori_names.map"}
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = _sakimori(inst.scan(MESSAGE, **ENVELOPE))
        if seen == {"SAKIMORI_NEW_INFRASTRUCTURE", "SAKIMORI_DISPLAY_NAME_SPOOF"}:
            break
        time.sleep(0.2)
    assert seen == {"SAKIMORI_NEW_INFRASTRUCTURE", "SAKIMORI_DISPLAY_NAME_SPOOF"}
    assert inst.pid == pid and inst.ping()
    assert inst.lua_errors() == []
    # and back: the old maps are picked up again
    inst.sync(configure_build(tmp_path / "again", BEFORE))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _sakimori(inst.scan(MESSAGE, **ENVELOPE)):
        time.sleep(0.2)
    assert _sakimori(inst.scan(MESSAGE, **ENVELOPE)) == set()
    assert inst.pid == pid


def configure_build(path, mail):
    write_rspamd(make_config(CONFIG, path.parent), make_doc(mail), path)
    return path
