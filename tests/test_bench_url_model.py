"""bench/url_model.py's own parts: the URL shape features (deterministic, bounded on hostile
64 KB URLs), the C2 URLs derived from ET rule patterns, the length statistic it compares
against (the one ``learn`` computes), the decision rule, and the benchmark end to end.

These check that the benchmark measures what it says, not its figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engines import require_path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import url_data  # noqa: E402
import url_model  # noqa: E402
from realdata import shared_data_dir  # noqa: E402
from url_features import NAMES, SCAN_LIMIT, explain, features  # noqa: E402

from generator.stats import LogHistogram  # noqa: E402
from generator.thresholds import url_length  # noqa: E402


def test_features_of_a_known_url() -> None:
    url = "/api/v2/get.php?id=12&Key=a1b2c3d4e5f60718&x=%2F"
    f = explain(features(url))
    assert set(f) == set(NAMES) and features(url) == features(url)
    assert f["path_depth"] == 3 and f["n_params"] == 3
    assert f["log_length"] == pytest.approx(np.log1p(len(url)), abs=1e-6)
    assert f["hex_run"] == pytest.approx(np.log1p(16), abs=1e-6)  # a1b2c3d4e5f60718
    assert f["pct_frac"] == pytest.approx(3 / len(url), abs=1e-6)
    assert f["b64_run"] == 0.0  # no run of 12+ with upper, lower and digits
    plain = explain(features("/index.html"))
    assert plain["n_params"] == 0 and plain["query_frac"] == 0 and plain["hex_run"] == 0


HOSTILE = {
    "percent": "%" * 65536,
    "slashes": "/" * 65536,
    "one_letter": "/" + "a" * 65535,
    "params": "/?" + "&a=" * 21845,
    "hexish": "/" + "0a" * 32768,
    "base64ish": "/" + "aZ9+" * 16384,
    "mixed_case": "/" + "aA1" * 21845,
    "unicode": "/" + "\u00e9\u4e2d\U0001f600" * 21845,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_64k_url_is_judged_on_its_first_4k(name: str) -> None:
    url = HOSTILE[name]
    got = features(url)
    prefix = features(url[:SCAN_LIMIT])
    assert got[1:] == prefix[1:]  # everything but the length comes from the first 4 KiB
    assert got[0] == pytest.approx(np.log1p(len(url)), abs=1e-6)
    assert all(np.isfinite(got))  # its cost: bench/url_model.py (hostile 64 KiB URL)


def test_et_rule_patterns_become_urls(tmp_path: Path) -> None:
    rules = tmp_path / "emerging-deleted.rules"
    rules.write_text("\n".join([
        '#alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"x"; flow:established,to_server; '
        'content:"/gate.php?id="; http_uri; content:"&ver="; nocase; http_uri; '
        'classtype:trojan-activity; sid:1;)',
        'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"y"; http.uri; content:"/c|2f|s"; '
        'classtype:command-and-control; sid:2;)',
        'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"policy"; content:"/p"; http_uri; '
        'classtype:policy-violation; sid:3;)',
        'alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"inbound"; content:"/in"; '
        'http_uri; classtype:trojan-activity; sid:4;)',
        'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"binary"; content:"/|00 01|"; '
        'http_uri; classtype:trojan-activity; sid:5;)',
    ]) + "\n")
    got = dict(url_data.et_derived(tmp_path, seed=1))
    assert set(got) == {"et:1", "et:2"}
    assert got["et:1"].startswith("/gate.php?id=") and "&ver=" in got["et:1"]
    assert not got["et:1"].endswith("=") and not got["et:1"].split("&ver=")[0].endswith("=")
    assert got["et:2"] == "/c/s"
    assert got == dict(url_data.et_derived(tmp_path, seed=1))  # deterministic


def test_length_row_is_the_learned_threshold_and_rates_count_right() -> None:
    train = [f"/p/{'x' * (20 + i % 60)}" for i in range(400)]
    hist = LogHistogram()
    for u in train:
        hist.add(len(u))
    expected = url_length(hist, 6.0)["threshold"]
    test = [("b", "/short", False), ("b", "/" + "y" * (expected - 1), False),
            ("p", "/" + "z" * 2000, True), ("p", "/gate.php", True)]
    rows = url_model.evaluate(train, test)
    first = rows[0]
    assert first["detector"] == "length_deployed" and first["threshold"] == expected
    assert (first["tp"], first["fp"], first["pos"], first["neg"]) == (1, 0, 2, 2)
    assert first["recall"] == 0.5 and first["precision"] == 1.0
    names = [r["detector"] for r in rows]
    for model in ("length", "iforest", "tail"):
        assert [f"{model}@{b:g}" for b in url_model.BUDGETS] == \
            [n for n in names if n.startswith(model + "@")]


def test_decision_rule_needs_more_real_c2_at_no_more_than_1_5x_fp() -> None:
    def row(det: str, et: str, fpr: float) -> dict:
        return {"detector": det, "fpr": fpr, "by_source": {"et-derived": et,
                                                           "capture:c2": "0/1"}}

    def result(model_et: str, model_fpr: float) -> dict:
        rows = []
        for b in url_model.BUDGETS:
            rows += [row(f"length@{b:g}", "1/10", 0.01), row(f"iforest@{b:g}", model_et,
                                                               model_fpr),
                     row(f"tail@{b:g}", "1/10", 0.01)]
        return {"seen": rows, "unseen": rows}

    assert url_model.verdict(result("5/10", 0.015))[0].startswith("WIN")
    assert url_model.verdict(result("5/10", 0.02))[0].startswith("LOSS")
    assert url_model.verdict(result("1/10", 0.001))[0].startswith("LOSS")
    assert url_model.verdict(result("5/10", 0.001))[1].startswith("LOSS")  # tail: no gain


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / "url_model.py")], capture_output=True,
                          text=True, check=False, timeout=600, env={**os.environ, **env})


def test_without_data_one_line_exit_1(tmp_path: Path) -> None:
    proc = _run({"SAKIMORI_SHARED_DATA": str(tmp_path / "none")})
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no labelled C2 data" in lines[0]


@pytest.mark.slow
def test_bench_end_to_end_on_the_shared_data() -> None:
    data = shared_data_dir()
    require_path(data / "et-open")
    proc = _run({})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "split seen:" in out and "split unseen:" in out
    for det in ("length_deployed", "length@0.01", "iforest@0.01", "tail@0.01"):
        assert det in out
    verdicts = [ln for ln in out.splitlines() if ln.startswith(("WIN", "LOSS"))]
    assert len(verdicts) == 2
    assert "cost per URL: features" in out


def test_splits_hold_out_by_source_and_seed(tmp_path: Path) -> None:
    got = url_model.splits(tmp_path, seed=0)
    assert got == url_model.splits(tmp_path, seed=0)  # deterministic
    assert got != url_model.splits(tmp_path, seed=1)
    (seen_train, seen_test), = got["seen"]
    # the same families, new draws (officesim repeats plain URLs such as "/", as a day does)
    assert not {u for s, u, _ in seen_test if s.startswith("realshape:")} & set(seen_train)
    for (train, test), (held_in, held_out) in zip(
            got["unseen"], (url_model.FAMILY_FOLDS, url_model.FAMILY_FOLDS[::-1]), strict=True):
        test_families = {s.split(":", 1)[1] for s, _, _ in test if s.startswith("realshape:")}
        assert test_families == set(held_out) and not test_families & set(held_in)
        expected = url_data.officesim(4000, 1) + url_data.realshape(list(held_in), 150, 1)
        assert train == [u for _, u in expected]
