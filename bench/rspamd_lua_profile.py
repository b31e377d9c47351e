"""Where the sakimori callback's time goes inside a real Rspamd: a Lua-side profile per mail.

Run: ``.venv/bin/python bench/rspamd_lua_profile.py [--messages 1000] [--warmup 500]
[--everyday] [--top 20]`` (not part of ``make bench``: an analysis tool for issue 15 item 4,
≈ 1 min; ``bench/mail.py`` gives the headline figure, ``bench/rspamd_callgrind.py`` the
instruction counts of whole tasks).

The generated build (plugin and maps learned from the example past mail, no exporter, as
``bench/rspamd_variants.py``) with its symbol callback wrapped — the plugin's own callback is
renamed and called by the wrapper, nothing else of the plugin changes — runs in a private
Rspamd 3.4 pinned to one core, three times:

1. **time**: the callback timed with the processor's time-stamp counter
   (``rspamd_util.get_ticks(true)``), then called twice more on the same task, each timed:
   the first call pays for what a mail's first touch costs (caches, the task's own lazily
   built Lua views), the repeats show the same work on warm caches. Set beside the Rspamd
   CPU per mail of the same instance (``/proc``), this is the callback's share of Rspamd's
   CPU; what the plugin costs beyond it (bench/mail.py's ratio) lies outside the callback.
   The repeats insert the mail's symbols again (a bench instance: nothing is delivered).
2. **count**: a count hook (``debug.sethook(f, '', 1)``) while the callback runs: the Lua
   VM instructions per mail by function (exclusive, and inclusive of what it calls) —
   deterministic, independent of load.
3. **calls**: a call hook: calls of C and fast functions per mail, by name.

Every pass scans ``--warmup`` mails first (memo tables fill; counters are reset after them)
and then ``--messages`` more: the example test set cycled, or with ``--everyday`` the learned
past mail (distinct everyday mail as the gateway saw it, cycled after its 1,521 mails). The
worker writes its counters every 50 mails (so ``--messages`` is rounded down to a multiple of
50) into a directory it can write. The ticks are converted to µs with the counter's rate
measured against the monotonic clock over the run.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from mail import _batch, _everyday_batch, _rspamd_cpu, _scan_time, pin_instance  # noqa: E402
from measure import one_core  # noqa: E402
from rspamd_variants import plugin_build  # noqa: E402

from sakimori.rspamd import RspamdInstance  # noqa: E402
from sakimori_demo.mailsim import generate_corpus  # noqa: E402

_CALLBACK_START = "local function sakimori_cb(task)\n"
_CALLBACK_END = "local id = rspamd_config:register_symbol({"
DUMP_EVERY = 50

# The wrapper (Lua), inserted before the symbol's registration: the plugin's own callback,
# renamed plugin_cb (its pcall and error log unchanged), called per MODE. Counters are plain
# tables keyed by text; dumped as 'kind count key' lines.
_PROFILED_CB = r"""
local PROF = {mode = %(mode)s, out = %(out)s, warmup = %(warmup)d, every = %(every)d}
local prof_n, prof_reset, prof_c = 0, false, {}
local getinfo, ticks = debug.getinfo, rspamd_util.get_ticks
local tick0, mono0
local function bump(kind, key, v) local t = prof_c[kind] or {}; prof_c[kind] = t
  t[key] = (t[key] or 0) + (v or 1) end
local function count_hook()
  local i = getinfo(2, 'S')
  if not i then return end
  bump('ex', i.short_src .. ':' .. i.linedefined)
  local seen = {}
  for lv = 2, 60 do
    local j = getinfo(lv, 'S')
    if not j then break end
    local k = j.short_src .. ':' .. j.linedefined
    if not seen[k] then seen[k] = true; bump('in', k) end
  end
end
local function call_hook()
  local i = getinfo(2, 'nS')
  if i and i.what == 'C' then bump('calls', tostring(i.name)) end
end
local function dump()
  local f = io.open(PROF.out .. '.tmp', 'w')
  if not f then return end
  f:write('mails ', prof_n, '\n')
  if tick0 then f:write('rate ', ticks(true) - tick0, ' ', ticks() - mono0, '\n') end
  for kind, t in pairs(prof_c) do
    for k, v in pairs(t) do f:write(kind, ' ', string.format('%%.0f', v), ' ', k, '\n') end
  end
  f:close()
  os.rename(PROF.out .. '.tmp', PROF.out)
end
local function sakimori_cb(task)
  prof_n = prof_n + 1
  if prof_n > PROF.warmup and not prof_reset then
    prof_reset, prof_n, prof_c = true, 1, {}
    tick0, mono0 = ticks(true), ticks()
  end
  if PROF.mode == 'time' then
    local t0 = ticks(true)
    plugin_cb(task)
    local t1 = ticks(true)
    plugin_cb(task)
    local t2 = ticks(true)
    plugin_cb(task)
    local t3 = ticks(true)
    bump('ticks', 'first', t1 - t0); bump('ticks', 'second', t2 - t1)
    bump('ticks', 'third', t3 - t2)
  else
    if PROF.mode == 'count' then debug.sethook(count_hook, '', 1)
    else debug.sethook(call_hook, 'c') end
    plugin_cb(task)
    debug.sethook()
  end
  if prof_reset and prof_n %% PROF.every == 0 then dump() end
end

"""


def profiled_build(base: Path, out: Path, mode: str, dump: Path, warmup: int) -> Path:
    """A copy of the build *base* whose callback is wrapped for *mode*."""
    dst = out / mode
    shutil.copytree(base, dst)
    plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
    text = plugin.read_text(encoding="utf-8")
    start, end = text.find(_CALLBACK_START), text.find(_CALLBACK_END)
    if start < 0 or end < start:
        raise SystemExit("bench/rspamd_lua_profile.py: the plugin's callback was not found "
                         "(sakimori_cb before register_symbol)")
    lua = _PROFILED_CB % {"mode": repr(mode), "out": repr(str(dump)), "warmup": warmup,
                          "every": DUMP_EVERY}
    own = text[start:end].replace(_CALLBACK_START, "local function plugin_cb(task)\n", 1)
    plugin.write_text(text[:start] + own + lua + text[end:], encoding="utf-8")
    return dst


def writable_dir() -> Path:
    """A private directory the Rspamd worker can write (it drops privileges to _rspamd when
    started as root)."""
    d = Path(tempfile.mkdtemp(prefix="sakimori-luaprof-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("_rspamd")
            os.chown(d, pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
    return d


def read_dump(path: Path) -> tuple[int, tuple[float, float] | None, dict[str, dict[str, float]]]:
    """(mails, (ticks, seconds) over the run or None, {kind: {key: count}})."""
    mails, rate, kinds = 0, None, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "mails":
            mails = int(rest)
        elif kind == "rate":
            t, s = rest.split()
            rate = (float(t), float(s))
        else:
            value, _, key = rest.partition(" ")
            kinds.setdefault(kind, {})[key] = float(value)
    return mails, rate, kinds


def function_names(plugin_dir: Path) -> dict[str, str]:
    """'file:line' of the profile → the defining line's text (a readable function name)."""
    names = {}
    for f in [plugin_dir / "sakimori.lua", *(plugin_dir / "sakimori").glob("*.lua")]:
        lines = f.read_text(encoding="utf-8").splitlines()
        short = "sakimori.lua" if f.name == "sakimori.lua" else f"./sakimori/{f.name}"
        for n, text in enumerate(lines, 1):
            if "function" in text:
                names[f"{short}:{n}"] = re.sub(r"\s+", " ", text.strip())[:70]
    return names


Profile = tuple[int, tuple[float, float] | None, dict[str, dict[str, float]], float, Path,
                int]


def run_pass(base: Path, tmp: Path, mode: str, batch: list, warmup: int, cpu: int | None
             ) -> Profile:
    """One instance in *mode* ('time', 'count' or 'calls'): (mails counted, the tick rate
    (ticks, seconds) over the run, counters by kind, Rspamd CPU s per mail, the build, how
    many of the profiled mails got a SAKIMORI_ symbol: the wrapped plugin still judges)."""
    dump_dir = writable_dir()
    try:
        dump = dump_dir / "profile.txt"
        build = profiled_build(base, tmp / "builds", mode, dump, warmup)
        inst = RspamdInstance(build).start()
        try:
            if cpu is not None:
                pin_instance(inst, cpu)
            _scan_time(inst, batch[:warmup])
            c0 = _rspamd_cpu(inst.pid)
            flagged = sum(any(s.startswith("SAKIMORI_") for s in inst.scan(m, **env)["symbols"])
                          for m, env in batch[warmup:])
            cpu_per_mail = (_rspamd_cpu(inst.pid) - c0) / max(1, len(batch) - warmup)
            errors = inst.lua_errors()
        finally:
            inst.stop()
        if errors:
            raise SystemExit(f"bench/rspamd_lua_profile.py: Lua errors in the {mode} pass: "
                             f"{errors[0][:200]}")
        if not dump.exists():  # written by the last mail's callback, before its reply
            raise SystemExit(f"bench/rspamd_lua_profile.py: the {mode} pass wrote no profile "
                             f"({dump})")
        mails, rate, kinds = read_dump(dump)
        if mails != len(batch) - warmup:
            raise SystemExit(f"bench/rspamd_lua_profile.py: the {mode} pass counted {mails} "
                             f"mails, not {len(batch) - warmup}")
    finally:
        shutil.rmtree(dump_dir, ignore_errors=True)
    return mails, rate, kinds, cpu_per_mail, build, flagged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000, help="mails profiled (after warm-up)")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--everyday", action="store_true",
                    help="the learned past mail instead of the test set")
    ap.add_argument("--top", type=int, default=20, help="functions and calls listed")
    ap.add_argument("--cpu", type=int, default=None,
                    help="core the instance is pinned to (default: the fastest; -1: unpinned)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "mail")
    args = ap.parse_args()
    messages = args.messages - args.messages % DUMP_EVERY
    if messages < DUMP_EVERY or args.warmup < 0:
        ap.error(f"--messages must be at least {DUMP_EVERY} and --warmup not negative")
    logging.basicConfig(level=logging.ERROR)
    cpu = one_core()[0] if args.cpu is None else (None if args.cpu < 0 else args.cpu)
    corpus = generate_corpus(args.out / "corpus")
    total = args.warmup + messages
    batch = (_everyday_batch(Path(corpus["past"]["maildir"]), total) if args.everyday
             else _batch(corpus["testset"], total))
    what = "everyday mail (learned past mail)" if args.everyday else "the test set (cycled)"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = plugin_build(corpus, tmp)
        print(f"sakimori callback in Rspamd 3.4, {messages} mails of {what} after "
              f"{args.warmup} warm-up, pinned to CPU {cpu}")
        n, rate, kinds, cpu_s, _, flagged = run_pass(base, tmp, "time", batch, args.warmup,
                                                     cpu)
        print(f"  flagged by the plugin: {flagged} of {len(batch) - args.warmup} mails")
        if rate and rate[1] > 0:
            per_us = rate[0] / rate[1] / 1e6
            first, second, third = (kinds["ticks"][k] / n / per_us
                                    for k in ("first", "second", "third"))
            once = 1e6 * cpu_s - second - third  # the CPU per mail with one call, as deployed
            print(f"  Rspamd CPU per mail {1e6 * cpu_s:8.1f} µs with the callback called three "
                  f"times, {once:.1f} µs without the repeats")
            print(f"  callback, first call {first:8.1f} µs per mail ({100 * first / once:.1f} % "
                  "of Rspamd's CPU per mail)")
            print(f"  callback, second call on the same task {second:8.1f} µs per mail")
            print(f"  callback, third call on the same task {third:8.1f} µs per mail")
            print(f"  (time-stamp counter {per_us:.0f} ticks per µs over the run)")
        n, _, kinds, _, build, _ = run_pass(base, tmp, "count", batch, args.warmup, cpu)
        names = function_names(build / "rspamd" / "plugins")
        ex, inc = kinds.get("ex", {}), kinds.get("in", {})
        total_vm = sum(ex.values()) / n
        print(f"\nLua VM instructions per mail in the callback: {total_vm:,.0f}")
        print(f"  {'inclusive':>9} {'exclusive':>9}  function")
        for key in sorted(inc, key=lambda k: -inc[k])[:args.top]:
            print(f"  {inc[key] / n:>9,.0f} {ex.get(key, 0) / n:>9,.0f}  "
                  f"{key}  {names.get(key, '')}")
        n, _, kinds, _, _, _ = run_pass(base, tmp, "calls", batch, args.warmup, cpu)
        calls = kinds.get("calls", {})
        print(f"\ncalls of C and fast functions per mail: {sum(calls.values()) / n:,.1f}")
        print("  " + ", ".join(f"{k} {v / n:.2f}" for k, v in
                               sorted(calls.items(), key=lambda kv: -kv[1])[:args.top]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
