"""Where the sakimori plugin's cost in Rspamd goes: variants of the plugin measured in one run.

Run: ``.venv/bin/python bench/rspamd_variants.py [--messages 500] [--reps 7] [--idle 10]
[--variants without,plugin,...]``. Not part of ``make bench`` (an analysis tool for issue 15
item 4; ``bench/mail.py`` gives the headline figure).

Every variant is ``--copies`` private Rspamd 3.4 instances (same offline profile, one
scanner), started afresh and pinned with all their processes to one core (``--cpu``; default
the fastest by a speed check, as ``bench/run.py``), before timing; the example test set
(``sakimori_demo.mailsim``, learned as ``bench/mail.py`` does; ``--everyday``: its learned
past mail instead, as ``bench/mail.py``'s everyday row) is scanned by each in turn,
``--chunk`` messages at a time (the starting instance rotating), so load changes on a shared
machine hit all alike; ``--reps`` such passes. An instance's CPU is the mean over reps of its
whole passes (Rspamd CPU seconds of all its processes, from ``/proc``: every periodic cost in,
the Lua collector's cycles above all); a variant's figure is the median of its copies, and the
A/A spread among copies ((max − min) ÷ median) is printed beside it with each copy's figure
(docs/bench.md, fifth round). Also printed: the ratio of each chunk's fastest rep summed
(``fastest``: a lower bound that leaves out the chunks a collector cycle fell in — the figure
of the fifth to ninth rounds, which flattered a larger Lua heap; tenth round), the client wall
time, and the CPU the idle instance burns per second (timers, map checks) measured over
``--idle`` seconds before the scans. Variants:

- ``without``       no sakimori at all (the stock configuration);
- ``plugin``        the generated build (plugin + maps; no exporter);
- ``empty``         the same, the callback returning at once (the floor of a registered symbol);
- ``nomaps``        the plugin without any map (``maps {}``; verdicts differ: cost only);
- ``emptynomaps``   empty callback and no maps;
- ``emptynotables`` empty callback, the Unicode/suffix tables not parsed at start (the
                    Lua heap of the plugin stays small); ``notables`` the same, full callback;
- ``noplugin``      the build without its ``lua =`` line (settings, group, maps files, no Lua);
- ``ballast``       no plugin, a Lua file keeping ~40,000 small tables alive (the Lua heap's
                    size alone);
- ``noreg``         the plugin loaded (settings, maps, tables) but no symbol registered;
- ``emptyone``      empty callback, only ``SAKIMORI_CHECK`` registered (no virtual symbols);
- ``factsonly``     the callback reads the task's facts and returns (no checks);
- ``noinsert``      facts and checks, but no symbol inserted and no header change;
- ``notag``         the plugin, symbols inserted but no header change (``X-Sakimori``);
- ``jit``           the plugin with LuaJIT's compiler left on for its code (the plugin turns
                    it off: ``jit.off(true, true)`` in each file; docs/bench.md, fourth round);
- ``zeroscore``     the plugin with every SAKIMORI_* weight 0 (same symbols and header, but
                    no score, hence no action, changes: what a flagged mail costs Rspamd);
- ``before``        the plugin and modules of ``--before DIR`` (an older ``rspamd_lua/``, e.g.
                    ``git archive COMMIT rspamd_lua | tar -x -C /tmp/x``) in today's build;
- ``nocountry``, ``onlycountry``, ``nocallback``, ``nohash``  the plugin with a subset of its
                    maps: without the country map, with only it, without the two callback
                    maps (``protected``, ``names``), without the five hash/radix maps;
- ``nofromip``, ``nohostuser``, ``nomimefrom``, ``nosmtpfrom``, ``nofromhdr``  one task
                    accessor of the facts left out (``get_from_ip``; ``get_hostname`` and
                    ``get_user``; ``get_from`` mime or smtp; the From header read as a
                    constant): with ``factsonly`` what each accessor costs (verdicts differ);
- ``a+b``           kinds applied in turn, e.g. ``noreg+notables`` (loaded, no symbol, no
                    tables) or ``before+empty``;
- ``*@300``         any of the above with ``map_watch_interval = 300s`` (Rspamd's default)
                    instead of the harness's 1 s, e.g. ``without@300,plugin@300``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from mail import (  # noqa: E402
    _batch,
    _everyday_batch,
    _fastest_chunks,
    _learn,
    _mean_passes,
    _scan_time,
    pin_instance,
)
from mail import _rspamd_cpu as _cpu_ns  # noqa: E402
from measure import one_core  # noqa: E402

from generator.render_rspamd import write_rspamd  # noqa: E402
from sakimori.config import load_config  # noqa: E402
from sakimori.rspamd import RspamdInstance  # noqa: E402
from sakimori_demo.mailsim import generate_corpus  # noqa: E402

DEFAULT = "without,plugin,empty,nomaps,without@300,plugin@300"
_CALLBACK = "local function sakimori_cb(task)\n"
_CALLBACK_MAPS = ("protected", "names")
_JIT_OFF = "if jit then jit.off(true, true) end\n"
_MAP_SUBSETS = {  # variant → which map names (local.d/sakimori.conf, maps {}) it keeps
    "nocountry": lambda name: name != "country",
    "onlycountry": lambda name: name == "country",
    "nocallback": lambda name: name not in _CALLBACK_MAPS,
    "nohash": lambda name: name == "country" or name in _CALLBACK_MAPS,
}

_FACT_CUTS = {  # variant → (text, replacement) in the plugin: one accessor of facts_of gone
    "nofromip": [("task:get_from_ip()", "nil")],
    "nohostuser": [("real_name(task:get_hostname())", "nil"), ("task:get_user()", "nil")],
    "nomimefrom": [("task:get_from(MIME_FROM)", "nil")],
    "nosmtpfrom": [("task:get_from(SMTP_FROM)", "nil")],
    "nofromhdr": [("task:get_header_raw('From')", "'A <a@b.example>'"),
                  ("task:get_header('From')", "'A <a@b.example>'")],
}


def plugin_build(corpus: dict, tmp: Path) -> Path:
    """The plugin and maps learned from *corpus*'s past mail with the example config, built
    under *tmp* without the metadata exporter (the plugin's own cost); the build's base."""
    cfg_file = tmp / "sakimori.yaml"
    shutil.copyfile(REPO / "examples" / "sakimori.yaml", cfg_file)
    cfg = load_config(cfg_file, env={})
    _rate, _count, doc = _learn(cfg, Path(corpus["past"]["maildir"]), 1)
    base = write_rspamd(cfg, doc, tmp / "build").parent
    (base / "rspamd" / "local.d" / "metadata_exporter.conf").unlink()
    return base


def _variant_build(name: str, base: Path, out: Path, before: Path | None) -> Path | None:
    """A copy of *base* changed into *name* (kinds joined by '+' are applied in turn, e.g.
    ``noreg+notables``); None for ``without``."""
    if name == "without":
        return None
    dst = out / name
    if dst.exists():
        return dst
    shutil.copytree(base, dst)
    for kind in name.split("+"):
        _apply(kind, dst, before)
    return dst


def _apply(kind: str, dst: Path, before: Path | None) -> None:
    """Change the build *dst* into variant *kind* (one of the module docstring's list)."""
    if kind in ("empty", "emptynomaps"):
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        assert _CALLBACK in text, "callback not found"
        plugin.write_text(text.replace(_CALLBACK, _CALLBACK + "  if task then return end\n"),
                          encoding="utf-8")
    if kind in ("notables", "emptynotables"):
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        text = text.replace("  if worker and worker:is_scanner() then", "  if false then")
        if kind == "emptynotables":
            text = text.replace(_CALLBACK, _CALLBACK + "  if task then return end\n")
        plugin.write_text(text, encoding="utf-8")
    if kind == "before":
        if before is None:
            raise SystemExit("bench/rspamd_variants.py: variant 'before' needs --before DIR")
        plugins = dst / "rspamd" / "plugins"
        shutil.copyfile(before / "sakimori.lua", plugins / "sakimori.lua")
        for src in (before / "sakimori").glob("*.lua"):
            shutil.copyfile(src, plugins / "sakimori" / src.name)
    if kind in _MAP_SUBSETS:
        conf = dst / "rspamd" / "local.d" / "sakimori.conf"
        text = conf.read_text(encoding="utf-8")
        block = re.search(r"\nmaps \{\n(.*?)\n\}", text, flags=re.S)
        assert block, "no maps block"
        keep = [ln for ln in block.group(1).split("\n")
                if _MAP_SUBSETS[kind](ln.split("=")[0].strip())]
        conf.write_text(text[:block.start(1)] + "\n".join(keep) + text[block.end(1):],
                        encoding="utf-8")
    if kind == "notag":
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        assert "  tag(task, fired)\n" in text
        plugin.write_text(text.replace("  tag(task, fired)\n", ""), encoding="utf-8")
    if kind == "jit":
        files = [dst / "rspamd" / "plugins" / "sakimori.lua",
                 *(dst / "rspamd" / "plugins" / "sakimori").glob("*.lua")]
        hits = 0
        for f in files:
            text = f.read_text(encoding="utf-8")
            hits += text.count(_JIT_OFF)
            f.write_text(text.replace(_JIT_OFF, ""), encoding="utf-8")
        assert hits, "no jit.off line found"
    if kind == "zeroscore":
        for rel, pat in (("scores.d/sakimori_group.conf", r"(weight = )[-\d.]+;"),
                         ("local.d/sakimori.conf", r"(\n  SAKIMORI_\w+ = )[-\d.]+;")):
            conf = dst / "rspamd" / rel
            text, n = re.subn(pat, r"\g<1>0.0;", conf.read_text(encoding="utf-8"))
            assert n, f"no weight in {rel}"
            conf.write_text(text, encoding="utf-8")
    if kind in ("factsonly", "noinsert"):
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        if kind == "factsonly":
            old = "  local results = checks.evaluate(f, cfg, data)\n"
            assert old in text
            text = text.replace(old, "  if task then return end\n" + old)
        else:
            for old in ("    task:insert_result(r[1], 1.0, options)\n", "  tag(task, fired)\n"):
                assert old in text
                text = text.replace(old, "")
        plugin.write_text(text, encoding="utf-8")
    if kind in _FACT_CUTS:  # one task accessor of facts_of left out (with factsonly)
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        for old, repl in _FACT_CUTS[kind]:
            assert old in text, f"{kind}: {old!r} not found"
            text = text.replace(old, repl)
        plugin.write_text(text, encoding="utf-8")
    if kind == "ballast":  # no plugin: a Lua file keeping ~40,000 small tables alive
        (dst / "rspamd" / "plugins" / "sakimori.lua").write_text(
            "local keep = {}\nfor i = 1, 40000 do keep[i] = {m = {}, i} end\n"
            "rawset(_G, 'sakimori_ballast', keep)\n", encoding="utf-8")
    if kind == "noplugin":
        loader = dst / "rspamd" / "rspamd.conf.local"
        text = loader.read_text(encoding="utf-8")
        assert 'lua = "$LOCAL_CONFDIR/plugins/sakimori.lua";' in text
        loader.write_text(text.replace('lua = "$LOCAL_CONFDIR/plugins/sakimori.lua";', ""),
                          encoding="utf-8")
    if kind in ("noreg", "emptyone"):
        plugin = dst / "rspamd" / "plugins" / "sakimori.lua"
        text = plugin.read_text(encoding="utf-8")
        if kind == "noreg":
            reg = "\nlocal id = rspamd_config:register_symbol({"
            text = text.replace(reg, "\nif settings then return end" + reg)
        else:
            text = text.replace(_CALLBACK, _CALLBACK + "  if task then return end\n")
            text = text.replace("\nfor sym, score in pairs(settings.scores) do",
                                "\nfor sym, score in pairs({}) do")
        plugin.write_text(text, encoding="utf-8")
    if kind in ("nomaps", "emptynomaps"):
        conf = dst / "rspamd" / "local.d" / "sakimori.conf"
        text = conf.read_text(encoding="utf-8")
        conf.write_text(re.sub(r"maps \{.*?\n\}", "maps {\n}", text, flags=re.S),
                        encoding="utf-8")
    elif kind not in ("plugin", "empty", "notables", "emptynotables", "noplugin", "noreg",
                      "emptyone", "before", "factsonly", "noinsert", "ballast", "notag", "jit",
                      "zeroscore", *_MAP_SUBSETS, *_FACT_CUTS):
        raise SystemExit(f"bench/rspamd_variants.py: unknown variant {kind!r}")


def _timed(inst: RspamdInstance, batch: list) -> tuple[float, float]:
    c0, t0 = _cpu_ns(inst.pid), time.perf_counter()
    _scan_time(inst, batch)
    return time.perf_counter() - t0, _cpu_ns(inst.pid) - c0


def _idle_cpu(inst: RspamdInstance, seconds: float) -> float:
    c0 = _cpu_ns(inst.pid)
    time.sleep(seconds)
    return (_cpu_ns(inst.pid) - c0) / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=33,
                    help="messages per turn: the instances take turns chunk by chunk, so load "
                    "changes on the shared machine hit all alike")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU sampling")
    ap.add_argument("--variants", default=DEFAULT)
    ap.add_argument("--copies", type=int, default=3,
                    help="fresh instances per variant (median; the spread is the A/A noise)")
    ap.add_argument("--cpu", type=int, default=None,
                    help="core every instance is pinned to (default: the fastest; -1: unpinned)")
    ap.add_argument("--before", type=Path, help="an older rspamd_lua/ (git archive of a "
                    "commit) for the variant 'before': its plugin and modules in today's build")
    ap.add_argument("--everyday", action="store_true",
                    help="scan the learned past mail (distinct everyday mail, as bench/mail.py's "
                    "everyday row) instead of the test set")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "mail")
    args = ap.parse_args()
    if args.copies < 1 or args.reps < 1:
        ap.error("--copies and --reps must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu: int | None = one_core()[0] if args.cpu is None else (None if args.cpu < 0
                                                              else args.cpu)
    corpus = generate_corpus(args.out / "corpus")
    batch = (_everyday_batch(Path(corpus["past"]["maildir"]), args.messages) if args.everyday
             else _batch(corpus["testset"], args.messages))
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = plugin_build(corpus, tmp)
        insts: dict[tuple[str, int], RspamdInstance] = {}
        try:
            for i in range(args.copies):  # copies of a variant spread apart in the turn list
                for name in names:
                    kind, _, watch = name.partition("@")
                    build = _variant_build(kind, base, tmp / "variants", args.before)
                    inst = RspamdInstance(build, map_watch_s=float(watch or 1.0))
                    insts[(name, i)] = inst.start()
                    if cpu is not None:
                        pin_instance(inst, cpu)
            idle = {}
            for key, inst in insts.items():
                _scan_time(inst, batch[:50])  # warm-up: caches, tables, JIT
                idle[key] = _idle_cpu(inst, args.idle)
            cpus: dict[tuple[str, int], list[float]] = {k: [] for k in insts}
            walls: dict[tuple[str, int], list[float]] = {k: [] for k in insts}
            order = list(insts)
            per_chunk: dict[tuple[str, int], dict[int, list[float]]] = {k: {} for k in insts}
            for rep in range(args.reps):
                for key in insts:
                    walls[key].append(0.0)
                    cpus[key].append(0.0)
                for k in range(0, len(batch), args.chunk):  # fine-grained alternation
                    chunk = batch[k:k + args.chunk]
                    turn = order[(rep + k) % len(order):] + order[:(rep + k) % len(order)]
                    for key in turn:
                        wall, used = _timed(insts[key], chunk)
                        walls[key][-1] += wall
                        cpus[key][-1] += used
                        per_chunk[key].setdefault(k, []).append(used)
        finally:
            for inst in insts.values():
                inst.stop()
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # one instance's CPU: the mean over reps of its whole passes (collector cycles included);
    # each chunk's fastest rep, summed, shown beside it as a lower bound only
    per_cpu = _mean_passes(cpus)
    per_fast = _fastest_chunks(per_chunk)
    fast_of = {n: statistics.median(per_fast[(n, i)] for i in range(args.copies))
               for n in names}
    per_wall = {k: statistics.median(v) for k, v in walls.items()}
    cpu_of = {n: statistics.median(per_cpu[(n, i)] for i in range(args.copies)) for n in names}
    wall = {n: statistics.median(per_wall[(n, i)] for i in range(args.copies)) for n in names}
    idle_of = {n: statistics.median(idle[(n, i)] for i in range(args.copies)) for n in names}
    where = f"pinned to CPU {cpu}" if cpu is not None else "unpinned"
    print(f"{args.messages} messages x {args.reps} reps, {args.copies} instance(s) per variant "
          f"({where}), medians; load {load_start} -> {load_end}")
    print(f"{'variant':<16} {'CPU s':>7} {'ratio':>6} {'ms/msg':>7} {'wall s':>7} {'ratio':>6} "
          f"{'idle CPU %':>10} {'fastest':>9}  {'A/A spread':>10}  per instance CPU s")
    for n in names:
        base_name = "without@" + n.partition("@")[2] if "@" in n else "without"
        b = base_name if base_name in cpu_of else "without"
        values = [per_cpu[(n, i)] for i in range(args.copies)]
        spread = (max(values) - min(values)) / statistics.median(values)
        print(f"{n:<16} {cpu_of[n]:>7.3f} {cpu_of[n] / cpu_of[b]:>6.3f} "
              f"{1000 * cpu_of[n] / args.messages:>7.3f} {wall[n]:>7.3f} "
              f"{wall[n] / wall[b]:>6.3f} {100 * idle_of[n]:>10.2f} "
              f"{fast_of[n] / fast_of[b]:>9.3f}  "
              f"{100 * spread:>9.1f}%  "
              + " ".join(f"{v:.3f}" for v in values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
