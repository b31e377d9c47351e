"""URL shape model against the length statistic, on labelled URLs (docs/bench.md).

Run: ``.venv/bin/python bench/url_model.py [--json F]`` (also part of ``make bench``, ~20 s).

Detectors, each fitted on the *training* benign URLs only (nothing is evaluated on what it
learned from; the split is by source, bench/url_data.py):

- ``length_deployed``: the long_url statistic exactly as ``learn`` computes it
  (generator/thresholds.py: ``max(exp(median ln L + 6·MAD), p99.9, 200)``);
- ``length@b``: URL length with its threshold at the training (1 − b) quantile;
- ``iforest@b``: scikit-learn IsolationForest over bench/url_features.py's 13 shape features;
- ``tail@b``: per-feature upper-tail surprise (max over features of −log10 of the training
  share at or above the value; plain JSON quantiles, no scikit-learn).

Budgets ``b`` (training false-positive rate) 0.1 %, 1 %, 5 %; every model row carries its FP
rate and recall relative to ``length@b`` at the same budget, in the same run. ``len|model@b``
rows: the deployed length rule *or* the model (the model as a complement to the rule).
Verdict: :func:`verdict` (a model must find more of the real-derived C2 URLs than the length
statistic at a matched budget, on every split, with at most 1.5 × its FP rate).
Splits: ``seen`` (test benign = the same families, other seeds: like the next day of the
same office) and ``unseen`` (two folds, each trained on half of the hard-negative families
and tested on the other half plus the real-capture benign URLs: pessimistic).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import url_data  # noqa: E402
from realdata import shared_data_dir  # noqa: E402
from url_features import NAMES, features  # noqa: E402

from generator.stats import LogHistogram  # noqa: E402
from generator.thresholds import url_length  # noqa: E402

BUDGETS = (0.001, 0.01, 0.05)
FAMILY_FOLDS = (("google", "next_chunk", "ga4", "adserver", "s3_signed", "youtube", "av_update"),
                ("bing", "cdn_media", "fbpixel", "ocsp", "oauth", "winupdate"))
Scorer = Callable[[Sequence[str]], np.ndarray]


def matrix(urls: Sequence[str]) -> np.ndarray:
    return np.array([features(u) for u in urls], dtype=float)


def fit_length(train: Sequence[str]) -> Scorer:
    return lambda urls: np.array([len(u) for u in urls], dtype=float)


def fit_iforest(train: Sequence[str]) -> Scorer:
    from sklearn.ensemble import IsolationForest
    model = IsolationForest(n_estimators=200, max_samples=256, random_state=0)
    model.fit(matrix(train))
    return lambda urls: -model.score_samples(matrix(urls))


def fit_tail(train: Sequence[str]) -> Scorer:
    x = np.sort(matrix(train), axis=0)
    n = len(x)

    def score(urls: Sequence[str]) -> np.ndarray:
        m = matrix(urls)
        out = np.zeros(len(m))
        for j in range(m.shape[1]):
            above = n - np.searchsorted(x[:, j], m[:, j], side="left")
            out = np.maximum(out, -np.log10((above + 1) / (n + 1)))
        return out
    return score


DETECTORS = {"length": fit_length, "iforest": fit_iforest, "tail": fit_tail}


def rates(scores: np.ndarray, labels: np.ndarray, thr: float) -> dict[str, float]:
    hit = scores > thr
    tp, fp = int(np.sum(hit & labels)), int(np.sum(hit & ~labels))
    pos, neg = int(labels.sum()), int((~labels).sum())
    return {"recall": tp / pos if pos else 0.0, "fpr": fp / neg if neg else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "tp": tp, "fp": fp,
            "pos": pos, "neg": neg}


def evaluate(train: list[str], test: list[tuple[str, str, bool]]) -> list[dict]:
    """Rows for one train/test split."""
    urls = [u for _, u, _ in test]
    labels = np.array([lab for _, _, lab in test])
    hist = LogHistogram()
    for u in train:
        hist.add(len(u))
    deployed = url_length(hist, 6.0)["threshold"]
    lengths = np.array([len(u) for u in urls], dtype=float)
    rows = [{"detector": "length_deployed", "budget": None, "threshold": deployed,
             **rates(lengths, labels, float(deployed)),
             "by_source": _by_source(test, lengths, float(deployed))}]
    combos: list[dict] = []
    for name, fit in DETECTORS.items():
        t0 = time.perf_counter()
        scorer = fit(train)
        train_scores = scorer(train)
        test_scores = scorer(urls)
        secs = time.perf_counter() - t0
        for b in BUDGETS:
            thr = float(np.quantile(train_scores, 1 - b, method="higher"))
            row = {"detector": f"{name}@{b:g}", "budget": b, "threshold": round(thr, 4),
                   **rates(test_scores, labels, thr), "fit_score_s": round(secs, 3)}
            row["by_source"] = _by_source(test, test_scores, thr)
            rows.append(row)
            if name != "length":
                either = ((lengths > deployed) | (test_scores > thr)).astype(float)
                combos.append({"detector": f"len|{name}@{b:g}", "budget": "either",
                               "threshold": f"{deployed}|{thr:.3g}",
                               **rates(either, labels, 0.5),
                               "by_source": _by_source(test, either, 0.5)})
    return rows + combos


def _by_source(test: list[tuple[str, str, bool]], scores: np.ndarray, thr: float) -> dict:
    groups: dict[str, list[int]] = {}
    for i, (src, _, _) in enumerate(test):
        key = "et-derived" if src.startswith("et:") else src
        groups.setdefault(key, []).append(i)
    return {k: f"{int(np.sum(scores[idx] > thr))}/{len(idx)}" for k, idx in groups.items()}


def positives(data: Path, seed: int = 0) -> list[tuple[str, str, bool]]:
    pos = url_data.et_derived(data / "et-open", seed=7 + seed)
    pos += [(s, u) for s, u in dict.fromkeys(url_data.captures(data)) if s == "capture:c2"]
    pos += url_data.officesim_exfil(40, seed=5 + seed)
    pos += url_data.short_exfil(40, seed=5 + seed)
    return [(s, u, True) for s, u in pos]


Labelled = list[tuple[str, str, bool]]


def splits(data: Path, seed: int = 0) -> dict[str, list[tuple[list[str], Labelled]]]:
    cap_benign = [(s, u, False) for s, u in dict.fromkeys(url_data.captures(data))
                  if s == "capture:benign"]
    pos = positives(data, seed)
    one, two = 1 + 10 * seed, 2 + 10 * seed
    every = [f for fold in FAMILY_FOLDS for f in fold]
    seen_train = [u for _, u in url_data.officesim(4000, one)
                  + url_data.realshape(every, 150, one)]
    seen_test = [(s, u, False) for s, u in url_data.officesim(4000, two)
                 + url_data.realshape(every, 150, two)] + cap_benign + pos
    out = {"seen": [(seen_train, seen_test)], "unseen": []}
    for a, b in (FAMILY_FOLDS, FAMILY_FOLDS[::-1]):
        train = [u for _, u in url_data.officesim(4000, one)
                 + url_data.realshape(list(a), 150, one)]
        test = [(s, u, False) for s, u in url_data.realshape(list(b), 150, two)] \
            + cap_benign + pos
        out["unseen"].append((train, test))
    return out


def pooled(rows_per_fold: list[list[dict]]) -> list[dict]:
    """Sum the counts of the folds (same detector order in each)."""
    out = []
    for rows in zip(*rows_per_fold, strict=True):
        tp, fp = sum(r["tp"] for r in rows), sum(r["fp"] for r in rows)
        pos, neg = sum(r["pos"] for r in rows), sum(r["neg"] for r in rows)
        by: dict[str, list[int]] = {}
        for r in rows:
            for k, v in r.get("by_source", {}).items():
                a, b = (int(x) for x in v.split("/"))
                by[k] = [by.get(k, [0, 0])[0] + a, by.get(k, [0, 0])[1] + b]
        out.append({"detector": rows[0]["detector"], "budget": rows[0]["budget"],
                    "threshold": "/".join(str(r["threshold"]) for r in rows),
                    "recall": tp / pos, "fpr": fp / neg,
                    "precision": tp / (tp + fp) if tp + fp else 0.0,
                    "tp": tp, "fp": fp, "pos": pos, "neg": neg,
                    "by_source": {k: f"{a}/{b}" for k, (a, b) in by.items()}})
    return out


POS_GROUPS = (("et-derived", "ET"), ("capture:c2", "cap C2"), ("officesim:exfil", "long exfil"),
              ("synthetic:short_exfil", "short exfil"))


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "inf" if a > 0 else "="
    return f"{a / b:.2f}"


def group_recall(row: dict, group: str) -> tuple[float, str]:
    hit, n = (int(x) for x in row["by_source"].get(group, "0/0").split("/"))
    return (hit / n if n else 0.0), f"{hit}/{n}"


def print_table(split: str, rows: list[dict]) -> None:
    base = {r["budget"]: r for r in rows if r["detector"].startswith("length@")}
    print(f"\nsplit {split}: {rows[0]['pos']} C2/exfil URLs, {rows[0]['neg']} benign URLs")
    head = "".join(f"{label:>13}" for _, label in POS_GROUPS)
    print(f"{'detector':16} {'threshold':>19} {'FP rate':>8} {'FP':>5} {'prec':>6}{head}"
          f"  {'FPR/len':>7} {'ET/len':>6} {'short/len':>9}")
    for r in rows:
        cells = "".join(f"{group_recall(r, g)[1]:>13}" for g, _ in POS_GROUPS)
        b = base.get(r["budget"])
        rel = ""
        if b and not r["detector"].startswith("length"):
            et = ratio(group_recall(r, "et-derived")[0], group_recall(b, "et-derived")[0])
            short_g = POS_GROUPS[3][0]
            short = ratio(group_recall(r, short_g)[0], group_recall(b, short_g)[0])
            rel = f"  {ratio(r['fpr'], b['fpr']):>7} {et:>6} {short:>9}"
        print(f"{r['detector']:16} {r['threshold']!s:>19} {r['fpr']:8.4f} {r['fp']:5d} "
              f"{r['precision']:6.3f}{cells}{rel}")
    print("  benign URLs over the threshold at the 1 % budget, by source:")
    groups = {g for g, _ in POS_GROUPS}
    for r in rows:
        if r["budget"] == 0.01:
            hits = {k: v for k, v in r["by_source"].items()
                    if k not in groups and not v.startswith("0/")}
            print(f"    {r['detector']:14} {hits}")


def cost_line(train: list[str]) -> str:
    """What a per-event model would cost: features per URL, IsolationForest on one URL."""
    from sklearn.ensemble import IsolationForest
    sample = train[:2000]
    t0 = time.perf_counter()
    for u in sample:
        features(u)
    feat_us = (time.perf_counter() - t0) / len(sample) * 1e6
    model = IsolationForest(n_estimators=200, max_samples=256, random_state=0)
    model.fit(matrix(train))
    one = matrix(sample[:1])
    t0 = time.perf_counter()
    for _ in range(50):
        model.score_samples(one)
    iso_ms = (time.perf_counter() - t0) / 50 * 1e3
    hostile = ["/" + "0a" * 32768, "/" + "aZ9+" * 16384, "/" + "\u00e9\u4e2d\U0001f600" * 21845]
    worst_ms = 0.0
    for u in hostile:  # 64 KiB and more: only the first SCAN_LIMIT characters are scanned
        t0 = time.perf_counter()
        features(u)
        worst_ms = max(worst_ms, (time.perf_counter() - t0) * 1e3)
    return (f"cost per URL: features {feat_us:.1f} µs; IsolationForest scoring one URL at a "
            f"time {iso_ms:.2f} ms; hostile 64 KiB URL features {worst_ms:.2f} ms (worst of "
            f"{len(hostile)} shapes, goal ≤ 500 ms)")


def real_recall(row: dict) -> float:
    """Recall on the real-derived C2 shapes (ET-derived + capture C2), not the synthetic."""
    hits = total = 0
    for group in ("et-derived", "capture:c2"):
        hit, n = (int(x) for x in row["by_source"].get(group, "0/0").split("/"))
        hits, total = hits + hit, total + n
    return hits / total if total else 0.0


def verdict(result: dict[str, list[dict]]) -> list[str]:
    """The decision rule (docs/bench.md): a model wins at a budget when, on every split, it
    finds more of the real-derived C2 URLs than the length statistic at that budget with an
    FP rate no higher than 1.5 × the length statistic's."""
    lines = []
    for model in ("iforest", "tail"):
        wins = []
        for b in BUDGETS:
            ok = True
            for rows in result.values():
                by = {r["detector"]: r for r in rows}
                m, base = by[f"{model}@{b:g}"], by[f"length@{b:g}"]
                ok &= real_recall(m) > real_recall(base) and m["fpr"] <= 1.5 * base["fpr"]
            if ok:
                wins.append(f"{b:g}")
        lines.append(f"{'WIN ' if wins else 'LOSS'}  {model} vs length at matched budgets: "
                     + (f"wins at {', '.join(wins)}" if wins else "wins at no budget"))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--seed", type=int, default=0,
                   help="shift every generator's seed (default 0: the documented run)")
    args = p.parse_args(argv)
    if importlib.util.find_spec("sklearn") is None:
        print("url_model: scikit-learn is not installed (it is a dev extra: "
              "pip install -e '.[dev]', or make setup)", file=sys.stderr)
        return 1
    data = shared_data_dir()
    if not (data / "et-open").is_dir():
        print(f"url_model: no labelled C2 data at {data} (set SAKIMORI_SHARED_DATA)",
              file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    result = {}
    splits_ = splits(data, args.seed)
    for split, folds in splits_.items():
        per_fold = [evaluate(train, test) for train, test in folds]
        rows = per_fold[0] if len(per_fold) == 1 else pooled(per_fold)
        result[split] = rows
        print_table(split, rows)
    print(f"\nfeatures: {', '.join(NAMES)}")
    print(cost_line(splits_[ "seen"][0][0]))
    for line in verdict(result):
        print(line)
    print(f"time {time.perf_counter() - t0:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0 if all(math.isfinite(r["recall"]) for rows in result.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
