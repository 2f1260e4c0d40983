# The C-level interface of neurocore._engine_core, for the compiled ops
# above it (neurocore.functional._fused cimports it): the fields of
# TensorCore and NodeCore and the steps of Op.apply.

cdef class TensorCore:
    cdef public object data
    cdef public object _grad
    cdef public object _node
    cdef public Py_ssize_t _idx
    cdef public bint requires_grad
    cdef public object _post_accumulate_hooks
    cdef object __weakref__


cdef class NodeCore:
    cdef public object parents
    cdef public object needs_input_grad
    cdef public object _raw
    cdef public object _out
    cdef public bint _graph
    cdef public bint recording
    cdef object __weakref__


# a Tensor around an op's result (no copy, no checks)
cdef TensorCore _new_tensor(object data, object node)
# (raw, needs) of Op.apply's arguments (needs None when none requires grad)
cdef tuple _split(tuple args)
# whether grad mode is on in this thread
cdef bint _grad_enabled() noexcept
# the recording half of Op.apply: ctx joins the graph as out's node
cdef object _record(NodeCore ctx, tuple args, tuple needs, tuple raw, object out, bint save_output)
