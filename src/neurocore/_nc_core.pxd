# What neurocore._nc_core shares with the kernel family modules: the one
# array validator (_float_input / _like_input: dtype, byte order,
# contiguity, alignment; a copy when needed), outputs (_output: shape,
# dtype, a writable C-contiguous buffer), the one scalar validator
# (_finite_scalar), fresh arrays from the block cache (_new_array, _empty)
# and attention's 4-D strided operands.  Each family module cimports what it
# uses, so its dependencies are the lines at its top.
cimport numpy as cnp
from neurocore._nc cimport nc_int


cdef inline bint _is_float_type(int t):
    return t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64


cdef inline bint _kernel_ready(object a):
    """a (an ndarray) can be handed to a kernel as it is: C-contiguous, in
    native byte order, with aligned elements (a view at an odd byte offset
    of a buffer is not: the kernels' scalar loads need aligned elements)."""
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISNOTSWAPPED(arr)
            and cnp.PyArray_ISALIGNED(arr))


cdef inline bint _is_f32(object a):
    return cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_FLOAT32


cdef inline void *_data(object a):
    """The buffer of a validated (C-contiguous) array; fetch it before nogil."""
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef object _kernel_copy(object a, object dtype=*)
cdef _check_aligned_output(object a, str name)
cdef object _float_input(object x, str name)
cdef object _like_input(object x, str name, object ref, str ref_name)
cdef bint _shape_is(object a, tuple shape) except -1
cdef object _new_array(int nd, cnp.npy_intp *dims, int typenum)
cdef object _empty(tuple shape, object dtype)
cdef _check_shape(object a, str name, tuple shape)
cdef _check_ndim(object a, str name, int ndim)
cdef object _output(object out, tuple shape, object dtype, str name=*)
cdef object _empty_like_rows(object ref, cnp.npy_intp rows, cnp.npy_intp cols, int nd)
cdef double _finite_scalar(object value, str name, bint invalid_style=*) except? -1.0
cdef _no_partial_overlap(object o, str o_name, tuple inputs)

# attention's operands: 4-D, last axis contiguous, other strides free
cdef object _strided4(object x, str name, object ref=*, str ref_name=*)
cdef _fill_strides(object x, nc_int *s)
cdef object _strided_output(object out, tuple shape, object dtype, str name)
cdef _check_no_overlap(object outputs, object inputs)
cdef object _attention_mask(object mask, tuple target, object dtype, nc_int *ms)
cdef tuple _attention_operands(object q, object k, object v)
cdef double _attention_scale(object scale, nc_int d) except? -1.0
