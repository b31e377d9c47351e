"""Text safety for anything that came from the network: one safe line (control and bidi
characters escaped), typed text stripped of them, and CSV cells no spreadsheet evaluates."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0xFEFF]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _UNSAFE}


def clean(text: Any, limit: int = 400) -> str:
    """*text* as one safe line: control/bidi characters escaped, at most *limit* chars."""
    s = str(text).translate(_ESCAPES)
    return s if len(s) <= limit else s[:limit - 1] + "…"


_DROP = dict.fromkeys(_UNSAFE)


def strip_unsafe(text: Any, limit: int = 400) -> str:
    """*text* without control, C1 and bidi characters (dropped, not escaped: for text a person
    typed, e.g. an audit reason), at most *limit* characters."""
    return str(text).translate(_DROP)[:limit]


def csv_cell(text: Any, limit: int = 2000) -> str:
    """A CSV cell that no spreadsheet evaluates: a leading = + - @ TAB CR gets a ``'``."""
    raw = str(text)
    s = clean(raw, limit)
    if raw.startswith(FORMULA_START) or s.startswith(FORMULA_START):
        s = "'" + s
    return s
