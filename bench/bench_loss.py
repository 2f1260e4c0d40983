"""Fused losses against the NumPy programs a user would write."""
import numpy as np
import pytest

import neurocore as nc
from neurocore import kernels as K


def numpy_cross_entropy(z, t):
    """Stable log-softmax, NLL (mean) and its gradient, as in a NumPy MLP."""
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(t)), t].mean()
    grad = np.exp(logp)
    grad[np.arange(len(t)), t] -= 1
    return loss, grad / len(t)


def neurocore_cross_entropy(z, t):
    loss, lse = K.cross_entropy_forward(z, t)
    return loss.mean(), K.cross_entropy_backward(z, t, lse, 1.0 / len(t))


@pytest.mark.parametrize("shape", [(256, 10), (1024, 1000)])
def test_cross_entropy(benchmark, impl, rng, shape):
    z = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(0, shape[1], shape[0])
    benchmark.group = f"cross_entropy fwd+bwd {shape[0]}x{shape[1]}"
    fn = numpy_cross_entropy if impl == "numpy" else neurocore_cross_entropy
    benchmark(fn, z, t)


def numpy_bce_with_logits(x, y):
    loss = (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()
    return loss, (1 / (1 + np.exp(-x)) - y) / x.size


def neurocore_bce_with_logits(x, y):
    return K.bce_with_logits_forward(x, y).mean(), K.bce_with_logits_backward(x, y, 1.0 / x.size)


def test_bce_with_logits(benchmark, impl, rng):
    x = rng.standard_normal(1 << 20).astype(np.float32)
    y = (rng.uniform(size=1 << 20) > 0.5).astype(np.float32)
    benchmark.group = "bce_with_logits fwd+bwd 2^20"
    fn = numpy_bce_with_logits if impl == "numpy" else neurocore_bce_with_logits
    with np.errstate(over="ignore"):
        benchmark(fn, x, y)


def test_cross_entropy_autograd(benchmark, impl, rng):
    z = rng.standard_normal((1024, 1000)).astype(np.float32)
    t = rng.integers(0, 1000, 1024)
    benchmark.group = "F.cross_entropy + backward 1024x1000 (vs NumPy by hand)"
    if impl == "numpy":
        benchmark(numpy_cross_entropy, z, t)
        return

    def step():
        x = nc.tensor(z, requires_grad=True)
        nc.functional.cross_entropy(x, t).backward()
        return x.grad

    benchmark(step)
