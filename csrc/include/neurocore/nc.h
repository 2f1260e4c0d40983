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
/* x86-64: generic < avx2 < avx512; aarch64: generic < neon. */
enum nc_isa { NC_ISA_GENERIC = 0, NC_ISA_AVX2 = 1, NC_ISA_AVX512 = 2, NC_ISA_NEON = 3 };
#define NC_ISA_COUNT 4

/* Detects the CPU once and applies NEUROCORE_ISA.  Returns 0, or 1 when the
 * requested ISA is not available here (the best one is used), or 2 when
 * NEUROCORE_ISA held an unknown name (ignored). */
int nc_init(void);
int nc_isa_supported(void);          /* best ISA this CPU (and OS) can run */
int nc_isa_available(int isa);       /* 1 if this build and CPU run it     */
int nc_isa_active(void);             /* ISA used by the kernels now        */
int nc_set_isa(int isa);             /* unavailable: the best; returns it  */
const char *nc_isa_name(int isa);    /* "generic", "avx2", "avx512", "neon" */
/* Threads (csrc/core/nc_thread.c): set_num_threads's n, else
 * NEUROCORE_NUM_THREADS, else OMP_NUM_THREADS, else the cores. */
void nc_set_num_threads(int n);      /* n >= 1                             */
int nc_get_num_threads(void);
/* Debug counters of the thread runtime, for tests and tuning (their order
 * is nc_thread.c's); writes at most n, returns how many there are; reset
 * zeroes the totals and peaks. */
int nc_runtime_stats(int64_t *out, int n, int reset);

/* Memory for large arrays (csrc/core/nc_cache.c): blocks of at least
 * NC_CACHE_MIN bytes are kept on free, up to a limit in total, and reused
 * by the next request of about their size with their pages still mapped.
 * Every block is 64-byte aligned and must be freed with nc_cache_free. */
#define NC_CACHE_MIN ((size_t)1 << 18)                 /* 256 KiB      */
#define NC_CACHE_DEFAULT_LIMIT ((size_t)64 << 20)      /* 64 MiB       */
void *nc_cache_alloc(size_t bytes);         /* NULL when out of memory   */
void *nc_cache_calloc(size_t bytes);        /* zero-filled               */
void *nc_cache_realloc(void *p, size_t bytes);
void nc_cache_free(void *p);
void nc_cache_empty(void);                  /* frees every cached block  */
size_t nc_cache_set_limit(size_t bytes);    /* returns the previous one  */
/* out: cached bytes, cached blocks, limit, hits, misses */
void nc_cache_stats(int64_t out[5]);

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

/* Each family's kernels are listed once, as an X-macro list
 * list(X, T, S) of X(T, S, op, params, args) (args: the names of params, in
 * order): here the list declares the public void nc_<op>_<S>; the family's
 * template (csrc/kernels/<family>.inc) expands the same list into the
 * declarations of its ISA variants and the entry points that dispatch to
 * them.  An entry point that does more than dispatch (nc_act_grad,
 * nc_fma_peak) is not in a list: it is declared once below, next to its
 * family, and written by hand in the template. */
#define NC_DECLARE_KERNEL(T, S, op, params, args) void nc_##op##_##S params;
#define NC_DECLARE_FAMILY(list) list(NC_DECLARE_KERNEL, float, f32) list(NC_DECLARE_KERNEL, double, f64)

/* ------------------------------------------------------------------------
 * Hadamard family (csrc/kernels/elementwise.inc): flat arrays of n elements
 * ------------------------------------------------------------------------ */
#define NC_ELEMENTWISE_KERNELS(X, T, S)                                        \
    X(T, S, add, (nc_int n, const T *a, const T *b, T *out), (n, a, b, out))   \
    X(T, S, sub, (nc_int n, const T *a, const T *b, T *out), (n, a, b, out))   \
    X(T, S, mul, (nc_int n, const T *a, const T *b, T *out), (n, a, b, out))   \
    X(T, S, div, (nc_int n, const T *a, const T *b, T *out), (n, a, b, out))   \
    /* out = alpha * x */                                                      \
    X(T, S, scale, (nc_int n, T alpha, const T *x, T *out), (n, alpha, x, out)) \
    /* y += alpha * x */                                                       \
    X(T, S, axpy, (nc_int n, T alpha, const T *x, T *y), (n, alpha, x, y))     \
    /* out = a * b + c */                                                      \
    X(T, S, fma, (nc_int n, const T *a, const T *b, const T *c, T *out),       \
      (n, a, b, c, out))                                                       \
    /* out[j] = beta * out[j] + sum_i x[i, j], x of shape (m, n): the bias     \
     * gradient.  Each column is summed in row order whatever the threads. */  \
    X(T, S, sum_rows, (nc_int m, nc_int n, const T *x, nc_int ldx, T beta,     \
                       T *out), (m, n, x, ldx, beta, out))
NC_DECLARE_FAMILY(NC_ELEMENTWISE_KERNELS)

/* ------------------------------------------------------------------------
 * Activations and vector math (csrc/kernels/activation.inc)
 * ------------------------------------------------------------------------ */
#define NC_ACTIVATION_KERNELS(X, T, S)                                         \
    /* y = act(x) over n elements; slope: leaky ReLU's negative slope. */     \
    X(T, S, activation_forward, (nc_int n, int act, T slope, const T *x,      \
                                 T *y), (n, act, slope, x, y))                 \
    /* grad_x = grad_y * act'(x), one pass, no Jacobian.  x is the saved      \
     * input; y, the saved output act(x), may be NULL: sigmoid and tanh use   \
     * it instead of recomputing.  grad_x may alias grad_y. */                \
    X(T, S, activation_backward, (nc_int n, int act, T slope,                 \
                                  const T *grad_y, const T *x, const T *y,    \
                                  T *grad_x),                                  \
      (n, act, slope, grad_y, x, y, grad_x))                                   \
    /* y = act(x) and dy = act'(x) in one pass: GELU and tanh-GELU share     \
     * their erfc/exp between the two, and grad_y * dy is then bit for bit    \
     * activation_backward's grad_x (the autograd backward becomes one mul). \
     * ReLU's dy is 1 for x > 0, else 0. */                                   \
    X(T, S, activation_forward_grad, (nc_int n, int act, T slope, const T *x, \
                                      T *y, T *dy), (n, act, slope, x, y, dy)) \
    /* The vector math of csrc/core/nc_simd_math.h on arrays: out = f(x). */  \
    X(T, S, exp, (nc_int n, const T *x, T *out), (n, x, out))                  \
    X(T, S, log, (nc_int n, const T *x, T *out), (n, x, out))                  \
    X(T, S, tanh, (nc_int n, const T *x, T *out), (n, x, out))                 \
    X(T, S, erf, (nc_int n, const T *x, T *out), (n, x, out))                  \
    X(T, S, erfc, (nc_int n, const T *x, T *out), (n, x, out))
NC_DECLARE_FAMILY(NC_ACTIVATION_KERNELS)
/* delta = grad_output * act'(preact): nc_activation_backward with y = NULL,
 * the Linear backward's fold of the activation derivative before its two
 * GEMMs (delta may alias grad_output).  Not in the list: a wrapper over
 * nc_activation_backward, with no ISA variants of its own. */
#define NC_ACT_GRAD_API(T, S)                                                  \
    void nc_act_grad_##S(nc_int n, int activation, T slope,                   \
                         const T *grad_output, const T *preact, T *delta);
NC_DECLARE_BOTH(NC_ACT_GRAD_API)

/* ------------------------------------------------------------------------
 * Softmax and log-softmax over rows (csrc/kernels/softmax.inc)
 * ------------------------------------------------------------------------ */
#define NC_SOFTMAX_KERNELS(X, T, S)                                            \
    /* y[i, :] = softmax(x[i, :]) for the m rows of x (m, n); y may alias x. */ \
    X(T, S, softmax, (nc_int m, nc_int n, const T *x, nc_int ldx, T *y,       \
                      nc_int ldy), (m, n, x, ldx, y, ldy))                     \
    /* y[i, :] = x[i, :] - logsumexp(x[i, :]); y may alias x. */              \
    X(T, S, log_softmax, (nc_int m, nc_int n, const T *x, nc_int ldx, T *y,   \
                          nc_int ldy), (m, n, x, ldx, y, ldy))                 \
    /* grad_x = y * (grad_y - sum(grad_y * y)) per row, y = softmax(x)        \
     * (seed 004 3.2.3, the Jacobian-vector product); grad_x may alias        \
     * grad_y. */                                                              \
    X(T, S, softmax_backward, (nc_int m, nc_int n, const T *y, nc_int ldy,    \
                               const T *grad_y, nc_int ldgy, T *grad_x,       \
                               nc_int ldgx),                                   \
      (m, n, y, ldy, grad_y, ldgy, grad_x, ldgx))                              \
    /* grad_x = grad_y - exp(y) * sum(grad_y) per row, y = log_softmax(x). */ \
    X(T, S, log_softmax_backward, (nc_int m, nc_int n, const T *y,            \
                                   nc_int ldy, const T *grad_y,               \
                                   nc_int ldgy, T *grad_x, nc_int ldgx),      \
      (m, n, y, ldy, grad_y, ldgy, grad_x, ldgx))
NC_DECLARE_FAMILY(NC_SOFTMAX_KERNELS)

/* ------------------------------------------------------------------------
 * Matrix-vector, outer product (csrc/kernels/matvec.inc), GEMM and fused
 * linear (csrc/kernels/gemm.inc)
 * ------------------------------------------------------------------------ */
/* trans flags: 0 = as stored, 1 = transposed.  W/A/B/C row-major with
 * leading dimensions (elements per row). */
#define NC_MATVEC_KERNELS(X, T, S)                                                   \
    /* y = alpha W x + beta y (trans 0, y of length m) or alpha W^T x + beta y       \
     * (trans 1, y of length n); W (m, n).  beta == 0 ignores y's contents. */      \
    X(T, S, matvec, (int trans, nc_int m, nc_int n, T alpha, const T *w,             \
                     nc_int ldw, const T *x, T beta, T *y),                          \
      (trans, m, n, alpha, w, ldw, x, beta, y))                                      \
    /* G += alpha d a^T, G (m, n), d (m,), a (n,) */                                 \
    X(T, S, outer_acc, (nc_int m, nc_int n, T alpha, const T *d, const T *a,         \
                        T *g, nc_int ldg), (m, n, alpha, d, a, g, ldg))
NC_DECLARE_FAMILY(NC_MATVEC_KERNELS)
#define NC_GEMM_KERNELS(X, T, S)                                                     \
    /* C = alpha op(A) op(B) + beta C, C (m, n), op(A) (m, k), op(B) (k, n).         \
     * beta == 0 ignores C's contents.  Workspace: a per-thread buffer reused       \
     * across calls (see gemm.inc). */                                               \
    X(T, S, gemm, (int trans_a, int trans_b, nc_int m, nc_int n, nc_int k,           \
                   T alpha, const T *a, nc_int lda, const T *b, nc_int ldb,          \
                   T beta, T *c, nc_int ldc),                                        \
      (trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))              \
    /* The same with the Linear epilogue applied to the output tile:                \
     * Z = alpha op(A) op(B) + beta C + bias (bias (n,) or NULL), preact = Z         \
     * (when not NULL, leading dimension ldp), C = act(Z). */                         \
    X(T, S, gemm_fused, (int trans_a, int trans_b, nc_int m, nc_int n, nc_int k,     \
                         T alpha, const T *a, nc_int lda, const T *b, nc_int ldb,    \
                         T beta, T *c, nc_int ldc, const T *bias, int activation,    \
                         T slope, T *preact, nc_int ldp),                            \
      (trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,         \
       activation, slope, preact, ldp))                                              \
    /* batch products C_i = alpha op(A_i) op(B_i) + beta C_i, A_i = a + i*stride_a   \
     * (stride 0 broadcasts one matrix to every product) */                          \
    X(T, S, gemm_batched, (int trans_a, int trans_b, nc_int batch, nc_int m,         \
                           nc_int n, nc_int k, T alpha, const T *a, nc_int lda,      \
                           nc_int stride_a, const T *b, nc_int ldb,                  \
                           nc_int stride_b, T beta, T *c, nc_int ldc,                \
                           nc_int stride_c),                                         \
      (trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,  \
       beta, c, ldc, stride_c))
NC_DECLARE_FAMILY(NC_GEMM_KERNELS)

/* ------------------------------------------------------------------------
 * Optimizer steps (csrc/kernels/optim.inc)
 * ------------------------------------------------------------------------ */
/* Multi-tensor ("foreach") steps: one call updates the ntensors tensors of a
 * parameter group in place, one fused pass per element.  params[i],
 * grads[i] and every state array [i] hold sizes[i] elements.  steps[i] is
 * the tensor's step count after this step (1 on the first), used for the
 * bias corrections / lr decay, computed once per tensor in double.  State
 * arrays a flag or hyperparameter switches off may be NULL.  Threads split
 * the concatenated elements; results do not depend on the thread count. */
enum nc_optim_flags {
    NC_OPTIM_MAXIMIZE = 1,    /* ascend: the gradient is negated first     */
    NC_OPTIM_NESTEROV = 2,    /* SGD                                       */
    NC_OPTIM_AMSGRAD = 4,     /* Adam: max of the second moments           */
    NC_OPTIM_DECOUPLED = 8,   /* AdamW: param *= 1 - lr * wd, not an L2 term */
    NC_OPTIM_EPS_IN_SQRT = 16, /* the seeds' sqrt(v + eps), not sqrt(v) + eps */
    NC_OPTIM_CENTERED = 32    /* RMSprop                                   */
};
/* Doubles of workspace nc_lamb_step_* needs for these tensors. */
nc_int nc_lamb_workspace_size(nc_int ntensors, const nc_int *sizes);
#define NC_OPTIM_KERNELS(X, T, S)                                                   \
    /* fresh[i] != 0: momentum_buffers[i] is new, set to the gradient (may be     \
     * NULL: none new) */                                                          \
    X(T, S, sgd_step, (nc_int ntensors, const nc_int *sizes, double lr,            \
                       double momentum, double dampening, double weight_decay,     \
                       int flags, T *const *params, const T *const *grads,         \
                       T *const *momentum_buffers, const unsigned char *fresh),    \
      (ntensors, sizes, lr, momentum, dampening, weight_decay, flags, params,      \
       grads, momentum_buffers, fresh))                                            \
    X(T, S, adagrad_step, (nc_int ntensors, const nc_int *sizes,                   \
                           const nc_int *steps, double lr, double lr_decay,        \
                           double weight_decay, double eps, int flags,             \
                           T *const *params, const T *const *grads,                \
                           T *const *state_sums),                                  \
      (ntensors, sizes, steps, lr, lr_decay, weight_decay, eps, flags, params,     \
       grads, state_sums))                                                         \
    /* momentum_buffers used when momentum != 0, grad_avgs when centered */       \
    X(T, S, rmsprop_step, (nc_int ntensors, const nc_int *sizes, double lr,        \
                           double alpha, double eps, double weight_decay,          \
                           double momentum, int flags, T *const *params,           \
                           const T *const *grads, T *const *square_avgs,           \
                           T *const *momentum_buffers, T *const *grad_avgs),       \
      (ntensors, sizes, lr, alpha, eps, weight_decay, momentum, flags, params,     \
       grads, square_avgs, momentum_buffers, grad_avgs))                           \
    /* Adam, or AdamW with NC_OPTIM_DECOUPLED; max_exp_avg_sqs with amsgrad */    \
    X(T, S, adam_step, (nc_int ntensors, const nc_int *sizes, const nc_int *steps, \
                        double lr, double beta1, double beta2, double eps,         \
                        double weight_decay, int flags, T *const *params,          \
                        const T *const *grads, T *const *exp_avgs,                 \
                        T *const *exp_avg_sqs, T *const *max_exp_avg_sqs),         \
      (ntensors, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, params, \
       grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))                             \
    /* LAMB (You et al. 2019); workspace: nc_lamb_workspace_size doubles */       \
    X(T, S, lamb_step, (nc_int ntensors, const nc_int *sizes, const nc_int *steps, \
                        double lr, double beta1, double beta2, double eps,         \
                        double weight_decay, int flags, T *const *params,          \
                        const T *const *grads, T *const *exp_avgs,                 \
                        T *const *exp_avg_sqs, double *workspace),                 \
      (ntensors, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, params, \
       grads, exp_avgs, exp_avg_sqs, workspace))
NC_DECLARE_FAMILY(NC_OPTIM_KERNELS)

/* ------------------------------------------------------------------------
 * Attention and layer norm (csrc/kernels/attention.inc, layernorm.inc)
 * ------------------------------------------------------------------------ */
/* Fused scaled-dot-product attention over (batch B, heads H):
 *   out = softmax(q k^T * scale + mask) v, lse = log-sum-exp of each row,
 * q (B, H, N, D), k (B, H, M, D), v (B, H, M, DV), out (B, H, N, DV); each
 * given by a pointer and three element strides {batch, head, row} (last
 * axis contiguous).  mask: additive, NULL or read through four element
 * strides {b, h, n, m} (0 along broadcast axes).  is_causal: query i sees
 * keys j <= i.  lse (B, H, N) contiguous.  Never forms the N x M matrix.
 * The backward recomputes the probabilities from lse and writes (not adds)
 * grad_q, grad_k, grad_v.  A row with every key masked gives NaN.
 * work: the forward ignores it (NULL is fine: it reads k and v in place);
 * backward: NULL or a workspace of B*H*(D+DV)*M elements where each head's
 * keys and values are transposed once (faster). */
#define NC_ATTENTION_KERNELS(X, T, S)                                              \
    X(T, S, attention_forward, (nc_int B, nc_int H, nc_int N, nc_int M, nc_int D,  \
                                nc_int DV, T scale, const T *q, const nc_int *qs,  \
                                const T *k, const nc_int *ks, const T *v,          \
                                const nc_int *vs, const T *mask, const nc_int *ms, \
                                int is_causal, T *out, const nc_int *os, T *lse,   \
                                T *work),                                          \
      (B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out,    \
       os, lse, work))                                                             \
    X(T, S, attention_backward, (nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, \
                                 nc_int DV, T scale, const T *q, const nc_int *qs, \
                                 const T *k, const nc_int *ks, const T *v,         \
                                 const nc_int *vs, const T *mask,                  \
                                 const nc_int *ms, int is_causal, const T *out,    \
                                 const nc_int *os, const T *lse, const T *grad_out,\
                                 const nc_int *gos, T *grad_q, const nc_int *gqs,  \
                                 T *grad_k, const nc_int *gks, T *grad_v,          \
                                 const nc_int *gvs, T *work),                      \
      (B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out,    \
       os, lse, grad_out, gos, grad_q, gqs, grad_k, gks, grad_v, gvs, work))
NC_DECLARE_FAMILY(NC_ATTENTION_KERNELS)
#define NC_LAYER_NORM_KERNELS(X, T, S)                                             \
    /* y = (x - mean) * rstd * weight + bias over rows of `cols` elements;        \
     * weight, bias, mean, rstd may be NULL (no affine / not saved). */            \
    X(T, S, layer_norm_forward, (nc_int rows, nc_int cols, T eps, const T *x,      \
                                 const T *weight, const T *bias, T *y, T *mean,    \
                                 T *rstd),                                         \
      (rows, cols, eps, x, weight, bias, y, mean, rstd))                           \
    /* from the saved mean and rstd; any of the three outputs may be NULL */      \
    X(T, S, layer_norm_backward, (nc_int rows, nc_int cols, const T *grad_y,       \
                                  const T *x, const T *mean, const T *rstd,        \
                                  const T *weight, T *grad_x, T *grad_weight,      \
                                  T *grad_bias),                                   \
      (rows, cols, grad_y, x, mean, rstd, weight, grad_x, grad_weight, grad_bias))
NC_DECLARE_FAMILY(NC_LAYER_NORM_KERNELS)

/* ------------------------------------------------------------------------
 * Losses (csrc/kernels/loss.inc)
 * ------------------------------------------------------------------------ */
/* Cross-entropy over the rows of logits (m, n) with leading dimension ldl:
 * log-softmax and NLL fused; lse (m) keeps log sum_j exp(z_ij) per row for
 * the backward.  Class-index targets (m) of int64; label_smoothing eps in
 * [0, 1] mixes the target with the uniform distribution; weight (n) or NULL
 * weighs classes as PyTorch's `weight`; rows with target == ignore_index get
 * loss 0 and gradient 0 (targets outside [0, n) give NaN: validate first).
 * loss_i = (1-eps) w_t (lse_i - z_it) + eps/n sum_j w_j (lse_i - z_ij).     */
#define NC_LOSS_KERNELS(X, T, S)                                               \
    X(T, S, cross_entropy_forward, (nc_int m, nc_int n, T label_smoothing,     \
        int64_t ignore_index, const T *logits, nc_int ldl,                    \
        const int64_t *target, const T *weight, T *loss, T *lse),             \
      (m, n, label_smoothing, ignore_index, logits, ldl, target, weight,      \
       loss, lse))                                                             \
    /* grad_logits (m, n; ldg) = s_i d loss_i / d z_i, s_i = grad_scale *     \
     * grad_loss[i], or grad_scale alone when grad_loss is NULL (the mean and \
     * sum reductions).                                                        */\
    X(T, S, cross_entropy_backward, (nc_int m, nc_int n, T label_smoothing,    \
        int64_t ignore_index, const T *logits, nc_int ldl,                    \
        const int64_t *target, const T *weight, const T *lse,                 \
        const T *grad_loss, T grad_scale, T *grad_logits, nc_int ldg),        \
      (m, n, label_smoothing, ignore_index, logits, ldl, target, weight, lse, \
       grad_loss, grad_scale, grad_logits, ldg))                               \
    /* Class-probability targets (m, n; ldt): q' = (1-eps) q + eps/n,          \
     * loss_i = sum_j w_j q'_ij (lse_i - z_ij).                                */\
    X(T, S, cross_entropy_soft_forward, (nc_int m, nc_int n,                   \
        T label_smoothing, const T *logits, nc_int ldl, const T *target,      \
        nc_int ldt, const T *weight, T *loss, T *lse),                        \
      (m, n, label_smoothing, logits, ldl, target, ldt, weight, loss, lse))   \
    X(T, S, cross_entropy_soft_backward, (nc_int m, nc_int n,                  \
        T label_smoothing, const T *logits, nc_int ldl, const T *target,      \
        nc_int ldt, const T *weight, const T *lse, const T *grad_loss,        \
        T grad_scale, T *grad_logits, nc_int ldg),                            \
      (m, n, label_smoothing, logits, ldl, target, ldt, weight, lse,          \
       grad_loss, grad_scale, grad_logits, ldg))                               \
    /* Binary cross-entropy on logits x with targets y, both (m, n)           \
     * contiguous, element-wise, stable for any finite x:                     \
     * max(x,0) - x y + log1p(exp(-|x|)).  pos_weight: NULL or rows of n with  \
     * row stride ldp (0 = one row for all rows).                              */\
    X(T, S, bce_with_logits_forward, (nc_int m, nc_int n, const T *x,          \
        const T *y, const T *pos_weight, nc_int ldp, T *loss),                \
      (m, n, x, y, pos_weight, ldp, loss))                                     \
    /* grad_x = grad_scale * grad_loss * dloss/dx (grad_loss (m, n) or NULL)   */\
    X(T, S, bce_with_logits_backward, (nc_int m, nc_int n, const T *x,         \
        const T *y, const T *pos_weight, nc_int ldp, const T *grad_loss,      \
        T grad_scale, T *grad_x),                                              \
      (m, n, x, y, pos_weight, ldp, grad_loss, grad_scale, grad_x))
NC_DECLARE_FAMILY(NC_LOSS_KERNELS)

/* ------------------------------------------------------------------------
 * FMA peak (csrc/kernels/peak.inc): a register-only FMA loop for measuring
 * the machine's floating-point ceiling on the active ISA path
 * ------------------------------------------------------------------------ */
#define NC_PEAK_API(T, S)                                                     \
    /* count loops of iters rounds of independent vector FMAs over the        \
     * threads; out[c] (count elements) receives loop c's checksum.  Returns  \
     * the floating-point operations done (2 per lane per FMA).  Time it to   \
     * get the peak.                                                          */\
    double nc_fma_peak_##S(nc_int count, nc_int iters, T *out);
NC_DECLARE_BOTH(NC_PEAK_API)

#ifdef __cplusplus
}
#endif
#endif /* NEUROCORE_NC_H */
