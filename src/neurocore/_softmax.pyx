# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._softmax: softmax and log-softmax over the last axis of an
array of any rank, leading axes as rows (csrc/kernels/softmax.inc).
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_f32, _data, _float_input, _like_input, _output, _no_partial_overlap)

cnp.import_array()
nc_api = kernel_table()


cdef enum _SoftmaxOp:
    _SOFTMAX, _LOG_SOFTMAX


cdef inline nc_int _rows(object a):
    return a.size // a.shape[a.ndim - 1] if a.shape[a.ndim - 1] else 0


cdef inline void _softmax_rows(int op, nc_int m, nc_int n, const real *x, real *y) noexcept nogil:
    """y (m, n) = softmax or log-softmax of each row of x (m, n)."""
    if op == _SOFTMAX: nc_softmax(m, n, x, n, y, n)
    else: nc_log_softmax(m, n, x, n, y, n)


cdef inline void _softmax_rows_backward(int op, nc_int m, nc_int n, const real *y, const real *grad_y,
                                 real *grad_x) noexcept nogil:
    """grad_x (m, n) from the rows of y and grad_y (m, n), for softmax or log-softmax."""
    if op == _SOFTMAX: nc_softmax_backward(m, n, y, n, grad_y, n, grad_x, n)
    else: nc_log_softmax_backward(m, n, y, n, grad_y, n, grad_x, n)


cdef _softmax_forward(int op, object x, object out):
    X = _float_input(x, "x")
    if X.ndim == 0:
        raise ValueError("x must have at least 1 dimension, got a 0-d array")
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    cdef nc_int n = X.shape[X.ndim - 1]
    cdef nc_int m = _rows(X)
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: _softmax_rows(op, m, n, <float *>px, <float *>po)
        else: _softmax_rows(op, m, n, <double *>px, <double *>po)
    return O


cdef _softmax_backward(int op, object output, object grad_output, object out):
    Y = _float_input(output, "output")
    if Y.ndim == 0:
        raise ValueError("output must have at least 1 dimension, got a 0-d array")
    G = _like_input(grad_output, "grad_output", Y, "output")
    if G.shape != Y.shape:
        raise ValueError(f"grad_output and output must have the same shape, got {G.shape} and {Y.shape}")
    O = _output(out, Y.shape, Y.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((Y, "output"), (G, "grad_output")))
    cdef nc_int n = Y.shape[Y.ndim - 1]
    cdef nc_int m = _rows(Y)
    cdef void *py = _data(Y)
    cdef void *pg = _data(G)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(Y)
    with nogil:
        if f32: _softmax_rows_backward(op, m, n, <float *>py, <float *>pg, <float *>po)
        else: _softmax_rows_backward(op, m, n, <double *>py, <double *>pg, <double *>po)
    return O


def softmax(x, out=None):
    """softmax(x, out=None) -> exp(x) / sum(exp(x)) over the last axis.

    Stable for any finite input (the row maximum is subtracted first).
    x   : IN, float array of shape (..., n).
    out : OUT, optional array of x's shape and dtype (may be x).
    """
    return _softmax_forward(_SOFTMAX, x, out)


def log_softmax(x, out=None):
    """log_softmax(x, out=None) -> x - logsumexp(x) over the last axis (stable).

    x   : IN, float array of shape (..., n).
    out : OUT, optional array of x's shape and dtype (may be x).
    """
    return _softmax_forward(_LOG_SOFTMAX, x, out)


def softmax_backward(output, grad_output, out=None):
    """softmax_backward(output, grad_output, out=None) -> y * (g - sum(g * y)).

    The Jacobian-vector product of softmax over the last axis (seed 004 3.2.3),
    without forming the Jacobian.
    output      : IN, y = softmax(x), float array of shape (..., n).
    grad_output : IN, g, the gradient with respect to y, same shape and dtype.
    out         : OUT, optional array of that shape and dtype (may be grad_output).
    """
    return _softmax_backward(_SOFTMAX, output, grad_output, out)


def log_softmax_backward(output, grad_output, out=None):
    """log_softmax_backward(output, grad_output, out=None) -> g - exp(y) * sum(g).

    output      : IN, y = log_softmax(x), float array of shape (..., n).
    grad_output : IN, g, the gradient with respect to y, same shape and dtype.
    out         : OUT, optional array of that shape and dtype (may be grad_output).
    """
    return _softmax_backward(_LOG_SOFTMAX, output, grad_output, out)
