"""Shared fixtures: every kernel test runs on every ISA path the CPU has,
and in both dtypes, with one tolerance table."""
import numpy as np
import pytest

import neurocore
from neurocore import _kernels

ISAS = _kernels.supported_isas()

# Tolerances against a NumPy/float64 reference, per dtype.
TOL = {
    np.float32: dict(rtol=2e-5, atol=1e-6),
    np.float64: dict(rtol=1e-12, atol=1e-14),
}
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
