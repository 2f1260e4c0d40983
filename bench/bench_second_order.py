"""Gradient and Hessian-vector product of an MLP, functional and through nn.MLP.

Cases: neurocore.bench.cases, group "second_order" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="second_order"), ids=lambda case: case.name)
def test_second_order(run_case, case):
    run_case(case)
