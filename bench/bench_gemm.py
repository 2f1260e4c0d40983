"""GEMM, the fused Linear layer, matvec and outer-product accumulation
against the NumPy programs a user would write (NumPy's @ is OpenBLAS).

Shapes (M, K, N): an MNIST-sized MLP layer (64 and 256 examples, 784 -> 256
or 512), the ViT-Tiny qkv and MLP products over a batch of 8 images of 197
tokens (1576 rows), and a square 2048 GEMM.
"""
import numpy as np
import pytest

from neurocore import kernels as K

SHAPES = [(64, 784, 256), (256, 784, 512), (1576, 192, 576), (1576, 768, 192), (2048, 2048, 2048)]
DTYPES = {"f32": np.float32, "f64": np.float64}
GELU_C = np.sqrt(2.0 / np.pi)


def _ids(shape):
    return "x".join(map(str, shape))


def _linear_operands(rng, shape, dtype):
    m, k, n = shape
    x = rng.standard_normal((m, k)).astype(dtype)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_linear_forward(benchmark, impl, rng, shape, dt):
    x, w, b = _linear_operands(rng, shape, DTYPES[dt])
    m, k, n = shape
    benchmark.group = f"linear fwd {dt} {_ids(shape)}"
    benchmark.extra_info["flops"] = 2.0 * m * k * n
    if impl == "numpy":
        benchmark(lambda: x @ w.T + b)
    else:
        benchmark(lambda: K.linear_forward(x, w, b))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_linear_backward(benchmark, impl, rng, shape, dt):
    x, w, _ = _linear_operands(rng, shape, DTYPES[dt])
    m, k, n = shape
    g = rng.standard_normal((m, n)).astype(DTYPES[dt])
    benchmark.group = f"linear bwd {dt} {_ids(shape)}"
    benchmark.extra_info["flops"] = 4.0 * m * k * n
    if impl == "numpy":
        benchmark(lambda: (g @ w, g.T @ x, g.sum(axis=0)))
    else:
        benchmark(lambda: K.linear_backward(g, x, w))


@pytest.mark.parametrize("shape", [(256, 784, 512), (1576, 192, 768)], ids=_ids)
def test_linear_gelu_forward(benchmark, impl, rng, shape):
    # NumPy has no erf, so both sides use the tanh form of GELU
    x, w, b = _linear_operands(rng, shape, np.float32)
    m, k, n = shape
    benchmark.group = f"linear+gelu_tanh fwd f32 {_ids(shape)}"
    benchmark.extra_info["flops"] = 2.0 * m * k * n

    def numpy_gelu():
        z = x @ w.T + b
        return 0.5 * z * (1.0 + np.tanh(GELU_C * (z + 0.044715 * z ** 3)))

    benchmark(numpy_gelu if impl == "numpy" else (lambda: K.linear_forward(x, w, b, "gelu_tanh")))


@pytest.mark.parametrize("n", [256, 1024, 4096])
def test_matvec(benchmark, impl, rng, n):
    w = rng.standard_normal((n, n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    benchmark.group = f"matvec f32 {n}x{n}"
    benchmark.extra_info["flops"] = 2.0 * n * n
    benchmark((lambda: w @ x) if impl == "numpy" else (lambda: K.matvec(w, x)))


@pytest.mark.parametrize("n", [256, 1024])
def test_outer_acc(benchmark, impl, rng, n):
    g = rng.standard_normal((n, n)).astype(np.float32)
    d = rng.standard_normal(n).astype(np.float32)
    a = rng.standard_normal(n).astype(np.float32)
    benchmark.group = f"outer acc f32 {n}x{n}"
    benchmark.extra_info["flops"] = 2.0 * n * n

    def numpy_outer():
        g.__iadd__(np.outer(d, a))

    benchmark(numpy_outer if impl == "numpy" else (lambda: K.outer_acc(g, d, a)))
