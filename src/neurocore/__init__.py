"""neurocore: a small neural-network core in SIMD, multi-threaded C.

Import as ``import neurocore as nc``.  The API follows PyTorch's names and
semantics; see the README.
"""
__version__ = "0.1.0"

from neurocore import kernels
from neurocore._kernels import get_isa, get_num_threads, set_num_threads
from neurocore import _threadpoolctl

_threadpoolctl.register(__version__)

# ---- autograd engine, tensors, files (owned by the autograd work) ----------
from neurocore._tensor import (  # noqa: E402
    Tensor, tensor, no_grad, enable_grad, set_grad_enabled, is_grad_enabled, grad, manual_seed,
    zeros, ones, zeros_like, ones_like, randn, rand, arange, concatenate, cat, stack, where,
)
from neurocore._io import save, load  # noqa: E402

# ---- subpackages -----------------------------------------------------------
from neurocore import autograd, calibration, functional, nn, optim  # noqa: E402
