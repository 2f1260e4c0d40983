"""Activation kernels forward and backward against float64 NumPy references
and central finite differences, per ISA path and dtype."""
import functools
import math

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL, assert_same_in_threads
from _tolerances import FD

SIZES = [0, 1, 3, 15, 16, 17, 1000, 4097, 1 << 20]
ACTIVATIONS = ["identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh"]
SLOPE = 0.05

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
C_TANH = math.sqrt(2.0 / math.pi)


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ref_forward(x, activation):
    """act(x) in float64 (x cast up first)."""
    x = np.asarray(x, np.float64)
    if activation == "identity":
        return x.copy()
    if activation == "relu":
        return np.where(x > 0, x, 0.0)
    if activation == "leaky_relu":
        return np.where(x > 0, x, SLOPE * x)
    if activation == "gelu":
        return x * 0.5 * _erfc(-x / math.sqrt(2.0))
    if activation == "gelu_tanh":
        # 0.5 x (1 + tanh(u)) = x sigmoid(2u): the same value without the
        # cancellation of 1 + tanh(u) for x < 0
        return x * _sigmoid64(2 * C_TANH * (x + 0.044715 * x**3))
    if activation == "sigmoid":
        return _sigmoid64(x)
    return np.tanh(x)


def ref_derivative(x, activation):
    """act'(x) in float64, from the closed forms."""
    x = np.asarray(x, np.float64)
    if activation == "identity":
        return np.ones_like(x)
    if activation == "relu":
        return (x > 0).astype(np.float64)
    if activation == "leaky_relu":
        return np.where(x > 0, 1.0, SLOPE)
    if activation == "gelu":
        return 0.5 * _erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    if activation == "gelu_tanh":
        u = C_TANH * (x + 0.044715 * x**3)
        t = np.tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C_TANH * (1 + 3 * 0.044715 * x * x)
    if activation == "sigmoid":
        s = _sigmoid64(x)
        return s * (1 - s)
    return 1.0 / np.cosh(x) ** 2


@functools.lru_cache(maxsize=None)
def _case(n, dtype, activation):
    """(x, grad, act(x) in float64, grad * act'(x) in float64), cached: the
    float64 erf reference of 2^20 elements is slow to rebuild per ISA."""
    rng = np.random.default_rng(n)
    x = (3.0 * rng.standard_normal(n)).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    with np.errstate(over="ignore"):
        return x, g, ref_forward(x, activation), g.astype(np.float64) * ref_derivative(x, activation)


def _call_forward(x, activation):
    if activation == "leaky_relu":
        return K.activation_forward(x, activation, negative_slope=SLOPE)
    return K.activation_forward(x, activation)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_reference(isa, dtype, n, activation):
    x, _, want, _ = _case(n, dtype, activation)
    y = _call_forward(x, activation)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, want, **TOL[dtype])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_reference(isa, dtype, n, activation):
    x, g, _, want = _case(n, dtype, activation)
    got = K.activation_backward(g, x, activation, negative_slope=SLOPE)
    np.testing.assert_allclose(got, want, **TOL[dtype])
    if activation in ("sigmoid", "tanh"):
        # from the saved output: 1 - y^2 and y (1 - y) cancel where y
        # saturates, so the bound is absolute there
        y = _call_forward(x, activation)
        got_y = K.activation_backward(g, x, activation, output=y)
        np.testing.assert_allclose(got_y, want, rtol=TOL[dtype]["rtol"] * 10,
                                   atol=10 * np.finfo(dtype).eps * np.max(np.abs(g), initial=0))


@pytest.mark.parametrize("n", [0, 1, 15, 17, 4097, 1 << 20])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_grad_is_forward_and_backward(isa, dtype, n, activation):
    """y of activation_forward_grad is activation_forward's, bit for bit;
    grad * dy is activation_backward's, bit for bit, where the backward is
    grad times act' (all but ReLU, whose backward selects grad or 0, and the
    identity); dy against the float64 derivative."""
    x, g, _, _ = _case(n, dtype, activation)
    y, d = K.activation_forward_grad(x, activation, negative_slope=SLOPE)
    assert y.dtype == d.dtype == dtype and y.shape == d.shape == x.shape
    np.testing.assert_array_equal(y, _call_forward(x, activation))
    if activation not in ("relu", "identity"):
        np.testing.assert_array_equal(g * d, K.activation_backward(g, x, activation, negative_slope=SLOPE))
    with np.errstate(over="ignore"):
        want = ref_derivative(x, activation)
    np.testing.assert_allclose(d, want, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"])


def test_forward_grad_out_arrays_and_bad_input(dtype):
    x, _, _, _ = _case(4097, dtype, "gelu")
    y, d = np.empty_like(x), np.empty_like(x)
    got_y, got_d = K.activation_forward_grad(x, "gelu", out=y, derivative_out=d)
    assert got_y is y and got_d is d
    np.testing.assert_array_equal(y, K.gelu(x))
    xc = x.copy()
    _, d2 = K.activation_forward_grad(xc, "gelu", derivative_out=xc)   # dy may overwrite x
    np.testing.assert_array_equal(d2, d)
    with pytest.raises(ValueError, match="derivative_out and out must not overlap"):
        K.activation_forward_grad(x, "gelu", out=y, derivative_out=y)
    with pytest.raises(ValueError, match=r"derivative_out must have shape \(4097,\), got \(4,\)"):
        K.activation_forward_grad(x, "gelu", derivative_out=np.empty(4, dtype))
    with pytest.raises(ValueError, match="activation must be one of"):
        K.activation_forward_grad(x, "swish")


def test_forward_grad_threads_bitwise_identical(isa, dtype, threads):
    x, _, _, _ = _case(1 << 20, dtype, "gelu")
    results = []
    for n in (1, 2):
        threads(n)
        results.append(K.activation_forward_grad(x, "gelu"))
    assert np.array_equal(results[0][0], results[1][0], equal_nan=True)
    assert np.array_equal(results[0][1], results[1][1], equal_nan=True)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_central_differences(isa, activation):
    """act' of the kernel against float64 central differences of the kernel's
    own forward, away from ReLU's kink."""
    rng = np.random.default_rng(7)
    x = 4.0 * rng.standard_normal(501)
    x = x[np.abs(x) > 1e-3]
    h = 1e-6
    fd = (_call_forward(x + h, activation) - _call_forward(x - h, activation)) / (2 * h)
    got = K.activation_backward(np.ones_like(x), x, activation, negative_slope=SLOPE)
    np.testing.assert_allclose(got, fd, **FD)


def test_relu_derivative_at_zero(isa, dtype):
    x = np.array([-0.0, 0.0, 1e-30, -1e-30], dtype)
    g = np.ones_like(x)
    np.testing.assert_array_equal(K.activation_backward(g, x, "relu"), [0, 0, 1, 0])
    np.testing.assert_array_equal(K.activation_backward(g, x, "leaky_relu", 0.1),
                                  np.array([0.1, 0.1, 1, 0.1], dtype))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_nan_inf(isa, dtype, activation):
    huge = np.finfo(dtype).max
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, 50.0, -50.0, 1e30, -1e30, huge, -huge] * 3, dtype)
    y = _call_forward(x, activation)
    assert np.isnan(y[0])
    big = {"identity": (np.inf, -np.inf), "relu": (np.inf, 0.0), "leaky_relu": (np.inf, -np.inf),
           "gelu": (np.inf, 0.0), "gelu_tanh": (np.inf, 0.0), "sigmoid": (1.0, 0.0),
           "tanh": (1.0, -1.0)}[activation]
    # gelu(-inf) is the limit 0 (as PyTorch), not -inf * Phi(-inf) = -inf * 0
    np.testing.assert_array_equal(y[1:3], np.array(big, dtype))
    with np.errstate(all="ignore"):
        finite = ref_forward(x[3:10], activation)
    np.testing.assert_allclose(y[3:10], finite, **TOL[dtype])
    assert not np.isnan(y[10:12]).any()
    d = K.activation_backward(np.ones_like(x), x, activation, negative_slope=SLOPE)
    # piecewise-linear derivatives are masks (x > 0 is false for NaN, as in
    # PyTorch); the smooth ones propagate NaN
    assert np.isnan(d[0]) == (activation in ("gelu", "gelu_tanh", "sigmoid", "tanh"))
    # saturated derivatives are exact 0/1/slope, never NaN, for huge finite x
    with np.errstate(all="ignore"):
        # (the float64 closed forms overflow at the float maximum; the
        # derivative there equals its value at +-1e4)
        np.testing.assert_allclose(d[3:12], ref_derivative(np.clip(x[3:12], -1e4, 1e4), activation),
                                   **TOL[dtype])


def test_left_tail_accuracy(isa, dtype):
    """GELU and sigmoid keep relative accuracy far in the left tail, where
    1 + erf and 1 + tanh cancel."""
    x = np.linspace(-9.0 if dtype == np.float32 else -20.0, -3.0, 301).astype(dtype)
    for activation in ("gelu", "gelu_tanh", "sigmoid"):
        want = ref_forward(x, activation)
        np.testing.assert_allclose(_call_forward(x, activation), want, rtol=TOL[dtype]["rtol"] * 5, atol=0)


def test_named_functions(isa, dtype, rng):
    x = (3 * rng.standard_normal(333)).astype(dtype)
    for fn, activation in ((K.sigmoid, "sigmoid"), (K.tanh, "tanh"), (K.relu, "relu")):
        np.testing.assert_array_equal(fn(x), K.activation_forward(x, activation))
    np.testing.assert_array_equal(K.leaky_relu(x, 0.2), K.activation_forward(x, "leaky_relu", 0.2))
    np.testing.assert_array_equal(K.gelu(x), K.activation_forward(x, "gelu"))
    np.testing.assert_array_equal(K.gelu(x, approximate="tanh"), K.activation_forward(x, "gelu_tanh"))
    np.testing.assert_allclose(K.leaky_relu(x), np.where(x > 0, x, dtype(0.01) * x), **TOL[dtype])


def test_noncontiguous_out_and_inplace(dtype, rng):
    base = rng.standard_normal((40, 30)).astype(dtype)
    x = base[::2, ::-3]
    np.testing.assert_allclose(K.gelu(x), ref_forward(x, "gelu"), **TOL[dtype])
    g = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_allclose(K.activation_backward(g.T.copy().T, x, "sigmoid"),
                               g * ref_derivative(x, "sigmoid"), **TOL[dtype])
    out = np.empty(x.shape, dtype)
    assert K.sigmoid(x, out=out) is out
    y = np.ascontiguousarray(x)
    want = ref_forward(y, "tanh")
    assert K.tanh(y, out=y) is y
    np.testing.assert_allclose(y, want, **TOL[dtype])
    gc = g.copy()
    assert K.activation_backward(gc, x, "gelu", out=gc) is gc
    np.testing.assert_allclose(gc, g * ref_derivative(x, "gelu"), **TOL[dtype])
    empty = np.empty((0, 3), dtype)
    assert K.gelu(empty).shape == (0, 3)
    assert K.activation_backward(empty, empty, "tanh").shape == (0, 3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_threads_bitwise_identical(isa, dtype, threads, activation):
    x, g, _, _ = _case(1 << 20, dtype, activation)
    results = []
    for n in (1, 2):
        threads(n)
        results.append((_call_forward(x, activation), K.activation_backward(g, x, activation)))
    assert np.array_equal(results[0][0], results[1][0], equal_nan=True)
    assert np.array_equal(results[0][1], results[1][1], equal_nan=True)


def test_concurrent_python_threads(dtype):
    x, g, _, _ = _case(4097 * 8, dtype, "gelu")
    assert_same_in_threads(lambda: (K.gelu(x), K.activation_backward(g, x, "gelu_tanh")))


def test_bad_input():
    f32, f64 = np.ones(3, np.float32), np.ones(3, np.float64)
    with pytest.raises(ValueError, match="activation must be one of .* got 'swish'"):
        K.activation_forward(f32, "swish")
    with pytest.raises(TypeError, match="activation must be a str, got int"):
        K.activation_forward(f32, 3)
    with pytest.raises(ValueError, match="negative_slope must be finite, got nan"):
        K.leaky_relu(f32, float("nan"))
    with pytest.raises(TypeError, match="x has dtype float64 but grad_output has dtype float32"):
        K.activation_backward(f32, f64, "relu")
    with pytest.raises(ValueError, match=r"same shape, got \(4,\) and \(3,\)"):
        K.activation_backward(f32, np.ones(4, np.float32), "relu")
    with pytest.raises(TypeError, match="output has dtype float64"):
        K.activation_backward(f32, f32, "tanh", output=f64)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh', got 'fast'"):
        K.gelu(f32, approximate="fast")
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        K.sigmoid(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray, got list"):
        K.exp([1.0])
    with pytest.raises(ValueError, match=r"out must have shape \(3,\), got \(2,\)"):
        K.relu(f32, out=np.empty(2, np.float32))
