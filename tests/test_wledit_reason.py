"""The whitelist editor's audit reason (issue 11 item 7): one line, no control or bidi text.

An admin's reason is shown to other admins on the whitelist screen and kept in the audit log;
a U+202E (right-to-left override) in it would make "ticket 42 ‮gnp.exe" read reversed,
and an ESC or CR could rewrite a terminal line of whoever reads the log. The editor drops
them (``sakimori.textsafe.strip_unsafe``, the consumer's own set of unsafe characters).
"""

from __future__ import annotations

import json
from pathlib import Path

import webfixtures as wf

from sakimori.config import load_config
from sakimori.web.wledit import add_entry


def test_audit_reason_loses_control_and_bidi_characters(tmp_path: Path) -> None:
    cfg = load_config(wf.write_config(tmp_path, report_dirs=[wf.write_reports(tmp_path / "r")],
                                      build_dir=tmp_path / "build"))
    reason = "vendor\u202e CDN\x1b[2K\r\n ticket\u2066 42\x00\u200f\x85"
    result = add_entry(cfg, "cdn.example.net", "alice", reason)
    assert result.ok, result.message
    (audit,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert audit["reason"] == "vendor CDN[2K ticket 42"
    assert result.reason == audit["reason"]
    only_controls = add_entry(cfg, "cdn2.example.net", "alice", "\u202e\u2066\x1b")
    assert not only_controls.ok and "reason is required" in only_controls.message
