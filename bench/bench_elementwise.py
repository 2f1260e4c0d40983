"""Hadamard family against the NumPy expressions a user would write."""
import numpy as np
import pytest

from neurocore import kernels as K

N = 1 << 20


@pytest.mark.parametrize("op", ["add", "mul", "axpy"])
def test_elementwise(benchmark, impl, rng, op):
    a = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    benchmark.group = f"{op} 2^20"
    if op == "axpy":
        fn = (lambda: b.__iadd__(0.5 * a)) if impl == "numpy" else (lambda: K.axpy(0.5, a, b))
    elif impl == "numpy":
        fn = (lambda: a + b) if op == "add" else (lambda: a * b)
    else:
        fn = (lambda: K.add(a, b)) if op == "add" else (lambda: K.mul(a, b))
    benchmark(fn)


def test_sum_rows(benchmark, impl, rng):
    x = rng.standard_normal((256, 4096)).astype(np.float32)
    benchmark.group = "bias grad sum_rows 256x4096"
    benchmark((lambda: x.sum(axis=0)) if impl == "numpy" else (lambda: K.sum_rows(x)))
