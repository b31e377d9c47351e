"""Thresholds at a false-positive budget, recall per family and jitter level, false positives
per 1,000 benign pairs and per 1,000 benign hosts.

A *benign pair* is every label-0 pair of the data except the ``rare_poller`` ones (measured
apart: timing cannot separate them); those the prevalence rule silences count as true
negatives. A *benign host* is a host with no beacon pair; it is a false host when any of its
benign pairs is reported. Recall is over the beacon pairs of one family and jitter level
(one-sided and symmetric pooled). Thresholds are chosen on training seeds only and then
applied, unchanged, to the test seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP_BUDGET = 0.001  # ≤ 1 false host per 1,000 benign hosts (and so ≤ 1 per 1,000 pairs)


@dataclass(frozen=True)
class Scored:
    """One detector's final scores on one seed's pairs (prevalent pairs already at 0)."""

    scores: np.ndarray
    label: np.ndarray
    jitter: np.ndarray
    family: np.ndarray  # str per pair: slow/fast/short for beacons, the kind for benign pairs
    host: np.ndarray    # int per pair

    @property
    def benign(self) -> np.ndarray:
        return (self.label == 0) & (self.family != "rare_poller")


def _host_maxima(r: Scored) -> np.ndarray:
    """Per benign host (no beacon pair), the highest score of its benign pairs (0: none)."""
    infected = set(r.host[r.label == 1].tolist())
    best = dict.fromkeys(set(r.host.tolist()) - infected, 0.0)
    for h, sc in zip(r.host[r.benign].tolist(), r.scores[r.benign].tolist(), strict=True):
        if h in best and sc > best[h]:
            best[h] = sc
    return np.fromiter(best.values(), float, len(best))


def threshold_at_budget(runs: list[Scored], budget: float = FP_BUDGET) -> float:
    """The lowest threshold at which at most *budget* of the benign hosts over all *runs*
    have a benign pair reported."""
    benign = np.sort(np.concatenate([_host_maxima(r) for r in runs]))
    allowed = int(np.floor(budget * benign.size))
    if allowed >= benign.size:
        return 0.0
    # scores >= t are positives: t must be above the (allowed+1)-th highest benign score
    t = float(benign[benign.size - allowed - 1])
    return float(np.nextafter(t, np.inf))


def recall_by_jitter(runs: list[Scored], threshold: float, levels: tuple[float, ...],
                     family: str | None = None) -> dict[float, float]:
    """Recall per jitter level, over one beacon *family* (None: all)."""
    out = {}
    for level in levels:
        hits = total = 0
        for r in runs:
            m = (r.label == 1) & np.isclose(r.jitter, level)
            if family is not None:
                m &= r.family == family
            hits += int((r.scores[m] >= threshold).sum())
            total += int(m.sum())
        out[level] = hits / total if total else float("nan")
    return out


def fp_per_1000(runs: list[Scored], threshold: float) -> tuple[float, int, int]:
    """(false positives per 1,000 benign pairs, false positives, benign pairs)."""
    fp = sum(int((r.scores[r.benign] >= threshold).sum()) for r in runs)
    n = sum(int(r.benign.sum()) for r in runs)
    return (1000.0 * fp / n if n else float("nan")), fp, n


def fp_hosts_per_1000(runs: list[Scored], threshold: float) -> tuple[float, int, int]:
    """(false hosts per 1,000 benign hosts, false hosts, benign hosts): a benign host has no
    beacon pair; it is false when one of its benign pairs reaches the threshold."""
    fp = n = 0
    for r in runs:
        infected = set(r.host[r.label == 1].tolist())
        benign_hosts = set(r.host.tolist()) - infected
        flagged = set(r.host[r.benign & (r.scores >= threshold)].tolist()) - infected
        fp += len(flagged)
        n += len(benign_hosts)
    return (1000.0 * fp / n if n else float("nan")), fp, n


def flagged_fraction(runs: list[Scored], threshold: float, family: str) -> tuple[int, int]:
    """(reported, total) pairs of one benign *family* (e.g. ``rare_poller``)."""
    hit = sum(int(((r.family == family) & (r.scores >= threshold)).sum()) for r in runs)
    return hit, sum(int((r.family == family).sum()) for r in runs)
