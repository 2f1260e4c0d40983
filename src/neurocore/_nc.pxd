# What neurocore._nc_core, the one module that links the C core, calls of
# csrc/include/neurocore/nc.h directly: the runtime (ISA, threads, the
# block cache) and the FMA-peak loop.  The kernels are reached through the
# C-API table (_api.pxd).
from libc.stdint cimport int64_t

cdef extern from "neurocore/nc.h" nogil:
    ctypedef Py_ssize_t nc_int

    # ---- runtime -----------------------------------------------------------
    int nc_init()
    int nc_isa_supported()
    int nc_isa_available(int isa)
    int nc_isa_active()
    int nc_set_isa(int isa)
    const char *nc_isa_name(int isa)
    void nc_set_num_threads(int n)
    int nc_get_num_threads()
    int nc_runtime_stats(int64_t *out, int n, int reset)
    size_t NC_CACHE_MIN
    void *nc_cache_alloc(size_t bytes)
    void *nc_cache_calloc(size_t bytes)
    void *nc_cache_realloc(void *p, size_t bytes)
    void nc_cache_free(void *p)
    void nc_cache_empty()
    size_t nc_cache_set_limit(size_t bytes)
    void nc_cache_stats(int64_t *out)

    # ---- FMA peak (a register-only loop, for the benchmark) ---------------
    double nc_fma_peak_f32(nc_int count, nc_int iters, float *out)
    double nc_fma_peak_f64(nc_int count, nc_int iters, double *out)


# the FMA-peak loop for both widths (the kernels themselves are reached
# through the C-API table: _api.pxd)
ctypedef fused real:
    float
    double

cdef inline double nc_fma_peak(nc_int count, nc_int iters, real *out) noexcept nogil:
    if real is float: return nc_fma_peak_f32(count, iters, out)
    else: return nc_fma_peak_f64(count, iters, out)
