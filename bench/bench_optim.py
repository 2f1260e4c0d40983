"""One optimizer step on ViT-Tiny's 5.7M float32 parameters, as one tensor
and as ViT-Tiny's 152 tensors: nc.optim (one fused C pass per element, one
C call per group) against the NumPy program a user would write for the same
update (in-place where NumPy allows it, temporaries where it does not)."""
import math

import numpy as np
import pytest

from neurocore import optim


def vit_tiny_shapes(dim=192, depth=12, mlp=768, patch=16, tokens=197, classes=1000):
    shapes = [(dim, 3, patch, patch), (dim,), (1, 1, dim), (1, tokens, dim)]
    for _ in range(depth):
        shapes += [(dim,), (dim,), (3 * dim, dim), (3 * dim,), (dim, dim), (dim,),
                   (dim,), (dim,), (mlp, dim), (mlp,), (dim, mlp), (dim,)]
    shapes += [(dim,), (dim,), (classes, dim), (classes,)]
    return shapes


SHAPES = vit_tiny_shapes()
TOTAL = sum(math.prod(s) for s in SHAPES)
assert len(SHAPES) == 152
LAYOUTS = {"1 tensor": [(TOTAL,)], "152 tensors": SHAPES}


class _Param:
    """What an optimizer sees of a Parameter: .data and .grad (.data)."""

    def __init__(self, data, grad):
        self.data = data
        self.grad = _Grad(grad)


class _Grad:
    def __init__(self, data):
        self.data = data


# ---- the NumPy programs --------------------------------------------------------
def np_sgd(ps, gs, st, t, lr=1e-3, momentum=0.9, wd=1e-4):
    for p, g, b in zip(ps, gs, st["buf"]):
        d = g + wd * p
        b *= momentum
        b += d
        p -= lr * b


def np_adagrad(ps, gs, st, t, lr=1e-2, eps=1e-10):
    for p, g, s in zip(ps, gs, st["sum"]):
        s += g * g
        p -= lr * g / (np.sqrt(s) + eps)


def np_rmsprop(ps, gs, st, t, lr=1e-2, alpha=0.99, eps=1e-8):
    for p, g, v in zip(ps, gs, st["sq"]):
        v *= alpha
        v += (1 - alpha) * g * g
        p -= lr * g / (np.sqrt(v) + eps)


def np_adam(ps, gs, st, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, m, v in zip(ps, gs, st["m"], st["v"]):
        if decoupled:
            p *= 1 - lr * wd
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= lr * (m / bc1) / (np.sqrt(v / bc2) + eps)


def np_adamw(ps, gs, st, t):
    np_adam(ps, gs, st, t, wd=1e-2, decoupled=True)


def np_lamb(ps, gs, st, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, wd=1e-2):
    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, m, v in zip(ps, gs, st["m"], st["v"]):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        r = (m / bc1) / (np.sqrt(v / bc2) + eps) + wd * p
        pn, rn = np.linalg.norm(p), np.linalg.norm(r)
        p -= lr * (pn / rn if pn > 0 and rn > 0 else 1.0) * r


CASES = {
    "SGD(momentum)": (np_sgd, ["buf"], lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9, weight_decay=1e-4)),
    "Adagrad": (np_adagrad, ["sum"], lambda ps: optim.Adagrad(ps, lr=1e-2)),
    "RMSprop": (np_rmsprop, ["sq"], lambda ps: optim.RMSprop(ps, lr=1e-2)),
    "Adam": (np_adam, ["m", "v"], lambda ps: optim.Adam(ps, lr=1e-3)),
    "AdamW": (np_adamw, ["m", "v"], lambda ps: optim.AdamW(ps, lr=1e-3)),
    "LAMB": (np_lamb, ["m", "v"], lambda ps: optim.LAMB(ps, lr=1e-3, weight_decay=1e-2)),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_step(benchmark, impl, rng, case, layout):
    shapes = LAYOUTS[layout]
    params = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    benchmark.group = f"{case} step, 5.7M f32, {layout}"
    np_step, roles, make = CASES[case]
    if impl == "numpy":
        state = {r: [np.zeros_like(p) for p in params] for r in roles}
        counter = [0]

        def run():
            counter[0] += 1
            np_step(params, grads, state, counter[0])
    else:
        opt = make([_Param(p, g) for p, g in zip(params, grads)])
        run = opt.step
    benchmark.pedantic(run, warmup_rounds=2, rounds=15, iterations=1)
