# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._engine_core: the compiled half of the autograd engine.

TensorCore and NodeCore, the state the engine keeps on every tensor and
every node as C fields; Op.apply and its argument split; the grad mode; the topological sort; the plain
backward's node loop and the hand-over of an op's input gradients; and the
multi-tensor grouping of an optimizer step.  Same logic as the Python
engine in neurocore._engine, without the interpreter's per-statement cost,
which is what a step of a small network spends most of its time on.

This module knows tensors and nodes, never kernels, layers or optimizers:
it calls no C kernel (nc_core lives in neurocore._nc_core alone), and the
Python layers register with it what it must allocate or call back
(``_set_tensor_type``, ``_set_post_accumulate_hooks``, ``_set_apply_mode``).
"""
cimport cython
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF, PyObject
from cpython.long cimport PyLong_FromVoidPtr
from cpython.pythread cimport PyThread_tss_create, PyThread_tss_get, PyThread_tss_set
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.string cimport memcpy, memset

import numpy as np
cimport numpy as cnp
from neurocore._shape cimport same_shape

cnp.import_array()


cdef extern from "Python.h":
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, PyObject *kwnames)
    PyObject *PyTuple_GET_ITEM(object p, Py_ssize_t pos)


@cython.auto_pickle(False)       # neurocore._tensor.Tensor defines how it pickles
cdef class TensorCore:
    """What the engine reads and writes on every tensor: ``data`` (the
    NumPy array), ``_grad`` (a Tensor or None), ``_node`` (the Function that
    made it, None for a leaf), ``_idx`` (which output of that node),
    ``requires_grad`` and, on a leaf given hooks only, the
    ``_post_accumulate_hooks`` table.  C fields: the compiled engine reads
    them as struct members, Python as attributes (declared in
    _engine_core.pxd)."""


cdef class NodeCore:
    """What the engine reads and writes on every node (a Function instance,
    the "ctx" of an op): ``parents`` (the forward's arguments; None once
    the saved state is released), ``needs_input_grad`` (one bool per
    parent), and for built-in ops ``_raw`` (the arguments' arrays),
    ``_out`` (the result, for ops that save it), ``_graph`` (whether the
    backward running now records a graph) and ``recording`` (whether the
    forward's result joins the graph).  C fields; everything else an op
    keeps goes into the ``__dict__`` of its instances (neurocore._engine's
    Function, a Python subclass, gives them one)."""

    def __cinit__(self):
        self.parents = ()
        self.needs_input_grad = ()

    def _release(self):
        """Free what the backward needed (the node stays in the graph)."""
        getattr(self, "__dict__").clear()
        self._raw = None
        self._out = None
        self.parents = None


cdef type _tensor_type = None               # neurocore._tensor.Tensor
cdef object _grad_property = None           # Tensor.grad
cdef object _op_backward_impl = None        # _engine.Op._backward_impl
cdef object _node_release = NodeCore._release
# post-accumulate-grad hooks (_engine._LeafHooks): the registry of hooked
# leaves, and the per-backward tracker built only while it is non-empty
cdef object _leaf_hook_registry = None
cdef object _leaf_hook_tracker = None


def _set_tensor_type(type tensor_type, op_backward_impl=None):
    """Register neurocore._tensor.Tensor, the type the engine allocates (done
    once, at its import), and the engine methods _backward_nodes may run
    inline for the nodes that have not overridden them."""
    global _tensor_type, _grad_property, _op_backward_impl
    if not issubclass(tensor_type, TensorCore):
        raise TypeError(f"{tensor_type!r} is not a TensorCore subclass")
    _tensor_type = tensor_type
    _grad_property = getattr(tensor_type, "grad", None)
    _op_backward_impl = op_backward_impl


def _set_post_accumulate_hooks(registry, tracker):
    """Register _engine._LeafHooks.registry (a dict, empty when no leaf has
    a hook) and _engine._LeafHooks (built per backward when it is not)."""
    global _leaf_hook_registry, _leaf_hook_tracker
    _leaf_hook_registry = registry
    _leaf_hook_tracker = tracker


cdef TensorCore _new_tensor(object data, object node):
    # Tensor.__new__ without the method lookup: Tensor defines no __new__,
    # so its allocator is TensorCore's
    cdef TensorCore t = TensorCore.__new__(_tensor_type)
    t.data = data
    t._node = node
    t.requires_grad = node is not None
    return t


cdef inline TensorCore _wrap(object data, object node):
    if type(data) is not cnp.ndarray:
        data = np.asarray(data)
    return _new_tensor(data, node)


def _wrap_array(object data, object node):
    """_engine._wrap: a Tensor around an op's result (no copy, no checks)."""
    return _wrap(data, node)


cdef tuple _split(tuple args):
    """(raw, needs) for Op.apply: raw the args with every Tensor replaced by
    its array; needs one bool per arg (a Tensor that requires grad), or None
    when no arg requires grad."""
    cdef Py_ssize_t n = len(args), i
    cdef tuple raw = PyTuple_New(n)
    cdef tuple needs = PyTuple_New(n)
    cdef bint any_need = False
    cdef object a, d, need
    for i in range(n):
        a = args[i]
        if isinstance(a, TensorCore):
            d = (<TensorCore>a).data
            need = True if (<TensorCore>a).requires_grad else False
            if need is True:
                any_need = True
        else:
            d = a
            need = False
        Py_INCREF(d)
        PyTuple_SET_ITEM(raw, i, d)
        Py_INCREF(need)
        PyTuple_SET_ITEM(needs, i, need)
    return raw, (needs if any_need else None)


def _toposort_nodes(list root_nodes):
    """Nodes reachable from the roots, every node after all of its parents
    (an iterative depth-first search)."""
    cdef list order = []
    cdef set visited = set()
    cdef list nodes = []            # the search path, and each node's parents
    cdef list parent_seqs = []
    cdef Py_ssize_t pos_buf[64]     # the next parent to look at, per depth
    cdef Py_ssize_t *pos = pos_buf
    cdef Py_ssize_t cap = 64, depth, i
    cdef Py_ssize_t *grown
    cdef object node, n, p
    cdef tuple parents
    try:
        for root in root_nodes:
            if root in visited:
                continue
            visited.add(root)
            nodes.append(root)
            parent_seqs.append(tuple(root.parents or ()))
            pos[0] = 0
            depth = 1
            while depth:
                parents = <tuple>parent_seqs[depth - 1]
                i = pos[depth - 1]
                n = None
                while i < len(parents):
                    p = parents[i]
                    i += 1
                    if not isinstance(p, TensorCore):
                        continue
                    n = (<TensorCore>p)._node
                    if n is not None and n not in visited:
                        break
                    n = None
                pos[depth - 1] = i
                if n is None:               # every parent is done
                    order.append(nodes.pop())
                    parent_seqs.pop()
                    depth -= 1
                    continue
                visited.add(n)
                if depth == cap:
                    grown = <Py_ssize_t *>PyMem_Malloc(2 * cap * sizeof(Py_ssize_t))
                    if grown == NULL:
                        raise MemoryError()
                    memcpy(grown, pos, cap * sizeof(Py_ssize_t))
                    if pos != pos_buf:
                        PyMem_Free(pos)
                    pos = grown
                    cap *= 2
                nodes.append(n)
                parent_seqs.append(tuple(n.parents or ()))
                pos[depth] = 0
                depth += 1
    finally:
        if pos != pos_buf:
            PyMem_Free(pos)
    return order


cdef inline bint _same_dtype(object g, object data):
    if type(data) is not cnp.ndarray:
        return g.dtype == data.dtype
    # native builtin descriptors are shared objects: identity is the usual answer
    return (<object>cnp.PyArray_DESCR(<cnp.ndarray>g) is <object>cnp.PyArray_DESCR(<cnp.ndarray>data)
            or g.dtype == data.dtype)


cdef int _give(TensorCore t, object g, bint graph, dict grads, set owned, object accumulate) except -1:
    """Give one gradient contribution g to tensor t (seed 000 §2.10:
    contributions add): a leaf whose .grad is None takes a fresh array as
    is in a plain backward, other leaves go through ``accumulate``
    (_engine._accumulate_leaf), and a non-leaf's contribution is summed
    into ``grads[its node]``."""
    cdef object target = t._node, slots, gid
    cdef Py_ssize_t i
    if target is None:
        if (not graph and t._grad is None and type(g) is cnp.ndarray and cnp.PyArray_BASE(<cnp.ndarray>g) == NULL
                and _same_dtype(g, t.data)):
            gid = PyLong_FromVoidPtr(<void *>g)       # id(g)
            if gid not in owned:
                owned.add(gid)              # the usual first gradient: store as is
                t._grad = _new_tensor(g, None)
                return 0
        accumulate(t, g, graph, owned)
        return 0
    slots = grads.get(target)
    if slots is None:
        slots = grads[target] = [None] * target.n_outputs
    i = t._idx
    slots[i] = g if slots[i] is None else slots[i] + g
    return 0


def _hand_over(TensorCore t, g, bint graph, dict grads, set owned, accumulate):
    """_engine._run_backward's hand-over of one contribution (see _give)."""
    _give(t, g, graph, grads, owned, accumulate)


cdef int _deliver(parents, parent_grads, needs, dict grads, set owned, accumulate) except -1:
    """Hand an op's input gradients to its parents in a plain backward (no
    create_graph, no capture), one _give each."""
    cdef object g, need
    cdef Py_ssize_t j, n
    if type(parents) is not tuple or type(parent_grads) is not tuple or type(needs) is not tuple:
        parents, parent_grads, needs = tuple(parents), tuple(parent_grads), tuple(needs)
    n = min(len(<tuple>parents), len(<tuple>parent_grads), len(<tuple>needs))   # zip's length
    for j in range(n):
        g = (<tuple>parent_grads)[j]
        need = (<tuple>needs)[j]
        if not need or g is None:
            continue
        _give(<TensorCore?>(<tuple>parents)[j], g, False, grads, owned, accumulate)
    return 0


def _backward_nodes(TensorCore root, seed, bint retain, accumulate, str freed_message, bint seed_borrowed=False):
    """The node loop of _backward_plain (root.backward() without
    create_graph or inputs, no capture; grad mode already off):
    every node after all its consumers, each node's backward once, its
    gradients handed over by _deliver, its saved state released unless
    retain.  A built-in Op's _backward_impl and Function._release run
    inline here (the same steps) unless a class overrides them."""
    root_node = root._node
    cdef list slots = [None] * root_node.n_outputs
    cdef NodeCore node
    slots[root._idx] = seed
    cdef dict grads = {root_node: slots}
    cdef set owned = set()
    if seed_borrowed:
        # the caller's array: read by the nodes, never stored as a .grad (a
        # leaf that receives it as is gets a copy, as from another leaf)
        owned.add(PyLong_FromVoidPtr(<void *>seed))
    cdef list order = _toposort_nodes([root_node])
    cdef Py_ssize_t k
    # leaves' post-accumulate-grad hooks: a tracker only while some are registered
    hooks = _leaf_hook_tracker(order) if _leaf_hook_registry else None
    for k in range(len(order) - 1, -1, -1):
        node = <NodeCore?>order[k]
        node_grads = grads.pop(node, None)
        if node_grads is None:
            if hooks is not None:
                hooks.skipped(node)
            continue
        parents = node.parents
        if parents is None:
            raise RuntimeError(freed_message)
        cls = type(node)
        # + - * on same-shaped gradients: compiled (built-in ops, so neither
        # _backward_impl nor _release is overridden)
        parent_grads = arith_grads = _arith_backward(node, (<list>node_grads)[0])
        if arith_grads is not None:
            node._graph = False
        elif _op_backward_impl is not None and cls._backward_impl is _op_backward_impl:
            node._graph = False
            parent_grads = node.backward((<list>node_grads)[0])
            if type(parent_grads) is not tuple:
                parent_grads = (parent_grads,)
        else:
            parent_grads = node._backward_impl(node_grads, False)
        needs = node.needs_input_grad
        if not retain:
            if arith_grads is not None or cls._release is _node_release:
                if arith_grads is None:
                    # (an arithmetic op's forward sets no attribute: reading
                    # __dict__ would only create an empty one to clear)
                    (<object>node).__dict__.clear()
                node._raw = None
                node._out = None
                node.parents = None
            else:
                node._release()
        _deliver(parents, parent_grads, needs, grads, owned, accumulate)
        if hooks is not None:
            hooks.done(parents, parent_grads, needs)


cdef object _ones_like(object data):
    """The seed of loss.backward(): ones of data's shape and dtype."""
    cdef int typenum
    cdef cnp.npy_intp k, size
    if type(data) is cnp.ndarray and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>data):
        typenum = cnp.PyArray_TYPE(<cnp.ndarray>data)
        seed = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray>data), cnp.PyArray_DIMS(<cnp.ndarray>data),
                                 typenum, 0)
        size = cnp.PyArray_SIZE(<cnp.ndarray>seed)
        if typenum == cnp.NPY_FLOAT32:
            for k in range(size):
                (<float *>cnp.PyArray_DATA(<cnp.ndarray>seed))[k] = 1.0
        elif typenum == cnp.NPY_FLOAT64:
            for k in range(size):
                (<double *>cnp.PyArray_DATA(<cnp.ndarray>seed))[k] = 1.0
        else:
            seed.fill(1)
    else:
        seed = np.empty(data.shape, data.dtype)
        seed.fill(1)
    return seed


def _backward_plain(TensorCore root, bint retain, mode, accumulate, str freed_message, seed=None,
                    bint seed_borrowed=False):
    """_engine's root.backward() without create_graph or inputs, for a root
    with a graph, grad mode off while the nodes run; seed: the root's
    gradient (a validated array of its shape and dtype), None for a
    one-element root (ones); seed_borrowed: seed is the caller's array,
    which the engine reads but does not keep."""
    if seed is None:
        seed = _ones_like(root.data)
    cdef bint previous = _mode_enabled(mode)
    _mode_set(mode, False)
    try:
        _backward_nodes(root, seed, retain, accumulate, freed_message, seed_borrowed)
    finally:
        _mode_set(mode, previous)


# ---- grad mode -----------------------------------------------------------
# Per thread, like PyTorch's: C thread-specific storage holding NULL (grad
# mode on, what every thread starts with) or a non-NULL tag (off).  Reading
# it is a few instructions; a threading.local attribute costs hundreds, and
# every recorded op and every backward reads or sets it.
cdef Py_tss_t _grad_off_key
if PyThread_tss_create(&_grad_off_key) != 0:
    raise MemoryError("cannot create the grad mode's thread-specific key")


cdef bint _grad_enabled() noexcept:
    return PyThread_tss_get(&_grad_off_key) == NULL


cdef inline int _set_grad_enabled(bint on) except -1:
    if PyThread_tss_set(&_grad_off_key, NULL if on else <void *>&_grad_off_key) != 0:
        raise MemoryError("cannot set the grad mode")
    return 0


cdef class _GradMode:
    """neurocore._grad_mode's grad mode: ``enabled`` is per thread (True in a
    new thread) and kept in C, where the engine's compiled paths read it."""

    @property
    def enabled(self):
        return _grad_enabled()

    @enabled.setter
    def enabled(self, value):
        _set_grad_enabled(bool(value))


cdef inline bint _mode_enabled(object mode) except -1:
    return _grad_enabled() if type(mode) is _GradMode else bool(mode.enabled)


cdef inline int _mode_set(object mode, bint on) except -1:
    if type(mode) is _GradMode:
        return _set_grad_enabled(on)
    mode.enabled = on
    return 0


cdef object _apply_mode = None


def _op_apply_method(cls, *args, **settings):
    """Op.apply itself (installed as a classmethod by _engine): run
    cls.forward on the raw arrays and, when grad mode is on and some Tensor
    argument requires grad, record the node (parents, needs_input_grad, raw
    inputs, output)."""
    cdef NodeCore ctx = NodeCore.__new__(cls)
    raw, needs = _split(args)
    if needs is not None and _mode_enabled(_apply_mode):
        ctx.recording = True
        return _record(ctx, args, needs, raw, _forward(cls, ctx, raw, settings), cls.save_output)
    return _wrap(_forward(cls, ctx, raw, settings), None)


cdef object _forward(object cls, NodeCore ctx, tuple raw, dict settings):
    """cls.forward(ctx, *raw, **settings): without settings a vectorcall
    from the arguments in place (no argument tuple is built)."""
    cdef PyObject *stack[8]
    cdef Py_ssize_t n = len(raw), i
    forward = cls.forward
    if settings or n > 7:
        return forward(ctx, *raw, **settings)
    stack[0] = <PyObject *>ctx
    for i in range(n):
        stack[i + 1] = PyTuple_GET_ITEM(raw, i)
    return PyObject_Vectorcall(forward, stack, <size_t>(n + 1), NULL)


def _set_apply_mode(mode):
    """Register neurocore._grad_mode's grad-mode object (thread-local)."""
    global _apply_mode
    _apply_mode = mode


cdef object _record(NodeCore ctx, tuple args, tuple needs, tuple raw, object out, bint save_output):
    """The recording half of Op.apply: ctx joins the graph as out's node
    (non-Tensor arguments never get a gradient)."""
    ctx.parents = args
    ctx.needs_input_grad = needs
    ctx._raw = raw
    if save_output:
        ctx._out = out
    return _wrap(out, ctx)


# ---- Tensor's + - * /: the common cases compiled -------------------------
# Tensor.__add__ etc. are these functions: with a float or a Tensor of the
# same dtype, the forward (the arrays' own operator, what Add/Sub/Mul/Div's
# forward computes) and the recording run here without a Python frame; every
# other operand goes to Tensor._binary (lifting, promotion, errors).  The
# plain node loop runs the backward of Add, Sub and Mul here too when no
# gradient needs reducing to a broadcast input's shape (_arith_backward);
# the ops' Python backward covers the rest and create_graph.
cdef enum:
    _ADD = 0
    _SUB = 1
    _MUL = 2
    _DIV = 3
cdef object _arith_ops = (None, None, None, None)
# needs_input_grad of a binary op, indexed by 2 * (a requires grad) + (b does)
cdef tuple _ARITH_NEEDS = ((False, False), (False, True), (True, False), (True, True))


def _set_arithmetic(add, sub, mul, div):
    """Register the op classes of + - * / (neurocore._tensor_ops)."""
    global _arith_ops
    for cls in (add, sub, mul, div):
        if cls.save_output:
            raise TypeError(f"{cls.__name__} saves its output: not an arithmetic op of this route")
    _arith_ops = (add, sub, mul, div)


cdef object _arith_apply(int op, object a, object b):
    """_arith_ops[op].apply(a, b): a and b are Tensors or a float."""
    cdef bint ta = isinstance(a, TensorCore), tb = isinstance(b, TensorCore)
    ad = (<TensorCore>a).data if ta else a
    bd = (<TensorCore>b).data if tb else b
    if op == _ADD:
        out = ad + bd
    elif op == _SUB:
        out = ad - bd
    elif op == _MUL:
        out = ad * bd
    else:
        out = ad / bd
    cdef bint ra = ta and (<TensorCore>a).requires_grad
    cdef bint rb = tb and (<TensorCore>b).requires_grad
    cdef NodeCore ctx
    if (ra or rb) and _mode_enabled(_apply_mode):
        ctx = NodeCore.__new__(<type>(<tuple>_arith_ops)[op])
        ctx.recording = True
        return _record(ctx, (a, b), <tuple>_ARITH_NEEDS[2 * ra + rb], (ad, bd), out, False)
    return _wrap(out, None)


cdef inline bint _arith_operand(TensorCore self, object other):
    """The operands the compiled route takes: a float, or a Tensor (exactly)
    of self's dtype (the same dtype object: descriptors compared in C)."""
    if type(other) is float:
        return True
    if type(other) is not _tensor_type:
        return False
    a, b = self.data, (<TensorCore>other).data
    if type(a) is cnp.ndarray and type(b) is cnp.ndarray:
        return <void *>cnp.PyArray_DESCR(<cnp.ndarray>a) == <void *>cnp.PyArray_DESCR(<cnp.ndarray>b)
    return a.dtype is b.dtype


cdef object _arith(int op, TensorCore self, object other, bint reflected):
    if reflected:
        if type(other) is float:
            return _arith_apply(op, other, self)
        return self._binary((<tuple>_arith_ops)[op], other, True)
    if _arith_operand(self, other):
        return _arith_apply(op, self, other)
    return self._binary((<tuple>_arith_ops)[op], other)


def _tensor_add(TensorCore self, other):
    return _arith(_ADD, self, other, False)


def _tensor_radd(TensorCore self, other):
    return _arith(_ADD, self, other, True)


def _tensor_sub(TensorCore self, other):
    return _arith(_SUB, self, other, False)


def _tensor_rsub(TensorCore self, other):
    return _arith(_SUB, self, other, True)


def _tensor_mul(TensorCore self, other):
    return _arith(_MUL, self, other, False)


def _tensor_rmul(TensorCore self, other):
    return _arith(_MUL, self, other, True)


def _tensor_truediv(TensorCore self, other):
    return _arith(_DIV, self, other, False)


def _tensor_rtruediv(TensorCore self, other):
    return _arith(_DIV, self, other, True)


cdef object _arith_backward(NodeCore node, object g):
    """The gradients of an Add, Sub or Mul node for the plain node loop, or
    None to run its Python backward (a gradient to reduce to a broadcast
    input's shape).  The same values as that backward: g, -g, g * b, g * a."""
    cdef object cls = type(node)
    cdef tuple ops = <tuple>_arith_ops
    cdef int op
    if cls is ops[_ADD]:
        op = _ADD
    elif cls is ops[_SUB]:
        op = _SUB
    elif cls is ops[_MUL]:
        op = _MUL
    else:
        return None
    if type(g) is not cnp.ndarray:
        return None
    cdef tuple needs = <tuple>node.needs_input_grad
    cdef tuple raw = <tuple>node._raw
    a, b = raw[0], raw[1]
    cdef bint need_a = needs[0] is True, need_b = needs[1] is True
    if ((need_a and not (type(a) is cnp.ndarray and same_shape(<cnp.ndarray>a, <cnp.ndarray>g)))
            or (need_b and not (type(b) is cnp.ndarray and same_shape(<cnp.ndarray>b, <cnp.ndarray>g)))):
        return None
    if op == _ADD:
        return (g if need_a else None, g if need_b else None)
    if op == _SUB:
        return (g if need_a else None, -g if need_b else None)
    return (g * b if need_a else None, g * a if need_b else None)


# ---- the multi-tensor grouping of an optimizer step -------------------------
cdef inline object _grad_array(object p, bint plain):
    """p's gradient as an array, or None.  plain: p's class reads .grad
    through Tensor.grad (the property returning _grad), read directly here;
    a grad is an ndarray or a tensor holding one."""
    g = (<TensorCore>p)._grad if plain else p.grad
    if g is not None and not cnp.PyArray_Check(g):
        g = (<TensorCore?>g).data if isinstance(g, TensorCore) else g.data
    return g


cdef inline bint _plain_grad(type tp):
    return issubclass(tp, TensorCore) and getattr(tp, "grad", None) is _grad_property


cdef long long _next_step(object state) except -1:
    t = (<dict>state).get("step")
    if type(t) is float and 0.0 <= <double>t < 4e18:
        return <long long>(<double>t) + 1
    if type(t) is int and 0 <= t < 2**62:
        return <long long>t + 1
    if t is None:
        raise KeyError("an optimizer state has no 'step'")
    try:
        value = int(np.asarray(t).item())
    except (TypeError, ValueError):
        raise TypeError(f"an optimizer state has a 'step' that is not a number: {t!r}") from None
    if not 0 <= value < 2**62:
        raise ValueError(f"an optimizer state has step {value}, not in [0, 2**62)")
    return value + 1


def _group_tensors(list params, dict states, tuple roles, bint counted, object new_states, object context):
    """_group_tensors(params, states, roles, counted, new_states, context)
        -> (buckets, writeback)

    The arrays of one multi-tensor step over ``params`` (the grouping of
    PyTorch's foreach optimizers), in one C loop: a step of a small model
    would otherwise spend microseconds per tensor in Python.  Tensors whose
    .grad is None are skipped.

    states: None for a step that keeps no state, else a dict
    id(param) -> (param, state dict); each state must hold the arrays named
    by ``roles`` and, with ``counted``, a "step" count.  The params with a
    gradient and no state yet (none, or an empty dict) are passed, as
    ``new_states(context, indices, arrays)``, to the caller, which returns
    their new state dicts.

    buckets: one (datas, grads, states, role_lists, steps) per dtype, in the
    order of first appearance (one, unless the group mixes float32 and
    float64); steps the counts after this step: one int where they are all
    equal (the usual case), else a list, None without ``counted``.
    writeback: None, or (param array, contiguous copy) pairs for params that
    are not C-contiguous and aligned: the step updates the copy, and the
    caller copies it back.

    Raises, naming params[i], where a gradient's dtype or shape differs from
    its param's, or a param is read-only.  The step kernels validate the
    arrays again before any C runs."""
    cdef Py_ssize_t n = len(params), i, k
    cdef list datas = [], grads = []
    cdef list sts = None if states is None else []
    cdef list fresh = None, where = None, fresh_data = None, typenums = None
    cdef object p, g, d, s, entry, tp, last_type = None, writeback = None
    cdef bint plain = False
    cdef int typenum, first_type = -1
    for i in range(n):
        p = params[i]
        tp = type(p)
        if tp is not last_type:
            last_type = tp
            plain = _plain_grad(tp)
        g = _grad_array(p, plain)
        if g is None:
            continue
        d = (<TensorCore>p).data if plain else p.data
        if not (cnp.PyArray_Check(g) and cnp.PyArray_Check(d)):
            raise TypeError(f"params[{i}] and its gradient must hold numpy arrays, got "
                            f"{type(d).__name__} and {type(g).__name__}")
        if cnp.PyArray_DESCR(<cnp.ndarray>g) is not cnp.PyArray_DESCR(<cnp.ndarray>d) and g.dtype != d.dtype:
            raise TypeError(f"the gradient of params[{i}] has dtype {g.dtype} but the param has dtype {d.dtype}")
        if not same_shape(<cnp.ndarray>g, <cnp.ndarray>d):
            raise ValueError(f"the gradient of params[{i}] has shape {g.shape} but the param has shape {d.shape}")
        if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>d):
            raise ValueError(f"params[{i}].data is read-only; the optimizer updates it in place")
        if not (cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>d) and cnp.PyArray_ISALIGNED(<cnp.ndarray>d)):
            work = np.array(d, order="C")       # contiguous and aligned
            if writeback is None:
                writeback = []
            writeback.append((d, work))
            d = work
        typenum = cnp.PyArray_TYPE(<cnp.ndarray>d)
        if first_type < 0:
            first_type = typenum
        elif typenum != first_type and typenums is None:
            typenums = [first_type] * len(datas)     # the dtypes only once they differ
        if typenums is not None:
            typenums.append(typenum)
        datas.append(d)
        grads.append(g)
        if sts is None:
            continue
        entry = states.get(id(p))
        s = (<tuple>entry)[1] if entry is not None else None
        if not s:
            if fresh is None:
                fresh, where, fresh_data = [], [], []
            fresh.append(i)
            fresh_data.append(d)
            where.append(len(sts))
        sts.append(s)
    if fresh is not None:
        made = new_states(context, fresh, fresh_data)
        for k in range(len(fresh)):
            sts[<Py_ssize_t>where[k]] = made[k]
    if typenums is None:
        return [_bucket(datas, grads, sts, roles, counted)], writeback
    buckets = {}
    for k in range(len(datas)):
        b = buckets.get(typenums[k])
        if b is None:
            b = buckets[typenums[k]] = ([], [], None if sts is None else [])
        b[0].append(datas[k])
        b[1].append(grads[k])
        if sts is not None:
            b[2].append(sts[k])
    return [_bucket(b[0], b[1], b[2], roles, counted) for b in buckets.values()], writeback


cdef tuple _bucket(list datas, list grads, list states, tuple roles, bint counted):
    """(datas, grads, states, role_lists, steps) of one dtype's tensors."""
    cdef Py_ssize_t i, k, n = len(datas), nroles = len(roles)
    if states is None:
        return datas, grads, None, [], None
    cdef list lists = [[] for _ in range(nroles)]
    cdef object steps = None, s, a
    cdef long long step, step0 = -1
    cdef bint same = True
    for i in range(n):
        s = (<list>states)[i]
        if type(s) is not dict:
            raise TypeError(f"an optimizer state must be a dict, got {type(s).__name__}")
        for k in range(nroles):
            (<list>lists[k]).append((<dict>s).get(roles[k]))
        if not counted:
            continue
        step = _next_step(s)
        if step0 < 0:
            step0 = step
            steps = step0
        if same and step != step0:
            same = False
            steps = [step0] * i         # the list only once they differ
        if not same:
            steps.append(step)
    return datas, grads, states, lists, steps


def _commit_steps(list states, object steps):
    """state["step"] = float(step) for each state (after the kernel ran);
    steps: one int for all, or one per state."""
    cdef Py_ssize_t i
    if type(steps) is int:
        t = float(steps)
        for i in range(len(states)):
            states[i]["step"] = t
        return
    for i in range(len(states)):
        states[i]["step"] = float(steps[i])


def _zero_grads(list params, bint set_to_none):
    """Optimizer.zero_grad over a list of tensors in one C loop: .grad set
    to None, or its array zeroed in place (memset for a writable contiguous
    float array: +0.0 is all zero bits)."""
    cdef object g, tp, last_type = None
    cdef bint plain = False
    for p in params:
        tp = type(p)
        if tp is not last_type:
            last_type = tp
            plain = _plain_grad(tp)
        g = (<TensorCore>p)._grad if plain else p.grad
        if g is None:
            continue
        if set_to_none:
            if plain:
                (<TensorCore>p)._grad = None
            else:
                p.grad = None
            continue
        if not cnp.PyArray_Check(g):
            g = (<TensorCore>g).data if isinstance(g, TensorCore) else g.data
        if (cnp.PyArray_Check(g) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>g)
                and cnp.PyArray_ISFLOAT(<cnp.ndarray>g)):
            memset(cnp.PyArray_DATA(<cnp.ndarray>g), 0, <size_t>cnp.PyArray_NBYTES(<cnp.ndarray>g))
        else:
            g[...] = 0
