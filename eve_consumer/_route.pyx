# cython: language_level=3
"""Compiled route codes for ``consume --workers N`` (optional; see :mod:`eve_consumer.shard`).

:class:`FastRoutes` computes :meth:`eve_consumer.shard.Router.route` for a batch with the
per-line work in C: the (event type, ``src_ip``, ``dest_ip``) of Suricata's compact layout is
found by scanning the line's bytes (``_sk_find``/``memchr`` and explicit length checks — the
same leftmost match as the pure router's regular expression, never reading outside the
line), joined into one key and looked up in a cache of codes: first a C cache (keys of at
most ``FAST_CACHE_KEY`` bytes, hashed in C, ``FAST_CACHE_SETS`` sets of ``FAST_CACHE_WAYS``;
a hit makes no Python object), then the dict cache (a ``bytes`` key). The C cache holds only
what the dict holds — filled from it, cleared with it at its bound, a full set overwritten in
turn — and a code never goes stale (hosts are placed once, never moved). Only what the pure router
does in Python anyway runs Python, through the pure router itself, so the codes, the host
placement and the load accounting are the same by construction:

- a key not in the cache (first sight, or after the cache was cleared): the batch's missing
  keys go to :meth:`~eve_consumer.shard.Router.codes_of` (new internal hosts placed,
  weighted by their lines: every line holding an unplaced host is a miss, since a code is
  cached only once its hosts are placed);
- a line without the compact fields (FALLBACK): :meth:`~eve_consumer.shard.Router.general`,
  after the batch's placement, in line order;
- a ``dns`` line: :meth:`~eve_consumer.shard.Router.dns_code`'s byte tests, in C;
- a ``flow`` line shared by two workers: :meth:`~eve_consumer.shard.Router.flow_code`'s
  tests (the prefilter's verdict from the bytes: proto, age) in C, by the prefilter itself
  when a field it reads is one C does not read alike (an address not ASCII, an age not plain
  digits);
- the loads: per (code, cost class) in order of first occurrence, as
  :meth:`~eve_consumer.shard.Router.account` adds them.

Hostile lines (truncated, escapes, NUL bytes, non-UTF-8) are only compared byte by byte. The
searches (``_sk_find``: a needle's first two bytes 32 or 16 positions at a time, then the
rest compared; ``_sk_find_et``, the same compiled for the compact scan's needle), the flow
tests' pass over the quotes and colons that may start a text it looks for
(``_sk_flow_plain``, which also notes the first ``"proto":"`` and ``"age":``) and the
top-level key test over quotes and brackets (``_sk_top_keys``) use SSE2 when the build has it
(x86-64 always), a byte loop otherwise, and read no byte outside the line; so do the key's
copy, hash and compare (``_sk_copy``, ``_sk_tail``, ``_sk_eq``: overlapping loads within the
field, no libc call for short fields).

:func:`cut` is :func:`eve_consumer.shard.mine` for a worker's lines cut from the
memory-mapped file, in one C loop (every line checked against the end of the map): the lines
copied into one bytes object, newline-ended, handed out as a raw
:class:`~sakimori.eve.lines.Lines` with its newline offsets — the compiled batch loop
(``eve_consumer/_fastfeed.pyx``) reads them in place, no ``bytes`` object per line.

:func:`scan` is one :meth:`sakimori.eve.file.FileInput.read_batch` over the memory-mapped
file — the same batches (chunks of ``max_bytes``, at most ``max_lines`` lines) as the lines'
lengths, no line object; :meth:`FastRoutes.scan_route` routes each line as the scan finds it
(:meth:`FastRoutes.route_view`: a scanned batch afterwards). A DNS answer every worker's
decoder skips unparsed (``shard.DnsSkip``) is found from the bytes as
:meth:`eve_consumer.shard.Router.dns_skipped` finds it (one cache of rrname verdicts).

**A file that shrinks while it is read.** Reading a mapped page past the file's new end
raises SIGBUS, which would kill the process. Every loop here that reads the mapped file
(:func:`scan`, :meth:`FastRoutes.scan_route`, :meth:`FastRoutes.route_view`, :func:`cut`)
runs under a guard (``_sk_guarded``, C below): for the call's duration a SIGBUS handler is
installed that, for a fault inside the view's address range in this thread, jumps back out of
the loop (``siglongjmp``), and the call raises :class:`MapShrank`. Only C code runs between
the guard and a mapped read (the loops, ``memchr``/``memmem``, ``PyBytes_FromStringAndSize``
after its allocation): no Python frame is left half-done; the objects of the abandoned batch
are leaked (the run stops). Any other SIGBUS gets the previous disposition back.
"""

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython cimport array as carray

from array import array
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy, memset


from sakimori.eve.lines import Lines

cdef extern from "string.h":
    const void *memmem(const void *haystack, size_t haystacklen, const void *needle,
                       size_t needlelen) nogil

cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif

    #include <stdint.h>

    /* 8 and 4 bytes at p (any alignment; memcpy of a constant size compiles to one load). */
    static inline uint64_t _sk_ld8(const char *p) { uint64_t x; memcpy(&x, p, 8); return x; }
    static inline uint32_t _sk_ld4(const char *p) { uint32_t x; memcpy(&x, p, 4); return x; }

    /* memcmp(a, b, n) == 0 for 0 <= n: up to 16 bytes by two (overlapping) loads of each,
       up to 32 by four, longer by 8-byte words, the last one overlapping; reading a[0:n] and
       b[0:n] only. */
    static inline int _sk_eq(const char *a, const char *b, Py_ssize_t n) {
        Py_ssize_t i;
        if (n > 16 && n <= 32)  /* an IPv4 key: four loads of each, one branch */
            return ((_sk_ld8(a) ^ _sk_ld8(b)) | (_sk_ld8(a + 8) ^ _sk_ld8(b + 8))
                    | (_sk_ld8(a + n - 16) ^ _sk_ld8(b + n - 16))
                    | (_sk_ld8(a + n - 8) ^ _sk_ld8(b + n - 8))) == 0;
        if (n >= 8) {
            for (i = 0; i + 8 < n; i += 8)
                if (_sk_ld8(a + i) != _sk_ld8(b + i))
                    return 0;
            return _sk_ld8(a + n - 8) == _sk_ld8(b + n - 8);
        }
        if (n >= 4)
            return _sk_ld4(a) == _sk_ld4(b) && _sk_ld4(a + n - 4) == _sk_ld4(b + n - 4);
        for (i = 0; i < n; i++)
            if (a[i] != b[i])
                return 0;
        return 1;
    }

    /* memcpy(d, s, n) for 0 <= n without a call for n <= 16 (two overlapping loads and
       stores of 8 or 4 bytes, or bytes), reading s[0:n] and writing d[0:n] only. */
    static inline void _sk_copy(char *d, const char *s, Py_ssize_t n) {
        uint64_t a, b;
        uint32_t c, e;
        if (n > 16) {
            memcpy(d, s, (size_t)n);
        } else if (n >= 8) {
            a = _sk_ld8(s);
            b = _sk_ld8(s + n - 8);
            memcpy(d, &a, 8);
            memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
            c = _sk_ld4(s);
            e = _sk_ld4(s + n - 4);
            memcpy(d, &c, 4);
            memcpy(d + n - 4, &e, 4);
        } else if (n > 0) {
            d[0] = s[0];
            d[n >> 1] = s[n >> 1];
            d[n - 1] = s[n - 1];
        }
    }

    /* The value memcpy(&w, p, n) gives a zeroed uint64_t w, for 0 < n < 8, without a call:
       two overlapping loads OR-ed (the overlapping bytes are the same). */
    static inline uint64_t _sk_tail(const char *p, Py_ssize_t n) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n >= 4)
            return (uint64_t)_sk_ld4(p) | ((uint64_t)_sk_ld4(p + n - 4) << (8 * (n - 4)));
        return (uint64_t)(unsigned char)p[0]
            | ((uint64_t)(unsigned char)p[n >> 1] << (8 * (n >> 1)))
            | ((uint64_t)(unsigned char)p[n - 1] << (8 * (n - 1)));
    #else
        uint64_t w = 0;
        memcpy(&w, p, (size_t)n);
        return w;
    #endif
    }

    /* memchr(p, '"', end - p) for p <= end: the first 16 bytes compared at once (SSE2,
       when they lie before end: an address fits), else memchr. */
    static inline const char *_sk_quote(const char *p, const char *end) {
    #if defined(__SSE2__)
        if (end - p >= 16) {
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                _mm_loadu_si128((const __m128i *)p), _mm_set1_epi8('"')));
            if (m)
                return p + __builtin_ctz(m);
            p += 16;
        }
    #endif
        return (const char *)memchr(p, '"', (size_t)(end - p));
    }

    #if defined(__GNUC__)
    #define _SK_INLINE static inline __attribute__((always_inline))
    #else
    #define _SK_INLINE static inline
    #endif

    /* memmem(h, n, w, k) for 2 <= k (the leftmost match): positions whose first two bytes
       are w's found 32 or 16 at a time (SSE2 when built for it), each checked by _sk_eq.
       Inlined where the needle is a constant (_sk_find_et), called elsewhere (_sk_find). */
    _SK_INLINE const char *_sk_find_in(const char *h, Py_ssize_t n, const char *w,
                                       Py_ssize_t k) {
        Py_ssize_t base = 0, last = n - k, i;  /* a match starts at most at last */
        unsigned mask;
        if (k < 2 || last < 0)
            return (const char *)memmem(h, (size_t)(n < 0 ? 0 : n), w, (size_t)k);
    #if defined(__SSE2__)
        {
            __m128i c0 = _mm_set1_epi8(w[0]), c1 = _mm_set1_epi8(w[1]);
            /* 32 positions a step while they fit (reads h[base .. base+33) <= n), then 16 */
            for (; base + 32 <= last; base += 32) {
                __m128i v0 = _mm_loadu_si128((const __m128i *)(h + base));
                __m128i v1 = _mm_loadu_si128((const __m128i *)(h + base + 1));
                __m128i v2 = _mm_loadu_si128((const __m128i *)(h + base + 16));
                __m128i v3 = _mm_loadu_si128((const __m128i *)(h + base + 17));
                unsigned m0 = (unsigned)_mm_movemask_epi8(
                    _mm_and_si128(_mm_cmpeq_epi8(v0, c0), _mm_cmpeq_epi8(v1, c1)));
                unsigned m1 = (unsigned)_mm_movemask_epi8(
                    _mm_and_si128(_mm_cmpeq_epi8(v2, c0), _mm_cmpeq_epi8(v3, c1)));
                mask = m0 | (m1 << 16);
                while (mask) {
                    i = base + __builtin_ctz(mask);
                    mask &= mask - 1;
                    if (_sk_eq(h + i + 2, w + 2, k - 2))
                        return h + i;
                }
            }
            for (; base + 16 <= last; base += 16) {  /* reads h[base .. base+16] < n */
                __m128i v0 = _mm_loadu_si128((const __m128i *)(h + base));
                __m128i v1 = _mm_loadu_si128((const __m128i *)(h + base + 1));
                mask = (unsigned)_mm_movemask_epi8(
                    _mm_and_si128(_mm_cmpeq_epi8(v0, c0), _mm_cmpeq_epi8(v1, c1)));
                while (mask) {
                    i = base + __builtin_ctz(mask);
                    mask &= mask - 1;
                    if (_sk_eq(h + i + 2, w + 2, k - 2))
                        return h + i;
                }
            }
        }
    #endif
        for (i = base; i <= last; i++)
            if (h[i] == w[0] && h[i + 1] == w[1] && _sk_eq(h + i + 2, w + 2, k - 2))
                return h + i;
        return NULL;
    }

    static const char *_sk_find(const char *h, Py_ssize_t n, const char *w, Py_ssize_t k) {
        return _sk_find_in(h, n, w, k);
    }

    /* _sk_find(h, n, _ET, _ET_LEN) with the needle a literal: the compact scan's search,
       compiled for this needle (its comparisons of constant length). */
    static const char *_sk_find_et(const char *h, Py_ssize_t n) {
        return _sk_find_in(h, n, "\\"event_type\\":\\"", 14);
    }
    """
    const char *_sk_find(const char *h, Py_ssize_t n, const char *w, Py_ssize_t k) noexcept nogil
    const char *_sk_find_et(const char *h, Py_ssize_t n) noexcept nogil
    bint _sk_eq(const char *a, const char *b, Py_ssize_t n) noexcept nogil
    void _sk_copy(char *d, const char *s, Py_ssize_t n) noexcept nogil
    uint64_t _sk_tail(const char *p, Py_ssize_t n) noexcept nogil
    const char *_sk_quote(const char *p, const char *end) noexcept nogil

cdef extern from *:
    """
    #include <setjmp.h>
    #include <signal.h>
    #include <string.h>

    /* A SIGBUS inside [_sk_lo, _sk_hi) while _sk_jmp is set (this thread): jump out. */
    static __thread sigjmp_buf *_sk_jmp = NULL;
    static __thread const char *_sk_lo = NULL;
    static __thread const char *_sk_hi = NULL;
    static struct sigaction _sk_prev;  /* the disposition before the first guard */

    static void _sk_handler(int sig, siginfo_t *info, void *uctx) {
        const char *addr = (const char *)info->si_addr;
        sigjmp_buf *jb = _sk_jmp;
        (void)sig; (void)uctx;
        if (jb != NULL && addr >= _sk_lo && addr < _sk_hi) {
            _sk_jmp = NULL;
            siglongjmp(*jb, 1);
        }
        /* not a read of a guarded view: the previous disposition, met when the faulting
           access runs again */
        sigaction(SIGBUS, &_sk_prev, NULL);
    }

    typedef int (*_sk_fn)(void *);

    /* fn(arg) with a SIGBUS on a read of [lo, hi) turned into the return value -2. Nested
       guards (one thread) keep the outer one's range for after the inner call; a guard
       never takes itself for the previous disposition (two threads guarding at once). */
    static int _sk_guarded(_sk_fn fn, void *arg, const char *lo, const char *hi) {
        struct sigaction sa, old;
        sigjmp_buf jb;
        sigjmp_buf *outer = _sk_jmp;
        const char *outer_lo = _sk_lo, *outer_hi = _sk_hi;
        int rc;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = _sk_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &old) != 0)
            return fn(arg);
        if (!((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == _sk_handler))
            _sk_prev = old;
        if (sigsetjmp(jb, 1) != 0) {
            rc = -2;
        } else {
            _sk_lo = lo;
            _sk_hi = hi;
            _sk_jmp = &jb;
            rc = fn(arg);
        }
        _sk_jmp = outer;
        _sk_lo = outer_lo;
        _sk_hi = outer_hi;
        sigaction(SIGBUS, &old, NULL);
        return rc;
    }
    """
    ctypedef int (*_sk_fn)(void *)
    int _sk_guarded(_sk_fn fn, void *arg, const char *lo, const char *hi) except -1


class MapShrank(OSError):
    """A read of the memory-mapped file met a page past its end (SIGBUS): the file shrank
    while it was read."""


cdef int _SK_FAULT = -2

# The compact layout: "event_type":"KIND","src_ip":"SRC","src_port":DIGITS,"dest_ip":"DST"
cdef const char *_ET = b'"event_type":"'
cdef Py_ssize_t _ET_LEN = 14
# the lengths of '","src_ip":"', '","src_port":' and ',"dest_ip":"' (_compact compares them
# as literals: the compiler inlines the comparisons)
cdef Py_ssize_t _SRC_LEN = 12
cdef Py_ssize_t _SPORT_LEN = 13
cdef Py_ssize_t _DST_LEN = 12
cdef unsigned char _QUOTE = 34  # "
cdef const char *_TS_START = b'{"timestamp":'
cdef const char *_RRNAME = b'"rrname":"'
cdef unsigned char _FALLBACK = 254

# The C cache of codes in front of FastRoutes.cache (_fc_*): 4-way sets, the set's hashes
# in one array (one cache line read per lookup), keys of at most _FC_KEY bytes.
cdef enum:
    _FC_WAYS = 4
    _FC_KEY = 112
FAST_CACHE_KEY = _FC_KEY
FAST_CACHE_WAYS = _FC_WAYS
FAST_CACHE_SETS = 1024  # 4096 keys (the office capture: 1,610), 512 KiB of keys


ctypedef struct _FcSlot:
    uint32_t value  # code | cost class << 8
    uint32_t len  # the slot is empty when its hash (FastRoutes.fc_hash) is 0
    char key[_FC_KEY]


cdef inline uint64_t _fc_hash(const char *k, Py_ssize_t n) noexcept nogil:
    """A 64-bit hash of k[0:n] (8 bytes a step, multiply and xor-shift); never 0 (bit 0
    set: the set is chosen from bits 40 on)."""
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL ^ <uint64_t>n
    cdef uint64_t w
    while n >= 8:
        memcpy(&w, k, 8)
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 32
        k += 8
        n -= 8
    if n > 0:
        w = _sk_tail(k, n)  # memcpy(&w, k, n) into a zeroed w, without a call
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL
    h ^= h >> 29
    h *= 0xFF51AFD7ED558CCDULL
    h ^= h >> 32
    return h | 1


cdef carray.array _UINT_ARRAY = array("I")
cdef carray.array _Q_ARRAY = array("q")  # a cut part's line numbers
cdef enum:
    _S_BATCH = 0
    _S_END = 1
    _S_LINES = 2
SCAN_BATCH = _S_BATCH
SCAN_END = _S_END
SCAN_LINES = _S_LINES


cdef inline bint _is_kind(unsigned char c) noexcept nogil:
    return (97 <= c <= 122) or c == 95  # [a-z_]


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef bint _compact(const char *s, Py_ssize_t n, Py_ssize_t *at) noexcept nogil:
    """The leftmost match of the compact fields in s[0:n]: at[0..5] = the offsets of the
    event type, the source and the destination (start, end each). False: no match."""
    cdef const char *end = s + n
    cdef const char *p = s
    cdef const char *hit
    cdef const char *q
    cdef const char *mark
    cdef const char *k1
    cdef const char *s0
    cdef const char *s1
    cdef const char *d0
    while end - p >= _ET_LEN:
        hit = _sk_find_et(p, end - p)  # _sk_find(p, end - p, _ET, _ET_LEN)
        if hit == NULL:
            return False
        p = hit + 1  # the next attempt, when this one does not match
        q = hit + _ET_LEN
        mark = q
        while q < end and _is_kind(<unsigned char>q[0]):
            q += 1
        if q == mark or end - q < _SRC_LEN or memcmp(q, b'","src_ip":"', 12) != 0:
            continue
        k1 = q
        s0 = q + _SRC_LEN
        q = _sk_quote(s0, end)
        if q == NULL:
            continue
        s1 = q
        if end - q < _SPORT_LEN or memcmp(q, b'","src_port":', 13) != 0:
            continue
        q += _SPORT_LEN
        mark = q
        while q < end and _is_digit(<unsigned char>q[0]):
            q += 1
        if q == mark or end - q < _DST_LEN or memcmp(q, b',"dest_ip":"', 12) != 0:
            continue
        d0 = q + _DST_LEN
        q = _sk_quote(d0, end)
        if q == NULL:
            continue
        at[0] = (hit + _ET_LEN) - s
        at[1] = k1 - s
        at[2] = s0 - s
        at[3] = s1 - s
        at[4] = d0 - s
        at[5] = q - s
        return True
    return False


def compact_fields(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(event type, src, dest) of *line* as the compact scan reads them, or None (tests)."""
    cdef Py_ssize_t at[6]
    cdef bytes b = bytes(memoryview(line))
    if not _compact(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), at):
        return None
    return b[at[0]:at[1]], b[at[2]:at[3]], b[at[4]:at[5]]


cdef inline void _write_key(char *k, const char *s, const Py_ssize_t *at) noexcept nogil:
    """The route key of a compact line at *k*: event type, ``"``, src, ``"``, dest (the three
    fields :func:`_compact` found at ``at[0:2]``, ``at[2:4]``, ``at[4:6]``)."""
    _sk_copy(k, s + at[0], at[1] - at[0])  # short fields: no memcpy call
    k += at[1] - at[0]
    k[0] = b'"'
    k += 1
    _sk_copy(k, s + at[2], at[3] - at[2])
    k += at[3] - at[2]
    k[0] = b'"'
    k += 1
    _sk_copy(k, s + at[4], at[5] - at[4])


cdef inline bint _has(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k) noexcept nogil:
    return n >= k and _sk_find(s, n, what, k) != NULL


cdef Py_ssize_t _find(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k,
                      Py_ssize_t start) noexcept nogil:
    """``line.find(what, start)`` for a non-empty *what* and 0 ≤ start."""
    cdef const char *hit
    if start > n or n - start < k:
        return -1
    hit = _sk_find(s + start, n - start, what, k)
    return -1 if hit == NULL else hit - s


cdef bint _not_ascii(const char *s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Does the string value starting at *i* (up to the next quote, or the end) hold a byte
    that is not ASCII?"""
    while i < n and s[i] != 34:
        if <unsigned char>s[i] >= 128:
            return True
        i += 1
    return False


cdef extern from *:
    """
    #include <string.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif

    /* The candidates of _sk_flow_plain in s[base:base+16] as bits: a quote followed by one
       of t e s d p a (the first letters of the keys it looks for), a colon followed by n.
       Bit i needs s[base+i+1]: a candidate at n - 1 has no next byte (and no text fits). */
    static inline unsigned _sk_marks(const char *s, Py_ssize_t n, Py_ssize_t base) {
        unsigned mask = 0;
        Py_ssize_t i, m = n - 1 - base < 16 ? n - 1 - base : 16;
        char c, d;
    #if defined(__SSE2__)
        if (m == 16) {  /* reads s[base .. base+17) <= n */
            __m128i v0 = _mm_loadu_si128((const __m128i *)(s + base));
            __m128i v1 = _mm_loadu_si128((const __m128i *)(s + base + 1));
            __m128i key = _mm_or_si128(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8('t')),
                                          _mm_cmpeq_epi8(v1, _mm_set1_epi8('e'))),
                             _mm_or_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8('s')),
                                          _mm_cmpeq_epi8(v1, _mm_set1_epi8('d')))),
                _mm_or_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8('p')),
                             _mm_cmpeq_epi8(v1, _mm_set1_epi8('a'))));
            return (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8('"')), key),
                _mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8(':')),
                              _mm_cmpeq_epi8(v1, _mm_set1_epi8('n')))));
        }
    #endif
        for (i = 0; i < m; i++) {
            c = s[base + i];
            d = s[base + i + 1];
            if ((c == '"' && (d == 't' || d == 'e' || d == 's' || d == 'd' || d == 'p'
                              || d == 'a')) || (c == ':' && d == 'n'))
                mask |= 1u << i;
        }
        return mask;
    }

    /* _flow_plain (below): the line's candidates (_sk_marks) visited once, 16 bytes a step
       (SSE2 when built for it); the first "proto":" and "age": noted on the way. */
    static int _sk_flow_plain(const char *s, Py_ssize_t n, Py_ssize_t *p_src,
                              Py_ssize_t *p_dst, Py_ssize_t *p_proto, Py_ssize_t *p_age) {
        Py_ssize_t base, k, rem, et_next = 0;
        int n_et = 0;
        unsigned mask;
        const char *q;
        *p_src = *p_dst = *p_proto = *p_age = -1;
        for (base = 0; base < n - 1; base += 16) {
            mask = _sk_marks(s, n, base);
            while (mask) {
                k = base + __builtin_ctz(mask);
                mask &= mask - 1;
                q = s + k;
                rem = n - k;
                switch (q[1]) {  /* q[0] is a quote, or a colon before n */
                case 'n':
                    if (*q == ':' && rem >= 5 && memcmp(q, ":null", 5) == 0)
                        return 0;
                    break;
                case 't':
                    if (rem >= 12 && k >= 13 && memcmp(q, "\\"timestamp\\":", 12) == 0)
                        return 0;
                    break;
                case 'e':
                    if (rem >= 12 && k >= et_next && memcmp(q, "\\"event_type\\"", 12) == 0) {
                        n_et += 1;
                        et_next = k + 12;
                    }
                    break;
                case 's':
                    if (rem >= 8 && memcmp(q, "\\"src_ip\\"", 8) == 0) {
                        if (*p_src >= 0)
                            return 0;
                        *p_src = k;
                    }
                    break;
                case 'd':
                    if (rem >= 9 && memcmp(q, "\\"dest_ip\\"", 9) == 0) {
                        if (*p_dst >= 0)
                            return 0;
                        *p_dst = k;
                    }
                    break;
                case 'p':
                    if (*p_proto < 0 && rem >= 9 && memcmp(q, "\\"proto\\":\\"", 9) == 0)
                        *p_proto = k;
                    break;
                case 'a':
                    if (*p_age < 0 && rem >= 6 && memcmp(q, "\\"age\\":", 6) == 0)
                        *p_age = k;
                    break;
                }
            }
        }
        return n_et == 1 && *p_src >= 0 && *p_dst >= 0;
    }

    /* The quotes and brackets of s[base:base+16] (up to n) as bits. */
    static inline unsigned _sk_structure(const char *s, Py_ssize_t n, Py_ssize_t base) {
        unsigned mask = 0;
        Py_ssize_t i, m = n - base < 16 ? n - base : 16;
        char c;
    #if defined(__SSE2__)
        if (m == 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + base));
            /* with bit 5 set, [ (0x5B) is { (0x7B) and ] (0x5D) is } (0x7D); no other byte */
            __m128i u = _mm_or_si128(v, _mm_set1_epi8(0x20));
            return (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                _mm_or_si128(_mm_cmpeq_epi8(u, _mm_set1_epi8('{')),
                             _mm_cmpeq_epi8(u, _mm_set1_epi8('}')))));
        }
    #endif
        for (i = 0; i < m; i++) {
            c = s[base + i];
            if (c == '"' || c == '{' || c == '[' || c == '}' || c == ']')
                mask |= 1u << i;
        }
        return mask;
    }

    /* top_level_keys (eve_consumer/_jsonscan.pxd) of a line of n bytes holding no backslash:
       are the keys at p_src and p_dst (0 <= each < n) outside strings at depth 1? Only the
       quotes and brackets before them (16 bytes a step) change the state. */
    static int _sk_top_keys(const char *s, Py_ssize_t n, Py_ssize_t p_src, Py_ssize_t p_dst) {
        Py_ssize_t base, k, last = p_src > p_dst ? p_src : p_dst;
        int depth = 0, in_str = 0;
        unsigned mask;
        char c;
        for (base = 0; base <= last; base += 16) {
            mask = _sk_structure(s, n, base);
            if (p_src >= base && p_src < base + 16)
                mask |= 1u << (p_src - base);
            if (p_dst >= base && p_dst < base + 16)
                mask |= 1u << (p_dst - base);
            while (mask) {
                k = base + __builtin_ctz(mask);
                mask &= mask - 1;
                if (k > last)
                    return 1;
                if (k == p_src || k == p_dst) {
                    if (in_str || depth != 1)
                        return 0;
                }
                c = s[k];
                if (in_str) {
                    if (c == '"')
                        in_str = 0;
                } else if (c == '"') {
                    in_str = 1;
                } else if (c == '{' || c == '[') {
                    depth += 1;
                } else if (c == '}' || c == ']') {
                    depth -= 1;
                }
            }
        }
        return 1;
    }
    """
    bint _sk_flow_plain(const char *s, Py_ssize_t n, Py_ssize_t *p_src, Py_ssize_t *p_dst,
                        Py_ssize_t *p_proto, Py_ssize_t *p_age) noexcept nogil
    bint _sk_top_keys(const char *s, Py_ssize_t n, Py_ssize_t p_src,
                      Py_ssize_t p_dst) noexcept nogil


cdef inline bint _flow_plain(const char *s, Py_ssize_t n, Py_ssize_t *p_src,
                             Py_ssize_t *p_dst, Py_ssize_t *p_proto,
                             Py_ssize_t *p_age) noexcept nogil:
    """No ``:null``; no ``"timestamp":`` from byte 13 on; one ``"event_type"`` (counted as
    ``bytes.count`` does, without overlaps); ``"src_ip"`` and ``"dest_ip"`` once each (their
    offsets into *p_src*/*p_dst*) — ``shard.Router.flow_code``'s byte tests, in one pass over
    the line's quotes and colons that may start one of these texts (a quote before t, e, s,
    d, p or a; a colon before n: ``_sk_flow_plain``). On the way: the first ``"proto":"``
    and ``"age":`` into *p_proto*/*p_age* (-1: none), as ``line.find`` gives them."""
    return _sk_flow_plain(s, n, p_src, p_dst, p_proto, p_age)


cdef Py_ssize_t _count(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k) noexcept nogil:
    cdef const char *end = s + n
    cdef const char *hit
    cdef Py_ssize_t found = 0
    while end - s >= k:
        hit = _sk_find(s, end - s, what, k)
        if hit == NULL:
            break
        found += 1
        s = hit + k
    return found


cdef class _Pending:
    """One batch being routed: its lines (pointers, lengths), their codes and cost classes,
    and the lines Python must see (new keys, other layouts)."""

    cdef const char **ptr
    cdef Py_ssize_t *lens
    cdef unsigned char *codes
    cdef unsigned char *classes
    cdef Py_ssize_t n, cap
    cdef list miss_at, miss_fast, miss_keys, fallback

    def __cinit__(self, Py_ssize_t cap) -> None:
        self.cap = cap
        self.n = 0
        self.ptr = <const char **>PyMem_Malloc((cap + 1) * sizeof(char *))
        self.lens = <Py_ssize_t *>PyMem_Malloc((cap + 1) * sizeof(Py_ssize_t))
        self.codes = <unsigned char *>PyMem_Malloc(cap + 1)
        self.classes = <unsigned char *>PyMem_Malloc(cap + 1)
        if self.ptr == NULL or self.lens == NULL or self.codes == NULL or self.classes == NULL:
            raise MemoryError()
        self.miss_at, self.miss_fast, self.miss_keys, self.fallback = [], [], [], []

    def __dealloc__(self) -> None:
        PyMem_Free(self.ptr)
        PyMem_Free(self.lens)
        PyMem_Free(self.codes)
        PyMem_Free(self.classes)


@cython.final  # its cdef methods called directly (no vtable), inlined where worth it
cdef class FastRoutes:
    """The compiled :meth:`~eve_consumer.shard.Router.route` of one pure router."""

    cdef object router
    cdef dict cache  # b"KIND\"SRC\"DST" → code | cost class << 8 (no quote inside a field)
    cdef dict classes  # event type → cost class (shard._KIND_CLASS)
    cdef Py_ssize_t limit
    cdef int dns_class
    cdef bint dns_wanted
    cdef object dns_skip  # shard.DnsSkip or None
    cdef dict skip_names  # the pure router's rrname → whitelisted (shared: one cache)
    cdef Py_ssize_t skip_max_line
    cdef bint skip_wl_names
    cdef object skip_matches
    cdef object flow_skip  # shard.FlowSkip or None
    cdef Py_ssize_t flow_max_line
    cdef bint flow_long_on, flow_long_exact
    cdef double flow_long_s
    cdef object flow_verdict, flow_skipped
    cdef int flow_class
    cdef Py_ssize_t count
    cdef uint64_t *fc_hash  # per slot: its key's _fc_hash, 0 when empty
    cdef _FcSlot *fc_slot
    cdef Py_ssize_t fc_sets  # a power of two
    cdef Py_ssize_t fc_entries, fc_hits, fc_tick

    def __cinit__(self, *args: object, fast_sets: int = FAST_CACHE_SETS, **kw: object) -> None:
        if fast_sets < 1 or fast_sets & (fast_sets - 1) or fast_sets > 1 << 20:
            raise ValueError("fast_sets: a power of two up to 2**20")
        self.fc_sets = fast_sets
        self.fc_hash = <uint64_t *>PyMem_Malloc(fast_sets * _FC_WAYS * sizeof(uint64_t))
        self.fc_slot = <_FcSlot *>PyMem_Malloc(fast_sets * _FC_WAYS * sizeof(_FcSlot))
        if self.fc_hash == NULL or self.fc_slot == NULL:
            raise MemoryError()
        self._fc_clear()

    def __dealloc__(self) -> None:
        PyMem_Free(self.fc_hash)
        PyMem_Free(self.fc_slot)

    cdef void _fc_clear(self) noexcept:
        """Empty the C cache (with every clear of the dict cache)."""
        memset(self.fc_hash, 0, self.fc_sets * _FC_WAYS * sizeof(uint64_t))
        self.fc_entries = 0

    cdef void _fc_put(self, const char *k, Py_ssize_t n, uint64_t h, uint32_t value) noexcept:
        """Cache *value* for the key k[0:n] (hash *h*), already in the dict cache with it: in
        its set's first empty way, else in place of one of the set (in turn)."""
        cdef Py_ssize_t base, i, way = -1
        if n > _FC_KEY:
            return
        base = <Py_ssize_t>((h >> 40) & <uint64_t>(self.fc_sets - 1)) * _FC_WAYS
        for i in range(_FC_WAYS):
            if self.fc_hash[base + i] == h and self.fc_slot[base + i].len == n \
                    and memcmp(self.fc_slot[base + i].key, k, <size_t>n) == 0:
                way = i  # the key again (a dict that was changed): its new value
                break
            if way < 0 and self.fc_hash[base + i] == 0:
                way = i
        if way < 0:
            way = self.fc_tick & (_FC_WAYS - 1)
            self.fc_tick += 1
        elif self.fc_hash[base + way] == 0:
            self.fc_entries += 1
        self.fc_hash[base + way] = h
        self.fc_slot[base + way].len = <uint32_t>n
        self.fc_slot[base + way].value = value
        memcpy(self.fc_slot[base + way].key, k, <size_t>n)

    cdef inline bint _fc_get(self, const char *k, Py_ssize_t n, uint64_t h,
                             uint32_t *value) noexcept:
        cdef Py_ssize_t base = <Py_ssize_t>((h >> 40) & <uint64_t>(self.fc_sets - 1)) * _FC_WAYS
        cdef Py_ssize_t i
        for i in range(_FC_WAYS):
            if self.fc_hash[base + i] == h and self.fc_slot[base + i].len == n \
                    and _sk_eq(self.fc_slot[base + i].key, k, n):
                value[0] = self.fc_slot[base + i].value
                return True
        return False

    def fast_cache(self) -> list[tuple[bytes, int]]:
        """The C cache's (key, value) pairs (tests: each is the dict cache's)."""
        cdef Py_ssize_t i
        out = []
        for i in range(self.fc_sets * _FC_WAYS):
            if self.fc_hash[i]:
                out.append((PyBytes_FromStringAndSize(self.fc_slot[i].key,
                                                      self.fc_slot[i].len),
                            self.fc_slot[i].value))
        return out

    def fast_cache_stats(self) -> dict[str, int]:
        """The C cache's entries, slots and hits so far, and the dict cache's entries."""
        return {"entries": self.fc_entries, "slots": self.fc_sets * _FC_WAYS,
                "hits": self.fc_hits, "dict": len(self.cache)}

    def dict_cache(self) -> dict:
        """A copy of the dict cache (tests)."""
        return dict(self.cache)

    def __init__(self, router: object, limit: int, classes: dict, *,
                 fast_sets: int = FAST_CACHE_SETS) -> None:
        self.router = router
        self.cache = {}
        self._fc_clear()
        self.classes = dict(classes)
        self.dns_class = classes[b"dns"]
        self.dns_wanted = router.dns_wanted
        self.limit = limit
        self.dns_skip = router.dns_skip
        self.skip_names = router._skip_names
        if self.dns_skip is not None:
            self.skip_max_line = self.dns_skip.max_line
            self.skip_wl_names = self.dns_skip.wl_names
            self.skip_matches = self.dns_skip.matches
        self.count = router.count
        self.flow_class = classes[b"flow"]
        self.flow_skip = router.flow_skip
        if self.flow_skip is not None:
            self.flow_max_line = self.flow_skip.max_line
            self.flow_long_on = self.flow_skip.long_s is not None
            long_s = self.flow_skip.long_s
            # compared in C only when the threshold is a double exactly (Python compares an
            # int and a float exactly): else the prefilter judges each line
            self.flow_long_exact = not self.flow_long_on or (
                type(long_s) in (int, float) and abs(long_s) < 2.0 ** 53
                and float(long_s) == long_s)
            self.flow_long_s = float(long_s) if self.flow_long_on and self.flow_long_exact \
                else 0.0
            self.flow_verdict = self.flow_skip.verdict
            self.flow_skipped = self.flow_skip.skip

    cdef int _flow_code(self, const char *s, Py_ssize_t n, int code) except -1:
        """shard.Router.flow_code of a compact flow line shared by two workers (*code*): the
        prefilter's verdict read from the bytes (Prefilter.flow for two internal hosts:
        proto, age), by the prefilter itself for a field C does not read as it would (an
        address not ASCII, an age not plain digits)."""
        cdef Py_ssize_t i, j, k, p_src = -1, p_dst = -1, p_proto = -1, p_age = -1
        cdef long long age = 0
        cdef bint python = False
        if self.flow_skip is None or n > self.flow_max_line or n < 13 \
                or memcmp(s, _TS_START, 13) != 0 or s[n - 1] != b'}' \
                or memchr(s, 92, <size_t>n) != NULL \
                or not _flow_plain(s, n, &p_src, &p_dst, &p_proto, &p_age) \
                or not _sk_top_keys(s, n, p_src, p_dst):
            return code
        python = _not_ascii(s, n, p_src + 10) or _not_ascii(s, n, p_dst + 11)
        i = p_proto  # _find(s, n, b'"proto":"', 9, 0), noted by _flow_plain
        if i < 0:
            return code
        i += 9
        j = _find(s, n, b'"', 1, i)
        if j < 0 or (j - i == 3 and memcmp(s + i, b"TCP", 3) == 0):
            return code
        if self.flow_long_on and not python:
            i = p_age  # _find(s, n, b'"age":', 6, 0), noted by _flow_plain
            if i < 0:
                return code
            i += 6
            j = _find(s, n, b",", 1, i)
            if j < 0:
                j = _find(s, n, b"}", 1, i)
            if j < 0:
                j = n - 1
            if not 0 < j - i <= 15:
                python = True
            else:
                for k in range(i, j):
                    if not _is_digit(<unsigned char>s[k]):
                        python = True
                        break
                    age = age * 10 + (s[k] - 48)
            if not self.flow_long_exact:
                python = True
            if not python and <double>age >= self.flow_long_s:
                return code
        if python and self.flow_verdict(PyBytes_FromStringAndSize(s, n)) \
                is not self.flow_skipped:
            return code
        return (code - self.count) // self.count

    cdef int _dns_code(self, const char *s, Py_ssize_t n) except -1:
        """shard.Router.dns_code of a compact dns line."""
        if memchr(s, 92, <size_t>n) != NULL:  # a backslash: an escape
            return 255
        if _count(s, n, b'"event_type"', 12) != 1:
            return 255
        if self.dns_wanted and _has(s, n, b'"answer"', 8) and not self._dns_skipped(s, n):
            return 255
        return 0

    cdef bint _dns_skipped(self, const char *s, Py_ssize_t n) except -1:
        """shard.Router.dns_skipped (the line holds no backslash)."""
        cdef const char *end = s + n
        cdef const char *p
        cdef const char *q
        cdef PyObject *hit
        skip = self.dns_skip
        if skip is None or n > self.skip_max_line or n < 13 or memcmp(s, _TS_START, 13) != 0 \
                or s[n - 1] != b'}' or _has(s + 13, n - 13, b'"timestamp":', 12) \
                or _has(s, n, b":null", 5):
            return False
        if _has(s, n, b'"type":"query"', 14) or not self.skip_wl_names:
            return True
        names = self.skip_names
        p = <const char *>memmem(s, <size_t>n, _RRNAME, 10) if n >= 10 else NULL
        while p != NULL:
            p += 10
            q = <const char *>memchr(p, _QUOTE, <size_t>(end - p))
            if q == NULL:
                return False
            name = PyBytes_FromStringAndSize(p, q - p)
            hit = PyDict_GetItem(names, name)
            if hit == NULL:
                if len(names) > self.limit:
                    names.clear()
                verdict = bool(self.skip_matches(name.decode("utf-8", "replace")))
                names[name] = verdict
            else:
                verdict = <object>hit
            if verdict:
                return False
            p = <const char *>memmem(q, <size_t>(end - q), _RRNAME, 10) \
                if end - q >= 10 else NULL
        return True

    def route(self, list lines) -> bytes:
        """The route code of every line of *lines* (and the router's loads updated)."""
        cdef Py_ssize_t n = len(lines)
        cdef Py_ssize_t i
        cdef list keep = list(lines)  # every line alive while routed (Python runs inside)
        cdef _Pending b = _Pending(n)
        for i in range(n):
            line = keep[i]
            if type(line) is not bytes:
                line = bytes(memoryview(line))  # bytes-like only, as the regex takes
                keep[i] = line
            self._step(b, PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line))
        return self._finish(b)

    def route_view(self, view: object, Py_ssize_t base, lens: object) -> bytes:
        """:meth:`route` of the lines of *view* (the memory-mapped file) from *base* on, of
        lengths *lens* (``array("I")``), each followed by one byte (its newline): no line
        object is made, except for the rare lines Python must see (new keys, other layouts).
        A line reaching past the end of *view* raises ValueError; a page of *view* past the
        file's end (it shrank), :class:`MapShrank`."""
        cdef const unsigned char[::1] buf = view
        cdef const unsigned int[::1] lv = lens
        cdef _Job job = _Job.__new__(_Job)
        job.size = buf.shape[0]
        if job.size:
            job.data = <const char *>&buf[0]
        if base < 0:
            raise ValueError("negative file offset")
        job.kind = _J_ROUTE_VIEW
        job.n = lv.shape[0]
        if job.n:
            job.lens = &lv[0]
        job.base = base
        job.router = self
        job.pending = _Pending(job.n)
        _guard(job)
        return job.result

    def scan_route(self, view: object, Py_ssize_t start, Py_ssize_t read_pos,
                   Py_ssize_t max_bytes, Py_ssize_t max_lines, Py_ssize_t max_line) -> tuple:
        """:func:`scan` and :meth:`route_view` of its batch in one pass (each line routed
        while its bytes are in the cache): ``(status, lens, start, read_pos, codes)``, codes
        None unless the status is ``SCAN_BATCH``. Nothing is placed or counted unless it is."""
        cdef const unsigned char[::1] buf = view
        cdef _Job job = _scan_job(buf, start, read_pos, max_bytes, max_lines, max_line)
        if job is None:
            return _check(buf.shape[0], start, read_pos, max_bytes, max_lines, max_line), \
                None, start, read_pos, None
        job.kind = _J_SCAN_ROUTE
        job.router = self
        job.pending = _Pending(len(job.out))
        _guard(job)
        if job.status != _S_BATCH:
            return job.status, None, start, read_pos, None
        return job.status, job.out, job.state[0], job.state[1], job.result

    cdef int _step(self, _Pending b, const char *s, Py_ssize_t ln) except -1:
        """Route one more line of the batch *b* from its bytes: its code from the cache, or
        noted for :meth:`_finish` (a new key, another layout)."""
        cdef Py_ssize_t i = b.n
        cdef Py_ssize_t klen
        cdef Py_ssize_t at[6]
        cdef char kb[_FC_KEY]
        cdef PyObject *hit
        cdef uint32_t fv = 0
        cdef uint64_t h = 0
        if i >= b.cap:
            raise ValueError("more lines than the batch holds")
        b.ptr[i] = s
        b.lens[i] = ln
        b.n = i + 1
        if not _compact(s, ln, at):
            b.codes[i] = _FALLBACK
            b.classes[i] = 0
            b.fallback.append(i)
            return 0
        klen = (at[1] - at[0]) + 1 + (at[3] - at[2]) + 1 + (at[5] - at[4])
        if klen <= _FC_KEY:  # the key in C: no object on a hit of the C cache
            _write_key(kb, s, at)
            h = _fc_hash(kb, klen)
            if self._fc_get(kb, klen, h, &fv):
                self.fc_hits += 1
                return self._hit(b, i, s, ln, fv)
            key = PyBytes_FromStringAndSize(kb, klen)
        else:
            key = PyBytes_FromStringAndSize(NULL, klen)
            _write_key(PyBytes_AS_STRING(key), s, at)
        hit = PyDict_GetItem(self.cache, key)
        if hit == NULL:
            b.miss_at.append(i)
            b.miss_fast.append(key)
            b.miss_keys.append((PyBytes_FromStringAndSize(s + at[0], at[1] - at[0]),
                                PyBytes_FromStringAndSize(s + at[2], at[3] - at[2]),
                                PyBytes_FromStringAndSize(s + at[4], at[5] - at[4])))
            return 0
        fv = <uint32_t>(<long>(<object>hit))
        if klen <= _FC_KEY:
            self._fc_put(kb, klen, h, fv)
        return self._hit(b, i, s, ln, fv)

    cdef int _hit(self, _Pending b, Py_ssize_t i, const char *s, Py_ssize_t ln,
                  uint32_t value) except -1:
        """Line *i* of batch *b* with a cached code | cost class << 8 (*value*)."""
        cdef unsigned char code
        cdef int cls
        code = value & 255
        cls = value >> 8
        b.classes[i] = cls
        if code == 255 and cls == self.dns_class:
            code = self._dns_code(s, ln)
        elif cls == self.flow_class and self.flow_skip is not None \
                and self.count <= code < self.count * (self.count + 1):
            code = self._flow_code(s, ln, code)
        b.codes[i] = code
        return 0

    cdef bytes _finish(self, _Pending b):
        """The codes of batch *b*: its new keys placed and cached (the router's
        :meth:`~eve_consumer.shard.Router.codes_of`), its other-layout lines routed by
        :meth:`~eve_consumer.shard.Router.general`, the loads updated."""
        cdef Py_ssize_t i, j, pair
        cdef Py_ssize_t n = b.n
        cdef unsigned char code
        cdef int cls
        cdef Py_ssize_t counts[256 * 8]
        cdef Py_ssize_t order[256 * 8]
        cdef Py_ssize_t seen = 0
        cdef unsigned char *codes = b.codes
        cdef unsigned char *classes = b.classes
        router = self.router
        if len(router.decoders) > 256 or len(self.classes) >= 8:
            raise ValueError("route codes or cost classes out of range")
        router.load[0] += router.handicap * n  # before placing this batch's hosts
        miss_keys = b.miss_keys
        if miss_keys:
            got = router.codes_of(miss_keys)  # places the new hosts, as the pure route
            if len(self.cache) + len(miss_keys) > self.limit:
                self.cache.clear()
                self._fc_clear()  # the C cache holds only what the dict holds
            for j in range(len(miss_keys)):
                i = b.miss_at[j]
                code = got[j]
                cls = self.classes.get(miss_keys[j][0], 0)
                key = b.miss_fast[j]
                self.cache[key] = code | (cls << 8)
                self._fc_put(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key),
                             _fc_hash(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key)),
                             code | (cls << 8))
                classes[i] = cls
                if code == 255 and cls == self.dns_class:
                    code = self._dns_code(b.ptr[i], b.lens[i])
                elif cls == self.flow_class and self.flow_skip is not None \
                        and self.count <= code < self.count * (self.count + 1):
                    code = self._flow_code(b.ptr[i], b.lens[i], code)
                codes[i] = code
        for i in b.fallback:
            codes[i] = router.general(PyBytes_FromStringAndSize(b.ptr[i], b.lens[i]))
        # the loads, per (code, class) in order of first occurrence, as Router.account
        for j in range(256 * 8):
            counts[j] = 0
        for i in range(n):
            pair = codes[i] | (classes[i] << 8)
            if counts[pair] == 0:
                order[seen] = pair
                seen += 1
            counts[pair] += 1
        load, decoders, costs = router.load, router.decoders, router.costs
        for j in range(seen):
            pair = order[j]
            cost = counts[pair] * costs[pair >> 8]
            for w in decoders[pair & 255]:
                load[w] += cost
        return PyBytes_FromStringAndSize(<char *>codes, n)


def cut(bytes codes, bytes table, Py_ssize_t first, view: object, Py_ssize_t base,
        lens: object) -> tuple[Lines, array, bytes] | None:
    """:func:`eve_consumer.shard.mine` for lines cut from *view* (the memory-mapped file) in
    one C loop: this worker's lines of a batch (flag ``table[code]`` not 0), their line
    numbers (``array("q")``) and flags, or None when none is its. *lens*: the lines'
    lengths (``array("I")``), each line followed by one byte (its newline) from *base* on; a
    line reaching past the end of *view* raises ValueError.

    The lines are copied into ONE bytes object, each ended by a newline, and handed out as a
    raw :class:`~sakimori.eve.lines.Lines` with its newline offsets (``ends``): the compiled
    batch loop reads them in place, as a file input's chunk; any other reader sees the list
    the per-line cut made. A line that holds a newline itself (the file rewritten in place
    since the splitter scanned it) makes the part a listed ``Lines`` of the lines as cut, so
    the count stays the lengths'."""
    cdef const unsigned char[::1] buf = view
    cdef const unsigned int[::1] ln = lens
    cdef _Job job = _Job.__new__(_Job)
    cdef const char *out
    cdef const char *e
    cdef Py_ssize_t k, at
    cdef uint32_t x
    job.n = PyBytes_GET_SIZE(codes)
    job.size = buf.shape[0]
    if job.size:
        job.data = <const char *>&buf[0]
    if PyBytes_GET_SIZE(table) != 256 or ln.shape[0] != job.n or base < 0:
        raise ValueError("route codes, table and lengths do not match")
    job.kind = _J_CUT
    job.codes = <const unsigned char *>PyBytes_AS_STRING(codes)
    job.table = <const unsigned char *>PyBytes_AS_STRING(table)
    if job.n:
        job.lens = &ln[0]
    job.base, job.first = base, first
    _guard(job)
    if job.numbers is None:
        return None
    data, ends = job.result, job.ends
    if job.status:  # a line holding a newline: the lines as cut, listed
        out = PyBytes_AS_STRING(data)
        e = PyBytes_AS_STRING(ends)
        lines = []
        at = 0
        for k in range(len(job.flags)):
            memcpy(&x, e + 4 * k, 4)
            lines.append(PyBytes_FromStringAndSize(out + at, <Py_ssize_t>x - at))
            at = x + 1
        return Lines.of(lines), job.numbers, job.flags
    return Lines(data, 0, PyBytes_GET_SIZE(data), len(job.flags), ends=ends), job.numbers, \
        job.flags


def batch_end(Py_ssize_t base, lens: object) -> int:
    """``base + sum(lens) + len(lens) - 1``: where a batch of lines of lengths *lens*
    (``array("I")``, each line followed by its newline) from *base* on ends — summed in C
    (Python's ``sum`` over an array makes an int per item)."""
    cdef const unsigned int[::1] ln = lens
    cdef Py_ssize_t i, total = base + ln.shape[0] - 1
    for i in range(ln.shape[0]):
        total += ln[i]
    return total


cdef int _check(Py_ssize_t size, Py_ssize_t start, Py_ssize_t read_pos, Py_ssize_t max_bytes,
                Py_ssize_t max_lines, Py_ssize_t max_line) except -1:
    """SCAN_BATCH when a batch is to be scanned, else SCAN_END or SCAN_LINES."""
    if not (0 <= start <= read_pos <= size) or max_bytes < 1 or max_lines < 0 or max_line < 0:
        raise ValueError("scan: reader state out of range")
    if read_pos - start > max_line:
        return _S_LINES
    if read_pos == size and start == size:
        return _S_END
    return _S_BATCH


cdef carray.array _lens_array(Py_ssize_t size, Py_ssize_t read_pos, Py_ssize_t max_bytes,
                              Py_ssize_t max_lines):
    """Room for the lengths of a batch: at most one line per byte read (or the held-back
    last line), and max_lines."""
    cdef Py_ssize_t end = min(read_pos + max_bytes, size)
    return carray.clone(_UINT_ARRAY, max(1, min(max_lines, end - read_pos)), False)


cdef int _scan(const char *data, Py_ssize_t size, Py_ssize_t start, Py_ssize_t read_pos,
               Py_ssize_t max_bytes, Py_ssize_t max_lines, Py_ssize_t max_line,
               carray.array out, FastRoutes router, _Pending pending,
               Py_ssize_t *state) except -1:
    """The batch of :func:`scan` (after :func:`_check`): the lengths into *out* (resized),
    each line given to *router* (when not None) as it is found; the state after it into
    *state*. Returns SCAN_BATCH or SCAN_LINES."""
    cdef const char *nl
    cdef Py_ssize_t end, pos, count = 0, length, line0
    cdef unsigned int *lv = out.data.as_uints
    if read_pos == size:  # the reader's read gives nothing: its held-back line is the last
        if size - start > 0xFFFFFFFF:
            return _S_LINES
        lv[0] = <unsigned int>(size - start)
        if router is not None:
            router._step(pending, data + start, size - start)
        carray.resize(out, 1)
        state[0] = state[1] = size
        return _S_BATCH
    end = min(read_pos + max_bytes, size)
    line0 = start
    pos = read_pos
    while pos < end:
        nl = <const char *>memchr(data + pos, 10, <size_t>(end - pos))
        if nl == NULL:
            break
        if count == max_lines:  # one line more than the batch takes: cut, re-read after it
            carray.resize(out, count)
            state[0] = state[1] = line0
            return _S_BATCH
        length = (nl - data) - line0
        if length > max_line:
            return _S_LINES
        lv[count] = <unsigned int>length
        if router is not None:
            router._step(pending, data + line0, length)
        count += 1
        pos = (nl - data) + 1
        line0 = pos
    if end - line0 > max_line:
        return _S_LINES
    carray.resize(out, count)
    state[0] = line0
    state[1] = end
    return _S_BATCH


def scan(view: object, Py_ssize_t start, Py_ssize_t read_pos, Py_ssize_t max_bytes,
         Py_ssize_t max_lines, Py_ssize_t max_line) -> tuple:
    """One :meth:`sakimori.eve.file.FileInput.read_batch` over *view* (the memory-mapped
    file), without making line objects: the lengths of the batch's lines.

    The reader's state: *start*, the offset of the next line not handed out; *read_pos*, where
    its next ``read(max_bytes)`` begins (the bytes between are its held-back partial line, no
    newline among them). Returns ``(status, lens, start, read_pos)``: ``SCAN_BATCH`` — the
    lines' lengths (``array("I")``, each line followed by its newline, the last line of the
    file perhaps not) and the state after the batch; ``SCAN_END`` — the file is read;
    ``SCAN_LINES`` — the batch holds a line longer than *max_line* (or leaves such a partial
    line held back), which the reader cuts at chunk ends: the caller reads it with a
    ``FileInput`` resumed at this state (``lens`` None, the state unchanged). The batches are
    the reader's: lines ending in one chunk of *max_bytes*, at most *max_lines* of them."""
    cdef const unsigned char[::1] buf = view
    cdef _Job job = _scan_job(buf, start, read_pos, max_bytes, max_lines, max_line)
    if job is None:
        return _check(buf.shape[0], start, read_pos, max_bytes, max_lines, max_line), None, \
            start, read_pos
    job.kind = _J_SCAN
    _guard(job)
    if job.status != _S_BATCH:
        return job.status, None, start, read_pos
    return job.status, job.out, job.state[0], job.state[1]


cdef enum:
    _J_SCAN = 0
    _J_SCAN_ROUTE = 1
    _J_ROUTE_VIEW = 2
    _J_CUT = 3


cdef class _Job:
    """One read of the mapped file run under the SIGBUS guard (:func:`_guard`): what to do
    (``kind``), its arguments and its results."""

    cdef int kind, status
    cdef const char *data
    cdef Py_ssize_t size, start, read_pos, max_bytes, max_lines, max_line
    cdef Py_ssize_t n, base, first
    cdef Py_ssize_t state[2]
    cdef const unsigned int *lens
    cdef const unsigned char *codes
    cdef const unsigned char *table
    cdef carray.array out
    cdef FastRoutes router
    cdef _Pending pending
    cdef object result
    cdef carray.array numbers
    cdef bytes flags, ends


cdef _Job _scan_job(const unsigned char[::1] buf, Py_ssize_t start, Py_ssize_t read_pos,
                    Py_ssize_t max_bytes, Py_ssize_t max_lines, Py_ssize_t max_line):
    """The job of a scan of *buf*, or None when :func:`_check` says no batch is scanned."""
    cdef Py_ssize_t size = buf.shape[0]
    if _check(size, start, read_pos, max_bytes, max_lines, max_line) != _S_BATCH:
        return None
    cdef _Job job = _Job.__new__(_Job)
    job.size = size
    if size:
        job.data = <const char *>&buf[0]
    job.start, job.read_pos = start, read_pos
    job.max_bytes, job.max_lines, job.max_line = max_bytes, max_lines, max_line
    job.out = _lens_array(size, read_pos, max_bytes, max_lines)
    return job


cdef int _guard(_Job job) except -1:
    """Run *job* with a SIGBUS on a read of its view turned into :class:`MapShrank`."""
    if _sk_guarded(<_sk_fn>_run_job, <void *>job, job.data, job.data + job.size) == _SK_FAULT:
        raise MapShrank("a read of the memory-mapped file met a page past the file's end "
                        "(SIGBUS): the file shrank while it was read")
    return 0


cdef int _run_job(void *arg) except -1:
    """The body of a guarded read (C calls only between the guard and a mapped byte)."""
    cdef _Job job = <_Job>arg
    cdef const char *data = job.data
    cdef const unsigned int *lv = job.lens
    cdef Py_ssize_t i, length, pos = job.base
    if job.kind == _J_SCAN or job.kind == _J_SCAN_ROUTE:
        job.status = _scan(data, job.size, job.start, job.read_pos, job.max_bytes,
                           job.max_lines, job.max_line, job.out, job.router, job.pending,
                           job.state)
        if job.kind == _J_SCAN_ROUTE and job.status == _S_BATCH:
            job.result = job.router._finish(job.pending)
    elif job.kind == _J_ROUTE_VIEW:
        for i in range(job.n):
            length = lv[i]
            if pos + length > job.size:
                raise ValueError(f"line data up to byte {pos + length}, "
                                 f"the file holds {job.size}")
            job.router._step(job.pending, data + pos, length)
            pos += length + 1
        job.result = job.router._finish(job.pending)
    else:  # _J_CUT
        _cut(job, data, lv)
    return 0


cdef int _cut(_Job job, const char *data, const unsigned int *lv) except -1:
    """The loop of :func:`cut` (the job's fields in locals): this worker's lines and their
    total length found from the lengths and codes alone (no mapped byte read), then each
    copied into one bytes object (``job.result``) followed by a newline, the newlines'
    offsets into ``job.ends`` (native uint32), the line numbers into ``job.numbers``
    (``array("q")``) and the flags into ``job.flags`` (bytes) — no object per line;
    ``job.status`` 1 when a line held a newline."""
    cdef const unsigned char *c = job.codes
    cdef const unsigned char *tb = job.table
    cdef Py_ssize_t i, length, n = job.n, size = job.size, first = job.first, pos = job.base
    cdef Py_ssize_t total = 0, count = 0, at = 0, k = 0
    cdef unsigned char f
    cdef long long *nums
    cdef char *fl
    cdef char *out
    cdef char *e
    cdef uint32_t x
    for i in range(n):
        length = lv[i]
        if tb[c[i]]:
            if pos + length > size:
                raise ValueError(f"line data up to byte {pos + length}, the file holds {size}")
            total += length + 1
            count += 1
        pos += length + 1
    if count == 0:
        return 0
    if total > 0xFFFFFFFF:
        raise ValueError(f"a worker's part of {total} bytes: more than a batch holds")
    job.numbers = carray.clone(_Q_ARRAY, count, False)
    nums = job.numbers.data.as_longlongs
    job.result = PyBytes_FromStringAndSize(NULL, total)
    job.ends = PyBytes_FromStringAndSize(NULL, 4 * count)
    job.flags = PyBytes_FromStringAndSize(NULL, count)
    fl = PyBytes_AS_STRING(job.flags)
    out = PyBytes_AS_STRING(job.result)
    e = PyBytes_AS_STRING(job.ends)
    job.status = 0
    pos = job.base
    for i in range(n):
        length = lv[i]
        f = tb[c[i]]
        if f:
            memcpy(out + at, data + pos, <size_t>length)
            if memchr(out + at, 10, <size_t>length) != NULL:
                job.status = 1
            at += length
            out[at] = 10
            x = <uint32_t>at
            memcpy(e + 4 * k, &x, 4)
            at += 1
            k += 1
            nums[k - 1] = first + i
            fl[k - 1] = <char>f
        pos += length + 1
    return 0
