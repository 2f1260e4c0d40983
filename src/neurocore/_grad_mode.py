"""Grad mode: whether operations record a graph (per thread, like PyTorch's).

``no_grad``, ``enable_grad`` and ``set_grad_enabled`` switch it (as context
managers or decorators), ``is_grad_enabled`` reads it.  It sits below the
engine (neurocore._engine) because everything that records or runs a graph
reads it: Op.apply, the backward loop, and modules that take a fast path
when nothing is recorded.  The flag itself is ``_mode``, a
``_engine_core._GradMode`` whose value lives in C thread-specific storage, where
the engine's compiled paths (neurocore/_engine_core.pyx) read it.
"""
import functools

from neurocore import _engine_core

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

# the flag lives in C thread-specific storage, where the compiled apply and
# backward read it without a threading.local lookup
_mode = _engine_core._GradMode()
_engine_core._set_apply_mode(_mode)         # the compiled Op.apply records only while it is on


def is_grad_enabled():
    return _mode.enabled


class set_grad_enabled:
    """Context manager (and decorator) setting grad mode on or off."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.previous = _mode.enabled
        _mode.enabled = self.mode

    def __exit__(self, *exc):
        _mode.enabled = self.previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(set_grad_enabled):
    """``with nc.no_grad():`` records nothing: no graph, no saved activations."""

    def __init__(self):
        self.mode = False


class enable_grad(set_grad_enabled):
    def __init__(self):
        self.mode = True
