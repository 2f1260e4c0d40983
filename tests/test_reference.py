"""The plain reference GEMM and attention of csrc/kernels/reference.inc
(neurocore._kernels._reference_*): first against NumPy, then as the oracle
for every ISA path of the blocked GEMM and the fused attention kernels.

The generic path of GEMM and attention is blocked and tiled like the SIMD
paths, so the ISA-against-generic checks cannot catch a blocking error that
all paths share; these loops, one output element at a time with sums in
double, can."""
import itertools

import numpy as np
import pytest

from neurocore import _kernels
from neurocore import kernels as K

from _tolerances import TOL, TOL_ATTENTION, TOL_DOT
from test_attention import MASKS, make_mask, operands, reference, reference_backward


def _op(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def _assert_product(got, want, a, b, ta, tb, dtype, alpha=1.0, beta=0.0, c=None):
    """got == want within TOL_DOT, atol per unit of |alpha| |op(a)| |op(b)| + |beta c|."""
    mag = abs(alpha) * (np.abs(_op(a, ta).astype(np.float64)) @ np.abs(_op(b, tb).astype(np.float64)))
    if c is not None:
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    tol = TOL_DOT[dtype]
    assert got.shape == want.shape and got.dtype == dtype
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert np.all(err <= tol["atol"] * mag + tol["rtol"] * np.abs(want.astype(np.float64))), err.max()


SHAPES = [(0, 5, 3), (4, 5, 0), (1, 1, 1), (1, 37, 19), (23, 1, 40), (5, 7, 9), (31, 65, 17),
          (37, 130, 300), (70, 33, 520)]


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_reference_gemm_matches_numpy(dtype, m, n, k, rng):
    for ta, tb in itertools.product([False, True], repeat=2):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        want = (-0.5 * (_op(a, ta).astype(np.float64) @ _op(b, tb).astype(np.float64))
                + 1.5 * c.astype(np.float64))
        got = _kernels._reference_gemm(a, b, c, alpha=-0.5, beta=1.5, trans_a=ta, trans_b=tb)
        _assert_product(got, want, a, b, ta, tb, dtype, -0.5, 1.5, c)


def test_reference_gemm_batches_broadcast_and_beta_zero(dtype, rng):
    a = rng.standard_normal((3, 6, 5)).astype(dtype)
    b = rng.standard_normal((5, 4)).astype(dtype)         # one matrix for every product
    c = np.full((3, 6, 4), np.nan, dtype)                 # beta == 0 ignores c, NaN included
    got = _kernels._reference_gemm(a, b, c, alpha=2.0, beta=0.0)
    want = 2.0 * (a.astype(np.float64) @ b.astype(np.float64))
    np.testing.assert_allclose(got, want, **TOL[dtype])
    bt = rng.standard_normal((3, 4, 5)).astype(dtype)
    got = _kernels._reference_gemm(a, bt, trans_b=True)
    np.testing.assert_allclose(got, a.astype(np.float64) @ np.swapaxes(bt, 1, 2).astype(np.float64),
                               **TOL[dtype])


def test_reference_gemm_hostile_inputs_and_bad_input(rng):
    a = rng.standard_normal((7, 5))
    b = rng.standard_normal((5, 3))
    want = _kernels._reference_gemm(a, b)
    # byte-swapped, non-contiguous and read-only inputs give the same numbers
    swapped = a.astype(a.dtype.newbyteorder())
    strided = np.repeat(b, 2, axis=1)[:, ::2]
    readonly = a.copy()
    readonly.flags.writeable = False
    for x, y in ((swapped, b), (a, strided), (readonly, b)):
        assert np.array_equal(_kernels._reference_gemm(x, y), want)
    with pytest.raises(TypeError, match="b has dtype float32"):
        _kernels._reference_gemm(a, b.astype(np.float32))
    with pytest.raises(TypeError, match="dtype float32 or float64"):
        _kernels._reference_gemm(a.astype(np.int64), b)
    with pytest.raises(ValueError, match="inner sizes differ"):
        _kernels._reference_gemm(a, b.T)
    with pytest.raises(ValueError, match="must have shape"):
        _kernels._reference_gemm(a, b, np.zeros((3, 7)), beta=1.0)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        _kernels._reference_gemm(a[0], b)
    with pytest.raises(ValueError, match="alpha must be finite"):
        _kernels._reference_gemm(a, b, alpha=np.nan)


@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_matches_reference(isa, dtype, m, n, k, rng):
    for ta, tb in itertools.product([False, True], repeat=2):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        got = K.gemm(a, b, c, alpha=0.75, beta=-1.0, trans_a=ta, trans_b=tb)
        want = _kernels._reference_gemm(a, b, c, alpha=0.75, beta=-1.0, trans_a=ta, trans_b=tb)
        _assert_product(got, want, a, b, ta, tb, dtype, 0.75, -1.0, c)


def test_gemm_batched_matches_reference(isa, dtype, rng):
    for batch_b in (True, False):
        a = rng.standard_normal((4, 33, 70)).astype(dtype)
        b = rng.standard_normal((4, 65, 70) if batch_b else (65, 70)).astype(dtype)
        c = rng.standard_normal((4, 33, 65)).astype(dtype)
        got = K.gemm(a, b, c, beta=0.5, trans_b=True)
        want = _kernels._reference_gemm(a, b, c, beta=0.5, trans_b=True)
        _assert_product(got, want, a, b, False, True, dtype, 1.0, 0.5, c)


# (B, H, N, M, D, DV): the ViT-Tiny head, N != M both ways, several key
# chunks of the online softmax with wide features, partial tiles
ATTENTION_SHAPES = [(1, 3, 197, 197, 64, 64), (2, 2, 5, 70, 7, 9), (1, 1, 1, 1, 1, 1),
                    (2, 1, 100, 3, 17, 5), (1, 2, 37, 600, 150, 20)]


def _attention_case(shape, kind, dtype, rng):
    """(q, k, v), the mask and causal keywords, and grad_out for one case."""
    qkv = operands(shape, dtype, rng)
    opts = dict(mask=make_mask(kind, shape[:4], dtype, rng), is_causal=kind == "causal")
    B, H, N, _, _, DV = shape
    return qkv, opts, rng.standard_normal((B, H, N, DV)).astype(dtype)


@pytest.mark.parametrize("kind", ["none", "causal", "float", "bool_broadcast"])
def test_reference_attention_matches_numpy(dtype, kind, rng):
    qkv, opts, g = _attention_case((2, 2, 9, 13, 5, 6), kind, dtype, rng)
    got = _kernels._reference_attention_forward(*qkv, scale=0.4, **opts)
    got += _kernels._reference_attention_backward(g, *qkv, scale=0.4, **opts)
    mask, causal = opts["mask"], opts["is_causal"]
    want = reference(*qkv, mask, causal, 0.4)[:2] + reference_backward(g, *qkv, mask, causal, 0.4)
    for x, w in zip(got, want):
        assert x.dtype == dtype
        np.testing.assert_allclose(x, w, **TOL[dtype])


def test_reference_attention_fully_masked_row(rng):
    q, k, v = operands((1, 1, 3, 4, 2, 2), np.float64, rng)
    mask = np.zeros((3, 4))
    mask[1] = -np.inf
    out, lse = _kernels._reference_attention_forward(q, k, v, mask=mask)
    kernel_out, kernel_lse = K.attention_forward(q, k, v, mask=mask)
    assert np.all(np.isnan(out[0, 0, 1])) and lse[0, 0, 1] == -np.inf
    np.testing.assert_array_equal(np.isnan(out), np.isnan(kernel_out))
    np.testing.assert_array_equal(lse[0, 0, 1], kernel_lse[0, 0, 1])


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("shape", ATTENTION_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_matches_reference(isa, dtype, shape, kind, rng):
    qkv, opts, g = _attention_case(shape, kind, dtype, rng)
    out, lse = K.attention_forward(*qkv, **opts)
    got = (out, lse) + K.attention_backward(g, *qkv, out, lse, **opts)
    want = (_kernels._reference_attention_forward(*qkv, **opts)
            + _kernels._reference_attention_backward(g, *qkv, **opts))
    for x, w in zip(got, want):
        assert x.dtype == dtype
        np.testing.assert_allclose(x, w, **TOL_ATTENTION[dtype])


def test_reference_attention_bad_input(rng):
    q, k, v = operands((1, 1, 3, 4, 2, 2), np.float64, rng)
    with pytest.raises(TypeError, match="k has dtype float32"):
        _kernels._reference_attention_forward(q, k.astype(np.float32), v)
    with pytest.raises(ValueError, match="same number of tokens"):
        _kernels._reference_attention_forward(q, k, v[:, :, :3])
    with pytest.raises(ValueError, match="grad_out must have shape"):
        _kernels._reference_attention_backward(q[:, :, :2], q, k, v)
