# cython: language_level=3
"""Compiled route codes for ``consume --workers N`` (optional; see :mod:`eve_consumer.shard`).

:class:`FastRoutes` computes :meth:`eve_consumer.shard.Router.route` for a batch with the
per-line work in C: the (event type, ``src_ip``, ``dest_ip``) of Suricata's compact layout is
found by scanning the line's bytes (``memmem``/``memchr`` and explicit length checks — the
same leftmost match as the pure router's regular expression, never reading outside the
line), joined into one bytes key and looked up in a cache of codes. Only what the pure router
does in Python anyway runs Python, through the pure router itself, so the codes, the host
placement and the load accounting are the same by construction:

- a key not in the cache (first sight, or after the cache was cleared): the batch's missing
  keys go to :meth:`~eve_consumer.shard.Router.codes_of` (new internal hosts placed,
  weighted by their lines: every line holding an unplaced host is a miss, since a code is
  cached only once its hosts are placed);
- a line without the compact fields (FALLBACK): :meth:`~eve_consumer.shard.Router.general`,
  after the batch's placement, in line order;
- the loads: per code in order of first occurrence, as ``Counter(codes)`` iterates.

Hostile lines (truncated, escapes, NUL bytes, non-UTF-8) are only compared byte by byte.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.string cimport memchr, memcmp, memcpy

cdef extern from "string.h":
    const void *memmem(const void *haystack, size_t haystacklen, const void *needle,
                       size_t needlelen) nogil

# The compact layout: "event_type":"KIND","src_ip":"SRC","src_port":DIGITS,"dest_ip":"DST"
cdef const char *_ET = b'"event_type":"'
cdef Py_ssize_t _ET_LEN = 14
cdef const char *_SRC = b'","src_ip":"'
cdef Py_ssize_t _SRC_LEN = 12
cdef const char *_SPORT = b'","src_port":'
cdef Py_ssize_t _SPORT_LEN = 13
cdef const char *_DST = b',"dest_ip":"'
cdef Py_ssize_t _DST_LEN = 12
cdef unsigned char _QUOTE = 34  # "
cdef unsigned char _FALLBACK = 254


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
        hit = <const char *>memmem(p, <size_t>(end - p), _ET, <size_t>_ET_LEN)
        if hit == NULL:
            return False
        p = hit + 1  # the next attempt, when this one does not match
        q = hit + _ET_LEN
        mark = q
        while q < end and _is_kind(<unsigned char>q[0]):
            q += 1
        if q == mark or end - q < _SRC_LEN or memcmp(q, _SRC, <size_t>_SRC_LEN) != 0:
            continue
        k1 = q
        s0 = q + _SRC_LEN
        q = <const char *>memchr(s0, _QUOTE, <size_t>(end - s0))
        if q == NULL:
            continue
        s1 = q
        if end - q < _SPORT_LEN or memcmp(q, _SPORT, <size_t>_SPORT_LEN) != 0:
            continue
        q += _SPORT_LEN
        mark = q
        while q < end and _is_digit(<unsigned char>q[0]):
            q += 1
        if q == mark or end - q < _DST_LEN or memcmp(q, _DST, <size_t>_DST_LEN) != 0:
            continue
        d0 = q + _DST_LEN
        q = <const char *>memchr(d0, _QUOTE, <size_t>(end - d0))
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
    cdef bytes b = bytes(line)
    if not _compact(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), at):
        return None
    return b[at[0]:at[1]], b[at[2]:at[3]], b[at[4]:at[5]]


cdef class FastRoutes:
    """The compiled :meth:`~eve_consumer.shard.Router.route` of one pure router."""

    cdef object router
    cdef dict cache  # b"KIND\"SRC\"DST" → code (a quote cannot occur inside the fields)
    cdef Py_ssize_t limit

    def __init__(self, router: object, limit: int) -> None:
        self.router = router
        self.cache = {}
        self.limit = limit

    def route(self, list lines) -> bytes:
        """The route code of every line of *lines* (and the router's loads updated)."""
        cdef Py_ssize_t n = len(lines)
        cdef Py_ssize_t i, j, klen, ln
        cdef Py_ssize_t at[6]
        cdef const char *s
        cdef char *k
        cdef PyObject *hit
        cdef unsigned char code
        cdef Py_ssize_t counts[256]
        cdef unsigned char order[256]
        cdef int seen = 0
        cdef bytearray out = bytearray(n)
        cdef unsigned char *codes = <unsigned char *>PyByteArray_AS_STRING(out)
        cdef list miss_at = [], miss_fast = [], miss_keys = [], fallback = []
        router = self.router
        router.load[0] += router.handicap * n  # before placing this batch's hosts
        for i in range(n):
            line = lines[i]
            if type(line) is not bytes:
                line = bytes(line)
            s = PyBytes_AS_STRING(line)
            ln = PyBytes_GET_SIZE(line)
            if not _compact(s, ln, at):
                codes[i] = _FALLBACK
                fallback.append(i)
                continue
            klen = (at[1] - at[0]) + 1 + (at[3] - at[2]) + 1 + (at[5] - at[4])
            key = PyBytes_FromStringAndSize(NULL, klen)
            k = PyBytes_AS_STRING(key)
            memcpy(k, s + at[0], <size_t>(at[1] - at[0]))
            k += at[1] - at[0]
            k[0] = b'"'
            k += 1
            memcpy(k, s + at[2], <size_t>(at[3] - at[2]))
            k += at[3] - at[2]
            k[0] = b'"'
            k += 1
            memcpy(k, s + at[4], <size_t>(at[5] - at[4]))
            hit = PyDict_GetItem(self.cache, key)
            if hit != NULL:
                codes[i] = <unsigned char>(<object>hit)
                continue
            miss_at.append(i)
            miss_fast.append(key)
            miss_keys.append((line[at[0]:at[1]], line[at[2]:at[3]], line[at[4]:at[5]]))
        if miss_keys:
            got = router.codes_of(miss_keys)  # places the new hosts, as the pure route
            if len(self.cache) + len(miss_keys) > self.limit:
                self.cache.clear()
            for j in range(len(miss_keys)):
                code = got[j]
                codes[<Py_ssize_t>miss_at[j]] = code
                self.cache[miss_fast[j]] = code
        for i in fallback:
            codes[i] = router.general(lines[i])
        # the loads, per code in order of first occurrence (Counter's order: same sums)
        for j in range(256):
            counts[j] = 0
        for i in range(n):
            code = codes[i]
            if counts[code] == 0:
                order[seen] = code
                seen += 1
            counts[code] += 1
        load, decoders = router.load, router.decoders
        for j in range(seen):
            code = order[j]
            for w in decoders[code]:
                load[w] += counts[code]
        return bytes(out)
