"""Shape features of one HTTP request target (URL), for the URL anomaly model.

:func:`features` turns a URL into a fixed tuple of numbers (names in :data:`NAMES`): length,
character entropy, character classes, path depth, parameter counts, the longest token and how
much of it looks like hex or base64 data. It is deterministic and bounded: only the first
:data:`SCAN_LIMIT` characters are scanned (the full length is still counted), so a hostile
64 KB URL costs the same as a 4 KB one. Used by ``bench/url_model.py`` to compare a model with
the length statistic (docs/baselines.md "URL shape model").
"""

from __future__ import annotations

import math
import re

SCAN_LIMIT = 4096  # characters examined; longer URLs are judged on their first 4 KiB

NAMES = (
    "log_length",       # ln(1 + full length)
    "entropy",          # Shannon entropy of the scanned characters, bits per character
    "digit_frac",       # fraction of digits
    "upper_frac",       # fraction of upper-case letters
    "special_frac",     # fraction of characters outside [A-Za-z0-9/?&=._-]
    "pct_frac",         # fraction of characters in %XX escapes
    "path_depth",       # number of '/' in the path
    "n_params",         # number of query parameters
    "query_frac",       # share of the URL after '?'
    "log_longest_token",  # ln(1 + longest run between separators)
    "token_mixed",      # case/digit switches per character in the longest token
    "hex_run",          # ln(1 + longest run of hex digits that has digits and letters)
    "b64_run",          # ln(1 + longest base64-alphabet run with upper, lower and digits)
)

_SEP = re.compile(r"[/?&=;.,_+:~%-]")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{8,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/?&=._-")
_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _entropy(text: str) -> float:
    n = len(text)
    if n == 0:
        return 0.0
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _switches(token: str) -> float:
    """Transitions between lower, upper and digit per character: high for random ids."""
    if len(token) < 2:
        return 0.0
    prev, changes = None, 0
    for ch in token:
        cls = 0 if ch.islower() else 1 if ch.isupper() else 2 if ch.isdigit() else 3
        if prev is not None and cls != prev:
            changes += 1
        prev = cls
    return changes / (len(token) - 1)


def _hex_run(text: str) -> int:
    best = 0
    for m in _HEX_RUN.finditer(text):
        run = m.group()
        if len(run) > best and any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            best = len(run)
    return best


def _b64_run(text: str) -> int:
    best = 0
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if len(run) > best and any(c.isupper() for c in run) and \
                any(c.islower() for c in run) and any(c.isdigit() for c in run):
            best = len(run)
    return best


def features(url: str) -> tuple[float, ...]:
    """The feature vector of *url* (order of :data:`NAMES`); bounded cost for any length."""
    full = len(url)
    text = url[:SCAN_LIMIT]
    n = len(text) or 1
    path, _, query = text.partition("?")
    tokens = _SEP.split(text)
    longest = max(tokens, key=len) if tokens else ""
    digits = sum(1 for c in text if c in _DIGITS)
    upper = sum(1 for c in text if c in _UPPER)
    special = sum(1 for c in text if c not in _PLAIN)
    pct = 3 * len(_PCT.findall(text))
    n_params = (query.count("&") + query.count(";") + 1) if query else 0
    return (
        round(math.log1p(full), 6),
        round(_entropy(text), 6),
        round(digits / n, 6),
        round(upper / n, 6),
        round(special / n, 6),
        round(min(pct, n) / n, 6),
        float(min(path.count("/"), 64)),
        float(min(n_params, 256)),
        round(len(query) / n if query else 0.0, 6),
        round(math.log1p(len(longest)), 6),
        round(_switches(longest[:512]), 6),
        round(math.log1p(_hex_run(text)), 6),
        round(math.log1p(_b64_run(text)), 6),
    )


def explain(values: tuple[float, ...]) -> dict[str, float]:
    """The vector as ``{name: value}`` (for evidence and tests)."""
    return dict(zip(NAMES, values, strict=True))
