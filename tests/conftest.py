"""Shared fixtures: every kernel test runs on every ISA path the CPU has,
and in both dtypes, with one tolerance table."""
import numpy as np
import pytest

import neurocore
from neurocore import _kernels
from _tolerances import TOL  # noqa: F401  (the shared table: tests/_tolerances.py)

ISAS = _kernels.supported_isas()

# Hypothesis profiles of the property suites (tests/properties, run through
# test_properties.py): "neurocore" (the default) keeps CI to about two
# minutes with fixed examples; --hypothesis-profile=long searches deeper.
try:
    from hypothesis import HealthCheck, settings
except ImportError:                         # hypothesis is a test extra
    settings = None
else:
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile("neurocore", max_examples=40, deadline=None, derandomize=True,
                              database=None, suppress_health_check=_quiet, print_blob=True)
    settings.register_profile("long", max_examples=1500, deadline=None, database=None,
                              suppress_health_check=_quiet, print_blob=True)
    settings.load_profile("neurocore")

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test with the kernels forced onto one ISA path."""
    previous = _kernels.get_isa()
    _kernels._set_isa(request.param)
    yield request.param
    _kernels._set_isa(previous)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def threads():
    """Restores the thread count a test changes."""
    previous = neurocore.get_num_threads()
    yield neurocore.set_num_threads
    neurocore.set_num_threads(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def assert_same_in_threads(compute, workers=2, rounds=10):
    """Runs compute() `rounds` times on each of `workers` Python threads at
    once and asserts every result is bitwise the result of a first, lone call
    (an array or a tuple of arrays) and that no call raised: the kernels
    release the GIL and must be reentrant."""
    import threading

    def as_tuple(r):
        return r if isinstance(r, tuple) else (r,)

    expected = as_tuple(compute())
    problems = []

    def work():
        try:
            for _ in range(rounds):
                got = as_tuple(compute())
                if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, expected)):
                    problems.append("mismatch")
        except Exception as exc:  # reported below, with the thread's error
            problems.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems[:3]
