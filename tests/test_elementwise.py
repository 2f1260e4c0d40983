"""The Hadamard family against NumPy, per ISA path and dtype."""

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL, assert_same_in_threads

SIZES = [0, 1, 3, 15, 16, 17, 1000, 4097, 1 << 20]
BINARY = [(K.add, np.add), (K.sub, np.subtract), (K.mul, np.multiply), (K.div, np.divide)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op,ref", BINARY, ids=["add", "sub", "mul", "div"])
def test_binary_matches_numpy(isa, dtype, n, op, ref, rng):
    a = rng.standard_normal(n).astype(dtype)
    b = (rng.standard_normal(n) + 3.0).astype(dtype)
    # one correctly rounded IEEE operation: bitwise equal on every path
    np.testing.assert_array_equal(op(a, b), ref(a, b))


@pytest.mark.parametrize("n", SIZES)
def test_scale_axpy_fma(isa, dtype, n, rng):
    x, y, z = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    np.testing.assert_array_equal(K.scale(2.5, x), dtype(2.5) * x)
    expected = y.astype(np.float64) + 0.75 * x.astype(np.float64)
    y2 = y.copy()
    assert K.axpy(0.75, x, y2) is y2
    np.testing.assert_allclose(y2, expected, **TOL[dtype])
    np.testing.assert_allclose(K.fma(x, y, z), x.astype(np.float64) * y + z, **TOL[dtype])


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (3, 17), (64, 100), (257, 1000), (4097, 33)])
def test_sum_rows(isa, dtype, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    reference = x.astype(np.float64).sum(axis=0)
    tol = dict(rtol=TOL[dtype]["rtol"] * max(shape[0], 1), atol=TOL[dtype]["atol"] * max(shape[0], 1) * 10)
    np.testing.assert_allclose(K.sum_rows(x), reference, **tol)
    out = np.ones(shape[1], dtype)
    K.sum_rows(x, out=out, accumulate=True)
    np.testing.assert_allclose(out, reference + 1.0, **tol)


def test_noncontiguous_and_out(dtype, rng):
    a = rng.standard_normal((40, 30)).astype(dtype)[::2, ::-3]
    b = rng.standard_normal((20, 10)).astype(dtype)
    out = np.empty((20, 10), dtype)
    assert K.add(a, b, out=out) is out
    np.testing.assert_array_equal(out, a + b)
    np.testing.assert_allclose(K.sum_rows(a.T), a.T.sum(0), **TOL[dtype])


def test_nan_inf_propagate(isa, dtype):
    a = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0] * 7, dtype)
    b = np.array([1.0, 1.0, np.inf, 0.0, 0.0] * 7, dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(K.div(a, b), a / b)
        np.testing.assert_array_equal(K.add(a, b), a + b)
        np.testing.assert_array_equal(K.sum_rows(a.reshape(7, 5)), a.reshape(7, 5).sum(0))


def test_threads_bitwise_identical(isa, dtype, threads, rng):
    x = rng.standard_normal((3001, 517)).astype(dtype)
    y = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append((K.sum_rows(x), K.fma(x, y, x), K.axpy(0.3, x, y.copy())))
    for other in results[1:]:
        for r0, r1 in zip(results[0], other):
            assert np.array_equal(r0, r1)


def test_concurrent_python_threads(dtype, rng):
    x = rng.standard_normal((2000, 300)).astype(dtype)
    assert_same_in_threads(lambda: K.sum_rows(x), workers=4, rounds=20)


def test_bad_input():
    f32, f64 = np.ones(3, np.float32), np.ones(3, np.float64)
    with pytest.raises(TypeError, match="b has dtype float64 but a has dtype float32"):
        K.add(f32, f64)
    with pytest.raises(ValueError, match=r"same shape, got \(3,\) and \(4,\)"):
        K.mul(f32, np.ones(4, np.float32))
    with pytest.raises(TypeError, match="a must have dtype float32 or float64, got int64"):
        K.add(np.ones(3, np.int64), np.ones(3, np.int64))
    with pytest.raises(TypeError, match="a must be a numpy.ndarray, got list"):
        K.add([1.0], [2.0])
    with pytest.raises(ValueError, match="alpha must be finite, got nan"):
        K.scale(float("nan"), f32)
    with pytest.raises(ValueError, match=r"out must have shape \(3,\), got \(2,\)"):
        K.add(f32, f32, out=np.empty(2, np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32, got float64"):
        K.add(f32, f32, out=np.empty(3))
    with pytest.raises(ValueError, match="writable C-contiguous"):
        K.add(f32, f32, out=np.empty(6, np.float32)[::2])
    with pytest.raises(ValueError, match=r"x must be 2-D, got shape \(3,\)"):
        K.sum_rows(f32)
    with pytest.raises(TypeError, match="y must be a numpy.ndarray, got NoneType"):
        K.axpy(1.0, f32, None)
