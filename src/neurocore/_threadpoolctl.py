"""threadpoolctl support (optional: threadpoolctl is not a dependency).

When threadpoolctl is installed, a controller for neurocore's thread runtime
is registered with it, so ``threadpoolctl.threadpool_info()`` lists
neurocore and ``threadpool_limits(n)`` limits its kernels as it limits
OpenBLAS and OpenMP.  The controller finds the runtime by the file name of
the extension module that holds it (_nc_core) and drives ``set_num_threads`` /
``get_num_threads``.
"""
import os

from neurocore import _kernels, _nc_core


def register(version):
    """Registers the controller with threadpoolctl; False when threadpoolctl
    is absent or too old to accept controllers (before 3.5)."""
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not (hasattr(threadpoolctl, "register") and hasattr(threadpoolctl, "LibController")):
        return False

    class NeurocoreController(threadpoolctl.LibController):
        user_api = "neurocore"
        internal_api = "neurocore"
        filename_prefixes = (os.path.basename(_nc_core.__file__),)

        def get_num_threads(self):
            return _kernels.get_num_threads()

        def set_num_threads(self, num_threads):
            _kernels.set_num_threads(num_threads)

        def get_version(self):
            return version

    threadpoolctl.register(NeurocoreController)
    return True
