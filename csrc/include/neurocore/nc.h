/*
 * neurocore: the public C API of the kernel library.
 *
 * Conventions (BLAS-like):
 *   - every kernel exists as nc_<op>_f32 and nc_<op>_f64, generated from one
 *     template (csrc/kernels/<family>.inc);
 *   - sizes first, then scalars, then const inputs, outputs last; matrices
 *     are row-major with an explicit leading dimension (elements per row);
 *   - n == 0 (or any zero size) returns at once; no kernel allocates unless
 *     its comment says so (a documented workspace), no global scratch, so
 *     every kernel is reentrant and may run from several threads at once;
 *   - results are bitwise identical for any thread count.
 */
#ifndef NEUROCORE_NC_H
#define NEUROCORE_NC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef ptrdiff_t nc_int;

/* ------------------------------------------------------------------------
 * Runtime: ISA dispatch and threads (csrc/core/dispatch.c)
 * ------------------------------------------------------------------------ */
enum nc_isa { NC_ISA_GENERIC = 0, NC_ISA_AVX2 = 1, NC_ISA_AVX512 = 2 };

/* Detects the CPU once and applies NEUROCORE_ISA.  Returns 0, or 1 when the
 * requested ISA was above what the CPU supports (the best one is used), or
 * 2 when NEUROCORE_ISA held an unknown name (ignored). */
int nc_init(void);
int nc_isa_supported(void);          /* best ISA this CPU (and OS) can run */
int nc_isa_active(void);             /* ISA used by the kernels now        */
int nc_set_isa(int isa);             /* clamps to supported; returns it    */
const char *nc_isa_name(int isa);
void nc_set_num_threads(int n);      /* n >= 1                             */
int nc_get_num_threads(void);

/* Activation selector shared by the activation kernels and the fused GEMM
 * epilogue.  `slope` arguments apply to NC_ACT_LEAKY_RELU only. */
enum nc_activation {
    NC_ACT_IDENTITY = 0,
    NC_ACT_RELU = 1,
    NC_ACT_LEAKY_RELU = 2,
    NC_ACT_GELU = 3,        /* exact: x * Phi(x) with erf                   */
    NC_ACT_GELU_TANH = 4,   /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) */
    NC_ACT_SIGMOID = 5,
    NC_ACT_TANH = 6
};

#define NC_DECLARE_BOTH(decl) decl(float, f32) decl(double, f64)

/* ------------------------------------------------------------------------
 * Hadamard family (csrc/kernels/elementwise.inc): flat arrays of n elements
 * ------------------------------------------------------------------------ */
#define NC_ELEMENTWISE_API(T, S)                                              \
    void nc_add_##S(nc_int n, const T *a, const T *b, T *out);               \
    void nc_sub_##S(nc_int n, const T *a, const T *b, T *out);               \
    void nc_mul_##S(nc_int n, const T *a, const T *b, T *out);               \
    void nc_div_##S(nc_int n, const T *a, const T *b, T *out);               \
    /* out = alpha * x */                                                     \
    void nc_scale_##S(nc_int n, T alpha, const T *x, T *out);                \
    /* y += alpha * x */                                                      \
    void nc_axpy_##S(nc_int n, T alpha, const T *x, T *y);                   \
    /* out = a * b + c */                                                     \
    void nc_fma_##S(nc_int n, const T *a, const T *b, const T *c, T *out);   \
    /* out[j] = beta * out[j] + sum_i x[i, j], x of shape (m, n): the bias    \
     * gradient.  Each column is summed in row order whatever the threads. */ \
    void nc_sum_rows_##S(nc_int m, nc_int n, const T *x, nc_int ldx, T beta, \
                         T *out);
NC_DECLARE_BOTH(NC_ELEMENTWISE_API)

/* ------------------------------------------------------------------------
 * Activations and vector math (csrc/kernels/activation.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the activation work) */
#define NC_ACTIVATION_API(T, S)                                                \
    /* y = act(x) over n elements; slope: leaky ReLU's negative slope. */     \
    void nc_activation_forward_##S(nc_int n, int act, T slope, const T *x,    \
                                   T *y);                                      \
    /* grad_x = grad_y * act'(x), one pass, no Jacobian.  x is the saved      \
     * input; y, the saved output act(x), may be NULL: sigmoid and tanh use   \
     * it instead of recomputing.  grad_x may alias grad_y. */                \
    void nc_activation_backward_##S(nc_int n, int act, T slope,               \
                                    const T *grad_y, const T *x, const T *y,  \
                                    T *grad_x);                                \
    /* The vector math of csrc/core/nc_simd_math.h on arrays: out = f(x). */  \
    void nc_exp_##S(nc_int n, const T *x, T *out);                             \
    void nc_log_##S(nc_int n, const T *x, T *out);                             \
    void nc_tanh_##S(nc_int n, const T *x, T *out);                            \
    void nc_erf_##S(nc_int n, const T *x, T *out);
NC_DECLARE_BOTH(NC_ACTIVATION_API)

/* ------------------------------------------------------------------------
 * Softmax and log-softmax over rows (csrc/kernels/softmax.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the softmax work) */
#define NC_SOFTMAX_API(T, S)                                                   \
    /* y[i, :] = softmax(x[i, :]) for the m rows of x (m, n); y may alias x. */ \
    void nc_softmax_##S(nc_int m, nc_int n, const T *x, nc_int ldx, T *y,     \
                        nc_int ldy);                                           \
    /* y[i, :] = x[i, :] - logsumexp(x[i, :]); y may alias x. */              \
    void nc_log_softmax_##S(nc_int m, nc_int n, const T *x, nc_int ldx, T *y, \
                            nc_int ldy);                                       \
    /* grad_x = y * (grad_y - sum(grad_y * y)) per row, y = softmax(x)        \
     * (seed 004 3.2.3, the Jacobian-vector product); grad_x may alias        \
     * grad_y. */                                                              \
    void nc_softmax_backward_##S(nc_int m, nc_int n, const T *y, nc_int ldy,  \
                                 const T *grad_y, nc_int ldgy, T *grad_x,     \
                                 nc_int ldgx);                                 \
    /* grad_x = grad_y - exp(y) * sum(grad_y) per row, y = log_softmax(x). */ \
    void nc_log_softmax_backward_##S(nc_int m, nc_int n, const T *y,          \
                                     nc_int ldy, const T *grad_y,             \
                                     nc_int ldgy, T *grad_x, nc_int ldgx);
NC_DECLARE_BOTH(NC_SOFTMAX_API)

/* ------------------------------------------------------------------------
 * Matrix-vector, outer product, GEMM, fused linear (csrc/kernels/gemm*.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the GEMM work) */

/* ------------------------------------------------------------------------
 * Optimizer steps (csrc/kernels/optim.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the optimizer work) */

/* ------------------------------------------------------------------------
 * Attention and layer norm (csrc/kernels/attention.inc, layernorm.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the attention work) */
/* Fused scaled-dot-product attention over (batch B, heads H):
 *   out = softmax(q k^T * scale + mask) v, lse = log-sum-exp of each row,
 * q (B, H, N, D), k (B, H, M, D), v (B, H, M, DV), out (B, H, N, DV); each
 * given by a pointer and three element strides {batch, head, row} (last
 * axis contiguous).  mask: additive, NULL or read through four element
 * strides {b, h, n, m} (0 along broadcast axes).  is_causal: query i sees
 * keys j <= i.  lse (B, H, N) contiguous.  Never forms the N x M matrix.
 * The backward recomputes the probabilities from lse and writes (not adds)
 * grad_q, grad_k, grad_v.  A row with every key masked gives NaN. */
#define NC_ATTENTION_API(T, S)                                                     \
    void nc_attention_forward_##S(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D,  \
                                  nc_int DV, T scale, const T *q, const nc_int *qs,  \
                                  const T *k, const nc_int *ks, const T *v,          \
                                  const nc_int *vs, const T *mask, const nc_int *ms, \
                                  int is_causal, T *out, const nc_int *os, T *lse);  \
    void nc_attention_backward_##S(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, \
                                   nc_int DV, T scale, const T *q, const nc_int *qs, \
                                   const T *k, const nc_int *ks, const T *v,         \
                                   const nc_int *vs, const T *mask,                  \
                                   const nc_int *ms, int is_causal, const T *out,    \
                                   const nc_int *os, const T *lse, const T *grad_out,\
                                   const nc_int *gos, T *grad_q, const nc_int *gqs,  \
                                   T *grad_k, const nc_int *gks, T *grad_v,          \
                                   const nc_int *gvs);                               \
    /* y = (x - mean) * rstd * weight + bias over rows of `cols` elements;      \
     * weight, bias, mean, rstd may be NULL (no affine / not saved). */          \
    void nc_layer_norm_forward_##S(nc_int rows, nc_int cols, T eps, const T *x,     \
                                   const T *weight, const T *bias, T *y, T *mean,   \
                                   T *rstd);                                        \
    /* from the saved mean and rstd; any of the three outputs may be NULL */    \
    void nc_layer_norm_backward_##S(nc_int rows, nc_int cols, const T *grad_y,      \
                                    const T *x, const T *mean, const T *rstd,       \
                                    const T *weight, T *grad_x, T *grad_weight,     \
                                    T *grad_bias);
NC_DECLARE_BOTH(NC_ATTENTION_API)

/* ------------------------------------------------------------------------
 * Losses (csrc/kernels/loss.inc)
 * ------------------------------------------------------------------------ */
/* (section owned by the loss work) */

#ifdef __cplusplus
}
#endif
#endif /* NEUROCORE_NC_H */
