# cython: language_level=3
""":func:`sakimori.eve.evetime.parse_ts` compiled (Cython): the cached fast path in C.

Handlers read ``flow.start``/``flow.end`` of almost every flow event through ``parse_ts``;
Suricata's fixed layout (``2026-11-02T00:00:01.123456+0000``, 31 ASCII characters) is
checked and cut in C, the minute looked up in the same cache, ``SS.ffffff`` read by
``PyOS_string_to_double`` (what ``float()`` uses: the same double). Anything else — another
length or layout, a minute not cached yet, a non-ASCII or non-str argument — goes to the
pure-Python code (:func:`~sakimori.eve.evetime.parse_ts_py` and its helpers), so results and
errors are the same; tests/test_decode.py compares both on valid and damaged times.
"""

from cpython.unicode cimport PyUnicode_FromStringAndSize
from libc.string cimport memcpy

from sakimori.eve.evetime import _MINUTE_CACHE, _minute_base, _parse_ts_slow, parse_ts_py


cdef dict _MINUTES = _MINUTE_CACHE


def parse_ts(text):
    """EVE timestamp → epoch seconds (:func:`sakimori.eve.evetime.parse_ts_py`, the same
    results and ValueErrors)."""
    cdef const char *t
    cdef char key[21]
    cdef char secbuf[10]
    cdef double sec
    if type(text) is not str or not PyUnicode_IS_COMPACT_ASCII(text) \
            or PyUnicode_GET_LENGTH(text) != 31:
        return parse_ts_py(text)
    t = <const char *>PyUnicode_DATA(text)
    if t[19] != 46 or (t[26] != 43 and t[26] != 45) or t[16] != 58:  # '.', '+'/'-', ':'
        return _parse_ts_slow(text)
    memcpy(key, t, 16)
    memcpy(key + 16, t + 26, 5)
    k = PyUnicode_FromStringAndSize(key, 21)
    base = _MINUTES.get(k)
    if base is None:
        base = _minute_base(k)
    if _sec_plain(t + 17):
        memcpy(secbuf, t + 17, 9)
        secbuf[9] = 0
        sec = PyOS_string_to_double(secbuf, NULL, NULL)
    else:
        sec = float(text[17:26])
    if 0.0 <= sec < 61.0:
        return base + sec
    return _parse_ts_slow(text)
