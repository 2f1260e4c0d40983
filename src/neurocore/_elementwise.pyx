# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._elementwise: the Hadamard family (csrc/kernels/elementwise.inc).

Arrays of any shape are treated as flat; operands must share one shape
(broadcasting belongs to the Python layer).
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_f32, _data, _float_input, _like_input, _check_ndim, _output, _finite_scalar, _no_partial_overlap)

cnp.import_array()
nc_api = kernel_table()


cdef enum _BinaryOp:
    _ADD, _SUB, _MUL, _DIV


cdef inline void _binary_elements(int op, nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    """out (n,) = a op b, element by element."""
    if op == _ADD: nc_add(n, a, b, out)
    elif op == _SUB: nc_sub(n, a, b, out)
    elif op == _MUL: nc_mul(n, a, b, out)
    else: nc_div(n, a, b, out)


cdef _binary(int op, object a, object b, object out):
    A = _float_input(a, "a")
    B = _like_input(b, "b", A, "a")
    if A.shape != B.shape:
        raise ValueError(f"a and b must have the same shape, got {A.shape} and {B.shape}")
    O = _output(out, A.shape, A.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((A, "a"), (B, "b")))
    cdef nc_int n = A.size
    cdef void *pa = _data(A)
    cdef void *pb = _data(B)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(A)
    with nogil:
        if f32: _binary_elements(op, n, <float *>pa, <float *>pb, <float *>po)
        else: _binary_elements(op, n, <double *>pa, <double *>pb, <double *>po)
    return O


def add(a, b, out=None):
    """add(a, b, out=None) -> out = a + b.

    a, b : IN, float arrays of one shape and dtype.
    out  : OUT, optional array of that shape and dtype.
    """
    return _binary(_ADD, a, b, out)


def sub(a, b, out=None):
    """sub(a, b, out=None) -> out = a - b (shapes as in add)."""
    return _binary(_SUB, a, b, out)


def mul(a, b, out=None):
    """mul(a, b, out=None) -> out = a * b, the Hadamard product (shapes as in add)."""
    return _binary(_MUL, a, b, out)


def div(a, b, out=None):
    """div(a, b, out=None) -> out = a / b (IEEE: x/0 is inf or NaN; shapes as in add)."""
    return _binary(_DIV, a, b, out)


def scale(alpha, x, out=None):
    """scale(alpha, x, out=None) -> out = alpha * x.

    alpha : finite real scalar.
    x     : IN, float array.
    out   : OUT, optional array of x's shape and dtype.
    """
    cdef double al = _finite_scalar(alpha, "alpha")
    X = _float_input(x, "x")
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    cdef nc_int n = X.size
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_scale(n, al, <float *>px, <float *>po)
        else: nc_scale(n, al, <double *>px, <double *>po)
    return O


def axpy(alpha, x, y):
    """axpy(alpha, x, y) -> y, after y += alpha * x in place.

    alpha : finite real scalar.
    x     : IN, float array.
    y     : IN/OUT, writable C-contiguous array of x's shape and dtype.
    """
    cdef double al = _finite_scalar(alpha, "alpha")
    X = _float_input(x, "x")
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a numpy.ndarray, got {type(y).__name__}")
    Y = _output(y, X.shape, X.dtype, "y")
    _no_partial_overlap(Y, "y", ((X, "x"),))
    cdef nc_int n = X.size
    cdef void *px = _data(X)
    cdef void *py = _data(Y)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_axpy(n, al, <float *>px, <float *>py)
        else: nc_axpy(n, al, <double *>px, <double *>py)
    return Y


def fma(a, b, c, out=None):
    """fma(a, b, c, out=None) -> out = a * b + c (fused on AVX2/AVX-512).

    a, b, c : IN, float arrays of one shape and dtype.
    out     : OUT, optional array of that shape and dtype.
    """
    A = _float_input(a, "a")
    B = _like_input(b, "b", A, "a")
    C = _like_input(c, "c", A, "a")
    if A.shape != B.shape or A.shape != C.shape:
        raise ValueError(f"a, b and c must have the same shape, got {A.shape}, {B.shape} and {C.shape}")
    O = _output(out, A.shape, A.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((A, "a"), (B, "b"), (C, "c")))
    cdef nc_int n = A.size
    cdef void *pa = _data(A)
    cdef void *pb = _data(B)
    cdef void *pc = _data(C)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(A)
    with nogil:
        if f32: nc_fma(n, <float *>pa, <float *>pb, <float *>pc, <float *>po)
        else: nc_fma(n, <double *>pa, <double *>pb, <double *>pc, <double *>po)
    return O


def sum_rows(x, out=None, accumulate=False):
    """sum_rows(x, out=None, accumulate=False) -> out[j] = sum_i x[i, j].

    The bias gradient of a Linear layer: the upstream gradient summed over the
    batch.  Every column is summed in row order, whatever the thread count.

    x   : IN, float array of shape (m, n).
    out : OUT, optional array of shape (n,); with accumulate=True the sums are
          added to it (out += ...).
    """
    X = _float_input(x, "x")
    _check_ndim(X, "x", 2)
    if accumulate and out is None:
        raise ValueError("accumulate=True needs an out array to add to")
    O = _output(out, (X.shape[1],), X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    cdef nc_int m = X.shape[0], n = X.shape[1]
    cdef double beta = 1.0 if accumulate else 0.0
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_sum_rows(m, n, <float *>px, n, beta, <float *>po)
        else: nc_sum_rows(m, n, <double *>px, n, beta, <double *>po)
    return O
