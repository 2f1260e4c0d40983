"""neurocore: a small neural-network core in SIMD, multi-threaded C.

Import as ``import neurocore as nc``.  See the README and DESIGN for the API;
it follows PyTorch's names and semantics.
"""
__version__ = "0.1.0"

from neurocore import kernels
from neurocore._kernels import get_isa, get_num_threads, set_num_threads

__all__ = ["kernels", "get_isa", "get_num_threads", "set_num_threads", "__version__"]
