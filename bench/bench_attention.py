"""Fused attention forward and forward+backward against the full-score-matrix NumPy program.

Cases: neurocore.bench.cases, group "attention" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="attention"), ids=lambda case: case.name)
def test_attention(run_case, case):
    run_case(case)


def _extra_peak_bytes(fn):
    """Peak bytes allocated during fn beyond what existed before (NumPy
    reports its buffers to tracemalloc; the kernel allocates none)."""
    import tracemalloc

    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def test_attention_memory_n4096(benchmark, impl):
    import numpy as np

    from neurocore import kernels as K
    from neurocore.bench.cases import _np_attention

    if impl not in ("numpy", "neurocore"):
        pytest.skip(f"no {impl} implementation")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 4096, 64)).astype(np.float32) for _ in range(3))
    fn = (lambda: _np_attention(q, k, v)[0]) if impl == "numpy" else (lambda: K.attention_forward(q, k, v)[0])
    extra = _extra_peak_bytes(fn)
    benchmark.group = "attention forward (1, 1, 4096, 64)"
    benchmark.extra_info["peak_extra_MB"] = extra / 2**20
    if impl == "neurocore":
        # the output (1 MB) and one log-sum-exp per row: no N x N matrix
        assert extra <= 16 * 2**20
    else:
        assert extra >= 4096 * 4096 * 4          # the NumPy program holds the N x N scores
    benchmark.pedantic(fn, rounds=3, iterations=1)
