"""Second order: one gradient and one Hessian-vector product of the MLP
[784, 256, 10] (ReLU, cross-entropy) at batch 64, float32.

NumPy baselines are the hand-written programs: the backward pass, and the
exact HVP by Pearlmutter's R-operator (forward R-pass through the
network, then the backward pass differentiated along u).  neurocore's HVP
is ``autograd.functional.hvp``: forward, recorded backward, the scalar
∇fᵀu and a second backward pass (seed 000 §2.11).

The goal of the issue is HVP ≤ 4 × gradient for neurocore; compare the
neurocore medians of the two groups (bench/README.md records them).
"""
import numpy as np
import pytest

import neurocore as nc
import neurocore.autograd.functional as AF

SIZES = (784, 256, 10)
BATCH = 64


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    target = rng.integers(0, SIZES[2], BATCH)
    params = [
        (rng.standard_normal((SIZES[1], SIZES[0])) / np.sqrt(SIZES[0])).astype(np.float32),
        np.zeros(SIZES[1], np.float32),
        (rng.standard_normal((SIZES[2], SIZES[1])) / np.sqrt(SIZES[1])).astype(np.float32),
        np.zeros(SIZES[2], np.float32),
    ]
    u = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    return x, target, params, u


def _loss(x, target):
    F = nc.functional
    xt = nc.tensor(x)

    def f(W1, b1, W2, b2):
        return F.cross_entropy(F.linear(F.relu(F.linear(xt, W1, b1)), W2, b2), target)
    return f


# ---- NumPy: the programs a user would write by hand ----------------------

def numpy_gradient(x, target, W1, b1, W2, b2):
    z1 = x @ W1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2.T + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = p.copy()
    dz2[np.arange(len(x)), target] -= 1
    dz2 /= len(x)
    da1 = dz2 @ W2
    dz1 = da1 * (z1 > 0)
    return dz1.T @ x, dz1.sum(0), dz2.T @ a1, dz2.sum(0)


def numpy_hvp(x, target, W1, b1, W2, b2, V1, c1, V2, c2):
    """Pearlmutter's R-operator: R{·} = d/dr (·)(θ + r u) at r = 0."""
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
    # R forward pass
    Rz1 = x @ V1.T + c1
    Ra1 = Rz1 * mask                              # ReLU'' = 0
    Rz2 = Ra1 @ W2.T + a1 @ V2.T + c2
    Rdz2 = p * (Rz2 - (p * Rz2).sum(axis=1, keepdims=True)) / n  # softmax-CE Hessian
    # R backward pass
    Rda1 = Rdz2 @ W2 + dz2 @ V2
    Rdz1 = Rda1 * mask
    return Rdz1.T @ x, Rdz1.sum(0), Rdz2.T @ a1 + dz2.T @ Ra1, Rdz2.sum(0)


def test_numpy_reference_matches(problem):
    """The two NumPy programs agree with neurocore (float64) before being timed."""
    x, target, params, u = problem
    p64 = [p.astype(np.float64) for p in params]
    u64 = [v.astype(np.float64) for v in u]
    f = _loss(x.astype(np.float64), target)
    inputs = tuple(nc.tensor(p) for p in p64)
    _, grads = AF.vjp(f, inputs)
    for a, b in zip(grads, numpy_gradient(x.astype(np.float64), target, *p64)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-12)
    _, hv = AF.hvp(f, inputs, tuple(nc.tensor(v) for v in u64))
    for a, b in zip(hv, numpy_hvp(x.astype(np.float64), target, *p64, *u64)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-8, atol=1e-10)


def test_gradient(benchmark, impl, problem):
    x, target, params, _ = problem
    benchmark.group = "MLP 784-256-10 b64: gradient"
    if impl == "numpy":
        benchmark(lambda: numpy_gradient(x, target, *params))
        return
    f = _loss(x, target)
    leaves = [nc.tensor(p, requires_grad=True) for p in params]
    benchmark(lambda: nc.grad([f(*leaves)], leaves))


def test_hvp(benchmark, impl, problem):
    x, target, params, u = problem
    benchmark.group = "MLP 784-256-10 b64: HVP"
    if impl == "numpy":
        benchmark(lambda: numpy_hvp(x, target, *params, *u))
        return
    f = _loss(x, target)
    inputs = tuple(nc.tensor(p) for p in params)
    vs = tuple(nc.tensor(v) for v in u)
    benchmark(lambda: AF.hvp(f, inputs, vs))


# ---- the same through nn.MLP (one fused LinearChain node), closure style ---

@pytest.fixture(scope="module")
def module_problem(problem):
    x, target, params, u = problem
    model = nc.nn.MLP(list(SIZES))
    for p, value in zip(model.parameters(), params):
        p.data[...] = value
    xt = nc.tensor(x)
    return model, (lambda: nc.functional.cross_entropy(model(xt), target)), u


def test_module_gradient(benchmark, impl, problem, module_problem):
    x, target, params, _ = problem
    benchmark.group = "nn.MLP 784-256-10 b64: gradient"
    if impl == "numpy":
        benchmark(lambda: numpy_gradient(x, target, *params))
        return
    model, closure, _ = module_problem
    ps = list(model.parameters())
    benchmark(lambda: nc.grad([closure()], ps))


def test_module_hvp(benchmark, impl, problem, module_problem):
    x, target, params, u = problem
    benchmark.group = "nn.MLP 784-256-10 b64: HVP"
    if impl == "numpy":
        benchmark(lambda: numpy_hvp(x, target, *params, *u))
        return
    model, closure, _ = module_problem
    ps = list(model.parameters())
    us = [nc.tensor(v) for v in u]

    def hvp():
        # forward, recorded backward, second backward seeded with u (seed 000 §2.11.2)
        grads = nc.grad([closure()], ps, create_graph=True)
        return nc.grad(list(grads), ps, grad_outputs=us)
    benchmark(hvp)


def test_module_hvp_matches_functional(problem, module_problem):
    x, target, params, u = problem
    model, closure, _ = module_problem
    ps = list(model.parameters())
    grads = nc.grad([closure()], ps, create_graph=True)
    hv = nc.grad(list(grads), ps, grad_outputs=[nc.tensor(v) for v in u])
    _, ref = AF.hvp(_loss(x, target), tuple(nc.tensor(p) for p in params),
                    tuple(nc.tensor(v) for v in u))
    for a, b in zip(hv, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
