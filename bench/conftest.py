"""The pytest-benchmark suite: the package's benchmark cases
(neurocore.bench.cases), one pytest-benchmark group per case and one test
per implementation ("numpy", "neurocore", and "torch" / "onnxruntime" where
installed and the case has them).  bench/report.py prints the ratio table.

Run (NumPy's OpenBLAS is slowed by two variables some environments set):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest bench/bench_gemm.py --benchmark-json=/tmp/b.json -q
    python bench/report.py /tmp/b.json

``python -m neurocore bench`` runs the same cases without pytest, with
alternated rounds in one process (the numbers bench/README.md quotes).
"""
import numpy as np
import pytest

from neurocore import get_isa
from neurocore.bench import peers

IMPLS = ["numpy", "neurocore"]
CASE_IMPLS = IMPLS + [name for name, present in (("torch", peers.torch()), ("onnxruntime", peers.onnxruntime()))
                      if present]


@pytest.fixture(params=IMPLS)
def impl(request):
    """The two sides of a hand-written benchmark file (bench_coexist, ...)."""
    return request.param


@pytest.fixture(params=CASE_IMPLS)
def case_impl(request):
    """Every implementation a registered case may have, the installed peers included."""
    return request.param


@pytest.fixture
def run_case(benchmark, case_impl):
    """run_case(case): time case's `case_impl` implementation as the group case.name."""
    impl = case_impl

    def run(case):
        impls = case.setup(np.random.default_rng(0))
        if impl not in impls:
            pytest.skip(f"{case.name!r} has no {impl} implementation")
        benchmark.group = case.name
        benchmark.extra_info.update(impl=impl, isa=get_isa(), flops=case.flops, goal=case.goal,
                                    goal_vs=case.goal_vs)
        fn = impls[impl]
        if case.min_rounds < 5:            # the slow cases (ViT): a few rounds only
            benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
        else:
            benchmark(fn)

    return run
