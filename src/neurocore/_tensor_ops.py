"""The elementary ops: the Op subclasses that Tensor's own methods use.

Arithmetic (Add ... MatMul), reductions, shape ops, indexing, element-wise
math, and the activations and softmax (with their NumPy references), each
op's local derivative next to its forward.  They belong to the engine
layer, not to neurocore.functional, because Tensor's methods (``+``,
``.sum()``, ``.relu()``, ``.softmax()``) are built on them; functional
re-exports the public ones.  Imports point one way: neurocore._engine (Op,
TensorBase) <- this module <- neurocore._tensor (Tensor).  The ops test
``isinstance(x, TensorBase)``, Tensor's base class, to tell a create_graph
backward (Tensors) from a plain one (arrays).
"""
import math

import numpy as np

from neurocore import _kernels
from neurocore._engine import Op, TensorBase, _unbroadcast


# ---------------------------------------------------------------------------
# Helpers that work on arrays (normal backward) and Tensors (create_graph)
# (_unbroadcast, which Function uses too, is in neurocore._engine)
# ---------------------------------------------------------------------------


def _broadcast(g, shape):
    if isinstance(g, TensorBase):
        return g.expand(shape)
    out = np.empty(shape, g.dtype)         # np.broadcast_to costs ~3 µs of Python; a fill does not
    out[...] = g
    return out


def _exp(x):
    return x.exp() if isinstance(x, TensorBase) else np.exp(x)


def _log(x):
    if isinstance(x, (int, float)):
        return math.log(x)          # np.log(2) would be a float64 scalar and upcast float32
    return x.log() if isinstance(x, TensorBase) else np.log(x)


def _permute(g, dims):
    return g.permute(dims) if isinstance(g, TensorBase) else g.transpose(dims)


def _swap(g, a, b):
    return g.transpose(a, b) if isinstance(g, TensorBase) else g.swapaxes(a, b)


def _shape(x):
    return x.shape if hasattr(x, "shape") else ()


# ---------------------------------------------------------------------------
# Ops: forward and its local derivative side by side
# ---------------------------------------------------------------------------


class Add(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g):                   # d(a+b)/da = d(a+b)/db = 1
        a, b = ctx._raw
        need_a, need_b = ctx.needs_input_grad
        shape = g.shape
        return ((g if a.shape == shape else _unbroadcast(g, a.shape)) if need_a else None,
                (g if b.shape == shape else _unbroadcast(g, b.shape)) if need_b else None)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g):                   # d/da = 1, d/db = -1
        a, b = ctx._raw
        need_a, need_b = ctx.needs_input_grad
        return ((g if a.shape == g.shape else _unbroadcast(g, a.shape)) if need_a else None,
                _unbroadcast(-g, b.shape) if need_b else None)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    def backward(ctx, g):                   # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g * b, _shape(a)) if need_a else None,
                _unbroadcast(g * a, _shape(b)) if need_b else None)


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a / b

    def backward(ctx, g):                   # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        a, b = ctx.inputs
        return (_unbroadcast(g / b, _shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None)


class Pow(Op):
    save_output = True

    @staticmethod
    def forward(ctx, a, b):
        return a ** b

    def backward(ctx, g):                   # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
        a, b = ctx.inputs
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(g * b * a ** (b - 1), _shape(a))
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(g * ctx.output * _log(a), _shape(b))
        return ga, gb


class Neg(Op):
    @staticmethod
    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


class Clone(Op):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


class Cast(Op):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.from_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, g):
        return g.to(ctx.from_dtype) if isinstance(g, TensorBase) else g.astype(ctx.from_dtype)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _matmul(a, b):
    """a @ b, on neurocore's GEMM wherever it applies (2-D or more, one float
    dtype, leading dimensions equal or one operand 2-D), so one thread pool
    does the products of a graph: OpenBLAS's workers spin for ~0.1 s after
    each product and take the cores from the kernels' threads."""
    if isinstance(a, TensorBase) or isinstance(b, TensorBase):
        return a @ b
    if (a.ndim >= 2 and b.ndim >= 2 and a.dtype == b.dtype and a.dtype in _FLOAT_DTYPES
            and (a.ndim == 2 or b.ndim == 2 or a.shape[:-2] == b.shape[:-2])):
        return _kernels.matmul(a, b)
    return a @ b


class MatMul(Op):
    """a @ b like np.matmul (1-D operands promoted, batch dims broadcast)."""

    @staticmethod
    def forward(ctx, a, b):
        return _matmul(a, b)

    def backward(ctx, g):                   # dA = G Bᵀ, dB = Aᵀ G (outer products summed, seed 000 §2.9)
        a, b = ctx.inputs
        if a.ndim == 2 and b.ndim == 2:     # the common case, kept short
            return (_matmul(g, b.mT) if ctx.needs_input_grad[0] else None,
                    _matmul(a.mT, g) if ctx.needs_input_grad[1] else None)
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if b.ndim > 1 else g2.reshape((1,) + g2.shape)
        if b.ndim == 1:
            g2 = g2.reshape(g2.shape + (1,))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(_matmul(g2, b2.mT), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(_matmul(a2.mT, g2), b2.shape).reshape(b.shape)
        return ga, gb


class Sum(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(ctx, g):                   # every summed element gets the output's gradient
        (x,) = ctx._raw
        if not ctx.keepdims:
            g = g.reshape(_keepdims_shape(x.shape, ctx.axis))
        return _broadcast(g, x.shape)


def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes} if shape else set()
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Mean(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        total = x.sum(axis=axis, keepdims=keepdims)   # np.mean's Python wrapper costs more than the sum
        ctx.count = x.size // max(total.size, 1) if x.size else 0
        if not ctx.count:
            return np.full(np.shape(total), np.nan, x.dtype)   # mean of nothing: NaN, as PyTorch
        return total / ctx.count

    def backward(ctx, g):                   # d mean / dx_i = 1/n
        (x,) = ctx._raw
        g = g.reshape(_keepdims_shape(x.shape, ctx.axis))
        return _broadcast(g / ctx.count if ctx.count else g, x.shape)


class Max(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        out = x.max(axis=axis, keepdims=True)
        # ties share the gradient equally (like np.amax's subgradient in PyTorch's amax)
        weights = (x == out).astype(x.dtype)
        weights /= weights.sum(axis=axis, keepdims=True)
        ctx.weights = weights
        if keepdims:
            return out
        return out.reshape(()) if axis is None else out.squeeze(axis)

    def backward(ctx, g):
        (x,) = ctx._raw
        return g.reshape(_keepdims_shape(x.shape, ctx.axis)) * ctx.weights


class Reshape(Op):
    @staticmethod
    def forward(ctx, x, shape):
        return x.reshape(shape)

    def backward(ctx, g):
        return g.reshape(ctx._raw[0].shape)


class Permute(Op):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    def backward(ctx, g):
        return _permute(g, tuple(np.argsort(ctx.dims).tolist()))


class SwapAxes(Op):
    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.dims = (dim0, dim1)
        return x.swapaxes(dim0, dim1)

    def backward(ctx, g):
        return _swap(g, *ctx.dims)


class BroadcastTo(Op):
    @staticmethod
    def forward(ctx, x, shape):
        shape = tuple(n if n != -1 else x.shape[i - len(shape) + x.ndim] for i, n in enumerate(shape))
        return np.broadcast_to(x, shape)

    def backward(ctx, g):
        return _unbroadcast(g, ctx._raw[0].shape)


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


class Index(Op):
    @staticmethod
    def forward(ctx, x, index):
        ctx.index = index
        return x[index]

    def backward(ctx, g):                   # scatter-add into zeros of the input's shape
        x = ctx._raw[0]
        if isinstance(g, TensorBase):
            return IndexAdd.apply(g, shape=x.shape, index=ctx.index)
        return _index_add(g, x.shape, ctx.index)


def _index_add(g, shape, index):
    out = np.zeros(shape, g.dtype)
    if _is_advanced(index):
        np.add.at(out, index, g)            # repeated integer indices accumulate
    else:
        out[index] = g
    return out


class IndexAdd(Op):
    """zeros(shape) with g added at ``index``: the adjoint of indexing."""

    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        return _index_add(g, shape, index)

    def backward(ctx, gg):
        return gg[ctx.index]


class Exp(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return np.exp(x)

    def backward(ctx, g):                   # d eˣ/dx = eˣ
        return g * ctx.output


class Log(Op):
    @staticmethod
    def forward(ctx, x):
        return np.log(x)

    def backward(ctx, g):                   # d log x/dx = 1/x
        return g / ctx.inputs[0]


class Sqrt(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return np.sqrt(x)

    def backward(ctx, g):                   # d √x/dx = 1/(2√x)
        return g / (2 * ctx.output)


class Abs(Op):
    @staticmethod
    def forward(ctx, x):
        return np.abs(x)

    def backward(ctx, g):                   # sign(x), with sign(0) = 0 as PyTorch
        return g * np.sign(ctx._raw[0])


class Clamp(Op):
    @staticmethod
    def forward(ctx, x, lo, hi):
        out = x
        if lo is not None:
            out = np.maximum(out, np.asarray(lo, x.dtype))
        if hi is not None:
            out = np.minimum(out, np.asarray(hi, x.dtype))
        # gradient flows where min <= x <= max (PyTorch's convention at the bounds)
        mask = np.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        ctx.mask = mask
        return out if out is not x else x.copy()

    def backward(ctx, g):
        return g * ctx.mask.astype(ctx._raw[0].dtype)


class Where(Op):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.condition = condition
        return np.where(condition, a, b)

    def backward(ctx, g):
        a, b = ctx._raw[1], ctx._raw[2]
        keep = ctx.condition.astype(g.dtype)
        return (None,
                _unbroadcast(g * keep, _shape(a)) if ctx.needs_input_grad[1] else None,
                _unbroadcast(g * (1 - keep), _shape(b)) if ctx.needs_input_grad[2] else None)


class Concatenate(Op):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return np.concatenate(arrays, axis=axis)

    def backward(ctx, g):                   # each input gets its slice back
        axis = ctx.axis % g.ndim
        grads, start = [], 0
        for x in ctx._raw:
            stop = start + x.shape[axis]
            grads.append(g[(slice(None),) * axis + (slice(start, stop),)])
            start = stop
        return tuple(grads)


class Stack(Op):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(ctx, g):
        axis = ctx.axis % g.ndim
        return tuple(g[(slice(None),) * axis + (i,)] for i in range(len(ctx._raw)))


# ---------------------------------------------------------------------------
# Activations and softmax: engine-layer ops, since Tensor's own methods
# (sigmoid, tanh, relu, softmax, log_softmax) use them; neurocore.functional
# re-exports them.  Backward formulas (seed 000 §1.1, §2.9): σ' = σ(1-σ),
# tanh' = 1-tanh², ReLU' = 𝕀[z>0] (0 at 0), GELU' = Φ(x) + xφ(x),
# softmax: y ⊙ (g - Σ g⊙y), log-softmax: g - eʸ Σ g.
# ---------------------------------------------------------------------------

_ACTIVATIONS = ("identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh")
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
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
    if x.dtype in _KERNEL_DTYPES:
        return _kernels.activation_forward(x, activation, negative_slope=slope)
    return _np_forward(x, activation, slope)


def _act_backward(g, x, y, activation, slope):
    if x.dtype in _KERNEL_DTYPES:
        return _kernels.activation_backward(g, x, activation, negative_slope=slope, output=y)
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

# activations whose derivative costs about what the forward does: a recorded
# forward writes it beside the output from the same erfc/exp, and the
# backward is one multiply (bit for bit the backward kernel's result)
_DERIVATIVE_IN_FORWARD = frozenset({"gelu", "gelu_tanh"})


class Activation(Op):
    """y = act(x) element-wise, one kernel pass each way."""

    save_output = True

    @staticmethod
    def forward(ctx, x, activation, slope):
        ctx.activation, ctx.slope = activation, slope
        if ctx.recording and activation in _DERIVATIVE_IN_FORWARD and x.dtype in _KERNEL_DTYPES:
            y, ctx.derivative = _kernels.activation_forward_grad(x, activation, negative_slope=slope)
            return y
        ctx.derivative = None
        return _act_forward(x, activation, slope)

    def backward(ctx, g):
        if not ctx._graph:
            if ctx.derivative is not None:
                return _kernels.mul(g, ctx.derivative), None, None
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
        if x.dtype in _KERNEL_DTYPES:
            return _kernels.erf(x)
        return _erf_np(x).astype(x.dtype)

    def backward(ctx, g):                   # d erf(x)/dx = 2/√π e^{-x²}
        x = ctx.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * _exp(-(x * x))


def _check_tensor(x, name="input"):
    if not isinstance(x, TensorBase):
        raise TypeError(f"{name} must be a neurocore Tensor, got {type(x).__name__}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating point tensor, got dtype {x.data.dtype}")


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
    """negative_slope as a float; TypeError unless a real number, ValueError
    unless finite (the kernels' scalar validator)."""
    return _kernels._real_scalar(negative_slope, "negative_slope")


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
    return x.dtype in _KERNEL_DTYPES and axis in (-1, x.ndim - 1) and x.ndim > 0


class Softmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return _kernels.softmax(x) if _last_axis(x, axis) else _np_softmax(x, axis)

    def backward(ctx, g):                   # y ⊙ (g - Σ g⊙y)
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return _kernels.softmax_backward(y, g), None
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return _kernels.log_softmax(x) if _last_axis(x, axis) else _np_log_softmax(x, axis)

    def backward(ctx, g):                   # g - softmax ⊙ Σ g
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return _kernels.log_softmax_backward(y, g), None
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
