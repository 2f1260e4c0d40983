"""ViT-Tiny/16 inference at batch 1 and 8 and one AdamW training step at batch 8 (NumPy: neurocore.bench.numpy_vit).

Cases: neurocore.bench.cases, group "vit" (python -m neurocore bench --list).
"""
import pytest

from neurocore.bench import select_cases


@pytest.mark.parametrize("case", select_cases(group="vit"), ids=lambda case: case.name)
def test_vit(run_case, case):
    run_case(case)
