# Shared by the compiled EVE-time readers: _evetime.pyx sees these as its own,
# eve_consumer/_fastfeed.pyx cimports them (one fast path for SS.ffffff, not two).

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    double PyOS_string_to_double(const char *s, char **endptr, void *overflow_exception
                                 ) except? -1.0


cdef inline bint _sec_plain(const char *t) noexcept:
    """``SS.ffffff``: two digits, a dot, six digits (float() and strtod agree on it)."""
    cdef int a
    for a in range(9):
        if a == 2:
            if t[a] != 46:
                return False
        elif t[a] < 48 or t[a] > 57:
            return False
    return True
