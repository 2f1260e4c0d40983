"""The built-in benchmark cases: neurocore against the NumPy program a user
would write for the same job (and PyTorch / ONNX Runtime when installed).

Goals (``goal=``) are the ratios the performance issues ask for; a goal
``goal_vs="torch"`` or ``"onnxruntime"`` is judged only where that peer runs.
NumPy notes that decide a baseline's speed are kept next to each baseline
(x * x * x instead of x ** 3, np.maximum instead of np.where, ...): the
baselines are what a user who cares about speed writes.
"""
import math

import numpy as np

import neurocore as nc
from neurocore import functional as F
from neurocore import kernels as K
from neurocore.bench import numpy_vit, peers
from neurocore.bench._case import register

F32 = np.float32


def _f32(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(F32)


# ---- GEMM: the fused linear layer, matvec, outer product --------------------
# Shapes (M, K, N): an MNIST-sized MLP layer (64 and 256 examples, 784 -> 256
# or 512), the ViT-Tiny qkv and fc2 products over 8 images of 197 tokens
# (1576 rows), and a square 2048 GEMM.
GEMM_SHAPES = [(64, 784, 256), (256, 784, 512), (1576, 192, 576), (1576, 768, 192), (2048, 2048, 2048)]
GEMM_GOALS = {(64, 784, 256): 1.2, (256, 784, 512): 1.2, (1576, 192, 576): 1.2, (1576, 768, 192): 1.2,
              (2048, 2048, 2048): 1.0}
GELU_C = math.sqrt(2.0 / math.pi)


def _linear_operands(rng, shape, dtype):
    m, k, n = shape
    x = rng.standard_normal((m, k)).astype(dtype)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    return x, w, b


def _linear_forward_case(shape, dtype):
    def setup(rng):
        x, w, b = _linear_operands(rng, shape, dtype)
        impls = {"neurocore": lambda: K.linear_forward(x, w, b), "numpy": lambda: x @ w.T + b}
        torch = peers.torch()
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
            impls["torch"] = lambda: torch.nn.functional.linear(tx, tw, tb)
        return impls
    return setup


def _linear_backward_case(shape, dtype):
    def setup(rng):
        x, w, _ = _linear_operands(rng, shape, dtype)
        g = rng.standard_normal((shape[0], shape[2])).astype(dtype)
        return {"neurocore": lambda: K.linear_backward(g, x, w),
                "numpy": lambda: (g @ w, g.T @ x, g.sum(axis=0))}
    return setup


for _dt, _dtype in (("f32", np.float32), ("f64", np.float64)):
    for _shape in GEMM_SHAPES:
        _m, _k, _n = _shape
        _id = "x".join(map(str, _shape))
        _goal = GEMM_GOALS[_shape] if _dt == "f32" else None
        register(f"linear fwd {_dt} {_id}", group="gemm", flops=2.0 * _m * _k * _n, goal=_goal,
                 quick=_dt == "f32" and _shape in ((64, 784, 256), (1576, 192, 576)))(
            _linear_forward_case(_shape, _dtype))
        register(f"linear bwd {_dt} {_id}", group="gemm", flops=4.0 * _m * _k * _n)(
            _linear_backward_case(_shape, _dtype))


def _linear_gelu_case(shape):
    def setup(rng):
        # NumPy has no erf, so both sides use the tanh form of GELU
        x, w, b = _linear_operands(rng, shape, F32)

        def numpy_gelu():
            z = x @ w.T + b
            return 0.5 * z * (1.0 + np.tanh(GELU_C * (z + 0.044715 * z * z * z)))

        return {"neurocore": lambda: K.linear_forward(x, w, b, "gelu_tanh"), "numpy": numpy_gelu}
    return setup


for _shape in [(256, 784, 512), (1576, 192, 768)]:
    register(f"linear+gelu_tanh fwd f32 {'x'.join(map(str, _shape))}", group="gemm",
             flops=2.0 * math.prod(_shape))(_linear_gelu_case(_shape))


def _matvec_case(n):
    def setup(rng):
        w, x = _f32(rng, n, n), _f32(rng, n)
        impls = {"neurocore": lambda: K.matvec(w, x), "numpy": lambda: w @ x}
        torch = peers.torch()
        if torch is not None:
            tw, tx = torch.from_numpy(w), torch.from_numpy(x)
            impls["torch"] = lambda: torch.mv(tw, tx)
        return impls
    return setup


for _n in (256, 1024, 4096):
    register(f"matvec f32 {_n}x{_n}", group="gemm", flops=2.0 * _n * _n, goal=1.0 if _n == 256 else None,
             quick=_n == 256)(_matvec_case(_n))


def _outer_case(n):
    def setup(rng):
        g, d, a = _f32(rng, n, n), _f32(rng, n), _f32(rng, n)
        return {"neurocore": lambda: K.outer_acc(g, d, a), "numpy": lambda: g.__iadd__(np.outer(d, a))}
    return setup


for _n in (256, 1024):
    register(f"outer acc f32 {_n}x{_n}", group="gemm", flops=2.0 * _n * _n)(_outer_case(_n))


def _linear_vector_case(n):
    def setup(rng):
        """F.linear forward + backward on one vector: the autograd op against
        NumPy's three calls (W x + b, outer(g, x), Wᵀ g)."""
        w, b, x, g = _f32(rng, n, n, scale=1 / math.sqrt(n)), _f32(rng, n), _f32(rng, n), _f32(rng, n)
        tw, tb = nc.tensor(w, requires_grad=True), nc.tensor(b, requires_grad=True)
        tx, tg = nc.tensor(x, requires_grad=True), nc.tensor(g)

        def neurocore_step():
            tw.grad = tb.grad = tx.grad = None
            F.linear(tx, tw, tb).backward(tg)

        impls = {"neurocore": neurocore_step,
                 "numpy": lambda: (w @ x + b, np.outer(g, x), w.T @ g, g.copy())}
        torch = peers.torch()
        if torch is not None:
            pw, pb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
            px, pg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

            def torch_step():
                pw.grad = pb.grad = px.grad = None
                torch.nn.functional.linear(px, pw, pb).backward(pg)
            impls["torch"] = torch_step
        return impls
    return setup


for _n in (256, 1024):
    register(f"F.linear fwd+bwd on a vector {_n}", group="gemm", flops=6.0 * _n * _n, goal=1.5,
             quick=_n == 256)(_linear_vector_case(_n))


# ---- element-wise -------------------------------------------------------------
N_ELEMENTS = 1 << 20


def _elementwise_case(op):
    def setup(rng):
        a, b = _f32(rng, N_ELEMENTS), _f32(rng, N_ELEMENTS)
        if op == "axpy":
            return {"neurocore": lambda: K.axpy(0.5, a, b), "numpy": lambda: b.__iadd__(0.5 * a)}
        kernel, expression = {"add": (K.add, np.add), "mul": (K.mul, np.multiply)}[op]
        return {"neurocore": lambda: kernel(a, b), "numpy": lambda: expression(a, b)}
    return setup


for _op in ("add", "mul", "axpy"):
    register(f"{_op} 2^20", group="elementwise", quick=_op == "add")(_elementwise_case(_op))


@register("bias grad sum_rows 256x4096", group="elementwise")
def _sum_rows(rng):
    x = _f32(rng, 256, 4096)
    return {"neurocore": lambda: K.sum_rows(x), "numpy": lambda: x.sum(axis=0)}


# ---- activations ---------------------------------------------------------------
# Baselines (float32, 2^20 elements):
#   leaky_relu  np.maximum(x, 0.01 * x) (np.where(x > 0, x, 0.01 * x) runs
#               ~20x slower with NumPy 2.4 and would flatter neurocore)
#   gelu_tanh   x * x * x (np.power(x, 3) or x ** 3 makes NumPy ~20x slower)
#   gelu        NumPy has no erf (np.vectorize(math.erf) costs ~500 ns per
#               element), so the baseline is the tanh form, what a user who
#               cares about speed writes; neurocore computes the exact erf.
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu_tanh", "gelu"]
SLOPE, A_GELU, C_GELU = F32(0.01), F32(0.044715), F32(GELU_C)


def _np_activation(name, x):
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.maximum(x, SLOPE * x)
    return 0.5 * x * (1 + np.tanh(C_GELU * (x + A_GELU * x * x * x)))


def _np_activation_backward(name, x, g):
    """The forward, then grad_output times the derivative written from the
    saved tensors (s (1 - s), 1 - t², x > 0, ...)."""
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-x))
        return s, g * s * (1 - s)
    if name == "tanh":
        t = np.tanh(x)
        return t, g * (1 - t * t)
    if name == "relu":
        return np.maximum(x, 0), g * (x > 0)
    if name == "leaky_relu":
        return np.maximum(x, SLOPE * x), np.where(x > 0, g, SLOPE * g)
    x2 = x * x
    t = np.tanh(C_GELU * (x + A_GELU * x2 * x))
    return 0.5 * x * (1 + t), g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C_GELU * (1 + 3 * A_GELU * x2))


def _activation_case(name, backward):
    def setup(rng):
        x, g = _f32(rng, N_ELEMENTS, scale=2.0), _f32(rng, N_ELEMENTS)
        if not backward:
            return {"neurocore": lambda: K.activation_forward(x, name), "numpy": lambda: _np_activation(name, x)}

        def neurocore_fb():
            if name in ("gelu", "gelu_tanh"):
                # what the recorded op does: act' from the forward's own
                # erfc/exp, then one multiply (bit for bit the backward kernel)
                y, d = K.activation_forward_grad(x, name)
                return y, K.mul(g, d, out=d)
            y = K.activation_forward(x, name)
            return y, K.activation_backward(g, x, name, output=y)

        impls = {"neurocore": neurocore_fb, "numpy": lambda: _np_activation_backward(name, x, g)}
        torch = peers.torch()
        if torch is not None and name == "gelu":
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)

            def torch_fb():
                leaf = tx.detach().requires_grad_()
                torch.nn.functional.gelu(leaf).backward(tg)
                return leaf.grad
            impls["torch"] = torch_fb
        return impls
    return setup


for _name in ACTIVATIONS:
    register(f"{_name} forward 2^20", group="activation", quick=_name == "gelu")(_activation_case(_name, False))
    register(f"{_name} forward+backward 2^20", group="activation",
             goal=1.5 if _name == "gelu" else None, goal_vs="torch",
             quick=_name == "gelu")(_activation_case(_name, True))


def _math_case(name):
    def setup(rng):
        x = _f32(rng, N_ELEMENTS, scale=2.0)
        if name == "log":
            x = np.abs(x) + F32(1e-3)
        return {"neurocore": lambda: getattr(K, name)(x), "numpy": lambda: getattr(np, name)(x)}
    return setup


for _name in ("exp", "log"):
    register(f"{_name} 2^20", group="activation")(_math_case(_name))


# ---- softmax ---------------------------------------------------------------------
def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_case(n, backward):
    def setup(rng):
        x = _f32(rng, 3, n, n, scale=3.0)
        if not backward:
            return {"neurocore": lambda: K.softmax(x), "numpy": lambda: _np_softmax(x)}
        y, g = _np_softmax(x), _f32(rng, 3, n, n)
        return {"neurocore": lambda: K.softmax_backward(y, g),
                "numpy": lambda: y * (g - (g * y).sum(axis=-1, keepdims=True))}
    return setup


for _n in (197, 785):
    register(f"softmax 3x{_n}x{_n}", group="softmax", quick=_n == 197)(_softmax_case(_n, False))
    register(f"softmax backward 3x{_n}x{_n}", group="softmax")(_softmax_case(_n, True))


@register("log_softmax 3x785x785", group="softmax")
def _log_softmax(rng):
    x = _f32(rng, 3, 785, 785, scale=3.0)

    def numpy_log_softmax():
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    return {"neurocore": lambda: K.log_softmax(x), "numpy": numpy_log_softmax}


# ---- attention ---------------------------------------------------------------------
# The NumPy program: the full (B, h, N, N) score matrix, a max-subtracted exp,
# a sum, a division and two matmuls (seed 000 eq. 4.5).
ATTENTION_SHAPES = [(1, 3, 197, 64), (8, 3, 197, 64), (1, 3, 785, 64), (1, 12, 197, 64)]


def _np_attention(q, k, v):
    s = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(q.shape[-1]))
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return p @ v, p


def _np_attention_backward(q, k, v, g):
    out, p = _np_attention(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1])
    dv = p.transpose(0, 1, 3, 2) @ g
    dp = g @ v.transpose(0, 1, 3, 2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return out, ds @ k * scale, ds.transpose(0, 1, 3, 2) @ q * scale, dv


def _attention_case(shape, backward):
    def setup(rng):
        q, k, v, g = (_f32(rng, *shape) for _ in range(4))
        if not backward:
            impls = {"neurocore": lambda: K.attention_forward(q, k, v), "numpy": lambda: _np_attention(q, k, v)}
            torch = peers.torch()
            if torch is not None:
                tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
                impls["torch"] = lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
            return impls

        def neurocore_fb():
            out, lse = K.attention_forward(q, k, v)
            return (out,) + tuple(K.attention_backward(g, q, k, v, out, lse))

        return {"neurocore": neurocore_fb, "numpy": lambda: _np_attention_backward(q, k, v, g)}
    return setup


for _shape in ATTENTION_SHAPES:
    _b, _h, _n, _d = _shape
    register(f"attention forward {'x'.join(map(str, _shape))}", group="attention",
             flops=4.0 * _b * _h * _n * _n * _d, quick=_shape == (1, 3, 197, 64))(_attention_case(_shape, False))
    register(f"attention fwd+bwd {'x'.join(map(str, _shape))}", group="attention",
             flops=14.0 * _b * _h * _n * _n * _d)(_attention_case(_shape, True))


# ---- layer norm (the ViT's shape: 8 images x 197 tokens of 192) -----------------------
def _layer_norm_case(backward):
    def setup(rng):
        x, w, b, g = _f32(rng, 1576, 192), _f32(rng, 192), _f32(rng, 192), _f32(rng, 1576, 192)
        if not backward:
            impls = {"neurocore": lambda: K.layer_norm_forward(x, w, b, 1e-6),
                     "numpy": lambda: numpy_vit.layer_norm(x, w, b)}
            torch = peers.torch()
            if torch is not None:
                tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
                impls["torch"] = lambda: torch.nn.functional.layer_norm(tx, (192,), tw, tb, 1e-6)
            return impls

        def neurocore_fb():
            y, mean, rstd = K.layer_norm_forward(x, w, b, 1e-6)
            return y, K.layer_norm_backward(g, x, mean, rstd, w)

        def numpy_fb():
            y, cache = numpy_vit.layer_norm(x, w, b)
            return y, numpy_vit.layer_norm_backward(g, cache)

        return {"neurocore": neurocore_fb, "numpy": numpy_fb}
    return setup


register("layer_norm forward 1576x192", group="layernorm", quick=True)(_layer_norm_case(False))
register("layer_norm fwd+bwd 1576x192", group="layernorm")(_layer_norm_case(True))


# ---- losses ------------------------------------------------------------------------------
def _np_cross_entropy(z, t):
    """Stable log-softmax, NLL (mean) and its gradient, as in a NumPy MLP."""
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(t)), t].mean()
    grad = np.exp(logp)
    grad[np.arange(len(t)), t] -= 1
    return loss, grad / len(t)


def _cross_entropy_case(shape):
    def setup(rng):
        z, t = _f32(rng, *shape), rng.integers(0, shape[1], shape[0])

        def neurocore_ce():
            loss, lse = K.cross_entropy_forward(z, t)
            return loss.mean(), K.cross_entropy_backward(z, t, lse, 1.0 / len(t))

        return {"neurocore": neurocore_ce, "numpy": lambda: _np_cross_entropy(z, t)}
    return setup


for _shape in [(256, 10), (1024, 1000)]:
    register(f"cross_entropy fwd+bwd {_shape[0]}x{_shape[1]}", group="loss",
             quick=_shape == (256, 10))(_cross_entropy_case(_shape))


@register("bce_with_logits fwd+bwd 2^20", group="loss")
def _bce(rng):
    x = _f32(rng, N_ELEMENTS)
    y = (rng.uniform(size=N_ELEMENTS) > 0.5).astype(F32)

    def numpy_bce():
        loss = (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()
        with np.errstate(over="ignore"):
            return loss, (1 / (1 + np.exp(-x)) - y) / x.size

    return {"neurocore": lambda: (K.bce_with_logits_forward(x, y).mean(),
                                  K.bce_with_logits_backward(x, y, 1.0 / x.size)),
            "numpy": numpy_bce}


@register("F.cross_entropy + backward 1024x1000", group="loss")
def _cross_entropy_autograd(rng):
    z, t = _f32(rng, 1024, 1000), rng.integers(0, 1000, 1024)

    def step():
        x = nc.tensor(z, requires_grad=True)
        F.cross_entropy(x, t).backward()
        return x.grad

    return {"neurocore": step, "numpy": lambda: _np_cross_entropy(z, t)}


# ---- optimizers: one step on ViT-Tiny's 5.7M float32 parameters -----------------------
def vit_tiny_shapes(dim=192, depth=12, mlp=768, patch=16, tokens=197, classes=1000):
    """The 152 parameter shapes of ViT-Tiny/16."""
    shapes = [(dim, 3, patch, patch), (dim,), (1, 1, dim), (1, tokens, dim)]
    for _ in range(depth):
        shapes += [(dim,), (dim,), (3 * dim, dim), (3 * dim,), (dim, dim), (dim,),
                   (dim,), (dim,), (mlp, dim), (mlp,), (dim, mlp), (dim,)]
    return shapes + [(dim,), (dim,), (classes, dim), (classes,)]


class _Param:
    """What an optimizer sees of a Parameter: .data and .grad.data."""

    def __init__(self, data, grad):
        self.data, self.grad = data, _Grad(grad)


class _Grad:
    def __init__(self, data):
        self.data = data


# The NumPy programs: in-place where NumPy allows it, temporaries where it does not.
def _np_sgd(ps, gs, st, t, lr=1e-3, momentum=0.9, wd=1e-4):
    for p, g, b in zip(ps, gs, st["buf"]):
        d = g + wd * p
        b *= momentum
        b += d
        p -= lr * b


def _np_adagrad(ps, gs, st, t, lr=1e-2, eps=1e-10):
    for p, g, s in zip(ps, gs, st["sum"]):
        s += g * g
        p -= lr * g / (np.sqrt(s) + eps)


def _np_rmsprop(ps, gs, st, t, lr=1e-2, alpha=0.99, eps=1e-8):
    for p, g, v in zip(ps, gs, st["sq"]):
        v *= alpha
        v += (1 - alpha) * g * g
        p -= lr * g / (np.sqrt(v) + eps)


def _np_adam(ps, gs, st, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, m, v in zip(ps, gs, st["m"], st["v"]):
        if decoupled:
            p *= 1 - lr * wd
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= lr * (m / bc1) / (np.sqrt(v / bc2) + eps)


def _np_adamw(ps, gs, st, t):
    _np_adam(ps, gs, st, t, wd=1e-2, decoupled=True)


def _np_lamb(ps, gs, st, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, wd=1e-2):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, m, v in zip(ps, gs, st["m"], st["v"]):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        r = (m / bc1) / (np.sqrt(v / bc2) + eps) + wd * p
        pn, rn = np.linalg.norm(p), np.linalg.norm(r)
        p -= lr * (pn / rn if pn > 0 and rn > 0 else 1.0) * r


OPTIMIZERS = {
    "SGD(momentum)": (_np_sgd, ["buf"], lambda ps: nc.optim.SGD(ps, lr=1e-3, momentum=0.9, weight_decay=1e-4)),
    "Adagrad": (_np_adagrad, ["sum"], lambda ps: nc.optim.Adagrad(ps, lr=1e-2)),
    "RMSprop": (_np_rmsprop, ["sq"], lambda ps: nc.optim.RMSprop(ps, lr=1e-2)),
    "Adam": (_np_adam, ["m", "v"], lambda ps: nc.optim.Adam(ps, lr=1e-3)),
    "AdamW": (_np_adamw, ["m", "v"], lambda ps: nc.optim.AdamW(ps, lr=1e-3)),
    "LAMB": (_np_lamb, ["m", "v"], lambda ps: nc.optim.LAMB(ps, lr=1e-3, weight_decay=1e-2)),
}


def _optimizer_case(name, layout):
    def setup(rng):
        shapes = vit_tiny_shapes()
        if layout == "1 tensor":
            shapes = [(sum(math.prod(s) for s in shapes),)]
        np_step, roles, make = OPTIMIZERS[name]
        params = [rng.standard_normal(s, dtype=F32) for s in shapes]
        grads = [rng.standard_normal(s, dtype=F32) for s in shapes]
        np_params = [p.copy() for p in params]
        state = {r: [np.zeros_like(p) for p in params] for r in roles}
        counter = [0]

        def numpy_step():
            counter[0] += 1
            np_step(np_params, grads, state, counter[0])

        return {"neurocore": make([_Param(p, g) for p, g in zip(params, grads)]).step, "numpy": numpy_step}
    return setup


for _name in OPTIMIZERS:
    for _layout in ("1 tensor", "152 tensors"):
        register(f"{_name} step, 5.7M f32, {_layout}", group="optim",
                 quick=_name == "AdamW" and _layout == "152 tensors")(_optimizer_case(_name, _layout))


# ---- MLP training steps ---------------------------------------------------------------------
LR = 0.01


def _mlp_flops(batch, sizes):
    """Forward 2·B·Σ in·out, weight gradients the same, input gradients for
    every layer but the first."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    macs = sum(i * o for i, o in pairs)
    return 2.0 * batch * (2 * macs + macs - pairs[0][0] * pairs[0][1])


def _numpy_mlp_step(sizes, x, y):
    """The straightforward NumPy program: ReLU MLP, softmax cross-entropy, SGD."""
    rng = np.random.default_rng(0)
    Ws = [(rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(F32) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, F32) for o in sizes[1:]]
    rows = np.arange(len(y))

    def step():
        acts, pre = [x], []
        for k, (W, b) in enumerate(zip(Ws, bs)):
            z = acts[-1] @ W.T + b
            pre.append(z)
            acts.append(np.maximum(z, 0) if k < len(Ws) - 1 else z)
        z = acts[-1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()
        d = p
        d[rows, y] -= 1
        d /= len(y)
        for k in range(len(Ws) - 1, -1, -1):
            gW = d.T @ acts[k]
            gb = d.sum(axis=0)
            if k > 0:
                d = (d @ Ws[k]) * (pre[k - 1] > 0)
            Ws[k] -= LR * gW
            bs[k] -= LR * gb
        return loss

    return step


def _train_step(opt, model, x, target, cross_entropy):
    """One training step as a closure, for neurocore and PyTorch alike: zero
    the gradients, forward, cross-entropy, backward, update."""
    def step():
        opt.zero_grad()
        cross_entropy(model(x), target).backward()
        opt.step()
    return step


def _mlp_case(batch, sizes):
    def setup(rng):
        x = _f32(rng, batch, sizes[0])
        y = rng.integers(0, sizes[-1], batch)
        nc.manual_seed(0)
        model = nc.nn.MLP(sizes)
        opt = nc.optim.SGD(model.parameters(), lr=LR)
        impls = {"neurocore": _train_step(opt, model, nc.tensor(x), y, F.cross_entropy),
                 "numpy": _numpy_mlp_step(sizes, x, y)}
        torch = peers.torch()
        if torch is not None:
            layers = []
            for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(torch.nn.Linear(i, o))
                if k < len(sizes) - 2:
                    layers.append(torch.nn.ReLU())
            tmodel = torch.nn.Sequential(*layers)
            topt = torch.optim.SGD(tmodel.parameters(), lr=LR)
            impls["torch"] = _train_step(topt, tmodel, torch.from_numpy(x), torch.from_numpy(y),
                                         torch.nn.functional.cross_entropy)
        return impls
    return setup


MLP_CASES = [(1, [5, 3, 4, 3], None), (64, [784, 256, 10], 3.0), (256, [784, 512, 512, 10], 1.5)]
for _batch, _sizes, _goal in MLP_CASES:
    register(f"MLP train step B{_batch} {_sizes}", group="mlp", flops=_mlp_flops(_batch, _sizes),
             goal=_goal, goal_vs="torch", quick=_batch in (1, 64))(_mlp_case(_batch, _sizes))


def _tiny_ops_case(case):
    def setup(rng):
        """100 recorded ops on 64-element tensors (per-op cost = time / 100)."""
        a, b = np.ones(64, F32), np.full(64, 0.5, F32)
        at, bt = nc.tensor(a, requires_grad=True), nc.tensor(b)

        def numpy_chain():
            y = a
            for _ in range(100):
                y = y * b
            return y

        if case == "mul":
            def neurocore_chain():
                y = at
                for _ in range(100):
                    y = y * bt
                return y
        else:
            def neurocore_chain():
                at.grad = None
                y = at
                for _ in range(100):
                    y = y + bt
                y.sum().backward()

        impls = {"neurocore": neurocore_chain, "numpy": numpy_chain}
        torch = peers.torch()
        if torch is not None:
            ta, tb = torch.from_numpy(a).requires_grad_(), torch.from_numpy(b)

            def torch_chain():
                ta.grad = None
                y = ta
                for _ in range(100):
                    y = y * tb if case == "mul" else y + tb
                if case != "mul":
                    y.sum().backward()
            impls["torch"] = torch_chain
        return impls
    return setup


register("engine 100 tiny ops (mul, forward)", group="mlp")(_tiny_ops_case("mul"))
register("engine 100 tiny ops (add, forward+backward)", group="mlp", goal=3.0, goal_vs="torch",
         quick=True)(_tiny_ops_case("add_backward"))


# ---- ViT-Tiny/16 ------------------------------------------------------------------------------
TINY = dict(image_size=224, patch_size=16, dim=192, depth=12, num_heads=3)
_VIT_FLOPS = nc.nn.vit_cost(224, 16, 192, 12, 3).total_flops   # per image, forward


def _vit_tiny():
    nc.manual_seed(0)
    return nc.nn.VisionTransformer(**TINY)


def _timm_vit(state_dict):
    timm, torch = peers.timm(), peers.torch()
    if timm is None:
        return None
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
    return model


def _vit_inference_case(batch):
    def setup(rng):
        model = _vit_tiny()
        model.eval()
        state = model.state_dict()
        reference = numpy_vit.NumpyViT(state, TINY["num_heads"])
        x = _f32(rng, batch, 3, 224, 224)
        xt = nc.tensor(x)

        def neurocore_forward():
            with nc.no_grad():
                return model(xt)

        impls = {"neurocore": neurocore_forward, "numpy": lambda: reference.forward(x)}
        if peers.onnxruntime() is not None:
            path = peers.onnx_vit(state, TINY["num_heads"], batch, TINY["image_size"])
            if path is not None:
                session = peers.onnx_session(path)
                impls["onnxruntime"] = lambda: session.run(None, {"images": x})
        tmodel = _timm_vit(state)
        if tmodel is not None:
            torch = peers.torch()
            tmodel.eval()
            tx = torch.from_numpy(x)

            def torch_forward():
                with torch.inference_mode():
                    return tmodel(tx)
            impls["torch"] = torch_forward
        return impls
    return setup


for _batch in (1, 8):
    register(f"ViT-Tiny/16 inference B{_batch}", group="vit", flops=_VIT_FLOPS * _batch, goal=1.6,
             goal_vs="onnxruntime", quick=_batch == 1, min_rounds=3)(_vit_inference_case(_batch))


@register("ViT-Tiny/16 AdamW train step B8", group="vit", flops=3 * _VIT_FLOPS * 8, goal=1.5, goal_vs="torch",
          min_rounds=3)
def _vit_train(rng):
    model = _vit_tiny()
    state = model.state_dict()
    reference = numpy_vit.NumpyViT(state, TINY["num_heads"])
    x = _f32(rng, 8, 3, 224, 224)
    labels = rng.integers(0, 1000, 8)
    opt = nc.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    np_opt = numpy_vit.AdamW(reference.params, lr=1e-4, weight_decay=0.05)
    impls = {"neurocore": _train_step(opt, model, nc.tensor(x), labels, F.cross_entropy),
             "numpy": lambda: numpy_vit.train_step(reference, np_opt, x, labels)}
    tmodel = _timm_vit(state)
    if tmodel is not None:
        torch = peers.torch()
        topt = torch.optim.AdamW(tmodel.parameters(), lr=1e-4, weight_decay=0.05)
        impls["torch"] = _train_step(topt, tmodel, torch.from_numpy(x), torch.from_numpy(labels),
                                     torch.nn.functional.cross_entropy)
    return impls


# ---- second order: gradient and Hessian-vector product of MLP [784, 256, 10], B64 -------------
SO_SIZES, SO_BATCH = (784, 256, 10), 64


def _second_order_problem(rng):
    x = _f32(rng, SO_BATCH, SO_SIZES[0])
    target = rng.integers(0, SO_SIZES[2], SO_BATCH)
    params = [(rng.standard_normal((SO_SIZES[1], SO_SIZES[0])) / np.sqrt(SO_SIZES[0])).astype(F32),
              np.zeros(SO_SIZES[1], F32),
              (rng.standard_normal((SO_SIZES[2], SO_SIZES[1])) / np.sqrt(SO_SIZES[1])).astype(F32),
              np.zeros(SO_SIZES[2], F32)]
    u = [rng.standard_normal(p.shape).astype(F32) for p in params]
    return x, target, params, u


def second_order_loss(x, target):
    """The MLP's loss as a function of its four parameter tensors."""
    xt = nc.tensor(x)

    def f(W1, b1, W2, b2):
        return F.cross_entropy(F.linear(F.relu(F.linear(xt, W1, b1)), W2, b2), target)
    return f


def numpy_gradient(x, target, W1, b1, W2, b2):
    """The backward pass by hand."""
    z1 = x @ W1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2.T + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = p.copy()
    dz2[np.arange(len(x)), target] -= 1
    dz2 /= len(x)
    dz1 = (dz2 @ W2) * (z1 > 0)
    return dz1.T @ x, dz1.sum(0), dz2.T @ a1, dz2.sum(0)


def numpy_hvp(x, target, W1, b1, W2, b2, V1, c1, V2, c2):
    """The exact HVP by Pearlmutter's R-operator: R{·} = d/dr (·)(θ + r u) at r = 0."""
    n = len(x)
    z1 = x @ W1.T + b1
    mask = z1 > 0
    a1 = z1 * mask
    z2 = a1 @ W2.T + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = p.copy()
    dz2[np.arange(n), target] -= 1
    dz2 /= n
    Rz1 = x @ V1.T + c1                                          # R forward pass
    Ra1 = Rz1 * mask                                              # ReLU'' = 0
    Rz2 = Ra1 @ W2.T + a1 @ V2.T + c2
    Rdz2 = p * (Rz2 - (p * Rz2).sum(axis=1, keepdims=True)) / n   # softmax-CE Hessian
    Rdz1 = (Rdz2 @ W2 + dz2 @ V2) * mask                          # R backward pass
    return Rdz1.T @ x, Rdz1.sum(0), Rdz2.T @ a1 + dz2.T @ Ra1, Rdz2.sum(0)


def _second_order_case(kind, module):
    def setup(rng):
        from neurocore.autograd import functional as AF

        x, target, params, u = _second_order_problem(rng)
        numpy_fn = ((lambda: numpy_gradient(x, target, *params)) if kind == "gradient"
                    else (lambda: numpy_hvp(x, target, *params, *u)))
        if not module:
            f = second_order_loss(x, target)
            if kind == "gradient":
                leaves = [nc.tensor(p, requires_grad=True) for p in params]
                return {"neurocore": lambda: nc.grad([f(*leaves)], leaves), "numpy": numpy_fn}
            inputs, vs = tuple(nc.tensor(p) for p in params), tuple(nc.tensor(v) for v in u)
            return {"neurocore": lambda: AF.hvp(f, inputs, vs), "numpy": numpy_fn}
        model = nc.nn.MLP(list(SO_SIZES))
        for p, value in zip(model.parameters(), params):
            p.data[...] = value
        ps, xt, us = list(model.parameters()), nc.tensor(x), [nc.tensor(v) for v in u]
        if kind == "gradient":
            return {"neurocore": lambda: nc.grad([F.cross_entropy(model(xt), target)], ps), "numpy": numpy_fn}

        def hvp():
            # forward, recorded backward, second backward seeded with u (seed 000 §2.11.2)
            grads = nc.grad([F.cross_entropy(model(xt), target)], ps, create_graph=True)
            return nc.grad(list(grads), ps, grad_outputs=us)
        return {"neurocore": hvp, "numpy": numpy_fn}
    return setup


for _module in (False, True):
    for _kind in ("gradient", "HVP"):
        register(f"{'nn.MLP' if _module else 'MLP'} 784-256-10 B64: {_kind}", group="second_order",
                 quick=_kind == "HVP" and not _module)(_second_order_case(_kind, _module))
