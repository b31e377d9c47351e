"""Mergeable summaries and robust statistics for learned baselines.

:class:`LogHistogram` keeps counts in fixed log-spaced bins (``bins_per_octave`` bins per
doubling, bin *i* covers ``[2^(i/b), 2^((i+1)/b))``). Two histograms of the same resolution merge
by adding counts, so learning A and then B gives exactly the histogram of A+B — incremental
learning loses nothing. Quantiles, the median and the MAD are computed from the bins
(geometric interpolation inside a bin; error below one bin width, ~2 % at 32 bins per octave).

:func:`robust_upper` is the plain robust rule used for count data: ``median + k·MAD``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LN2 = math.log(2.0)


@dataclass
class LogHistogram:
    """Counts of positive values in fixed log2-spaced bins; non-positive values counted apart."""

    bins_per_octave: int = 32
    counts: dict[int, int] = field(default_factory=dict)
    nonpositive: int = 0

    @property
    def n(self) -> int:
        """Number of positive values recorded (the ones the statistics describe)."""
        return sum(self.counts.values())

    def add(self, value: float, count: int = 1) -> None:
        if not value > 0 or math.isinf(value):
            self.nonpositive += count
            return
        i = math.floor(math.log2(value) * self.bins_per_octave)
        self.counts[i] = self.counts.get(i, 0) + count

    def merge(self, other: LogHistogram) -> None:
        if other.bins_per_octave != self.bins_per_octave:
            raise ValueError("cannot merge histograms of different resolution "
                             f"({self.bins_per_octave} vs {other.bins_per_octave})")
        for i, c in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + c
        self.nonpositive += other.nonpositive

    def restricted(self, minimum: float) -> LogHistogram:
        """A copy keeping only the bins that lie at or above *minimum*."""
        lo = math.floor(math.log2(minimum) * self.bins_per_octave)
        return LogHistogram(self.bins_per_octave,
                            {i: c for i, c in self.counts.items() if i >= lo})

    # --- statistics (log2 domain internally, values returned in natural units) ------------

    def _log2_quantile(self, q: float) -> float:
        n = self.n
        if n == 0:
            raise ValueError("empty histogram")
        target = min(max(q, 0.0), 1.0) * n
        cum = 0
        keys = sorted(self.counts)
        for i in keys:
            c = self.counts[i]
            if cum + c >= target:
                frac = (target - cum) / c
                return (i + frac) / self.bins_per_octave
            cum += c
        return (keys[-1] + 1) / self.bins_per_octave

    def quantile(self, q: float) -> float:
        """The *q*-quantile (0..1), interpolated geometrically inside its bin."""
        return 2.0 ** self._log2_quantile(q)

    def log_median_mad(self) -> tuple[float, float]:
        """(median, MAD) of ln(value): MAD = median |ln v − median(ln v)| (not rescaled)."""
        m2 = self._log2_quantile(0.5)
        devs: list[tuple[float, int]] = sorted(
            (abs((i + 0.5) / self.bins_per_octave - m2), c) for i, c in self.counts.items())
        half = self.n / 2.0
        cum = 0
        mad2 = devs[-1][0]
        for d, c in devs:
            cum += c
            if cum >= half:
                mad2 = d
                break
        return m2 * LN2, mad2 * LN2

    # --- (de)serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": "log2",
            "bins_per_octave": self.bins_per_octave,
            "bin_lower_edge": "2^(i/bins_per_octave)",
            "counts": {str(i): self.counts[i] for i in sorted(self.counts)},
            "nonpositive": self.nonpositive,
        }

    @classmethod
    def from_dict(cls, data: Any, bins_per_octave: int) -> LogHistogram:
        """Rebuild from :meth:`to_dict` output; ValueError when malformed."""
        if not isinstance(data, dict):
            raise ValueError("histogram must be an object")
        bpo = data.get("bins_per_octave", bins_per_octave)
        if not isinstance(bpo, int) or bpo <= 0:
            raise ValueError("histogram bins_per_octave must be a positive integer")
        raw = data.get("counts") or {}
        if not isinstance(raw, dict):
            raise ValueError("histogram counts must be an object")
        counts: dict[int, int] = {}
        for key, c in raw.items():
            if not isinstance(c, int) or c < 0:
                raise ValueError(f"histogram count for bin {key!r} must be a non-negative int")
            counts[int(key)] = c
        hist = cls(bpo, counts, int(data.get("nonpositive") or 0))
        if bpo != bins_per_octave:
            raise ValueError(f"histogram has {bpo} bins per octave, expected {bins_per_octave}")
        return hist


def median(values: Iterable[float]) -> float:
    """Median of *values* (mean of the two middle values for an even count)."""
    data = sorted(values)
    if not data:
        raise ValueError("median of no values")
    mid = len(data) // 2
    return float(data[mid]) if len(data) % 2 else (data[mid - 1] + data[mid]) / 2.0


def robust_upper(values: Iterable[float], k: float) -> tuple[float, float, float]:
    """(median + k·MAD, median, MAD) of *values* — MAD not rescaled."""
    data = list(values)
    med = median(data)
    mad = median(abs(v - med) for v in data)
    return med + k * mad, med, mad


def rounded(value: float, digits: int = 6) -> float:
    """Round for the JSON document so tiny float noise does not show up in diffs."""
    return float(round(value, digits))
