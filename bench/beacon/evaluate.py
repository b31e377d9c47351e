"""Thresholds at a false-positive budget, recall per jitter level, false positives per 1,000.

A *benign pair* is every label-0 pair of the data (those the prevalence rule silences count as
true negatives). Recall is over the beacon pairs of one jitter level (one-sided and symmetric
pooled). Thresholds are chosen on training seeds only and then applied, unchanged, to the
test seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP_BUDGET = 0.001  # ≤ 1 false positive per 1,000 benign pairs


@dataclass(frozen=True)
class Scored:
    """One detector's final scores on one seed's pairs (prevalent pairs already at 0)."""

    scores: np.ndarray
    label: np.ndarray
    jitter: np.ndarray


def threshold_at_budget(runs: list[Scored], budget: float = FP_BUDGET) -> float:
    """The lowest threshold whose false positives over all *runs* stay within the budget."""
    benign = np.sort(np.concatenate([r.scores[r.label == 0] for r in runs]))
    allowed = int(np.floor(budget * benign.size))
    if allowed >= benign.size:
        return 0.0
    # scores >= t are positives: t must be above the (allowed+1)-th highest benign score
    t = float(benign[benign.size - allowed - 1])
    return float(np.nextafter(t, np.inf))


def recall_by_jitter(runs: list[Scored], threshold: float,
                     levels: tuple[float, ...]) -> dict[float, float]:
    out = {}
    for level in levels:
        hits = total = 0
        for r in runs:
            m = (r.label == 1) & np.isclose(r.jitter, level)
            hits += int((r.scores[m] >= threshold).sum())
            total += int(m.sum())
        out[level] = hits / total if total else float("nan")
    return out


def fp_per_1000(runs: list[Scored], threshold: float) -> tuple[float, int, int]:
    """(false positives per 1,000 benign pairs, false positives, benign pairs)."""
    fp = sum(int((r.scores[r.label == 0] >= threshold).sum()) for r in runs)
    n = sum(int((r.label == 0).sum()) for r in runs)
    return (1000.0 * fp / n if n else float("nan")), fp, n
