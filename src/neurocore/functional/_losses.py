"""Every loss of the seeds (seed 000 §1.2 and its summary table), with
PyTorch's names, formulas, defaults and reductions.

Cross-entropy and BCE-with-logits run the fused C kernels (csrc/kernels/
loss.inc) as ops whose ``composite`` gives the same function in Tensor ops, so
that create_graph=True (Hessians, seed 000 §2.11) differentiates them exactly.
Binary cross-entropy on probabilities is a NumPy op for PyTorch's clamped
gradient.  The other losses are built from differentiable Tensor ops and are
therefore twice differentiable for free.

Every loss takes ``reduction='mean'|'sum'|'none'`` where PyTorch has it.
Bad input is a ValueError or TypeError naming the argument: shapes that do
not match, float32 mixed with float64, non-float inputs, class indices out of
range, an unknown reduction.
"""
import numpy as np

from neurocore import _kernels
from neurocore import kernels as K
from neurocore._engine import Op
from neurocore.functional import _fused
from neurocore._tensor import Tensor

__all__ = [
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "kl_div",
    "sigmoid_focal_loss",
    "dice_loss",
    "iou_loss",
    "triplet_margin_loss",
    "contrastive_loss",
    "cosine_embedding_loss",
    "total_variation_loss",
    "perceptual_loss",
]

_REDUCTIONS = ("none", "mean", "sum")
# plain class-index cross-entropy in one kernel-wrapper call each way (autograd fast path)
_CE_PLAIN_CASE = _kernels._cross_entropy_plain_case


# ---- argument checks ---------------------------------------------------------
def _check_reduction(reduction, allowed=_REDUCTIONS):
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _as_float_tensor(x, name):
    """x as a float32/float64 Tensor (NumPy arrays are wrapped, not copied)."""
    if not isinstance(x, Tensor):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a Tensor or numpy.ndarray, got {type(x).__name__}")
        x = Tensor(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype}")
    return x


def _pair(input, target, input_name="input", target_name="target", same_shape=True):
    """Two float Tensors of one dtype (and one shape unless same_shape=False)."""
    input = _as_float_tensor(input, input_name)
    target = _as_float_tensor(target, target_name)
    if input.dtype != target.dtype:
        raise TypeError(f"{input_name} has dtype {input.dtype} but {target_name} has dtype {target.dtype}; "
                        f"convert one explicitly")
    if same_shape and input.shape != target.shape:
        raise ValueError(f"{input_name} and {target_name} must have the same shape, "
                         f"got {input.shape} and {target.shape}")
    return input, target


def _positive(value, name, allow_zero=False):
    v = _finite(value, name)
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")
    return v


def _finite(value, name):
    """value as a float: TypeError unless a real number, ValueError unless
    finite (the kernels' scalar validator)."""
    return _kernels._real_scalar(value, name)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _class_weight(weight, dtype, num_classes):
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else weight
    if not isinstance(w, np.ndarray):
        raise TypeError(f"weight must be a Tensor or numpy.ndarray, got {type(weight).__name__}")
    if w.dtype != dtype:
        raise TypeError(f"weight has dtype {w.dtype} but input has dtype {np.dtype(dtype)}; convert one explicitly")
    if w.shape != (num_classes,):
        raise ValueError(f"weight must have shape ({num_classes},) (one per class), got {w.shape}")
    return np.ascontiguousarray(w)


# ---- Tensor-op helpers (twice differentiable) ----------------------------------
def _softplus_neg_abs(x):
    """log(1 + exp(-|x|)), with its derivative -sign(x) sigmoid(-|x|)."""
    return (1.0 + (-x.abs()).exp()).log()


def _softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): never overflows."""
    return x.clamp(min=0.0) + _softplus_neg_abs(x)


def _sigmoid(x):
    """sigmoid(x) = exp(-softplus(-x)): stable and differentiable at any order."""
    return (-_softplus(-x)).exp()


def _logsumexp_rows(z):
    """log sum_j exp(z_ij) over the last axis, keepdims (max shift, not differentiated:
    the result does not depend on it)."""
    shift = Tensor(np.where(np.isfinite(z.data.max(axis=-1, keepdims=True)),
                            z.data.max(axis=-1, keepdims=True), 0).astype(z.dtype))
    return (z - shift).exp().sum(axis=-1, keepdims=True).log() + shift


# ---- regression losses (seed 000 §1.2.1-1.2.3) ---------------------------------
def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)^2) (seed 000 §1.2.1).

    Args: input, target: Tensors of one shape and dtype; reduction:
    'mean' | 'sum' | 'none'.
    """
    _check_reduction(reduction)
    input, target = _pair(input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error: mean(|input - target|) (seed 000 §1.2.2); the
    gradient at 0 is 0, as PyTorch's sign(0)."""
    _check_reduction(reduction)
    input, target = _pair(input, target)
    return _reduce((input - target).abs(), reduction)


def _huber(e, delta):
    """0.5 e^2 for |e| <= delta, delta (|e| - delta/2) beyond, written as
    0.5 c^2 + delta (|e| - c) with c = min(|e|, delta): one smooth formula,
    no branch mask, so its second derivative is right on both sides."""
    a = e.abs()
    c = a.clamp(max=delta)
    return 0.5 * (c * c) + delta * (a - c)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss (seed 000 §1.2.3): 0.5 e^2 if |e| <= delta else
    delta (|e| - delta/2), e = input - target.  delta > 0."""
    _check_reduction(reduction)
    delta = _positive(delta, "delta")
    input, target = _pair(input, target)
    return _reduce(_huber(input - target, delta), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Smooth L1 (the summary table's box-regression loss): 0.5 e^2 / beta if
    |e| < beta else |e| - beta/2; huber_loss / beta, and l1_loss at beta = 0."""
    _check_reduction(reduction)
    beta = _positive(beta, "beta", allow_zero=True)
    input, target = _pair(input, target)
    e = input - target
    loss = e.abs() if beta == 0 else _huber(e, beta) * (1.0 / beta)
    return _reduce(loss, reduction)


# ---- binary cross-entropy ------------------------------------------------------------
class _BinaryCrossEntropy(Op):
    """-(y log x + (1 - y) log(1 - x)) per element, each log clamped to >= -100
    as PyTorch does (so x = 0 or 1 gives 100, not inf)."""

    @staticmethod
    def forward(ctx, x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        ctx.logs = (log_x, log_1mx)
        return -(y * log_x + (1 - y) * log_1mx)

    def backward(ctx, g):
        # dl/dx = (x - y) / (x (1 - x)), the denominator clamped at 1e-12 (PyTorch)
        x, y = ctx.inputs
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = g * (x - y) / np.maximum(x * (1 - x), 1e-12)
        if ctx.needs_input_grad[1]:
            log_x, log_1mx = ctx.logs
            gy = g * (log_1mx - log_x)
        return gx, gy

    def composite(ctx, x, y):
        log_x = x.log().clamp(min=-100.0)
        log_1mx = (1.0 - x).log().clamp(min=-100.0)
        return -(y * log_x + (1.0 - y) * log_1mx)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy on probabilities (seed 000 summary table, Binary CE):
    -w (y log x + (1 - y) log(1 - x)), logs clamped to >= -100.

    Args: input: probabilities in [0, 1]; target: same shape and dtype;
    weight: optional, broadcast to input; reduction as usual.
    """
    _check_reduction(reduction)
    input, target = _pair(input, target)
    x = input.data
    if x.size and (np.any(x < 0) or np.any(x > 1)):
        raise ValueError(f"input of binary_cross_entropy must hold probabilities in [0, 1], "
                         f"got values in [{np.nanmin(x)}, {np.nanmax(x)}]")
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        weight = _as_float_tensor(weight, "weight")
        if weight.dtype != input.dtype:
            raise TypeError(f"weight has dtype {weight.dtype} but input has dtype {input.dtype}")
        loss = loss * weight
    return _reduce(loss, reduction)


class _BCEWithLogits(Op):
    """The fused, stable BCE on logits (kernel bce_with_logits_*), reduced in
    the op for 'mean'/'sum' so the backward is one kernel pass."""

    @staticmethod
    def forward(ctx, x, y, pos_weight, reduction):
        ctx.pos_weight, ctx.reduction = pos_weight, reduction
        loss = K.bce_with_logits_forward(x, y, pos_weight=pos_weight)
        if reduction == "none":
            return loss
        total = loss.sum(dtype=loss.dtype)
        return total / loss.dtype.type(max(loss.size, 1)) if reduction == "mean" else total

    def backward(ctx, g):
        x, y = ctx.inputs
        g = np.asarray(g)
        if ctx.reduction == "none":
            grad_loss = g
        elif ctx.reduction == "mean":
            grad_loss = g.item() / max(x.size, 1)
        else:
            grad_loss = g.item()
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = K.bce_with_logits_backward(x, y, grad_loss, pos_weight=ctx.pos_weight)
        if ctx.needs_input_grad[1]:
            # dl/dy = -x + (p - 1) softplus(-x)
            gy = -x
            if ctx.pos_weight is not None:
                sp = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
                gy = gy + (ctx.pos_weight - 1) * sp
            gy = grad_loss * gy
        return gx, gy

    def composite(ctx, x, y, *_):
        if ctx.pos_weight is None:
            loss = x.clamp(min=0.0) - x * y + _softplus_neg_abs(x)
        else:
            c = 1.0 + (Tensor(ctx.pos_weight) - 1.0) * y
            loss = (1.0 - y) * x + c * _softplus(-x)
        return _reduce(loss, ctx.reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable step (the summary table's
    BCEWithLogits): max(x, 0) - x y + log(1 + exp(-|x|)); with pos_weight p
    the positive term is weighted: (1 - y) x + (1 + (p - 1) y) log(1 + exp(-x)).

    Args: input: logits; target: same shape and dtype, in [0, 1];
    weight: optional element weights broadcast to input; pos_weight:
    optional, broadcast to input (usually one per class, the last axis).
    """
    _check_reduction(reduction)
    input, target = _pair(input, target)
    pw = None
    if pos_weight is not None:
        pw = pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight
        if not isinstance(pw, np.ndarray):
            raise TypeError(f"pos_weight must be a Tensor or numpy.ndarray, got {type(pos_weight).__name__}")
        if pw.dtype != input.dtype:
            raise TypeError(f"pos_weight has dtype {pw.dtype} but input has dtype {input.dtype}")
        try:
            shape = np.broadcast_shapes(pw.shape, input.shape)
        except ValueError:
            shape = None
        if shape != input.shape:
            raise ValueError(f"pos_weight of shape {pw.shape} does not broadcast to input of shape {input.shape}")
        pw = np.ascontiguousarray(np.broadcast_to(pw, input.shape))
    if weight is None:
        return _BCEWithLogits.apply(input, target, pos_weight=pw, reduction=reduction)
    weight = _as_float_tensor(weight, "weight")
    if weight.dtype != input.dtype:
        raise TypeError(f"weight has dtype {weight.dtype} but input has dtype {input.dtype}")
    loss = _BCEWithLogits.apply(input, target, pos_weight=pw, reduction="none") * weight
    return _reduce(loss, reduction)


# ---- cross-entropy and NLL (seed 000 §1.2.4, seed 001 §8.1) ----------------------------
def _class_rows(input, target, soft):
    """(logits (M, C), target (M,) or (M, C), output shape of 'none') from
    PyTorch's layouts: (C,), (N, C) or (N, C, d1, ...) with the class axis 1."""
    if input.ndim == 0:
        raise ValueError("input must have a class dimension, got a 0-d tensor")
    if input.ndim == 1:
        if soft:
            target = target.reshape(1, input.shape[0])
        return input.reshape(1, input.shape[0]), target, ()
    if input.ndim == 2:
        return input, target, (input.shape[0],)
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    out_shape = (input.shape[0],) + input.shape[2:]
    rows = input.permute(perm).reshape(-1, c)
    if soft:
        target = target.permute(perm).reshape(-1, c)
    return rows, target, out_shape


def _class_indices(target, input, ignore_index):
    """target as an int64 array of input's shape without the class axis."""
    t = target.data if isinstance(target, Tensor) else target
    t = np.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices (or float probabilities of the "
                        f"input's shape and dtype), got dtype {t.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if t.shape != expected:
        raise ValueError(f"target must have shape {expected} for input of shape {input.shape}, got {t.shape}")
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    t = t.astype(np.int64).reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        values = np.unique(t[bad])
        raise ValueError(f"target holds class indices outside [0, {c}): {values[:10].tolist()}"
                         + (" ..." if values.size > 10 else ""))
    return t


class _CrossEntropy(Op):
    """Fused log-softmax + NLL over rows (kernel cross_entropy_*): the forward
    keeps one log-sum-exp per row, the backward is softmax - target, scaled."""

    @staticmethod
    def forward(ctx, logits, target, weight, ignore_index, label_smoothing, reduction, denom):
        ctx.weight, ctx.ignore_index, ctx.eps = weight, ignore_index, label_smoothing
        ctx.reduction, ctx.denom = reduction, denom
        loss, ctx.lse = K.cross_entropy_forward(logits, target, label_smoothing=label_smoothing,
                                                weight=weight, ignore_index=ignore_index)
        if reduction == "none":
            return loss
        total = loss.sum(dtype=loss.dtype)
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                return total / loss.dtype.type(denom)
        return total

    def backward(ctx, g):
        logits, target = ctx.inputs[:2]
        g = np.asarray(g)
        if ctx.reduction == "none":
            grad_loss = g
        elif ctx.reduction == "mean":
            grad_loss = g.item() / ctx.denom if ctx.denom else float("nan")
        else:
            grad_loss = g.item()
        gz = gt = None
        if ctx.needs_input_grad[0]:
            gz = K.cross_entropy_backward(logits, target, ctx.lse, grad_loss, label_smoothing=ctx.eps,
                                          weight=ctx.weight, ignore_index=ctx.ignore_index)
        if len(ctx.needs_input_grad) > 1 and ctx.needs_input_grad[1]:
            # d loss_i / d q_ij = -(1 - eps) w_j log p_ij
            logp = logits - ctx.lse[:, None]
            w = 1 if ctx.weight is None else ctx.weight
            gt = -(1 - ctx.eps) * w * logp * (grad_loss[:, None] if np.ndim(grad_loss) else grad_loss)
        return gz, gt

    def composite(ctx, logits, target, *_):
        n = logits.shape[1]
        logp = logits - _logsumexp_rows(logits)
        w = np.ones(n, logits.dtype) if ctx.weight is None else ctx.weight
        if isinstance(target, Tensor) or target.dtype.kind == "f":
            q = (1.0 - ctx.eps) * target + ctx.eps / n
            loss = -(q * Tensor(w) * logp).sum(axis=1)
        else:
            keep = target != ctx.ignore_index
            onehot = np.zeros(logits.shape, logits.dtype)
            onehot[np.nonzero(keep)[0], target[keep]] = 1
            q = ((1 - ctx.eps) * onehot + ctx.eps / n) * w * keep[:, None]
            loss = -(Tensor(q.astype(logits.dtype)) * logp).sum(axis=1)
        if ctx.reduction == "mean":
            return loss.sum() * (1.0 / ctx.denom)
        return _reduce(loss, ctx.reduction)


class _PlainCrossEntropy(_CrossEntropy):
    """The plain case of _CrossEntropy (2-D logits, 1-D class indices, no
    weight, no smoothing, a mean or sum): its apply and backward are
    compiled (neurocore.functional._fused) around one kernel-wrapper call
    each, which is what a small network's training step needs."""

    apply = classmethod(_fused.plain_cross_entropy_apply)
    backward = _fused.plain_cross_entropy_backward


def _class_loss_weight(input, weight, ignore_index):
    """Checks what cross_entropy and nll_loss share (ignore_index an int, a
    class dimension) and returns the per-class weight array or None."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    if input.ndim == 0:
        raise ValueError("input must have a class dimension, got a 0-d tensor")
    num_classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    return _class_weight(weight, input.dtype, num_classes)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and a target (seed 000 §1.2.4):
    -sum_k q_k log softmax(input)_k, fused log-softmax + NLL.

    Args:
        input: logits (C,), (N, C) or (N, C, d1, ...).
        target: class indices (N,) / (N, d1, ...) in [0, C) (ignore_index
            rows contribute nothing), or class probabilities of input's
            shape and dtype.
        weight: optional per-class weights (C,).
        label_smoothing: eps in [0, 1]: q = (1 - eps) q + eps / C.
        reduction: 'mean' divides by the summed weights of the non-ignored
            targets (by N for probability targets), as PyTorch.
    """
    if (weight is None and type(reduction) is str and (reduction == "mean" or reduction == "sum")
            and isinstance(input, Tensor) and type(ignore_index) is int
            and type(label_smoothing) in (float, int) and label_smoothing == 0
            and _CE_PLAIN_CASE(input.data, target)):
        # the common case (2-D logits, 1-D class indices, no options): one
        # compiled call each way, which validates the target in C
        # (positional: no keyword dict on the per-step path)
        return _PlainCrossEntropy.apply(input, target, ignore_index, reduction)
    _check_reduction(reduction)
    input = _as_float_tensor(input, "input")
    eps = _finite(label_smoothing, "label_smoothing")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    w = _class_loss_weight(input, weight, ignore_index)
    soft = (isinstance(target, Tensor) and target.dtype.kind == "f") or \
        (isinstance(target, np.ndarray) and target.dtype.kind == "f")
    if soft:
        input, target = _pair(input, target)
        rows, t, out_shape = _class_rows(input, target, soft=True)
        denom = rows.shape[0]
    else:
        t = _class_indices(target, input, int(ignore_index))
        rows, _, out_shape = _class_rows(input, None, soft=False)
        keep = t != ignore_index
        denom = float(keep.sum()) if w is None else float(w[t[keep]].sum(dtype=np.float64))
    loss = _CrossEntropy.apply(rows, t, weight=w, ignore_index=int(ignore_index), label_smoothing=eps,
                               reduction=reduction, denom=denom)
    if reduction == "none":
        loss = loss.reshape(out_shape)
    return loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities: -w_t input[t] per sample.

    Args: input: log-probabilities (C,), (N, C) or (N, C, d1, ...); target:
    class indices; weight, ignore_index, reduction as in cross_entropy.
    """
    _check_reduction(reduction)
    input = _as_float_tensor(input, "input")
    w = _class_loss_weight(input, weight, ignore_index)
    t = _class_indices(target, input, int(ignore_index))
    rows, _, out_shape = _class_rows(input, None, soft=False)
    keep = t != ignore_index
    picked = np.zeros(rows.shape, input.dtype)
    picked[np.nonzero(keep)[0], t[keep]] = 1 if w is None else w[t[keep]]
    loss = -(rows * Tensor(picked)).sum(axis=1)
    if reduction == "mean":
        denom = picked.sum(dtype=np.float64)
        return loss.sum() * (1.0 / denom if denom else float("nan"))
    if reduction == "none":
        return loss.reshape(out_shape)
    return loss.sum()


# ---- KL divergence (seed 000 §1.2.7) ----------------------------------------------------
def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target || model) with the model given as log-probabilities `input`:
    target (log target - input) element-wise, 0 where target = 0 (seed 000
    §1.2.7, PyTorch's argument order).

    Args: input: log-probabilities; target: probabilities (log-probabilities
    when log_target=True), same shape and dtype; reduction: 'mean' (over all
    elements, PyTorch's default), 'batchmean' (sum / batch size, the true
    KL per sample), 'sum' or 'none'.
    """
    _check_reduction(reduction, _REDUCTIONS + ("batchmean",))
    input, target = _pair(input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        positive = target.data > 0
        safe = target * Tensor(positive.astype(target.dtype)) + Tensor((~positive).astype(target.dtype))
        loss = target * (safe.log() - input)
    if reduction == "batchmean":
        batch = input.shape[0] if input.ndim else 1
        return loss.sum() * (1.0 / batch)
    return _reduce(loss, reduction)


# ---- focal, Dice and IoU (seed 000 §1.2.5, §1.2.6) ----------------------------------------
def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """Focal loss on logits (seed 000 §1.2.5; torchvision.ops.sigmoid_focal_loss):
    alpha_t (1 - p_t)^gamma BCE(inputs, targets), with p = sigmoid(inputs),
    p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y)
    (alpha < 0: no weighting).  Default reduction 'none', as torchvision.
    """
    _check_reduction(reduction)
    alpha = _finite(alpha, "alpha")
    gamma = _positive(gamma, "gamma", allow_zero=True)
    inputs, targets = _pair(inputs, targets, "inputs", "targets")
    p = _sigmoid(inputs)
    ce = _BCEWithLogits.apply(inputs, targets, pos_weight=None, reduction="none")
    p_t = p * targets + (1.0 - p) * (1.0 - targets)
    loss = ce * (1.0 - p_t) ** gamma if gamma != 0 else ce
    if alpha >= 0:
        loss = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * loss
    return _reduce(loss, reduction)


def _overlap_sums(input, target):
    """Per-sample sums over every axis but the first (a 1-D input is one sample)."""
    if input.ndim <= 1:
        axes = None
    else:
        axes = tuple(range(1, input.ndim))
    return (input * target).sum(axis=axes), input.sum(axis=axes), target.sum(axis=axes)


def dice_loss(input, target, smooth=1.0, reduction="mean"):
    """Soft Dice loss (seed 000 §1.2.6): 1 - (2 sum(x y) + smooth) /
    (sum(x) + sum(y) + smooth) per sample.

    Args: input: predicted probabilities (N, ...) (a 1-D input is one
    sample); target: masks of the same shape and dtype; smooth >= 0 keeps
    empty masks finite; reduction over the samples.
    """
    _check_reduction(reduction)
    smooth = _positive(smooth, "smooth", allow_zero=True)
    input, target = _pair(input, target)
    inter, sx, sy = _overlap_sums(input, target)
    return _reduce(1.0 - (2.0 * inter + smooth) / (sx + sy + smooth), reduction)


def iou_loss(input, target, smooth=1.0, reduction="mean"):
    """Soft Jaccard (IoU) loss: 1 - (sum(x y) + smooth) /
    (sum(x) + sum(y) - sum(x y) + smooth) per sample (shapes as dice_loss)."""
    _check_reduction(reduction)
    smooth = _positive(smooth, "smooth", allow_zero=True)
    input, target = _pair(input, target)
    inter, sx, sy = _overlap_sums(input, target)
    return _reduce(1.0 - (inter + smooth) / (sx + sy - inter + smooth), reduction)


# ---- metric learning (summary table: triplet, contrastive, cosine embedding) -------------
def _pairwise_distance(x1, x2, p, eps):
    """||x1 - x2 + eps||_p over the last axis (torch.pairwise_distance)."""
    d = x1 - x2 + eps
    if p == 2:
        return (d * d).sum(axis=-1).sqrt()
    if p == 1:
        return d.abs().sum(axis=-1)
    return (d.abs() ** p).sum(axis=-1) ** (1.0 / p)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance (PyTorch's
    eps inside the norm); swap=True uses min(d(a, n), d(p, n)).

    Args: anchor, positive, negative: (N, D) or (D,) of one dtype and shape.
    """
    _check_reduction(reduction)
    margin = _finite(margin, "margin")
    p = _positive(p, "p")
    anchor, positive = _pair(anchor, positive, "anchor", "positive")
    anchor, negative = _pair(anchor, negative, "anchor", "negative")
    if anchor.ndim not in (1, 2):
        raise ValueError(f"anchor must be 1-D or 2-D, got shape {anchor.shape}")
    d_pos = _pairwise_distance(anchor, positive, p, eps)
    d_neg = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = _pairwise_distance(positive, negative, p, eps)
        pick = Tensor((d_swap.data < d_neg.data).astype(anchor.dtype))
        d_neg = pick * d_swap + (1.0 - pick) * d_neg
    return _reduce((d_pos - d_neg + margin).clamp(min=0.0), reduction)


def contrastive_loss(x1, x2, label, margin=1.0, eps=1e-6, reduction="mean"):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006) for Siamese pairs:
    1/2 [y d^2 + (1 - y) max(margin - d, 0)^2], d = ||x1 - x2 + eps||_2, with
    label y = 1 for similar pairs and 0 for dissimilar ones.

    Args: x1, x2: (N, D) or (D,); label: (N,) (or scalar) of 0/1 in the same
    float dtype; margin > 0.
    """
    _check_reduction(reduction)
    margin = _positive(margin, "margin")
    x1, x2 = _pair(x1, x2, "x1", "x2")
    label = _as_float_tensor(label, "label")
    if label.dtype != x1.dtype:
        raise TypeError(f"label has dtype {label.dtype} but x1 has dtype {x1.dtype}")
    if label.shape != x1.shape[:-1]:
        raise ValueError(f"label must have shape {x1.shape[:-1]} for x1 of shape {x1.shape}, got {label.shape}")
    d = _pairwise_distance(x1, x2, 2, eps)
    hinge = (margin - d).clamp(min=0.0)
    return _reduce(0.5 * (label * d * d + (1.0 - label) * hinge * hinge), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1
    (PyTorch: cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))).

    Args: input1, input2: (N, D) or (D,); target: (N,) (or scalar) of +1/-1,
    any real dtype; margin in [-1, 1].
    """
    _check_reduction(reduction)
    margin = _finite(margin, "margin")
    input1, input2 = _pair(input1, input2, "input1", "input2")
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.shape != input1.shape[:-1]:
        raise ValueError(f"target must have shape {input1.shape[:-1]} for input1 of shape {input1.shape}, "
                         f"got {y.shape}")
    if y.size and not np.all((y == 1) | (y == -1)):
        raise ValueError(f"target must hold 1 or -1, got values {np.unique(y)[:10].tolist()}")
    dot = (input1 * input2).sum(axis=-1)
    sq = ((input1 * input1).sum(axis=-1) + 1e-12) * ((input2 * input2).sum(axis=-1) + 1e-12)
    cos = dot / sq.sqrt()
    positive = Tensor((y == 1).astype(input1.dtype))
    loss = positive * (1.0 - cos) + (1.0 - positive) * (cos - margin).clamp(min=0.0)
    return _reduce(loss, reduction)


# ---- image losses (summary table: total variation, perceptual) ---------------------------
def total_variation_loss(images, reduction="mean"):
    """Anisotropic total variation: sum |x[..., i+1, j] - x[..., i, j]| +
    |x[..., i, j+1] - x[..., i, j]| over channels and pixels, per image.

    Args: images: (N, C, H, W), or (C, H, W) / (H, W) for one image;
    reduction over the images ('none' gives (N,)).
    """
    _check_reduction(reduction)
    images = _as_float_tensor(images, "images")
    if images.ndim not in (2, 3, 4):
        raise ValueError(f"images must be (N, C, H, W), (C, H, W) or (H, W), got shape {images.shape}")
    dh = (images[..., 1:, :] - images[..., :-1, :]).abs()
    dw = (images[..., :, 1:] - images[..., :, :-1]).abs()
    if images.ndim == 4:
        per_image = dh.sum(axis=(1, 2, 3)) + dw.sum(axis=(1, 2, 3))
        return _reduce(per_image, reduction)
    return dh.sum() + dw.sum()


def perceptual_loss(input, target, feature_extractor, reduction="mean", layer_weights=None):
    """MSE between the features phi(input) and phi(target) of a fixed network
    (Johnson et al., 2016; the summary table's perceptual loss).

    Args: input, target: images (same shape and dtype); feature_extractor:
    any Module or callable returning a Tensor or a list/tuple of Tensors (one
    per layer; their losses are summed, weighted by layer_weights if given).
    Gradients flow to input (and to target if it requires grad); the
    extractor's parameters get gradients too unless frozen.
    """
    _check_reduction(reduction)
    if not callable(feature_extractor):
        raise TypeError(f"feature_extractor must be callable, got {type(feature_extractor).__name__}")
    input, target = _pair(input, target)
    fx, fy = feature_extractor(input), feature_extractor(target)
    fx = list(fx) if isinstance(fx, (list, tuple)) else [fx]
    fy = list(fy) if isinstance(fy, (list, tuple)) else [fy]
    if len(fx) != len(fy):
        raise ValueError(f"feature_extractor returned {len(fx)} features for input but {len(fy)} for target")
    if layer_weights is None:
        layer_weights = [1.0] * len(fx)
    if len(layer_weights) != len(fx):
        raise ValueError(f"layer_weights has {len(layer_weights)} entries for {len(fx)} feature layers")
    total = None
    for a, b, w in zip(fx, fy, layer_weights):
        term = mse_loss(a, b, reduction=reduction) * float(w)
        total = term if total is None else total + term
    return total
