"""neurocore: a small neural-network core in SIMD, multi-threaded C.

Import as ``import neurocore as nc``.  The API follows PyTorch's names and
semantics; see the README.
"""
__version__ = "0.1.0"

import os

from neurocore import kernels
from neurocore._kernels import get_isa, get_num_threads, set_num_threads
from neurocore import _threadpoolctl

_threadpoolctl.register(__version__)

# ---- autograd engine, tensors, files ----------
from neurocore._grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: E402
from neurocore._engine import grad  # noqa: E402
from neurocore._tensor import (  # noqa: E402
    Tensor, tensor, manual_seed, zeros, ones, zeros_like, ones_like, randn, rand, arange,
    concatenate, cat, stack, where, from_dlpack,
)
from neurocore._io import save, load  # noqa: E402

# ---- subpackages -----------------------------------------------------------
from neurocore import autograd, calibration, functional, memory, nn, optim  # noqa: E402


def get_include():
    """The folder of neurocore's public C headers and Cython declarations,
    for building other extensions against the C API (as numpy.get_include()):
    ``neurocore/nc.h`` (the kernels' contracts), ``neurocore/nc_api.h`` (the
    table of kernel pointers and ``nc_import_api()``) and
    ``neurocore/nc_api.pxd`` (the same table for ``cimport``).  Pass it as an
    include directory to the C compiler and as an include path to Cython."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
