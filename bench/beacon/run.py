"""Beacon benchmark: sakimori's beacon detector against the RITA v5 reference, same data.

``python bench/beacon/run.py`` (part of ``make bench``):

1. generates one day of flows per seed (``generate.py``: ~2.1M flows, ~12,800 pairs, 2,000
   hosts; slow, fast and short beacon families with jitter 0–90 %, missing beats, sleep
   changes, nights off; benign human sessions, browsing bursts, Poisson, popular periodic
   services and fleets over hundreds of hosts, fast benign services, rare pollers, failed
   retries);
2. scores every pair with both detectors (``detectors.py``; the same prevalence rule for both);
3. picks each detector's threshold on the **training seeds** at ≤ 1 false host per 1,000
   benign hosts, and reports on the **test seeds** (never used for tuning): recall per beacon
   family (slow, fast, short) and jitter level, false positives per 1,000 benign pairs and per
   1,000 benign hosts — for sakimori also at its shipped default threshold
   (``traffic.beacon_threshold``);
4. writes ``recall_vs_jitter.png`` and ``results.json`` into ``--out``;
5. times each detector on one day of the first test seed in its own process on one core
   (``timing.py``): analysis time and peak RSS;
6. prints, under the table, the best recall *any* test can reach on the short family at the
   false-host budget (``bound.py``, a Neyman–Pearson bound per jitter level).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import bound  # noqa: E402
import detectors  # noqa: E402
import numpy as np  # noqa: E402
from evaluate import (  # noqa: E402
    FP_BUDGET,
    Scored,
    flagged_fraction,
    fp_hosts_per_1000,
    fp_per_1000,
    recall_by_jitter,
    threshold_at_budget,
)
from generate import JITTER_LEVELS, generate  # noqa: E402

from sakimori.config import DEFAULTS  # noqa: E402

GOALS = {"recall_le_50": 0.95, "recall_90": 0.85, "fp_per_1000": 1.0,
         "fp_hosts_per_1000": 1.0, "time_s": 15.0, "rss_mib": 1024.0}
FAMILIES = ("slow", "fast", "short")


def score_seed(seed: int) -> dict[str, Scored]:
    data = generate(seed)
    common = detectors.prevalent_pairs(data)
    out = {}
    for name, scores in (("sakimori", detectors.sakimori_scores(data, hourly=False)),
                         ("rita", detectors.rita_scores(data))):
        out[name] = Scored(np.where(common, 0.0, scores), data.label, data.jitter,
                           np.asarray(data.family), data.host[:data.n_pairs])
    return out


def timing(mode: str, seed: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(HERE / "timing.py"), mode, "--seed", str(seed)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    x = [100 * j for j in JITTER_LEVELS]
    for key, fam, label, style in (
            ("sakimori_default", "slow", "sakimori slow (10 s–1 h)", "o-"),
            ("sakimori_default", "fast", "sakimori fast (1–10 s)", "s-"),
            ("sakimori_default", "short", "sakimori short (5–10 beats)", "d-"),
            ("rita_budget", "slow", "RITA v5 reference slow (threshold at budget)", "^--")):
        rec = results["detectors"][key]
        ax.plot(x, [rec["recall_by_family"][fam][str(j)] for j in JITTER_LEVELS], style,
                label=f"{label}: {rec['fp_hosts_per_1000']:.2f} FP/1000 hosts")
    if "short_bound" in results:  # the best any test can do on the short family
        label, row = list(results["short_bound"].items())[1]
        ax.plot(x, [row[str(j)] for j in JITTER_LEVELS], "d:", color="grey",
                label=f"short: Neyman–Pearson bound ({label})")
    ax.axhline(0.95, color="grey", lw=0.8, ls=":")
    ax.axhline(0.85, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("beacon jitter (%)")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Beacon recall vs jitter, test seeds {results['test_seeds']} "
                 f"(≤ {1000 * FP_BUDGET:g} false host/1000 benign hosts on training seeds)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(train: list[dict[str, Scored]], test: list[dict[str, Scored]]) -> dict[str, Any]:
    default = float(DEFAULTS["traffic"]["beacon_threshold"])
    out: dict[str, Any] = {}
    for name in ("sakimori", "rita"):
        thr = threshold_at_budget([r[name] for r in train])
        choices = [("budget", thr)] + ([("default", default)] if name == "sakimori"
                                       else [("at_its_0.7", 0.7)])
        for tag, t in choices:
            runs = [r[name] for r in test]
            fp, n_fp, n_benign = fp_per_1000(runs, t)
            fph, n_fph, n_hosts = fp_hosts_per_1000(runs, t)
            polled, pollers = flagged_fraction(runs, t, "rare_poller")
            out[f"{name}_{tag}"] = {
                "threshold": round(t, 4),
                "recall": {str(j): round(v, 4)
                           for j, v in recall_by_jitter(runs, t, JITTER_LEVELS).items()},
                "recall_by_family": {
                    fam: {str(j): round(v, 4) for j, v in
                          recall_by_jitter(runs, t, JITTER_LEVELS, fam).items()}
                    for fam in FAMILIES},
                "fp_per_1000": round(fp, 3), "false_positives": n_fp,
                "benign_pairs": n_benign,
                "fp_hosts_per_1000": round(fph, 3), "false_hosts": n_fph,
                "benign_hosts": n_hosts,
                "rare_pollers_reported": [polled, pollers],
                "train_fp_per_1000": round(fp_per_1000([r[name] for r in train], t)[0], 3),
            }
    return out


def print_table(res: dict[str, Any]) -> None:
    levels = [str(j) for j in JITTER_LEVELS]
    head = (f"{'detector':22s} {'family':6s} {'thr':>6s} "
            + " ".join(f"{float(j):>6.0%}" for j in levels))
    print(head + f" {'FP/1000 pairs':>13s} {'FP/1000 hosts':>13s}")
    for key, rec in res["detectors"].items():
        for fam in ("all", *FAMILIES):
            recall = rec["recall"] if fam == "all" else rec["recall_by_family"][fam]
            row = " ".join(f"{recall[j]:6.3f}" for j in levels)
            tail = (f" {rec['fp_per_1000']:13.2f} {rec['fp_hosts_per_1000']:13.2f}"
                    if fam == "all" else "")
            print(f"{key if fam == 'all' else '':22s} {fam:6s} {rec['threshold']:6.3f} "
                  f"{row}{tail}")
    for key, rec in res["detectors"].items():
        hit, total = rec["rare_pollers_reported"]
        print(f"{key}: {rec['false_hosts']} false hosts of {rec['benign_hosts']:,} benign; "
              f"rare single-host pollers reported: {hit}/{total} (not separable by timing)")


def short_bound(runs: int = 100_000) -> dict[str, dict[str, float]]:
    """The short family's Neyman–Pearson recall bound per jitter level, for each budget
    reading of ``bound.ALPHAS`` (n uniform on 4–9 intervals, as generated)."""
    return {label: {str(j): round(v, 3) for j, v in
                    bound.family_bound(bound.table(alpha, runs)).items()}
            for label, alpha in bound.ALPHAS}


def print_bound(res: dict[str, Any]) -> None:
    measured = res["detectors"]["sakimori_default"]["recall_by_family"]["short"]
    print("short family: measured recall (sakimori_default) and the best any test can reach")
    print(f"{'':52s} " + " ".join(f"{j:>6.0%}" for j in JITTER_LEVELS))
    print(f"{'measured':52s} " + " ".join(f"{measured[str(j)]:6.3f}" for j in JITTER_LEVELS))
    for label, row in res["short_bound"].items():
        print(f"{'bound: ' + label:52s} "
              + " ".join(f"{row[str(j)]:6.3f}" for j in JITTER_LEVELS))


def goals(res: dict[str, Any]) -> list[tuple[str, bool]]:
    sak = res["detectors"]["sakimori_default"]
    rita = res["detectors"]["rita_budget"]
    out = []
    top = next(reversed(res["short_bound"].values()), None) if "short_bound" in res else None
    for fam in FAMILIES:
        rec = sak["recall_by_family"][fam]
        low = min(rec[str(j)] for j in JITTER_LEVELS if j <= 0.5)
        note = ""
        if fam == "short" and top is not None:
            best = min(top[str(j)] for j in JITTER_LEVELS if j <= 0.5)
            note = f"; NP bound {best:.3f}, at 90 %: {top['0.9']:.3f}"
        out.append((f"{fam}: recall >= 0.95 at jitter <= 50 % (min {low:.3f}{note})",
                    low >= GOALS["recall_le_50"]))
        out.append((f"{fam}: recall >= 0.85 at 90 % ({rec['0.9']:.3f})",
                    rec["0.9"] >= GOALS["recall_90"]))
    out.append((f"<= 1 FP per 1,000 benign pairs ({sak['fp_per_1000']:.2f})",
                sak["fp_per_1000"] <= GOALS["fp_per_1000"]))
    out.append((f"<= 1 false host per 1,000 benign hosts ({sak['fp_hosts_per_1000']:.2f})",
                sak["fp_hosts_per_1000"] <= GOALS["fp_hosts_per_1000"]))
    ahead = all(sak["recall"][str(j)] >= rita["recall"][str(j)] for j in JITTER_LEVELS)
    fair = sak["fp_hosts_per_1000"] <= max(rita["fp_hosts_per_1000"], 1000 * FP_BUDGET)
    out.append(("ahead of RITA at every jitter level at the same FP budget", ahead and fair))
    t = res.get("timing", {}).get("sakimori")
    if t:
        out.append((f"{t['flows']:,} flows / {t['pairs']:,} pairs in < 15 s "
                    f"({t['wall_s']:.1f} s)", t["wall_s"] < GOALS["time_s"]))
        out.append((f"peak RSS < 1 GB ({t['peak_rss_mib']:.0f} MiB)",
                    t["peak_rss_mib"] < GOALS["rss_mib"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="beacon benchmark: sakimori vs RITA v5 reference")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[11, 12, 13])
    ap.add_argument("--out", type=Path, default=HERE.parent / "out" / "beacon")
    ap.add_argument("--no-timing", action="store_true", help="skip the timed runs")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"beacon bench: training seeds {args.train_seeds}, test seeds {args.test_seeds}",
          flush=True)
    train = [score_seed(s) for s in args.train_seeds]
    test = [score_seed(s) for s in args.test_seeds]
    res: dict[str, Any] = {"train_seeds": args.train_seeds, "test_seeds": args.test_seeds,
                           "fp_budget_per_1000": 1000 * FP_BUDGET,
                           "detectors": evaluate(train, test)}
    if not args.no_timing:
        res["timing"] = {name: timing(mode, args.test_seeds[0]) for name, mode in
                         (("sakimori", "sakimori"), ("sakimori_hourly", "sakimori-hourly"),
                          ("rita", "rita"))}
    res["short_bound"] = short_bound()
    print_table(res)
    print_bound(res)
    for name, t in res.get("timing", {}).items():
        print(f"time {name:16s} {t['flows']:,} flows / {t['pairs']:,} pairs: "
              f"{t['wall_s']:.2f} s wall, {t['cpu_s']:.2f} s CPU, peak RSS "
              f"{t['peak_rss_mib']:.0f} MiB")
    if "timing" in res:
        sak, rita = res["timing"]["sakimori"], res["timing"]["rita"]
        print(f"ratio sakimori / RITA reference time: {sak['wall_s'] / rita['wall_s']:.2f}")
    res["goals"] = [{"goal": g, "pass": ok} for g, ok in goals(res)]
    for g in res["goals"]:
        print(f"{'PASS' if g['pass'] else 'MISS'}  {g['goal']}")
    plot(res, args.out / "recall_vs_jitter.png")
    (args.out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"plot: {args.out / 'recall_vs_jitter.png'}\nresults: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
