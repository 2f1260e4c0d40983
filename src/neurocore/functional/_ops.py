"""Differentiable linear layers, the fused Linear chain and dropout.

The activations and softmax are defined in the engine layer
(neurocore._tensor_ops), because Tensor's own methods use them, and re-exported
here.  Linear runs the C kernels (linear_forward/backward) on float32 and
float64, and NumPy for other float dtypes.  Backward formulas (seed 000
§2.9): δ = g ⊙ act'(z), grad_x = δ W, grad_W = δᵀ x, grad_b = Σ δ.
"""

import numpy as np

from neurocore import _engine, _kernels, _tensor
from neurocore import kernels as K
from neurocore._engine import Op
from neurocore.functional import _fused
from neurocore._tensor import Tensor
# the activations and softmax are engine-layer ops (Tensor's methods use them)
from neurocore._tensor_ops import (  # noqa: F401
    _ACTIVATIONS, _KERNEL_DTYPES, _act_backward, _act_composite, _act_forward, _check_negative_slope,
    _check_tensor, _np_backward, _np_forward, Activation, Erf, LogSoftmax, Softmax, erf, gelu, identity,
    leaky_relu, log_softmax, relu, sigmoid, softmax, tanh,
)

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu", "erf", "softmax", "log_softmax",
           "linear", "dropout", "identity"]


def _linear_forward(x, weight, bias, activation, slope, need_preact=True):
    """(y, preact) of y = act(x Wᵀ + b); preact is what _linear_backward needs
    (None when need_preact is false: nothing will be differentiated)."""
    if x.dtype in _KERNEL_DTYPES:
        if activation == "identity" or not need_preact:
            return K.linear_forward(x, weight, bias, activation=activation, negative_slope=slope), None
        if activation == "relu" or (activation == "leaky_relu" and slope >= 0):
            # y > 0 exactly where z > 0, so the output doubles as the mask
            y = K.linear_forward(x, weight, bias, activation=activation, negative_slope=slope)
            return y, y
        return K.linear_forward(x, weight, bias, activation=activation, negative_slope=slope,
                                return_preact=True)
    z = x @ weight.T
    if bias is not None:
        z += bias
    return _act_forward(z, activation, slope), z


def _linear_backward(g, x, weight, has_bias, preact, output, activation, slope, need_x, need_w):
    """(grad_x, grad_weight, grad_bias) of y = act(x Wᵀ + b): δ = g ⊙ act'(z),
    grad_x = δ W, grad_W = δᵀ x (outer products summed over rows), grad_b = Σ δ."""
    if x.dtype in _KERNEL_DTYPES:
        gx, gw, gb = K.linear_backward(g, x, weight, preact=preact, activation=activation,
                                       negative_slope=slope, need_input_grad=need_x,
                                       need_bias_grad=has_bias)
        return gx, gw if need_w else None, gb
    gz = _act_backward(g, preact, output, activation, slope)
    gz2 = gz.reshape(-1, gz.shape[-1])
    gx = gz @ weight if need_x else None
    gw = gz2.T @ x.reshape(-1, x.shape[-1]) if need_w else None
    gb = gz2.sum(axis=0) if has_bias else None
    return gx, gw, gb


class Linear(Op):
    """y = act(x Wᵀ + b): one GEMM with the bias and activation fused."""

    @staticmethod
    def forward(ctx, x, weight, bias, activation, slope):
        ctx.activation, ctx.slope = activation, slope
        # under no_grad the pre-activation copy (a second output) is not written
        y, ctx.preact = _linear_forward(x, weight, bias, activation, slope, ctx.recording)
        ctx.y = y
        return y

    def backward(ctx, g):
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if not ctx._graph:
            raw = ctx._raw
            gx, gw, gb = _linear_backward(g, raw[0], raw[1], need_b, ctx.preact, ctx.y, ctx.activation,
                                          ctx.slope, need_x, need_w)
            return gx, gw, gb, None, None
        x, weight, bias = ctx.parents[:3]
        if ctx.activation not in ("identity", "relu", "leaky_relu"):
            return ctx._composite_backward(g, Linear._composite)
        # create_graph, piecewise-linear activation: act' is a constant mask, so
        # the gradients are recorded directly (no recomputed forward GEMM, which
        # the composite would need, and second derivatives stay cheap)
        if ctx.activation != "identity":
            z = ctx.preact if ctx.preact is not None else ctx.y    # y > 0 ⇔ z > 0
            g = g * np.where(z > 0, 1, 0 if ctx.activation == "relu" else ctx.slope).astype(z.dtype)
        g2 = g.reshape(-1, g.shape[-1])
        gx = g @ weight if need_x else None
        gw = g2.mT @ x.reshape(-1, x.shape[-1]) if need_w else None
        gb = g2.sum(axis=0) if need_b and bias is not None else None
        return gx, gw, gb, None, None

    def _composite(ctx, x, weight, bias, *_):
        z = x @ weight.mT
        if bias is not None:
            z = z + bias
        return _act_composite(z, ctx.activation, ctx.slope)


class _LinearReplay(Linear):
    """A Linear layer whose (pre-activation, output) a LinearChain forward
    already computed: recorded without running the GEMM again."""

    @staticmethod
    def forward(ctx, x, weight, bias, activation, slope, saved):
        ctx.activation, ctx.slope = activation, slope
        ctx.preact, ctx.y = saved
        return ctx.y


class LinearChain(Op):
    """Several Linear layers (each with a fused activation) as ONE graph node.

    nn.MLP runs through it: one node instead of one per layer keeps the
    engine's per-node cost out of small networks.  ``apply(x, w0, b0, w1,
    b1, ...)`` with ``activations`` (one per layer) and ``slope`` settings;
    ``run(x, params, activations, slope)`` is the same with the params as
    one tuple.  Both the apply and the backward are compiled
    (neurocore.functional._fused): the bookkeeping around the chain's
    kernels is what a small network's step spends its time on.
    """

    @classmethod
    def apply(cls, x, *params, activations, slope):
        return _fused.linear_chain_apply(cls, x, params, tuple(activations), _check_negative_slope(slope))

    run = classmethod(_fused.linear_chain_apply)

    backward = _fused.linear_chain_backward

    def _replay(ctx, x, *params):
        # create_graph: the chain as one Linear node per layer whose outputs are
        # the ones this forward saved, so no GEMM is recomputed and each layer
        # takes Linear's recorded backward (direct for piecewise-linear
        # activations)
        # (the saved outputs are (rows, features) matrices: x runs as one too)
        h = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        for i, act in enumerate(ctx.activations):
            h = _LinearReplay.apply(h, params[2 * i], params[2 * i + 1], act, ctx.slope,
                                    saved=ctx.saved[i])
        return h.reshape(x.shape[:-1] + h.shape[-1:]) if x.ndim != 2 else h

    def _composite(ctx, x, *params):
        h = x
        for i, act in enumerate(ctx.activations):
            z = h @ params[2 * i].mT
            if params[2 * i + 1] is not None:
                z = z + params[2 * i + 1]
            h = _act_composite(z, act, ctx.slope)
        return h


def linear(x, weight, bias=None, *, activation="identity", negative_slope=0.01):
    """y = x Wᵀ + b (PyTorch's layout: weight (out, in), bias (out,)).

    ``activation`` (a neurocore extension) fuses one of the kernels'
    activations into the same pass: y = act(x Wᵀ + b).
    Shape: x (..., in) -> y (..., out).
    """
    _check_tensor(x, "input")
    _check_tensor(weight, "weight")
    # the checks read the arrays (one field each) rather than Tensor's properties
    xd, wd = x.data, weight.data
    w_shape = wd.shape
    if len(w_shape) != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {w_shape}")
    if xd.ndim == 0 or xd.shape[-1] != w_shape[1]:
        raise ValueError(f"input of shape {xd.shape} does not match weight of shape {w_shape} "
                         f"(expected last dimension {w_shape[1]})")
    if xd.dtype != wd.dtype:
        raise _engine._dtype_error(xd.dtype, wd.dtype)
    if bias is not None:
        _check_tensor(bias, "bias")
        bd = bias.data
        if bd.shape != (w_shape[0],):
            raise ValueError(f"bias must have shape ({w_shape[0]},), got {bd.shape}")
        if bd.dtype != wd.dtype:
            raise _engine._dtype_error(wd.dtype, bd.dtype)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {_ACTIVATIONS}")
    return Linear.apply(x, weight, bias, activation, float(negative_slope))


def dropout(x, p=0.5, training=True):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    The expected value is unchanged, so evaluation (training=False) is the
    identity (seed 001 §11).  Random draws come from nc.manual_seed's generator.
    """
    _check_tensor(x)
    if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
        raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
    if not training or p == 0.0:
        return x
    keep = _tensor._generator.random(x.shape, dtype=np.float64) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * Tensor(mask)
