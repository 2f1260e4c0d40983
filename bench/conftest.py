"""Benchmark conventions.

Every case is a pytest-benchmark group holding one test per implementation:
parametrise with the `impl` fixture's values ("numpy", "neurocore"), set
``benchmark.group`` to the case name, and bench/report.py prints the ratio
numpy median / neurocore median for each group (> 1: neurocore is faster).

Run (NumPy's OpenBLAS is slowed by two variables this environment sets):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python -m pytest bench/bench_kernels.py --benchmark-json=/tmp/b.json -q
    python bench/report.py /tmp/b.json
"""
import numpy as np
import pytest

IMPLS = ["numpy", "neurocore"]


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
