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
- a ``dns`` line: :meth:`~eve_consumer.shard.Router.dns_code`'s byte tests, in C;
- the loads: per (code, cost class) in order of first occurrence, as
  :meth:`~eve_consumer.shard.Router.account` adds them.

Hostile lines (truncated, escapes, NUL bytes, non-UTF-8) are only compared byte by byte.

:func:`cut` is :func:`eve_consumer.shard.mine` for a worker's lines cut from the
memory-mapped file, in one C loop (every line checked against the end of the map).
"""

from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython cimport array as carray

from array import array
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
    cdef bytes b = bytes(memoryview(line))
    if not _compact(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), at):
        return None
    return b[at[0]:at[1]], b[at[2]:at[3]], b[at[4]:at[5]]


cdef inline bint _has(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k) noexcept nogil:
    return n >= k and memmem(s, <size_t>n, what, <size_t>k) != NULL


cdef Py_ssize_t _count(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k) noexcept nogil:
    cdef const char *end = s + n
    cdef const char *hit
    cdef Py_ssize_t found = 0
    while end - s >= k:
        hit = <const char *>memmem(s, <size_t>(end - s), what, <size_t>k)
        if hit == NULL:
            break
        found += 1
        s = hit + k
    return found


cdef class FastRoutes:
    """The compiled :meth:`~eve_consumer.shard.Router.route` of one pure router."""

    cdef object router
    cdef dict cache  # b"KIND\"SRC\"DST" → code | cost class << 8 (no quote inside a field)
    cdef dict classes  # event type → cost class (shard._KIND_CLASS)
    cdef Py_ssize_t limit
    cdef int dns_class
    cdef bint dns_wanted

    def __init__(self, router: object, limit: int, classes: dict) -> None:
        self.router = router
        self.cache = {}
        self.classes = dict(classes)
        self.dns_class = classes[b"dns"]
        self.dns_wanted = router.dns_wanted
        self.limit = limit

    cdef unsigned char _dns_code(self, const char *s, Py_ssize_t n) noexcept:
        """shard.Router.dns_code of a compact dns line."""
        if memchr(s, 92, <size_t>n) != NULL:  # a backslash: an escape
            return 255
        if _count(s, n, b'"event_type"', 12) != 1:
            return 255
        if self.dns_wanted and _has(s, n, b'"answer"', 8):
            return 255
        return 0

    def route(self, list lines) -> bytes:
        """The route code of every line of *lines* (and the router's loads updated)."""
        cdef Py_ssize_t n = len(lines)
        cdef Py_ssize_t i
        cdef list keep = list(lines)  # every line alive while routed (Python runs inside)
        cdef const char **ptr = <const char **>PyMem_Malloc((n + 1) * sizeof(char *))
        cdef Py_ssize_t *ln = <Py_ssize_t *>PyMem_Malloc((n + 1) * sizeof(Py_ssize_t))
        if ptr == NULL or ln == NULL:
            PyMem_Free(ptr)
            PyMem_Free(ln)
            raise MemoryError()
        try:
            for i in range(n):
                line = lines[i]
                if type(line) is not bytes:
                    line = bytes(memoryview(line))  # bytes-like only, as the regex takes
                    keep[i] = line
                ptr[i] = PyBytes_AS_STRING(line)
                ln[i] = PyBytes_GET_SIZE(line)
            return self._route(ptr, ln, n)
        finally:
            PyMem_Free(ptr)
            PyMem_Free(ln)

    def route_view(self, view: object, Py_ssize_t base, lens: object) -> bytes:
        """:meth:`route` of the lines of *view* (the memory-mapped file) from *base* on, of
        lengths *lens* (``array("I")``), each followed by one byte (its newline): no line
        object is made, except for the rare lines Python must see (new keys, other layouts).
        A line reaching past the end of *view* raises ValueError."""
        cdef const unsigned char[::1] buf = view
        cdef const unsigned int[::1] lv = lens
        cdef Py_ssize_t n = lv.shape[0]
        cdef Py_ssize_t size = buf.shape[0]
        cdef Py_ssize_t i, pos = base
        cdef const char *data = NULL
        if size:
            data = <const char *>&buf[0]
        if base < 0:
            raise ValueError("negative file offset")
        cdef const char **ptr = <const char **>PyMem_Malloc((n + 1) * sizeof(char *))
        cdef Py_ssize_t *ln = <Py_ssize_t *>PyMem_Malloc((n + 1) * sizeof(Py_ssize_t))
        if ptr == NULL or ln == NULL:
            PyMem_Free(ptr)
            PyMem_Free(ln)
            raise MemoryError()
        try:
            for i in range(n):
                if pos + <Py_ssize_t>lv[i] > size:
                    raise ValueError(f"line data up to byte {pos + lv[i]}, "
                                     f"the file holds {size}")
                ptr[i] = data + pos
                ln[i] = lv[i]
                pos += lv[i] + 1
            return self._route(ptr, ln, n)
        finally:
            PyMem_Free(ptr)
            PyMem_Free(ln)

    cdef bytes _route(self, const char **ptr, Py_ssize_t *lens, Py_ssize_t n):
        """The codes of the *n* lines at *ptr* (lengths *lens*); the loads updated."""
        cdef Py_ssize_t i, j, klen, ln, pair
        cdef Py_ssize_t at[6]
        cdef const char *s
        cdef char *k
        cdef PyObject *hit
        cdef long value
        cdef unsigned char code
        cdef int cls
        cdef Py_ssize_t counts[256 * 8]
        cdef Py_ssize_t order[256 * 8]
        cdef Py_ssize_t seen = 0
        cdef bytearray out = bytearray(n)
        cdef unsigned char *codes = <unsigned char *>PyByteArray_AS_STRING(out)
        cdef bytearray cls_out = bytearray(n)  # each line's cost class (0: FALLBACK)
        cdef unsigned char *classes = <unsigned char *>PyByteArray_AS_STRING(cls_out)
        cdef list miss_at = [], miss_fast = [], miss_keys = [], fallback = []
        router = self.router
        if len(router.decoders) > 256 or len(self.classes) >= 8:
            raise ValueError("route codes or cost classes out of range")
        router.load[0] += router.handicap * n  # before placing this batch's hosts
        for i in range(n):
            s = ptr[i]
            ln = lens[i]
            if not _compact(s, ln, at):
                codes[i] = _FALLBACK
                classes[i] = 0
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
            if hit == NULL:
                miss_at.append(i)
                miss_fast.append(key)
                miss_keys.append((PyBytes_FromStringAndSize(s + at[0], at[1] - at[0]),
                                  PyBytes_FromStringAndSize(s + at[2], at[3] - at[2]),
                                  PyBytes_FromStringAndSize(s + at[4], at[5] - at[4])))
                continue
            value = <long>(<object>hit)
            code = value & 255
            cls = value >> 8
            classes[i] = cls
            if code == 255 and cls == self.dns_class:
                code = self._dns_code(s, ln)
            codes[i] = code
        if miss_keys:
            got = router.codes_of(miss_keys)  # places the new hosts, as the pure route
            if len(self.cache) + len(miss_keys) > self.limit:
                self.cache.clear()
            for j in range(len(miss_keys)):
                i = miss_at[j]
                code = got[j]
                cls = self.classes.get(miss_keys[j][0], 0)
                self.cache[miss_fast[j]] = code | (cls << 8)
                classes[i] = cls
                if code == 255 and cls == self.dns_class:
                    code = self._dns_code(ptr[i], lens[i])
                codes[i] = code
        for i in fallback:
            codes[i] = router.general(PyBytes_FromStringAndSize(ptr[i], lens[i]))
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
        return bytes(out)


def cut(bytes codes, bytes table, Py_ssize_t first, view: object, Py_ssize_t base,
        lens: object) -> tuple[list, list, bytes] | None:
    """:func:`eve_consumer.shard.mine` for lines cut from *view* (the memory-mapped file) in
    one C loop: this worker's lines of a batch (flag ``table[code]`` not 0), their line
    numbers and flags, or None when none is its. *lens*: the lines' lengths (``array("I")``),
    each line followed by one byte (its newline) from *base* on; a line reaching past the end
    of *view* raises ValueError."""
    cdef const unsigned char[::1] buf = view
    cdef const unsigned int[::1] ln = lens
    cdef const unsigned char *c = <const unsigned char *>PyBytes_AS_STRING(codes)
    cdef const unsigned char *tb = <const unsigned char *>PyBytes_AS_STRING(table)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(codes)
    cdef Py_ssize_t size = buf.shape[0]
    cdef Py_ssize_t i, length
    cdef Py_ssize_t pos = base
    cdef unsigned char f
    cdef const char *data = NULL
    if size:
        data = <const char *>&buf[0]
    if PyBytes_GET_SIZE(table) != 256 or ln.shape[0] != n or base < 0:
        raise ValueError("route codes, table and lengths do not match")
    cdef list lines = [], numbers = []
    cdef bytearray flags = bytearray()
    for i in range(n):
        length = ln[i]
        f = tb[c[i]]
        if f:
            if pos + length > size:
                raise ValueError(f"line data up to byte {pos + length}, "
                                 f"the file holds {size}")
            lines.append(PyBytes_FromStringAndSize(data + pos, length) if length else b"")
            numbers.append(first + i)
            flags.append(f)
        pos += length + 1
    if not lines:
        return None
    return lines, numbers, bytes(flags)


cdef carray.array _UINT_ARRAY = array("I")
SCAN_BATCH = 0
SCAN_END = 1
SCAN_LINES = 2


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
    cdef Py_ssize_t size = buf.shape[0]
    cdef const char *data = NULL
    cdef const char *nl
    cdef Py_ssize_t end, pos, count, length, line0
    if size:
        data = <const char *>&buf[0]
    if not (0 <= start <= read_pos <= size) or max_bytes < 1 or max_lines < 0 or max_line < 0:
        raise ValueError("scan: reader state out of range")
    if read_pos - start > max_line:
        return SCAN_LINES, None, start, read_pos
    if read_pos == size:  # the reader's read gives nothing: its held-back line, or the end
        if start == size:
            return SCAN_END, None, start, read_pos
        if size - start > 0xFFFFFFFF:
            return SCAN_LINES, None, start, read_pos
        return SCAN_BATCH, array("I", [size - start]), size, size
    end = read_pos + max_bytes
    if end > size:
        end = size
    # at most one line per byte read, and max_lines
    cdef carray.array out = carray.clone(_UINT_ARRAY, min(max_lines, end - read_pos), False)
    cdef unsigned int *lv = out.data.as_uints
    line0 = start
    pos = read_pos
    count = 0
    while pos < end:
        nl = <const char *>memchr(data + pos, 10, <size_t>(end - pos))
        if nl == NULL:
            break
        if count == max_lines:  # one line more than the batch takes: cut, re-read after it
            carray.resize(out, count)
            return SCAN_BATCH, out, line0, line0
        length = (nl - data) - line0
        if length > max_line:
            return SCAN_LINES, None, start, read_pos
        lv[count] = <unsigned int>length
        count += 1
        pos = (nl - data) + 1
        line0 = pos
    if end - line0 > max_line:
        return SCAN_LINES, None, start, read_pos
    carray.resize(out, count)
    return SCAN_BATCH, out, line0, end
