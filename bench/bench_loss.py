"""Fused losses (cross-entropy, BCE with logits) against the NumPy programs.

Cases: neurocore.bench.cases, group "loss" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="loss"), ids=lambda case: case.name)
def test_loss(run_case, case):
    run_case(case)
