"""Linear (GEMM + bias) forward and backward, matvec, outer-product accumulation, linear on a vector.

Cases: neurocore.bench.cases, group "gemm" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="gemm"), ids=lambda case: case.name)
def test_gemm(run_case, case):
    run_case(case)
