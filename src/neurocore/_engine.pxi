# Compiled helpers of the autograd engine's hot path (neurocore._tensor):
# the per-op argument split of Op.apply, the topological sort and the
# hand-over of an op's input gradients in a plain backward.  Same logic as
# the Python they replace, without the interpreter's per-statement cost,
# which is what a step of a small network spends most of its time on.
# The Tensor class is passed in (it lives in Python, in neurocore._tensor).

from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF


cdef object _tensor_type = None


def _set_tensor_type(type tensor_type):
    """Register neurocore._tensor.Tensor (done once, at its import)."""
    global _tensor_type
    _tensor_type = tensor_type


cdef inline object _new_tensor(object data, object node):
    t = object.__new__(_tensor_type)
    t.data = data
    t._grad = None
    t._node = node
    t._idx = 0
    t.requires_grad = node is not None
    return t


def _wrap_array(object data, object node):
    """_tensor._wrap: a Tensor around an op's result (no copy, no checks)."""
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
        if isinstance(a, tensor_type):
            d = a.data
            need = True if a.requires_grad else False
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
    (the iterative depth-first search of _tensor._toposort)."""
    cdef list order = []
    cdef set visited = set()
    cdef list stack
    cdef object node, n, p, parents
    cdef Py_ssize_t pos
    cdef list entry_l
    cdef bint pushed
    for root in root_nodes:
        if root in visited:
            continue
        visited.add(root)
        # stack entries: [node, parents (a sequence), next position]
        stack = [[root, root.parents or (), 0]]
        while stack:
            entry_l = stack[len(stack) - 1]
            node = entry_l[0]
            parents = entry_l[1]
            pos = entry_l[2]
            pushed = False
            while pos < len(parents):
                p = parents[pos]
                pos += 1
                n = p._node if isinstance(p, tensor_type) else None
                if n is not None and n not in visited:
                    visited.add(n)
                    entry_l[2] = pos
                    stack.append([n, n.parents or (), 0])
                    pushed = True
                    break
            if not pushed:
                stack.pop()
                order.append(node)
    return order


def _deliver_plain(parents, parent_grads, needs, dict grads, set owned, accumulate, wrap):
    """Hand an op's input gradients to its parents in a plain backward (no
    create_graph, no capture): a leaf whose .grad is None takes a fresh array
    as is, other leaves go through ``accumulate`` (_tensor._accumulate_leaf),
    and a non-leaf's contribution is summed into ``grads[its node]``."""
    cdef object t, g, need, target, slots, gid
    cdef Py_ssize_t i
    for t, g, need in zip(parents, parent_grads, needs):
        if not need or g is None:
            continue
        target = t._node
        if target is None:
            if (t._grad is None and type(g) is cnp.ndarray
                    and cnp.PyArray_BASE(<cnp.ndarray>g) == NULL
                    and g.dtype == t.data.dtype):
                gid = id(g)
                if gid not in owned:
                    owned.add(gid)          # the usual first gradient: store as is
                    t._grad = _new_tensor(g, None) if _tensor_type is not None else wrap(g, None)
                    continue
            accumulate(t, g, False, owned)
            continue
        slots = grads.get(target)
        if slots is None:
            slots = grads[target] = [None] * target.n_outputs
        i = t._idx
        slots[i] = g if slots[i] is None else slots[i] + g


def _backward_nodes(root, seed, bint retain, accumulate, str freed_message):
    """The node loop of _tensor._backward_scalar (root.backward() for a
    one-element root, no create_graph, no capture; grad mode already off):
    every node after all its consumers, each node's backward once, its
    gradients handed over by _deliver_plain, its saved state released unless
    retain."""
    root_node = root._node
    cdef list slots = [None] * root_node.n_outputs
    slots[root._idx] = seed
    cdef dict grads = {root_node: slots}
    cdef set owned = set()
    cdef list order = _toposort_nodes([root_node], _tensor_type)
    cdef Py_ssize_t k
    for k in range(len(order) - 1, -1, -1):
        node = order[k]
        node_grads = grads.pop(node, None)
        if node_grads is None:
            continue
        parents = node.parents
        if parents is None:
            raise RuntimeError(freed_message)
        parent_grads = node._backward_impl(node_grads, False)
        needs = node.needs_input_grad
        if not retain:
            node._release()
        _deliver_plain(parents, parent_grads, needs, grads, owned, accumulate, None)


def _op_apply(cls, tuple args, dict settings, mode):
    """Op.apply (neurocore._tensor): run cls.forward on the raw arrays and,
    when grad mode is on (mode.enabled) and some Tensor argument requires
    grad, record the node (parents, needs_input_grad, raw inputs, output)."""
    ctx = object.__new__(cls)
    raw, needs = _split_args(args, _tensor_type)
    forward = cls.forward
    if needs is not None and mode.enabled:
        ctx.recording = True
        out = forward(ctx, *raw, **settings)
        ctx.parents = args                  # non-Tensor arguments never get a gradient
        ctx.needs_input_grad = needs
        ctx._raw = raw
        if cls.save_output:
            ctx._out = out
        return _wrap_array(out, ctx)
    return _wrap_array(forward(ctx, *raw, **settings), None)
