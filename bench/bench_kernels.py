"""Activations, vector math and row softmax against the NumPy a user would write.

Baselines (float32, 2^20 elements unless stated):
  sigmoid      1 / (1 + np.exp(-x))
  tanh         np.tanh(x)
  relu         np.maximum(x, 0)
  leaky_relu   np.maximum(x, 0.01 * x) (np.where(x > 0, x, 0.01 * x), the
               common idiom, runs ~20x slower with this NumPy 2.4 build, so
               it would flatter neurocore; the backward still uses np.where)
  gelu_tanh    0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x * x * x)))
               (x * x * x: np.power(x, 3) or x**3 would make NumPy ~20x slower)
  gelu (exact) NumPy has no erf; np.vectorize(math.erf) runs ~500 ns per
               element, so the baseline is the tanh form above, what a user
               who cares about speed writes (neurocore computes the exact erf)
  exp, log     np.exp, np.log
Forward+backward: the forward, then grad_output times the derivative written
from the saved tensors (s (1 - s), 1 - t^2, x > 0, ...); neurocore calls
activation_forward then activation_backward with the saved output.
Softmax over the last axis of (3, N, N): np.exp(x - max) / sum, and its
backward y * (g - sum(g * y)).
"""
import math

import numpy as np
import pytest

from neurocore import kernels as K

N = 1 << 20
C = np.float32(math.sqrt(2.0 / math.pi))
A = np.float32(0.044715)
SLOPE = np.float32(0.01)
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu_tanh", "gelu"]


def np_forward(name, x):
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.maximum(x, SLOPE * x)
    return 0.5 * x * (1 + np.tanh(C * (x + A * x * x * x)))


def np_forward_backward(name, x, g):
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
    t = np.tanh(C * (x + A * x2 * x))
    y = 0.5 * x * (1 + t)
    return y, g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * A * x2))


def nc_forward(name, x):
    return K.activation_forward(x, name)


def nc_forward_backward(name, x, g):
    y = K.activation_forward(x, name)
    return y, K.activation_backward(g, x, name, output=y)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward(benchmark, impl, rng, name):
    x = (2 * rng.standard_normal(N)).astype(np.float32)
    benchmark.group = f"{name} forward 2^20"
    benchmark((lambda: np_forward(name, x)) if impl == "numpy" else (lambda: nc_forward(name, x)))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(benchmark, impl, rng, name):
    x = (2 * rng.standard_normal(N)).astype(np.float32)
    g = rng.standard_normal(N).astype(np.float32)
    benchmark.group = f"{name} forward+backward 2^20"
    if impl == "numpy":
        benchmark(lambda: np_forward_backward(name, x, g))
    else:
        benchmark(lambda: nc_forward_backward(name, x, g))


@pytest.mark.parametrize("name", ["exp", "log"])
def test_math(benchmark, impl, rng, name):
    x = (2 * rng.standard_normal(N)).astype(np.float32)
    if name == "log":
        x = np.abs(x) + np.float32(1e-3)
    benchmark.group = f"{name} 2^20"
    benchmark(getattr(np if impl == "numpy" else K, name), x)


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("n", [197, 785])
def test_softmax(benchmark, impl, rng, n):
    x = (3 * rng.standard_normal((3, n, n))).astype(np.float32)
    benchmark.group = f"softmax 3x{n}x{n}"
    benchmark((lambda: np_softmax(x)) if impl == "numpy" else (lambda: K.softmax(x)))


@pytest.mark.parametrize("n", [197, 785])
def test_softmax_backward(benchmark, impl, rng, n):
    y = np_softmax((3 * rng.standard_normal((3, n, n))).astype(np.float32))
    g = rng.standard_normal((3, n, n)).astype(np.float32)
    benchmark.group = f"softmax backward 3x{n}x{n}"
    if impl == "numpy":
        benchmark(lambda: y * (g - (g * y).sum(axis=-1, keepdims=True)))
    else:
        benchmark(lambda: K.softmax_backward(y, g))


def test_log_softmax(benchmark, impl, rng):
    x = (3 * rng.standard_normal((3, 785, 785))).astype(np.float32)
    benchmark.group = "log_softmax 3x785x785"
    if impl == "numpy":
        def np_log_softmax():
            shifted = x - x.max(axis=-1, keepdims=True)
            return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        benchmark(np_log_softmax)
    else:
        benchmark(lambda: K.log_softmax(x))
