/*
 * nc_reference.h: the plain reference GEMM and attention of
 * csrc/kernels/reference.inc, the oracle of the C test driver and of the
 * Python tests (through neurocore._kernels' private _reference_* entries).
 * Not part of the public API: no C-API table entry, no installed header.
 * Arguments as the kernels they check (nc.h): nc_gemm_batched and
 * nc_attention_forward / nc_attention_backward, less the workspace; the
 * attention backward takes no saved out or lse.  The attention functions
 * return 0, or -1 when their scratch cannot be allocated.
 */
#ifndef NC_REFERENCE_H
#define NC_REFERENCE_H

#include "neurocore/nc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NC_REFERENCE_API(T, S)                                                          \
    void nc_reference_gemm_##S(int trans_a, int trans_b, nc_int batch, nc_int m,       \
                               nc_int n, nc_int k, T alpha, const T *a, nc_int lda,    \
                               nc_int stride_a, const T *b, nc_int ldb,                \
                               nc_int stride_b, T beta, T *c, nc_int ldc,              \
                               nc_int stride_c);                                       \
    int nc_reference_attention_forward_##S(nc_int B, nc_int H, nc_int N, nc_int M,     \
                                           nc_int D, nc_int DV, T scale, const T *q,   \
                                           const nc_int *qs, const T *k,               \
                                           const nc_int *ks, const T *v,               \
                                           const nc_int *vs, const T *mask,            \
                                           const nc_int *ms, int is_causal, T *out,    \
                                           const nc_int *os, T *lse);                  \
    int nc_reference_attention_backward_##S(nc_int B, nc_int H, nc_int N, nc_int M,    \
                                            nc_int D, nc_int DV, T scale, const T *q,  \
                                            const nc_int *qs, const T *k,              \
                                            const nc_int *ks, const T *v,              \
                                            const nc_int *vs, const T *mask,           \
                                            const nc_int *ms, int is_causal,           \
                                            const T *grad_out, const nc_int *gos,      \
                                            T *grad_q, const nc_int *gqs, T *grad_k,   \
                                            const nc_int *gks, T *grad_v,              \
                                            const nc_int *gvs);
NC_DECLARE_BOTH(NC_REFERENCE_API)

#ifdef __cplusplus
}
#endif
#endif /* NC_REFERENCE_H */
