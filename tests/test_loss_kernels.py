"""The fused loss kernels (cross-entropy, BCE on logits) against NumPy in
float64, per ISA path and dtype."""
import numpy as np
import pytest

from neurocore import kernels as K

from conftest import TOL
from _tolerances import TOL_LOSS_KERNEL

# A loss is a difference of O(|z|) terms (lse - z_t): its error scales with
# the logits, not with the loss.
LOSS_TOL = TOL_LOSS_KERNEL

SHAPES = [(0, 5), (1, 1), (3, 2), (5, 17), (64, 100), (40, 1000)]


def ref_log_softmax(z):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return z - lse, lse[:, 0]


def ref_cross_entropy(z, target, eps=0.0, weight=None, ignore_index=-100):
    """(loss per row, lse, grad of sum(loss * g) for g = 1) in float64."""
    m, n = z.shape
    logp, lse = ref_log_softmax(z)
    w = np.ones(n) if weight is None else weight.astype(np.float64)
    if target.dtype.kind == "f":
        q = (1 - eps) * target.astype(np.float64) + eps / n
        wq = w * q
        loss = -(wq * logp).sum(axis=1)
        grad = np.exp(logp) * wq.sum(axis=1, keepdims=True) - wq
        return loss, lse, grad
    keep = target != ignore_index
    t = np.where(keep, target, 0)
    onehot = np.eye(n)[t] if n else np.zeros((m, 0))
    q = (1 - eps) * onehot + eps / n
    wq = q * w
    wq[~keep] = 0
    loss = -(wq * logp).sum(axis=1)
    grad = np.exp(logp) * wq.sum(axis=1, keepdims=True) - wq
    return loss, lse, grad


def ref_bce(x, y, pos_weight=None):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    sp = np.log1p(np.exp(-np.abs(x)))
    sig = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    if pos_weight is None:
        return np.maximum(x, 0) - x * y + sp, sig - y
    c = 1 + (pos_weight.astype(np.float64) - 1) * y
    return (1 - y) * x + c * (sp + np.maximum(-x, 0)), (1 - y) - c * (1 - sig)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weight"])
def test_cross_entropy_class_targets(isa, dtype, shape, eps, weighted, rng):
    m, n = shape
    z = (3 * rng.standard_normal(shape)).astype(dtype)
    target = rng.integers(0, n, size=m)
    if m > 2:
        target[1] = -100  # ignored row
    weight = rng.uniform(0.5, 2.0, n).astype(dtype) if weighted else None
    loss, lse = K.cross_entropy_forward(z, target, label_smoothing=eps, weight=weight)
    ref_loss, ref_lse, ref_grad = ref_cross_entropy(z, target, eps, weight)
    np.testing.assert_allclose(loss, ref_loss, **LOSS_TOL[dtype])
    np.testing.assert_allclose(lse, ref_lse, **LOSS_TOL[dtype])
    g = rng.standard_normal(m).astype(dtype)
    grad = K.cross_entropy_backward(z, target, lse, g, label_smoothing=eps, weight=weight)
    np.testing.assert_allclose(grad, ref_grad * g[:, None].astype(np.float64), **LOSS_TOL[dtype])
    grad = K.cross_entropy_backward(z, target, lse, 0.25, label_smoothing=eps, weight=weight)
    np.testing.assert_allclose(grad, 0.25 * ref_grad, **LOSS_TOL[dtype])
    if m > 2:
        assert loss[1] == 0 and not grad[1].any()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_probability_targets(isa, dtype, shape, eps, rng):
    z = (3 * rng.standard_normal(shape)).astype(dtype)
    q = rng.uniform(size=shape)
    q = (q / np.maximum(q.sum(axis=1, keepdims=True), 1e-300)).astype(dtype)
    weight = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    for w in (None, weight):
        loss, lse = K.cross_entropy_forward(z, q, label_smoothing=eps, weight=w)
        ref_loss, ref_lse, ref_grad = ref_cross_entropy(z, q, eps, w)
        np.testing.assert_allclose(loss, ref_loss, **LOSS_TOL[dtype])
        g = rng.standard_normal(shape[0]).astype(dtype)
        grad = K.cross_entropy_backward(z, q, lse, g, label_smoothing=eps, weight=w)
        np.testing.assert_allclose(grad, ref_grad * g[:, None], **LOSS_TOL[dtype])


def test_cross_entropy_stable_for_huge_logits(isa, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1, -1e4], [-np.inf, 0.0, 1.0]], dtype)
    t = np.array([0, 1, 0])
    loss, lse = K.cross_entropy_forward(z, t)
    ref_loss, ref_lse, ref_grad = ref_cross_entropy(z, t)
    np.testing.assert_allclose(loss, ref_loss, **LOSS_TOL[dtype])
    assert np.isfinite(loss[:2]).all() and loss[2] == np.inf
    grad = K.cross_entropy_backward(z, t, lse)
    # p = exp(z - lse) with lse rounded at |z| = 1e4: float32 keeps ~1e-3 of p
    # (as any framework that saves log-softmax in float32)
    np.testing.assert_allclose(grad, ref_grad, **(dict(rtol=0, atol=2e-3) if dtype == np.float32
                                                  else LOSS_TOL[dtype]))


def test_cross_entropy_nan_propagates(isa, dtype):
    z = np.array([[np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]], dtype)
    loss, lse = K.cross_entropy_forward(z, np.array([1, 2]))
    assert np.isnan(loss[0]) and np.isnan(lse[0]) and np.isfinite(loss[1])


def test_cross_entropy_threads_bitwise(isa, dtype, threads, rng):
    z = rng.standard_normal((257, 300)).astype(dtype)
    t = rng.integers(0, 300, 257)
    runs = []
    for nt in (1, 2, 3):
        threads(nt)
        loss, lse = K.cross_entropy_forward(z, t, label_smoothing=0.1)
        runs.append((loss, lse, K.cross_entropy_backward(z, t, lse, 0.5, label_smoothing=0.1)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("n", [0, 1, 7, 16, 33, 1000, 40000])
def test_bce_with_logits(isa, dtype, n, rng):
    x = (4 * rng.standard_normal(n)).astype(dtype)
    y = rng.uniform(size=n).astype(dtype)
    loss = K.bce_with_logits_forward(x, y)
    ref_loss, ref_grad = ref_bce(x, y)
    np.testing.assert_allclose(loss, ref_loss, **LOSS_TOL[dtype])
    g = rng.standard_normal(n).astype(dtype)
    np.testing.assert_allclose(K.bce_with_logits_backward(x, y, g), ref_grad * g, **LOSS_TOL[dtype])
    np.testing.assert_allclose(K.bce_with_logits_backward(x, y, 0.5), 0.5 * ref_grad, **LOSS_TOL[dtype])


@pytest.mark.parametrize("pw_shape", [(1,), (9,), (1, 9), (6, 1), (6, 9)])
def test_bce_with_logits_pos_weight(isa, dtype, pw_shape, rng):
    x = (4 * rng.standard_normal((6, 9))).astype(dtype)
    y = rng.integers(0, 2, (6, 9)).astype(dtype)
    pw = rng.uniform(0.5, 3.0, pw_shape).astype(dtype)
    loss = K.bce_with_logits_forward(x, y, pos_weight=pw)
    ref_loss, ref_grad = ref_bce(x, y, np.broadcast_to(pw, x.shape))
    np.testing.assert_allclose(loss, ref_loss, **LOSS_TOL[dtype])
    np.testing.assert_allclose(K.bce_with_logits_backward(x, y, pos_weight=pw), ref_grad, **LOSS_TOL[dtype])


def test_bce_with_logits_extremes(isa, dtype):
    # exp(-|x|) far below the rounding of 1 + e: log1p must keep it
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 80.0, 1e4, np.inf, np.nan], dtype)
    y = np.array([0, 0, 1, 0.5, 1, 1, 1, 1, 1], dtype)
    loss = K.bce_with_logits_forward(x, y)
    with np.errstate(invalid="ignore"):
        ref_loss, ref_grad = ref_bce(x, y)
    # (subnormal results such as exp(-100) in float32 keep only absolute accuracy)
    np.testing.assert_allclose(loss[:7], ref_loss[:7], rtol=TOL[dtype]["rtol"] * 10, atol=np.finfo(dtype).tiny)
    assert loss[4] > 0 and np.isnan(loss[7]) and np.isnan(loss[8])
    grad = K.bce_with_logits_backward(x[:7], y[:7])
    np.testing.assert_allclose(grad, ref_grad[:7], **LOSS_TOL[dtype])


def test_noncontiguous_and_out(dtype, rng):
    z = rng.standard_normal((12, 20)).astype(dtype)[::2, ::2]
    t = np.arange(6, dtype=np.int32)
    out, lse_out = np.empty(6, dtype), np.empty(6, dtype)
    loss, lse = K.cross_entropy_forward(z, t, out=out, lse_out=lse_out)
    assert loss is out and lse is lse_out
    np.testing.assert_allclose(loss, ref_cross_entropy(z, t)[0], **LOSS_TOL[dtype])
    x = rng.standard_normal((5, 8)).astype(dtype).T
    y = np.zeros_like(x)
    np.testing.assert_allclose(K.bce_with_logits_forward(x, y), ref_bce(x, y)[0], **LOSS_TOL[dtype])


def test_bad_input():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"outside \[0, 4\): \[-1, 4\]"):
        K.cross_entropy_forward(z, np.array([0, 4, -1]))
    with pytest.raises(ValueError, match="target must have shape"):
        K.cross_entropy_forward(z, np.array([0, 1]))
    with pytest.raises(TypeError, match="target has dtype float32 but logits has dtype float64"):
        K.cross_entropy_forward(z, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="label_smoothing"):
        K.cross_entropy_forward(z, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight must have shape"):
        K.cross_entropy_forward(z, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="logits must be 2-D"):
        K.cross_entropy_forward(np.zeros(4), np.array([0]))
    with pytest.raises(TypeError, match="integer dtype"):
        K.cross_entropy_forward(z, np.array([0, 1, 2], dtype=object))
    with pytest.raises(ValueError, match="grad_loss must have shape"):
        K.cross_entropy_backward(z, np.array([0, 1, 2]), np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match="y must have the shape of x"):
        K.bce_with_logits_forward(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        K.bce_with_logits_forward(np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="pos_weight"):
        K.bce_with_logits_forward(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(4))


def test_bce_with_logits_threads_bitwise(isa, dtype, threads, rng):
    x = (3 * rng.standard_normal((300, 257))).astype(dtype)
    y = rng.uniform(size=x.shape).astype(dtype)
    pw = rng.uniform(0.5, 2, 257).astype(dtype)
    runs = []
    for nt in (1, 2, 3):
        threads(nt)
        runs.append((K.bce_with_logits_forward(x, y), K.bce_with_logits_forward(x, y, pos_weight=pw),
                     K.bce_with_logits_backward(x, y, 0.5, pos_weight=pw)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)
