"""Tensor, Function and the reverse-mode engine.

A Tensor wraps a NumPy array (``.data``).  Every differentiable operation is a
Function subclass; calling ``Op.apply`` runs ``forward`` on raw arrays and,
when grad mode is on and some input requires grad, returns a Tensor whose
``_node`` is the Function instance (the "ctx"), which keeps the parents and
whatever the backward needs.  ``backward()`` walks the nodes in reverse
topological order and accumulates into the leaves' ``.grad`` (seed 000 §2.10:
a value used on several paths receives the SUM of the path gradients).

Each op's local derivative sits next to its forward.  Backward code is written
once and runs in two modes (see neurocore/autograd/__init__.py for the rules):

* normal backward: ``grad_output``, ``ctx.inputs`` and ``ctx.output`` are raw
  NumPy arrays, so the backward is plain NumPy at full speed;
* ``create_graph=True``: the same names are Tensors, so the very same
  expressions record a graph and gradients of gradients work.
"""
import math

import numpy as np

from neurocore import _kernels

__all__ = [
    "Tensor", "Function", "tensor", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "grad", "backward", "manual_seed", "zeros", "ones", "zeros_like",
    "ones_like", "randn", "rand", "arange", "concatenate", "cat", "stack", "where",
]

# ---------------------------------------------------------------------------
# Grad mode (thread-local, like PyTorch's)
# ---------------------------------------------------------------------------


# the flag lives in C thread-specific storage, where the compiled apply and
# backward read it without a threading.local lookup
_mode = _kernels._GradMode()


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
        import functools

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

_new = object.__new__
_FLOAT_KINDS = "f"


# a Tensor around an array produced by an op (no copy, no checks)
_wrap = _kernels._wrap_array


def _dtype_error(a, b):
    return TypeError(f"dtypes do not mix: got {np.dtype(a).name} and {np.dtype(b).name}; "
                     f"convert one side explicitly (e.g. .to(np.{np.dtype(a).name}))")


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the NumPy array; ``grad`` a Tensor (or None) filled by
    ``backward``; ``requires_grad`` marks leaves to differentiate with respect
    to.  Arithmetic broadcasts like NumPy; gradients are summed back to each
    input's shape.
    """

    # _post_accumulate_hooks: set only on a leaf given a hook (never set: unset slot)
    __slots__ = ("data", "_grad", "_node", "_idx", "requires_grad", "_post_accumulate_hooks", "__weakref__")
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

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if (gradient is None and inputs is None and not create_graph and self._node is not None
                and self.requires_grad and self.data.size == 1):
            # loss.backward(): the common case
            _backward_scalar(self, bool(retain_graph), _mode, _accumulate_leaf, _FREED_MESSAGE)
            return
        backward(self, gradient, retain_graph, create_graph, inputs)

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
        return _LeafHooks.add(self, hook)

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
    def __add__(self, other):
        return self._binary(Add, other)

    def __radd__(self, other):
        return self._binary(Add, other, True)

    def __sub__(self, other):
        return self._binary(Sub, other)

    def __rsub__(self, other):
        return self._binary(Sub, other, True)

    def __mul__(self, other):
        return self._binary(Mul, other)

    def __rmul__(self, other):
        return self._binary(Mul, other, True)

    def __truediv__(self, other):
        return self._binary(Div, other)

    def __rtruediv__(self, other):
        return self._binary(Div, other, True)

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
# Function: a node of the graph (and PyTorch's custom-function API)
# ---------------------------------------------------------------------------


class Function:
    """Base class of every differentiable operation.

    Custom functions follow PyTorch::

        class MySigmoid(nc.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                a = 1 / (1 + (-x).exp())
                ctx.save_for_backward(a)
                return a

            @staticmethod
            def backward(ctx, grad_output):
                (a,) = ctx.saved_tensors
                return grad_output * a * (1 - a)

        y = MySigmoid.apply(x)

    ``forward`` sees Tensors and runs with grad mode off; ``backward`` sees
    Tensors and returns one gradient (or None) per forward argument.  With
    ``create_graph=True`` the backward runs with grad mode on, so it is
    differentiable as long as it is written with Tensor operations.
    """

    n_outputs = 1
    parents = ()
    needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self.parents is None:
            raise RuntimeError(_FREED_MESSAGE)
        return getattr(self, "_saved", ())

    def mark_non_differentiable(self, *tensors):
        pass

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = _new(cls)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        previous = _mode.enabled
        _mode.enabled = False
        try:
            result = cls.forward(ctx, *args, **kwargs)
        finally:
            _mode.enabled = previous
        single = not isinstance(result, tuple)
        outputs = [result] if single else list(result)
        for i, out in enumerate(outputs):
            if not isinstance(out, Tensor):
                outputs[i] = _wrap(out, None)
        if previous and any(ctx.needs_input_grad):
            ctx.parents = tuple(a if isinstance(a, Tensor) else None for a in args)
            ctx.n_outputs = len(outputs)
            ctx._meta = [(o.shape, o.dtype) for o in outputs]
            for i, out in enumerate(outputs):
                if any(out is a for a in args) or out._node is not None or out.requires_grad:
                    out = outputs[i] = _wrap(out.data, None)   # never re-parent an input
                if out.data.dtype.kind in _FLOAT_KINDS:
                    out._node, out._idx, out.requires_grad = ctx, i, True
        return outputs[0] if single else tuple(outputs)

    def _backward_impl(self, grads, graph):
        """Engine hook: gradients for each parent (arrays, or Tensors in graph mode)."""
        grad_tensors = []
        for g, shape_dtype in zip(grads, self._meta):
            if g is None:
                g = np.zeros(*shape_dtype)
            grad_tensors.append(g if isinstance(g, Tensor) else _wrap(g, None))
        with set_grad_enabled(graph):
            result = type(self).backward(self, *grad_tensors)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) < len(self.parents):
            raise RuntimeError(f"{type(self).__name__}.backward returned {len(result)} gradients, "
                               f"expected {len(self.parents)} (one per forward argument)")
        out = []
        for parent, r in zip(self.parents, result):
            if parent is None or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                r = _wrap(np.asarray(r, parent.data.dtype), None)
            if r.shape != parent.shape:
                try:
                    reducible = np.broadcast_shapes(r.shape, parent.shape) == r.shape
                except ValueError:
                    reducible = False
                if not reducible:
                    raise RuntimeError(f"{type(self).__name__}.backward returned a gradient of shape "
                                       f"{r.shape} for an input of shape {parent.shape}")
                r = _unbroadcast(r, parent.shape)
            out.append(r if graph else r.data)
        return out

    def _release(self):
        self.__dict__.clear()
        self.parents = None


_FREED_MESSAGE = ("Trying to backward through the graph a second time (or directly access saved "
                  "tensors after they have already been freed). Saved intermediate values of the "
                  "graph are freed when you call .backward() or autograd.grad(). Specify "
                  "retain_graph=True if you need to backward through the graph a second time.")


class Op(Function):
    """A built-in op: ``forward`` and ``backward`` work on raw NumPy arrays.

    ``forward(ctx, *args, **settings)`` receives the arrays of Tensor
    arguments (other arguments as given) and returns an array.  ``backward(ctx,
    grad_output)`` returns one gradient (or None) per positional argument.
    Inside backward, ``ctx.inputs`` are the forward's positional arguments and
    ``ctx.output`` its result (if the op sets ``save_output``): arrays in a
    normal backward, Tensors connected to the graph with create_graph=True.
    A fused op whose backward is a raw kernel sets ``composite`` instead: with
    create_graph=True the engine differentiates ``composite(ctx, *inputs)``
    (the same function written with Tensor ops).
    """

    save_output = False
    composite = None
    recording = False       # True inside forward when the result joins the graph

    # apply(*args, **settings): run forward on the arguments' arrays and,
    # when grad mode is on and some Tensor argument requires grad, record
    # the node (parents, needs_input_grad, the raw inputs, the output if
    # save_output).  Compiled (neurocore/_engine.pxi): it runs once per op.
    apply = classmethod(_kernels._op_apply_method)

    @property
    def inputs(self):
        return self.parents if self._graph else self._raw

    @property
    def output(self):
        if self._graph:
            return _wrap(self._out, self)
        return self._out

    def _backward_impl(self, grads, graph):
        self._graph = graph
        if graph and self.composite is not None:
            return self._composite_backward(grads[0])
        result = self.backward(grads[0])
        return result if isinstance(result, tuple) else (result,)

    def _composite_backward(self, grad_output, composite=None):
        inputs = self.inputs
        output = (composite or type(self).composite)(self, *inputs)
        slots = {}
        for p, need in zip(self.parents, self.needs_input_grad):
            if need:
                slots.setdefault(id(p), len(slots))
        found = _run_backward([output], [grad_output], True, True, slots, stop_at_capture=True)
        result = []
        for p, need in zip(self.parents, self.needs_input_grad):
            slot = slots.pop(id(p), None) if need else None   # an input used twice gets its sum once
            result.append(None if slot is None else found[slot])
        return tuple(result)


# ---------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------


def _toposort(root_nodes):
    """Nodes reachable from the roots, every node after all of its parents."""
    return _kernels._toposort_nodes(list(root_nodes), Tensor)


def _run_backward(roots, root_grads, retain_graph, create_graph, capture=None, stop_at_capture=False):
    """Propagate ``root_grads`` from ``roots`` down the graph.

    Without ``capture`` gradients accumulate into leaves' ``.grad``; with it
    (a dict id(tensor) -> slot) they are summed into a list and returned;
    ``stop_at_capture`` treats the captured tensors as leaves (partial, not
    total, derivatives: what a composite backward needs).
    """
    graph = bool(create_graph)
    retain = graph if retain_graph is None else retain_graph
    grads = {}                       # node -> list of gradients per output
    captured = [None] * len(capture) if capture is not None else None
    owned = set()                    # ids of arrays already stored in a leaf's .grad
    previous = _mode.enabled
    _mode.enabled = graph
    try:
        incoming = []
        for t, g in zip(roots, root_grads):
            if graph and not isinstance(g, Tensor):
                g = _wrap(g, None)
            elif not graph and isinstance(g, Tensor):
                g = g.data
            incoming.append((t, g))
        order = _toposort([t._node for t in roots if t._node is not None])
        order.append(None)           # sentinel: deliver the roots' gradients first
        # leaves' post-accumulate-grad hooks (none when capturing: nothing accumulates)
        hooks = _LeafHooks(order, roots) if capture is None and _LeafHooks.registry else None
        for node in reversed(order):
            if node is not None:
                node_grads = grads.pop(node, None)
                if node_grads is None:
                    if hooks is not None:
                        hooks.skipped(node)
                    continue
                if node.parents is None:
                    raise RuntimeError(_FREED_MESSAGE)
                parent_grads = node._backward_impl(node_grads, graph)
                parents, needs = node.parents, node.needs_input_grad
                incoming = [(p, g) for p, g, need in zip(parents, parent_grads, needs)
                            if need and g is not None]
                if not retain:
                    node._release()
            else:
                parents = [t for t, _ in incoming]
                parent_grads = [g for _, g in incoming]
                needs = [True] * len(incoming)
            # hand each gradient contribution to its tensor (seed 000 §2.10: contributions add)
            for t, g in incoming:
                if capture is not None:
                    slot = capture.get(id(t))
                    if slot is not None:
                        captured[slot] = g if captured[slot] is None else captured[slot] + g
                        if stop_at_capture:
                            continue
                if capture is not None and t._node is None:
                    continue
                _hand_over(t, g, graph, grads, owned, _accumulate_leaf, _wrap)
            if hooks is not None:
                hooks.done(parents, parent_grads, needs)
    finally:
        _mode.enabled = previous
    return captured


def _hand_over(t, g, graph, grads, owned, accumulate, wrap):
    """Give one gradient contribution g to tensor t: a leaf's .grad, or the
    slot of t's node in ``grads`` (seed 000 §2.10: contributions add)."""
    target = t._node
    if target is None:
        if (t._grad is None and not graph and type(g) is np.ndarray and g.base is None
                and g.dtype == t.data.dtype and id(g) not in owned):
            owned.add(id(g))                # the usual first gradient: store as is
            t._grad = wrap(g, None)
        else:
            accumulate(t, g, graph, owned)
        return
    slots = grads.get(target)
    if slots is None:
        slots = grads[target] = [None] * target.n_outputs
    i = t._idx
    slots[i] = g if slots[i] is None else slots[i] + g


# the compiled hot path of the engine (neurocore/_engine.pxi) works on
# Tensor's slots and calls back into these methods
_kernels._set_tensor_type(Tensor, Op._backward_impl, Function._release)
_kernels._set_apply_mode(_mode)
_backward_scalar = _kernels._backward_scalar


def _accumulate_leaf(t, g, graph, owned):
    if graph:
        g = g if isinstance(g, Tensor) else _wrap(g, None)
        t._grad = g if t._grad is None else t._grad + g
        return
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    if t._grad is None:
        # a backward may pass one array (or a view of it) to several inputs:
        # each leaf gets an array of its own, so in-place updates of one
        # .grad (clipping, weight decay) never touch another
        if g.base is not None or id(g) in owned:       # (read-only broadcasts are views too)
            g = g.copy()
        owned.add(id(g))
        t._grad = _wrap(g, None)
    else:
        t._grad = _wrap(t._grad.data + g, None)


class _HookHandle:
    """What register_post_accumulate_grad_hook returns: ``remove()``
    unregisters the hook (also as a context manager, on exit).  It holds
    the leaf's hook table weakly, as torch's RemovableHandle does."""

    __slots__ = ("_hooks", "_key")

    def __init__(self, hooks, key):
        import weakref

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


class _LeafHooks:
    """Post-accumulate-grad hooks: the registry of hooked leaves (class
    level) and, per backward pass, the count of gradient contributions each
    hooked leaf still expects (an instance).

    A leaf used by several ops receives one contribution per use, each
    accumulated into .grad as it arrives; its hooks run when the last one
    of the pass has arrived, so a hook always sees the complete gradient.
    The engine builds a tracker only while the registry is not empty:
    without hooks a backward pass costs what it did before."""

    # id(leaf) -> weak reference to the leaf, for every leaf that has hooks;
    # an entry goes when its leaf is collected or its last hook removed
    registry = {}
    _keys = iter(range(1 << 62))

    @classmethod
    def add(cls, t, hook):
        import weakref

        hooks = getattr(t, "_post_accumulate_hooks", None)
        if hooks is None:
            hooks = _HookTable()
            t._post_accumulate_hooks = hooks
        key = id(t)
        ref = cls.registry.get(key)
        if ref is None or ref() is not t:
            registry = cls.registry

            def forget(dead, key=key):
                if registry.get(key) is dead:
                    del registry[key]
            ref = cls.registry[key] = weakref.ref(t, forget)
        hooks._leaf_ref = ref
        handle_key = next(cls._keys)
        hooks[handle_key] = hook
        return _HookHandle(hooks, handle_key)

    @classmethod
    def run(cls, t):
        """Run t's hooks (t a leaf whose .grad this pass has completed)."""
        hooks = getattr(t, "_post_accumulate_hooks", None)
        if hooks:
            for hook in list(hooks.values()):
                if hook(t) is not None:
                    raise RuntimeError("post accumulate grad hooks must return None")

    def __init__(self, order, roots=()):
        """order: the nodes this backward runs; roots: tensors seeded
        directly (a leaf root receives its seed as a contribution)."""
        registry = self.registry
        pending = {}
        for t in roots:
            if t._node is None and id(t) in registry:
                pending[id(t)] = pending.get(id(t), 0) + 1
        for node in order:
            if node is None or node.parents is None:
                continue
            for p, need in zip(node.parents, node.needs_input_grad):
                if need and isinstance(p, Tensor) and p._node is None and id(p) in registry:
                    pending[id(p)] = pending.get(id(p), 0) + 1
        self.pending = pending
        self.received = set()

    def done(self, parents, parent_grads, needs):
        """A node has handed its gradients to its parents (parent_grads:
        one per parent, None for none); a node the pass skips passes
        parent_grads=()."""
        pending = self.pending
        if not pending:
            return
        grads = tuple(parent_grads)
        for i, (p, need) in enumerate(zip(parents, needs)):
            if not need:
                continue
            left = pending.get(id(p))
            if left is None:
                continue
            if i < len(grads) and grads[i] is not None:
                self.received.add(id(p))
            if left > 1:
                pending[id(p)] = left - 1
                continue
            del pending[id(p)]
            if id(p) in self.received and p._node is None:
                self.run(p)

    def skipped(self, node):
        if node.parents is not None:
            self.done(node.parents, (), node.needs_input_grad)


if hasattr(_kernels, "_set_post_accumulate_hooks"):
    _kernels._set_post_accumulate_hooks(_LeafHooks.registry, _LeafHooks)


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _seed_grads(outputs, grad_outputs, graph):
    if grad_outputs is None and len(outputs) == 1:      # loss.backward(): the common case
        out = outputs[0]
        if isinstance(out, Tensor) and out.requires_grad and out.data.size == 1:
            seed = np.empty(out.data.shape, out.data.dtype)     # (np.ones_like costs ~5x more)
            seed.fill(1)
            return [seed]
    seeds = []
    grad_outputs = _as_list(grad_outputs) or [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(got shape {out.shape}); pass gradient=")
            g = np.ones_like(out.data)
        else:
            g_t = g if isinstance(g, Tensor) else None
            g_data = np.asarray(g.data if g_t is not None else g)
            if g_data.shape != out.shape:
                raise ValueError(f"gradient has shape {g_data.shape}, output has shape {out.shape}")
            if g_data.dtype != out.dtype:
                raise _dtype_error(g_data.dtype, out.dtype)
            g = g_t if (graph and g_t is not None) else g_data.copy()
        seeds.append(g)
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradients of ``tensors`` into the leaves' ``.grad``."""
    outputs = _as_list(tensors)
    seeds = _seed_grads(outputs, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _as_list(inputs)
        slots = {}
        for t in inputs:
            slots.setdefault(id(t), len(slots))
        found = _run_backward(outputs, seeds, retain_graph, create_graph, slots)
        for t in {id(t): t for t in inputs}.values():
            g = found[slots[id(t)]]
            if g is not None:
                _accumulate_leaf(t, g, create_graph, set())
                if t._node is None and _LeafHooks.registry:
                    _LeafHooks.run(t)
        return
    _run_backward(outputs, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (a tuple of Tensors).

    Nothing is written into ``.grad``.  ``create_graph=True`` records the
    backward pass so the results can be differentiated again.
    """
    outputs = _as_list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = _as_list(inputs)
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("every input of grad() must be a Tensor that requires grad")
    seeds = _seed_grads(outputs, grad_outputs, create_graph)
    slots = {}
    for t in inputs:
        slots.setdefault(id(t), len(slots))
    found = _run_backward(outputs, seeds, retain_graph, create_graph, slots)
    result = []
    for t in inputs:
        g = found[slots[id(t)]]
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                                   "in the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            if g.dtype != t.data.dtype:
                g = g.astype(t.data.dtype)
            result.append(_wrap(g.copy() if g.base is not None or not g.flags.writeable else g, None))
    return tuple(result)


# ---------------------------------------------------------------------------
# Helpers that work on arrays (normal backward) and Tensors (create_graph)
# ---------------------------------------------------------------------------


def _unbroadcast(g, shape):
    """Sum a broadcast gradient back to ``shape`` (the input's shape)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _broadcast(g, shape):
    if isinstance(g, Tensor):
        return g.expand(shape)
    out = np.empty(shape, g.dtype)         # np.broadcast_to costs ~3 µs of Python; a fill does not
    out[...] = g
    return out


def _exp(x):
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def _log(x):
    if isinstance(x, (int, float)):
        return math.log(x)          # np.log(2) would be a float64 scalar and upcast float32
    return x.log() if isinstance(x, Tensor) else np.log(x)


def _permute(g, dims):
    return g.permute(dims) if isinstance(g, Tensor) else g.transpose(dims)


def _swap(g, a, b):
    return g.transpose(a, b) if isinstance(g, Tensor) else g.swapaxes(a, b)


def _shape(x):
    return x.shape if hasattr(x, "shape") else ()


# ---------------------------------------------------------------------------
# Ops: forward and its local derivative side by side
# ---------------------------------------------------------------------------


class Add(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g):                   # d(a+b)/da = d(a+b)/db = 1
        a, b = ctx._raw
        return (_unbroadcast(g, a.shape) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g, b.shape) if ctx.needs_input_grad[1] else None)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g):                   # d/da = 1, d/db = -1
        a, b = ctx._raw
        return (_unbroadcast(g, a.shape) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g, b.shape) if ctx.needs_input_grad[1] else None)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    def backward(ctx, g):                   # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.inputs
        return (_unbroadcast(g * b, _shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g * a, _shape(b)) if ctx.needs_input_grad[1] else None)


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a / b

    def backward(ctx, g):                   # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        a, b = ctx.inputs
        return (_unbroadcast(g / b, _shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None)


class Pow(Op):
    save_output = True

    @staticmethod
    def forward(ctx, a, b):
        return a ** b

    def backward(ctx, g):                   # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
        a, b = ctx.inputs
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(g * b * a ** (b - 1), _shape(a))
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(g * ctx.output * _log(a), _shape(b))
        return ga, gb


class Neg(Op):
    @staticmethod
    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


class Clone(Op):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


class Cast(Op):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.from_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, g):
        return g.to(ctx.from_dtype) if isinstance(g, Tensor) else g.astype(ctx.from_dtype)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _matmul(a, b):
    """a @ b, on neurocore's GEMM wherever it applies (2-D or more, one float
    dtype, leading dimensions equal or one operand 2-D), so one thread pool
    does the products of a graph: OpenBLAS's workers spin for ~0.1 s after
    each product and take the cores from the kernels' threads."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a @ b
    if (a.ndim >= 2 and b.ndim >= 2 and a.dtype == b.dtype and a.dtype in _FLOAT_DTYPES
            and (a.ndim == 2 or b.ndim == 2 or a.shape[:-2] == b.shape[:-2])):
        return _kernels.matmul(a, b)
    return a @ b


class MatMul(Op):
    """a @ b like np.matmul (1-D operands promoted, batch dims broadcast)."""

    @staticmethod
    def forward(ctx, a, b):
        return _matmul(a, b)

    def backward(ctx, g):                   # dA = G Bᵀ, dB = Aᵀ G (outer products summed, seed 000 §2.9)
        a, b = ctx.inputs
        if a.ndim == 2 and b.ndim == 2:     # the common case, kept short
            return (_matmul(g, b.mT) if ctx.needs_input_grad[0] else None,
                    _matmul(a.mT, g) if ctx.needs_input_grad[1] else None)
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if b.ndim > 1 else g2.reshape((1,) + g2.shape)
        if b.ndim == 1:
            g2 = g2.reshape(g2.shape + (1,))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _unbroadcast(_matmul(g2, b2.mT), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = _unbroadcast(_matmul(a2.mT, g2), b2.shape).reshape(b.shape)
        return ga, gb


class Sum(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(ctx, g):                   # every summed element gets the output's gradient
        (x,) = ctx._raw
        if not ctx.keepdims:
            g = g.reshape(_keepdims_shape(x.shape, ctx.axis))
        return _broadcast(g, x.shape)


def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes} if shape else set()
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Mean(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        total = x.sum(axis=axis, keepdims=keepdims)   # np.mean's Python wrapper costs more than the sum
        ctx.count = x.size // max(total.size, 1) if x.size else 0
        if not ctx.count:
            return np.full(np.shape(total), np.nan, x.dtype)   # mean of nothing: NaN, as PyTorch
        return total / ctx.count

    def backward(ctx, g):                   # d mean / dx_i = 1/n
        (x,) = ctx._raw
        g = g.reshape(_keepdims_shape(x.shape, ctx.axis))
        return _broadcast(g / ctx.count if ctx.count else g, x.shape)


class Max(Op):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axis, ctx.keepdims = axis, keepdims
        out = x.max(axis=axis, keepdims=True)
        # ties share the gradient equally (like np.amax's subgradient in PyTorch's amax)
        weights = (x == out).astype(x.dtype)
        weights /= weights.sum(axis=axis, keepdims=True)
        ctx.weights = weights
        if keepdims:
            return out
        return out.reshape(()) if axis is None else out.squeeze(axis)

    def backward(ctx, g):
        (x,) = ctx._raw
        return g.reshape(_keepdims_shape(x.shape, ctx.axis)) * ctx.weights


class Reshape(Op):
    @staticmethod
    def forward(ctx, x, shape):
        return x.reshape(shape)

    def backward(ctx, g):
        return g.reshape(ctx._raw[0].shape)


class Permute(Op):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    def backward(ctx, g):
        return _permute(g, tuple(np.argsort(ctx.dims).tolist()))


class SwapAxes(Op):
    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.dims = (dim0, dim1)
        return x.swapaxes(dim0, dim1)

    def backward(ctx, g):
        return _swap(g, *ctx.dims)


class BroadcastTo(Op):
    @staticmethod
    def forward(ctx, x, shape):
        shape = tuple(n if n != -1 else x.shape[i - len(shape) + x.ndim] for i, n in enumerate(shape))
        return np.broadcast_to(x, shape)

    def backward(ctx, g):
        return _unbroadcast(g, ctx._raw[0].shape)


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)


class Index(Op):
    @staticmethod
    def forward(ctx, x, index):
        ctx.index = index
        return x[index]

    def backward(ctx, g):                   # scatter-add into zeros of the input's shape
        x = ctx._raw[0]
        if isinstance(g, Tensor):
            return IndexAdd.apply(g, shape=x.shape, index=ctx.index)
        return _index_add(g, x.shape, ctx.index)


def _index_add(g, shape, index):
    out = np.zeros(shape, g.dtype)
    if _is_advanced(index):
        np.add.at(out, index, g)            # repeated integer indices accumulate
    else:
        out[index] = g
    return out


class IndexAdd(Op):
    """zeros(shape) with g added at ``index``: the adjoint of indexing."""

    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        return _index_add(g, shape, index)

    def backward(ctx, gg):
        return gg[ctx.index]


class Exp(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return np.exp(x)

    def backward(ctx, g):                   # d eˣ/dx = eˣ
        return g * ctx.output


class Log(Op):
    @staticmethod
    def forward(ctx, x):
        return np.log(x)

    def backward(ctx, g):                   # d log x/dx = 1/x
        return g / ctx.inputs[0]


class Sqrt(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x):
        return np.sqrt(x)

    def backward(ctx, g):                   # d √x/dx = 1/(2√x)
        return g / (2 * ctx.output)


class Abs(Op):
    @staticmethod
    def forward(ctx, x):
        return np.abs(x)

    def backward(ctx, g):                   # sign(x), with sign(0) = 0 as PyTorch
        return g * np.sign(ctx._raw[0])


class Clamp(Op):
    @staticmethod
    def forward(ctx, x, lo, hi):
        out = x
        if lo is not None:
            out = np.maximum(out, np.asarray(lo, x.dtype))
        if hi is not None:
            out = np.minimum(out, np.asarray(hi, x.dtype))
        # gradient flows where min <= x <= max (PyTorch's convention at the bounds)
        mask = np.ones(x.shape, bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        ctx.mask = mask
        return out if out is not x else x.copy()

    def backward(ctx, g):
        return g * ctx.mask.astype(ctx._raw[0].dtype)


class Where(Op):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.condition = condition
        return np.where(condition, a, b)

    def backward(ctx, g):
        a, b = ctx._raw[1], ctx._raw[2]
        keep = ctx.condition.astype(g.dtype)
        return (None,
                _unbroadcast(g * keep, _shape(a)) if ctx.needs_input_grad[1] else None,
                _unbroadcast(g * (1 - keep), _shape(b)) if ctx.needs_input_grad[2] else None)


class Concatenate(Op):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return np.concatenate(arrays, axis=axis)

    def backward(ctx, g):                   # each input gets its slice back
        axis = ctx.axis % g.ndim
        grads, start = [], 0
        for x in ctx._raw:
            stop = start + x.shape[axis]
            grads.append(g[(slice(None),) * axis + (slice(start, stop),)])
            start = stop
        return tuple(grads)


class Stack(Op):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(ctx, g):
        axis = ctx.axis % g.ndim
        return tuple(g[(slice(None),) * axis + (i,)] for i in range(len(ctx._raw)))


# ---------------------------------------------------------------------------
# Activations and softmax: engine-layer ops, since Tensor's own methods
# (sigmoid, tanh, relu, softmax, log_softmax) use them; neurocore.functional
# re-exports them.  Backward formulas (seed 000 §1.1, §2.9): σ' = σ(1-σ),
# tanh' = 1-tanh², ReLU' = 𝕀[z>0] (0 at 0), GELU' = Φ(x) + xφ(x),
# softmax: y ⊙ (g - Σ g⊙y), log-softmax: g - eʸ Σ g.
# ---------------------------------------------------------------------------

_ACTIVATIONS = ("identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh")
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf_np = np.vectorize(math.erf, otypes=[np.float64])
_erfc_np = np.vectorize(math.erfc, otypes=[np.float64])


# ---- NumPy references (used when a kernel is missing, and as the tests' oracle) ----

def _np_forward(x, activation, slope):
    if activation == "identity":
        return x
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "leaky_relu":
        return np.where(x > 0, x, x * x.dtype.type(slope))
    if activation == "sigmoid":
        # two branches so exp never overflows: σ(x) = 1/(1+e^-x) = e^x/(1+e^x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    if activation == "tanh":
        return np.tanh(x)
    if activation == "gelu":
        # xΦ(x) with Φ(x) = erfc(-x/√2)/2: erfc keeps relative accuracy for x ≪ 0
        return (x * 0.5 * _erfc_np(-x * _SQRT_HALF)).astype(x.dtype)
    if activation == "gelu_tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + np.tanh(inner))
    raise ValueError(f"unknown activation {activation!r}; expected one of {_ACTIVATIONS}")


def _np_backward(g, x, y, activation, slope):
    """g * act'(x), with y = act(x) when the derivative is cheaper from the output."""
    if activation == "identity":
        return g
    if activation == "relu":
        return g * (x > 0)                  # 𝕀[x > 0]: ReLU'(0) = 0
    if activation == "leaky_relu":
        return g * np.where(x > 0, 1, x.dtype.type(slope)).astype(x.dtype)
    if activation == "sigmoid":
        return g * y * (1 - y)
    if activation == "tanh":
        return g * (1 - y * y)
    if activation == "gelu":
        cdf = 0.5 * _erfc_np(-x * _SQRT_HALF)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return (g * (cdf + x * pdf)).astype(x.dtype)
    if activation == "gelu_tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = np.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    raise ValueError(f"unknown activation {activation!r}")


def _act_forward(x, activation, slope):
    if x.dtype in _KERNEL_DTYPES:
        return _kernels.activation_forward(x, activation, negative_slope=slope)
    return _np_forward(x, activation, slope)


def _act_backward(g, x, y, activation, slope):
    if x.dtype in _KERNEL_DTYPES:
        return _kernels.activation_backward(g, x, activation, negative_slope=slope, output=y)
    return _np_backward(g, x, y, activation, slope)


def _act_composite(x, activation, slope):
    """The activation in differentiable Tensor ops (create_graph path)."""
    if activation == "identity":
        return x
    if activation in ("relu", "leaky_relu"):
        keep = x.data > 0
        factor = np.where(keep, 1, 0 if activation == "relu" else slope).astype(x.dtype)
        return x * factor                   # piecewise linear: the mask is a constant
    if activation == "sigmoid":
        return sigmoid(x)
    if activation == "tanh":
        return tanh(x)
    if activation == "gelu":
        return 0.5 * x * (1 + erf(x * _SQRT_HALF))
    if activation == "gelu_tanh":
        return 0.5 * x * (1 + tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    raise ValueError(f"unknown activation {activation!r}")


# ---- ops -------------------------------------------------------------------------------

class Activation(Op):
    """y = act(x) element-wise, one kernel pass each way."""

    save_output = True

    @staticmethod
    def forward(ctx, x, activation, slope):
        ctx.activation, ctx.slope = activation, slope
        return _act_forward(x, activation, slope)

    def backward(ctx, g):
        if not ctx._graph:
            return _act_backward(g, ctx._raw[0], ctx._out, ctx.activation, ctx.slope), None, None
        # create_graph: σ and tanh differentiate through their own output,
        # piecewise-linear ones through a constant mask; GELU uses composite
        x, y = ctx.inputs[0], ctx.output
        if ctx.activation == "sigmoid":
            return g * y * (1 - y), None, None
        if ctx.activation == "tanh":
            return g * (1 - y * y), None, None
        if ctx.activation in ("identity", "relu", "leaky_relu"):
            return _np_backward(g, x.data, None, ctx.activation, ctx.slope), None, None
        return ctx._composite_backward(g, lambda ctx, x, *_: _act_composite(x, ctx.activation, ctx.slope))


class Erf(Op):
    @staticmethod
    def forward(ctx, x):
        if x.dtype in _KERNEL_DTYPES:
            return _kernels.erf(x)
        return _erf_np(x).astype(x.dtype)

    def backward(ctx, g):                   # d erf(x)/dx = 2/√π e^{-x²}
        x = ctx.inputs[0]
        return g * (2 / math.sqrt(math.pi)) * _exp(-(x * x))


def _check_tensor(x, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a neurocore Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating point tensor, got dtype {x.dtype}")


def _activation(x, activation, slope=0.01):
    _check_tensor(x)
    return Activation.apply(x, activation, slope)


def identity(x):
    return x


def sigmoid(x):
    """σ(x) = 1/(1+e^-x), stable for any finite x."""
    return _activation(x, "sigmoid")


def tanh(x):
    return _activation(x, "tanh")


def relu(x):
    """max(x, 0), with ReLU'(0) = 0."""
    return _activation(x, "relu")


def _check_negative_slope(negative_slope):
    """negative_slope as a float; ValueError unless it is finite."""
    try:
        finite = math.isfinite(negative_slope)
    except OverflowError:      # an int beyond the double range (10**400)
        finite = False
    if not finite:
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r:.40}")
    return float(negative_slope)


def leaky_relu(x, negative_slope=0.01):
    return _activation(x, "leaky_relu", _check_negative_slope(negative_slope))


def gelu(x, approximate="none"):
    """xΦ(x) (exact, the default) or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation(x, "gelu" if approximate == "none" else "gelu_tanh")


def erf(x):
    _check_tensor(x)
    return Erf.apply(x)


def _np_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)   # max-subtraction: exp never overflows
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _last_axis(x, axis):
    return x.dtype in _KERNEL_DTYPES and axis in (-1, x.ndim - 1) and x.ndim > 0


class Softmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return _kernels.softmax(x) if _last_axis(x, axis) else _np_softmax(x, axis)

    def backward(ctx, g):                   # y ⊙ (g - Σ g⊙y)
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return _kernels.softmax_backward(y, g), None
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Op):
    save_output = True

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return _kernels.log_softmax(x) if _last_axis(x, axis) else _np_log_softmax(x, axis)

    def backward(ctx, g):                   # g - softmax ⊙ Σ g
        y = ctx.output
        if not ctx._graph and _last_axis(y, ctx.axis):
            return _kernels.log_softmax_backward(y, g), None
        return g - _exp(y) * g.sum(axis=ctx.axis, keepdims=True), None


def _check_axis(x, axis):
    if not isinstance(axis, (int, np.integer)) or not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return int(axis)


def softmax(x, axis=-1, *, dim=None):
    """exp(x) / Σ exp(x) along ``axis`` (max-subtracted)."""
    _check_tensor(x)
    return Softmax.apply(x, _check_axis(x, axis if dim is None else dim))


def log_softmax(x, axis=-1, *, dim=None):
    """x - logsumexp(x) along ``axis``."""
    _check_tensor(x)
    return LogSoftmax.apply(x, _check_axis(x, axis if dim is None else dim))



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
