"""EVE times: ``2026-11-02T00:00:01.123456+0000`` → epoch seconds, range-checked, cached.

Suricata repeats the same minute (and second) across thousands of lines, so the epoch of each
minute (with its zone) is computed once; the range check (1970–2199 UTC, :data:`MIN_TS` ..
:data:`MAX_TS`) is made at that moment, so it costs nothing on the cached fast path. A time
outside the range is a ValueError like one that does not parse: no later stage (reports,
numpy, the store) is handed a time it cannot hold.

:func:`parse_many` reads a whole list of times at once (the beacon handler's pending
``flow.start`` texts, folded at each evaluation): compiled (``_evetime.parse_into``), each row
by the compiled :func:`parse_ts`'s fast path in C; in Python (:func:`parse_many_py`), the rows
in Suricata's fixed layout as one numpy byte matrix with one cached lookup per distinct day and
zone. Every other row goes through :func:`parse_ts` (or the caller's reader of rows that
are not texts: the beacon's pending starts hold kept-alive requests' float times) — the values
and the rejections are exactly :func:`parse_ts`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

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


# Suricata's layout, 2026-11-02T00:00:01.123456+0000: the digit columns of the day key (date
# and zone), of the hour and minute, of the seconds (SS.ffffff without the dot), and the fixed
# punctuation a row needs to be read in bulk
_DAY_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 27, 28, 29, 30]
_HM_DIGITS = [11, 12, 14, 15]
_SEC_DIGITS = [17, 18, 20, 21, 22, 23, 24, 25]
_PUNCT = ((4, b"-"), (7, b"-"), (10, b"T"), (13, b":"), (16, b":"), (19, b"."))


PARSE_MANY_CHUNK = 1 << 15
"""Rows :func:`parse_many` reads in one pass: its numpy scratch (≈ 250 bytes a row) stays
≈ 8 MiB however many times an evaluation folds."""


def parse_many(texts: Sequence[Any],
               slow: Callable[[Any], float] | None = None) -> tuple[Any, Any]:
    """(epoch seconds, valid) of every text of *texts* (strings), as two numpy arrays
    (float64, bool): row *i* is ``parse_ts(texts[i])`` — the very same float — or not valid
    where that raises ValueError. By the compiled ``parse_into`` (``_evetime.pyx``: the
    compiled ``parse_ts``'s fast path per row, every other row by ``parse_ts``) when it is
    built and *texts* is a list, else by :func:`parse_many_py`.

    *slow* (default :func:`parse_ts`) reads every row the fast paths do not: a caller whose
    list holds other values than texts (the beacon's pending starts hold kept-alive requests'
    float times) passes a function that reads them too; a row where it raises ValueError is
    not valid."""
    if _PARSE_INTO is None or type(texts) is not list:
        return parse_many_py(texts, slow)
    import numpy as np

    n = len(texts)
    out = np.zeros(n, dtype=np.float64)
    ok = np.zeros(n, dtype=bool)
    _PARSE_INTO(texts, out, ok.view(np.uint8), parse_ts if slow is None else slow)
    return out, ok


def parse_many_py(texts: Sequence[Any],
                  slow: Callable[[Any], float] | None = None) -> tuple[Any, Any]:
    """:func:`parse_many` in Python with numpy (the reference, and the fallback without a
    compiler): (epoch seconds, valid) as two numpy arrays.

    Rows in Suricata's own layout (31 ASCII characters, ``YYYY-MM-DDTHH:MM:SS.ffffff±hhmm``
    with digits where digits belong, HH ≤ 23, MM ≤ 59, SS ≤ 60) are read in bulk. The minute's
    epoch is its day's (``YYYY-MM-DDT00:00`` with the row's zone, through the same cached
    :func:`_minute_base`, once per distinct day and zone) plus HH·3600 + MM·60 — whole seconds,
    exact in a float, as ``datetime.timestamp()`` of a whole minute is — held to
    :data:`MIN_TS` .. :data:`MAX_TS`; the seconds are the integer ``SSffffff`` divided by 10⁶
    (IEEE division is correctly rounded, as ``float("SS.ffffff")`` is); the sum is
    ``base + sec`` in that order. Every other row (another layout, a day or zone that does not
    parse, a minute outside the range) is parsed by :func:`parse_ts` itself. Read
    :data:`PARSE_MANY_CHUNK` rows at a time."""
    import numpy as np

    n = len(texts)
    read = parse_ts if slow is None else slow
    if n > PARSE_MANY_CHUNK:
        parts = [_parse_chunk(texts[i:i + PARSE_MANY_CHUNK], read)
                 for i in range(0, n, PARSE_MANY_CHUNK)]
        return (np.concatenate([times for times, _ in parts]),
                np.concatenate([ok for _, ok in parts]))
    return _parse_chunk(texts, read)


def _parse_chunk(texts: Sequence[Any], slow: Callable[[Any], float]) -> tuple[Any, Any]:
    """:func:`parse_many` of up to :data:`PARSE_MANY_CHUNK` texts (rows off the bulk path
    read by *slow*)."""
    import numpy as np

    n = len(texts)
    out = np.zeros(n, dtype=np.float64)
    ok = np.zeros(n, dtype=bool)
    if n == 0:
        return out, ok
    bulk = None
    try:
        lens = np.fromiter(map(len, texts), dtype=np.intp, count=n)
        buf = "".join(texts).encode("ascii") if bool((lens == 31).all()) else None
    except (UnicodeEncodeError, TypeError):  # not ASCII, or not all texts: one by one
        buf = None
    if buf is not None:
        m = np.frombuffer(buf, dtype=np.uint8).reshape(n, 31)
        bulk = (m[:, 26] == ord("+")) | (m[:, 26] == ord("-"))
        for col, char in _PUNCT:
            bulk &= m[:, col] == char[0]
        cols = (m[:, _DAY_DIGITS + _HM_DIGITS + _SEC_DIGITS] - np.uint8(48))  # >9: not a digit
        bulk &= (cols <= 9).all(axis=1)
        d = cols.astype(np.int64)
        hour, minute = d[:, 12] * 10 + d[:, 13], d[:, 14] * 10 + d[:, 15]
        whole = d[:, 16] * 10 + d[:, 17]
        bulk &= (hour <= 23) & (minute <= 59) & (whole <= 60)  # SS 60.999999 < 61: parse_ts's
        rows = np.flatnonzero(bulk)
        if rows.size:
            day = (m[rows, 26] == ord("-")).astype(np.int64)  # date, zone sign and digits
            for j in range(12):
                day = day * 10 + d[rows, j]
            _, first, inverse = np.unique(day, return_index=True, return_inverse=True)
            bases = []
            for row in rows[first].tolist():
                text = texts[row]
                key = text[:11] + "00:00" + text[26:]
                base = _MINUTE_CACHE.get(key)
                if base is None:
                    try:
                        base = _minute_base(key)
                    except ValueError:  # e.g. 1970-01-01 east of UTC: parse_ts judges the row
                        base = np.nan
                bases.append(base)
            start = np.asarray(bases, dtype=np.float64)[inverse.ravel()] \
                + (hour[rows] * 3600 + minute[rows] * 60)
            fine = (start >= MIN_TS) & (start < MAX_TS)  # False for nan too
            rows, start = rows[fine], start[fine]
            bulk[:] = False
            bulk[rows] = True
            micros = whole[rows] * 1_000_000
            for k in range(18, 24):
                micros += d[rows, k] * 10 ** (23 - k)
            out[rows] = start + micros / 1e6
            ok[rows] = True
    for i in range(n) if bulk is None else np.flatnonzero(~bulk).tolist():
        try:
            out[i] = slow(texts[i])
        except ValueError:
            continue
        ok[i] = True
    return out, ok


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


# the compiled parse_ts_py and parse_many's row loop (optional: without a C compiler at
# install the module is missing and the pure functions are used)
_module = compiled("sakimori.eve._evetime")
parse_ts: Callable[[str], float] = parse_ts_py if _module is None else _module.parse_ts
_PARSE_INTO: Callable[..., None] | None = None if _module is None else _module.parse_into
