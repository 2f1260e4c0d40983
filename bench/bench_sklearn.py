"""neurocore.sklearn against scikit-learn, and the C API's per-call saving.

Cases: neurocore.bench.embed_cases, groups "sklearn" and "capi" (what each
row measures and its goal are in that module's docstring; ``python -m
neurocore bench --filter sklearn`` runs the same rows with alternated
rounds in one process).  Run:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest bench/bench_sklearn.py --benchmark-json=/tmp/b.json -q
    python bench/report.py /tmp/b.json

``python bench/bench_sklearn.py`` prints the digits test accuracy of both
estimators (the fit rows are compared at equal accuracy, within 1 point).
"""
import pytest

from neurocore.bench import select_cases
from neurocore.bench.embed_cases import DIGITS_KW, digits_split, fit


@pytest.mark.parametrize("case", select_cases(group="sklearn"), ids=lambda case: case.name)
def test_sklearn(run_case, case):
    pytest.importorskip("sklearn")
    run_case(case)


@pytest.mark.parametrize("case", select_cases(group="capi"), ids=lambda case: case.name)
def test_capi(run_case, case):
    pytest.importorskip("Cython")
    run_case(case)


def test_digits_accuracy_is_scikit_learns():
    """The fit rows compare equal work: the same epochs reach the same test
    accuracy (within 1 point)."""
    pytest.importorskip("sklearn")
    Xtr, Xte, ytr, yte = digits_split()
    ours = fit("neurocore", Xtr, ytr, DIGITS_KW).score(Xte, yte)
    theirs = fit("numpy", Xtr, ytr, DIGITS_KW).score(Xte, yte)
    assert abs(ours - theirs) <= 0.01, (ours, theirs)


if __name__ == "__main__":
    Xtr, Xte, ytr, yte = digits_split()
    for impl, name in (("numpy", "scikit-learn"), ("neurocore", "neurocore.sklearn")):
        print(f"{name:18s} digits test accuracy {fit(impl, Xtr, ytr, DIGITS_KW).score(Xte, yte):.4f}")
