"""Layer-norm kernels against NumPy, per ISA path and dtype, and their
gradients against float64 central finite differences."""
import warnings

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL
from _tolerances import FD, FD_HVP

SHAPES = [(1, 1), (3, 7), (5, 16), (2, 3, 33), (197, 192), (64, 1000), (4, 0), (0, 5)]


def reference(x, w, b, eps):
    x = x.astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y, mu[..., 0], 1 / np.sqrt(var[..., 0] + eps)


def reference_backward(g, x, w, eps):
    x, g = x.astype(np.float64), g.astype(np.float64)
    _, mu, rs = reference(x, None, None, eps)
    xh = (x - mu[..., None]) * rs[..., None]
    gw = g * w if w is not None else g
    gx = rs[..., None] * (gw - gw.mean(-1, keepdims=True) - xh * (gw * xh).mean(-1, keepdims=True))
    rows = tuple(range(x.ndim - 1))
    return gx, (g * xh).sum(rows), g.sum(rows)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_backward_match_numpy(isa, dtype, shape, affine, rng):
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    w = rng.standard_normal(shape[-1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[-1]).astype(dtype) if affine else None
    y, mu, rs = K.layer_norm_forward(x, w, b, eps=1e-5)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's mean of an empty row
        ry, rmu, rrs = reference(x, w, b, 1e-5)
        g = rng.standard_normal(shape).astype(dtype)
        rgx, rgw, rgb = reference_backward(g, x, w, 1e-5)
    tol = dict(rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 100)
    assert y.dtype == dtype and mu.shape == shape[:-1]
    np.testing.assert_allclose(y, ry, **tol)
    if shape[-1]:
        np.testing.assert_allclose(mu, rmu, **tol)
        np.testing.assert_allclose(rs, rrs, **tol)
    else:  # every empty row has an undefined mean (the kernel pairs rows: none may be skipped)
        assert np.isnan(mu).all() and np.isnan(rs).all()
    gx, gw, gb = K.layer_norm_backward(g, x, mu, rs, w)
    np.testing.assert_allclose(gx, rgx, **tol)
    np.testing.assert_allclose(gw, rgw, rtol=tol["rtol"] * 10, atol=tol["atol"] * max(1, x.size // 10))
    np.testing.assert_allclose(gb, rgb, rtol=tol["rtol"] * 10, atol=tol["atol"] * max(1, x.size // 10))


def test_gradients_by_finite_differences(rng):
    x = rng.standard_normal((3, 6))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    g = rng.standard_normal((3, 6))
    y, mu, rs = K.layer_norm_forward(x, w, b)
    gx, gw, gb = K.layer_norm_backward(g, x, mu, rs, w)
    eps = 1e-6
    args = [x, w, b]
    for which, grad in enumerate((gx, gw, gb)):
        numeric = np.zeros_like(args[which])
        for idx in np.ndindex(numeric.shape):
            p = [a.copy() for a in args]
            m = [a.copy() for a in args]
            p[which][idx] += eps
            m[which][idx] -= eps
            numeric[idx] = ((K.layer_norm_forward(*p)[0] - K.layer_norm_forward(*m)[0]) * g).sum() / (2 * eps)
        np.testing.assert_allclose(grad, numeric, **FD)


def test_large_mean_small_spread(dtype):
    # the two-pass variance: E[x^2] - E[x]^2 would lose every digit here
    # (float32 still rounds the mean to its own ulp, ~1e-4 of the spread)
    x = (1e3 + np.arange(8) * 1e-2).astype(dtype)[None]
    y, _, _ = K.layer_norm_forward(x, eps=0.0)
    tol = 1e-2 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(y, reference(x, None, None, 0.0)[0], rtol=tol, atol=tol)


def test_threads_bitwise_identical(isa, dtype, threads, rng):
    x = rng.standard_normal((1001, 192)).astype(dtype)  # odd: rows go in pairs
    w = rng.standard_normal(192).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for n in (1, 2, 3):
        threads(n)
        y, mu, rs = K.layer_norm_forward(x, w, w)
        results.append((y, mu, rs) + K.layer_norm_backward(g, x, mu, rs, w))
    for other in results[1:]:
        for r0, r1 in zip(results[0], other):
            assert np.array_equal(r0, r1)


def test_nan_propagates_and_noncontiguous(dtype, rng):
    x = rng.standard_normal((4, 9)).astype(dtype)
    x[1, 3] = np.nan
    y, _, _ = K.layer_norm_forward(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2, 3]]).all()
    z = rng.standard_normal((9, 8)).astype(dtype).T
    np.testing.assert_allclose(K.layer_norm_forward(z)[0], reference(z, None, None, 1e-5)[0],
                               rtol=1e-4, atol=1e-5)


def test_bad_input_is_rejected(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="weight"):
        K.layer_norm_forward(x, np.ones(5, np.float32))
    with pytest.raises(TypeError, match="bias"):
        K.layer_norm_forward(x, None, np.ones(4))
    with pytest.raises(ValueError, match="eps"):
        K.layer_norm_forward(x, eps=-1.0)
    with pytest.raises(TypeError, match="x"):
        K.layer_norm_forward(x.astype(np.int64))
    y, mu, rs = K.layer_norm_forward(x)
    with pytest.raises(ValueError, match="mean"):
        K.layer_norm_backward(x, x, mu[:2], rs)


# ---- nc.functional.layer_norm and nc.nn.LayerNorm (autograd) ---------------

import neurocore as nc  # noqa: E402
from neurocore import functional as F  # noqa: E402


@pytest.mark.parametrize("normalized_shape", [(5,), (2, 5)])
def test_functional_gradcheck(normalized_shape, rng):
    x = nc.tensor(rng.standard_normal((3, 2, 5)), requires_grad=True)
    w = nc.tensor(rng.standard_normal(normalized_shape), requires_grad=True)
    b = nc.tensor(rng.standard_normal(normalized_shape), requires_grad=True)
    assert nc.autograd.gradcheck(lambda x_, w_, b_: F.layer_norm(x_, normalized_shape, w_, b_),
                                 (x, w, b), atol=1e-7, rtol=1e-6)
    assert nc.autograd.gradcheck(lambda x_: F.layer_norm(x_, normalized_shape), (x,), atol=1e-7, rtol=1e-6)


def test_functional_matches_numpy_and_double_backward(rng):
    x = rng.standard_normal((4, 6))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    y = F.layer_norm(nc.tensor(x), 6, nc.tensor(w), nc.tensor(b), eps=1e-6)
    np.testing.assert_allclose(y.numpy(), reference(x, w, b, 1e-6)[0], rtol=1e-12, atol=1e-12)
    u = rng.standard_normal(x.shape)

    def grad_x(x_):
        xt = nc.tensor(x_, requires_grad=True)
        out = F.layer_norm(xt, 6, nc.tensor(w), nc.tensor(b))
        (gx,) = nc.grad([(out * out * out).sum()], [xt], create_graph=True)
        return xt, gx

    xt, gx = grad_x(x)
    (hvp,) = nc.grad([(gx * nc.tensor(u)).sum()], [xt])
    eps = 1e-5
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        p, m = x.copy(), x.copy()
        p[idx] += eps
        m[idx] -= eps
        numeric[idx] = ((grad_x(p)[1].numpy() - grad_x(m)[1].numpy()) * u).sum() / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), numeric, **FD_HVP)


def test_module_and_bad_input(rng):
    ln = nc.nn.LayerNorm(8, eps=1e-6)
    assert set(ln.state_dict()) == {"weight", "bias"} and ln.weight.dtype == np.float32
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(ln(nc.tensor(x)).numpy(), reference(x, None, None, 1e-6)[0], rtol=1e-5, atol=1e-5)
    assert nc.nn.LayerNorm(8, elementwise_affine=False).state_dict() == {}
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(nc.tensor(rng.standard_normal((2, 7)).astype(np.float32)))
    with pytest.raises(TypeError, match="float64"):
        ln(nc.tensor(x.astype(np.float64)))
