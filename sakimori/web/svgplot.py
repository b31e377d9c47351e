"""Beacon interval plot as inline SVG, rendered server-side (no JavaScript, CSP-friendly).

:func:`interval_plot` draws the ``intervals_s`` of one beacon pair (inter-beat intervals in
seconds, in order) as dots over the beat index, with a dashed line at the pair's ``period_s``.
Only numbers reach the SVG, formatted by this module; the caption text is passed through
:func:`markupsafe.escape`. Presentation attributes only (no ``style``), so
``style-src 'self'`` holds.
"""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 30
MAX_POINTS = 400


def _numbers(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    out = []
    for v in values[-MAX_POINTS:]:
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
                and v >= 0:
            out.append(float(v))
    return out


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def interval_plot(intervals: Any, period: Any = None, label: str = "") -> Markup | None:
    """The SVG for *intervals*, or None when there is nothing to plot."""
    ys = _numbers(intervals)
    if not ys:
        return None
    per = float(period) if isinstance(period, int | float) and not isinstance(period, bool) \
        and math.isfinite(period) and period > 0 else None
    top = max([*ys, per or 0.0]) * 1.1 or 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(ys)

    def x(i: int) -> float:
        return LEFT + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return TOP + ph - ph * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}">',
             f'<title>{escape(label)}</title>',
             f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" '
             f'stroke="#999"/>']
    for frac in (0.0, 0.5, 1.0):
        v = top * frac
        parts.append(f'<text x="{LEFT - 6}" y="{_fmt(y(v) + 4)}" text-anchor="end" '
                     f'font-size="11" fill="#333">{v:.0f} s</text>')
    if per is not None:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{_fmt(y(per))}" '
                     f'y2="{_fmt(y(per))}" stroke="#c00" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{LEFT + pw - 4}" y="{_fmt(y(per) - 4)}" text-anchor="end" '
                     f'font-size="11" fill="#c00">period {per:.1f} s</text>')
    for i, v in enumerate(ys):
        parts.append(f'<circle cx="{_fmt(x(i))}" cy="{_fmt(y(v))}" r="2.2" fill="#1f5fa8"/>')
    parts.append(f'<text x="{LEFT + pw / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle" '
                 f'font-size="11" fill="#333">last {n} intervals (beat order)</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
