"""Differentiable activations, softmax, linear and dropout.

Each op runs the C kernels of ``neurocore.kernels`` when they are there
(activation_forward/backward, softmax, linear_forward/backward) and a NumPy
reference otherwise.  Backward formulas (seed 000 §1.1, §2.9):
σ' = σ(1-σ), tanh' = 1-tanh², ReLU' = 𝕀[z>0] (0 at 0), GELU' = Φ(x) + xφ(x),
softmax: y ⊙ (g - Σ g⊙y), log-softmax: g - eʸ Σ g.
"""
import math

import numpy as np

from neurocore import _kernels, _tensor
from neurocore import kernels as K
from neurocore._tensor import Op, Tensor, _exp, _unbroadcast

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu", "erf", "softmax", "log_softmax",
           "linear", "dropout", "identity"]

_ACTIVATIONS = ("identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh")
_HAS_ACT_KERNELS = hasattr(K, "activation_forward") and hasattr(K, "activation_backward")
_HAS_SOFTMAX_KERNELS = all(hasattr(K, n) for n in ("softmax", "log_softmax", "softmax_backward",
                                                   "log_softmax_backward"))
_HAS_LINEAR_KERNELS = hasattr(K, "linear_forward") and hasattr(K, "linear_backward")
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# nn.MLP's whole chain in one kernel-wrapper call each way (neurocore._kernels)
_CHAIN_FORWARD = getattr(_kernels, "_linear_chain_forward", None)
_CHAIN_BACKWARD = getattr(_kernels, "_linear_chain_backward", None)

_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf_np = np.vectorize(math.erf, otypes=[np.float64])
_erfc_np = np.vectorize(math.erfc, otypes=[np.float64])


# ---- NumPy references (used when a kernel is missing, and as the tests' oracle) ----

def _np_forward(x, activation, slope):
    if activation == "identity":
        return x
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "leaky_relu":
        return np.where(x > 0, x, x * x.dtype.type(slope))
    if activation == "sigmoid":
        # two branches so exp never overflows: σ(x) = 1/(1+e^-x) = e^x/(1+e^x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    if activation == "tanh":
        return np.tanh(x)
    if activation == "gelu":
        # xΦ(x) with Φ(x) = erfc(-x/√2)/2: erfc keeps relative accuracy for x ≪ 0
        return (x * 0.5 * _erfc_np(-x * _SQRT_HALF)).astype(x.dtype)
    if activation == "gelu_tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + np.tanh(inner))
    raise ValueError(f"unknown activation {activation!r}; expected one of {_ACTIVATIONS}")


def _np_backward(g, x, y, activation, slope):
    """g * act'(x), with y = act(x) when the derivative is cheaper from the output."""
    if activation == "identity":
        return g
    if activation == "relu":
        return g * (x > 0)                  # 𝕀[x > 0]: ReLU'(0) = 0
    if activation == "leaky_relu":
        return g * np.where(x > 0, 1, x.dtype.type(slope)).astype(x.dtype)
    if activation == "sigmoid":
        return g * y * (1 - y)
    if activation == "tanh":
        return g * (1 - y * y)
    if activation == "gelu":
        cdf = 0.5 * _erfc_np(-x * _SQRT_HALF)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return (g * (cdf + x * pdf)).astype(x.dtype)
    if activation == "gelu_tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = np.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    raise ValueError(f"unknown activation {activation!r}")


def _act_forward(x, activation, slope):
    if _HAS_ACT_KERNELS and x.dtype in _KERNEL_DTYPES:
        return K.activation_forward(x, activation, negative_slope=slope)
    return _np_forward(x, activation, slope)


def _act_backward(g, x, y, activation, slope):
    if _HAS_ACT_KERNELS and x.dtype in _KERNEL_DTYPES:
        return K.activation_backward(g, x, activation, negative_slope=slope, output=y)
    return _np_backward(g, x, y, activation, slope)


def _act_composite(x, activation, slope):
    """The activation in differentiable Tensor ops (create_graph path)."""
    if activation == "identity":
        return x
    if activation in ("relu", "leaky_relu"):
        keep = x.data > 0
        factor = np.where(keep, 1, 0 if activation == "relu" else slope).astype(x.dtype)
        return x * factor                   # piecewise linear: the mask is a constant
    if activation == "sigmoid":
        return sigmoid(x)
    if activation == "tanh":
        return tanh(x)
    if activation == "gelu":
        return 0.5 * x * (1 + erf(x * _SQRT_HALF))
    if activation == "gelu_tanh":
        return 0.5 * x * (1 + tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    raise ValueError(f"unknown activation {activation!r}")


# ---- ops -------------------------------------------------------------------------------

class Activation(Op):
    """y = act(x) element-wise, one kernel pass each way."""

    save_output = True

    @staticmethod
    def forward(ctx, x, activation, slope):
        ctx.activation, ctx.slope = activation, slope
        return _act_forward(x, activation, slope)

    def backward(ctx, g):
        if not ctx._graph:
            return _act_backward(g, ctx._raw[0], ctx._out, ctx.activation, ctx.slope), None, None
        # create_graph: σ and tanh differentiate through their own output,
        # piecewise-linear ones through a constant mask; GELU uses composite
        x, y = ctx.inputs[0], ctx.output
        if ctx.activation == "sigmoid":
            return g * y * (1 - y), None, None
        if ctx.activation == "tanh":
            return g * (1 - y * y), None, None
        if ctx.activation in ("identity", "relu", "leaky_relu"):
            return _np_backward(g, x.data, None, ctx.activation, ctx.slope), None, None
        return ctx._composite_backward(g, lambda ctx, x, *_: _act_composite(x, ctx.activation, ctx.slope))


class Erf(Op):
    @staticmethod
    def forward(ctx, x):
        if hasattr(K, "erf") and x.dtype in _KERNEL_DTYPES:
            return K.erf(x)
        return _erf_np(x).astype(x.dtype)

    def backward(ctx, g):                   # d erf(x)/dx = 2/√π e^{-x²}
        x = ctx.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * _exp(-(x * x))


def _check_tensor(x, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a neurocore Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating point tensor, got dtype {x.dtype}")


def _activation(x, activation, slope=0.01):
    _check_tensor(x)
    return Activation.apply(x, activation, slope)


def identity(x):
    return x


def sigmoid(x):
    """σ(x) = 1/(1+e^-x), stable for any finite x."""
    return _activation(x, "sigmoid")


def tanh(x):
    return _activation(x, "tanh")


def relu(x):
    """max(x, 0), with ReLU'(0) = 0."""
    return _activation(x, "relu")


def _check_negative_slope(negative_slope):
    """negative_slope as a float; ValueError unless it is finite."""
    try:
        finite = math.isfinite(negative_slope)
    except OverflowError:      # an int beyond the double range (10**400)
        finite = False
    if not finite:
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r:.40}")
    return float(negative_slope)


def leaky_relu(x, negative_slope=0.01):
    return _activation(x, "leaky_relu", _check_negative_slope(negative_slope))


def gelu(x, approximate="none"):
    """xΦ(x) (exact, the default) or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation(x, "gelu" if approximate == "none" else "gelu_tanh")


def erf(x):
    _check_tensor(x)
    return Erf.apply(x)


def _np_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)   # max-subtraction: exp never overflows
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _last_axis(x, axis):
    return _HAS_SOFTMAX_KERNELS and x.dtype in _KERNEL_DTYPES and axis in (-1, x.ndim - 1) and x.ndim > 0


class Softmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return K.softmax(x) if _last_axis(x, axis) else _np_softmax(x, axis)

    def backward(ctx, g):                   # y ⊙ (g - Σ g⊙y)
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return K.softmax_backward(y, g), None
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return K.log_softmax(x) if _last_axis(x, axis) else _np_log_softmax(x, axis)

    def backward(ctx, g):                   # g - softmax ⊙ Σ g
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return K.log_softmax_backward(y, g), None
        return g - _exp(y) * g.sum(axis=ctx.axis, keepdims=True), None


def _check_axis(x, axis):
    if not isinstance(axis, (int, np.integer)) or not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return int(axis)


def softmax(x, axis=-1, *, dim=None):
    """exp(x) / Σ exp(x) along ``axis`` (max-subtracted)."""
    _check_tensor(x)
    return Softmax.apply(x, _check_axis(x, axis if dim is None else dim))


def log_softmax(x, axis=-1, *, dim=None):
    """x - logsumexp(x) along ``axis``."""
    _check_tensor(x)
    return LogSoftmax.apply(x, _check_axis(x, axis if dim is None else dim))


def _linear_forward(x, weight, bias, activation, slope, need_preact=True):
    """(y, preact) of y = act(x Wᵀ + b); preact is what _linear_backward needs
    (None when need_preact is false: nothing will be differentiated)."""
    if _HAS_LINEAR_KERNELS and x.dtype in _KERNEL_DTYPES:
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
    if _HAS_LINEAR_KERNELS and x.dtype in _KERNEL_DTYPES:
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
        x, weight, bias = ctx.inputs[:3]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if not ctx._graph:
            gx, gw, gb = _linear_backward(g, x, weight, need_b, ctx.preact, ctx.y, ctx.activation,
                                          ctx.slope, need_x, need_w)
            return gx, gw, gb, None, None
        if ctx.activation not in ("identity", "relu", "leaky_relu"):
            return ctx._composite_backward(g, Linear._composite)
        # create_graph, piecewise-linear activation: act' is a constant mask, so
        # the gradients are recorded directly (no recomputed forward GEMM, which
        # the composite would need; the second-order work's fast path)
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
    b1, ...)`` with ``activations`` (one per layer) and ``slope`` settings.
    """

    @staticmethod
    def forward(ctx, x, *params, activations, slope):
        ctx.activations, ctx.slope = activations, slope
        if _CHAIN_FORWARD is not None:
            # the whole chain in one wrapper call (None: off its fast path)
            done = _CHAIN_FORWARD(x, params, activations, slope, ctx.recording)
            if done is not None:
                h, ctx.layer_inputs, ctx.saved = done
                return h
        inputs, saved = [], []
        h = x
        for i, act in enumerate(activations):
            if ctx.recording:                   # under no_grad nothing is kept (seed 000 Table 2.10)
                inputs.append(h)
            h, preact = _linear_forward(h, params[2 * i], params[2 * i + 1], act, slope, ctx.recording)
            if ctx.recording:
                saved.append((preact, h))
        ctx.layer_inputs, ctx.saved = inputs, saved
        return h

    def backward(ctx, g):
        if ctx._graph:
            return ctx._composite_backward(g, LinearChain._replay)
        params = ctx._raw[1:]
        needs = ctx.needs_input_grad
        if _CHAIN_BACKWARD is not None:
            grads = _CHAIN_BACKWARD(g, ctx.layer_inputs, params, ctx.saved, ctx.activations, ctx.slope, needs)
            if grads is not None:
                return tuple(grads)
        grads = [None] * len(ctx._raw)
        for i in range(len(ctx.activations) - 1, -1, -1):
            preact, output = ctx.saved[i]
            need_x = i > 0 or needs[0]
            gx, gw, gb = _linear_backward(g, ctx.layer_inputs[i], params[2 * i], params[2 * i + 1] is not None,
                                          preact, output, ctx.activations[i], ctx.slope, need_x,
                                          needs[1 + 2 * i])
            grads[1 + 2 * i], grads[2 + 2 * i] = gw, gb
            g = gx
        grads[0] = g if needs[0] else None
        return tuple(grads)

    # the plain (no create_graph) backward, compiled; the engine calls it
    # instead of backward() when present
    _plain_backward = getattr(_kernels, "_linear_chain_plain_backward", None)

    def _replay(ctx, x, *params):
        # create_graph: the chain as one Linear node per layer whose outputs are
        # the ones this forward saved, so no GEMM is recomputed and each layer
        # takes Linear's recorded backward (direct for piecewise-linear
        # activations; second-order work)
        h = x
        for i, act in enumerate(ctx.activations):
            h = _LinearReplay.apply(h, params[2 * i], params[2 * i + 1], act, ctx.slope,
                                    saved=ctx.saved[i])
        return h

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
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input of shape {x.shape} does not match weight of shape {weight.shape} "
                         f"(expected last dimension {weight.shape[1]})")
    if x.dtype != weight.dtype:
        raise _tensor._dtype_error(x.dtype, weight.dtype)
    if bias is not None:
        _check_tensor(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {bias.shape}")
        if bias.dtype != weight.dtype:
            raise _tensor._dtype_error(weight.dtype, bias.dtype)
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
