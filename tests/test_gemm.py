"""GEMM, matvec, outer-product accumulation and the fused Linear layer
against NumPy, per ISA path and dtype.

Tolerances: a product of length k computed in any order differs from the
exact one by at most about k * eps * sum_k |a_ik| |b_kj|; the tests check
that bound (with a small factor) against a float64 reference built from the
same (rounded) inputs, so float64 agrees to rounding and float32 to a
tolerance that grows with K.
"""
import itertools
import math

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL, assert_same_in_threads

EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _op(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def _check_product(got, a, b, ta, tb, dtype, alpha=1.0, beta=0.0, c=None):
    """got == alpha op(a) op(b) + beta c within the rounding bound."""
    a64, b64 = _op(a, ta).astype(np.float64), _op(b, tb).astype(np.float64)
    ref = alpha * (a64 @ b64)
    mag = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if c is not None:
        ref = ref + beta * c.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    k = a64.shape[-1]
    bound = 4.0 * (k + 2) * EPS[dtype] * mag + np.finfo(dtype).tiny
    assert got.shape == ref.shape and got.dtype == dtype
    assert np.all(np.abs(got - ref) <= bound), np.max(np.abs(got - ref) - bound)


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# (m, n, k): degenerate, smaller than a register tile, the direct (M <= 32)
# path, several K blocks (KC = 256), several N blocks (NC <= 512), tails.
SHAPES = [(0, 5, 3), (5, 0, 3), (4, 5, 0), (1, 1, 1), (1, 37, 19), (23, 1, 40), (33, 17, 1),
          (5, 7, 9), (31, 65, 17), (37, 130, 300), (70, 33, 520), (45, 600, 40), (97, 97, 97)]


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_every_transpose(isa, dtype, m, n, k, rng):
    for ta, tb in itertools.product([False, True], repeat=2):
        a = _rand(rng, (k, m) if ta else (m, k), dtype)
        b = _rand(rng, (n, k) if tb else (k, n), dtype)
        c = _rand(rng, (m, n), dtype)
        _check_product(K.gemm(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb, dtype)
        got = K.gemm(a, b, c, alpha=-0.5, beta=1.5, trans_a=ta, trans_b=tb)
        _check_product(got, a, b, ta, tb, dtype, -0.5, 1.5, c)


def test_gemm_large(dtype, rng):
    # every block loop runs more than once: K > KC, N > NC, M over many tiles
    a, b = _rand(rng, (300, 700), dtype), _rand(rng, (700, 1100), dtype)
    _check_product(K.gemm(a, b), a, b, False, False, dtype)
    _check_product(K.gemm(b, a, trans_a=True, trans_b=True), b, a, True, True, dtype)


def test_gemm_out_beta_and_nan(isa, dtype, rng):
    a, b = _rand(rng, (40, 50), dtype), _rand(rng, (50, 70), dtype)
    c = _rand(rng, (40, 70), dtype)
    out = c.copy()
    assert K.gemm(a, b, out, beta=1.0, out=out) is out  # c is out: in place
    _check_product(out, a, b, False, False, dtype, 1.0, 1.0, c)
    # beta == 0 ignores c entirely, NaN included (BLAS semantics)
    nan_c = np.full((40, 70), np.nan, dtype)
    out2 = np.full((40, 70), np.nan, dtype)
    assert K.gemm(a, b, nan_c, beta=0.0, out=out2) is out2
    _check_product(out2, a, b, False, False, dtype)
    # NaN and inf in the operands propagate
    a[3, 7] = np.nan
    b[2, 5] = np.inf
    got = K.gemm(a, b)
    with np.errstate(invalid="ignore"):
        ref = a.astype(np.float64) @ b
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))


def test_gemm_strided_views_and_aliasing(dtype, rng):
    base = _rand(rng, (80, 90), dtype)
    a = base[::2, 1::3]           # (40, 30), strided: copied once
    b = _rand(rng, (50, 30), dtype).T  # (30, 50), a transposed view: no copy
    _check_product(K.gemm(a, b), a, b, False, False, dtype)
    _check_product(K.matmul(a, b), a, b, False, False, dtype)
    # out overlapping an input still gives the right answer
    sq = _rand(rng, (33, 33), dtype)
    expected = K.gemm(sq, sq)
    K.gemm(sq, sq.copy(), out=sq)
    np.testing.assert_array_equal(sq, expected)


@pytest.mark.parametrize("shape_a,shape_b", [((4, 7, 9), (4, 9, 5)), ((3, 40, 70), (70, 20)),
                                             ((40, 70), (3, 70, 20)), ((1, 6, 8), (5, 8, 3)),
                                             ((2, 0, 4), (2, 4, 3)), ((6, 50, 64), (6, 64, 50))])
def test_batched_matmul(isa, dtype, shape_a, shape_b, rng):
    a, b = _rand(rng, shape_a, dtype), _rand(rng, shape_b, dtype)
    got = K.matmul(a, b)
    _check_product(got, np.broadcast_to(a, got.shape[:1] + a.shape[-2:]) if a.ndim == 3 else a,
                   b, False, False, dtype)


def test_four_dimensional_batches(dtype, rng):
    # (batch, heads, tokens, head_dim): attention's layout
    q, k = _rand(rng, (2, 3, 11, 8), dtype), _rand(rng, (2, 3, 13, 8), dtype)
    got = K.gemm(q, k, trans_b=True, alpha=0.5)
    assert got.shape == (2, 3, 11, 13)
    for i in range(2):
        _check_product(got[i], q[i], k[i], False, True, dtype, 0.5)
    out = np.empty((2, 3, 11, 8), dtype)
    assert K.matmul(got, k, out=out) is out
    w = _rand(rng, (13, 4), dtype)
    assert K.matmul(got, w).shape == (2, 3, 11, 4)
    with pytest.raises(ValueError, match="batch dimensions differ"):
        K.matmul(q, _rand(rng, (3, 2, 8, 5), dtype))


def test_batched_gemm_transposes(isa, dtype, rng):
    # attention-shaped: scores = q k^T, grad = p^T v, on (batch, n, d)
    q, k = _rand(rng, (6, 37, 16), dtype), _rand(rng, (6, 41, 16), dtype)
    c = _rand(rng, (6, 37, 41), dtype)
    got = K.gemm(q, k, c, alpha=0.25, beta=-1.0, trans_b=True)
    _check_product(got, q, k, False, True, dtype, 0.25, -1.0, c)
    got = K.gemm(q, q, trans_a=True)
    _check_product(got, q, q, True, False, dtype)
    # a (batch, k, m) view that is the swapaxes of a contiguous array
    kt = np.swapaxes(k, 1, 2)
    _check_product(K.matmul(q, kt), q, kt, False, False, dtype)


ACTIVATIONS = ["identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh"]


def _act(name, z, slope=0.01):
    if name == "identity":
        return z
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "gelu":
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return np.tanh(z)


def _act_grad(name, z, slope=0.01):
    """act'(z) in float64, by a central difference of _act of step 1e-6
    checked against the closed forms where simple."""
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if name == "gelu":
        return 0.5 * (1.0 + _erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    h = 1e-6
    return (_act(name, z + h) - _act(name, z - h)) / (2 * h)


def _act_tol(dtype):
    return dict(rtol=TOL[dtype]["rtol"] * 5, atol=TOL[dtype]["atol"] * 5) if dtype == np.float32 \
        else dict(rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("m,k,n", [(1, 20, 30), (17, 33, 9), (64, 100, 70), (19, 1, 45)])
def test_linear_forward_fused(isa, dtype, activation, m, k, n, rng):
    x, w, b = _rand(rng, (m, k), dtype), (_rand(rng, (n, k), dtype) / np.sqrt(k)).astype(dtype), _rand(rng, n, dtype)
    y, z = K.linear_forward(x, w, b, activation, negative_slope=0.2, return_preact=True)
    # the pre-activation is the product plus bias ...
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    z_ref = x64 @ w64.T + b
    bound = 4.0 * (k + 2) * EPS[dtype] * (np.abs(x64) @ np.abs(w64).T + np.abs(b))
    assert np.all(np.abs(z - z_ref) <= bound)
    # ... and the output is the activation of that pre-activation, unfused
    np.testing.assert_allclose(y, _act(activation, z.astype(np.float64), 0.2), **_act_tol(dtype))
    # without bias, into out=
    out = np.empty((m, n), dtype)
    assert K.linear_forward(x, w, None, activation, 0.2, out=out) is out
    np.testing.assert_allclose(out, _act(activation, x64 @ w64.T, 0.2),
                               rtol=_act_tol(dtype)["rtol"] * 10, atol=float(np.max(bound)) * 2 + 1e-6)


def test_linear_forward_3d_and_transposed_weight(dtype, rng):
    x = _rand(rng, (3, 5, 24), dtype)
    w = _rand(rng, (24, 10), dtype).T  # (10, 24) as a transposed view
    b = _rand(rng, 10, dtype)
    y = K.linear_forward(x, w, b, "relu")
    assert y.shape == (3, 5, 10)
    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)
    assert K.linear_forward(np.zeros((0, 24), dtype), w, b).shape == (0, 10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_linear_backward(isa, dtype, activation, rng):
    m, k, n = 37, 45, 29
    x, w, b = _rand(rng, (m, k), dtype), _rand(rng, (n, k), dtype), _rand(rng, n, dtype)
    _, z = K.linear_forward(x, w, b, activation, return_preact=True)
    g = _rand(rng, (m, n), dtype)
    gx, gw, gb = K.linear_backward(g, x, w, z, activation)
    delta = g.astype(np.float64) * _act_grad(activation, z.astype(np.float64))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    if activation == "gelu_tanh" and dtype == np.float64:
        tol = dict(rtol=1e-7, atol=1e-7)  # the reference derivative is a finite difference
    np.testing.assert_allclose(gx, delta @ w.astype(np.float64), **tol)
    np.testing.assert_allclose(gw, delta.T @ x.astype(np.float64), **tol)
    np.testing.assert_allclose(gb, delta.sum(0), **tol)
    gx2, gw2, gb2 = K.linear_backward(g, x, w, z, activation, need_input_grad=False, need_bias_grad=False)
    assert gx2 is None and gb2 is None
    np.testing.assert_array_equal(gw2, gw)


def test_linear_backward_3d_identity(dtype, rng):
    x, w = _rand(rng, (2, 6, 8), dtype), _rand(rng, (5, 8), dtype)
    g = _rand(rng, (2, 6, 5), dtype)
    gx, gw, gb = K.linear_backward(g, x, w)
    g2, x2 = g.reshape(-1, 5).astype(np.float64), x.reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(gx, (g2 @ w).reshape(2, 6, 8), **TOL[dtype])
    np.testing.assert_allclose(gw, g2.T @ x2, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    np.testing.assert_allclose(gb, g2.sum(0), rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    # an empty batch gives zero weight and bias gradients
    gx, gw, gb = K.linear_backward(np.zeros((0, 5), dtype), np.zeros((0, 8), dtype), w)
    assert gx.shape == (0, 8) and not gw.any() and not gb.any()


MV_SIZES = [0, 1, 3, 15, 16, 17, 1000, 4097]


@pytest.mark.parametrize("s", MV_SIZES)
def test_matvec(isa, dtype, s, rng):
    for m, n in {(s, 33), (33, s), (min(s, 1000), min(s, 1000))}:
        w = _rand(rng, (m, n), dtype)
        for trans in (False, True):
            x = _rand(rng, m if trans else n, dtype)
            y0 = _rand(rng, n if trans else m, dtype)
            wt = w.T if trans else w
            _check_product(K.matvec(w, x, trans=trans)[:, None], wt, x[:, None], False, False, dtype)
            y = y0.copy()
            assert K.matvec(w, x, y, alpha=2.0, beta=-0.5, trans=trans) is y
            _check_product(y[:, None], wt, x[:, None], False, False, dtype, 2.0, -0.5, y0[:, None])


@pytest.mark.parametrize("s", MV_SIZES)
def test_outer_acc(isa, dtype, s, rng):
    for m, n in {(s, 17), (17, s), (min(s, 1000), min(s, 1000))}:
        g, d, a = _rand(rng, (m, n), dtype), _rand(rng, m, dtype), _rand(rng, n, dtype)
        expected = g.astype(np.float64) + 0.75 * np.outer(d.astype(np.float64), a)
        assert K.outer_acc(g, d, a, alpha=0.75) is g
        np.testing.assert_allclose(g, expected, **TOL[dtype])


def test_threads_bitwise_identical(isa, dtype, threads, rng):
    a, b = _rand(rng, (203, 530), dtype), _rand(rng, (530, 610), dtype)
    small_a, small_b = _rand(rng, (20, 300), dtype), _rand(rng, (300, 777), dtype)
    w, bias = _rand(rng, (130, 530), dtype), _rand(rng, 130, dtype)
    g = _rand(rng, (203, 130), dtype)
    vec = _rand(rng, 2000, dtype)
    mat = _rand(rng, (2000, 700), dtype)
    # ViT-Tiny token products (197 = 32 x 6 + 5 rows): the team shares packed B
    tok, tok_w, tok_w2 = _rand(rng, (197, 192), dtype), _rand(rng, (576, 192), dtype), _rand(rng, (192, 576), dtype)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append((
            K.gemm(a, b), K.gemm(b, a, trans_a=True, trans_b=True), K.gemm(small_a, small_b),
            K.gemm(small_a, small_b.T.copy(), trans_b=True),
            K.matmul(np.stack([a[:, :40]] * 5), b[:40]),
            K.gemm(a, b[:, :70]),  # a 64-wide tile and a narrow remainder
            K.linear_forward(a, w[:10], bias[:10], "relu"),  # narrow: a classifier head
            *K.linear_forward(a, w, bias, "gelu", return_preact=True),
            *K.linear_backward(g, a, w, a @ w.T, "tanh")[:2],
            K.matvec(mat, vec[:700]), K.matvec(mat, vec, trans=True),
            K.linear_forward(tok, tok_w, tok_w[:, 0], "gelu"),
            K.linear_forward(K.linear_forward(tok, tok_w), tok_w2, tok_w2[:, 0]),  # K = 576: 3 blocks
            K.outer_acc(mat.copy(), vec, vec[:700]),
            # K = 1 (one example's weight gradient): rows over the threads
            K.gemm(vec[:, None], vec[None, :700]), K.gemm(vec[None, :], vec[None, :700], trans_a=True),
            K.linear_backward(vec[None, :600], vec[None, :300], mat[:600, :300])[1],
        ))
    for other in results[1:]:
        for r0, r1 in zip(results[0], other):
            assert np.array_equal(r0, r1)


def test_concurrent_python_threads(dtype, rng):
    a, b = _rand(rng, (150, 300), dtype), _rand(rng, (300, 200), dtype)
    assert_same_in_threads(lambda: K.gemm(a, b), workers=4)


def test_bad_input():
    f32, f64 = np.ones((3, 4), np.float32), np.ones((4, 2), np.float64)
    with pytest.raises(TypeError, match="b has dtype float64 but a has dtype float32"):
        K.gemm(f32, f64)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        K.gemm(f32, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="a must have at least 2 dimensions"):
        K.matmul(np.ones(3, np.float32), f32)
    with pytest.raises(TypeError, match="a must have dtype float32 or float64, got int64"):
        K.gemm(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="beta=1.0 needs c"):
        K.gemm(f32, f32.T, beta=1.0)
    with pytest.raises(ValueError, match=r"c must have shape \(3, 3\)"):
        K.gemm(f32, f32.T, np.ones((3, 4), np.float32), beta=1.0)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 3\), got \(3, 4\)"):
        K.gemm(f32, f32.T, out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="batch sizes differ"):
        K.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 2)))
    with pytest.raises(ValueError, match="alpha must be finite"):
        K.gemm(f32, f32.T, alpha=float("inf"))
    with pytest.raises(ValueError, match="activation must be one of"):
        K.linear_forward(f32, f32, activation="swish")
    with pytest.raises(ValueError, match="x has 4 features"):
        K.linear_forward(f32, np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        K.linear_forward(f32, np.ones((2, 4), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="needs preact"):
        K.linear_backward(np.ones((3, 2), np.float32), f32, np.ones((2, 4), np.float32), activation="relu")
    with pytest.raises(ValueError, match="grad_output must have shape"):
        K.linear_backward(np.ones((3, 5), np.float32), f32, np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(4,\)"):
        K.matvec(f32, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="beta=2.0 needs y"):
        K.matvec(f32, np.ones(4, np.float32), beta=2.0)
    with pytest.raises(ValueError, match=r"a must have shape \(4,\)"):
        K.outer_acc(f32, np.ones(3, np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError, match="writable C-contiguous"):
        K.outer_acc(np.ones((4, 6), np.float32)[:, ::2], np.ones(4, np.float32), np.ones(3, np.float32))
