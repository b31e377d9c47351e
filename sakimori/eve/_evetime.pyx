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

from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.unicode cimport PyUnicode_FromStringAndSize
from libc.string cimport memcmp, memcpy

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


cdef inline double _sec_digits(const char *t) noexcept:
    """``SS.ffffff`` (checked by ``_sec_plain``) as the integer ``SSffffff`` / 10⁶: the same
    double ``PyOS_string_to_double`` (``float()``) reads — both are the correctly rounded
    value of the same decimal (an exact integer under 2⁵³ divided by an exact 10⁶ in IEEE
    arithmetic; CPython's correctly rounded ``strtod``), as ``parse_many_py``'s bulk path
    reads it."""
    cdef long long v = (t[0] - 48) * 10 + (t[1] - 48)
    cdef int a
    for a in range(3, 9):
        v = v * 10 + (t[a] - 48)
    return <double>v / 1e6


cdef enum:
    _SLOTS = 2048  # parse_into's table of minutes found in the cache (direct-mapped)


cdef struct _Minute:
    char key[21]
    char used
    double base


cdef inline Py_ssize_t _slot(const char *t) noexcept:
    """The slot of the minute of Suricata time *t*: its minute of the day plus 1,440 per day
    (the day's last digit), wrapped — neighbouring minutes and days apart; the key text
    decides (any characters: a slot, at worst a shared one)."""
    cdef unsigned int m = (<unsigned char>t[9] * 1440u
                           + (<unsigned char>t[11] * 10u + <unsigned char>t[12]) * 60u
                           + <unsigned char>t[14] * 10u + <unsigned char>t[15])
    return m & (_SLOTS - 1)


def parse_into(list texts, double[::1] out, unsigned char[::1] ok, slow):
    """:func:`sakimori.eve.evetime.parse_many` compiled: for every row *i* of *texts*,
    ``out[i] = parse_ts(texts[i])`` and ``ok[i] = 1``, or ``ok[i]`` left 0 where that raises
    ValueError. Rows in Suricata's layout whose minute is cached are read here, as
    :func:`parse_ts` reads them (the same cut and lookup: the same float); every other row is
    ``slow(text)`` (the caller passes ``parse_ts``). A minute found in the cache is kept for
    the rest of the call in a small table of its own (2,048 slots, direct-mapped on the
    minute of the day, the key text compared: the pairs' starts come pair after pair, each pair's in its own minutes, so the
    previous row's minute alone is rarely the next one's), so the cache's dict is asked once
    per minute and slot, not once per row. ``SS.ffffff`` is read by :func:`_sec_digits` (the
    same double as ``PyOS_string_to_double``: tests/test_evetime_many.py compares them on
    every value)."""
    cdef Py_ssize_t i, n = len(texts), k
    cdef const char *t
    cdef char key[21]
    cdef double sec, base = 0.0
    cdef bint found
    cdef _Minute *table
    if out.shape[0] < n or ok.shape[0] < n:
        raise ValueError("parse_into: output shorter than the texts")
    table = <_Minute *>PyMem_Calloc(_SLOTS, sizeof(_Minute))
    if table == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            text = texts[i]
            if type(text) is str and PyUnicode_IS_COMPACT_ASCII(text) \
                    and PyUnicode_GET_LENGTH(text) == 31:
                t = <const char *>PyUnicode_DATA(text)
                if t[19] == 46 and (t[26] == 43 or t[26] == 45) and t[16] == 58 \
                        and _sec_plain(t + 17):
                    memcpy(key, t, 16)
                    memcpy(key + 16, t + 26, 5)
                    k = _slot(t)
                    found = table[k].used and memcmp(key, table[k].key, 21) == 0
                    if found:
                        base = table[k].base
                    else:
                        cached = _MINUTES.get(PyUnicode_FromStringAndSize(key, 21))
                        found = cached is not None  # else: slow() computes and caches it
                        if found:
                            base = cached
                            memcpy(table[k].key, key, 21)
                            table[k].base = base
                            table[k].used = 1
                    if found:
                        sec = _sec_digits(t + 17)
                        if 0.0 <= sec < 61.0:
                            out[i] = base + sec
                            ok[i] = 1
                            continue
            try:
                out[i] = slow(text)
            except ValueError:
                continue
            ok[i] = 1
    finally:
        PyMem_Free(table)
