"""Interleaved minimum-time comparison of the bench_gemm.py cases.

    python bench/gemm_minima.py            # all cores
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/gemm_minima.py

On a machine shared with other work, medians of multi-threaded calls are
dominated by scheduler time slices; alternating numpy and neurocore calls
and keeping each side's minimum measures both at their uncontended moments.
Prints a markdown table (ratio = numpy time / neurocore time).
"""
import time

import numpy as np

from neurocore import kernels as K

SHAPES = [(64, 784, 256), (256, 784, 512), (1576, 192, 576), (1576, 768, 192), (2048, 2048, 2048)]
GELU_C = np.sqrt(2 / np.pi)


def pair(f_numpy, f_neurocore, budget=1.5):
    """Minimum times of the two callables, called alternately for ~budget s."""
    f_numpy(), f_neurocore()
    start = time.perf_counter()
    f_numpy(), f_neurocore()
    once = time.perf_counter() - start
    reps = int(min(max(5, budget / max(once, 1e-7)), 3000))
    t_numpy, t_neurocore = [], []
    for _ in range(reps):
        start = time.perf_counter()
        f_numpy()
        t_numpy.append(time.perf_counter() - start)
        start = time.perf_counter()
        f_neurocore()
        t_neurocore.append(time.perf_counter() - start)
    return min(t_numpy), min(t_neurocore)


def row(name, t_numpy, t_neurocore, flops):
    print(f"| {name:34s} | {t_numpy * 1e6:10.1f} | {t_neurocore * 1e6:10.1f} | {t_numpy / t_neurocore:5.2f}x "
          f"| {flops / t_numpy / 1e9:6.1f} | {flops / t_neurocore / 1e9:6.1f} |", flush=True)


def main():
    rng = np.random.default_rng(0)
    print("| case | numpy min us | neurocore min us | ratio | numpy GFLOPS | neurocore GFLOPS |")
    print("|---|---|---|---|---|---|")
    for dtype, name in ((np.float32, "f32"), (np.float64, "f64")):
        for m, k, n in SHAPES:
            x = rng.standard_normal((m, k)).astype(dtype)
            w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            g = rng.standard_normal((m, n)).astype(dtype)
            flops = 2.0 * m * n * k
            row(f"linear fwd {name} {m}x{k}x{n}", *pair(lambda: x @ w.T + b, lambda: K.linear_forward(x, w, b)), flops)
            row(f"linear bwd {name} {m}x{k}x{n}",
                *pair(lambda: (g @ w, g.T @ x, g.sum(0)), lambda: K.linear_backward(g, x, w)), 2 * flops)
    for m, k, n in [(256, 784, 512), (1576, 192, 768)]:
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)

        def numpy_gelu():
            z = x @ w.T + b
            return 0.5 * z * (1.0 + np.tanh(GELU_C * (z + 0.044715 * z ** 3)))

        row(f"linear+gelu_tanh f32 {m}x{k}x{n}",
            *pair(numpy_gelu, lambda: K.linear_forward(x, w, b, "gelu_tanh")), 2.0 * m * n * k)
    for n in (256, 1024, 4096):
        w = rng.standard_normal((n, n)).astype(np.float32)
        v = rng.standard_normal(n).astype(np.float32)
        row(f"matvec f32 {n}x{n}", *pair(lambda: w @ v, lambda: K.matvec(w, v)), 2.0 * n * n)
    for n in (256, 1024):
        acc = rng.standard_normal((n, n)).astype(np.float32)
        d = rng.standard_normal(n).astype(np.float32)
        a = rng.standard_normal(n).astype(np.float32)
        row(f"outer acc f32 {n}x{n}",
            *pair(lambda: acc.__iadd__(np.outer(d, a)), lambda: K.outer_acc(acc, d, a)), 2.0 * n * n)


if __name__ == "__main__":
    main()
