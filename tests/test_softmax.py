"""Softmax and log-softmax over the last axis, forward and backward, per ISA
path and dtype, against float64 NumPy and central finite differences."""

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL, assert_same_in_threads

SIZES = [0, 1, 3, 15, 16, 17, 1000, 4097, 1 << 20]


def ref_softmax(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_log_softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _rows(n):
    return 1 if n >= 1 << 20 else 3


def _tol(dtype, n):
    # a row sum of n terms: error grows with the length of the row
    return dict(rtol=TOL[dtype]["rtol"] * max(1.0, np.log2(max(n, 1))), atol=TOL[dtype]["atol"])


@pytest.mark.parametrize("n", SIZES)
def test_softmax_forward(isa, dtype, n, rng):
    x = (4 * rng.standard_normal((_rows(n), n))).astype(dtype)
    y = K.softmax(x)
    assert y.dtype == dtype and y.shape == x.shape
    if n == 0:
        assert K.log_softmax(x).shape == x.shape
        return
    np.testing.assert_allclose(y, ref_softmax(x), **_tol(dtype, n))
    if n:
        np.testing.assert_allclose(y.astype(np.float64).sum(-1), 1.0, rtol=0, atol=50 * np.finfo(dtype).eps)
    ly = K.log_softmax(x)
    want = ref_log_softmax(x)
    scale = np.max(np.abs(want), initial=1.0)
    np.testing.assert_allclose(ly, want, rtol=_tol(dtype, n)["rtol"], atol=8 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("n", SIZES)
def test_softmax_backward(isa, dtype, n, rng):
    x = (2 * rng.standard_normal((_rows(n), n))).astype(dtype)
    if n == 0:
        assert K.softmax_backward(x, x).shape == K.log_softmax_backward(x, x).shape == x.shape
        return
    g = rng.standard_normal(x.shape).astype(dtype)
    y = K.softmax(x)
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    want = y64 * (g64 - (g64 * y64).sum(-1, keepdims=True))
    scale = np.max(np.abs(g64), initial=1.0) * np.max(y64, initial=1.0)
    tol = dict(rtol=_tol(dtype, n)["rtol"], atol=8 * np.finfo(dtype).eps * scale)
    np.testing.assert_allclose(K.softmax_backward(y, g), want, **tol)
    ly = K.log_softmax(x)
    want = g64 - np.exp(ly.astype(np.float64)) * g64.sum(-1, keepdims=True)
    scale = np.max(np.abs(g64).sum(-1), initial=1.0)
    np.testing.assert_allclose(K.log_softmax_backward(ly, g), want,
                               rtol=_tol(dtype, n)["rtol"], atol=8 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_backward_central_differences(isa, which, rng):
    """grad_x = J^T g against d/dt <g, f(x + t e_j)> by float64 central differences."""
    f = K.softmax if which == "softmax" else K.log_softmax
    backward = K.softmax_backward if which == "softmax" else K.log_softmax_backward
    x = rng.standard_normal((4, 19))
    g = rng.standard_normal(x.shape)
    h = 1e-6
    fd = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        fd[:, j] = ((f(x + e) - f(x - e)) * g).sum(-1) / (2 * h)
    np.testing.assert_allclose(backward(f(x), g), fd, rtol=1e-6, atol=1e-8)


def test_seed_004_jacobian():
    """Seed 004 3.2.3: a = (0.515852, 0.484148), da_m/dz_j = a_m (delta_mj - a_j)
    = +-0.249749; the product with g = e_m gives a row of the Jacobian."""
    z = np.array([[0.0, 0.0]])
    z[0, 0] = np.log(0.515852 / 0.484148)
    a = K.softmax(z)
    np.testing.assert_allclose(a, [[0.515852, 0.484148]], atol=1e-6)
    np.testing.assert_allclose(K.softmax_backward(a, np.array([[1.0, 0.0]])), [[0.249749, -0.249749]], atol=1e-6)
    np.testing.assert_allclose(K.softmax_backward(a, np.array([[0.0, 1.0]])), [[-0.249749, 0.249749]], atol=1e-6)


def test_extreme_inputs(isa, dtype):
    x = np.array([[1e30, -1e30, 0.0, 5.0],
                  [3.0, 3.0, 3.0, 3.0],
                  [-np.inf, 1.0, -np.inf, 1.0],
                  [-1e30, -1e30, -1e30, -1e30],
                  [np.nan, 0.0, 1.0, 2.0],
                  [np.inf, 0.0, 1.0, 2.0],
                  [-np.inf, -np.inf, -np.inf, -np.inf]], dtype)
    with np.errstate(invalid="ignore"):
        y, ly = K.softmax(x), K.log_softmax(x)
    np.testing.assert_array_equal(y[0], [1, 0, 0, 0])
    np.testing.assert_array_equal(ly[0], np.array([0, -2e30, -1e30, -1e30 + 5], dtype))
    np.testing.assert_allclose(y[1], 0.25, rtol=TOL[dtype]["rtol"])
    np.testing.assert_allclose(y[2], [0, 0.5, 0, 0.5], rtol=TOL[dtype]["rtol"])
    np.testing.assert_allclose(ly[2], [-np.inf, -np.log(2), -np.inf, -np.log(2)], rtol=TOL[dtype]["rtol"])
    np.testing.assert_allclose(y[3], 0.25, rtol=TOL[dtype]["rtol"])
    # NaN poisons its row; +inf gives inf - inf = NaN, as the formula does;
    # a row of only -inf has no maximum to subtract and is NaN too
    assert np.isnan(y[4:]).all() and np.isnan(ly[4:]).all()
    assert np.isfinite(y[:4]).all()
    # wide rows of huge values, tails of every length
    for n in (1, 7, 17, 33, 100):
        row = np.full((1, n), -3e38 if dtype == np.float32 else -1.7e308, dtype)
        row[0, n // 2] = 3e38 if dtype == np.float32 else 1.7e308
        want = np.zeros((1, n))
        want[0, n // 2] = 1
        np.testing.assert_array_equal(K.softmax(row), want)


def test_any_rank_noncontiguous_out_inplace(dtype, rng):
    x = rng.standard_normal((2, 3, 4, 9)).astype(dtype)
    np.testing.assert_allclose(K.softmax(x), ref_softmax(x), **TOL[dtype])
    xt = x.transpose(0, 1, 3, 2)[..., ::-1]
    np.testing.assert_allclose(K.log_softmax(xt), ref_log_softmax(xt), **TOL[dtype])
    v = rng.standard_normal(7).astype(dtype)
    np.testing.assert_allclose(K.softmax(v), ref_softmax(v), **TOL[dtype])
    out = np.empty_like(x)
    assert K.softmax(x, out=out) is out
    y = x.copy()
    assert K.log_softmax(y, out=y) is y
    np.testing.assert_allclose(y, ref_log_softmax(x), **TOL[dtype])
    g = rng.standard_normal(x.shape).astype(dtype)
    s = K.softmax(x)
    want = K.softmax_backward(s, g)
    assert K.softmax_backward(s, g, out=g) is g
    np.testing.assert_array_equal(g, want)
    for shape in ((0, 5), (5, 0), (0,), (2, 0, 3)):
        e = np.empty(shape, dtype)
        assert K.softmax(e).shape == shape
        assert K.log_softmax_backward(e, e).shape == shape


def test_threads_bitwise_identical(isa, dtype, threads, rng):
    for shape in ((3 * 197, 197), (7, 4097), (2, 1 << 16)):
        x = (5 * rng.standard_normal(shape)).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        results = []
        for n in (1, 2):
            threads(n)
            y, ly = K.softmax(x), K.log_softmax(x)
            results.append((y, ly, K.softmax_backward(y, g), K.log_softmax_backward(ly, g)))
        for r0, r1 in zip(*results):
            assert np.array_equal(r0, r1)


def test_concurrent_python_threads(dtype, rng):
    x = rng.standard_normal((600, 197)).astype(dtype)
    assert_same_in_threads(lambda: K.softmax(x), rounds=20)


def test_bad_input():
    f32, f64 = np.ones((2, 3), np.float32), np.ones((2, 3), np.float64)
    with pytest.raises(ValueError, match="x must have at least 1 dimension"):
        K.softmax(np.array(1.0))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        K.log_softmax(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="grad_output has dtype float64 but output has dtype float32"):
        K.softmax_backward(f32, f64)
    with pytest.raises(ValueError, match=r"same shape, got \(3, 2\) and \(2, 3\)"):
        K.log_softmax_backward(f32, f32.T)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3\), got \(3,\)"):
        K.softmax(f32, out=np.empty(3, np.float32))
