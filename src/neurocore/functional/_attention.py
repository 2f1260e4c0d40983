"""Differentiable scaled-dot-product attention and layer normalisation.

Attention (seed 000 section 4.4, equation 4.5), per head:

    out = softmax(Q Kᵀ · scale + mask) V,            scale = 1/√d_h by default

runs as one fused kernel: tiles with an online softmax, one log-sum-exp per
row kept for the backward, which recomputes the probabilities P = exp(S − lse)
tile by tile.  With dS = P ⊙ (dO Vᵀ − rowsum(dO ⊙ out)):

    dQ = dS K · scale,   dK = dSᵀ Q · scale,   dV = Pᵀ dO.

Layer norm over the last dimensions, with x̂ = (x − μ)/√(σ² + ε), g = dy ⊙ w:

    y = x̂ ⊙ w + b,   dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε),
    dw = Σ dy ⊙ x̂,   db = Σ dy.

Both ops have a ``composite`` (the same function in Tensor ops) that the
engine differentiates when the backward itself is recorded (create_graph).
"""
import math
import sys

import numpy as np

from neurocore import _engine
from neurocore import kernels as K
from neurocore._engine import Op
from neurocore._tensor import Tensor
from neurocore.functional._ops import dropout

__all__ = ["scaled_dot_product_attention", "layer_norm"]


def _check_tensor(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a neurocore Tensor, got {type(x).__name__}")
    if x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be a float32 or float64 tensor, got dtype {x.dtype}")


def _as_4d(a):
    """(..., T, F) -> (B, H, T, F) with the leading dimensions folded into
    (B, H); a view whenever NumPy can make one."""
    lead = a.shape[:-2]
    if len(lead) <= 2:
        return a.reshape((1,) * (2 - len(lead)) + a.shape)
    return a.reshape((-1, 1) + a.shape[-2:])


def _mask_4d(mask, lead, n, m):
    """The mask for the kernel: broadcastable to (B, H, n, m) after the
    leading dimensions are folded like _as_4d folds them."""
    if mask is None or len(lead) <= 2:
        return mask
    # more than two leading dimensions fold into one: spell the mask out
    # along them (its own n, m extent is kept, so this stays small)
    mshape = (1,) * (len(lead) + 2 - mask.ndim) + mask.shape
    full = np.broadcast_to(mask.reshape(mshape), lead + mshape[-2:])
    return full.reshape((-1, 1) + mshape[-2:])


def _scores(q, k, mask, is_causal, scale):
    """q kᵀ · scale + mask in Tensor ops: the N x M matrix the fused kernel avoids."""
    s = (q @ k.mT) * scale
    if mask is not None:
        additive = np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask
        s = s + Tensor(additive.astype(q.dtype, copy=False))
    if is_causal:
        n, m = s.shape[-2:]
        s = s + Tensor(np.where(np.tril(np.ones((n, m), dtype=bool)), 0.0, -np.inf).astype(q.dtype))
    return s


def _composite_attention(q, k, v, mask, is_causal, scale):
    """softmax(q kᵀ · scale + mask) v in Tensor ops (materialises N x M)."""
    return _scores(q, k, mask, is_causal, scale).softmax(-1) @ v


class ScaledDotProductAttention(Op):
    """out = softmax(q kᵀ · scale + mask) v over the last two dimensions."""

    save_output = True

    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale):
        ctx.mask, ctx.is_causal, ctx.scale = mask, is_causal, scale
        lead = q.shape[:-2]
        mask4 = _mask_4d(mask, lead, q.shape[-2], k.shape[-2])
        out, lse = K.attention_forward(_as_4d(q), _as_4d(k), _as_4d(v), mask=mask4,
                                       is_causal=is_causal, scale=scale)
        ctx.mask4, ctx.lse = mask4, lse
        return out.reshape(lead + out.shape[-2:])

    def backward(ctx, g):
        if ctx._graph:
            return ctx._composite_backward(g)
        q, k, v = ctx._raw[:3]
        out = ctx._out
        gq, gk, gv = K.attention_backward(_as_4d(g), _as_4d(q), _as_4d(k), _as_4d(v), _as_4d(out),
                                          ctx.lse, mask=ctx.mask4, is_causal=ctx.is_causal,
                                          scale=ctx.scale)
        need = ctx.needs_input_grad
        return (gq.reshape(q.shape) if need[0] else None, gk.reshape(k.shape) if need[1] else None,
                gv.reshape(v.shape) if need[2] else None, None)

    def composite(ctx, q, k, v, *_):
        return _composite_attention(q, k, v, ctx.mask, ctx.is_causal, ctx.scale)


def _dropout_attention(q, k, v, mask, is_causal, scale, p):
    """Attention with dropout on the probabilities (training only): the
    unfused program, since the dropped entries live in the N x M matrix."""
    return dropout(_scores(q, k, mask, is_causal, scale).softmax(-1), p, True) @ v


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None):
    """softmax(Q Kᵀ · scale + mask) V, fused (PyTorch's signature).

    Args:
        query: (..., N, d); key: (..., M, d); value: (..., M, d_v); the
            leading dimensions (batch, heads, ...) equal.
        attn_mask: None, a boolean array (True = take part in attention, as
            PyTorch) or an additive float array/Tensor of the query's dtype,
            broadcastable to (..., N, M).  It is a constant: no gradient.
        dropout_p: dropout on the attention probabilities; > 0 runs the
            unfused program (the dropped entries are N x M).
        is_causal: query i attends to keys j <= i (top-left aligned).
        scale: default 1/√d.
    Returns (..., N, d_v).  A row whose keys are all masked is NaN.

    The N x M score matrix is never stored: memory beyond the output is one
    log-sum-exp per query row.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor(t, name)
        if t.ndim < 2:
            raise ValueError(f"{name} must be at least 2-D (..., tokens, features), got shape {t.shape}")
    for name, t in (("key", key), ("value", value)):
        if t.dtype != query.dtype:
            raise _engine._dtype_error(query.dtype, t.dtype)
    if key.shape[:-2] != query.shape[:-2] or value.shape[:-2] != query.shape[:-2]:
        raise ValueError(f"query, key and value must share their leading dimensions, got shapes "
                         f"{query.shape}, {key.shape} and {value.shape}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"query and key must have the same feature size, got shapes {query.shape} "
                         f"and {key.shape}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"key and value must have the same number of tokens, got shapes {key.shape} "
                         f"and {value.shape}")
    if attn_mask is not None and is_causal:
        raise ValueError("attn_mask and is_causal cannot both be set (as PyTorch)")
    mask = None
    if attn_mask is not None:
        mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
        if mask.dtype != bool and mask.dtype != query.dtype:
            raise TypeError(f"attn_mask must be boolean or have the query's dtype {query.dtype}, "
                            f"got {mask.dtype}")
        target = query.shape[:-1] + (key.shape[-2],)
        try:
            ok = np.broadcast_shapes(mask.shape, target) == target
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"attn_mask of shape {mask.shape} does not broadcast to the attention "
                             f"scores' shape {target} (query {query.shape}, key {key.shape})")
    if not (isinstance(dropout_p, (int, float)) and 0.0 <= dropout_p < 1.0):
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p!r}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] > 0 else 1.0
    elif not (isinstance(scale, (int, float)) and abs(scale) <= sys.float_info.max):  # not NaN, inf, 10**400
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    if dropout_p > 0.0:
        return _dropout_attention(query, key, value, mask, is_causal, float(scale), dropout_p)
    return ScaledDotProductAttention.apply(query, key, value, mask, is_causal=bool(is_causal),
                                           scale=float(scale))


class PackedSelfAttention(Op):
    """Multi-head self-attention core on a packed qkv projection:
    (B, N, 3·D) laid out [3][heads][head_dim] (the public ViT checkpoints'
    order) -> (B, N, D), heads concatenated.  q, k, v are strided views into
    the input and the output is written head by head into its (B, N, D)
    place, so neither direction copies or transposes a tensor."""

    save_output = True

    @staticmethod
    def forward(ctx, qkv, num_heads, scale):
        B, N, three_d = qkv.shape
        d = three_d // (3 * num_heads)
        ctx.num_heads, ctx.scale = num_heads, scale
        q, k, v = _split_qkv(qkv, num_heads)
        out = np.empty((B, N, num_heads, d), qkv.dtype)
        _, ctx.lse = K.attention_forward(q, k, v, scale=scale, out=out.transpose(0, 2, 1, 3))
        return out.reshape(B, N, num_heads * d)

    def backward(ctx, g):
        if ctx._graph:
            return ctx._composite_backward(g)
        qkv = ctx._raw[0]
        B, N, three_d = qkv.shape
        h = ctx.num_heads
        d = three_d // (3 * h)
        grad = np.empty_like(qkv)
        gq, gk, gv = _split_qkv(grad, h)
        heads = lambda a: a.reshape(B, N, h, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = _split_qkv(qkv, h)
        K.attention_backward(heads(g), q, k, v, heads(ctx._out), ctx.lse, scale=ctx.scale,
                             grad_q=gq, grad_k=gk, grad_v=gv)
        return grad

    def composite(ctx, qkv, *_):
        B, N, three_d = qkv.shape
        h = ctx.num_heads
        d = three_d // (3 * h)
        parts = qkv.reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4)
        out = _composite_attention(parts[0], parts[1], parts[2], None, False, ctx.scale)
        return out.permute(0, 2, 1, 3).reshape(B, N, h * d)


def _split_qkv(qkv, num_heads):
    """Views q, k, v (B, h, N, d) of a packed (B, N, 3·h·d) array."""
    B, N, three_d = qkv.shape
    parts = qkv.reshape(B, N, 3, num_heads, three_d // (3 * num_heads))
    return tuple(parts[:, :, i].transpose(0, 2, 1, 3) for i in range(3))


def _packed_self_attention(qkv, num_heads, scale=None):
    """Self-attention of a packed (B, N, 3·D) qkv Tensor -> (B, N, D)."""
    _check_tensor(qkv, "qkv")
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * num_heads):
        raise ValueError(f"qkv must have shape (batch, tokens, 3 * dim) with dim divisible by "
                         f"num_heads={num_heads}, got {qkv.shape}")
    d = qkv.shape[-1] // (3 * num_heads)
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d > 0 else 1.0
    return PackedSelfAttention.apply(qkv, num_heads=num_heads, scale=float(scale))


def _rows_cols(shape, norm_ndim):
    """(rows, cols) of the 2-D view layer norm works on; spelled out rather
    than reshape(-1, cols), which NumPy cannot infer when cols is 0."""
    split = len(shape) - norm_ndim
    return math.prod(shape[:split]), math.prod(shape[split:])


class LayerNorm(Op):
    """Normalise each row of the last ``ncols`` elements, then scale and shift."""

    @staticmethod
    def forward(ctx, x, weight, bias, norm_ndim, eps):
        ctx.norm_ndim, ctx.eps = norm_ndim, eps
        rows, cols = _rows_cols(x.shape, norm_ndim)
        x2 = x.reshape(rows, cols)
        w = None if weight is None else weight.reshape(cols)
        b = None if bias is None else bias.reshape(cols)
        y, ctx.mean, ctx.rstd = K.layer_norm_forward(x2, w, b, eps=eps)
        return y.reshape(x.shape)

    def backward(ctx, g):
        if ctx._graph:
            return ctx._composite_backward(g)
        x, weight, bias = ctx._raw[:3]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        rows, cols = _rows_cols(x.shape, ctx.norm_ndim)
        w = None if weight is None else weight.reshape(cols)
        gx, gw, gb = K.layer_norm_backward(g.reshape(rows, cols), x.reshape(rows, cols), ctx.mean,
                                           ctx.rstd, w, need_input_grad=need_x,
                                           need_param_grads=need_w or need_b)
        return (gx.reshape(x.shape) if need_x else None,
                gw.reshape(weight.shape) if need_w else None,
                gb.reshape(bias.shape) if need_b else None, None, None)

    def composite(ctx, x, weight, bias, *_):
        axes = tuple(range(x.ndim - ctx.norm_ndim, x.ndim))
        centred = x - x.mean(axes, keepdims=True)
        var = (centred * centred).mean(axes, keepdims=True)
        y = centred / (var + ctx.eps).sqrt()
        if weight is not None:
            y = y * weight
        if bias is not None:
            y = y + bias
        return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last len(normalized_shape) dimensions
    (PyTorch's signature; biased variance).

    Args:
        input: (..., *normalized_shape).
        normalized_shape: int or tuple, the trailing shape normalised together.
        weight, bias: None or Tensors of shape normalized_shape.
        eps: added to the variance.
    """
    _check_tensor(input, "input")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    nd = len(normalized_shape)
    if nd == 0 or input.shape[input.ndim - nd:] != normalized_shape or input.ndim < nd:
        raise ValueError(f"input of shape {input.shape} does not end with normalized_shape "
                         f"{normalized_shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        _check_tensor(p, name)
        if p.dtype != input.dtype:
            raise _engine._dtype_error(input.dtype, p.dtype)
        if p.shape != normalized_shape:
            raise ValueError(f"{name} must have shape {normalized_shape}, got {p.shape}")
    if not (isinstance(eps, (int, float)) and 0 <= eps <= sys.float_info.max):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return LayerNorm.apply(input, weight, bias, norm_ndim=nd, eps=float(eps))
