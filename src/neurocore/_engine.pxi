# Compiled helpers of the autograd engine's hot path (neurocore._engine):
# Op.apply and its argument split, the grad mode, the topological sort, the
# scalar backward's node loop and the hand-over of an op's input gradients,
# and nn.MLP's one-call LinearChain.apply.  Same logic as the Python they
# replace, without the interpreter's per-statement cost, which is what a
# step of a small network spends most of its time on.  The Tensor class is
# passed in (it lives in Python, in neurocore._tensor; its slots are
# declared by neurocore._engine.TensorBase).

from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_DECREF, PyObject, PyTypeObject
from cpython.long cimport PyLong_FromVoidPtr
from cpython.object cimport Py_TYPE
from cpython.pythread cimport PyThread_tss_create, PyThread_tss_get, PyThread_tss_set
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.string cimport memcpy


cdef extern from "Python.h":
    PyObject *PyType_GenericAlloc(PyTypeObject *type, Py_ssize_t nitems) except NULL
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    object PyBool_FromLong(long v)


cdef object _tensor_type = None
cdef object _op_backward_impl = None      # _engine.Op._backward_impl
cdef object _function_release = None      # _engine.Function._release
cdef object _zero = 0
# post-accumulate-grad hooks (_engine._LeafHooks): the registry of hooked
# leaves, and the per-backward tracker built only while it is non-empty
cdef object _leaf_hook_registry = None
cdef object _leaf_hook_tracker = None

# Tensor's __slots__ as offsets into the object, read from its member
# descriptors: the engine's inner loops read and write them directly instead
# of through the attribute protocol (a few hundred instructions each).  Only
# for the exact types registered here (Tensor and Parameter, which adds no
# slot and no descriptor); any other type takes getattr/setattr.
cdef Py_ssize_t _OFF_DATA = -1, _OFF_GRAD = -1, _OFF_NODE = -1, _OFF_IDX = -1, _OFF_REQ = -1
# the registered types, compared by address (a set lookup per slot access
# costs more than the access itself); _slot_type_refs keeps them alive
cdef enum:
    _MAX_SLOT_TYPES = 8
cdef PyTypeObject *_slot_type_ptrs[_MAX_SLOT_TYPES]
cdef int _n_slot_types = 0
cdef list _slot_type_refs = []


cdef inline bint _is_slot_type(object t):
    cdef PyTypeObject *tp = Py_TYPE(t)
    cdef int i
    for i in range(_n_slot_types):
        if _slot_type_ptrs[i] == tp:
            return True
    return False


cdef int _add_slot_type(type cls) except -1:
    global _n_slot_types
    if cls in _slot_type_refs:
        return 0
    if _n_slot_types == _MAX_SLOT_TYPES:
        raise TypeError(f"at most {_MAX_SLOT_TYPES} Tensor types can be registered")
    _slot_type_refs.append(cls)
    _slot_type_ptrs[_n_slot_types] = <PyTypeObject *>cls
    _n_slot_types += 1
    return 0


cdef Py_ssize_t _slot_offset(type cls, str name) except -1:
    # the slot's descriptor, from the class that declares it (Tensor's slots
    # are declared by its base, neurocore._engine.TensorBase)
    descr = None
    for klass in cls.__mro__:
        if name in klass.__dict__:
            descr = klass.__dict__[name]
            break
    if type(descr).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>descr).d_member.offset


def _set_tensor_type(type tensor_type, op_backward_impl=None, function_release=None):
    """Register neurocore._tensor.Tensor (done once, at its import), and the
    engine methods _backward_nodes may run inline for the nodes that have
    not overridden them."""
    global _tensor_type, _op_backward_impl, _function_release
    global _OFF_DATA, _OFF_GRAD, _OFF_NODE, _OFF_IDX, _OFF_REQ, _n_slot_types
    _tensor_type = tensor_type
    _op_backward_impl = op_backward_impl
    _function_release = function_release
    _OFF_DATA = _slot_offset(tensor_type, "data")
    _OFF_GRAD = _slot_offset(tensor_type, "_grad")
    _OFF_NODE = _slot_offset(tensor_type, "_node")
    _OFF_IDX = _slot_offset(tensor_type, "_idx")
    _OFF_REQ = _slot_offset(tensor_type, "requires_grad")
    _n_slot_types = 0
    _slot_type_refs.clear()
    _add_slot_type(tensor_type)


def _set_post_accumulate_hooks(registry, tracker):
    """Register _engine._LeafHooks.registry (a dict, empty when no leaf has
    a hook) and _engine._LeafHooks (built per backward when it is not)."""
    global _leaf_hook_registry, _leaf_hook_tracker
    _leaf_hook_registry = registry
    _leaf_hook_tracker = tracker


def _register_tensor_subtype(type cls):
    """A Tensor subclass with Tensor's slot layout and no descriptor of its
    own for data, _grad, _node, _idx, requires_grad (nn.Parameter)."""
    if _tensor_type is None or not issubclass(cls, _tensor_type):
        raise TypeError(f"{cls!r} is not a Tensor subclass")
    for name in ("data", "_grad", "_node", "_idx", "requires_grad"):
        for klass in cls.__mro__:
            if klass is _tensor_type:
                break
            if name in klass.__dict__:
                raise TypeError(f"{cls.__name__} redefines {name}")
    _add_slot_type(cls)


cdef inline PyObject **_slot(object obj, Py_ssize_t off):
    return <PyObject **>((<char *><PyObject *>obj) + off)


cdef inline void _init_slot(object obj, Py_ssize_t off, object value):
    # a slot of a freshly allocated object (still NULL)
    Py_INCREF(value)
    _slot(obj, off)[0] = <PyObject *>value


cdef inline object _new_tensor(object data, object node):
    # object.__new__(Tensor) without the method lookup: Tensor defines no
    # __new__ and no custom allocator, so this is exactly what object_new does
    cdef PyObject *p = PyType_GenericAlloc(<PyTypeObject *>_tensor_type, 0)
    t = <object>p
    Py_DECREF(t)
    _init_slot(t, _OFF_DATA, data)
    _init_slot(t, _OFF_GRAD, None)
    _init_slot(t, _OFF_NODE, node)
    _init_slot(t, _OFF_IDX, _zero)
    _init_slot(t, _OFF_REQ, PyBool_FromLong(node is not None))
    return t


cdef inline object _get_slot(object t, Py_ssize_t off, str name):
    """getattr(t, name) for a registered type; NULL slots (never set) raise
    AttributeError through getattr."""
    cdef PyObject *v
    if _is_slot_type(t):
        v = _slot(t, off)[0]
        if v != NULL:
            return <object>v
    return getattr(t, name)


cdef inline void _set_grad_slot(object t, object value) except *:
    cdef PyObject *old
    if _is_slot_type(t):
        old = _slot(t, _OFF_GRAD)[0]
        Py_INCREF(value)
        _slot(t, _OFF_GRAD)[0] = <PyObject *>value
        if old != NULL:
            Py_DECREF(<object>old)
        return
    t._grad = value


def _wrap_array(object data, object node):
    """_engine._wrap: a Tensor around an op's result (no copy, no checks)."""
    if type(data) is not cnp.ndarray:
        data = np.asarray(data)
    return _new_tensor(data, node)


def _split_args(tuple args, type tensor_type):
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
        if _is_slot_type(a) or isinstance(a, tensor_type):
            d = _get_slot(a, _OFF_DATA, "data")
            need = True if _get_slot(a, _OFF_REQ, "requires_grad") else False
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


def _toposort_nodes(list root_nodes, type tensor_type):
    """Nodes reachable from the roots, every node after all of its parents
    (the iterative depth-first search of _engine._toposort)."""
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
                    if not (_is_slot_type(p) or isinstance(p, tensor_type)):
                        continue
                    n = _get_slot(p, _OFF_NODE, "_node")
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


cdef int _deliver(parents, parent_grads, needs, dict grads, set owned, accumulate) except -1:
    """Hand an op's input gradients to its parents in a plain backward (no
    create_graph, no capture): a leaf whose .grad is None takes a fresh array
    as is, other leaves go through ``accumulate`` (_engine._accumulate_leaf),
    and a non-leaf's contribution is summed into ``grads[its node]``"""
    cdef object t, g, need, target, slots, gid
    cdef Py_ssize_t i, j, n
    if type(parents) is not tuple or type(parent_grads) is not tuple or type(needs) is not tuple:
        parents, parent_grads, needs = tuple(parents), tuple(parent_grads), tuple(needs)
    n = min(len(<tuple>parents), len(<tuple>parent_grads), len(<tuple>needs))   # zip's length
    for j in range(n):
        t = (<tuple>parents)[j]
        g = (<tuple>parent_grads)[j]
        need = (<tuple>needs)[j]
        if not need or g is None:
            continue
        target = _get_slot(t, _OFF_NODE, "_node")
        if target is None:
            if (_get_slot(t, _OFF_GRAD, "_grad") is None and type(g) is cnp.ndarray
                    and cnp.PyArray_BASE(<cnp.ndarray>g) == NULL
                    and _same_dtype(g, _get_slot(t, _OFF_DATA, "data"))):
                gid = PyLong_FromVoidPtr(<void *>g)       # id(g)
                if gid not in owned:
                    owned.add(gid)          # the usual first gradient: store as is
                    _set_grad_slot(t, _new_tensor(g, None))
                    continue
            accumulate(t, g, False, owned)
            continue
        slots = grads.get(target)
        if slots is None:
            slots = grads[target] = [None] * target.n_outputs
        i = _get_slot(t, _OFF_IDX, "_idx")
        slots[i] = g if slots[i] is None else slots[i] + g
    return 0


def _backward_nodes(root, seed, bint retain, accumulate, str freed_message):
    """The node loop of _backward_plain (root.backward() without
    create_graph or inputs, no capture; grad mode already off):
    every node after all its consumers, each node's backward once, its
    gradients handed over by _deliver, its saved state released unless
    retain.  A built-in Op's _backward_impl and Function._release run
    inline here (the same steps) unless a class overrides them."""
    root_node = root._node
    cdef list slots = [None] * root_node.n_outputs
    slots[root._idx] = seed
    cdef dict grads = {root_node: slots}
    cdef set owned = set()
    cdef list order = _toposort_nodes([root_node], _tensor_type)
    cdef Py_ssize_t k
    # leaves' post-accumulate-grad hooks: a tracker only while some are registered
    hooks = _leaf_hook_tracker(order) if _leaf_hook_registry else None
    for k in range(len(order) - 1, -1, -1):
        node = order[k]
        node_grads = grads.pop(node, None)
        if node_grads is None:
            if hooks is not None:
                hooks.skipped(node)
            continue
        parents = node.parents
        if parents is None:
            raise RuntimeError(freed_message)
        cls = type(node)
        if _op_backward_impl is not None and cls._backward_impl is _op_backward_impl:
            node._graph = False
            # an Op may name a compiled plain backward (ctx, g) -> tuple: its
            # backward() without create_graph, minus the Python frame
            plain = getattr(cls, "_plain_backward", None)
            if plain is not None:
                parent_grads = plain(node, (<list>node_grads)[0])
            else:
                parent_grads = node.backward((<list>node_grads)[0])
            if type(parent_grads) is not tuple:
                parent_grads = (parent_grads,)
        else:
            parent_grads = node._backward_impl(node_grads, False)
        needs = node.needs_input_grad
        if not retain:
            if _function_release is not None and cls._release is _function_release:
                node.__dict__.clear()
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


def _backward_plain(root, bint retain, mode, accumulate, str freed_message, seed=None):
    """_engine's root.backward() without create_graph or inputs, for a root
    with a graph, grad mode off while the nodes run; seed: the root's
    gradient (a validated array of its shape and dtype that the engine may
    keep), None for a one-element root (ones)."""
    if seed is None:
        seed = _ones_like(root.data)
    cdef bint previous = _mode_enabled(mode)
    _mode_set(mode, False)
    try:
        _backward_nodes(root, seed, retain, accumulate, freed_message)
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


cdef inline bint _grad_enabled():
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
    """Op.apply itself (installed as a classmethod by _engine when the
    extension is present): _op_apply with the engine's grad mode, one Python
    frame less per recorded op."""
    return _op_apply(cls, args, settings, _apply_mode)


def _set_apply_mode(mode):
    """Register neurocore._grad_mode's grad-mode object (thread-local)."""
    global _apply_mode
    _apply_mode = mode


cdef inline object _record_node(object ctx, object cls, tuple args, tuple needs, tuple raw, object out):
    """The recording half of Op.apply: ctx joins the graph as out's node
    (non-Tensor arguments never get a gradient)."""
    ctx.parents = args
    ctx.needs_input_grad = needs
    ctx._raw = raw
    if cls.save_output:
        ctx._out = out
    return _wrap_array(out, ctx)


def _op_apply(cls, tuple args, dict settings, mode):
    """Op.apply (neurocore._engine): run cls.forward on the raw arrays and,
    when grad mode is on (mode.enabled) and some Tensor argument requires
    grad, record the node (parents, needs_input_grad, raw inputs, output)."""
    ctx = object.__new__(cls)
    raw, needs = _split_args(args, _tensor_type)
    forward = cls.forward
    if needs is not None and _mode_enabled(mode):
        ctx.recording = True
        return _record_node(ctx, cls, args, needs, raw, forward(ctx, *raw, **settings))
    return _wrap_array(forward(ctx, *raw, **settings), None)


def _linear_chain_apply(cls, x, tuple linears, tuple activations, double slope):
    """nn.MLP's ``cls.apply(x, W_1, b_1, W_2, ..., activations=, slope=)``
    (cls: functional._ops.LinearChain; linears: the Linear modules, whose
    weight and bias are read here) in one call: Op.apply's steps with
    LinearChain.forward inline."""
    if not (_is_slot_type(x) or isinstance(x, _tensor_type)):
        raise TypeError(f"input must be a neurocore Tensor, got {type(x).__name__}")
    cdef Py_ssize_t n = len(linears), i
    cdef tuple args = PyTuple_New(2 * n + 1)
    Py_INCREF(x)
    PyTuple_SET_ITEM(args, 0, x)
    for i in range(n):
        m = linears[i]
        w = m.weight
        b = m.bias
        Py_INCREF(w)
        PyTuple_SET_ITEM(args, 1 + 2 * i, w)
        Py_INCREF(b)
        PyTuple_SET_ITEM(args, 2 + 2 * i, b)
    raw, needs = _split_args(args, _tensor_type)
    cdef bint recording = needs is not None and _mode_enabled(_apply_mode)
    done = _linear_chain_forward((<tuple>raw)[0], (<tuple>raw)[1:], activations, slope, recording)
    out = (<tuple>done)[0]
    if not recording:
        return _wrap_array(out, None)
    ctx = object.__new__(cls)
    ctx.recording = True
    ctx.activations = activations
    ctx.slope = slope
    ctx.layer_inputs = (<tuple>done)[1]
    ctx.saved = (<tuple>done)[2]
    return _record_node(ctx, cls, args, needs, raw, out)
