"""The benchmark's figures: value, same-run baseline, ratio, goal and PASS/MISS, as a table.

A :class:`Figure` with no goal is informational (result ``-``). Goals are stated here once;
every baseline is a number measured in the same run, never a stored reference value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

GOAL_EVENTS_PER_S = 150_000.0
GOAL_CONSUMER_OVER_SURICATA = 0.20
GOAL_RULES_OVER_NO_RULES = 1.10
GOAL_CONSUMER_OVER_PARSE = 0.5  # issue 15: consumer ≥ 0.5 × the orjson.loads rate
GOAL_WORKERS_SPEEDUP = 1.8  # issue 15: --workers 2 ≥ 1.8 × one worker on 2 cores


@dataclass
class Figure:
    """One row of the table."""

    key: str
    label: str
    value: float
    unit: str
    baseline_label: str = ""
    baseline: float | None = None
    ratio: float | None = None
    goal: str = ""
    passed: bool | None = None
    num: str = ""

    @property
    def result(self) -> str:
        return "-" if self.passed is None else ("PASS" if self.passed else "MISS")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result}


def at_least(limit: float) -> Callable[[float], bool]:
    return lambda v: v >= limit


def at_most(limit: float) -> Callable[[float], bool]:
    return lambda v: v <= limit


def fmt(value: float | None, unit: str = "") -> str:
    """Human formatting: thousands separators for big numbers, 2-3 significant decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def columns(head: Sequence[str], rows: Sequence[Sequence[str]],
            header: Sequence[str] = ()) -> str:
    """Left-aligned text columns under *head* and a dashed rule, preceded by *header* lines."""
    table = [tuple(head), *(tuple(r) for r in rows)]
    widths = [max(len(r[c]) for r in table) for c in range(len(head))]
    lines = list(header)
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(figures: Sequence[Figure], header: Sequence[str] = ()) -> str:
    """The table as text, preceded by *header* lines."""
    head = ("#", "figure", "value", "baseline (same run)", "ratio", "goal", "result")
    rows = []
    for i, f in enumerate(figures, 1):
        base = f"{f.baseline_label} {fmt(f.baseline, f.unit)}".strip() \
            if f.baseline is not None else f.baseline_label
        rows.append((f.num or str(i), f.label, fmt(f.value, f.unit), base,
                     fmt(f.ratio) if f.ratio is not None else "", f.goal, f.result))
    return columns(head, rows, header)
