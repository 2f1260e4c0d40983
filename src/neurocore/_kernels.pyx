# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._kernels: the Cython boundary between NumPy arrays and csrc/.

Every wrapper validates its arguments (types, dtypes, shapes) before any C
runs, copies a non-contiguous input once, allocates or checks `out`, and calls
the C kernel with the GIL released.  The per-family wrappers live in the
included .pxi files; this file holds what they share.
"""
import os
import warnings

import numpy as np
cimport numpy as cnp

from neurocore._nc cimport *
from neurocore._shape cimport same_shape
from cpython.pycapsule cimport PyCapsule_New
from libc.string cimport strcpy

cnp.import_array()

# ---- runtime: ISA and threads --------------------------------------------
# indexed by enum nc_isa; which of them run here is nc_isa_available's answer
_ISA_NAMES = ("generic", "avx2", "avx512", "neon")

_init_status = nc_init()
if _init_status == 1:
    warnings.warn(
        f"NEUROCORE_ISA={os.environ.get('NEUROCORE_ISA')!r} is not supported by this CPU; "
        f"using {_ISA_NAMES[nc_isa_active()]!r}", RuntimeWarning, stacklevel=2)
elif _init_status == 2:
    warnings.warn(
        f"NEUROCORE_ISA={os.environ.get('NEUROCORE_ISA')!r} is not one of {_ISA_NAMES}; "
        f"using {_ISA_NAMES[nc_isa_active()]!r}", RuntimeWarning, stacklevel=2)


def get_isa():
    """Name of the instruction set the kernels run on now."""
    return _ISA_NAMES[nc_isa_active()]


def supported_isas():
    """The instruction sets this CPU can run, lowest first."""
    return tuple(name for isa, name in enumerate(_ISA_NAMES) if nc_isa_available(isa))


def _set_isa(name):
    """Switch the kernels to ISA `name` (tests use this to cover every path).
    Not thread-safe against kernels running concurrently."""
    if name not in _ISA_NAMES:
        raise ValueError(f"isa must be one of {_ISA_NAMES}, got {name!r}")
    if not nc_isa_available(_ISA_NAMES.index(name)):
        raise ValueError(f"isa {name!r} is not supported by this CPU (best: {get_isa()!r})")
    return _ISA_NAMES[nc_set_isa(_ISA_NAMES.index(name))]


def set_num_threads(n):
    """Use up to n threads (n >= 1) in every kernel from now on.

    The thread runtime never keeps more threads busy than there are cores
    (or n, if larger) across Python threads calling kernels at once."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    nc_set_num_threads(<int>min(n, 1 << 16))


def get_num_threads():
    """Threads the kernels use: set_num_threads's value, else
    NEUROCORE_NUM_THREADS, else OMP_NUM_THREADS, else the number of cores
    this process may run on."""
    return nc_get_num_threads()


def _fma_peak(count, iters, dtype=np.float32):
    """_fma_peak(count, iters, dtype=float32) -> (flops, checksums).

    Runs `count` independent register-only FMA loops of `iters` rounds on
    the active ISA path, spread over the kernel threads (one loop per thread
    when count == get_num_threads()).  flops is the number of floating-point
    operations done; timing the call gives the FMA peak.  checksums (count,)
    holds each loop's result.  For the benchmark, not a kernel.
    """
    for value, name in ((count, "count"), (iters, "iters")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    dt = np.dtype(dtype)
    if dt != _F32 and dt != _F64:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    cdef cnp.ndarray out = np.empty(count, dt)
    cdef nc_int c = count, n = iters
    cdef double flops
    cdef void *po = cnp.PyArray_DATA(out)
    if dt == _F32:
        with nogil:
            flops = nc_fma_peak(c, n, <float *>po)
    else:
        with nogil:
            flops = nc_fma_peak(c, n, <double *>po)
    return flops, out


_RUNTIME_STAT_NAMES = (
    "helpers", "cores", "capacity", "busy_helpers", "active_callers", "sleeping_helpers", "spin_ns",
    "jobs", "helper_joins", "helper_chunks", "caller_chunks", "peak_busy_helpers", "peak_load", "sleeps")


def _runtime_stats(reset=False):
    """Debug counters of the thread runtime, for tests and tuning (names and
    meaning may change).  helpers: threads started; capacity: the most
    threads allowed to compute at once; busy_helpers / active_callers /
    sleeping_helpers: now; jobs: parallel calls that offered work to
    helpers; helper_joins / helper_chunks / caller_chunks: totals;
    peak_busy_helpers, peak_load: the most busy helpers, and busy helpers
    plus callers inside a parallel call, seen when a helper joined a call;
    sleeps: times a helper went to sleep.  reset=True zeroes the totals and
    peaks after reading them."""
    cdef int64_t values[32]
    cdef int n = nc_runtime_stats(values, 32, 1 if reset else 0)
    return {name: int(values[i]) for i, name in enumerate(_RUNTIME_STAT_NAMES[:n])}


# ---- validation shared by every wrapper -----------------------------------
cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)


cdef inline bint _is_float_type(int t):
    return t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64


cdef inline bint _kernel_ready(object a):
    """a (an ndarray) can be handed to a kernel as it is: C-contiguous, in
    native byte order, with aligned elements (a view at an odd byte offset
    of a buffer is not: the kernels' scalar loads need aligned elements)."""
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISNOTSWAPPED(arr)
            and cnp.PyArray_ISALIGNED(arr))


cdef object _kernel_copy(object a, object dtype=None):
    """One C-contiguous, native-order, aligned copy of the ndarray a, of
    dtype when given (np.ascontiguousarray would return a misaligned
    contiguous array as it is)."""
    return np.array(a, dtype=a.dtype.newbyteorder("=") if dtype is None else dtype, order="C")


cdef _check_aligned_output(object a, str name):
    """An array the kernels write (an output, or one updated in place)
    cannot be copied: misaligned elements are refused."""
    if not cnp.PyArray_ISALIGNED(<cnp.ndarray>a):
        raise ValueError(f"{name} is not aligned to its {a.dtype.itemsize}-byte elements (a view at an "
                         f"odd byte offset of a buffer); pass an aligned array such as np.array({name})")


cdef object _float_input(object x, str name):
    """x as a C-contiguous float32/float64 ndarray (copied once if strided)."""
    # fast path (the usual call): an exact ndarray, float dtype, C-contiguous;
    # checked through the C API, no Python attribute lookups
    if (type(x) is cnp.ndarray and _is_float_type(cnp.PyArray_TYPE(<cnp.ndarray>x))
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x)):
        if _kernel_ready(x):
            return x
        return _kernel_copy(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.newbyteorder("=") != _F32 and x.dtype.newbyteorder("=") != _F64:
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype}")
    return x if _kernel_ready(x) else _kernel_copy(x)


cdef object _like_input(object x, str name, object ref, str ref_name):
    """A float input that must share ref's dtype."""
    cdef object a = _float_input(x, name)
    if not isinstance(ref, cnp.ndarray):        # (callers pass validated arrays)
        if a.dtype != ref.dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}; "
                            f"convert one explicitly")
        return a
    if (cnp.PyArray_TYPE(<cnp.ndarray>a) != cnp.PyArray_TYPE(<cnp.ndarray>ref)
            or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>ref)):
        raise TypeError(f"{name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}; "
                        f"convert one explicitly")
    return a


cdef bint _shape_is(object a, tuple shape):
    """a.shape == shape, without building a.shape."""
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int nd = cnp.PyArray_NDIM(arr)
    cdef int i
    if nd != len(shape):
        return False
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(arr)
    for i in range(nd):
        if dims[i] != <cnp.npy_intp>shape[i]:
            return False
    return True


# ---- memory: large arrays from the block cache ------------------------------
# Arrays of NC_CACHE_MIN bytes or more that the kernels return take their
# memory from nc_cache (csrc/core/nc_cache.c) through NumPy's memory-handler
# API: NumPy frees them back to it, and the next step's array of the same
# size gets the block with its pages still mapped instead of faulting them
# in again.  The handler is set only around these allocations (it is a
# context variable, so other threads and the user's own arrays keep
# NumPy's default).
cdef void *_cache_malloc(void *ctx, size_t size) noexcept nogil:
    return nc_cache_alloc(size)


cdef void *_cache_calloc(void *ctx, size_t nelem, size_t elsize) noexcept nogil:
    if elsize != 0 and nelem > (<size_t>-1) // elsize:
        return NULL
    return nc_cache_calloc(nelem * elsize)


cdef void *_cache_realloc(void *ctx, void *p, size_t size) noexcept nogil:
    return nc_cache_realloc(p, size)


cdef void _cache_free(void *ctx, void *p, size_t size) noexcept nogil:
    nc_cache_free(p)


cdef cnp.PyDataMem_Handler _cache_handler_struct
strcpy(_cache_handler_struct.name, b"neurocore_cache")
_cache_handler_struct.version = 1
_cache_handler_struct.allocator.ctx = NULL
_cache_handler_struct.allocator.malloc = _cache_malloc
_cache_handler_struct.allocator.calloc = _cache_calloc
_cache_handler_struct.allocator.realloc = _cache_realloc
_cache_handler_struct.allocator.free = _cache_free
# Arrays hold a reference to this capsule, so it outlives every one of them.
_cache_handler = PyCapsule_New(<void *>&_cache_handler_struct, b"mem_handler", NULL)


cdef object _new_array(int nd, cnp.npy_intp *dims, int typenum):
    """A fresh C-contiguous array of typenum; from the block cache when it
    holds NC_CACHE_MIN bytes or more."""
    cdef size_t nbytes
    cdef int i
    if typenum == cnp.NPY_FLOAT32:
        nbytes = 4
    elif typenum == cnp.NPY_FLOAT64:
        nbytes = 8
    else:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    for i in range(nd):
        if dims[i] < 0 or (dims[i] != 0 and nbytes > (<size_t>-1) // <size_t>dims[i]):
            return cnp.PyArray_EMPTY(nd, dims, typenum, 0)      # NumPy raises
        nbytes *= <size_t>dims[i]
    if nbytes < NC_CACHE_MIN:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    previous = cnp.PyDataMem_SetHandler(_cache_handler)
    try:
        return cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    finally:
        cnp.PyDataMem_SetHandler(previous)


cdef object _empty(tuple shape, object dtype):
    """np.empty(shape, dtype) for a float32/float64 dtype, through _new_array."""
    cdef cnp.npy_intp dims[32]
    cdef int nd = len(shape), i
    if nd > 32:
        return np.empty(shape, dtype=dtype)
    for i in range(nd):
        dims[i] = shape[i]
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    return _new_array(nd, dims, (<cnp.dtype>dtype).type_num)


def _empty_cache():
    """Frees every block the cache holds (arrays in use keep theirs)."""
    nc_cache_empty()


def _set_cache_limit(nbytes):
    """Keep at most nbytes of freed blocks; returns the previous limit."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        raise TypeError(f"nbytes must be an int, got {type(nbytes).__name__}")
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    return nc_cache_set_limit(<size_t>min(nbytes, (<size_t>-1) >> 1))


def _cache_stats():
    """{cached_bytes, cached_blocks, limit, hits, misses} of the block cache."""
    cdef int64_t v[5]
    nc_cache_stats(v)
    return {"cached_bytes": v[0], "cached_blocks": v[1], "limit": v[2], "hits": v[3], "misses": v[4]}


def _use_cache_handler():
    """Makes NumPy allocate from the block cache in this context until
    _restore_handler(previous); returns previous."""
    return cnp.PyDataMem_SetHandler(_cache_handler)


def _restore_handler(previous):
    cnp.PyDataMem_SetHandler(previous)


cdef _check_shape(object a, str name, tuple shape):
    if not _shape_is(a, shape):
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


cdef _check_ndim(object a, str name, int ndim):
    if cnp.PyArray_NDIM(<cnp.ndarray>a) != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")


cdef object _output(object out, tuple shape, object dtype, str name="out"):
    """A fresh output, or the caller's `out` checked for shape, dtype and a
    writable C-contiguous buffer (an output cannot be copied)."""
    if out is None:
        return _empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if not _shape_is(out, shape):
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>out) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
        raise ValueError(f"{name} must be a writable C-contiguous array")
    _check_aligned_output(out, name)
    return out


cdef object _empty_like_rows(object ref, cnp.npy_intp rows, cnp.npy_intp cols, int nd):
    """A fresh C array of ref's float dtype: (rows,) when nd == 1, else (rows, cols)."""
    cdef cnp.npy_intp dims[2]
    dims[0] = rows
    dims[1] = cols
    return _new_array(nd, dims, cnp.PyArray_TYPE(<cnp.ndarray>ref))


cdef double _finite_scalar(object value, str name, bint invalid_style=False) except? -1.0:
    """The one scalar validator: a real, finite number (a Python or NumPy
    int or float, not a bool) as a double; TypeError for anything else,
    ValueError for NaN, +-inf or an int beyond the double range.
    invalid_style words the ValueError as PyTorch's optimizers do
    ("Invalid lr: nan (must be finite)")."""
    cdef double v
    if type(value) is float:                # fast path: a Python float
        v = <double>value
        if v - v == 0.0:                    # false for NaN and +-inf (inf - inf is NaN)
            return v
    elif type(value) is int:                # fast path: a Python int (defaults such as 0)
        try:
            return <double>value
        except OverflowError:
            pass
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        v = <double>value
    except OverflowError:                   # an int beyond the double range
        if invalid_style:
            raise ValueError(f"Invalid {name}: an int of {value.bit_length()} bits (must be finite)") from None
        raise ValueError(f"{name} must be finite, got an int of {value.bit_length()} bits") from None
    if v != v or v - v != 0.0:
        if invalid_style:
            raise ValueError(f"Invalid {name}: {value!r} (must be finite)")
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def _real_scalar(value, str name, bint invalid_style=False):
    """_finite_scalar for the Python layers (hyperparameters of modules,
    functional ops and optimizers): the same checks and wording as the
    kernels' own scalar arguments."""
    return _finite_scalar(value, name, invalid_style)


cdef inline bint _is_f32(object a):
    return cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_FLOAT32


cdef inline void *_data(object a):
    """The buffer of a validated (C-contiguous) array; fetch it before nogil."""
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef _no_partial_overlap(object o, str o_name, tuple inputs):
    """A caller's output may BE an input (in place) but not partly overlap
    one: the kernels stream in vector chunks, so a shifted view would read
    values already overwritten (PyTorch refuses such arguments too).
    inputs: ((array or None, name), ...), the validated C-contiguous inputs,
    so each spans exactly [data, data + nbytes) (a pointer test, no NumPy call)."""
    cdef char *o0 = <char *>_data(o)
    cdef char *o1 = o0 + cnp.PyArray_NBYTES(<cnp.ndarray>o)
    cdef char *a0
    cdef char *a1
    for a, a_name in inputs:
        if a is None or a is o:
            continue
        a0 = <char *>_data(a)
        a1 = a0 + cnp.PyArray_NBYTES(<cnp.ndarray>a)
        if a1 <= o0 or o1 <= a0 or a0 == a1 or o0 == o1:
            continue                        # disjoint, or one is empty
        if a0 == o0 and a1 == o1:
            continue                        # the very same buffer: in place
        raise ValueError(f"{o_name} partially overlaps {a_name} in memory; pass a separate "
                         f"array (or {a_name} itself)")


# ---- kernel families -------------------------------------------------------
include "_elementwise.pxi"
include "_activation.pxi"
include "_softmax.pxi"
include "_gemm.pxi"
include "_optim.pxi"
include "_attention.pxi"
include "_loss.pxi"
include "_mlp.pxi"
include "_capi.pxi"
include "_reference.pxi"
