# cython: language_level=3
"""The beacon score's pre-judgement of a short series, compiled (optional accelerator).

:func:`judge_small` is ``eve_consumer.handlers.beacon_score._judge_small_py`` — merge window,
beats, intervals, median and episode tests of a short sorted series of finite starts — on C
doubles: the same IEEE operations in the same order (subtractions of neighbours, the
comparisons ``diff > w``, ``t[b-1] − t[a] > w``, ``t[i] > t[a] + w``, ``x > limit``), so
the same beats, intervals, sorted intervals and verdict, bit for bit. The pure function stays
the reference and the fallback; tests/test_beacon_score_paths.py compares both on thousands
of random and real series.

Sorting: the intervals are differences ``b − a`` of sorted finite starts, so never −0.0 (an
exact tie gives +0.0): equal values are the same double and any correct sort gives the list
``sorted()`` gives.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdlib cimport qsort


cdef int _cmp(const void *a, const void *b) noexcept nogil:
    cdef double x = (<const double *>a)[0]
    cdef double y = (<const double *>b)[0]
    return (x > y) - (x < y)


def judge_small(list t, Py_ssize_t need, double merge_s, double merge_fraction,
                double min_period, double gap_factor, Py_ssize_t many_beats,
                double min_episode):
    """(merge window, beats, intervals as a list, the intervals sorted as a list, how many
    are not gaps) of the sorted finite starts *t* (floats, at least 2), or None when not
    judged — ``_judge_small_py`` with its constants passed in."""
    cdef Py_ssize_t n = len(t), m, i, a, b, k, nb, lo, hi, mid, most
    cdef double w, lim, med, limit, longest, x, v
    cdef double *ts = NULL
    cdef double *raw = NULL
    cdef double *tmp = NULL
    cdef double *bt = NULL
    if n < 2:
        raise ValueError("judge_small: fewer than 2 starts")
    ts = <double *>PyMem_Malloc(4 * n * sizeof(double))
    if ts == NULL:
        raise MemoryError()
    try:
        raw = ts + n
        tmp = ts + 2 * n
        bt = ts + 3 * n
        for i in range(n):
            ts[i] = t[i]  # a float (TypeError otherwise)
        m = n - 1
        for i in range(m):
            raw[i] = ts[i + 1] - ts[i]
        for i in range(m):
            tmp[i] = raw[i]
        qsort(tmp, m, sizeof(double), _cmp)
        k = <Py_ssize_t>(0.75 * (m - 1))
        v = merge_fraction * tmp[k]
        w = v if v < merge_s else merge_s  # min(MERGE_S, v)
        # min(raw) > w: every start is a beat of its own
        x = tmp[0]
        if x > w:
            nb = n
            for i in range(n):
                bt[i] = ts[i]
        else:
            nb = 0
            a = 0
            while a < n:
                b = a + 1
                while b < n and not raw[b - 1] > w:
                    b += 1
                bt[nb] = ts[a]
                nb += 1
                if b - a > 1 and ts[b - 1] - ts[a] > w:
                    lim = ts[a] + w
                    for i in range(a + 1, b):
                        if ts[i] > lim:
                            bt[nb] = ts[i]
                            nb += 1
                            lim = ts[i] + w
                a = b
            if nb < need:
                return None
        m = nb - 1
        d = [None] * m
        for i in range(m):
            x = bt[i + 1] - bt[i]
            raw[i] = x
            tmp[i] = x
            d[i] = x
        qsort(tmp, m, sizeof(double), _cmp)
        med = tmp[m // 2]
        if med < min_period:
            return None
        limit = gap_factor * med
        most = 0
        longest = 0.0
        lo = 0
        for i in range(m):  # runs of beats without a gap: beats lo..i
            if raw[i] > limit:
                if i - lo + 1 > most:
                    most = i - lo + 1
                x = bt[i] - bt[lo]
                if x > longest:
                    longest = x
                lo = i + 1
        if nb - lo > most:
            most = nb - lo
        x = bt[nb - 1] - bt[lo]
        if x > longest:
            longest = x
        if most < many_beats and longest < min_episode:
            return None
        lo, hi = 0, m  # bisect_right(ds, limit)
        while lo < hi:
            mid = (lo + hi) // 2
            if limit < tmp[mid]:
                hi = mid
            else:
                lo = mid + 1
        ds = [None] * m
        for i in range(m):
            ds[i] = tmp[i]
        return w, nb, d, ds, lo
    finally:
        PyMem_Free(ts)
