# Array shapes compared in C, for the compiled modules (_kernels and
# _engine_core cimport it): one helper instead of a copy in each.
cimport numpy as cnp


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b) noexcept:
    """a.shape == b.shape, read from the arrays' dimensions."""
    cdef int nd = cnp.PyArray_NDIM(a), k
    if nd != cnp.PyArray_NDIM(b):
        return False
    cdef cnp.npy_intp *da = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *db = cnp.PyArray_DIMS(b)
    for k in range(nd):
        if da[k] != db[k]:
            return False
    return True
