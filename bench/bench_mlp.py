"""MLP training step (zero_grad, forward, cross-entropy, backward, SGD step)
against the same step hand-written in NumPy, and the engine's per-op cost.

Cross-entropy is nc.functional.cross_entropy when the losses work has landed,
otherwise log_softmax + NLL written here; the SGD step is nc.optim.SGD when
present, otherwise one in-place axpy kernel per parameter.
"""
import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F
from neurocore import kernels as K

CASES = [(1, [5, 3, 4, 3]), (64, [784, 256, 10]), (256, [784, 512, 512, 10])]
LR = 0.01


def _cross_entropy(logits, target):
    if hasattr(F, "cross_entropy"):
        return F.cross_entropy(logits, target)
    logp = F.log_softmax(logits, axis=-1)
    return -logp[np.arange(len(target)), target].mean()


def _neurocore_step(sizes, x, y):
    nc.manual_seed(0)
    model = nc.nn.MLP(sizes)
    params = list(model.parameters())
    xt = nc.tensor(x)
    sgd = getattr(nc.optim, "SGD", None)
    if sgd is not None:
        opt = sgd(params, lr=LR)

        def step():
            opt.zero_grad()
            loss = _cross_entropy(model(xt), y)
            loss.backward()
            opt.step()
    else:
        def step():
            model.zero_grad()
            loss = _cross_entropy(model(xt), y)
            loss.backward()
            for p in params:
                K.axpy(-LR, p.grad.data, p.data)
    return step


def _numpy_step(sizes, x, y):
    """The straightforward NumPy program: ReLU MLP, softmax cross-entropy, SGD."""
    rng = np.random.default_rng(0)
    Ws = [(rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    rows = np.arange(len(y))

    assert all(a.dtype == np.float32 for a in Ws + bs)

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


@pytest.mark.parametrize("batch,sizes", CASES, ids=[f"B{b}-{'-'.join(map(str, s))}" for b, s in CASES])
def test_mlp_training_step(benchmark, impl, rng, batch, sizes):
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    benchmark.group = f"MLP train step B={batch} {sizes}"
    step = (_numpy_step if impl == "numpy" else _neurocore_step)(sizes, x, y)
    step()
    benchmark(step)


@pytest.mark.parametrize("case", ["mul", "add_backward"])
def test_engine_overhead_tiny_ops(benchmark, impl, case):
    """100 recorded ops on 4-element tensors (per-op cost = median / 100)."""
    a = np.ones(4, np.float32)
    b = np.full(4, 0.5, np.float32)
    benchmark.group = f"engine 100 tiny ops ({case})"
    if impl == "numpy":
        def run():
            y = a
            for _ in range(100):
                y = y * b
            return y
    else:
        at = nc.tensor(a, requires_grad=True)
        bt = nc.tensor(b)
        if case == "mul":
            def run():
                y = at
                for _ in range(100):
                    y = y * bt
                return y
        else:
            def run():
                y = at
                for _ in range(100):
                    y = y + bt
                y.sum().backward()
    benchmark(run)
