"""Tensor, the factories (tensor, zeros, randn, ...) and the random generator.

A Tensor wraps a NumPy array (``.data``).  Its methods (arithmetic,
reductions, shape, element-wise math, ``relu``, ``softmax``...) apply the
elementary ops of neurocore._tensor_ops; the state the engine keeps on it
and ``backward()`` are its base class's, neurocore._engine.TensorBase.
This module is the top of the engine layer: it imports _engine and
_tensor_ops (both above _grad_mode), none of which imports it.  At import it registers Tensor
with the compiled engine (``_engine_core._set_tensor_type``): Op.apply and
``_engine._wrap`` allocate Tensors through that registration.

Also here: ``Tensor.register_post_accumulate_grad_hook``'s bookkeeping (a
leaf's hook table and the handle that removes a hook; the engine keeps the
registry of hooked leaves and runs the hooks).
"""
import weakref

import numpy as np

from neurocore import _engine_core, _kernels
from neurocore._engine import (
    _FLOAT_KINDS, Op, TensorBase, _dtype_error, _LeafHooks, _wrap,
)
from neurocore._tensor_ops import (
    Abs, Add, BroadcastTo, Cast, Clamp, Clone, Concatenate, Div, Exp, Index, Log, MatMul, Max, Mean,
    Mul, Neg, Permute, Pow, Reshape, Sqrt, Stack, Sub, Sum, SwapAxes, Where, log_softmax, relu,
    sigmoid, softmax, tanh,
)

__all__ = [
    "Tensor", "tensor", "manual_seed", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand",
    "arange", "concatenate", "cat", "stack", "where", "from_dlpack",
]

# ---------------------------------------------------------------------------
# Random numbers: one seedable generator (nc.manual_seed)
# ---------------------------------------------------------------------------

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator used by parameter init, dropout, randn and rand."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    return _generator


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------


class Tensor(TensorBase):
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the NumPy array; ``grad`` a Tensor (or None) filled by
    ``backward``; ``requires_grad`` marks leaves to differentiate with respect
    to.  Arithmetic broadcasts like NumPy; gradients are summed back to each
    input's shape.  The slots and ``backward()`` are TensorBase's, in
    neurocore._engine.
    """

    __slots__ = ()      # TensorCore's C fields, nothing more
    __array_ufunc__ = None          # ndarray (op) Tensor defers to Tensor's reflected op
    __hash__ = object.__hash__      # __eq__ is element-wise

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data)
        if not data.dtype.isnative:
            # the kernels read native floats: one converted copy, as torch.tensor makes
            data = data.astype(data.dtype.newbyteorder("="))
        self.data = data
        self._grad = None
        self._node = None
        self._idx = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ---- attributes ------------------------------------------------------
    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor(value)
            if value.shape != self.data.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, tensor has shape {self.data.shape}")
            if value.dtype != self.data.dtype:
                raise TypeError(f"assigned grad has dtype {value.dtype}, tensor has dtype {self.data.dtype}")
        self._grad = value

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def numel(self):
        return self.data.size

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.data.dtype.name}"
        if self._node is not None:
            extra += f", grad_fn=<{type(self._node).__name__}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def numpy(self):
        return self.data

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    # ---- DLPack (the array API standard's exchange protocol) ---------------
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule of ``data`` for another library's ``from_dlpack``
        (``np.from_dlpack(t)``, ``torch.from_dlpack(t)``): zero-copy, the
        consumer sees the same memory, strides included.  Exported by NumPy,
        whose rules apply: a read-only array goes out flagged read-only (and
        only to consumers of DLPack >= 1.0), ``copy=True`` exports a copy,
        ``copy=False`` never copies.  As in PyTorch, a tensor that requires
        grad is refused: export ``t.detach()``, so that writes made by the
        other library cannot go unseen by autograd."""
        if self.requires_grad:
            raise BufferError("cannot export a tensor that requires grad through DLPack; "
                              "export t.detach() instead")
        kwargs = {}
        if max_version is not None:
            kwargs["max_version"] = max_version
        if dl_device is not None:
            kwargs["dl_device"] = dl_device
        if copy is not None:
            kwargs["copy"] = copy
        return self.data.__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self):
        """(device type, device id): (1, 0), kDLCPU; neurocore runs on the CPU."""
        return self.data.__dlpack_device__()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.data.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.data.shape} is ambiguous")
        return bool(self.data)

    def detach(self):
        """The same data, cut from the graph."""
        return _wrap(self.data, None)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating point tensors can require gradients, got dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors (use .detach())")
        self.requires_grad = bool(requires_grad)
        return self

    def clone(self):
        return Clone.apply(self)

    def to(self, dtype):
        dtype = np.dtype(dtype)
        return self if dtype == self.data.dtype else Cast.apply(self, dtype=dtype)

    astype = to

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def zero_(self):
        self.data[...] = 0
        return self

    def __getstate__(self):
        # pickle and copy.deepcopy take the tensor, not its hooks (which may
        # hold anything, a process group included)
        return None, {name: getattr(self, name) for name in ("data", "_grad", "_node", "_idx", "requires_grad")
                      if hasattr(self, name)}

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after a backward pass has accumulated this leaf's
        ``.grad`` (once per backward, after the last contribution of that pass;
        not for ``nc.grad()``, which accumulates nothing).  The hook returns
        None; it may read or change ``self.grad`` in place.  Returns a handle
        whose ``remove()`` unregisters it.  (torch.Tensor's method of the same
        name: how data-parallel training starts a gradient's reduction while
        the rest of the backward pass runs.)"""
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        return _add_leaf_hook(self, hook)

    # ---- operand lifting -------------------------------------------------
    def _lift(self, other):
        """Bring the other operand of a binary op to this tensor's terms.

        Python and NumPy scalars stay scalars in this tensor's dtype (NumPy 2
        treats a Python float as "weak", so float32 stays float32); arrays and
        Tensors must have the same float dtype (TypeError otherwise)."""
        if isinstance(other, Tensor):
            if other.data.dtype != self.data.dtype:
                return self._mixed(other)
            return other
        if isinstance(other, (int, float)):
            # np.float64 is a float subclass but NumPy 2 treats it as "strong"
            return other if type(other) in (int, float, bool) else other.item()
        arr = np.asarray(other)
        if arr.dtype.kind not in "biuf":     # complex, str, object, None: never silently
            raise TypeError(f"operand must be a real number, array or Tensor, got "
                            f"{type(other).__name__} (dtype {arr.dtype})")
        if arr.ndim == 0:
            return arr.item()
        if arr.dtype != self.data.dtype:
            return self._mixed(_wrap(arr, None))
        return _wrap(arr, None)

    def _mixed(self, other):
        """Integer/bool operands are cast to the float side; two floats never mix."""
        mine, theirs = self.data.dtype, other.data.dtype
        if theirs.kind in "biu" and mine.kind == "f":
            return _wrap(other.data.astype(mine), None)
        if mine.kind in "biu" and theirs.kind == "f":
            raise _Promote(other)
        raise _dtype_error(mine, theirs)

    def _binary(self, op, other, reflected=False):
        if type(other) is float or (isinstance(other, Tensor) and other.data.dtype == self.data.dtype):
            return op.apply(other, self) if reflected else op.apply(self, other)      # the common cases
        try:
            other = self._lift(other)
        except _Promote:
            return (Tensor(self.data.astype(other.data.dtype))._binary(op, other, reflected))
        return op.apply(other, self) if reflected else op.apply(self, other)

    # ---- arithmetic --------------------------------------------------------
    # compiled (neurocore._engine_core): a float or a Tensor of the same
    # dtype records the op without a Python frame; the rest go to _binary
    __add__, __radd__ = _engine_core._tensor_add, _engine_core._tensor_radd
    __sub__, __rsub__ = _engine_core._tensor_sub, _engine_core._tensor_rsub
    __mul__, __rmul__ = _engine_core._tensor_mul, _engine_core._tensor_rmul
    __truediv__, __rtruediv__ = _engine_core._tensor_truediv, _engine_core._tensor_rtruediv

    def __pow__(self, other):
        return self._binary(Pow, other)

    def __rpow__(self, other):
        return self._binary(Pow, other, True)

    def __matmul__(self, other):
        return self._binary(MatMul, other)

    def __rmatmul__(self, other):
        return self._binary(MatMul, other, True)

    def __neg__(self):
        return Neg.apply(self)

    def __pos__(self):
        return self

    # comparisons give bool tensors outside the graph
    def _compare(self, ufunc, other):
        other = other.data if isinstance(other, Tensor) else other
        return _wrap(ufunc(self.data, other), None)

    def __lt__(self, other):
        return self._compare(np.less, other)

    def __le__(self, other):
        return self._compare(np.less_equal, other)

    def __gt__(self, other):
        return self._compare(np.greater, other)

    def __ge__(self, other):
        return self._compare(np.greater_equal, other)

    def __eq__(self, other):
        return self._compare(np.equal, other)

    def __ne__(self, other):
        return self._compare(np.not_equal, other)

    # ---- reductions ----------------------------------------------------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim)
        return Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim)
        return Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Largest values along ``axis`` (like np.amax; ties share the gradient)."""
        axis, keepdims = _axis_args(axis, keepdims, dim, keepdim)
        return Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return -((-self).max(axis, keepdims, dim=dim, keepdim=keepdim))

    # ---- shape -----------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        shape = self.data.shape
        if not shape:
            return self.reshape(1)
        start, end = start_dim % len(shape), end_dim % len(shape)
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        return Permute.apply(self, dims=tuple(dims))

    def transpose(self, dim0=-2, dim1=-1):
        """Swap two dimensions (PyTorch's transpose, not NumPy's)."""
        return SwapAxes.apply(self, dim0=dim0, dim1=dim1)

    swapaxes = transpose

    def t(self):
        return self.transpose(0, 1) if self.data.ndim == 2 else self

    @property
    def T(self):
        return Permute.apply(self, dims=tuple(range(self.data.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return SwapAxes.apply(self, dim0=-2, dim1=-1)

    def expand(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return BroadcastTo.apply(self, shape=tuple(shape))

    broadcast_to = expand

    def squeeze(self, axis=None):
        return self.reshape(np.squeeze(self.data, axis).shape)

    def unsqueeze(self, dim):
        return self.reshape(np.expand_dims(self.data, dim).shape)

    def __getitem__(self, index):
        return Index.apply(self, index=_plain_index(index))

    # ---- element-wise math --------------------------------------------------
    def exp(self):
        return Exp.apply(self)

    def log(self):
        return Log.apply(self)

    def sqrt(self):
        return Sqrt.apply(self)

    def abs(self):
        return Abs.apply(self)

    __abs__ = abs

    def clamp(self, min=None, max=None):
        return Clamp.apply(self, lo=min, hi=max)

    clip = clamp

    def sigmoid(self):
        return sigmoid(self)

    def tanh(self):
        return tanh(self)

    def relu(self):
        return relu(self)

    def softmax(self, axis=-1, *, dim=None):
        return softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis=-1, *, dim=None):
        return log_softmax(self, axis if dim is None else dim)


class _Promote(Exception):
    """Internal: an integer tensor meets a float operand and must be cast."""

    def __init__(self, other):
        self.other = other


def _axis_args(axis, keepdims, dim, keepdim):
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis, bool(keepdims)


def _plain_index(index):
    """Tensors inside an index become arrays (indices never carry gradient)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else np.asarray(i) if isinstance(i, list) else i
                     for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


# ---------------------------------------------------------------------------
# Post-accumulate-grad hooks: a leaf's table and the handle
# ---------------------------------------------------------------------------

_hook_keys = iter(range(1 << 62))      # handle keys, unique for the process


class _HookHandle:
    """What register_post_accumulate_grad_hook returns: ``remove()``
    unregisters the hook (also as a context manager, on exit).  It holds
    the leaf's hook table weakly, as torch's RemovableHandle does."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks, key):
        self._hooks, self._key = weakref.ref(hooks), key

    def remove(self):
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _HookTable(dict):
    """A leaf's hooks, key -> hook, in its ``_post_accumulate_hooks`` slot
    (so that a hook referring to its own leaf makes an ordinary, collectable
    cycle); the leaf leaves _LeafHooks.registry with its last hook."""

    __slots__ = ("_leaf_ref", "__weakref__")

    def pop(self, key, default=None):
        value = super().pop(key, default)
        if not self:
            key = id(self._leaf_ref())
            if _LeafHooks.registry.get(key) is self._leaf_ref:
                del _LeafHooks.registry[key]
        return value


def _add_leaf_hook(t, hook):
    """Add ``hook`` to leaf t's table and t to _LeafHooks.registry, which
    the engine reads during each backward."""
    hooks = getattr(t, "_post_accumulate_hooks", None)
    if hooks is None:
        hooks = _HookTable()
        t._post_accumulate_hooks = hooks
    key = id(t)
    ref = _LeafHooks.registry.get(key)
    if ref is None or ref() is not t:
        registry = _LeafHooks.registry

        def forget(dead, key=key):
            if registry.get(key) is dead:
                del registry[key]
        ref = _LeafHooks.registry[key] = weakref.ref(t, forget)
    hooks._leaf_ref = ref
    handle_key = next(_hook_keys)
    hooks[handle_key] = hook
    return _HookHandle(hooks, handle_key)


# the compiled half of the engine (neurocore/_engine_core.pyx) allocates
# Tensors and calls back into these methods
_engine_core._set_tensor_type(Tensor, Op._backward_impl)
_engine_core._set_arithmetic(Add, Sub, Mul, Div)


# ---------------------------------------------------------------------------
# Creation helpers and free functions
# ---------------------------------------------------------------------------


def tensor(data, dtype=None, requires_grad=False):
    """A new Tensor holding a copy of ``data``.

    Python floats become float32 (PyTorch's default dtype); NumPy arrays keep
    their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None and not isinstance(data, np.ndarray):
        arr = np.array(data)
        if arr.dtype == np.float64 and not isinstance(data, np.floating):
            arr = arr.astype(np.float32)
    else:
        arr = np.array(data, dtype=dtype, copy=True)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.kind not in "biuf":        # complex, str, object (None, ragged lists)
        raise TypeError(f"tensor data must be real numbers (bool, int or float), got "
                        f"{type(data).__name__} giving dtype {arr.dtype}")
    return Tensor(arr, requires_grad=requires_grad)


def from_dlpack(x, *, device=None, copy=None):
    """A Tensor on the memory of ``x``, any object with ``__dlpack__`` (a
    NumPy array, a PyTorch or JAX CPU tensor, ...), as the array API
    standard's ``from_dlpack``.

    copy=None (the default) shares memory when the producer can export it,
    copy=True always copies, copy=False never copies (``BufferError`` when
    the producer cannot share).  A read-only source gives a Tensor whose
    ``data`` is read-only too (writes raise), never a writable alias; call
    with ``copy=True`` for a writable one.  Strided sources stay strided
    views (kernels copy such inputs once, and refuse them as outputs).
    ``device`` may be None, "cpu" or (1, 0).
    """
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise BufferError("cannot import a tensor that requires grad through DLPack; "
                              "pass t.detach() instead")
        x = x.data
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"x must implement __dlpack__ (the DLPack protocol), got {type(x).__name__}")
    if device not in (None, "cpu", (1, 0)):
        raise ValueError(f"device must be None, 'cpu' or (1, 0) (kDLCPU), got {device!r}")
    if copy not in (None, True, False):
        raise ValueError(f"copy must be None, True or False, got {copy!r}")
    kwargs = {} if copy is None else {"copy": copy}
    data = np.from_dlpack(x, **kwargs)
    return Tensor(data)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.zeros(_shape_args(shape), dtype), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape_args(shape), dtype), requires_grad)


def zeros_like(t, requires_grad=False):
    return Tensor(np.zeros_like(t.data if isinstance(t, Tensor) else t), requires_grad)


def ones_like(t, requires_grad=False):
    return Tensor(np.ones_like(t.data if isinstance(t, Tensor) else t), requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(_generator.standard_normal(_shape_args(shape)).astype(dtype), requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(_generator.random(_shape_args(shape)).astype(dtype), requires_grad)


def arange(*args, dtype=None):
    return Tensor(np.arange(*args, dtype=dtype))


def _same_dtype(tensors, what):
    tensors = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors]
    if not tensors:
        raise ValueError(f"{what} needs at least one tensor")
    first = tensors[0].data.dtype
    for t in tensors[1:]:
        if t.data.dtype != first:
            raise _dtype_error(first, t.data.dtype)
    return tensors


def concatenate(tensors, axis=0, *, dim=None):
    """Join tensors along an existing axis (np.concatenate / torch.cat)."""
    return Concatenate.apply(*_same_dtype(tensors, "concatenate"), axis=axis if dim is None else dim)


cat = concatenate


def stack(tensors, axis=0, *, dim=None):
    """Join tensors along a new axis."""
    return Stack.apply(*_same_dtype(tensors, "stack"), axis=axis if dim is None else dim)


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` holds, else of ``b`` (differentiable in a and b)."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, bool)
    ref = a if isinstance(a, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        raise _dtype_error(a.dtype, b.dtype)
    if not isinstance(ref, Tensor):
        return Tensor(np.where(condition, a, b))
    a = ref._lift(a) if not isinstance(a, Tensor) else a
    b = ref._lift(b) if not isinstance(b, Tensor) else b
    return Where.apply(condition, a, b)
