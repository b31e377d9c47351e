"""Mail benchmark: learning speed (mails/s) and Rspamd's cost with the sakimori plugin.

Run: ``.venv/bin/python bench/mail.py [--messages 200] [--reps 3] [--out DIR]`` (also part of
``make bench``). Everything is measured in this run against a baseline from the same run:

1. ``learn --mail``: ``MailLearner`` over the example past-mail Maildir (``sakimori_demo.mailsim``),
   mails/s (median of ``--reps``).
2. Rspamd: the same ``--messages`` messages (the example test set, cycled) scanned one after the
   other by three private Rspamd 3.4 instances (same offline profile), started before timing:
   **without** sakimori, with the generated **plugin** and maps but no metadata_exporter, and
   with the plugin **and the exporter** posting flagged mails to the harness's receiver. The
   figures are the medians over reps of the total wall time of the scans; the goal (≤ 1.05)
   is on plugin ÷ without — the plugin's own cost. The exporter is shown apart: Rspamd's reply
   to a flagged mail waits for the post to be answered, and half of this test set is flagged
   (in real mail flow, a small fraction).
"""

from __future__ import annotations

import argparse
import logging
import shutil
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
from sakimori.rspamd import RspamdInstance  # noqa: E402
from sakimori_demo.mailsim import generate_corpus  # noqa: E402

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
        plugin_only = Path(tmp) / "plugin-only"
        shutil.copytree(build, plugin_only)
        (plugin_only / "rspamd" / "local.d" / "metadata_exporter.conf").unlink()
        with RspamdInstance(build) as exporter, RspamdInstance(plugin_only) as plugin, \
                RspamdInstance(None) as without:
            runs = {"exporter": exporter, "plugin": plugin, "without": without}
            for inst in runs.values():  # warm-up
                _scan_time(inst, batch[:20])
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.reps):  # alternate so drift hits all alike
                for name, inst in runs.items():
                    times[name].append(_scan_time(inst, batch))
            flagged = len(exporter.sink.events) if exporter.sink is not None else 0
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["plugin"] / med["without"]
    ratio_exp = med["exporter"] / med["without"]
    n = args.messages
    base = f"without: {med['without']:.3f} s"
    print(f"{'figure':<52} {'value':>14} {'baseline (same run)':>26} {'ratio':>7}  goal")
    print(f"{'learn --mail: mails/s (Maildir, median)':<52} {rate:>14,.0f} "
          f"{f'{count} mails':>26} {'':>7}  -")
    print(f"{f'Rspamd, {n} messages with the plugin (s)':<52} {med['plugin']:>14.3f} "
          f"{base:>26} {ratio:>7.3f}  ≤ {GOAL_RATIO} "
          f"{'PASS' if ratio <= GOAL_RATIO else 'MISS'}")
    print(f"{f'  … plus the exporter ({flagged} flagged posts) (s)':<52} "
          f"{med['exporter']:>14.3f} {base:>26} "
          f"{ratio_exp:>7.3f}  -")
    print(f"per message: {1000 * med['plugin'] / n:.2f} ms with the plugin, "
          f"{1000 * med['exporter'] / n:.2f} ms with plugin and exporter, "
          f"{1000 * med['without'] / n:.2f} ms without (client wall time, sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
