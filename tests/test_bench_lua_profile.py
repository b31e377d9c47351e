"""bench/rspamd_lua_profile.py: the wrapped callback runs in a real Rspamd and profiles it.

The tool replaces the plugin's symbol callback by an instrumented copy; if that copy broke
the plugin (a Lua error, a changed callback) its figures would describe nothing. Checked on a
real Rspamd 3.4 with a short run of the test set: no Lua error, the mails counted after the
warm-up, the time-stamp counter's rate measured, VM instructions attributed to the checks'
functions, and the task accessors among the C calls; the mails are still judged (symbols).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from rspamd_support import requires_rspamd

from sakimori_demo.mailsim import generate_corpus

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from mail import _batch  # noqa: E402  (bench/mail.py)
from rspamd_lua_profile import DUMP_EVERY, profiled_build, read_dump, run_pass  # noqa: E402
from rspamd_variants import plugin_build  # noqa: E402

pytestmark = [pytest.mark.rspamd, requires_rspamd]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    tmp = tmp_path_factory.mktemp("luaprof")
    corpus = generate_corpus(tmp / "corpus", seed=2026)
    return plugin_build(corpus, tmp), _batch(corpus["testset"], 10 + DUMP_EVERY)


def test_count_pass_attributes_vm_instructions_to_the_checks(
        built: tuple[Path, list], tmp_path: Path) -> None:
    base, batch = built
    mails, _, kinds, cpu_s, build, flagged = run_pass(base, tmp_path, "count", batch, 10, None)
    assert mails == DUMP_EVERY
    assert flagged > DUMP_EVERY // 3  # two thirds of the test set are attacks
    assert cpu_s > 0
    inclusive = kinds["in"]
    evaluate = [k for k in inclusive if k.startswith("./sakimori/checks.lua:")]
    assert evaluate, sorted(inclusive)[:10]
    # every VM instruction counted exclusively belongs to some function counted inclusively
    assert sum(kinds["ex"].values()) <= max(inclusive.values())
    assert "local function sakimori_cb(task)" in \
        (build / "rspamd" / "plugins" / "sakimori.lua").read_text(encoding="utf-8")


def test_time_and_calls_passes(built: tuple[Path, list], tmp_path: Path) -> None:
    base, batch = built
    mails, rate, kinds, _, _, flagged = run_pass(base, tmp_path, "time", batch, 10, None)
    assert flagged > DUMP_EVERY // 3
    assert mails == DUMP_EVERY and rate is not None and rate[0] > 0 and rate[1] > 0
    assert all(kinds["ticks"][k] > 0 for k in ("first", "second", "third"))
    mails, _, kinds, _, _, _ = run_pass(base, tmp_path / "c", "calls", batch, 10, None)
    assert mails == DUMP_EVERY
    assert kinds["calls"].get("get_from", 0) >= 2 * DUMP_EVERY  # envelope and header From


def test_a_plugin_without_the_callback_is_refused(built: tuple[Path, list],
                                                  tmp_path: Path) -> None:
    base, _ = built
    copy = tmp_path / "base"
    shutil.copytree(base, copy)
    plugin = copy / "rspamd" / "plugins" / "sakimori.lua"
    plugin.write_text(plugin.read_text(encoding="utf-8").replace(
        "local function sakimori_cb(task)", "local function other_cb(task)"), encoding="utf-8")
    with pytest.raises(SystemExit, match="callback was not found"):
        profiled_build(copy, tmp_path / "out", "count", tmp_path / "p.txt", 0)


def test_read_dump(tmp_path: Path) -> None:
    f = tmp_path / "profile.txt"
    f.write_text("mails 50\nrate 2600000000 1.0\nex 12 ./sakimori/checks.lua:28\n"
                 "calls 100 get_from\n", encoding="utf-8")
    mails, rate, kinds = read_dump(f)
    assert mails == 50 and rate == (2.6e9, 1.0)
    assert kinds == {"ex": {"./sakimori/checks.lua:28": 12.0}, "calls": {"get_from": 100.0}}
