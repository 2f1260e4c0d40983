"""Fused attention against the NumPy program a user would write: the full
(B, h, N, N) score matrix, a max-subtracted exp, a sum, a division and two
matmuls (seed 000 eq. 4.5); forward and forward+backward, and the extra
peak memory of one forward at N = 4096.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/bench_attention.py \\
        --benchmark-json=/tmp/attn.json -q && python bench/report.py /tmp/attn.json
"""
import math
import tracemalloc

import numpy as np
import pytest

from neurocore import kernels as K

SHAPES = [(1, 3, 197, 64), (8, 3, 197, 64), (1, 3, 785, 64), (1, 12, 197, 64)]


def numpy_forward(q, k, v):
    s = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(q.shape[-1]))
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return p @ v, p


def numpy_forward_backward(q, k, v, g):
    out, p = numpy_forward(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1])
    dv = p.transpose(0, 1, 3, 2) @ g
    dp = g @ v.transpose(0, 1, 3, 2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return out, ds @ k * scale, ds.transpose(0, 1, 3, 2) @ q * scale, dv


def neurocore_forward_backward(q, k, v, g):
    out, lse = K.attention_forward(q, k, v)
    return (out,) + K.attention_backward(g, q, k, v, out, lse)


def _operands(shape, rng):
    return tuple(rng.standard_normal(shape).astype(np.float32) for _ in range(4))


def _flops(shape, backward=False):
    B, H, N, d = shape
    return B * H * N * N * d * 2 * (2 + (5 if backward else 0))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_forward(benchmark, impl, rng, shape):
    q, k, v, _ = _operands(shape, rng)
    benchmark.group = f"attention forward {shape}"
    benchmark.extra_info["flops"] = _flops(shape)
    if impl == "numpy":
        benchmark(numpy_forward, q, k, v)
    else:
        benchmark(K.attention_forward, q, k, v)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_forward_backward(benchmark, impl, rng, shape):
    q, k, v, g = _operands(shape, rng)
    benchmark.group = f"attention fwd+bwd {shape}"
    benchmark.extra_info["flops"] = _flops(shape, backward=True)
    benchmark(numpy_forward_backward if impl == "numpy" else neurocore_forward_backward, q, k, v, g)


def _extra_peak_bytes(fn, *args):
    """Peak bytes allocated during fn beyond what its arguments hold
    (NumPy reports its buffers to tracemalloc; the kernel allocates none)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def test_attention_memory_n4096(benchmark, impl, rng):
    shape = (1, 1, 4096, 64)
    q, k, v, _ = _operands(shape, rng)
    fn = (lambda: numpy_forward(q, k, v)[0]) if impl == "numpy" else (lambda: K.attention_forward(q, k, v)[0])
    extra = _extra_peak_bytes(fn)
    benchmark.group = "attention forward (1, 1, 4096, 64)"
    benchmark.extra_info["peak_extra_MB"] = extra / 2**20
    print(f"\n{impl}: extra peak memory of one forward at N=4096: {extra / 2**20:.1f} MB")
    if impl == "neurocore":
        # the output (1 MB) and one log-sum-exp per row: no N x N matrix
        assert extra <= 16 * 2**20
    benchmark.pedantic(fn, rounds=3, iterations=1)
