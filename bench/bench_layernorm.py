"""Layer norm at the ViT's shape, forward and forward+backward.

Cases: neurocore.bench.cases, group "layernorm" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="layernorm"), ids=lambda case: case.name)
def test_layernorm(run_case, case):
    run_case(case)
