"""Activations forward and forward+backward, exp and log, over 2^20 float32 elements.

Cases: neurocore.bench.cases, group "activation" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="activation"), ids=lambda case: case.name)
def test_activation(run_case, case):
    run_case(case)
