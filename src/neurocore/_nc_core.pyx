# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._nc_core: the one extension module that links the C core.

It holds the runtime (ISA choice, threads, the block cache for large
outputs), what every kernel wrapper shares (the one array validator, the
one scalar validator, outputs), the C-API table that the family modules
(_elementwise, _activation, ... _mlp) and other extensions call the kernels
through, and the plain reference kernels used as test oracles.  The
wrappers themselves live in the family modules; neurocore._kernels gathers
them.
"""
import os
import warnings

import numpy as np
cimport numpy as cnp

from neurocore._nc cimport *
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


cdef bint _shape_is(object a, tuple shape) except -1:
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
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    if nd > 32 or not cnp.PyArray_ISNBO((<cnp.dtype>dtype).byteorder):
        return np.empty(shape, dtype=dtype)     # (a byte-swapped dtype keeps its order)
    for i in range(nd):
        dims[i] = shape[i]
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


# ---- the 4-D operands of attention (attention and its reference oracle) ----
cdef object _strided4(object x, str name, object ref=None, str ref_name=""):
    """x as a 4-D float array whose last axis is contiguous and whose strides
    are whole elements (views such as the q/k/v slices of a fused qkv
    projection pass without a copy; anything else is copied once)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    dtype = x.dtype.newbyteorder("=")      # non-native order: copied below, with the rest
    if dtype != _F32 and dtype != _F64:
        raise TypeError(f"{name} must have dtype float32 or float64, got {dtype}")
    if ref is not None and dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {dtype} but {ref_name} has dtype {ref.dtype}; "
                        f"convert one explicitly")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (batch, heads, tokens, features), got shape {x.shape}")
    cdef Py_ssize_t item = x.itemsize
    if (not x.dtype.isnative or (x.shape[3] > 1 and x.strides[3] != item) or any(s % item for s in x.strides)
            or not cnp.PyArray_ISALIGNED(<cnp.ndarray>x)):
        x = _kernel_copy(x)
    return x


cdef _fill_strides(object x, nc_int *s):
    cdef Py_ssize_t item = x.itemsize
    for i in range(3):
        s[i] = x.strides[i] // item


cdef object _strided_output(object out, tuple shape, object dtype, str name):
    """A fresh C-contiguous output, or the caller's array: right shape and
    dtype, writable, last axis contiguous (other strides free)."""
    if out is None:
        return _empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    cdef Py_ssize_t item = out.itemsize
    # (an empty array's strides are arbitrary, often 0: nothing to check)
    if not out.flags.writeable or (out.size and ((shape[3] > 1 and out.strides[3] != item)
                                                 or any(s % item for s in out.strides))):
        raise ValueError(f"{name} must be writable with a contiguous last axis")
    _check_aligned_output(out, name)
    return out


cdef _check_no_overlap(object outputs, object inputs):
    """An output that shares memory with an input would be overwritten
    while the tiles still read it: refuse instead of computing garbage."""
    for oname, o in outputs:
        for iname, a in inputs:
            if a is not None and np.may_share_memory(o, a):
                raise ValueError(f"{oname} overlaps {iname} in memory; pass a separate array")


cdef object _attention_mask(object mask, tuple target, object dtype, nc_int *ms):
    """The additive mask for the kernel (a boolean mask: True = attend, as
    PyTorch; False becomes -inf) and its four element strides, 0 along the
    axes it is broadcast on.  Only the mask's own elements are stored."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"attn_mask must be a numpy.ndarray or None, got {type(mask).__name__}")
    if not mask.dtype.isnative:
        mask = mask.astype(mask.dtype.newbyteorder("="))
    if mask.dtype == np.bool_:
        mask = np.where(mask, dtype.type(0), dtype.type(-np.inf))
    elif mask.dtype == _F32 or mask.dtype == _F64:
        if mask.dtype != dtype:
            raise TypeError(f"attn_mask has dtype {mask.dtype} but q has dtype {dtype}; "
                            f"convert one explicitly")
    else:
        raise TypeError(f"attn_mask must be boolean or have q's dtype {dtype}, got {mask.dtype}")
    shape = tuple(mask.shape)
    if len(shape) > 4 or any(s != 1 and s != t for s, t in zip(reversed(shape), reversed(target))):
        raise ValueError(f"attn_mask of shape {shape} does not broadcast to "
                         f"(batch, heads, N, M) = {target}")
    mask = (mask if _kernel_ready(mask) else _kernel_copy(mask)).reshape((1,) * (4 - len(shape)) + shape)
    cdef Py_ssize_t item = mask.itemsize
    for i in range(4):
        ms[i] = 0 if mask.shape[i] == 1 else mask.strides[i] // item
    return mask


cdef tuple _attention_operands(object q, object k, object v):
    Q = _strided4(q, "q")
    K = _strided4(k, "k", Q, "q")
    V = _strided4(v, "v", Q, "q")
    if K.shape[:2] != Q.shape[:2] or V.shape[:2] != Q.shape[:2]:
        raise ValueError(f"q, k and v must share (batch, heads), got shapes {Q.shape}, {K.shape} and {V.shape}")
    if K.shape[3] != Q.shape[3]:
        raise ValueError(f"q and k must have the same feature size, got shapes {Q.shape} and {K.shape}")
    if V.shape[2] != K.shape[2]:
        raise ValueError(f"k and v must have the same number of tokens, got shapes {K.shape} and {V.shape}")
    return Q, K, V


cdef double _attention_scale(object scale, nc_int d) except? -1.0:
    if scale is None:
        return 1.0 / np.sqrt(d) if d > 0 else 1.0
    return _finite_scalar(scale, "scale")


# The C API for other extension modules (csrc/include/neurocore/nc_api.h):
# the library's table of kernel pointers, published as the capsule
# neurocore._kernels._C_API.  The module exports no C symbol; another
# extension fetches this capsule with nc_import_api() (C) or the
# neurocore.nc_api .pxd (Cython), as NumPy's import_array() does.

cdef extern from "neurocore/nc_api.h":
    ctypedef struct nc_api_t:
        unsigned int version
        size_t size
    const nc_api_t *nc_get_api()
    const char *NC_API_CAPSULE_NAME


_C_API = PyCapsule_New(<void *>nc_get_api(), NC_API_CAPSULE_NAME, NULL)


def _c_api_version():
    """(version, size in bytes) of the C-API table this module publishes."""
    cdef const nc_api_t *table = nc_get_api()
    return table.version, table.size


# ---- reference oracles ------------------------------------------------------
# Private wrappers for csrc/kernels/reference.inc: the plain reference GEMM
# and attention (one output element at a time, sums in double), the tests'
# oracle next to NumPy.  Slow on purpose; not part of the public API.

cdef extern from "nc_reference.h" nogil:
    void nc_reference_gemm_f32(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                               float alpha, const float *a, nc_int lda, nc_int stride_a, const float *b,
                               nc_int ldb, nc_int stride_b, float beta, float *c, nc_int ldc,
                               nc_int stride_c)
    void nc_reference_gemm_f64(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                               double alpha, const double *a, nc_int lda, nc_int stride_a,
                               const double *b, nc_int ldb, nc_int stride_b, double beta, double *c,
                               nc_int ldc, nc_int stride_c)
    int nc_reference_attention_forward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                           float scale, const float *q, const nc_int *qs, const float *k,
                                           const nc_int *ks, const float *v, const nc_int *vs,
                                           const float *mask, const nc_int *ms, int is_causal, float *out,
                                           const nc_int *out_strides, float *lse)
    int nc_reference_attention_forward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                           double scale, const double *q, const nc_int *qs,
                                           const double *k, const nc_int *ks, const double *v,
                                           const nc_int *vs, const double *mask, const nc_int *ms,
                                           int is_causal, double *out, const nc_int *out_strides, double *lse)
    int nc_reference_attention_backward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                            float scale, const float *q, const nc_int *qs, const float *k,
                                            const nc_int *ks, const float *v, const nc_int *vs,
                                            const float *mask, const nc_int *ms, int is_causal,
                                            const float *grad_out, const nc_int *gos, float *grad_q,
                                            const nc_int *gqs, float *grad_k, const nc_int *gks,
                                            float *grad_v, const nc_int *gvs)
    int nc_reference_attention_backward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                            double scale, const double *q, const nc_int *qs,
                                            const double *k, const nc_int *ks, const double *v,
                                            const nc_int *vs, const double *mask, const nc_int *ms,
                                            int is_causal, const double *grad_out, const nc_int *gos,
                                            double *grad_q, const nc_int *gqs, double *grad_k,
                                            const nc_int *gks, double *grad_v, const nc_int *gvs)


# one name for both widths, as the kernels of _nc.pxd
cdef inline void nc_reference_gemm(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                   real alpha, const real *a, nc_int lda, nc_int stride_a, const real *b,
                                   nc_int ldb, nc_int stride_b, real beta, real *c, nc_int ldc,
                                   nc_int stride_c) noexcept nogil:
    if real is float: nc_reference_gemm_f32(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                            stride_b, beta, c, ldc, stride_c)
    else: nc_reference_gemm_f64(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                                beta, c, ldc, stride_c)

cdef inline int nc_reference_attention_forward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                               real scale, const real *q, const nc_int *qs, const real *k,
                                               const nc_int *ks, const real *v, const nc_int *vs,
                                               const real *mask, const nc_int *ms, int is_causal, real *out,
                                               const nc_int *out_strides, real *lse) noexcept nogil:
    if real is float: return nc_reference_attention_forward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs,
                                                                mask, ms, is_causal, out, out_strides, lse)
    else: return nc_reference_attention_forward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                    is_causal, out, out_strides, lse)

cdef inline int nc_reference_attention_backward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                                real scale, const real *q, const nc_int *qs, const real *k,
                                                const nc_int *ks, const real *v, const nc_int *vs,
                                                const real *mask, const nc_int *ms, int is_causal,
                                                const real *grad_out, const nc_int *gos, real *grad_q,
                                                const nc_int *gqs, real *grad_k, const nc_int *gks,
                                                real *grad_v, const nc_int *gvs) noexcept nogil:
    if real is float: return nc_reference_attention_backward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs,
                                                                 mask, ms, is_causal, grad_out, gos, grad_q,
                                                                 gqs, grad_k, gks, grad_v, gvs)
    else: return nc_reference_attention_backward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                     is_causal, grad_out, gos, grad_q, gqs, grad_k, gks, grad_v,
                                                     gvs)


cdef tuple _reference_matrices(object x, str name, bint trans):
    """(batch or 0 for a 2-D x, rows, cols of op(x)) of a 2-D or 3-D operand."""
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D (a batch of matrices), got shape {x.shape}")
    rows, cols = x.shape[x.ndim - 2], x.shape[x.ndim - 1]
    return (x.shape[0] if x.ndim == 3 else 0,) + ((cols, rows) if trans else (rows, cols))


def _reference_gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """_reference_gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False) -> array

    alpha op(a) op(b) + beta c by the plain reference loops (sums in double,
    rounded once), the oracle for gemm and gemm_batched.

    a : IN, array of shape (m, k), or (k, m) with trans_a; or a stack
        (batch, ., .) of such matrices.
    b : IN, array of shape (k, n), or (n, k) with trans_b; or a stack.  A 2-D
        operand next to a 3-D one is used for every product (stride 0).
    c : IN, None or array of shape (m, n) or (batch, m, n); not modified.
        beta == 0 ignores it.
    Returns a new array of shape (m, n), or (batch, m, n) when a or b is 3-D.
    """
    A = _float_input(a, "a")
    B = _like_input(b, "b", A, "a")
    cdef double al = _finite_scalar(alpha, "alpha"), be = _finite_scalar(beta, "beta")
    cdef int ta = 1 if trans_a else 0, tb = 1 if trans_b else 0
    batch_a, m, k = _reference_matrices(A, "a", ta)
    batch_b, kb, n = _reference_matrices(B, "b", tb)
    if kb != k:
        raise ValueError(f"op(a) is ({m}, {k}) but op(b) is ({kb}, {n}): inner sizes differ")
    if batch_a and batch_b and batch_a != batch_b:
        raise ValueError(f"a and b hold {batch_a} and {batch_b} matrices; they must match")
    cdef nc_int batch = max(batch_a, batch_b, 1)
    shape = (batch, m, n) if (batch_a or batch_b) else (m, n)
    if c is None:
        C = np.zeros(shape, dtype=A.dtype)
    else:
        C = _like_input(c, "c", A, "a")
        _check_shape(C, "c", shape)
        C = np.array(C, order="C")          # the result: a fresh copy of c
    cdef nc_int M = m, N = n, K = k
    cdef nc_int lda = A.shape[A.ndim - 1], ldb = B.shape[B.ndim - 1]
    cdef nc_int sa = lda * A.shape[1] if batch_a else 0, sb = ldb * B.shape[1] if batch_b else 0
    cdef void *pa = _data(A)
    cdef void *pb = _data(B)
    cdef void *pc = _data(C)
    cdef bint f32 = _is_f32(A)
    with nogil:
        if f32:
            nc_reference_gemm(ta, tb, batch, M, N, K, al, <float *>pa, lda, sa, <float *>pb, ldb, sb, be,
                              <float *>pc, N, M * N)
        else:
            nc_reference_gemm(ta, tb, batch, M, N, K, al, <double *>pa, lda, sa, <double *>pb, ldb, sb, be,
                              <double *>pc, N, M * N)
    return C


def _reference_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    """_reference_attention_forward(q, k, v, mask=None, is_causal=False, scale=None) -> (out, lse)

    attention_forward's out and lse by the unfused formula, one query row at
    a time, sums in double: the oracle for attention_forward.  Arguments as
    attention_forward's; out (B, H, N, DV) and lse (B, H, N) are new arrays.
    """
    Q, K, V = _attention_operands(q, k, v)
    cdef nc_int B = Q.shape[0], H = Q.shape[1], N = Q.shape[2], D = Q.shape[3]
    cdef nc_int M = K.shape[2], DV = V.shape[3]
    cdef double sc = _attention_scale(scale, D)
    cdef nc_int qs[3], ks[3], vs[3], os[3], ms[4]
    cdef void *pm = NULL
    M4 = None
    if mask is not None:
        M4 = _attention_mask(mask, (B, H, N, M), Q.dtype, ms)
        pm = _data(M4)
    O = np.empty((B, H, N, DV), dtype=Q.dtype)
    L = np.empty((B, H, N), dtype=Q.dtype)
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(O, os)
    cdef int causal = 1 if is_causal else 0, status
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *po = _data(O)
    cdef void *pl = _data(L)
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            status = nc_reference_attention_forward(
                B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                <float *>pm, ms, causal, <float *>po, os, <float *>pl)
        else:
            status = nc_reference_attention_forward(
                B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                <double *>pm, ms, causal, <double *>po, os, <double *>pl)
    if status != 0:
        raise MemoryError("_reference_attention_forward: no memory for a row of scores")
    return O, L


def _reference_attention_backward(grad_out, q, k, v, mask=None, is_causal=False, scale=None):
    """_reference_attention_backward(grad_out, q, k, v, mask=None, is_causal=False, scale=None)
    -> (grad_q, grad_k, grad_v)

    attention_backward's gradients by the unfused formulas, recomputed from
    q, k and v alone (no saved out or lse), sums in double: the oracle for
    attention_backward.  grad_out (B, H, N, DV); the other arguments as
    attention_forward's.  Returns new arrays shaped like q, k and v.
    """
    Q, K, V = _attention_operands(q, k, v)
    cdef nc_int B = Q.shape[0], H = Q.shape[1], N = Q.shape[2], D = Q.shape[3]
    cdef nc_int M = K.shape[2], DV = V.shape[3]
    GO = _strided4(grad_out, "grad_out", Q, "q")
    if GO.shape != (B, H, N, DV):
        raise ValueError(f"grad_out must have shape {(B, H, N, DV)}, got {GO.shape}")
    cdef double sc = _attention_scale(scale, D)
    cdef nc_int qs[3], ks[3], vs[3], gos[3], gqs[3], gks[3], gvs[3], ms[4]
    cdef void *pm = NULL
    M4 = None
    if mask is not None:
        M4 = _attention_mask(mask, (B, H, N, M), Q.dtype, ms)
        pm = _data(M4)
    GQ = np.empty(Q.shape, dtype=Q.dtype)
    GK = np.empty(K.shape, dtype=Q.dtype)
    GV = np.empty(V.shape, dtype=Q.dtype)
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(GO, gos)
    _fill_strides(GQ, gqs); _fill_strides(GK, gks); _fill_strides(GV, gvs)
    cdef int causal = 1 if is_causal else 0, status
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *pgo = _data(GO)
    cdef void *pgq = _data(GQ)
    cdef void *pgk = _data(GK)
    cdef void *pgv = _data(GV)
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            status = nc_reference_attention_backward(
                B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                <float *>pm, ms, causal, <float *>pgo, gos, <float *>pgq, gqs, <float *>pgk, gks,
                <float *>pgv, gvs)
        else:
            status = nc_reference_attention_backward(
                B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                <double *>pm, ms, causal, <double *>pgo, gos, <double *>pgq, gqs, <double *>pgk, gks,
                <double *>pgv, gvs)
    if status != 0:
        raise MemoryError("_reference_attention_backward: no memory for its scratch")
    return GQ, GK, GV
