# The C-level interface of neurocore._engine_core, for the compiled ops
# above it (neurocore.functional._fused cimports it): TensorCore's fields
# and the steps of Op.apply.

cdef class TensorCore:
    cdef public object data
    cdef public object _grad
    cdef public object _node
    cdef public Py_ssize_t _idx
    cdef public bint requires_grad
    cdef public object _post_accumulate_hooks
    cdef object __weakref__


# a Tensor around an op's result (no copy, no checks)
cdef TensorCore _new_tensor(object data, object node)
# (raw, needs) of Op.apply's arguments (needs None when none requires grad)
cdef tuple _split(tuple args)
# whether grad mode is on in this thread
cdef bint _grad_enabled() noexcept
# the recording half of Op.apply: ctx joins the graph as out's node
cdef object _record(object ctx, tuple args, tuple needs, tuple raw, object out, bint save_output)
