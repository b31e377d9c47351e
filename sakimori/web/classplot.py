"""Table 1 classes × days as an inline SVG heat map, rendered server-side (no JavaScript).

One row per class (in triage order), one column per UTC day; a cell's shade grows with its
count relative to the busiest cell of its row, and the count is written in it (``1.2k`` past
999; the exact number is in the cell's ``<title>`` and ``data-count``); the row's sum over the
days shown ends it. Only numbers, class
names from a fixed list and ``YYYY-MM-DD`` days reach the SVG, and the text still passes
:func:`markupsafe.escape`. Presentation attributes only (no ``style``), so the CSP's
``style-src 'self'`` holds, as for :mod:`sakimori.web.svgplot`.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from markupsafe import Markup, escape

LABEL_W, TOP, ROW_H, RIGHT = 150, 34, 26, 56
MAX_PLOT_W = 760
MAIL_FILL, HOST_FILL = (176, 32, 32), (31, 95, 168)  # RGB at the busiest cell


def window(days: list[str], span: int) -> list[str]:
    """The last *span* consecutive days up to the newest of *days* (gaps filled)."""
    parsed = []
    for d in days:
        try:
            parsed.append(date.fromisoformat(d))
        except ValueError:
            continue  # "2026-13-45": not a day
    if not parsed:
        return []
    last = max(parsed)
    first = max(min(parsed), last - timedelta(days=span - 1))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _short(n: int) -> str:
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}k" if n < 10_000 else f"{n // 1000}k"


def _shade(n: int, top: int, rgb: tuple[int, int, int]) -> str:
    if n <= 0:
        return "#f4f6f8"
    k = 0.25 + 0.75 * n / max(top, 1)
    r, g, b = (round(255 - (255 - c) * k) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(counts: dict[tuple[str, str], int], rows: list[tuple[str, str, bool]],
            days: list[str], label: str) -> Markup | None:
    """The SVG for *counts* ((class, day) → n) over *rows* ((class, title, is_mail)) and
    *days*, or None when there is no day."""
    if not days:
        return None
    cell = max(14.0, min(56.0, MAX_PLOT_W / len(days)))
    width = LABEL_W + cell * len(days) + RIGHT
    height = TOP + ROW_H * len(rows) + 8
    step = max(1, math.ceil(44 / cell))  # a day label every *step* columns
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot heatmap" '
             f'width="{width:.0f}" height="{height}" viewBox="0 0 {width:.0f} {height}" '
             f'role="img" aria-label="{escape(label)}">', f"<title>{escape(label)}</title>"]
    for j, day in enumerate(days):
        if j % step == 0:
            x = LABEL_W + cell * j + cell / 2
            parts.append(f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle" '
                         f'font-size="10" fill="#333">{escape(day[5:])}</text>')
    right = LABEL_W + cell * len(days) + 8
    parts.append(f'<text x="{right:.1f}" y="{TOP - 8}" font-size="10" fill="#333">'
                 "shown</text>")
    for i, (cls, title, is_mail) in enumerate(rows):
        y = TOP + ROW_H * i
        top = max((counts.get((cls, d), 0) for d in days), default=0)
        shown = sum(counts.get((cls, d), 0) for d in days)
        parts.append(f'<text class="row-total" x="{right:.1f}" y="{y + ROW_H / 2 + 4:.1f}" '
                     f'font-size="11" fill="#222">{shown}</text>')
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="#222">{escape(title)}'
                     f'{" (mails)" if is_mail else " (hosts)"}</text>')
        for j, day in enumerate(days):
            n = counts.get((cls, day), 0)
            x = LABEL_W + cell * j
            fill = _shade(n, top, MAIL_FILL if is_mail else HOST_FILL)
            parts.append(f'<rect class="cell" data-class="{escape(cls)}" '
                         f'data-day="{escape(day)}" data-count="{n}" x="{x + 1:.1f}" '
                         f'y="{y + 1}" width="{cell - 2:.1f}" height="{ROW_H - 2}" '
                         f'fill="{fill}"><title>{escape(cls)} {escape(day)}: {n}</title>'
                         "</rect>")
            if n and cell >= 18:
                ink = "#fff" if n * 2 > top else "#222"
                parts.append(f'<text x="{x + cell / 2:.1f}" y="{y + ROW_H / 2 + 4:.1f}" '
                             f'text-anchor="middle" font-size="10" fill="{ink}">'
                             f"{_short(n)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
