"""bench/real.py's own parts: the verdicts it prints, its output, and its error without data.

These check that the benchmark compares what it says it compares, not sakimori's figures
(tests/test_real_captures.py asserts those).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engines import missing
from realdata import Capture, HostTruth, Outcome, data_problem, judge, load_truth, real_data_dir

BENCH_REAL = Path(__file__).resolve().parents[1] / "bench" / "real.py"


def _outcome(hosts: dict[str, frozenset[str]]) -> Outcome:
    truth = Capture("x.pcap", "test", ("10.0.0.0/8",),
                    (HostTruth("10.0.0.1", "infected", frozenset({"beacon"})),
                     HostTruth("10.0.0.2", "quiet", frozenset())))
    return Outcome(truth, "first-day", hosts, 0.0, 0.0, Path("."))


def test_judge_wants_the_exact_label_set_and_no_other_host() -> None:
    ok = judge(_outcome({"10.0.0.1": frozenset({"beacon"})}))
    assert [v.passed for v in ok] == [True, True, True]
    missing = judge(_outcome({}))
    assert [v.passed for v in missing] == [False, True, True]
    extra = judge(_outcome({"10.0.0.1": frozenset({"beacon", "long_url"}),
                            "10.0.0.2": frozenset({"fw_blocked"}),
                            "10.0.0.9": frozenset({"anonymizer"})}))
    assert [v.passed for v in extra] == [False, False, False]
    assert extra[2].got == frozenset({"10.0.0.9:anonymizer"})


def _bench(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH_REAL), *argv], capture_output=True,
                          text=True, check=False, timeout=600, env={**os.environ, **env})


def test_without_data_one_line_exit_1(tmp_path: Path) -> None:
    proc = _bench("--out", str(tmp_path / "o"),
                  env={"SAKIMORI_SHARED_DATA": str(tmp_path / "none")})
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "none/real not found" in lines[0]


@pytest.mark.suricata
def test_table_and_json_agree_with_the_truth_rows(tmp_path: Path) -> None:
    why = data_problem(load_truth(), real_data_dir())
    if why is not None:
        missing(why)
    env = {"SAKIMORI_SHARED_DATA": str(real_data_dir().parent)}
    proc = _bench("--mode", "first-day", "--out", str(tmp_path / "o"), "--json",
                  str(tmp_path / "r.json"), env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    truth = load_truth()
    assert [d["capture"] for d in doc] == [c.file for c in truth]
    verdicts = [h for d in doc for h in d["hosts"]]
    assert len(verdicts) == sum(len(c.hosts) + 1 for c in truth)
    for d, c in zip(doc, truth, strict=True):
        assert [h["expected"] for h in d["hosts"]] == \
            [sorted(h.labels) for h in c.hosts] + [[]]
    passed = sum(h["pass"] for h in verdicts)
    assert f"summary: {passed}/{len(verdicts)} verdicts PASS" in proc.stdout
    rows = [ln for ln in proc.stdout.splitlines() if not ln.startswith("summary:")]
    assert sum(" PASS " in f"{ln} " for ln in rows) == passed
    assert sum(" PASS " in f"{ln} " or " FAIL " in f"{ln} " for ln in rows) == len(verdicts)
