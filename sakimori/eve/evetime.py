"""EVE times: ``2026-11-02T00:00:01.123456+0000`` → epoch seconds, range-checked, cached.

Suricata repeats the same minute (and second) across thousands of lines, so the epoch of each
minute (with its zone) is computed once; the range check (1970–2199 UTC, :data:`MIN_TS` ..
:data:`MAX_TS`) is made at that moment, so it costs nothing on the cached fast path. A time
outside the range is a ValueError like one that does not parse: no later stage (reports,
numpy, the store) is handed a time it cannot hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sakimori.accel import compiled

MIN_TS = 0.0  # 1970-01-01T00:00:00Z
MAX_TS = 7258118400.0  # 2200-01-01T00:00:00Z: every later time is forged or broken

_TS_CACHE: dict[str, float] = {}
_MINUTE_CACHE: dict[str, float] = {}


def _in_range(epoch: float) -> float:
    """*epoch* if within 1970–2199 UTC (:data:`MIN_TS`, :data:`MAX_TS`), else ValueError: a
    time no later stage can hold is as bad as one that does not parse."""
    if not MIN_TS <= epoch < MAX_TS:
        raise ValueError("time out of range (1970-2199)")
    return epoch


def _minute_base(key: str) -> float:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM`` + zone suffix (cached: EVE repeats minutes)."""
    parsed = datetime.fromisoformat(key[:16] + ":00" + key[16:])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    base = _in_range(parsed.timestamp())
    if len(_MINUTE_CACHE) > 100_000:
        _MINUTE_CACHE.clear()
    _MINUTE_CACHE[key] = base
    return base


def parse_ts_py(text: str) -> float:
    """EVE timestamp (``2026-11-02T00:00:01.123456+0000``) → epoch seconds. ValueError if bad
    or outside 1970–2199 (checked once per cached minute or second: free on the fast path).
    :data:`parse_ts` is this function, or its compiled twin (``sakimori/eve/_evetime.pyx``,
    the same results) when it is built."""
    # Fast path: Suricata's own fixed layout, 31 characters, microseconds and a +hhmm zone;
    # the minute (with its zone) is cached, "SS.ffffff" is one float.
    if len(text) == 31 and text[19] == "." and text[26] in "+-" and text[16] == ":":
        key = text[:16] + text[26:]
        base = _MINUTE_CACHE.get(key)
        if base is None:
            base = _minute_base(key)
        sec = float(text[17:26])
        if 0.0 <= sec < 61.0:
            return base + sec
    return _parse_ts_slow(text)


def _parse_ts_slow(text: str) -> float:
    head, dot, rest = text.partition(".")
    if not dot:
        parsed = datetime.fromisoformat(text)
        return _in_range((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())
    n = 0
    while n < len(rest) and rest[n].isdigit():
        n += 1
    if n == 0:
        raise ValueError(text)
    key = head + rest[n:]
    # Cache the whole-second part: EVE streams repeat the same second many times.
    base = _TS_CACHE.get(key)
    if base is None:
        parsed = datetime.fromisoformat(key)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        base = _in_range(parsed.timestamp())
        if len(_TS_CACHE) > 100_000:
            _TS_CACHE.clear()
        _TS_CACHE[key] = base
    return base + int(rest[:n]) / 10 ** n


def _compiled() -> Callable[[str], float]:
    """The compiled :func:`parse_ts_py` (optional: without a C compiler at install the
    module is missing and the pure function is used)."""
    module = compiled("sakimori.eve._evetime")
    return parse_ts_py if module is None else module.parse_ts  # type: ignore[no-any-return]


parse_ts: Callable[[str], float] = _compiled()
