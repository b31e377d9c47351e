# Byte scans of one EVE line shared by the compiled consumer modules (eve_consumer._fastfeed,
# eve_consumer._route): inline C, no module of its own at run time.

cdef inline bint top_level_keys(const char *s, Py_ssize_t p_src, Py_ssize_t p_dst) noexcept nogil:
    """Are the keys at *p_src* and *p_dst* outside strings at depth 1 of the line *s*
    (``eve_consumer.shard.top_once`` once each is known to occur once)?"""
    cdef Py_ssize_t k, last = p_src if p_src > p_dst else p_dst
    cdef int depth = 0
    cdef bint in_str = False
    cdef char c
    for k in range(last + 1):
        if k == p_src or k == p_dst:
            if in_str or depth != 1:
                return False
        c = s[k]
        if in_str:
            if c == 34:  # "
                in_str = False
        elif c == 34:
            in_str = True
        elif c == 123 or c == 91:  # { [
            depth += 1
        elif c == 125 or c == 93:  # } ]
            depth -= 1
    return True
