# cython: language_level=3
"""The consumer's batch loop compiled (Cython): :func:`feed_batch` of
:mod:`eve_consumer.fastfeed`, with the same signature and the same behaviour.

Same events in the same order, the same :class:`~sakimori.eve.decode.DecodeStats` counts
(keys inserted in the same order), the same file:line rejections and the same prefilter
verdict for every line; the pure-Python loop stays as the fallback (no compiler) and as the
reference: tests/test_consumer_fastfeed.py runs its report comparisons on both loops and
compares them on randomly damaged real lines.

What is compiled is the per-line work around the JSON parse: the line's shape
(``{"timestamp":`` … ``}``, length), the event type, the ``"timestamp":``/``:null`` checks
and the stock :class:`~eve_consumer.prefilter.Prefilter` byte hooks of ``flow``, ``tls``,
``http`` and ``dns`` lines are read from the bytes object's buffer with ``memchr``/``memcmp``
and explicit length checks (never outside the buffer); integers are read in C when they are
plain digits and by Python's ``int()`` otherwise, so every odd spelling gets the same answer
as the hook. The hooks' Python state (their caches, ``ctx.flow_names``, the home-network
cache dicts) is the same objects both loops use. A hook that is not the stock one (another
callable, a subclass) is called as it is; ``alert`` lines (rare) call the stock hook.

A file input's batch (a raw :class:`~sakimori.eve.lines.Lines`: the chunk and where its
lines are) is walked in the chunk by the newline offsets LineBuffer's one ``memchr`` scan
found (checked to stay in the range; else searched again) and each line read in place
(pointer, length): its ``bytes`` object is made only where Python code reads it — the
per-line decode and parse paths (odd lines, rejections that quote the line, ``orjson``), a
hook that is not the stock one, a flow line with a JSON escape. The typed decodes (msgspec) read a line that
has no object through a read-only buffer view of the chunk (:class:`_LineView`, one reused
per batch): ``msgspec.json.Decoder.decode`` takes any buffer, releases it before it returns
and keeps a reference to its input only for a ``msgspec.Raw`` field, which the flow and dns
structs have none of (tests check both; a view still exported or referenced all the same is
never pointed at another line). So the lines settled on their bytes (``tls``/``http`` used,
``flow``/``dns`` prefiltered) and the typed flows are never copied out of the chunk; the
chunk lives as long as the batch. A listed ``Lines`` or a list is read item by item.

A worker's SECONDARY lines (``flags``: shared lines another worker counts) are decoded in
place with the decoder's scratch statistics and none of this loop's counts, as in the pure
loop (tests/test_consumer_fastfeed.py compares both with ``Decoder.decode_sharded``).

Flow lines: the typed decode stays msgspec's (:class:`~sakimori.eve.typed.FlowRecord`), so
handlers get the same objects. One saving over the pure loop: a flow line the stock hook's
byte verdict skips (no internal side, …) is skipped without the typed decode when that
verdict is provably the one the struct would give — the line has a JSON escape (the pure loop
then asks the byte hook too), or its ``"src_ip"`` and ``"dest_ip"`` keys occur once each and
at the top level of the object, so the struct's values are the bytes the hook read.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES, PyBUF_WRITABLE
from cpython.object cimport PyObject
from cpython.ref cimport _Py_REFCNT
from cpython.unicode cimport PyUnicode_FromStringAndSize
from libc.stdint cimport uint32_t
from libc.string cimport memchr, memcmp, memcpy

from eve_consumer._jsonscan cimport top_level_keys
from sakimori.eve._evetime cimport (
    PyOS_string_to_double, PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_IS_COMPACT_ASCII,
    _sec_plain,
)

from array import array

from eve_consumer.context import FLOW_NAMES_LIMIT
from eve_consumer.prefilter import Prefilter
from eve_consumer.dispatch import Dispatcher
from eve_consumer.shard import SECONDARY
from eve_consumer.fastfeed import feed_batch as _pure_feed_batch
from sakimori.eve.decode import _KINDS, MAX_ID, SKIP, USED, Event
from sakimori.eve.evetime import _MINUTE_CACHE, parse_ts
from sakimori.eve.typed import _ERRORS, flow_dict
from sakimori.eve.typed import _decode as decode_struct
from sakimori.eve.typed import dns_struct
from sakimori.eve.decode import _fast_ts
from sakimori.eve.lines import Lines
from eve_consumer.context import Context
from eve_consumer.picked import Picked, PickedShrank


# the event types read from the bytes (sakimori.eve.decode._KINDS), as C strings
cdef enum:
    MAXK = 32
cdef list _KIND_BYTES = list(_KINDS.keys())
cdef list _KIND_STRS = list(_KINDS.values())
cdef int _NK = len(_KIND_BYTES)
if _NK > MAXK:
    raise ImportError("eve_consumer._fastfeed: too many event types in _KINDS")
cdef const char *_KP[MAXK]
cdef Py_ssize_t _KL[MAXK]
cdef int _k
for _k in range(_NK):
    _KP[_k] = PyBytes_AS_STRING(_KIND_BYTES[_k])
    _KL[_k] = PyBytes_GET_SIZE(_KIND_BYTES[_k])
cdef int _FLOW = _KIND_STRS.index("flow")
cdef int _DNS = _KIND_STRS.index("dns")
cdef object _DNS_STR = "dns"
cdef object _ON_DNS = Context.on_dns
cdef object _STOCK_DISPATCH = Dispatcher.dispatch

# the hooks inlined (mode of each kind's hook)
cdef enum:
    H_NONE = 0  # no hook
    H_CALL = 1  # call it
    H_TLS = 2  # stock Prefilter.tls, inline
    H_HTTP = 3
    H_DNS = 4

cdef enum:
    QUOTE = 34
    COMMA = 44
    BSL = 92
    BRACE = 125

cdef object _MAX_ID = MAX_ID
cdef object _LIMIT = FLOW_NAMES_LIMIT
cdef tuple _DECODE_ERRORS = _ERRORS
cdef dict _MINUTES = _MINUTE_CACHE
cdef object _SKIP = SKIP
cdef object _USED = USED
cdef object _FLOW_STR = "flow"
cdef bytes _EMPTY = b""
cdef int _SECONDARY = SECONDARY
cdef char _NL = 10
cdef object _RAW = object()  # the line number of a raw line: made when used (_Loop.lno)
cdef char *_FORMAT_B = b"B"  # a C literal: static


@cython.auto_pickle(False)  # a pointer into a chunk: never pickled (nor its pointer as bytes)
cdef class _LineView:
    """One line of a chunk through the buffer protocol, read-only, without a copy: what the
    typed (msgspec) decoders read for a line that has no bytes object. ``owner`` is the
    chunk the pointer is in (alive as long as the view). ``exports`` counts the buffers
    handed out and not released; the loop points a view at another line only when it has
    none and no other reference (``_Loop.json_in``)."""

    cdef const char *p
    cdef Py_ssize_t n
    cdef object owner
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef readonly Py_ssize_t exports

    cdef inline void point(self, object owner, const char *p, Py_ssize_t n) noexcept:
        self.owner = owner
        self.p = p
        self.n = n

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("a line of the chunk is read-only")
        self.shape[0] = self.n
        self.strides[0] = 1
        buffer.buf = <void *>self.p
        buffer.obj = self
        buffer.len = self.n
        buffer.readonly = 1
        buffer.itemsize = 1
        buffer.format = NULL
        if flags & PyBUF_FORMAT:
            buffer.format = _FORMAT_B
        buffer.ndim = 1
        buffer.shape = self.shape if flags & PyBUF_ND else NULL
        buffer.strides = self.strides if (flags & PyBUF_STRIDES) == PyBUF_STRIDES else NULL
        buffer.suboffsets = NULL
        buffer.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self.exports -= 1


# How often a byte occurs in a Suricata EVE line (per line, rounded; 0: rare): _find looks
# for the pattern's rarest byte with memchr (glibc's memmem is slow on EVE's many ':' and '"').
cdef unsigned char _FREQ[256]
_freq = {'"': 73, 't': 32, ':': 32, 'e': 25, ',': 22, 's': 21, 'r': 17, 'p': 17, 'o': 16,
         '_': 14, 'a': 12, 'i': 11, 'c': 11, 'n': 10, 'l': 9, 'd': 8, 'f': 5, 'm': 5, 'u': 4,
         'T': 4, 'w': 4, 'g': 3, 'y': 3, 'b': 3, 'v': 3, '{': 3, '}': 3, 'k': 2, 'h': 2,
         '.': 15, '-': 3, '0': 20, '1': 20, '2': 20, '3': 10, '4': 10, '5': 10, '6': 10,
         '7': 10, '8': 10, '9': 10}
for _k in range(256):
    _FREQ[_k] = _freq.get(chr(_k), 0)


cdef inline Py_ssize_t _find(const char *s, Py_ssize_t n, const char *pat, Py_ssize_t m,
                             Py_ssize_t start) noexcept:
    """bytes.find(pat, start) for 0 <= start and a non-empty pattern: the first match, found
    by memchr on the pattern's rarest byte (each of its occurrences, in order, is checked
    as the r-th byte of a match: never a byte outside the buffer)."""
    cdef Py_ssize_t r = 0, a, lo, hi, k
    cdef const char *hit
    cdef char c
    if start < 0 or start > n or m > n - start or m <= 0:
        return -1
    for a in range(1, m):
        if _FREQ[<unsigned char>pat[a]] < _FREQ[<unsigned char>pat[r]]:
            r = a
    c = pat[r]
    lo = start + r  # where the rare byte of the first possible match is
    hi = n - m + r  # ... of the last
    while lo <= hi:
        hit = <const char *>memchr(s + lo, c, <size_t>(hi - lo + 1))
        if hit == NULL:
            return -1
        k = hit - s
        if memcmp(s + k - r, pat, <size_t>m) == 0:
            return k - r
        lo = k + 1
    return -1


cdef inline Py_ssize_t _chr(const char *s, Py_ssize_t n, char c, Py_ssize_t start) noexcept:
    """bytes.find(c, start) for 0 <= start."""
    cdef const char *hit
    if start >= n:
        return -1
    hit = <const char *>memchr(s + start, c, <size_t>(n - start))
    return -1 if hit == NULL else hit - s


cdef inline Py_ssize_t _raw_at(const char *s, Py_ssize_t n, const char *key, Py_ssize_t m,
                               Py_ssize_t *end) noexcept:
    """Prefilter._raw at C level: where the raw value of string field *key* (the first match,
    *m* bytes) starts, its closing quote in *end*; -1 when the key or the quote is missing."""
    cdef Py_ssize_t i = _find(s, n, key, m, 0), j
    if i < 0:
        return -1
    i += m
    j = _chr(s, n, QUOTE, i)
    if j < 0:
        return -1
    end[0] = j
    return i


cdef inline bint _well_formed(const char *s, Py_ssize_t n) noexcept:
    """``line.find(b'"timestamp":', 13) < 0 and b":null" not in line``."""
    return _find(s, n, b'"timestamp":', 12, 13) < 0 and _find(s, n, b":null", 5, 0) < 0


cdef bint _plain(const char *s, Py_ssize_t n) noexcept:
    """True when msgspec and orjson read the line alike wherever the typed dns decode
    looks (sakimori.eve.typed): ASCII, no JSON escape (an escaped key is a key msgspec does
    not match), and no number either could overflow — no digit followed by ``e``/``E``, no
    run of 309 digits (orjson refuses a number that overflows a double; msgspec reads inf)."""
    cdef Py_ssize_t k, run = 0
    cdef unsigned char c
    for k in range(n):
        c = <unsigned char>s[k]
        if c >= 128 or c == BSL:
            return False
        if 48 <= c <= 57:
            run += 1
            if run >= 309:
                return False
        else:
            if run and (c == 101 or c == 69):  # e E after a digit
                return False
            run = 0
    return True


cdef inline Py_ssize_t _end_of(Py_ssize_t j, Py_ssize_t n) noexcept:
    """The stop of the slice ``line[i:j]`` (Python's: -1 is the last byte)."""
    return j if j >= 0 else n - 1


cdef inline bytes _slice(const char *s, Py_ssize_t i, Py_ssize_t stop):
    if stop <= i:
        return _EMPTY
    return PyBytes_FromStringAndSize(s + i, stop - i)


cdef object _int_slice(const char *s, Py_ssize_t i, Py_ssize_t stop):
    """``int(line[i:stop])``, or None on ValueError: plain digits in C, anything else by
    Python (whitespace, signs, underscores, huge values: the hook's answer)."""
    cdef long long v = 0
    cdef Py_ssize_t k
    cdef char c
    if 0 < stop - i <= 18:
        for k in range(i, stop):
            c = s[k]
            if c < 48 or c > 57:
                break
            v = v * 10 + (c - 48)
        else:
            return v
    try:
        return int(_slice(s, i, stop))
    except ValueError:
        return None


cdef object _int_after(const char *s, Py_ssize_t n, const char *key, Py_ssize_t m):
    """prefilter._int_after."""
    cdef Py_ssize_t i = _find(s, n, key, m, 0)
    cdef Py_ssize_t j
    if i < 0:
        return None
    i += m
    j = _chr(s, n, COMMA, i)
    if j < 0:
        j = _chr(s, n, BRACE, i)
    return _int_slice(s, i, _end_of(j, n))


cdef bint _top_once(const char *s, Py_ssize_t n, Py_ssize_t p_src, Py_ssize_t p_dst
                    ) noexcept:
    """True when the ``"src_ip"`` and ``"dest_ip"`` texts occur once each in the line (no
    JSON escape in it), at *p_src*/*p_dst*, outside strings at depth 1: if the line is JSON,
    they are the top-level keys and the typed decode reads the values the byte hook read."""
    if _find(s, n, b'"src_ip"', 8, 0) != p_src or _find(s, n, b'"src_ip"', 8, p_src + 1) >= 0:
        return False
    if _find(s, n, b'"dest_ip"', 9, 0) != p_dst \
            or _find(s, n, b'"dest_ip"', 9, p_dst + 1) >= 0:
        return False
    return top_level_keys(s, p_src, p_dst)


@cython.auto_pickle(False)  # C pointers and arrays: never pickled
cdef class _Loop:
    """One batch's cached objects and counters."""

    cdef object decoder, stats, decode, parse, dispatch, ctx, homes, home, flow_names
    cdef object flow_internal, flow_outbound, flow_any, typed_data, flow_hook, wanted
    cdef object failed
    cdef bint by_struct, inline_flow, internal_non_tcp, flow_wanted, typed_dns
    cdef Py_ssize_t max_line
    cdef list hooks_by
    cdef int mode[MAXK]
    cdef bint wanted_k[MAXK]
    # the stock Prefilter's state (same objects as its methods use)
    cdef object pre, pre_home, pre_is_home, long_s, pre_low, pre_note, pre_wl
    cdef object wl_matches, url_limit
    cdef bint want_keepalive, wl_names
    # deferred counts, in first-seen order (as the pure loop's Counter.update)
    cdef long long used_n[MAXK]
    cdef long long skip_n[MAXK]
    cdef int used_order[MAXK]
    cdef int skip_order[MAXK]
    cdef int n_used_kinds, n_skip_kinds
    cdef long long n_typed, n_mine
    # consume --workers: on a SECONDARY line (shared, counted by another worker) the
    # decoder's and this loop's counts are the scratch's (decoder.stats swapped, counts kept)
    cdef bint sec
    cdef object cur_stats, scratch
    cdef long long kept_typed, kept_mine
    # the current line: its bytes (cs, cn) and its object when it has one (cline); the
    # chunk raw lines are in, and the view the typed decoders read them through
    cdef const char *cs
    cdef Py_ssize_t cn
    cdef object cline, chunk
    cdef _LineView view
    # a raw line's number, made only when used: first + k, or numbers[k] (a worker's
    # share of a batch: a list, or the compiled cut's array("q") read through nums)
    # (lineno _RAW)
    cdef object first
    cdef object numbers
    cdef const long long *nums
    cdef Py_ssize_t k

    def __cinit__(self) -> None:
        cdef int k
        for k in range(MAXK):
            self.used_n[k] = 0
            self.skip_n[k] = 0
            self.mode[k] = H_NONE
            self.wanted_k[k] = False
        self.n_used_kinds = self.n_skip_kinds = 0
        self.n_typed = self.n_mine = 0
        self.sec = False
        self.kept_typed = self.kept_mine = 0

    cdef setup(self, decoder, dispatcher, Py_ssize_t max_line):
        cdef int k
        self.decoder = decoder
        self.stats = self.cur_stats = decoder.stats
        self.scratch = decoder._scratch
        hooks = decoder._hooks
        self.wanted = decoder.wanted
        self.max_line = max_line
        self.decode, self.parse = decoder.decode, decoder.parse
        self.dispatch = dispatcher.dispatch
        ctx = self.ctx = dispatcher.ctx
        self.homes = ctx._home
        self.home = ctx.home
        self.flow_names = ctx.flow_names
        self.flow_internal = tuple(dispatcher.flow_internal)
        self.flow_outbound = tuple(dispatcher.flow_outbound)
        self.flow_any = tuple(dispatcher.flow_any)
        self.typed_data = decoder.typed_data
        flow_hook = self.flow_hook = hooks.get("flow")
        owner = getattr(flow_hook, "__self__", None)
        self.by_struct = isinstance(owner, Prefilter) and flow_hook == owner.flow
        self.internal_non_tcp = self.by_struct and bool(owner.internal_non_tcp)
        self.inline_flow = self.by_struct and type(owner) is Prefilter
        self.flow_wanted = "flow" in self.wanted
        # dns answers by the typed struct: only Context.on_dns reads them (the stock
        # dispatcher's route), and it reads the struct as it reads the dict
        self.typed_dns = getattr(self.dispatch, "__func__", None) is _STOCK_DISPATCH \
            and getattr(getattr(ctx, "on_dns", None), "__func__", None) is _ON_DNS
        pre = None
        self.hooks_by = [None] * _NK
        for k in range(_NK):
            kind = _KIND_STRS[k]
            self.wanted_k[k] = kind in self.wanted
            hook = hooks.get(kind)
            self.hooks_by[k] = hook
            if hook is None:
                self.mode[k] = H_NONE
                continue
            self.mode[k] = H_CALL
            owner = getattr(hook, "__self__", None)
            if type(owner) is not Prefilter:
                continue
            if kind == "tls" and hook == owner.tls:
                self.mode[k] = H_TLS
            elif kind == "http" and hook == owner.http:
                self.mode[k] = H_HTTP
            elif kind == "dns" and hook == owner.dns:
                self.mode[k] = H_DNS
            else:
                continue
            if pre is not None and pre is not owner:  # two prefilters: call them
                self.mode[k] = H_CALL
                continue
            pre = owner
        if self.inline_flow:
            owner = flow_hook.__self__
            if pre is None:
                pre = owner
            elif pre is not owner:
                self.inline_flow = False
        if pre is not None:
            self.pre = pre
            self.pre_home = pre._home
            self.pre_is_home = pre.is_home
            self.long_s = pre.long_s
            self.pre_low = pre._low
            self.pre_note = pre._note
            self.pre_wl = pre._wl
            self.wl_matches = pre.ctx.whitelist.matches_host
            self.wl_names = bool(pre.wl_names)
            self.want_keepalive = bool(pre.want_keepalive)
            self.url_limit = pre.url_limit

    cdef int switch(self) except -1:
        """Into or out of a run of SECONDARY lines (Decoder.decode_sharded's scratch)."""
        self.sec = not self.sec
        if self.sec:
            self.cur_stats = self.scratch
            self.kept_mine, self.kept_typed = self.n_mine, self.n_typed
        else:
            self.cur_stats = self.stats
            self.n_mine, self.n_typed = self.kept_mine, self.kept_typed
        self.decoder.stats = self.cur_stats
        return 0

    cdef inline void count(self, int k, bint used) noexcept:
        if self.sec:
            return
        if used:
            if self.used_n[k] == 0:
                self.used_order[self.n_used_kinds] = k
                self.n_used_kinds += 1
            self.used_n[k] += 1
        else:
            if self.skip_n[k] == 0:
                self.skip_order[self.n_skip_kinds] = k
                self.n_skip_kinds += 1
            self.skip_n[k] += 1

    cdef flush(self):
        cdef int a, k
        if self.sec:
            self.switch()
        stats = self.stats
        stats.lines += self.n_mine
        if self.n_typed:
            stats.decoded["flow"] += self.n_typed
        if self.n_used_kinds:
            fast = stats.fast
            for a in range(self.n_used_kinds):
                k = self.used_order[a]
                fast[_KIND_STRS[k]] += self.used_n[k]
        if self.n_skip_kinds:
            ignored = stats.ignored
            for a in range(self.n_skip_kinds):
                k = self.skip_order[a]
                ignored[_KIND_STRS[k] + " (prefiltered)"] += self.skip_n[k]

    # --- the stock Prefilter's hooks, from the bytes ---------------------------------------
    cdef object is_home_b(self, bytes ip):
        known = self.pre_home.get(ip)
        if known is None:
            known = self.pre_is_home(ip)
        return known

    cdef object flow_verdict(self, const char *s, Py_ssize_t n,
                             Py_ssize_t *p_src, Py_ssize_t *p_dst):
        """Prefilter.flow; *p_src*/*p_dst*: where the keys it read start (-1: not read)."""
        cdef Py_ssize_t i, j
        p_src[0] = p_dst[0] = -1
        i = _raw_at(s, n, b'"src_ip":"', 10, &j)
        if i < 0:
            return None
        p_src[0] = i - 10
        src_home = self.is_home_b(PyBytes_FromStringAndSize(s + i, j - i))
        if src_home and not self.internal_non_tcp:
            return None
        i = _raw_at(s, n, b'"dest_ip":"', 11, &j)
        if i < 0:
            return None
        p_dst[0] = i - 11
        home = self.is_home_b(PyBytes_FromStringAndSize(s + i, j - i))
        if not home:
            return None if src_home else _SKIP
        if src_home:  # both internal: only long_session may want it, unless TCP
            i = _raw_at(s, n, b'"proto":"', 9, &j)
            if i < 0:
                return None
            if (j - i == 3 and memcmp(s + i, b"TCP", 3) == 0) \
                    or memchr(s + i, BSL, <size_t>(j - i)) != NULL:
                return None
        if self.long_s is None:
            return _SKIP
        age = _int_after(s, n, b'"age":', 6)
        return None if age is None or age >= self.long_s else _SKIP

    cdef object tls_verdict(self, const char *s, Py_ssize_t n):
        """Prefilter.tls."""
        cdef Py_ssize_t i, j
        i = _find(s, n, b'"flow_id":', 10, 0)
        if i < 0:
            return None
        i += 10
        j = _chr(s, n, COMMA, i)
        if j < 0:
            j = _chr(s, n, BRACE, i)
        fid = _int_slice(s, i, _end_of(j, n))
        if fid is None or not 0 <= fid < _MAX_ID:
            return None
        i = _raw_at(s, n, b'"sni":"', 7, &j)
        if i < 0:
            return _USED  # no SNI, or no closing quote (as _raw: no name): nothing to join
        if j > i and memchr(s + i, BSL, <size_t>(j - i)) != NULL:
            return None
        if j > i:
            self.note_raw(fid, PyBytes_FromStringAndSize(s + i, j - i))
        return _USED

    cdef int note_raw(self, object fid, bytes name) except -1:
        """Prefilter._note's join of a plain, non-empty name from the bytes (the noted
        form cached per raw name: Prefilter._low)."""
        names = self.flow_names_of_ctx()
        low = self.pre_low.get(name)
        if low is None or not fid or (len(names) >= _LIMIT and fid not in names):
            self.pre_note(fid, name)
        else:
            names[fid] = low
        return 0

    cdef inline object flow_names_of_ctx(self):
        return self.pre.ctx.flow_names  # Prefilter.tls reads it each time

    cdef object http_verdict(self, const char *s, Py_ssize_t n):
        """Prefilter.http and Prefilter.join (Host, the URL limit)."""
        cdef Py_ssize_t i, j, hi = -1, hj = -1, ui, uj
        if self.want_keepalive:
            tx_id = _int_after(s, n, b'"tx_id":', 8)
            if tx_id is None or tx_id > 0:
                return None
        fid = _int_after(s, n, b'"flow_id":', 10)
        i = _raw_at(s, n, b'"hostname":"', 12, &j)
        if i >= 0:
            hi, hj = i, j
        if fid is None or not 0 <= fid < _MAX_ID or (
                hi >= 0 and hj > hi and memchr(s + hi, BSL, <size_t>(hj - hi)) != NULL):
            return None
        url_limit = self.url_limit
        if url_limit is not None:
            ui = _raw_at(s, n, b'"url":"', 7, &uj)
            if ui < 0:
                return None
            if (uj > ui and memchr(s + ui, BSL, <size_t>(uj - ui)) != NULL) \
                    or uj - ui > url_limit:
                return None
        if hi >= 0 and hj > hi:  # Prefilter.join: Prefilter._note, as tls
            self.note_raw(fid, PyBytes_FromStringAndSize(s + hi, hj - hi))
        return _USED

    cdef object dns_verdict(self, const char *s, Py_ssize_t n):
        """Prefilter.dns."""
        cdef Py_ssize_t i, j, stop
        if _find(s, n, b'"type":"query"', 14, 0) >= 0 or not self.wl_names:
            return _SKIP
        cache = self.pre_wl
        i = _find(s, n, b'"rrname":"', 10, 0)
        while i >= 0:
            i += 10
            j = _chr(s, n, QUOTE, i)
            stop = _end_of(j, n)
            name = _slice(s, i, stop)
            hit = cache.get(name)
            if hit is None:
                if len(cache) > 100_000:  # prefilter._cached
                    cache.clear()
                if stop > i and memchr(s + i, BSL, <size_t>(stop - i)) != NULL:
                    hit = True
                else:
                    hit = self.wl_matches(name.decode("utf-8", "replace"))
                cache[name] = hit
            if hit:
                return None
            i = _find(s, n, b'"rrname":"', 10, j if j >= 0 else (n - 1 if n > 0 else 0))
        return _SKIP

    # --- one line ----------------------------------------------------------------------------
    cdef int one_obj(self, object line, object lineno) except -1:
        """A line given as an object (a list's item): a bytes object is read in place."""
        self.cline = line
        if not PyBytes_CheckExact(line):
            return self.odd(lineno)
        self.cs = PyBytes_AS_STRING(line)
        self.cn = PyBytes_GET_SIZE(line)
        return self.one(lineno)

    cdef int one_raw(self, const char *s, Py_ssize_t n, Py_ssize_t k) except -1:
        """Line ``first + k``, of the chunk (``self.chunk``): its bytes object and its
        number's int are made only if needed."""
        self.cline = None
        self.cs = s
        self.cn = n
        self.k = k
        return self.one(_RAW)

    cdef inline object lno(self, object lineno):
        """The line number: *lineno*, or (``_RAW``: a raw line's) ``first + k`` made now
        (``numbers[k]`` when the batch's numbers are given)."""
        if lineno is not _RAW:
            return lineno
        return self.number(self.k)

    cdef object number(self, Py_ssize_t k):
        """The number of raw line *k*: ``first + k`` or the batch's ``numbers[k]``."""
        if self.nums != NULL:
            return self.nums[k]
        if self.numbers is not None:
            return self.numbers[k]
        return self.first + k

    cdef object line(self):
        """The current line as an object for Python code: the one given, or its bytes made
        from the chunk (once)."""
        if self.cline is None:
            self.cline = PyBytes_FromStringAndSize(self.cs, self.cn)
        return self.cline

    cdef object json_in(self):
        """What the typed (msgspec) decoders read: the line's bytes object when there is
        one, else the view pointed at the line in the chunk (no copy). msgspec reads a
        buffer only during the call and keeps no reference for these structs (no
        ``msgspec.Raw`` field; tests/test_eve_lines.py checks): a view still exported or
        referenced elsewhere all the same is left as it is and a new one made."""
        if self.cline is not None:
            return self.cline
        if self.view is None or self.view.exports \
                or _Py_REFCNT(<PyObject *>self.view) != 1:
            self.view = _LineView()
        self.view.point(self.chunk, self.cs, self.cn)
        return self.view

    cdef int one(self, object lineno) except -1:
        """The current line (``cs``/``cn``; ``cline``: its object, if any)."""
        cdef const char *s = self.cs
        cdef Py_ssize_t n = self.cn, i, j
        cdef int k, kk, mode
        if n > self.max_line or n < 13 or memcmp(s, b'{"timestamp":', 13) != 0 \
                or s[n - 1] != 125:  # }
            return self.odd(lineno)  # the per-line path judges odd lines
        i = _find(s, n, b'"event_type":"', 14, 0)
        if i < 0:
            return self.odd(lineno)
        j = _chr(s, n, QUOTE, i + 14)
        if j < 0:
            return self.odd(lineno)
        k = -1
        for kk in range(_NK):
            if _KL[kk] == j - i - 14 and memcmp(s + i + 14, _KP[kk], <size_t>_KL[kk]) == 0:
                k = kk
                break
        if k < 0:
            return self.odd(lineno)
        kind = _KIND_STRS[k]
        self.n_mine += 1
        if k == _FLOW and self.flow_wanted:
            return self.flow(s, n, lineno)
        if self.wanted_k[k]:
            mode = self.mode[k]
            if mode != H_NONE:
                if mode == H_TLS:
                    verdict = self.tls_verdict(s, n)
                elif mode == H_HTTP:
                    verdict = self.http_verdict(s, n)
                elif mode == H_DNS:
                    verdict = self.dns_verdict(s, n)
                else:
                    verdict = self.hooks_by[k](self.line())
                if verdict is not None and _well_formed(s, n):
                    self.count(k, verdict is _USED)
                    return 0
        elif _well_formed(s, n):
            self.cur_stats.ignore(kind)
            return 0
        if k == _DNS and self.typed_dns and self.wanted_k[k] and _plain(s, n):
            ev = self.dns_event(lineno)
            if ev is not None:
                self.dispatch(ev)
                return 0
        ev = self.parse(self.line(), self.lno(lineno), kind)
        if ev is not None:
            self.dispatch(ev)
        return 0

    cdef object dns_event(self, object lineno):
        """Decoder.parse of a plain dns line by the typed struct (sakimori.eve.typed): the
        Event and count the ordinary path would give, with the struct as data; None when
        the struct or the time does not read (the ordinary path then decides)."""
        rec = dns_struct(self.json_in())
        if rec is None:
            return None
        text = rec.timestamp
        ts = _fast_ts(text)
        if ts is None:
            try:
                ts = parse_ts(text)
            except ValueError:
                return None
        self.decoder.stats.decoded[_DNS_STR] += 1
        return Event(_DNS_STR, ts, rec.flow_id, rec.src_ip, rec.src_port, rec.dest_ip,
                     rec.dest_port, rec.proto, rec.dns, _EMPTY, self.lno(lineno), rec)

    cdef int odd(self, object lineno) except -1:
        ev = self.decode(self.line(), self.lno(lineno))
        if ev is not None:
            self.dispatch(ev)
        return 0

    cdef int flow(self, const char *s, Py_ssize_t n, object lineno) except -1:
        cdef Py_ssize_t p_src = -1, p_dst = -1
        cdef bint esc = memchr(s, BSL, <size_t>n) != NULL
        cdef bint have_bv = False
        cdef Py_ssize_t tl
        cdef const char *t
        cdef char key[21]
        cdef char secbuf[10]
        cdef double sec
        bv = None
        flow_hook = self.flow_hook
        if self.inline_flow:
            # the byte verdict first: a skipped line the struct would judge alike needs no
            # typed decode (see the module's docstring)
            bv = self.flow_verdict(s, n, &p_src, &p_dst)
            have_bv = True
            if bv is not None and _well_formed(s, n) \
                    and (esc or _top_once(s, n, p_src, p_dst)):
                self.count(_FLOW, bv is _USED)
                return 0
        if esc:
            rec = None
        else:
            try:
                rec = decode_struct(self.json_in())
            except _DECODE_ERRORS:
                rec = None
        if rec is None:
            if flow_hook is not None:
                verdict = bv if have_bv else flow_hook(self.line())
                if verdict is not None and _well_formed(s, n):
                    self.count(_FLOW, verdict is _USED)
                    return 0
            ev = self.parse(self.line(), self.lno(lineno), _FLOW_STR)
            if ev is not None:
                self.dispatch(ev)
            return 0
        homes, home = self.homes, self.home
        src = rec.src_ip
        src_home = homes.get(src)
        if src_home is None:
            src_home = home(src)
        dst_home = None
        if flow_hook is not None:
            if not self.by_struct:
                verdict = flow_hook(self.line())
            elif src_home and not self.internal_non_tcp:
                verdict = None
            else:
                dst = rec.dest_ip
                dst_home = homes.get(dst)
                if dst_home is None:
                    dst_home = home(dst)
                if not dst_home:
                    verdict = None if src_home else _SKIP
                else:
                    verdict = bv if have_bv else flow_hook(self.line())
            if verdict is not None and _well_formed(s, n):
                self.count(_FLOW, verdict is _USED)
                return 0
        text = rec.timestamp
        ts = None
        # evetime.parse_ts's cached fast path, read in C for an ASCII text (the only kind
        # Suricata writes); parse_ts gives the same value or rejection for every text
        if type(text) is str and PyUnicode_IS_COMPACT_ASCII(text):
            tl = PyUnicode_GET_LENGTH(text)
            t = <const char *>PyUnicode_DATA(text)
            if tl == 31 and t[19] == 46 and (t[26] == 43 or t[26] == 45) and t[16] == 58:
                memcpy(key, t, 16)
                memcpy(key + 16, t + 26, 5)
                base = _MINUTES.get(PyUnicode_FromStringAndSize(key, 21))
                if base is not None:
                    if _sec_plain(t + 17):
                        memcpy(secbuf, t + 17, 9)
                        secbuf[9] = 0
                        sec = PyOS_string_to_double(secbuf, NULL, NULL)
                    else:
                        try:
                            sec = float(text[17:26])
                        except ValueError:
                            sec = -1.0
                    if 0.0 <= sec < 61.0:
                        ts = base + sec
        if ts is None:  # any other text (not ASCII, another layout): parse_ts judges it
            try:
                ts = parse_ts(text)
            except ValueError:
                pass
            if ts is None:  # the ordinary path rejects it, with reason
                ev = self.parse(self.line(), self.lno(lineno), _FLOW_STR)
                if ev is not None:
                    self.dispatch(ev)
                return 0
        self.n_typed += 1
        obj = rec if self.typed_data else flow_dict(rec)
        flow_id = rec.flow_id
        ev = Event(_FLOW_STR, ts, flow_id, src, rec.src_port, rec.dest_ip, rec.dest_port,
                   rec.proto, obj, _EMPTY, self.lno(lineno), obj)
        ctx = self.ctx
        if ts > ctx.latest_ts:
            ctx.latest_ts = ts
        if src_home:
            for handle in self.flow_internal:
                handle(ev)
            if dst_home is None:
                dst = rec.dest_ip
                dst_home = homes.get(dst)
                if dst_home is None:
                    dst_home = home(dst)
            if not dst_home:
                for handle in self.flow_outbound:
                    handle(ev)
        for handle in self.flow_any:
            handle(ev)
        flow_names = self.flow_names
        if flow_names:
            flow_names.pop(flow_id, None)
        return 0


cdef bint _ends_valid(const char *s, Py_ssize_t lo, Py_ssize_t hi, const char *e,
                      Py_ssize_t m) noexcept:
    """True when the *m* offsets at *e* (native uint32) are newlines of ``s[lo:hi]``, in
    increasing order, the last at ``hi - 1``: the walk then stays inside the range (that no
    newline lies between two is ``sakimori.eve.lines.line_ends``'s word: not searched
    again, which is what the offsets save)."""
    cdef Py_ssize_t i, at = lo
    cdef uint32_t x
    for i in range(m):
        memcpy(&x, e + 4 * i, 4)
        if x < at or x >= hi or s[x] != _NL:
            return False
        at = x + 1
    return at == hi


cdef int _feed_chunk(_Loop loop, object lines, object first, object failed,
                     object numbers=None, const unsigned char *fl=NULL) except -1:
    """The lines of a raw :class:`~sakimori.eve.lines.Lines`: its ``head`` (a bytes object,
    if any), then each line of ``data[lo:hi]`` read in place (no bytes object unless Python
    code needs one: ``_Loop.line``), found by its newline offsets (``ends``, when they check
    out) or by memchr. *numbers* (a list or an ``array("q")``, as many as the lines; the
    caller checks): the lines' numbers instead of ``first + k``; *fl*: their flags, a
    SECONDARY line decoded with the scratch statistics (``_Loop.switch``)."""
    cdef bytes data
    cdef const char *s
    cdef const char *p
    cdef const char *q
    cdef const char *end
    cdef const char *e = NULL
    cdef Py_ssize_t lo, hi, k = 0, m = 0, i
    cdef uint32_t x
    cdef Py_ssize_t n = lines.n
    cdef const long long[::1] nums
    data, lo, hi, head, ends = lines.data, lines.lo, lines.hi, lines.head, lines.ends
    if not 0 <= lo <= hi <= PyBytes_GET_SIZE(data):
        raise ValueError(f"feed_batch: lines {lo}:{hi} outside a chunk of {len(data)} bytes")
    s = PyBytes_AS_STRING(data)
    if type(ends) is bytes and PyBytes_GET_SIZE(ends) % 4 == 0:
        e = PyBytes_AS_STRING(ends)
        m = PyBytes_GET_SIZE(ends) // 4
        if not _ends_valid(s, lo, hi, e, m) or m + (head is not None) != lines.n:
            e = NULL
    loop.chunk = data
    loop.first = first
    loop.numbers = numbers
    if type(numbers) is array:
        nums = numbers
        loop.nums = &nums[0] if nums.shape[0] else NULL
    if head is not None:
        lineno = loop.number(0)
        if fl != NULL and (fl[0] == _SECONDARY) != loop.sec:
            loop.switch()
        try:
            loop.one_obj(head, lineno)
        except Exception as exc:
            failed(lineno, exc)
        k = 1
    p = s + lo
    end = s + hi
    i = 0
    while True:
        if e != NULL:  # the next checked offset (as many as the lines: no count check)
            if i >= m:
                break
            memcpy(&x, e + 4 * i, 4)
            q = s + x
            i += 1
        else:
            if p >= end:
                break
            q = <const char *>memchr(p, _NL, <size_t>(end - p))
            if q == NULL:  # (Lines checks that its range ends with a newline)
                q = end
            if k >= n and (numbers is not None or fl != NULL):
                raise ValueError(f"feed_batch: more lines in the chunk than its {n}")
        if fl != NULL and (fl[k] == _SECONDARY) != loop.sec:
            loop.switch()
        try:
            loop.one_raw(p, q - p, k)
        except Exception as exc:
            failed(loop.number(k), exc)
        k += 1
        p = q + 1
    return 0


cdef extern from *:
    """
    #include <signal.h>
    #include <stdint.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <unistd.h>

    /* The zero-page guard of an in-place read of the mapped EVE file (a worker's Picked
       batch): while it is on, a SIGBUS on a page of [_zp_lo, _zp_hi) — the file shrank
       under the map — maps a private zero page over that page and returns, so the read
       runs again and sees zeros; the faults are counted and the caller reports the file
       as shrunk after the batch. Nothing jumps: the Python code the batch runs (decoders,
       handlers) is never left half-done. Any other SIGBUS gets the previous disposition
       back, met when the faulting access runs again. */
    static const char *volatile _zp_lo = NULL;
    static const char *volatile _zp_hi = NULL;
    static volatile sig_atomic_t _zp_faults = 0;
    static struct sigaction _zp_prev;
    static long _zp_page = 0;

    static void _zp_handler(int sig, siginfo_t *info, void *uctx) {
        const char *addr = (const char *)info->si_addr;
        (void)sig; (void)uctx;
        if (addr >= _zp_lo && addr < _zp_hi) {
            void *page = (void *)((uintptr_t)addr & ~(uintptr_t)(_zp_page - 1));
            if (mmap(page, (size_t)_zp_page, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
                _zp_faults++;
                return;
            }
        }
        sigaction(SIGBUS, &_zp_prev, NULL);
    }

    /* 0: on for [lo, hi); -1: not (already on, or sigaction failed) */
    static int _zp_on(const char *lo, const char *hi) {
        struct sigaction sa;
        if (_zp_hi != NULL)
            return -1;
        if (_zp_page == 0)
            _zp_page = sysconf(_SC_PAGESIZE);
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = _zp_handler;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        _zp_faults = 0;
        _zp_lo = lo;
        _zp_hi = hi;
        if (sigaction(SIGBUS, &sa, &_zp_prev) != 0) {
            _zp_lo = _zp_hi = NULL;
            return -1;
        }
        return 0;
    }

    /* Ask for the first *n* bytes (at most PF_MAX) at *p* to be brought into the cache: a
       worker's lines lie in the page cache, not in a chunk just read (prefetches never
       fault). */
    #define PF_MAX 1024
    static inline void _pf_line(const char *p, Py_ssize_t n) {
        Py_ssize_t o;
        if (n > PF_MAX)
            n = PF_MAX;
        for (o = 0; o < n; o += 64)
            __builtin_prefetch(p + o, 0, 3);
    }

    /* off; the faults met while it was on */
    static int _zp_off(void) {
        sigaction(SIGBUS, &_zp_prev, NULL);
        _zp_lo = _zp_hi = NULL;
        return (int)_zp_faults;
    }
    """
    int _zp_on(const char *lo, const char *hi) noexcept
    int _zp_off() noexcept
    void _pf_line(const char *p, Py_ssize_t n) noexcept nogil


# how many of a worker's lines ahead of the one decoded are prefetched (1, 3 and 6 measured
# with bench/worker_part.py: 3 as good as 6, 1 slower)
cdef Py_ssize_t PF_AHEAD = 3


cdef inline (Py_ssize_t, Py_ssize_t) _prefetch_next(
        const char *s, Py_ssize_t size, const unsigned int *ln,
        const unsigned char *fl, Py_ssize_t n, Py_ssize_t k, Py_ssize_t at) noexcept nogil:
    """Prefetch the next line of this worker's (mask not 0) from line *k* at offset *at* on;
    the cursor after it."""
    while k < n and not fl[k]:
        at += ln[k] + 1
        k += 1
    if k < n:
        if at < size:
            _pf_line(s + at, min(<Py_ssize_t>ln[k], size - at))
        at += ln[k] + 1
        k += 1
    return k, at


cdef int _feed_picked(_Loop loop, object part, object failed) except -1:
    """The masked lines of a :class:`~eve_consumer.picked.Picked` batch, read in place from
    its view (the mapped file) by their lengths under the zero-page guard: line *k* of the
    batch is ``first + k``; a SECONDARY one decoded with the scratch statistics. A read that
    met a page past the file's end raises :class:`~eve_consumer.picked.PickedShrank` after
    the batch (its lines read zeros there)."""
    cdef const unsigned char[::1] buf = part.view
    cdef const unsigned int[::1] ln = part.lens
    cdef bytes mask = part.mask
    cdef const unsigned char *fl = <const unsigned char *>PyBytes_AS_STRING(mask)
    cdef Py_ssize_t n = ln.shape[0], size = buf.shape[0], at = part.base, k, m
    cdef Py_ssize_t pk = 0, pat = part.base  # the prefetch cursor: next line, its offset
    cdef const unsigned int *lv = NULL
    cdef const char *s
    cdef int faults
    if PyBytes_GET_SIZE(mask) != n or at < 0:
        raise ValueError("feed_batch: a Picked batch's mask and lengths do not match")
    if size == 0:
        if n:
            raise ValueError("feed_batch: a Picked batch outside its view")
        return 0
    s = <const char *>&buf[0]
    if n:
        lv = &ln[0]
    loop.chunk = part.view
    loop.first = part.first
    loop.numbers = None
    loop.nums = NULL
    if _zp_on(s, s + size) != 0:
        raise OSError("feed_batch: the zero-page guard of the mapped file could not be set")
    try:
        for k in range(PF_AHEAD):
            pk, pat = _prefetch_next(s, size, lv, fl, n, pk, pat)
        for k in range(n):
            m = ln[k]
            if m > size - at:
                raise ValueError(f"feed_batch: line {k} of a Picked batch ends past its view")
            if fl[k]:
                # this worker's lines come from the page cache, not from a chunk just read:
                # its PF_AHEAD-th line after this one is asked for while this one is decoded
                # (≈ 1 µs of work a line hides the memory's latency)
                pk, pat = _prefetch_next(s, size, lv, fl, n, pk, pat)
                if (fl[k] == _SECONDARY) != loop.sec:
                    loop.switch()
                try:
                    loop.one_raw(s + at, m, k)
                except Exception as exc:
                    failed(loop.number(k), exc)
            at += m + 1
    finally:
        faults = _zp_off()
    if faults:
        raise PickedShrank(f"{faults} page(s) of the mapped file read past its end")
    return 0


cdef inline bint _numbers_ok(object numbers):
    """A list, or an ``array("q")`` (the compiled cut's line numbers, read as C longs)."""
    return type(numbers) is list or (type(numbers) is array and numbers.typecode == "q")


def feed_batch(decoder, dispatcher, lines, first, failed, numbers=None, flags=None):
    """:func:`eve_consumer.fastfeed.feed_batch`, compiled: decode and dispatch *lines* (line
    numbers from *first*, or *numbers*); a line whose handler raises is passed to *failed*
    (line number, exception) and the loop goes on with the next. *flags*: a SECONDARY line
    is decoded with the decoder's scratch statistics (not counted), as the pure loop does.

    *lines* as a raw :class:`~sakimori.eve.lines.Lines` (a file input's batch, a worker's
    part cut by :func:`eve_consumer._route.cut`) is walked in its chunk
    (:func:`_feed_chunk`), with *numbers* (a list, or the cut's ``array("q")``) and *flags*
    (bytes) when they have as many items as it has lines; a listed one is read as its list
    (numbers in an array made a list)."""
    cdef _Loop loop
    cdef Py_ssize_t k, max_line, start
    cdef const unsigned char *fl = NULL
    max_line_obj = decoder.max_line
    if type(lines) is Picked:
        if type(max_line_obj) is not int or not 0 <= max_line_obj < (1 << 62) \
                or numbers is not None or flags is not None:
            raise ValueError("feed_batch: a Picked batch takes no numbers or flags")
        loop = _Loop()
        loop.setup(decoder, dispatcher, max_line_obj)
        try:
            _feed_picked(loop, lines, failed)
        finally:
            loop.flush()
        return
    if type(lines) is Lines:
        if lines.listed is None and type(lines.data) is bytes and type(max_line_obj) is int \
                and type(first) is int and 0 <= max_line_obj < (1 << 62) \
                and (numbers is None or (_numbers_ok(numbers)
                                         and len(numbers) == len(lines))) \
                and (flags is None or (type(flags) is bytes and len(flags) == len(lines))):
            if flags is not None and _SECONDARY in flags:
                fl = <const unsigned char *>PyBytes_AS_STRING(flags)
            loop = _Loop()
            loop.setup(decoder, dispatcher, max_line_obj)
            try:
                _feed_chunk(loop, lines, first, failed, numbers, fl)
            finally:
                loop.flush()
            return
        lines = lines.as_list()
    if type(numbers) is array:  # a cut part's numbers with lines that are a list
        numbers = list(numbers)
    if type(max_line_obj) is not int or type(first) is not int or type(lines) is not list \
            or not (0 <= max_line_obj < (1 << 62)) or (flags is not None and (
                type(flags) is not bytes or len(flags) != len(lines)
                or (numbers is not None and (type(numbers) is not list
                                             or len(numbers) != len(lines))))):
        # unusual arguments: the reference loop, which takes anything
        _pure_feed_batch(decoder, dispatcher, lines, first, failed, numbers, flags)
        return
    if flags is not None and _SECONDARY in flags:
        fl = <const unsigned char *>PyBytes_AS_STRING(flags)
    max_line = max_line_obj
    loop = _Loop()
    loop.setup(decoder, dispatcher, max_line)
    try:
        if numbers is None or (type(numbers) is list and len(numbers) == len(lines)):
            k = 0
            while k < len(lines):
                lineno = first + k if numbers is None else numbers[k]
                if fl != NULL and (fl[k] == _SECONDARY) != loop.sec:
                    loop.switch()
                try:
                    loop.one_obj(lines[k], lineno)
                except Exception as exc:
                    failed(lineno, exc)
                k += 1
        else:  # zip(strict=True) raising as the pure loop's does
            it = zip(numbers, lines, strict=True)
            lineno = first
            while True:
                try:
                    for lineno, line in it:
                        loop.one_obj(line, lineno)
                    break
                except Exception as exc:
                    failed(lineno, exc)
    finally:
        loop.flush()


def find(line: bytes, pat: bytes, start: int = 0) -> int:
    """The loop's byte search, for tests: ``line.find(pat, start)`` for a non-empty *pat*
    and ``start >= 0``."""
    if not pat or start < 0:
        raise ValueError("find: a non-empty pattern and start >= 0")
    if start > len(line):
        return -1
    return _find(PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), PyBytes_AS_STRING(pat),
                 PyBytes_GET_SIZE(pat), start)


def decode_in_place(decode, bytes data not None, Py_ssize_t lo, Py_ssize_t hi):
    """For tests: ``decode`` (a msgspec decoder's) of ``data[lo:hi]`` read through the
    loop's view, as the loop calls it. Returns (the result, or the exception raised; the
    view's buffer exports left after the call; the references to the view besides this
    function's own)."""
    cdef _LineView view
    if not 0 <= lo <= hi <= PyBytes_GET_SIZE(data):
        raise ValueError(f"decode_in_place: {lo}:{hi} outside {len(data)} bytes")
    view = _LineView()
    view.point(data, PyBytes_AS_STRING(data) + lo, hi - lo)
    try:
        got = decode(view)
    except Exception as exc:
        got = exc
    return got, view.exports, _Py_REFCNT(<PyObject *>view) - 1
