"""Mail benchmark: learning speed (mails/s) and Rspamd's cost with the sakimori plugin.

Run: ``.venv/bin/python bench/mail.py [--messages 200] [--reps 3] [--out DIR]`` (also part of
``make bench``). Everything is measured in this run against a baseline from the same run:

1. ``learn --mail``: ``MailLearner`` over the example past-mail Maildir (``sakimori.mailsim``),
   mails/s (median of ``--reps``).
2. Rspamd: the same ``--messages`` messages (the example test set, cycled) scanned one after the
   other by a private Rspamd 3.4 **with** the generated plugin and maps and one **without**
   (same offline profile); the figure is the median over reps of the total wall time of the
   scans, and the ratio with ÷ without (goal ≤ 1.05). The instances are started before timing.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generator.mail.learn import MailLearner  # noqa: E402
from generator.render_rspamd import write_rspamd  # noqa: E402
from sakimori.config import load_config  # noqa: E402
from sakimori.mailsim import generate_corpus  # noqa: E402
from sakimori.rspamd import RspamdInstance  # noqa: E402

GOAL_RATIO = 1.05


def _learn(cfg, maildir: Path, reps: int) -> tuple[float, int, dict]:
    rates, doc = [], {}
    count = 0
    for _ in range(reps):
        learner = MailLearner(cfg)
        t0 = time.perf_counter()
        learner.add_path(maildir)
        elapsed = time.perf_counter() - t0
        doc = learner.document()
        count = int(doc["mail"]["messages"]) + int(doc["mail"].get("broken", 0))
        rates.append(count / elapsed)
    return statistics.median(rates), count, doc


def _scan_time(inst: RspamdInstance, batch: list[tuple[bytes, dict]]) -> float:
    t0 = time.perf_counter()
    for message, env in batch:
        inst.scan(message, **env)
    return time.perf_counter() - t0


def _batch(testset: dict, n: int) -> list[tuple[bytes, dict]]:
    root = Path(testset["dir"])
    cases = testset["cases"]
    out = []
    for i in range(n):
        case = cases[i % len(cases)]
        env = {"ip": case.get("ip"), "mail_from": case.get("envelope_from"),
               "rcpt": case.get("rcpt") or (), "helo": case.get("helo"),
               "hostname": case.get("hostname"), "user": case.get("user")}
        out.append(((root / case["file"]).read_bytes(), env))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "mail")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the corpus' 4 broken mails are expected
    cfg = load_config(REPO / "examples" / "sakimori.yaml", env={})
    corpus = generate_corpus(args.out / "corpus")
    rate, count, doc = _learn(cfg, Path(corpus["past"]["maildir"]), args.reps)
    batch = _batch(corpus["testset"], args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        write_rspamd(cfg, doc, build)
        with RspamdInstance(build) as with_plugin, RspamdInstance(None) as without:
            for inst in (with_plugin, without):  # warm-up
                _scan_time(inst, batch[:20])
            times: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(args.reps):  # alternate so drift hits both alike
                times["with"].append(_scan_time(with_plugin, batch))
                times["without"].append(_scan_time(without, batch))
    w, wo = statistics.median(times["with"]), statistics.median(times["without"])
    ratio = w / wo
    print(f"{'figure':<52} {'value':>14} {'baseline (same run)':>26} {'ratio':>7}  goal")
    print(f"{'learn --mail: mails/s (Maildir, median)':<52} {rate:>14,.0f} "
          f"{f'{count} mails':>26} {'':>7}  -")
    print(f"{f'Rspamd, {args.messages} messages with the plugin (s)':<52} {w:>14.3f} "
          f"{f'without: {wo:.3f} s':>26} {ratio:>7.3f}  ≤ {GOAL_RATIO} "
          f"{'PASS' if ratio <= GOAL_RATIO else 'MISS'}")
    print(f"per message: {1000 * w / args.messages:.2f} ms with, "
          f"{1000 * wo / args.messages:.2f} ms without (client wall time, sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
