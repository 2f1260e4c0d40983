"""Every loss of nc.functional against a NumPy reference (each reduction),
gradients by gradcheck (float64), second derivatives of the fused losses
against finite differences of their gradients, and bad input."""
import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F

from conftest import TOL
from _tolerances import FD_HVP, TOL_LOSS

REDUCTIONS = ["mean", "sum", "none"]


def reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def t64(a, grad=True):
    return nc.tensor(np.asarray(a, np.float64), requires_grad=grad)


def check(got, want, dtype=np.float64):
    tol = TOL_LOSS[dtype]
    np.testing.assert_allclose(np.asarray(got.data), want, **tol)


def second_order(fn, x, rng, h=1e-5):
    """The Hessian-vector product by a create_graph=True double backward,
    against central differences of the gradient."""
    v = rng.standard_normal(x.shape)
    (g,) = nc.grad(fn(x), [x], create_graph=True)
    gv = (g * nc.tensor(v)).sum()
    # a gradient that no longer depends on x (l1: sign(e)) has a zero Hessian
    hv = nc.grad(gv, [x], allow_unused=True)[0] if gv.requires_grad else None
    hv = np.zeros(x.shape) if hv is None else hv.data

    def gradient(at):
        y = t64(at)
        (gy,) = nc.grad(fn(y), [y])
        return gy.data

    numeric = (gradient(x.data + h * v) - gradient(x.data - h * v)) / (2 * h)
    np.testing.assert_allclose(hv, numeric, **FD_HVP)


@pytest.fixture
def xy(rng):
    return rng.standard_normal((4, 5)), rng.standard_normal((4, 5))


# ---- regression losses ----------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_regression_losses(xy, reduction, dtype):
    x, y = (a.astype(dtype) for a in xy)
    e = x.astype(np.float64) - y
    a = np.abs(e)
    refs = [
        (F.mse_loss, {}, e ** 2),
        (F.l1_loss, {}, a),
        (F.huber_loss, {"delta": 0.7}, np.where(a <= 0.7, 0.5 * e ** 2, 0.7 * (a - 0.35))),
        (F.smooth_l1_loss, {"beta": 0.7}, np.where(a < 0.7, 0.5 * e ** 2 / 0.7, a - 0.35)),
        (F.smooth_l1_loss, {"beta": 0.0}, a),
    ]
    for fn, kw, ref in refs:
        check(fn(nc.tensor(x), nc.tensor(y), reduction=reduction, **kw), reduce(ref, reduction), dtype)


def test_regression_gradients(xy, rng):
    x, y = xy
    for fn, kw in [(F.mse_loss, {}), (F.l1_loss, {}), (F.huber_loss, {"delta": 0.7}),
                   (F.smooth_l1_loss, {"beta": 0.5})]:
        assert nc.autograd.gradcheck(lambda a, b: fn(a, b, **kw), (t64(x), t64(y)))
        second_order(lambda a: fn(a, nc.tensor(y), **kw), t64(x), rng)


# ---- binary cross-entropy ------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(rng, reduction):
    p = rng.uniform(0.05, 0.95, (3, 4))
    p[0, 0], p[0, 1] = 0.0, 1.0  # log clamped at -100
    y = rng.uniform(size=(3, 4))
    w = rng.uniform(size=(4,))
    with np.errstate(divide="ignore"):
        ref = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))
    check(F.binary_cross_entropy(nc.tensor(p), nc.tensor(y), reduction=reduction), reduce(ref, reduction))
    check(F.binary_cross_entropy(nc.tensor(p), nc.tensor(y), weight=nc.tensor(w), reduction=reduction),
          reduce(ref * w, reduction))
    x = t64(p)
    F.binary_cross_entropy(x, nc.tensor(y), reduction="sum").backward()
    # PyTorch's gradient: (x - y) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(x.grad.data, (p - y) / np.maximum(p * (1 - p), 1e-12), rtol=1e-12)


def test_binary_cross_entropy_gradients(rng):
    p = rng.uniform(0.1, 0.9, (3, 4))
    y = rng.uniform(size=(3, 4))
    assert nc.autograd.gradcheck(F.binary_cross_entropy, (t64(p), t64(y)))
    second_order(lambda a: F.binary_cross_entropy(a, nc.tensor(y)), t64(p), rng)


def bce_logits_ref(x, y, pw=None):
    c = 1.0 if pw is None else 1 + (pw - 1) * y
    return (1 - y) * x + c * np.logaddexp(0, -x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_bce_with_logits(rng, reduction, dtype):
    x = (3 * rng.standard_normal((5, 3))).astype(dtype)
    y = rng.integers(0, 2, (5, 3)).astype(dtype)
    pw = rng.uniform(0.5, 3, 3).astype(dtype)
    w = rng.uniform(size=(5, 1)).astype(dtype)
    X, Y = nc.tensor(x), nc.tensor(y)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    check(F.binary_cross_entropy_with_logits(X, Y, reduction=reduction),
          reduce(bce_logits_ref(x64, y64), reduction), dtype)
    check(F.binary_cross_entropy_with_logits(X, Y, reduction=reduction, pos_weight=nc.tensor(pw)),
          reduce(bce_logits_ref(x64, y64, pw), reduction), dtype)
    check(F.binary_cross_entropy_with_logits(X, Y, weight=nc.tensor(w), reduction=reduction),
          reduce(w * bce_logits_ref(x64, y64), reduction), dtype)


def test_bce_with_logits_gradients(rng):
    x = 2 * rng.standard_normal((3, 4))
    y = rng.uniform(size=(3, 4))
    pw = rng.uniform(0.5, 3, 4)
    for reduction in REDUCTIONS:
        assert nc.autograd.gradcheck(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), (t64(x), t64(y)))
        assert nc.autograd.gradcheck(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=pw),
            (t64(x), t64(y)))
        second_order(lambda a: F.binary_cross_entropy_with_logits(a, nc.tensor(y), pos_weight=pw).sum()
                     if reduction == "none" else
                     F.binary_cross_entropy_with_logits(a, nc.tensor(y), pos_weight=pw, reduction=reduction),
                     t64(x), rng)


# ---- cross-entropy and NLL -------------------------------------------------------------
def log_softmax(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def ce_ref(z, t, weight=None, eps=0.0, ignore_index=-100, reduction="mean"):
    n, c = z.shape
    logp = log_softmax(z)
    w = np.ones(c) if weight is None else weight
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    nll = -w[tt] * logp[np.arange(n), tt] * keep
    smooth = -(w * logp).sum(axis=1) * keep
    loss = (1 - eps) * nll + eps / c * smooth
    if reduction == "mean":
        return loss.sum() / (w[tt] * keep).sum()
    return reduce(loss, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_class_indices(rng, reduction, eps):
    z = 2 * rng.standard_normal((6, 4))
    t = np.array([0, 3, 1, -100, 2, 3])
    w = rng.uniform(0.5, 2, 4)
    for weight in (None, w):
        got = F.cross_entropy(nc.tensor(z), t, weight=weight, reduction=reduction, label_smoothing=eps)
        check(got, ce_ref(z, t, weight, eps, reduction=reduction))
    t2 = np.array([0, 3, 1, 1, 2, 3])
    assert nc.autograd.gradcheck(
        lambda a: F.cross_entropy(a, t2, weight=w, reduction=reduction, label_smoothing=eps), (t64(z),))
    second_order(lambda a: F.cross_entropy(a, t2, weight=w, label_smoothing=eps).sum(), t64(z), rng)


def test_cross_entropy_layouts_and_probabilities(rng):
    # (N, C, d): the class axis is 1, as PyTorch
    z = rng.standard_normal((2, 3, 4))
    t = rng.integers(0, 3, (2, 4))
    rows = z.transpose(0, 2, 1).reshape(-1, 3)
    check(F.cross_entropy(nc.tensor(z), t, reduction="none"),
          ce_ref(rows, t.reshape(-1), reduction="none").reshape(2, 4))
    check(F.cross_entropy(nc.tensor(z), t), ce_ref(rows, t.reshape(-1)))
    # unbatched (C,) with a scalar target
    check(F.cross_entropy(nc.tensor(z[0, :, 0]), np.array(2)), -log_softmax(z[0, :, 0])[2])
    # class probabilities, with smoothing and weights
    zz = rng.standard_normal((5, 4))
    q = rng.dirichlet(np.ones(4), 5)
    w = rng.uniform(0.5, 2, 4)
    qs = 0.8 * q + 0.2 / 4
    ref = -(w * qs * log_softmax(zz)).sum(axis=1)
    for reduction in REDUCTIONS:
        got = F.cross_entropy(nc.tensor(zz), nc.tensor(q), weight=w, label_smoothing=0.2, reduction=reduction)
        check(got, reduce(ref, reduction))
    assert nc.autograd.gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2, weight=w),
                                 (t64(zz), t64(q)))
    second_order(lambda a: F.cross_entropy(a, nc.tensor(q), label_smoothing=0.2), t64(zz), rng)


def test_cross_entropy_float32_and_stability(rng):
    z = (rng.standard_normal((8, 10)) * 1e3).astype(np.float32)
    t = rng.integers(0, 10, 8)
    x = nc.tensor(z, requires_grad=True)
    loss = F.cross_entropy(x, t)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), ce_ref(z.astype(np.float64), t), rtol=1e-5)
    loss.backward()
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(rng, reduction):
    logp = log_softmax(rng.standard_normal((5, 3)))
    t = np.array([0, 2, -100, 1, 2])
    w = rng.uniform(0.5, 2, 3)
    for weight in (None, w):
        ww = np.ones(3) if weight is None else weight
        keep = t != -100
        tt = np.where(keep, t, 0)
        per = -ww[tt] * logp[np.arange(5), tt] * keep
        ref = per.sum() / (ww[tt] * keep).sum() if reduction == "mean" else reduce(per, reduction)
        check(F.nll_loss(nc.tensor(logp), t, weight=weight, reduction=reduction), ref)
    # cross_entropy = nll_loss(log_softmax)
    z = rng.standard_normal((5, 3))
    check(F.nll_loss(nc.tensor(log_softmax(z)), t, reduction=reduction),
          ce_ref(z, t, reduction=reduction))
    assert nc.autograd.gradcheck(lambda a: F.nll_loss(a, t, weight=w, reduction=reduction), (t64(logp),))


# ---- KL divergence ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(rng, reduction):
    logq = log_softmax(rng.standard_normal((4, 5)))
    p = rng.dirichlet(np.ones(5), 4)
    p[0, 1] = 0.0  # 0 log 0 = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(p > 0, p * (np.log(p) - logq), 0.0)
    ref = pointwise.sum() / 4 if reduction == "batchmean" else reduce(pointwise, reduction)
    check(F.kl_div(nc.tensor(logq), nc.tensor(p), reduction=reduction), ref)
    logp = log_softmax(rng.standard_normal((4, 5)))
    ref2 = np.exp(logp) * (logp - logq)
    ref2 = ref2.sum() / 4 if reduction == "batchmean" else reduce(ref2, reduction)
    check(F.kl_div(nc.tensor(logq), nc.tensor(logp), reduction=reduction, log_target=True), ref2)
    assert nc.autograd.gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True),
                                 (t64(logq), t64(logp)))


# ---- focal, Dice, IoU ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_loss(rng, reduction):
    x = 3 * rng.standard_normal((4, 3))
    y = rng.integers(0, 2, (4, 3)).astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    ce = bce_logits_ref(x, y)
    p_t = p * y + (1 - p) * (1 - y)
    ref = (0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2
    check(F.sigmoid_focal_loss(nc.tensor(x), nc.tensor(y), reduction=reduction), reduce(ref, reduction))
    check(F.sigmoid_focal_loss(nc.tensor(x), nc.tensor(y), alpha=-1, gamma=0.0, reduction=reduction),
          reduce(ce, reduction))
    assert F.sigmoid_focal_loss(nc.tensor(x), nc.tensor(y)).shape == (4, 3)  # torchvision: 'none'
    assert nc.autograd.gradcheck(lambda a: F.sigmoid_focal_loss(a, nc.tensor(y), reduction=reduction), (t64(x),))
    second_order(lambda a: F.sigmoid_focal_loss(a, nc.tensor(y)).sum(), t64(x), rng)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dice_and_iou(rng, reduction):
    p = rng.uniform(size=(3, 2, 4, 4))
    m = (rng.uniform(size=(3, 2, 4, 4)) > 0.5).astype(np.float64)
    inter = (p * m).sum(axis=(1, 2, 3))
    sp, sm = p.sum(axis=(1, 2, 3)), m.sum(axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (sp + sm + 1)
    iou = 1 - (inter + 1) / (sp + sm - inter + 1)
    check(F.dice_loss(nc.tensor(p), nc.tensor(m), reduction=reduction), reduce(dice, reduction))
    check(F.iou_loss(nc.tensor(p), nc.tensor(m), reduction=reduction), reduce(iou, reduction))
    # the seed's definition 1 - 2|A∩B|/(|A|+|B|) on hard masks, smooth = 0
    a = np.array([1.0, 1, 0, 0])
    b = np.array([1.0, 0, 1, 0])
    check(F.dice_loss(nc.tensor(a), nc.tensor(b), smooth=0.0), 1 - 2 * 1 / 4)
    check(F.iou_loss(nc.tensor(a), nc.tensor(b), smooth=0.0), 1 - 1 / 3)
    q = p[:, :, :2, :2].copy()
    mm = m[:, :, :2, :2].copy()
    assert nc.autograd.gradcheck(lambda a: F.dice_loss(a, nc.tensor(mm), reduction=reduction), (t64(q),))
    assert nc.autograd.gradcheck(lambda a: F.iou_loss(a, nc.tensor(mm), reduction=reduction), (t64(q),))


# ---- metric learning -----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_loss(rng, reduction):
    a, p, n = (rng.standard_normal((5, 3)) for _ in range(3))

    def dist(u, v, q):
        return (np.abs(u - v + 1e-6) ** q).sum(axis=-1) ** (1 / q)

    for q in (2.0, 1.0, 3.0):
        ref = np.maximum(dist(a, p, q) - dist(a, n, q) + 1.0, 0)
        got = F.triplet_margin_loss(nc.tensor(a), nc.tensor(p), nc.tensor(n), p=q, reduction=reduction)
        check(got, reduce(ref, reduction))
    d_neg = np.minimum(dist(a, n, 2), dist(p, n, 2))
    ref = np.maximum(dist(a, p, 2) - d_neg + 0.5, 0)
    check(F.triplet_margin_loss(nc.tensor(a), nc.tensor(p), nc.tensor(n), margin=0.5, swap=True,
                                reduction=reduction), reduce(ref, reduction))
    assert nc.autograd.gradcheck(lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=2.0, reduction=reduction),
                                 (t64(a), t64(p), t64(n)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_contrastive_and_cosine_embedding(rng, reduction):
    x1, x2 = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    label = np.array([1.0, 0, 1, 0, 0, 1])
    d = np.sqrt(((x1 - x2 + 1e-6) ** 2).sum(axis=1))
    ref = 0.5 * (label * d ** 2 + (1 - label) * np.maximum(2.0 - d, 0) ** 2)
    check(F.contrastive_loss(nc.tensor(x1), nc.tensor(x2), nc.tensor(label), margin=2.0, reduction=reduction),
          reduce(ref, reduction))
    assert nc.autograd.gradcheck(
        lambda a, b: F.contrastive_loss(a, b, nc.tensor(label), margin=2.0, reduction=reduction),
        (t64(x1), t64(x2)))
    y = np.array([1, -1, 1, -1, -1, 1])
    cos = (x1 * x2).sum(1) / np.sqrt(((x1 ** 2).sum(1) + 1e-12) * ((x2 ** 2).sum(1) + 1e-12))
    ref = np.where(y == 1, 1 - cos, np.maximum(cos - 0.1, 0))
    check(F.cosine_embedding_loss(nc.tensor(x1), nc.tensor(x2), y, margin=0.1, reduction=reduction),
          reduce(ref, reduction))
    assert nc.autograd.gradcheck(
        lambda a, b: F.cosine_embedding_loss(a, b, y, margin=-0.5, reduction=reduction), (t64(x1), t64(x2)))


# ---- image losses ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_total_variation_and_perceptual(rng, reduction):
    img = rng.standard_normal((2, 3, 4, 5))
    tv = np.abs(np.diff(img, axis=2)).sum(axis=(1, 2, 3)) + np.abs(np.diff(img, axis=3)).sum(axis=(1, 2, 3))
    check(F.total_variation_loss(nc.tensor(img), reduction=reduction), reduce(tv, reduction))
    check(F.total_variation_loss(nc.tensor(img[0])), tv[0])
    assert nc.autograd.gradcheck(lambda a: F.total_variation_loss(a, reduction=reduction), (t64(img[:1, :1]),))

    w = rng.standard_normal((5, 2))

    def features(t):  # two "layers": a projection and its square
        h = t @ nc.tensor(w)
        return [h, h * h]

    x, y = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    hx, hy = x @ w, y @ w
    ref = reduce((hx - hy) ** 2, reduction) + 0.5 * reduce((hx ** 2 - hy ** 2) ** 2, reduction)
    got = F.perceptual_loss(nc.tensor(x), nc.tensor(y), features, reduction=reduction, layer_weights=[1.0, 0.5])
    check(got, ref)
    assert nc.autograd.gradcheck(lambda a: F.perceptual_loss(a, nc.tensor(y[:1, :1, :2]), features).sum(),
                                 (t64(x[:1, :1, :2]),))


def test_perceptual_loss_with_module(rng):
    extractor = nc.nn.Linear(4, 3, dtype=np.float64) if hasattr(nc.nn, "Linear") else None
    if extractor is None:
        pytest.fail("nc.nn.Linear is missing")
    x, y = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    W, b = extractor.weight.data, extractor.bias.data
    ref = np.mean(((x @ W.T + b) - (y @ W.T + b)) ** 2)
    check(F.perceptual_loss(nc.tensor(x), nc.tensor(y), extractor), ref)


# ---- bad input -----------------------------------------------------------------------------
def test_bad_input():
    x32 = nc.tensor(np.zeros((2, 3), np.float32))
    x64 = nc.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="input has dtype float32 but target has dtype float64"):
        F.mse_loss(x32, x64)
    with pytest.raises(ValueError, match=r"input and target must have the same shape, got \(2, 3\) and \(3,\)"):
        F.l1_loss(x64, nc.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.huber_loss(x64, x64, reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(x64, x64, reduction="batchmean")
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(x64, x64, delta=0.0)
    with pytest.raises(ValueError, match=r"class indices outside \[0, 3\): \[3, 7\]"):
        F.cross_entropy(x64, np.array([3, 7]))
    with pytest.raises(ValueError, match=r"class indices outside \[0, 3\): \[-1\]"):
        F.nll_loss(x64, np.array([0, -1]))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        F.cross_entropy(x64, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="input has dtype float64 but target has dtype float32"):
        F.cross_entropy(x64, np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="weight has dtype float32 but input has dtype float64"):
        F.cross_entropy(x64, np.array([0, 1]), weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x64, np.array([0, 1]), label_smoothing=-0.1)
    with pytest.raises(TypeError, match="input must have dtype float32 or float64"):
        F.mse_loss(np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(nc.tensor(np.array([0.5, 1.5])), nc.tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(x64, x64, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="target must hold 1 or -1"):
        F.cosine_embedding_loss(x64, x64, np.array([1, 0]))
    with pytest.raises(ValueError, match=r"label must have shape \(2,\)"):
        F.contrastive_loss(x64, x64, np.zeros(3))
    with pytest.raises(TypeError, match="feature_extractor must be callable"):
        F.perceptual_loss(x64, x64, 3)
    with pytest.raises(ValueError, match="images must be"):
        F.total_variation_loss(nc.tensor(np.zeros(3)))


def test_empty_and_nan():
    empty = nc.tensor(np.zeros((0, 3)), requires_grad=True)
    assert F.mse_loss(empty, nc.tensor(np.zeros((0, 3))), reduction="sum").item() == 0
    assert F.cross_entropy(empty, np.zeros(0, np.int64), reduction="sum").item() == 0
    loss = F.binary_cross_entropy_with_logits(nc.tensor(np.array([np.nan, 1.0])), nc.tensor(np.array([1.0, 0.0])),
                                              reduction="none")
    assert np.isnan(loss.data[0]) and np.isfinite(loss.data[1])


# ---- nn loss modules ---------------------------------------------------------------------
def test_loss_modules_match_functional(rng):
    z = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    w = rng.uniform(0.5, 2, 3)
    crit = nc.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum")
    check(crit(nc.tensor(z), t), F.cross_entropy(nc.tensor(z), t, weight=w, label_smoothing=0.1,
                                                 reduction="sum").data)
    assert np.array_equal(crit.state_dict()["weight"], w)
    x, y = rng.standard_normal((4, 3)), rng.uniform(size=(4, 3))
    pairs = [
        (nc.nn.MSELoss(), F.mse_loss(nc.tensor(x), nc.tensor(y))),
        (nc.nn.L1Loss(reduction="none"), F.l1_loss(nc.tensor(x), nc.tensor(y), reduction="none")),
        (nc.nn.HuberLoss(delta=0.5), F.huber_loss(nc.tensor(x), nc.tensor(y), delta=0.5)),
        (nc.nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(nc.tensor(x), nc.tensor(y), beta=0.5)),
        (nc.nn.BCEWithLogitsLoss(pos_weight=w), F.binary_cross_entropy_with_logits(nc.tensor(x), nc.tensor(y),
                                                                                 pos_weight=w)),
        (nc.nn.KLDivLoss(reduction="batchmean"), F.kl_div(nc.tensor(x), nc.tensor(y), reduction="batchmean")),
    ]
    for module, want in pairs:
        check(module(nc.tensor(x), nc.tensor(y)), want.data)
    check(nc.nn.BCELoss()(nc.tensor(y), nc.tensor(y)), F.binary_cross_entropy(nc.tensor(y), nc.tensor(y)).data)
    logp = nc.tensor(np.log(softmax_rows(z)))
    check(nc.nn.NLLLoss()(logp, t), F.nll_loss(logp, t).data)
    a, p, n = (nc.tensor(rng.standard_normal((4, 3))) for _ in range(3))
    check(nc.nn.TripletMarginLoss(margin=0.3)(a, p, n), F.triplet_margin_loss(a, p, n, margin=0.3).data)
    check(nc.nn.CosineEmbeddingLoss(0.2)(a, p, np.array([1, -1, 1, -1])),
          F.cosine_embedding_loss(a, p, np.array([1, -1, 1, -1]), margin=0.2).data)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nc.nn.MSELoss(reduction="batchmean")


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_every_loss_keeps_float32(rng):
    f = np.float32
    x = rng.standard_normal((3, 4)).astype(f)
    y = rng.uniform(size=(3, 4)).astype(f)
    img = rng.standard_normal((2, 1, 3, 3)).astype(f)
    cases = [
        lambda a: F.mse_loss(a, nc.tensor(y)),
        lambda a: F.l1_loss(a, nc.tensor(y)),
        lambda a: F.huber_loss(a, nc.tensor(y)),
        lambda a: F.smooth_l1_loss(a, nc.tensor(y)),
        lambda a: F.binary_cross_entropy(F.sigmoid(a), nc.tensor(y)),
        lambda a: F.binary_cross_entropy_with_logits(a, nc.tensor(y), pos_weight=np.ones(4, f)),
        lambda a: F.cross_entropy(a, np.array([0, 1, 3]), label_smoothing=0.1),
        lambda a: F.cross_entropy(a, nc.tensor(y)),
        lambda a: F.nll_loss(a, np.array([0, 1, 3])),
        lambda a: F.kl_div(a, nc.tensor(y), reduction="batchmean"),
        lambda a: F.sigmoid_focal_loss(a, nc.tensor(y), reduction="mean"),
        lambda a: F.dice_loss(F.sigmoid(a), nc.tensor(y)),
        lambda a: F.iou_loss(F.sigmoid(a), nc.tensor(y)),
        lambda a: F.triplet_margin_loss(a, nc.tensor(y), nc.tensor(-y)),
        lambda a: F.contrastive_loss(a, nc.tensor(y), nc.tensor(np.array([1, 0, 1], f))),
        lambda a: F.cosine_embedding_loss(a, nc.tensor(y), np.array([1, -1, 1])),
        lambda a: F.perceptual_loss(a, nc.tensor(y), lambda t: t * t),
    ]
    for i, case in enumerate(cases):
        a = nc.tensor(x, requires_grad=True)
        loss = case(a)
        loss.backward()
        assert loss.dtype == f and a.grad.dtype == f and np.isfinite(a.grad.data).all(), i
    a = nc.tensor(img, requires_grad=True)
    F.total_variation_loss(a).backward()
    assert a.grad.dtype == f
