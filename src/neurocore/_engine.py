"""The reverse-mode autograd engine: Function, Op, backward() and grad().

Every differentiable operation is a Function subclass; calling ``Op.apply``
runs ``forward`` on raw arrays and, when grad mode is on and some input
requires grad, returns a Tensor whose ``_node`` is the Function instance
(the "ctx"), which keeps the parents and whatever the backward needs.
``backward()`` walks the nodes in reverse topological order and accumulates
into the leaves' ``.grad`` (seed 000 §2.10: a value used on several paths
receives the SUM of the path gradients).

Backward code is written once and runs in two modes (see
neurocore/autograd/__init__.py for the rules):

* normal backward: ``grad_output``, ``ctx.inputs`` and ``ctx.output`` are raw
  NumPy arrays, so the backward is plain NumPy at full speed;
* ``create_graph=True``: the same names are Tensors, so the very same
  expressions record a graph and gradients of gradients work.

This file is the whole engine, in reading order: TensorBase (the state the
engine keeps on every tensor, and ``t.backward()``), Function and Op (the
nodes), the backward loop (``_run_backward``), the leaves'
post-accumulate-grad hooks (``_LeafHooks``), then ``backward()`` and
``grad()``.  Its compiled half, the extension ``neurocore._engine_core``,
holds TensorCore (the tensor state as C fields) and repeats ``Op.apply``
and the plain backward's node loop without the interpreter's
per-statement cost.

Imports point one way: ``_grad_mode`` <- this module <- ``_tensor_ops``
(the elementary ops) <- ``_tensor`` (Tensor, the factories).  The engine
never names Tensor: it reads and writes the slots of TensorBase, Tensor's
base class, and makes new tensors with ``_wrap`` (``_engine_core._wrap_array``),
which allocates the type that ``neurocore._tensor`` registers with
``_engine_core._set_tensor_type`` at its import.
"""
import numpy as np

from neurocore import _engine_core
from neurocore._grad_mode import _mode, set_grad_enabled

_new = _engine_core.NodeCore.__new__
_FLOAT_KINDS = "f"


# a Tensor around an array produced by an op (no copy, no checks)
_wrap = _engine_core._wrap_array


def _dtype_error(a, b):
    return TypeError(f"dtypes do not mix: got {np.dtype(a).name} and {np.dtype(b).name}; "
                     f"convert one side explicitly (e.g. .to(np.{np.dtype(a).name}))")


# ---------------------------------------------------------------------------
# TensorBase: the engine's view of a tensor
# ---------------------------------------------------------------------------


class TensorBase(_engine_core.TensorCore):
    """The engine's view of a tensor: the state it keeps on every tensor
    (``data``, ``_grad``, ``_node``, ``_idx``, ``requires_grad``, the
    C fields of _engine_core.TensorCore) and ``backward()``.
    neurocore._tensor.Tensor adds the array methods."""

    __slots__ = ()

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if (inputs is None and not create_graph and self._node is not None and self.requires_grad
                and (gradient is not None or self.data.size == 1)):
            # loss.backward() (seed 1) or y.backward(g) (g's array, validated and
            # read in place: the engine copies it if it would become a .grad):
            # the compiled node loop
            seed = None if gradient is None else _seed(self, gradient, False, copy=False)
            _backward_plain(self, bool(retain_graph), _mode, _accumulate_leaf, _FREED_MESSAGE, seed,
                            gradient is not None)
            return
        backward(self, gradient, retain_graph, create_graph, inputs)


# ---------------------------------------------------------------------------
# Function: a node of the graph (and PyTorch's custom-function API)
# ---------------------------------------------------------------------------


class Function(_engine_core.NodeCore):
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
        ctx.needs_input_grad = tuple(isinstance(a, TensorBase) and a.requires_grad for a in args)
        previous = _mode.enabled
        _mode.enabled = False
        try:
            result = cls.forward(ctx, *args, **kwargs)
        finally:
            _mode.enabled = previous
        single = not isinstance(result, tuple)
        outputs = [result] if single else list(result)
        for i, out in enumerate(outputs):
            if not isinstance(out, TensorBase):
                outputs[i] = _wrap(out, None)
        if previous and any(ctx.needs_input_grad):
            ctx.parents = tuple(a if isinstance(a, TensorBase) else None for a in args)
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
            grad_tensors.append(g if isinstance(g, TensorBase) else _wrap(g, None))
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
            if not isinstance(r, TensorBase):
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

    # apply(*args, **settings): run forward on the arguments' arrays and,
    # when grad mode is on and some Tensor argument requires grad, record
    # the node (parents, needs_input_grad, the raw inputs, the output if
    # save_output).  Compiled (neurocore/_engine_core.pyx): it runs once per op.
    apply = classmethod(_engine_core._op_apply_method)

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
    return _engine_core._toposort_nodes(list(root_nodes))


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
            if graph and not isinstance(g, TensorBase):
                g = _wrap(g, None)
            elif not graph and isinstance(g, TensorBase):
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
                _hand_over(t, g, graph, grads, owned, _accumulate_leaf)
            if hooks is not None:
                hooks.done(parents, parent_grads, needs)
    finally:
        _mode.enabled = previous
    return captured


# root.backward() for a one-element root, and root.backward(gradient): the
# compiled node loop (neurocore/_engine_core.pyx), the same steps as
# _run_backward's plain case
_backward_plain = _engine_core._backward_plain
# one gradient contribution to a tensor: a leaf's .grad, or its node's slot
# (the plain node loop's own step, compiled)
_hand_over = _engine_core._hand_over


def _accumulate_leaf(t, g, graph, owned):
    if graph:
        g = g if isinstance(g, TensorBase) else _wrap(g, None)
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


# ---------------------------------------------------------------------------
# Leaves' post-accumulate-grad hooks
# ---------------------------------------------------------------------------


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
    # (filled by Tensor.register_post_accumulate_grad_hook, neurocore._tensor)
    registry = {}

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
        # per node, by the identity of its parents tuple (what done() is
        # given): the positions of its hooked leaf parents, so that done()
        # on a node without any costs one dict lookup
        watch = {}
        for t in roots:
            if t._node is None and id(t) in registry:
                pending[id(t)] = pending.get(id(t), 0) + 1
        for node in order:
            if node is None or node.parents is None:
                continue
            hooked = []
            for i, (p, need) in enumerate(zip(node.parents, node.needs_input_grad)):
                if need and isinstance(p, TensorBase) and p._node is None and id(p) in registry:
                    pending[id(p)] = pending.get(id(p), 0) + 1
                    hooked.append((i, p))
            if hooked:
                watch.setdefault(id(node.parents), []).append(hooked)   # (two nodes may share one tuple)
        self.pending = pending
        self.watch = watch
        self.received = set()

    def done(self, parents, parent_grads, needs):
        """A node has handed its gradients to its parents (parent_grads:
        one per parent, None for none); a node the pass skips passes
        parent_grads=().  The roots' pass (a list of the seeded roots) is
        not in ``watch``: its hooked leaves are found by scanning it."""
        entries = self.watch.get(id(parents))
        hooked = None
        if entries:
            hooked = entries.pop()
        if hooked is None:
            if not self.pending or isinstance(parents, tuple):
                return
            hooked = [(i, p) for i, (p, need) in enumerate(zip(parents, needs)) if need]
        grads = parent_grads if type(parent_grads) is tuple else tuple(parent_grads)
        pending = self.pending
        for i, p in hooked:
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


_engine_core._set_post_accumulate_hooks(_LeafHooks.registry, _LeafHooks)


# ---------------------------------------------------------------------------
# backward() and grad()
# ---------------------------------------------------------------------------


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _seed_grads(outputs, grad_outputs, graph):
    if grad_outputs is None and len(outputs) == 1:      # loss.backward(): the common case
        out = outputs[0]
        if isinstance(out, TensorBase) and out.requires_grad and out.data.size == 1:
            seed = np.empty(out.data.shape, out.data.dtype)     # (np.ones_like costs ~5x more)
            seed.fill(1)
            return [seed]
    seeds = []
    grad_outputs = _as_list(grad_outputs) or [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, TensorBase):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(got shape {out.shape}); pass gradient=")
            g = np.ones_like(out.data)
        else:
            g = _seed(out, g, graph)
        seeds.append(g)
    return seeds


def _seed(out, g, graph, copy=True):
    """The seed that gradient g gives output out: g itself when a graph is
    being recorded and g is a Tensor, else its validated array (a copy
    unless copy is false)."""
    g_t = g if isinstance(g, TensorBase) else None
    g_data = g.data if g_t is not None else np.asarray(g)
    o_data = out.data
    if g_data.shape != o_data.shape:
        raise ValueError(f"gradient has shape {g_data.shape}, output has shape {o_data.shape}")
    if g_data.dtype != o_data.dtype:
        raise _dtype_error(g_data.dtype, o_data.dtype)
    if graph and g_t is not None:
        return g_t
    return g_data.copy() if copy else g_data


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
    single = isinstance(inputs, TensorBase)
    inputs = _as_list(inputs)
    for t in inputs:
        if not isinstance(t, TensorBase) or not t.requires_grad:
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
        elif isinstance(g, TensorBase):
            result.append(g)
        else:
            if g.dtype != t.data.dtype:
                g = g.astype(t.data.dtype)
            result.append(_wrap(g.copy() if g.base is not None or not g.flags.writeable else g, None))
    return tuple(result)


# summing a broadcast gradient back: Function's results and most ops' backward
def _unbroadcast(g, shape):
    """Sum a broadcast gradient back to ``shape`` (the input's shape)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)
