"""The sakimori command line: verbs, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sakimori.cli import SUMMARIES, VERBS, build_parser


def sakimori(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sakimori", *argv], capture_output=True,
                          text=True, check=False, timeout=120)


def test_every_verb_has_help() -> None:
    parser = build_parser()
    for verb in VERBS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([verb, "--help"])
        assert exit_info.value.code == 0


def test_version() -> None:
    proc = sakimori("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("sakimori ")


def test_unknown_verb_is_usage_error() -> None:
    proc = sakimori("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("traffic:\n  beacon_treshold: 0.5\n", encoding="utf-8")
    proc = sakimori("generate", "--config", str(cfg), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "traffic.beacon_treshold: unknown key" in lines[0]


def test_top_level_summaries_match_the_verbs() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert helps == SUMMARIES


def test_a_verb_run_imports_only_its_own_module() -> None:
    code = ("import sys; from sakimori.cli import build_parser; build_parser('consume'); "
            "print(any(m.startswith('generator') for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "False"
