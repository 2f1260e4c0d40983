# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._activation: activations forward and backward, and the vector
math (exp, log, tanh, erf), of csrc/kernels/activation.inc.

Arrays of any shape are treated as flat.
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_f32, _data, _float_input, _like_input, _output, _finite_scalar, _no_partial_overlap)

cnp.import_array()
nc_api = kernel_table()


_ACTIVATIONS = {
    "identity": NC_ACT_IDENTITY,
    "relu": NC_ACT_RELU,
    "leaky_relu": NC_ACT_LEAKY_RELU,
    "gelu": NC_ACT_GELU,
    "gelu_tanh": NC_ACT_GELU_TANH,
    "sigmoid": NC_ACT_SIGMOID,
    "tanh": NC_ACT_TANH,
}


cdef int _activation_code(object activation) except -1:
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a str, got {type(activation).__name__}")
    code = _ACTIVATIONS.get(activation)
    if code is None:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
    return code


cdef _act_forward(int act, double slope, object x, object out):
    X = _float_input(x, "x")
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    cdef nc_int n = X.size
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_activation_forward(n, act, slope, <float *>px, <float *>po)
        else: nc_activation_forward(n, act, slope, <double *>px, <double *>po)
    return O


def activation_forward(x, activation, negative_slope=0.01, out=None):
    """activation_forward(x, activation, negative_slope=0.01, out=None) -> y = act(x).

    x              : IN, float array of any shape.
    activation     : "identity", "relu", "leaky_relu", "gelu" (exact, erf),
                     "gelu_tanh", "sigmoid" or "tanh".
    negative_slope : finite real, leaky ReLU's slope for x <= 0.
    out            : OUT, optional array of x's shape and dtype (may be x).
    """
    cdef int act = _activation_code(activation)
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    return _act_forward(act, slope, x, out)


def activation_forward_grad(x, activation, negative_slope=0.01, out=None, derivative_out=None):
    """activation_forward_grad(x, activation, negative_slope=0.01, out=None, derivative_out=None)
    -> (y, dy): y = act(x) and dy = act'(x), in one pass.

    GELU and tanh-GELU compute their erfc/exp (sigmoid) once for both, and
    grad_output * dy is then bit for bit activation_backward(grad_output, x,
    activation): a backward from dy is one multiply.  ReLU'(0) = 0.

    x              : IN, float array of any shape.
    activation     : as in activation_forward.
    negative_slope : finite real, leaky ReLU's slope for x <= 0.
    out            : OUT, optional array of x's shape and dtype for y (may be x).
    derivative_out : OUT, optional array of x's shape and dtype for dy (may be x,
                     not out).
    """
    cdef int act = _activation_code(activation)
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    X = _float_input(x, "x")
    O = _output(out, X.shape, X.dtype)
    D = _output(derivative_out, X.shape, X.dtype, "derivative_out")
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    if derivative_out is not None:
        _no_partial_overlap(D, "derivative_out", ((X, "x"),))
        if np.may_share_memory(D, O):
            raise ValueError("derivative_out and out must not overlap")
    cdef nc_int n = X.size
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef void *pd = _data(D)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_activation_forward_grad(n, act, <float>slope, <float *>px, <float *>po, <float *>pd)
        else: nc_activation_forward_grad(n, act, slope, <double *>px, <double *>po, <double *>pd)
    return O, D


def activation_backward(grad_output, x, activation, negative_slope=0.01, output=None, out=None):
    """activation_backward(grad_output, x, activation, negative_slope=0.01, output=None, out=None)
    -> grad_input = grad_output * act'(x), in one pass.

    grad_output : IN, float array, the gradient with respect to act(x).
    x           : IN, the saved input of the activation, grad_output's shape and dtype.
    activation  : as in activation_forward.  ReLU'(0) = 0.
    output      : IN, optional saved output act(x); sigmoid and tanh then use it
                  instead of recomputing exp/tanh (the other activations need x).
    out         : OUT, optional array of x's shape and dtype (may be grad_output).
    """
    cdef int act = _activation_code(activation)
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    G = _float_input(grad_output, "grad_output")
    X = _like_input(x, "x", G, "grad_output")
    if X.shape != G.shape:
        raise ValueError(f"x and grad_output must have the same shape, got {X.shape} and {G.shape}")
    Y = None
    if output is not None:
        Y = _like_input(output, "output", G, "grad_output")
        if Y.shape != G.shape:
            raise ValueError(f"output and grad_output must have the same shape, got {Y.shape} and {G.shape}")
    O = _output(out, G.shape, G.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((G, "grad_output"), (X, "x"), (Y, "output")))
    cdef nc_int n = G.size
    cdef void *pg = _data(G)
    cdef void *px = _data(X)
    cdef void *py = _data(Y) if Y is not None else NULL
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(G)
    with nogil:
        if f32: nc_activation_backward(n, act, slope, <float *>pg, <float *>px, <float *>py, <float *>po)
        else: nc_activation_backward(n, act, slope, <double *>pg, <double *>px, <double *>py, <double *>po)
    return O


def sigmoid(x, out=None):
    """sigmoid(x, out=None) -> 1 / (1 + exp(-x)), stable for any input."""
    return _act_forward(NC_ACT_SIGMOID, 0.0, x, out)


def relu(x, out=None):
    """relu(x, out=None) -> max(x, 0) (NaN propagates)."""
    return _act_forward(NC_ACT_RELU, 0.0, x, out)


def leaky_relu(x, negative_slope=0.01, out=None):
    """leaky_relu(x, negative_slope=0.01, out=None) -> x if x > 0 else negative_slope * x."""
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    return _act_forward(NC_ACT_LEAKY_RELU, slope, x, out)


def gelu(x, approximate="none", out=None):
    """gelu(x, approximate="none", out=None) -> x * Phi(x).

    approximate : "none" (exact, 0.5 x (1 + erf(x / sqrt 2))) or "tanh"
                  (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), as PyTorch.
    """
    if approximate == "none":
        return _act_forward(NC_ACT_GELU, 0.0, x, out)
    if approximate == "tanh":
        return _act_forward(NC_ACT_GELU_TANH, 0.0, x, out)
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


cdef enum _MathOp:
    _EXP, _LOG, _TANH, _ERF, _ERFC


cdef inline void _math_elements(int op, nc_int n, const real *x, real *out) noexcept nogil:
    """out (n,) = op(x), element by element."""
    if op == _EXP: nc_exp(n, x, out)
    elif op == _LOG: nc_log(n, x, out)
    elif op == _TANH: nc_tanh(n, x, out)
    elif op == _ERF: nc_erf(n, x, out)
    else: nc_erfc(n, x, out)


cdef _math(int op, object x, object out):
    X = _float_input(x, "x")
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"),))
    cdef nc_int n = X.size
    cdef void *px = _data(X)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: _math_elements(op, n, <float *>px, <float *>po)
        else: _math_elements(op, n, <double *>px, <double *>po)
    return O


def exp(x, out=None):
    """exp(x, out=None) -> e**x, vectorised (a few ulp; overflow gives inf)."""
    return _math(_EXP, x, out)


def log(x, out=None):
    """log(x, out=None) -> natural log (log 0 = -inf, log of x < 0 is NaN)."""
    return _math(_LOG, x, out)


def tanh(x, out=None):
    """tanh(x, out=None) -> hyperbolic tangent, vectorised."""
    return _math(_TANH, x, out)


def erf(x, out=None):
    """erf(x, out=None) -> the error function, vectorised."""
    return _math(_ERF, x, out)


def erfc(x, out=None):
    """erfc(x, out=None) -> 1 - erf(x), with full relative accuracy in the
    right tail (what exact GELU uses for Phi(x) = erfc(-x / sqrt 2) / 2)."""
    return _math(_ERFC, x, out)
