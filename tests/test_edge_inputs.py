"""Inputs at the edges of the domain that once gave a silently wrong answer
or an unrelated error: GELU at -inf, layer norm over zero columns.
Each case is checked on every ISA path and in both dtypes."""
import numpy as np
import pytest

import neurocore as nc
from neurocore import kernels as K

from conftest import TOL

# the limits: GELU(x) -> 0 as x -> -inf (from below: x Phi(x) < 0), -> x as
# x -> +inf; the derivative Phi(x) + x phi(x) -> 0 and 1
SPECIALS = np.array([-np.inf, -1e300, -3e38, -1e30, -2e4, -1e4, -40.0, -0.0, 0.0, np.inf, np.nan])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_at_infinities(isa, dtype, approximate):
    # padded to 37 so the values sit in SIMD bodies and scalar tails alike
    with np.errstate(over="ignore"):                    # -1e300 is -inf in float32
        x = np.resize(SPECIALS.astype(dtype), 37)
    y = K.gelu(x, approximate=approximate)
    neg = x < 0
    assert np.all(y[neg] == 0), y[neg]                  # -0.0 == 0 too
    assert np.all(np.signbit(y[neg]))                   # approached from below
    assert np.all(y[np.isposinf(x)] == np.inf)
    assert np.all(y[x == 0] == 0)
    assert np.all(np.isnan(y[np.isnan(x)]))
    act = "gelu" if approximate == "none" else "gelu_tanh"
    grad = K.activation_backward(np.ones_like(x), x, act)
    assert np.all(grad[neg] == 0), grad[neg]
    assert np.all(grad[np.isposinf(x)] == 1)
    np.testing.assert_allclose(grad[x == 0], 0.5, **TOL[dtype])
    assert np.all(np.isnan(grad[np.isnan(x)]))


def test_gelu_neg_inf_through_autograd_and_fused_linear(dtype):
    x = nc.tensor(np.array([[-np.inf, 1.0]], dtype), requires_grad=True)
    y = nc.functional.gelu(x)
    assert y.data[0, 0] == 0 and y.data[0, 1] == pytest.approx(0.8413447460685429, rel=1e-6)
    y.sum().backward()
    assert x.grad.data[0, 0] == 0
    # the GEMM epilogue shares the activation code: -inf rows of the product
    weight = np.array([[1.0, 0.0]], dtype)
    out = K.linear_forward(np.array([[-np.inf, 0.0]], dtype), weight, activation="gelu")
    assert out[0, 0] == 0


@pytest.mark.parametrize("shape", [(3, 0), (0,), (2, 4, 0)])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_over_zero_columns(isa, dtype, shape, affine):
    """An empty row normalises to an empty row (PyTorch returns the empty
    input's shape); its mean and rstd are NaN, as np.mean of nothing."""
    x = np.zeros(shape, dtype)
    w = np.ones(0, dtype) if affine else None
    y, mean, rstd = K.layer_norm_forward(x, w, w)
    assert y.shape == shape and y.dtype == dtype
    assert mean.shape == shape[:-1] and rstd.shape == shape[:-1]
    gx, gw, gb = K.layer_norm_backward(np.zeros(shape, dtype), x, mean, rstd, w)
    assert gx.shape == shape and gw.shape == (0,) and gb.shape == (0,)

    t = nc.tensor(x, requires_grad=True)
    wt = nc.tensor(np.ones(0, dtype), requires_grad=True) if affine else None
    out = nc.functional.layer_norm(t, (0,), wt, wt)
    assert out.shape == shape and out.dtype == dtype
    out.sum().backward()
    assert t.grad.shape == shape
    if affine:
        assert wt.grad.shape == (0,)


def test_layer_norm_zero_rows(dtype):
    x = nc.tensor(np.zeros((0, 5), dtype), requires_grad=True)
    out = nc.functional.layer_norm(x, (5,))
    assert out.shape == (0, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 5)
    # the same rows of a non-empty batch give the reference values
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 5)).astype(dtype)
    got = nc.functional.layer_norm(nc.tensor(xs), (5,)).data
    x64 = xs.astype(np.float64)
    ref = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, ref, **TOL[dtype])
