"""Row softmax, its backward and log-softmax.

Cases: neurocore.bench.cases, group "softmax" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="softmax"), ids=lambda case: case.name)
def test_softmax(run_case, case):
    run_case(case)
