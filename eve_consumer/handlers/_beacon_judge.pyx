# cython: language_level=3
"""The beacon score of a series, compiled (optional accelerator).

:func:`judge_small` is ``eve_consumer.handlers.beacon_score._judge_small_py`` — merge window,
beats, intervals, median and episode tests of a short sorted series of finite starts — on C
doubles: the same IEEE operations in the same order (subtractions of neighbours, the
comparisons ``diff > w``, ``t[b-1] − t[a] > w``, ``t[i] > t[a] + w``, ``x > limit``), so
the same beats, intervals, sorted intervals and verdict, bit for bit; :func:`judge_array`
is the same for a float64 array of any length (``_judge_numpy``'s results, as arrays).
:func:`regularity` is ``regularity_stats`` and :func:`size_dispersion` is
``size_dispersion``: numpy's pairwise summation replayed (:func:`_pairwise`), and numpy's own
``log`` and ``partition`` called where the result depends on numpy's implementation (its SIMD
``log`` differs from libm's in the last bit for some values; the local statistic sums the
values ``partition`` kept in the order it left them). The pure functions stay the reference
and the fallback; tests/test_beacon_score_paths.py and tests/test_beacon_eval_paths.py compare
both on thousands of random, hostile and real series.

Sorting: the intervals are differences ``b − a`` of sorted finite starts, so never −0.0 (an
exact tie gives +0.0) and never NaN: equal values are the same double and any correct sort
gives the list ``sorted()`` gives (:func:`_sort`, an introsort: glibc's ``qsort`` with its
comparison callback cost more than numpy's sort it replaced).
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport ceil, isfinite, log
from libc.stdint cimport int64_t
from libc.string cimport memcpy


cdef void *_data(object arr) except NULL:
    """The data of a non-empty numpy array made here (``np.empty``; a float64 ufunc result):
    its writable C-contiguous buffer's pointer, valid while *arr* lives (numpy never moves
    an array's data) — without a typed memoryview's object and format check per array."""
    cdef Py_buffer view
    cdef void *p
    PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
    p = view.buf
    PyBuffer_Release(&view)
    if p == NULL:
        raise ValueError("an array without data")
    return p


cdef inline void _insertion(double *a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double x
    for i in range(1, n):
        x = a[i]
        j = i
        while j > 0 and a[j - 1] > x:
            a[j] = a[j - 1]
            j -= 1
        a[j] = x


cdef void _sift(double *a, Py_ssize_t root, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t child
    cdef double x = a[root]
    while 2 * root + 1 < n:
        child = 2 * root + 1
        if child + 1 < n and a[child] < a[child + 1]:
            child += 1
        if not x < a[child]:
            break
        a[root] = a[child]
        root = child
    a[root] = x


cdef void _heapsort(double *a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double x
    i = n // 2 - 1
    while i >= 0:
        _sift(a, i, n)
        i -= 1
    i = n - 1
    while i > 0:
        x = a[0]
        a[0] = a[i]
        a[i] = x
        _sift(a, 0, i)
        i -= 1


cdef inline Py_ssize_t _partition(double *a, Py_ssize_t n) noexcept nogil:
    """Hoare partition of n > 2 doubles around the median of the first, middle and last:
    j with a[:j + 1] <= pivot <= a[j + 1:], both sides non-empty."""
    cdef Py_ssize_t i = n // 2, j
    cdef double p, x
    if a[i] < a[0]:
        a[i], a[0] = a[0], a[i]
    if a[n - 1] < a[i]:
        a[n - 1], a[i] = a[i], a[n - 1]
        if a[i] < a[0]:
            a[i], a[0] = a[0], a[i]
    p = a[i]
    i = 0
    j = n - 1
    while True:
        while a[i] < p:
            i += 1
        while p < a[j]:
            j -= 1
        if i >= j:
            return j
        x = a[i]
        a[i] = a[j]
        a[j] = x
        i += 1
        j -= 1


cdef void _intro(double *a, Py_ssize_t n, int depth) noexcept nogil:
    cdef Py_ssize_t j
    while n > 16:
        if depth == 0:  # adversarial input: O(n log n) whatever the pivots
            _heapsort(a, n)
            return
        depth -= 1
        j = _partition(a, n)
        _intro(a + j + 1, n - j - 1, depth)
        n = j + 1
    _insertion(a, n)


cdef int _depth(Py_ssize_t n) noexcept nogil:
    cdef int depth = 0
    while n > 1:
        depth += 2
        n >>= 1
    return depth


cdef double _select(double *a, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """The k-th smallest of n doubles (no NaN), a reordered: quickselect, a sort of what is
    left past 2 log2 n rounds (adversarial input)."""
    cdef Py_ssize_t j
    cdef int depth = _depth(n)
    while n > 16:
        if depth == 0:
            _intro(a, n, 0)
            return a[k]
        depth -= 1
        j = _partition(a, n)
        if k <= j:
            n = j + 1
        else:
            a += j + 1
            n -= j + 1
            k -= j + 1
    _insertion(a, n)
    return a[k]


cdef void _sort(double *a, Py_ssize_t n) noexcept nogil:
    """Sort n doubles (no NaN: every caller's values are finite or infinite) ascending:
    introsort (insertion sort under 17, heapsort past 2 log2 n levels). Equal values are the
    same double here (no −0.0 meets +0.0), so any correct sort gives ``sorted()``'s list."""
    _intro(a, n, _depth(n))


cdef Py_ssize_t NUMPY_SORT_MIN = 64  # longer arrays: numpy's (SIMD) sort beats the introsort


cdef int _sort_by(double *a, Py_ssize_t n, object np) except -1:
    """:func:`_sort`, or numpy's sort of a copy when *np* is given and the array is longer
    than ``NUMPY_SORT_MIN`` (a vectorised sort: ≈ 3 µs for 1,000 doubles against ≈ 35 µs;
    the same values, so the same sorted array: no NaN, no −0.0 beside +0.0 here)."""
    cdef double *p
    if np is None or n <= NUMPY_SORT_MIN:
        _sort(a, n)
        return 0
    arr = np.empty(n)
    p = <double *>_data(arr)
    memcpy(p, a, n * sizeof(double))
    arr.sort()
    memcpy(a, p, n * sizeof(double))
    return 0


cdef double _select_by(double *a, Py_ssize_t n, Py_ssize_t k, object np) except? -1.0:
    """:func:`_select`, or numpy's ``partition`` of a copy when *np* is given and the array
    is longer than ``NUMPY_SORT_MIN`` (the k-th smallest is one value whatever selects it)."""
    cdef double *p
    if np is None or n <= NUMPY_SORT_MIN:
        return _select(a, n, k)
    arr = np.empty(n)
    p = <double *>_data(arr)
    memcpy(p, a, n * sizeof(double))
    arr.partition(k)
    return p[k]


cdef inline Py_ssize_t _bisect_right(const double *a, Py_ssize_t n, double x) noexcept nogil:
    """``bisect.bisect_right`` of the n sorted doubles *a* and *x*."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef Py_ssize_t _judge(const double *ts, Py_ssize_t n, Py_ssize_t need, double merge_s,
                       double merge_fraction, double min_period, double gap_factor,
                       Py_ssize_t many_beats, double min_episode, double *raw, double *tmp,
                       double *bt, double *w_out, Py_ssize_t *nb_out,
                       Py_ssize_t *body_out, object np) except -2:
    """The judgement of the n ≥ 2 sorted finite starts *ts* into the n-double buffers *raw*
    (then: the intervals), *tmp* (then: the intervals sorted) and *bt* (the beats): the
    number of intervals, or -1 when not judged (sorts by :func:`_sort_by` with *np*)."""
    cdef Py_ssize_t m, i, a, b, k, nb, lo, most
    cdef double w, lim, med, limit, longest, x, v
    m = n - 1
    for i in range(m):
        raw[i] = ts[i + 1] - ts[i]
    for i in range(m):
        tmp[i] = raw[i]
    _sort_by(tmp, m, np)
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
            return -1
        m = nb - 1
        for i in range(m):
            x = bt[i + 1] - bt[i]
            raw[i] = x
            tmp[i] = x
        _sort_by(tmp, m, np)
    # (every start a beat: raw and tmp already hold the intervals and their sorted copy)
    med = tmp[m // 2]
    if med < min_period:
        return -1
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
        return -1
    w_out[0] = w
    nb_out[0] = nb
    body_out[0] = _bisect_right(tmp, m, limit)
    return m


def judge_small(list t, Py_ssize_t need, double merge_s, double merge_fraction,
                double min_period, double gap_factor, Py_ssize_t many_beats,
                double min_episode):
    """(merge window, beats, intervals as a list, the intervals sorted as a list, how many
    are not gaps) of the sorted finite starts *t* (floats, at least 2), or None when not
    judged — ``_judge_small_py`` with its constants passed in."""
    cdef Py_ssize_t n = len(t), m, i, nb, body
    cdef double w
    cdef double *ts = NULL
    if n < 2:
        raise ValueError("judge_small: fewer than 2 starts")
    ts = <double *>PyMem_Malloc(4 * n * sizeof(double))
    if ts == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            ts[i] = t[i]  # a float (TypeError otherwise)
        m = _judge(ts, n, need, merge_s, merge_fraction, min_period, gap_factor, many_beats,
                   min_episode, ts + n, ts + 2 * n, ts + 3 * n, &w, &nb, &body, None)
        if m < 0:
            return None
        d = [ts[n + i] for i in range(m)]
        ds = [ts[2 * n + i] for i in range(m)]
        return w, nb, d, ds, body
    finally:
        PyMem_Free(ts)


cdef double *_judged(const double[:] t, str who, Py_ssize_t need, double merge_s,
                     double merge_fraction, double min_period, double gap_factor,
                     Py_ssize_t many_beats, double min_episode, Py_ssize_t *m_out,
                     double *w_out, Py_ssize_t *nb_out, Py_ssize_t *body_out,
                     object np) except NULL:
    """:func:`_judge` of the starts *t* (at least 2) copied into a new buffer of 4 n doubles
    (the starts, then the intervals, the intervals sorted and the beats), which the caller
    frees; the judgement's length in *m_out* (< 0: not judged)."""
    cdef Py_ssize_t n = t.shape[0], i
    cdef double *ts
    if n < 2:
        raise ValueError(f"{who}: fewer than 2 starts")
    ts = <double *>PyMem_Malloc(4 * n * sizeof(double))
    if ts == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            ts[i] = t[i]
        m_out[0] = _judge(ts, n, need, merge_s, merge_fraction, min_period, gap_factor,
                          many_beats, min_episode, ts + n, ts + 2 * n, ts + 3 * n, w_out,
                          nb_out, body_out, np)
    except BaseException:
        PyMem_Free(ts)
        raise
    return ts


def judge_array(const double[:] t, Py_ssize_t need, double merge_s, double merge_fraction,
                double min_period, double gap_factor, Py_ssize_t many_beats,
                double min_episode, object np):
    """:func:`judge_small` of the sorted finite starts *t* (a float64 array of any length,
    at least 2): the intervals and the sorted intervals as new float64 arrays (made by the
    numpy module *np*, passed in: importing this module must not import numpy)."""
    cdef Py_ssize_t n = t.shape[0], m, nb, body
    cdef double w
    cdef double *ts = _judged(t, "judge_array", need, merge_s, merge_fraction, min_period,
                              gap_factor, many_beats, min_episode, &m, &w, &nb, &body, np)
    try:
        if m < 0:
            return None
        d = np.empty(m)
        ds = np.empty(m)
        if m:
            memcpy(_data(d), ts + n, m * sizeof(double))
            memcpy(_data(ds), ts + 2 * n, m * sizeof(double))
        return w, nb, d, ds, body
    finally:
        PyMem_Free(ts)


cdef double _pairwise(const double *a, Py_ssize_t n) noexcept nogil:
    """``np.add.reduce`` of the n contiguous doubles *a*, in numpy's order: sequential under
    8, eight interleaved accumulators up to 128, halves (a multiple of 8 first) above
    (``DOUBLE_pairwise_sum``; tests/test_beacon_score_paths.py checks it against numpy)."""
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    cdef Py_ssize_t i, n2
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
        r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
        i = 8
        while i < n - (n % 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, n2) + _pairwise(a + n2, n - n2)


def pairwise_sum(const double[::1] a):
    """:func:`_pairwise` of a float64 array (for the tests: it must equal ``np.add.reduce``)."""
    if a.shape[0] == 0:
        return 0.0
    return _pairwise(&a[0], a.shape[0])


def segment_sum(const double[::1] a):
    """One segment of ``np.add.reduceat``: its first value plus the others' pairwise sum (for
    the tests: it must equal ``np.add.reduceat``'s)."""
    if a.shape[0] == 0:
        raise ValueError("segment_sum: empty")
    return a[0] + _pairwise(&a[0] + 1, a.shape[0] - 1)


def regularity(const double[::1] intervals, double window, object np, double floor_fraction,
               double gap_factor, Py_ssize_t block, double local_keep,
               const double[::1] ordered=None):
    """``beacon_score.regularity_stats(intervals, window)`` — (n used, shape, local, spread)
    or None — with the same IEEE operations in the same order: numpy's pairwise sums
    (:func:`_pairwise`; ``reduceat``: the first value plus the rest's pairwise sum), its
    ``log`` of the intervals and of the block means and its ``partition`` (whose order the
    local sum depends on) called on arrays of the same values (*np*: the numpy module), libm's
    ``log`` where the reference calls ``math.log``. ``NotImplemented`` when an interval is not
    finite or their sum overflows: the caller runs the reference (whose errors are its own).
    *ordered*: the intervals sorted when the caller has them (``judge_array``'s): ``x − w``
    and the floor are monotone, so they map it onto the sorted excess without a sort."""
    cdef Py_ssize_t m = intervals.shape[0]
    if m < 1:
        raise ValueError("regularity: no intervals")
    if ordered is not None and ordered.shape[0] != m:
        raise ValueError("regularity: ordered is not the intervals sorted")
    return _regularity(&intervals[0], m, window, np, floor_fraction, gap_factor, block,
                       local_keep, NULL if ordered is None else &ordered[0])


cdef object _regularity(const double *intervals, Py_ssize_t m, double window, object np,
                        double floor_fraction, double gap_factor, Py_ssize_t block,
                        double local_keep, const double *ordered):
    """:func:`regularity` of the m ≥ 1 doubles *intervals* (*ordered*: their sorted copy, or
    NULL)."""
    cdef Py_ssize_t i, j, n, top, body, nb, keep, rn, c
    cdef Py_ssize_t e0, e1
    cdef double floor, limit, x, days, shape, local, total
    cdef double *d = NULL
    cdef double *ds = NULL
    cdef double *lv
    cdef double *mv
    cdef double *qv
    cdef double *rv
    for i in range(m):
        if not isfinite(intervals[i]):
            return NotImplemented
    d = <double *>PyMem_Malloc(2 * m * sizeof(double))
    if d == NULL:
        raise MemoryError()
    ds = d + m
    try:
        for i in range(m):
            d[i] = intervals[i] - window
        if ordered == NULL:
            memcpy(ds, d, m * sizeof(double))
            _sort_by(ds, m, np)
        else:
            for i in range(m):
                ds[i] = ordered[i] - window
        floor = floor_fraction * ds[m // 2]
        if not floor > 1e-6:  # max(1e-6, x): x only when greater
            floor = 1e-6
        for i in range(m):  # np.maximum(x, floor): x when x >= floor
            if not d[i] >= floor:
                d[i] = floor
            if not ds[i] >= floor:
                ds[i] = floor
        limit = gap_factor * ds[m // 2]
        top = m
        n = m
        if ds[m - 1] > limit:
            body = _bisect_right(ds, m, limit)
            total = _pairwise(intervals, m)
            if not isfinite(total / 86400.0):
                return NotImplemented  # math.ceil(inf): the reference's OverflowError
            days = ceil(total / 86400.0)
            if m - body <= 2 + days + m // 100:  # nights, outages: left out
                n = 0
                for i in range(m):
                    if d[i] <= limit:
                        d[n] = d[i]
                        n += 1
                top = body
        if n < 3:
            return None
        arr = np.empty(n)
        memcpy(_data(arr), d, n * sizeof(double))
        ld = np.log(arr)
        lv = <double *>_data(ld)
        nb = n // block
        if nb <= 1:
            shape = log(_pairwise(d, n) / n) - _pairwise(lv, n) / n
        else:
            means = np.empty(nb)
            logmeans = np.empty(nb)
            mv = <double *>_data(means)
            qv = <double *>_data(logmeans)
            for i in range(nb):  # block i: (i n) // nb .. ((i + 1) n) // nb
                e0 = (i * n) // nb
                e1 = ((i + 1) * n) // nb
                c = e1 - e0
                mv[i] = (d[e0] + _pairwise(d + e0 + 1, c - 1)) / <double>c
                qv[i] = (lv[e0] + _pairwise(lv + e0 + 1, c - 1)) / <double>c
            logs = np.log(means)
            mv = <double *>_data(logs)
            for i in range(nb):
                e0 = (i * n) // nb
                e1 = ((i + 1) * n) // nb
                qv[i] = (mv[i] - qv[i]) * <double>(e1 - e0)
            shape = _pairwise(qv, nb) / n
        rn = n - 1
        r2 = np.empty(rn)
        rv = <double *>_data(r2)
        for i in range(rn):
            x = lv[i + 1] - lv[i]
            rv[i] = x * x
        keep = <Py_ssize_t>(rn * local_keep)
        if keep < 1:
            keep = 1
        if keep < rn:
            r2.partition(keep - 1)  # numpy's order of the kept values: the sum's order
        local = _pairwise(rv, keep) / keep
        return n, shape, local, log(ds[top - 1] / ds[0])
    finally:
        PyMem_Free(d)


def size_dispersion(const int64_t[:] sizes, object np=None):
    """``beacon_score.size_dispersion`` of int64 sizes: MAD/median as a float, None when
    fewer than 3 or the median is not positive (the values are exact: no sums). *np*: the
    numpy module, whose ``partition`` selects in a long array (:func:`_select_by`)."""
    return _size_dispersion(sizes, np)


cdef object _size_dispersion(const int64_t[:] sizes, object np):
    cdef Py_ssize_t n = sizes.shape[0], i
    cdef double med
    cdef double *s = NULL
    if n < 3:
        return None
    s = <double *>PyMem_Malloc(n * sizeof(double))
    if s == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            s[i] = <double>sizes[i]
        med = _select_by(s, n, n // 2, np)  # the sorted copy's middle value
        if med <= 0:
            return None
        for i in range(n):
            s[i] = abs(s[i] - med)
        return _select_by(s, n, n // 2, np) / med
    finally:
        PyMem_Free(s)


def score_parts(const double[:] t, Py_ssize_t need, double merge_s, double merge_fraction,
                double min_period, double gap_factor, Py_ssize_t many_beats,
                double min_episode, double floor_fraction, Py_ssize_t block,
                double local_keep, object sizes, object np):
    """:func:`judge_array`, :func:`regularity` and :func:`size_dispersion` in one call — the
    pieces of ``beacon_score._score_compiled``'s verdict: None when not judged, else (merge
    window, beats, intervals as a new float64 array, how many are not gaps, the statistics —
    None, or ``NotImplemented`` where :func:`regularity` leaves them to the reference —, the
    10th, 50th and 90th percentiles of the intervals that are not gaps, the size dispersion).
    *sizes*: an int64 array (its dispersion is computed after the statistics, None when they
    are None) or None (the caller computes it)."""
    cdef Py_ssize_t n = t.shape[0], m, nb, body, last
    cdef double w, q10, q50, q90
    cdef double *ts = _judged(t, "score_parts", need, merge_s, merge_fraction, min_period,
                              gap_factor, many_beats, min_episode, &m, &w, &nb, &body, np)
    try:
        if m < 0:
            return None
        d = np.empty(m)
        memcpy(_data(d), ts + n, m * sizeof(double))
        stats = _regularity(ts + n, m, w, np, floor_fraction, gap_factor, block, local_keep,
                            ts + 2 * n)
        last = body - 1  # int(q · (body_n − 1)): a truncated double, as in Python
        q10 = ts[2 * n + <Py_ssize_t>(0.1 * last)]
        q50 = ts[2 * n + <Py_ssize_t>(0.5 * last)]
        q90 = ts[2 * n + <Py_ssize_t>(0.9 * last)]
        disp = None
        if sizes is not None and stats is not None and stats is not NotImplemented:
            disp = _size_dispersion(sizes, np)
        return w, nb, d, body, stats, q10, q50, q90, disp
    finally:
        PyMem_Free(ts)


# --- the fold: PairSeries.add of many chunks ----------------------------------------------

cdef bint _plain(const double *a, Py_ssize_t n) noexcept nogil:
    """Every value finite and non-zero: one order and one representation per value (no NaN,
    no −0.0 beside +0.0), so any correct sort gives ``np.sort``'s bytes."""
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(a[i]) or a[i] == 0.0:
            return False
    return True


def add_chunks(list series, const double[::1] times, const Py_ssize_t[::1] tb,
               const int64_t[::1] sizes, const Py_ssize_t[::1] sb, Py_ssize_t max_starts,
               Py_ssize_t max_sizes, object np):
    """``series[i].add(times[tb[i]:tb[i + 1]], sizes[sb[i]:sb[i + 1]])`` for every i, with
    the arrays ``PairSeries.add`` makes (the starts: the old ones and the chunk's, sorted, the
    last *max_starts*; the sizes: the old ones then the chunk's, the last *max_sizes*) made
    here — exact-size new arrays. A chunk or series with a value that is not finite or is
    zero goes to ``series[i].add`` itself (the reference)."""
    cdef Py_ssize_t i, n = len(series), t0, t1, k, s0, s1, q, m, keep, j, a, b, c
    cdef double *buf = NULL
    cdef double *chunk
    cdef const double[:] ov
    cdef const int64_t[:] oz
    cdef int64_t *zv
    if tb.shape[0] != n + 1 or sb.shape[0] != n + 1:
        raise ValueError("add_chunks: bounds are not one more than the series")
    empty, int64 = np.empty, np.int64
    if n and (tb[n] > times.shape[0] or sb[n] > sizes.shape[0]):
        raise ValueError("add_chunks: bounds past the arrays")
    for i in range(n):
        ser = series[i]
        t0, t1, s0, s1 = tb[i], tb[i + 1], sb[i], sb[i + 1]
        if not (0 <= t0 <= t1 and 0 <= s0 <= s1):
            raise ValueError("add_chunks: bounds not in order")
        k = t1 - t0
        if k == 0:
            continue  # PairSeries.add: no starts, nothing (not even the sizes)
        old = ser.starts
        q = len(old)
        if not _plain(&times[t0], k):
            ser.add(np.asarray(times[t0:t1]), np.asarray(sizes[s0:s1]))
            continue
        buf = <double *>PyMem_Malloc((q + k) * sizeof(double))
        if buf == NULL:
            raise MemoryError()
        try:
            if q:  # (a typed view only of a non-empty series: the first fold has none)
                ov = old
                for j in range(q):
                    buf[j] = ov[j]
            if not _plain(buf, q):
                ser.add(np.asarray(times[t0:t1]), np.asarray(sizes[s0:s1]))
                continue
            chunk = buf + q
            memcpy(chunk, &times[t0], k * sizeof(double))
            _sort_by(chunk, k, np)
            if q and chunk[0] < buf[q - 1]:  # a late chunk: sorted in again
                _sort_by(buf, q + k, np)
            m = q + k
            keep = m if m < max_starts else max_starts
            new = empty(keep)
            memcpy(_data(new), buf + m - keep, keep * sizeof(double))
        finally:
            PyMem_Free(buf)
            buf = NULL
        ser.starts = new
        c = s1 - s0
        if c:
            olds = ser.sizes
            q = len(olds)
            if q:
                oz = olds
            m = q + c
            keep = m if m < max_sizes else max_sizes
            snew = empty(keep, int64)
            zv = <int64_t *>_data(snew)
            a = m - keep  # the first kept of old ++ chunk
            for j in range(keep):
                b = a + j
                zv[j] = oz[b] if b < q else sizes[s0 + b - q]
            ser.sizes = snew
        ser._dirty = True


def gather(list batch, object np):
    """(every pending start of the pairs of *batch* in order, their sizes as an int64 array,
    the bounds: pair i's rows are bounds[i] .. bounds[i + 1]) — what the beacon's fold makes
    with ``list(chain.from_iterable(...))``, ``np.fromiter(..., np.int64)`` and the lengths'
    sums, in one pass. The sizes are None when one is not an ``int`` in int64's range or a
    pair holds another number of sizes than starts: the caller reads them as the reference
    does (``np.fromiter``: its conversions and its errors)."""
    cdef Py_ssize_t n = len(batch), i, j, k, total = 0, at = 0
    cdef Py_ssize_t *bp
    cdef int64_t *zp = NULL
    cdef long long v
    cdef bint plain = True
    flat = []
    bounds = np.empty(n + 1, np.intp)
    bp = <Py_ssize_t *>_data(bounds)
    bp[0] = 0
    for i in range(n):
        pending = batch[i].pending
        flat.extend(pending)
        total += len(pending)
        bp[i + 1] = total
    sizes = np.empty(total, np.int64)
    if total:
        zp = <int64_t *>_data(sizes)
    for i in range(n):
        pair = batch[i]
        sz = pair.sizes
        if type(sz) is not list:
            return flat, None, bounds
        k = len(<list>sz)
        if k != bp[i + 1] - bp[i]:
            return flat, None, bounds
        for j in range(k):
            x = (<list>sz)[j]
            if type(x) is not int:
                return flat, None, bounds
            try:
                v = x
            except OverflowError:
                return flat, None, bounds
            zp[at] = v
            at += 1
    return flat, sizes, bounds
