"""One optimizer step on ViT-Tiny's 5.7M parameters, as one tensor and as its 152 tensors.

Cases: neurocore.bench.cases, group "optim" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="optim"), ids=lambda case: case.name)
def test_optim(run_case, case):
    run_case(case)
