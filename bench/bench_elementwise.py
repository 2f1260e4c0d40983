"""The Hadamard family and the bias-gradient row sum.

Cases: neurocore.bench.cases, group "elementwise" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="elementwise"), ids=lambda case: case.name)
def test_elementwise(run_case, case):
    run_case(case)
