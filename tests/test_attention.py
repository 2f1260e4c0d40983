"""Fused attention kernels against the unfused NumPy program (seed 000
section 4.4, equation 4.5), per ISA path and dtype, and their gradients
against float64 central finite differences."""

import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL, assert_same_in_threads
from _tolerances import FD, FD_HVP

# (B, H, N, M, D, DV): the ViT-Tiny head, N != M both ways, N = 1, feature
# sizes off the vector width, sizes that leave partial row and key tiles.
SHAPES = [
    (1, 3, 197, 197, 64, 64),
    (2, 2, 5, 70, 7, 9),
    (1, 1, 1, 1, 1, 1),
    (1, 2, 1, 33, 16, 16),
    (2, 1, 100, 3, 17, 5),
    (1, 1, 40, 129, 65, 130),
]
MASKS = ["none", "causal", "float", "bool", "bool_broadcast", "float_row_broadcast"]


def reference(q, k, v, mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v in float64, the N x M matrix and all."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if is_causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - m)
    l_ = p.sum(-1, keepdims=True)
    p = p / l_
    return p @ v, (m + np.log(l_))[..., 0], p, scale


def reference_backward(g, q, k, v, mask=None, is_causal=False, scale=None):
    out, _, p, scale = reference(q, k, v, mask, is_causal, scale)
    g, q, k, v = (a.astype(np.float64) for a in (g, q, k, v))
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, dv


def make_mask(kind, shape, dtype, rng):
    B, H, N, M = shape
    if kind in ("none", "causal"):
        return None
    if kind == "float":
        return rng.standard_normal((B, H, N, M)).astype(dtype)
    if kind == "float_row_broadcast":
        return rng.standard_normal((M,)).astype(dtype)  # broadcast over b, h and rows
    if kind == "bool":
        mask = rng.random((B, H, N, M)) > 0.4
    else:
        mask = rng.random((B, 1, 1, M)) > 0.4  # broadcast over heads and rows
    mask[..., 0] = True  # every row keeps a key (an all-masked row is NaN)
    return mask


def operands(shape, dtype, rng):
    B, H, N, M, D, DV = shape
    return (rng.standard_normal((B, H, N, D)).astype(dtype),
            rng.standard_normal((B, H, M, D)).astype(dtype),
            rng.standard_normal((B, H, M, DV)).astype(dtype))


def tol(dtype):
    return dict(rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 100)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_matches_numpy(isa, dtype, shape, kind, rng):
    q, k, v = operands(shape, dtype, rng)
    mask = make_mask(kind, shape[:4], dtype, rng)
    causal = kind == "causal"
    out, lse = K.attention_forward(q, k, v, mask=mask, is_causal=causal)
    ref_out, ref_lse, _, _ = reference(q, k, v, mask, causal)
    assert out.dtype == dtype and lse.dtype == dtype
    np.testing.assert_allclose(out, ref_out, **tol(dtype))
    np.testing.assert_allclose(lse, ref_lse, **tol(dtype))


@pytest.mark.parametrize("kind", ["none", "causal", "float", "bool_broadcast"])
def test_forward_many_key_chunks_and_wide_features(isa, dtype, kind, rng):
    # M > 256 keys: several chunks of the online softmax (rescaled by
    # exp(m_old - m_new)); D > 128: the scores accumulate over feature chunks
    shape = (1, 2, 37, 600, 150, 20)
    q, k, v = operands(shape, dtype, rng)
    mask = make_mask(kind, shape[:4], dtype, rng)
    causal = kind == "causal"
    out, lse = K.attention_forward(q, k, v, mask=mask, is_causal=causal, scale=0.05)
    ref_out, ref_lse, _, _ = reference(q, k, v, mask, causal, 0.05)
    np.testing.assert_allclose(out, ref_out, **tol(dtype))
    np.testing.assert_allclose(lse, ref_lse, **tol(dtype))


def test_without_workspace_same_bits(isa, dtype, rng):
    # the stack-only path (keys transposed per tile pair, in feature chunks
    # when D > 64) computes the same FMA chains as the workspace path
    for shape, causal in (((2, 2, 70, 90, 80, 70), True), ((1, 3, 33, 129, 16, 8), False)):
        q, k, v = operands(shape, dtype, rng)
        out, lse = K.attention_forward(q, k, v, is_causal=causal)
        out2, lse2 = K.attention_forward(q, k, v, is_causal=causal, workspace=False)
        assert np.array_equal(out, out2) and np.array_equal(lse, lse2)
        g = rng.standard_normal(out.shape).astype(dtype)
        for a, b in zip(K.attention_backward(g, q, k, v, out, lse, is_causal=causal),
                        K.attention_backward(g, q, k, v, out, lse, is_causal=causal, workspace=False)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("shape", SHAPES[1:], ids=lambda s: "x".join(map(str, s)))
def test_backward_matches_numpy(isa, dtype, shape, kind, rng):
    q, k, v = operands(shape, dtype, rng)
    mask = make_mask(kind, shape[:4], dtype, rng)
    causal = kind == "causal"
    out, lse = K.attention_forward(q, k, v, mask=mask, is_causal=causal, scale=0.3)
    g = rng.standard_normal(out.shape).astype(dtype)
    grads = K.attention_backward(g, q, k, v, out, lse, mask=mask, is_causal=causal, scale=0.3)
    for got, want in zip(grads, reference_backward(g, q, k, v, mask, causal, 0.3)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol(dtype)["rtol"] * 10, atol=tol(dtype)["atol"] * 10)


@pytest.mark.parametrize("kind", ["none", "causal", "float"])
def test_gradients_by_finite_differences(kind, rng):
    shape = (1, 2, 6, 5, 3, 4)
    q, k, v = operands(shape, np.float64, rng)
    mask = make_mask(kind, shape[:4], np.float64, rng)
    causal = kind == "causal"
    g = rng.standard_normal((1, 2, 6, 4))
    out, lse = K.attention_forward(q, k, v, mask=mask, is_causal=causal)
    grads = K.attention_backward(g, q, k, v, out, lse, mask=mask, is_causal=causal)

    def f(q_, k_, v_):
        return float((K.attention_forward(q_, k_, v_, mask=mask, is_causal=causal)[0] * g).sum())

    eps = 1e-6
    for which, grad in enumerate(grads):
        args = [q, k, v]
        x = args[which]
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus, minus = x.copy(), x.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p, args_m = list(args), list(args)
            args_p[which], args_m[which] = plus, minus
            numeric[idx] = (f(*args_p) - f(*args_m)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, **FD)


def test_strided_views_and_out(dtype, rng):
    # the q, k, v slices of one fused (B, N, 3, H, d) projection, used in place,
    # and an output written through a transposed (B, N, H, d) buffer
    B, N, H, d = 2, 37, 3, 8
    qkv = rng.standard_normal((B, N, 3, H, d)).astype(dtype)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    buf = np.empty((B, N, H, d), dtype)
    out, lse = K.attention_forward(q, k, v, out=buf.transpose(0, 2, 1, 3))
    assert np.shares_memory(out, buf)
    ref_out, ref_lse, _, _ = reference(q, k, v)
    np.testing.assert_allclose(buf.transpose(0, 2, 1, 3), ref_out, **tol(dtype))
    g = rng.standard_normal(out.shape).astype(dtype)
    gbuf = np.empty_like(qkv)
    gq, gk, gv = (gbuf[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    K.attention_backward(g, q, k, v, out, lse, grad_q=gq, grad_k=gk, grad_v=gv)
    for got, want in zip((gq, gk, gv), reference_backward(g, q, k, v)):
        np.testing.assert_allclose(got, want, rtol=tol(dtype)["rtol"] * 10, atol=tol(dtype)["atol"] * 10)
    # negative strides and a non-contiguous last axis are handled too
    qf = np.ascontiguousarray(q[:, ::-1])[:, ::-1]
    np.testing.assert_allclose(K.attention_forward(qf, k[..., ::1], v)[0], ref_out, **tol(dtype))
    wide = np.repeat(q, 2, axis=-1)[..., ::2]
    np.testing.assert_allclose(K.attention_forward(wide, k, v)[0], ref_out, **tol(dtype))


def test_fully_masked_row_is_nan_and_empty_inputs(dtype, rng):
    q, k, v = operands((1, 1, 3, 4, 2, 2), dtype, rng)
    mask = np.ones((3, 4), bool)
    mask[1] = False
    out, lse = K.attention_forward(q, k, v, mask=mask)
    assert np.isnan(out[0, 0, 1]).all() and np.isfinite(out[0, 0, [0, 2]]).all()
    assert lse[0, 0, 1] == -np.inf
    # no keys: an empty P V is zero (as PyTorch's unfused program)
    out, lse = K.attention_forward(q, k[:, :, :0], v[:, :, :0])
    np.testing.assert_array_equal(out, 0)
    assert (lse == -np.inf).all()
    out, lse = K.attention_forward(q[:, :, :0], k, v)
    assert out.shape == (1, 1, 0, 2) and lse.shape == (1, 1, 0)
    grads = K.attention_backward(out, q[:, :, :0], k, v, out, lse)
    np.testing.assert_array_equal(grads[1], 0)
    # no features: every score is 0, the softmax uniform, the output the mean of v
    out, _ = K.attention_forward(q[..., :0], k[..., :0], v)
    np.testing.assert_allclose(out, np.broadcast_to(v.mean(2, keepdims=True), out.shape), rtol=1e-6)
    out, lse = K.attention_forward(q, k, v[..., :0])
    assert out.shape == (1, 1, 3, 0)
    np.testing.assert_allclose(lse, reference(q, k, v)[1], rtol=1e-5)


def test_nan_inf_propagate(dtype, rng):
    q, k, v = operands((1, 1, 4, 70, 3, 2), dtype, rng)
    k[0, 0, 65, 1] = np.nan
    v[0, 0, 3, 0] = np.inf
    with np.errstate(all="ignore"):
        out, _ = K.attention_forward(q, k, v)
    # a NaN score reaches every row's sum, so every output is NaN
    assert np.isnan(out).all()
    k[0, 0, 65, 1] = 0
    with np.errstate(all="ignore"):
        out, _ = K.attention_forward(q, k, v)
    assert np.isinf(out[..., 0]).all() and np.isfinite(out[..., 1]).all()


@pytest.mark.parametrize("shape,kind", [((2, 3, 150, 150, 32, 32), "causal"),
                                        ((1, 1, 150, 170, 32, 24), "causal"),
                                        ((1, 1, 170, 150, 24, 32), "float"),
                                        ((1, 2, 150, 300, 24, 40), "none"),
                                        ((1, 1, 300, 520, 16, 16), "causal")])
def test_threads_bitwise_identical(isa, dtype, threads, rng, shape, kind):
    # (1, 1, ...) takes the one-pass backward on one thread and the two-pass
    # one on two or three: both must give the same bits
    q, k, v = operands(shape, dtype, rng)
    mask = make_mask(kind, shape[:4], dtype, rng)
    g = rng.standard_normal(shape[:3] + shape[-1:]).astype(dtype)
    results = []
    for n in (1, 2, 3):
        threads(n)
        out, lse = K.attention_forward(q, k, v, mask=mask, is_causal=kind == "causal")
        results.append((out, lse) + K.attention_backward(g, q, k, v, out, lse, mask=mask,
                                                         is_causal=kind == "causal"))
    for other in results[1:]:
        for r0, r1 in zip(results[0], other):
            assert np.array_equal(r0, r1)


def test_concurrent_python_threads(rng):
    q, k, v = operands((1, 3, 120, 120, 16, 16), np.float32, rng)
    assert_same_in_threads(lambda: K.attention_forward(q, k, v)[0], workers=4, rounds=5)


def test_bad_input_is_rejected(rng):
    q, k, v = operands((1, 2, 5, 6, 4, 3), np.float32, rng)
    with pytest.raises(ValueError, match="does not broadcast"):
        K.attention_forward(q, k, v, mask=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        K.attention_forward(q, k, v, mask=np.ones((1, 1, 1, 5, 6), bool))
    with pytest.raises(TypeError, match="float64"):
        K.attention_forward(q, k.astype(np.float64), v)
    with pytest.raises(TypeError, match="attn_mask"):
        K.attention_forward(q, k, v, mask=np.ones((5, 6), np.float64))
    with pytest.raises(TypeError, match="attn_mask"):
        K.attention_forward(q, k, v, mask=np.ones((5, 6), np.int32))
    with pytest.raises(ValueError, match="4-D"):
        K.attention_forward(q[0], k, v)
    with pytest.raises(ValueError, match="feature size"):
        K.attention_forward(q, k[..., :3], v)
    with pytest.raises(ValueError, match="tokens"):
        K.attention_forward(q, k, v[:, :, :5])
    with pytest.raises(ValueError, match="share"):
        K.attention_forward(q, k[:, :1], v[:, :1])
    with pytest.raises(ValueError, match="scale"):
        K.attention_forward(q, k, v, scale=np.nan)
    with pytest.raises(ValueError, match="out"):
        K.attention_forward(q, k, v, out=np.empty((1, 2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="overlaps q"):
        K.attention_forward(q, k, v[..., :3], out=q[..., :3])
    out, lse = K.attention_forward(q, k, v)
    with pytest.raises(ValueError, match="grad_k overlaps k"):
        K.attention_backward(out, q, k, v, out, lse, grad_k=k)
    with pytest.raises(ValueError, match="lse"):
        K.attention_backward(out, q, k, v, out, lse[..., :2])
    with pytest.raises(ValueError, match="grad_out"):
        K.attention_backward(out[..., :2], q, k, v, out, lse)


# ---- nc.functional.scaled_dot_product_attention (autograd) ----------------

import neurocore as nc  # noqa: E402
from neurocore import functional as F  # noqa: E402


@pytest.mark.parametrize("kind", ["none", "causal", "float", "bool"])
def test_functional_gradcheck(kind, rng):
    shape = (2, 1, 5, 4, 3, 2)
    q, k, v = (nc.tensor(a, requires_grad=True) for a in operands(shape, np.float64, rng))
    mask = make_mask(kind, shape[:4], np.float64, rng)
    fn = lambda q_, k_, v_: F.scaled_dot_product_attention(  # noqa: E731
        q_, k_, v_, attn_mask=mask, is_causal=kind == "causal")
    assert nc.autograd.gradcheck(fn, (q, k, v), atol=1e-7, rtol=1e-6)


def test_functional_matches_numpy_any_leading_dims(dtype, rng):
    # 3 leading dims fold into the kernel's (B, H) with the mask spelt out
    q = rng.standard_normal((2, 3, 2, 7, 4)).astype(dtype)
    k = rng.standard_normal((2, 3, 2, 9, 4)).astype(dtype)
    v = rng.standard_normal((2, 3, 2, 9, 5)).astype(dtype)
    mask = rng.random((3, 1, 7, 9)) > 0.3
    mask[..., 0] = True
    out = F.scaled_dot_product_attention(nc.tensor(q), nc.tensor(k), nc.tensor(v), attn_mask=mask)
    want = reference(q, k, v, np.broadcast_to(mask, (2, 3, 2, 7, 9)))[0]
    np.testing.assert_allclose(out.numpy(), want, **tol(dtype))
    # 2-D inputs (no batch)
    out = F.scaled_dot_product_attention(nc.tensor(q[0, 0, 0]), nc.tensor(k[0, 0, 0]), nc.tensor(v[0, 0, 0]),
                                         scale=0.5)
    np.testing.assert_allclose(out.numpy(), reference(q[0, 0, 0], k[0, 0, 0], v[0, 0, 0], scale=0.5)[0],
                               **tol(dtype))


def test_functional_double_backward(rng):
    # create_graph records the backward (the composite path): the gradient of
    # <grad_q, u> against finite differences of grad_q
    q, k, v = operands((1, 2, 4, 3, 2, 2), np.float64, rng)
    u = rng.standard_normal(q.shape)

    def grad_q(q_):
        qt, kt, vt = nc.tensor(q_, requires_grad=True), nc.tensor(k, requires_grad=True), nc.tensor(v)
        out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
        (gq,) = nc.grad([(out * out).sum()], [qt], create_graph=True)
        return qt, kt, gq

    qt, kt, gq = grad_q(q)
    hvp_q, hvp_k = nc.grad([(gq * nc.tensor(u)).sum()], [qt, kt])
    eps = 1e-5
    numeric = np.zeros_like(q)
    for idx in np.ndindex(q.shape):
        p, m = q.copy(), q.copy()
        p[idx] += eps
        m[idx] -= eps
        numeric[idx] = ((grad_q(p)[2].numpy() - grad_q(m)[2].numpy()) * u).sum() / (2 * eps)
    np.testing.assert_allclose(hvp_q.numpy(), numeric, **FD_HVP)
    assert hvp_k is not None and np.isfinite(hvp_k.numpy()).all()


def test_functional_bad_input(rng):
    q, k, v = (nc.tensor(a) for a in operands((1, 2, 5, 6, 4, 3), np.float32, rng))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(5, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5, 6), bool), is_causal=True)
    with pytest.raises(TypeError, match="float64"):
        F.scaled_dot_product_attention(q, nc.tensor(k.numpy().astype(np.float64)), v)
    with pytest.raises(ValueError, match="leading"):
        F.scaled_dot_product_attention(q, k[:, :1], v[:, :1])
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(TypeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.zeros((5, 6), np.float64))


def test_functional_dropout_path(rng):
    q, k, v = (nc.tensor(a, requires_grad=True) for a in operands((1, 1, 6, 6, 4, 4), np.float64, rng))
    nc.manual_seed(0)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    out.sum().backward()
    assert out.shape == (1, 1, 6, 4) and q.grad is not None
