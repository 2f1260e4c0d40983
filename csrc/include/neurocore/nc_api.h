/*
 * neurocore: the C API for other extension modules.
 *
 * neurocore's extensions export no C symbol.  Its kernels reach another
 * compiled extension (C, C++ or Cython) through a table of function pointers
 * that neurocore._kernels publishes as a PyCapsule (created by
 * neurocore._nc_core, the module that holds the C core; neurocore's own
 * kernel family modules call through the same table), the way NumPy's
 * import_array() does:
 *
 *     #include <Python.h>
 *     #include "neurocore/nc_api.h"      // -I$(python -c "import neurocore; print(neurocore.get_include())")
 *
 *     // once, with the GIL held (in the module's init function):
 *     if (nc_import_api() < 0) return NULL;          // sets ImportError
 *     // then, with or without the GIL, from any thread:
 *     nc_api->gemm_f32(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
 *
 * Each member has the signature and contract of the function of the same
 * name with the nc_ prefix in neurocore/nc.h (nc_api->gemm_f32 is
 * nc_gemm_f32).  Nothing is linked: the extension needs neurocore at run
 * time only, and does not depend on where it is installed.
 *
 * Versions.  NC_API_VERSION counts the revisions of this table.  A revision
 * only appends members, so a table of version v serves every header of
 * version <= v; nc_import_api() fails with ImportError when the installed
 * neurocore's table is older than the header the extension was compiled
 * against.  `nc_api` is static: each translation unit that calls through it
 * runs nc_import_api() once (cheap: an import and an attribute lookup).
 */
#ifndef NEUROCORE_NC_API_H
#define NEUROCORE_NC_API_H

#ifndef NC_API_NO_PYTHON
#include <Python.h>     /* first, before any standard header, as Python asks */
#endif
#include "neurocore/nc.h"

#define NC_API_VERSION 2
#define NC_API_CAPSULE_NAME "neurocore._kernels._C_API"

/* The kernels of nc.h, once per dtype (T the element type, S its suffix).
 * Revision 1. */
#define NC_API_KERNELS(T, S)                                                        \
    /* Hadamard family */                                                         \
    void (*add_##S)(nc_int n, const T *a, const T *b, T *out);                    \
    void (*sub_##S)(nc_int n, const T *a, const T *b, T *out);                    \
    void (*mul_##S)(nc_int n, const T *a, const T *b, T *out);                    \
    void (*div_##S)(nc_int n, const T *a, const T *b, T *out);                    \
    void (*scale_##S)(nc_int n, T alpha, const T *x, T *out);                     \
    void (*axpy_##S)(nc_int n, T alpha, const T *x, T *y);                        \
    void (*fma_##S)(nc_int n, const T *a, const T *b, const T *c, T *out);        \
    void (*sum_rows_##S)(nc_int m, nc_int n, const T *x, nc_int ldx, T beta,      \
                         T *out);                                                 \
    /* activations and vector math */                                           \
    void (*activation_forward_##S)(nc_int n, int act, T slope, const T *x, T *y); \
    void (*activation_backward_##S)(nc_int n, int act, T slope, const T *grad_y,  \
                                    const T *x, const T *y, T *grad_x);           \
    void (*exp_##S)(nc_int n, const T *x, T *out);                                \
    void (*log_##S)(nc_int n, const T *x, T *out);                                \
    void (*tanh_##S)(nc_int n, const T *x, T *out);                               \
    void (*erf_##S)(nc_int n, const T *x, T *out);                                \
    void (*erfc_##S)(nc_int n, const T *x, T *out);                               \
    /* softmax over rows */                                                     \
    void (*softmax_##S)(nc_int m, nc_int n, const T *x, nc_int ldx, T *y,         \
                        nc_int ldy);                                              \
    void (*log_softmax_##S)(nc_int m, nc_int n, const T *x, nc_int ldx, T *y,     \
                            nc_int ldy);                                          \
    void (*softmax_backward_##S)(nc_int m, nc_int n, const T *y, nc_int ldy,      \
                                 const T *grad_y, nc_int ldgy, T *grad_x,         \
                                 nc_int ldgx);                                    \
    void (*log_softmax_backward_##S)(nc_int m, nc_int n, const T *y, nc_int ldy,  \
                                     const T *grad_y, nc_int ldgy, T *grad_x,     \
                                     nc_int ldgx);                                \
    /* matrix-vector, outer product, GEMM (+ epilogue) */                       \
    void (*matvec_##S)(int trans, nc_int m, nc_int n, T alpha, const T *w,        \
                       nc_int ldw, const T *x, T beta, T *y);                     \
    void (*outer_acc_##S)(nc_int m, nc_int n, T alpha, const T *d, const T *a,    \
                          T *g, nc_int ldg);                                      \
    void (*gemm_##S)(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k,      \
                     T alpha, const T *a, nc_int lda, const T *b, nc_int ldb,     \
                     T beta, T *c, nc_int ldc);                                   \
    void (*gemm_fused_##S)(int trans_a, int trans_b, nc_int m, nc_int n,          \
                           nc_int k, T alpha, const T *a, nc_int lda, const T *b, \
                           nc_int ldb, T beta, T *c, nc_int ldc, const T *bias,   \
                           int activation, T slope, T *preact, nc_int ldp);       \
    void (*gemm_batched_##S)(int trans_a, int trans_b, nc_int batch, nc_int m,    \
                             nc_int n, nc_int k, T alpha, const T *a, nc_int lda, \
                             nc_int stride_a, const T *b, nc_int ldb,             \
                             nc_int stride_b, T beta, T *c, nc_int ldc,           \
                             nc_int stride_c);                                    \
    void (*act_grad_##S)(nc_int n, int activation, T slope, const T *grad_output, \
                         const T *preact, T *delta);                              \
    /* optimizer steps (multi-tensor) */                                        \
    void (*sgd_step_##S)(nc_int ntensors, const nc_int *sizes, double lr,         \
                         double momentum, double dampening, double weight_decay,  \
                         int flags, T *const *params, const T *const *grads,      \
                         T *const *momentum_buffers, const unsigned char *fresh); \
    void (*adagrad_step_##S)(nc_int ntensors, const nc_int *sizes,                \
                             const nc_int *steps, double lr, double lr_decay,     \
                             double weight_decay, double eps, int flags,          \
                             T *const *params, const T *const *grads,             \
                             T *const *state_sums);                               \
    void (*rmsprop_step_##S)(nc_int ntensors, const nc_int *sizes, double lr,     \
                             double alpha, double eps, double weight_decay,       \
                             double momentum, int flags, T *const *params,        \
                             const T *const *grads, T *const *square_avgs,        \
                             T *const *momentum_buffers, T *const *grad_avgs);    \
    void (*adam_step_##S)(nc_int ntensors, const nc_int *sizes,                   \
                          const nc_int *steps, double lr, double beta1,           \
                          double beta2, double eps, double weight_decay,          \
                          int flags, T *const *params, const T *const *grads,     \
                          T *const *exp_avgs, T *const *exp_avg_sqs,              \
                          T *const *max_exp_avg_sqs);                             \
    void (*lamb_step_##S)(nc_int ntensors, const nc_int *sizes,                   \
                          const nc_int *steps, double lr, double beta1,           \
                          double beta2, double eps, double weight_decay,          \
                          int flags, T *const *params, const T *const *grads,     \
                          T *const *exp_avgs, T *const *exp_avg_sqs,              \
                          double *workspace);                                     \
    /* attention and layer norm */                                              \
    void (*attention_forward_##S)(nc_int B, nc_int H, nc_int N, nc_int M,         \
                                  nc_int D, nc_int DV, T scale, const T *q,       \
                                  const nc_int *qs, const T *k, const nc_int *ks, \
                                  const T *v, const nc_int *vs, const T *mask,    \
                                  const nc_int *ms, int is_causal, T *out,        \
                                  const nc_int *os, T *lse, T *work);             \
    void (*attention_backward_##S)(nc_int B, nc_int H, nc_int N, nc_int M,        \
                                   nc_int D, nc_int DV, T scale, const T *q,      \
                                   const nc_int *qs, const T *k,                  \
                                   const nc_int *ks, const T *v,                  \
                                   const nc_int *vs, const T *mask,               \
                                   const nc_int *ms, int is_causal, const T *out, \
                                   const nc_int *os, const T *lse,                \
                                   const T *grad_out, const nc_int *gos,          \
                                   T *grad_q, const nc_int *gqs, T *grad_k,       \
                                   const nc_int *gks, T *grad_v,                  \
                                   const nc_int *gvs, T *work);                   \
    void (*layer_norm_forward_##S)(nc_int rows, nc_int cols, T eps, const T *x,   \
                                   const T *weight, const T *bias, T *y, T *mean, \
                                   T *rstd);                                      \
    void (*layer_norm_backward_##S)(nc_int rows, nc_int cols, const T *grad_y,    \
                                    const T *x, const T *mean, const T *rstd,     \
                                    const T *weight, T *grad_x, T *grad_weight,   \
                                    T *grad_bias);                                \
    /* losses */                                                                \
    void (*cross_entropy_forward_##S)(nc_int m, nc_int n, T label_smoothing,      \
                                      int64_t ignore_index, const T *logits,      \
                                      nc_int ldl, const int64_t *target,          \
                                      const T *weight, T *loss, T *lse);          \
    void (*cross_entropy_backward_##S)(nc_int m, nc_int n, T label_smoothing,     \
                                       int64_t ignore_index, const T *logits,     \
                                       nc_int ldl, const int64_t *target,         \
                                       const T *weight, const T *lse,             \
                                       const T *grad_loss, T grad_scale,          \
                                       T *grad_logits, nc_int ldg);               \
    void (*cross_entropy_soft_forward_##S)(nc_int m, nc_int n, T label_smoothing, \
                                           const T *logits, nc_int ldl,           \
                                           const T *target, nc_int ldt,           \
                                           const T *weight, T *loss, T *lse);     \
    void (*cross_entropy_soft_backward_##S)(nc_int m, nc_int n,                   \
                                            T label_smoothing, const T *logits,   \
                                            nc_int ldl, const T *target,          \
                                            nc_int ldt, const T *weight,          \
                                            const T *lse, const T *grad_loss,     \
                                            T grad_scale, T *grad_logits,         \
                                            nc_int ldg);                          \
    void (*bce_with_logits_forward_##S)(nc_int m, nc_int n, const T *x,           \
                                        const T *y, const T *pos_weight,          \
                                        nc_int ldp, T *loss);                     \
    void (*bce_with_logits_backward_##S)(nc_int m, nc_int n, const T *x,          \
                                         const T *y, const T *pos_weight,         \
                                         nc_int ldp, const T *grad_loss,          \
                                         T grad_scale, T *grad_x);

/* Revision 2: y = act(x) with the derivative act'(x) in the same pass. */
#define NC_API_KERNELS_2(T, S)                                                      \
    void (*activation_forward_grad_##S)(nc_int n, int act, T slope, const T *x,    \
                                        T *y, T *dy);

typedef struct nc_api {
    /* First, and never moved: the table's revision (NC_API_VERSION of the
     * library that filled it) and its size in bytes. */
    unsigned int version;
    size_t size;
    /* runtime (revision 1) */
    int (*isa_active)(void);
    const char *(*isa_name)(int isa);
    void (*set_num_threads)(int n);
    int (*get_num_threads)(void);
    nc_int (*lamb_workspace_size)(nc_int ntensors, const nc_int *sizes);
    /* kernels (revision 1) */
    NC_API_KERNELS(float, f32)
    NC_API_KERNELS(double, f64)
    /* revision 2 */
    NC_API_KERNELS_2(float, f32)
    NC_API_KERNELS_2(double, f64)
    /* later revisions append their members here */
} nc_api_t;

#ifdef __cplusplus
extern "C" {
#endif
/* The library's own table, for code linked with csrc/ directly (the
 * extension module wraps it in the capsule).  Other extensions must not call
 * it: they use nc_import_api(). */
const nc_api_t *nc_get_api(void);
#ifdef __cplusplus
}
#endif

/* ------------------------------------------------------------------------
 * The import, for extension modules (needs Python.h; csrc itself defines
 * NC_API_NO_PYTHON).
 * ------------------------------------------------------------------------ */
#ifndef NC_API_NO_PYTHON
#if defined(_MSC_VER) && !defined(__cplusplus)
#define NC_API_INLINE static __inline
#else
#define NC_API_INLINE static inline
#endif

/* The table, once nc_import_api() has succeeded; NULL before. */
static const nc_api_t *nc_api = NULL;

/* nc_import_api() for a header of the given revision and table size: fetches
 * the capsule and checks that the table holds at least that much.  Returns 0,
 * or -1 with a Python exception set (ImportError for an old table). */
NC_API_INLINE int nc_import_api_version(unsigned int version, size_t size)
{
    PyObject *module, *capsule;
    const nc_api_t *table;

    module = PyImport_ImportModule("neurocore._kernels");
    if (module == NULL)
        return -1;
    capsule = PyObject_GetAttrString(module, "_C_API");
    Py_DECREF(module);
    if (capsule == NULL)
        return -1;
    table = (const nc_api_t *)PyCapsule_GetPointer(capsule, NC_API_CAPSULE_NAME);
    /* the table is static data of neurocore._nc_core, which stays loaded once
     * imported (extension modules are never unloaded), so no reference is kept */
    Py_DECREF(capsule);
    if (table == NULL)
        return -1;
    if (table->version < version || table->size < size) {
        PyErr_Format(PyExc_ImportError,
                     "neurocore's C-API table (version %u, %zu bytes) is older than the "
                     "nc_api.h this extension was compiled with (version %u, %zu bytes): "
                     "upgrade neurocore, or rebuild the extension against the installed one",
                     table->version, table->size, version, size);
        return -1;
    }
    nc_api = table;
    return 0;
}

/* Fetches the table into nc_api.  Call once with the GIL held; returns 0,
 * or -1 with ImportError (or the import's own error) set. */
NC_API_INLINE int nc_import_api(void)
{
    return nc_import_api_version(NC_API_VERSION, sizeof(nc_api_t));
}
#endif /* NC_API_NO_PYTHON */

#endif /* NEUROCORE_NC_API_H */
