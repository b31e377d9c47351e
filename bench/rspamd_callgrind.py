"""Rspamd's scanning work per mail in instructions (callgrind), per variant of the plugin.

Run: ``.venv/bin/python bench/rspamd_callgrind.py [--messages 100,900]
[--variants without,noreg,plugin] [--before DIR] [--keep DIR] [--whole]`` (needs valgrind; not
part of ``make bench``: every variant and length is one Rspamd start under callgrind, ≈ 0.5–2 min
each).

Timing Rspamd on a shared 2-core machine moves by ±3–6 % between identical instances
(``bench/rspamd_variants.py``); this counts instructions instead. Each variant (the kinds of
``bench/rspamd_variants.py``, ``+`` combinations included) runs as a private Rspamd 3.4 under
``valgrind --tool=callgrind`` with collection only inside ``rspamd_task_process`` and
``rspamd_task_free`` (a task's whole processing — symbols, their Lua, the Lua garbage collector
steps they trigger, composites, the reply's result, the task's freeing — but not start-up,
timers or map checks; ``bench/rspamd_variants.py`` measures idle CPU). ``--whole`` counts
every instruction of every Rspamd process instead (the HTTP request and reply, the action's
milter headers, logging: what the CPU figure of ``bench/mail.py`` also pays; docs/bench.md,
"Issue 15 after the night's merges"). The scanner's file is kept. Every variant is run once
per length in ``--messages`` (the example test set, cycled — ``--everyday``: the learned
past mail, distinct mails —, after the same warm-up); the figure per mail is the difference
of the two counts divided by the difference of the lengths, so start-up and first-sight work
(memo tables filling) cancel (with ``--everyday`` every mail is a first sight, as in real
flow).
Rspamd compiles some hyperscan multipatterns lazily inside the first tasks, in varying amounts
from run to run (≈ 190–250 M instructions); ``rspamd_multipattern_compile`` (inclusive) is
therefore subtracted from every count — without that, one variant's figure moves by up to
±0.2 M instructions per mail between identical runs; with it, by ≈ ±0.3 % over a span of
200 mails (a plugin's ±30 k per mail between runs: more than a 20 k change), by 0.01–0.02 %
over 800 — the default 100,900 (docs/bench.md, "Issue 15 item 4, sixth round") — for repeated
runs of one build; but where the span's ends fall in the Lua collector's cycles still moves a
variant by up to ≈ ±0.5 % when its allocation changes, so a change of a few tens of k per mail
needs ``--messages 100,2900`` (≈ 3 min per variant) and more than one run (eighth round).

Under valgrind the instances get their own DBDIR base, ``--base-dir`` (never the shared
``/var/tmp/sakimori-rspamd`` of the tests and benches: Rspamd under valgrind sees another CPU
model and rewrites the hyperscan cache for it, and a native Rspamd then recompiles it), kept
between runs — its first start compiles the URL suffix matcher under valgrind (several minutes);
later starts take ≈ 30 s. ``disable_hyperscan = true`` (regular expressions run through PCRE;
multipattern matching still uses hyperscan), so the absolute counts are not those of a native
Rspamd — the differences between variants are the figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from mail import _batch, _everyday_batch, _scan_time  # noqa: E402
from rspamd_variants import _variant_build, plugin_build  # noqa: E402

from sakimori.rspamd import RspamdInstance  # noqa: E402
from sakimori_demo.mailsim import generate_corpus  # noqa: E402

WARM = 40
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.M)
_COMPILE = re.compile(r"^\s*([\d,]+) .*:rspamd_multipattern_compile \[", re.M)


class CallgrindInstance(RspamdInstance):
    """A private Rspamd under callgrind: hyperscan off (see the module docstring)."""

    def _write_config(self) -> None:
        super()._write_config()
        opts = self.etc / "override.d" / "options.inc"
        opts.write_text(opts.read_text(encoding="utf-8") + "disable_hyperscan = true;\n",
                        encoding="utf-8")


def _wrapper(path: Path, out_dir: Path, whole: bool = False) -> Path:
    """An executable that runs rspamd under callgrind; output files ``$CG_TAG.PID.out``;
    *whole*: every instruction of every process, not only the tasks'."""
    toggles = "" if whole else \
        "--toggle-collect=rspamd_task_process --toggle-collect=rspamd_task_free "
    path.write_text("#!/bin/sh\nexec valgrind --tool=callgrind "
                    f"{toggles}"
                    f"--callgrind-out-file={out_dir}/$CG_TAG.%p.out {shutil.which('rspamd')} "
                    '"$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def _compile_cost(path: Path) -> int:
    """Inclusive instructions of ``rspamd_multipattern_compile`` in one callgrind file."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                         capture_output=True, text=True, check=True).stdout
    m = _COMPILE.search(out)
    return int(m.group(1).replace(",", "")) if m else 0


def _count(out_dir: Path, tag: str, whole: bool = False) -> int:
    """Instructions of the scanning worker (the largest count among the tag's processes: the
    main process, the controller and the hs_helper run no task) — with *whole*, of all of
    them — lazy multipattern compilation left out."""
    counts = [(int(m.group(1)), f) for f in out_dir.glob(f"{tag}.*.out")
              if (m := _SUMMARY.search(f.read_text(encoding="utf-8", errors="replace")))]
    if not counts:
        raise SystemExit(f"bench/rspamd_callgrind.py: no callgrind output for {tag}")
    total, path = max(counts)
    if whole:
        total = sum(c for c, _ in counts)
    return total - _compile_cost(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", default="100,900",
                    help="two run lengths (messages after the warm-up); the figure per mail "
                    "is the difference of their counts")
    ap.add_argument("--variants", default="without,noreg,plugin")
    ap.add_argument("--before", type=Path, help="an older rspamd_lua/ for the variant 'before'")
    ap.add_argument("--base-dir", type=Path, default=Path("/var/tmp/sakimori-rspamd-callgrind"),
                    help="DBDIR slots and hyperscan cache of the instances under valgrind "
                    "(kept between runs; never the tests' /var/tmp/sakimori-rspamd)")
    ap.add_argument("--whole", action="store_true",
                    help="count every instruction of every Rspamd process (the HTTP request and "
                    "reply, logging, timers, map checks), not only the tasks'")
    ap.add_argument("--keep", type=Path, help="keep the callgrind files here (for "
                    "callgrind_annotate)")
    ap.add_argument("--everyday", action="store_true",
                    help="scan the learned past mail (distinct everyday mail: first sight for "
                    "every mail, as in real flow) instead of the test set")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not installed", file=sys.stderr)
        return 2
    lengths = sorted(int(x) for x in args.messages.split(","))
    if len(lengths) != 2 or lengths[0] >= lengths[1]:
        raise SystemExit("bench/rspamd_callgrind.py: --messages takes two lengths, e.g. 100,300")
    logging.basicConfig(level=logging.ERROR)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    corpus = generate_corpus(REPO / "bench" / "out" / "mail" / "corpus")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="sakimori-callgrind-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        out_dir = args.keep or (tmp / "cg")
        out_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(out_dir, 0o1777)  # the scanner writes its file as _rspamd
        wrapper = _wrapper(tmp / "rspamd-callgrind", out_dir, args.whole)
        base_dir = args.base_dir
        base = plugin_build(corpus, tmp)
        counts: dict[str, list[int]] = {}
        for name in names:
            kind, _, watch = name.partition("@")
            build = _variant_build(kind, base, tmp / "variants", args.before)
            counts[name] = []
            for n in lengths:
                batch = (_everyday_batch(Path(corpus["past"]["maildir"]), WARM + n)
                         if args.everyday else _batch(corpus["testset"], WARM + n))
                tag = re.sub(r"[^\w]", "_", f"{name}-{n}")
                os.environ["CG_TAG"] = tag
                inst = CallgrindInstance(build, binary=str(wrapper), base_dir=base_dir,
                                         map_watch_s=float(watch or 1.0), start_timeout=600)
                t0 = time.monotonic()
                inst.start()
                try:
                    _scan_time(inst, batch)
                finally:
                    inst.stop()
                counts[name].append(_count(out_dir, tag, args.whole))
                print(f"  {name} {n}: {counts[name][-1]:,} instructions "
                      f"({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    span = lengths[1] - lengths[0]
    per = {n: (c[1] - c[0]) / span for n, c in counts.items()}
    ref = per.get("without")
    where = "all Rspamd processes" if args.whole else "rspamd_task_process/free"
    print(f"instructions per mail in {where}, lazy multipattern compilation "
          f"left out (callgrind; mails {lengths[0]} and {lengths[1]} after {WARM} warm-up; "
          f"load {load})")
    print(f"{'variant':<24} {'per mail':>12} {'ratio':>7} {'+ per mail':>11}")
    for name, v in per.items():
        ratio = f"{v / ref:7.3f}" if ref else "      -"
        extra = f"{v - ref:>11,.0f}" if ref else "          -"
        print(f"{name:<24} {v:>12,.0f} {ratio} {extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
