"""MLP training steps (zero_grad, forward, cross-entropy, backward, SGD) and the engine's per-op cost.

Cases: neurocore.bench.cases, group "mlp" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="mlp"), ids=lambda case: case.name)
def test_mlp(run_case, case):
    run_case(case)
