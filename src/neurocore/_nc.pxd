# The C API of csrc/include/neurocore/nc.h, as Cython sees it.
# Sections mirror nc.h; each kernel family declares its own.
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

    enum:
        NC_ACT_IDENTITY
        NC_ACT_RELU
        NC_ACT_LEAKY_RELU
        NC_ACT_GELU
        NC_ACT_GELU_TANH
        NC_ACT_SIGMOID
        NC_ACT_TANH

    # ---- Hadamard family ----------------------------------------------------
    void nc_add_f32(nc_int n, const float *a, const float *b, float *out)
    void nc_add_f64(nc_int n, const double *a, const double *b, double *out)
    void nc_sub_f32(nc_int n, const float *a, const float *b, float *out)
    void nc_sub_f64(nc_int n, const double *a, const double *b, double *out)
    void nc_mul_f32(nc_int n, const float *a, const float *b, float *out)
    void nc_mul_f64(nc_int n, const double *a, const double *b, double *out)
    void nc_div_f32(nc_int n, const float *a, const float *b, float *out)
    void nc_div_f64(nc_int n, const double *a, const double *b, double *out)
    void nc_scale_f32(nc_int n, float alpha, const float *x, float *out)
    void nc_scale_f64(nc_int n, double alpha, const double *x, double *out)
    void nc_axpy_f32(nc_int n, float alpha, const float *x, float *y)
    void nc_axpy_f64(nc_int n, double alpha, const double *x, double *y)
    void nc_fma_f32(nc_int n, const float *a, const float *b, const float *c, float *out)
    void nc_fma_f64(nc_int n, const double *a, const double *b, const double *c, double *out)
    void nc_sum_rows_f32(nc_int m, nc_int n, const float *x, nc_int ldx, float beta, float *out)
    void nc_sum_rows_f64(nc_int m, nc_int n, const double *x, nc_int ldx, double beta, double *out)

    # ---- activations and vector math ---------------------------------------
    void nc_activation_forward_f32(nc_int n, int act, float slope, const float *x, float *y)
    void nc_activation_backward_f32(nc_int n, int act, float slope, const float *grad_y, const float *x,
                                    const float *y, float *grad_x)
    void nc_activation_forward_grad_f32(nc_int n, int act, float slope, const float *x, float *y, float *dy)
    void nc_exp_f32(nc_int n, const float *x, float *out)
    void nc_log_f32(nc_int n, const float *x, float *out)
    void nc_tanh_f32(nc_int n, const float *x, float *out)
    void nc_erf_f32(nc_int n, const float *x, float *out)
    void nc_erfc_f32(nc_int n, const float *x, float *out)
    void nc_activation_forward_f64(nc_int n, int act, double slope, const double *x, double *y)
    void nc_activation_backward_f64(nc_int n, int act, double slope, const double *grad_y, const double *x,
                                    const double *y, double *grad_x)
    void nc_activation_forward_grad_f64(nc_int n, int act, double slope, const double *x, double *y,
                                        double *dy)
    void nc_exp_f64(nc_int n, const double *x, double *out)
    void nc_log_f64(nc_int n, const double *x, double *out)
    void nc_tanh_f64(nc_int n, const double *x, double *out)
    void nc_erf_f64(nc_int n, const double *x, double *out)
    void nc_erfc_f64(nc_int n, const double *x, double *out)

    # ---- softmax -----------------------------------------------------------
    void nc_softmax_f32(nc_int m, nc_int n, const float *x, nc_int ldx, float *y, nc_int ldy)
    void nc_log_softmax_f32(nc_int m, nc_int n, const float *x, nc_int ldx, float *y, nc_int ldy)
    void nc_softmax_backward_f32(nc_int m, nc_int n, const float *y, nc_int ldy, const float *grad_y, nc_int ldgy,
        float *grad_x, nc_int ldgx)
    void nc_log_softmax_backward_f32(nc_int m, nc_int n, const float *y, nc_int ldy, const float *grad_y, nc_int ldgy,
        float *grad_x, nc_int ldgx)
    void nc_softmax_f64(nc_int m, nc_int n, const double *x, nc_int ldx, double *y, nc_int ldy)
    void nc_log_softmax_f64(nc_int m, nc_int n, const double *x, nc_int ldx, double *y, nc_int ldy)
    void nc_softmax_backward_f64(nc_int m, nc_int n, const double *y, nc_int ldy, const double *grad_y, nc_int ldgy,
        double *grad_x, nc_int ldgx)
    void nc_log_softmax_backward_f64(nc_int m, nc_int n, const double *y, nc_int ldy, const double *grad_y, nc_int ldgy,
        double *grad_x, nc_int ldgx)

    # ---- matvec, outer, GEMM, linear ---------------------------------------
    void nc_matvec_f32(int trans, nc_int m, nc_int n, float alpha, const float *w, nc_int ldw, const float *x, float beta, float *y)
    void nc_matvec_f64(int trans, nc_int m, nc_int n, double alpha, const double *w, nc_int ldw, const double *x, double beta, double *y)
    void nc_outer_acc_f32(nc_int m, nc_int n, float alpha, const float *d, const float *a, float *g, nc_int ldg)
    void nc_outer_acc_f64(nc_int m, nc_int n, double alpha, const double *d, const double *a, double *g, nc_int ldg)
    void nc_gemm_f32(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, float alpha, const float *a, nc_int lda, const float *b, nc_int ldb, float beta, float *c, nc_int ldc)
    void nc_gemm_f64(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, double alpha, const double *a, nc_int lda, const double *b, nc_int ldb, double beta, double *c, nc_int ldc)
    void nc_gemm_fused_f32(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, float alpha, const float *a, nc_int lda, const float *b, nc_int ldb, float beta, float *c, nc_int ldc, const float *bias, int activation, float slope, float *preact, nc_int ldp)
    void nc_gemm_fused_f64(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, double alpha, const double *a, nc_int lda, const double *b, nc_int ldb, double beta, double *c, nc_int ldc, const double *bias, int activation, double slope, double *preact, nc_int ldp)
    void nc_gemm_batched_f32(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k, float alpha, const float *a, nc_int lda, nc_int stride_a, const float *b, nc_int ldb, nc_int stride_b, float beta, float *c, nc_int ldc, nc_int stride_c)
    void nc_gemm_batched_f64(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k, double alpha, const double *a, nc_int lda, nc_int stride_a, const double *b, nc_int ldb, nc_int stride_b, double beta, double *c, nc_int ldc, nc_int stride_c)
    void nc_act_grad_f32(nc_int n, int activation, float slope, const float *grad_output, const float *preact, float *delta)
    void nc_act_grad_f64(nc_int n, int activation, double slope, const double *grad_output, const double *preact, double *delta)

    # ---- optimizer steps ---------------------------------------------------
    enum:
        NC_OPTIM_MAXIMIZE
        NC_OPTIM_NESTEROV
        NC_OPTIM_AMSGRAD
        NC_OPTIM_DECOUPLED
        NC_OPTIM_EPS_IN_SQRT
        NC_OPTIM_CENTERED
    nc_int nc_lamb_workspace_size(nc_int ntensors, const nc_int *sizes)
    void nc_sgd_step_f32(nc_int ntensors, const nc_int *sizes, double lr, double momentum,
                         double dampening, double weight_decay, int flags, float **params,
                         const float **grads, float **momentum_buffers, const unsigned char *fresh)
    void nc_sgd_step_f64(nc_int ntensors, const nc_int *sizes, double lr, double momentum,
                         double dampening, double weight_decay, int flags, double **params,
                         const double **grads, double **momentum_buffers, const unsigned char *fresh)
    void nc_adagrad_step_f32(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                             double lr_decay, double weight_decay, double eps, int flags,
                             float **params, const float **grads, float **state_sums)
    void nc_adagrad_step_f64(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                             double lr_decay, double weight_decay, double eps, int flags,
                             double **params, const double **grads, double **state_sums)
    void nc_rmsprop_step_f32(nc_int ntensors, const nc_int *sizes, double lr, double alpha,
                             double eps, double weight_decay, double momentum, int flags,
                             float **params, const float **grads, float **square_avgs,
                             float **momentum_buffers, float **grad_avgs)
    void nc_rmsprop_step_f64(nc_int ntensors, const nc_int *sizes, double lr, double alpha,
                             double eps, double weight_decay, double momentum, int flags,
                             double **params, const double **grads, double **square_avgs,
                             double **momentum_buffers, double **grad_avgs)
    void nc_adam_step_f32(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                          double beta1, double beta2, double eps, double weight_decay, int flags,
                          float **params, const float **grads, float **exp_avgs,
                          float **exp_avg_sqs, float **max_exp_avg_sqs)
    void nc_adam_step_f64(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                          double beta1, double beta2, double eps, double weight_decay, int flags,
                          double **params, const double **grads, double **exp_avgs,
                          double **exp_avg_sqs, double **max_exp_avg_sqs)
    void nc_lamb_step_f32(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                          double beta1, double beta2, double eps, double weight_decay, int flags,
                          float **params, const float **grads, float **exp_avgs,
                          float **exp_avg_sqs, double *workspace)
    void nc_lamb_step_f64(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                          double beta1, double beta2, double eps, double weight_decay, int flags,
                          double **params, const double **grads, double **exp_avgs,
                          double **exp_avg_sqs, double *workspace)

    # ---- attention and layer norm ------------------------------------------
    void nc_attention_forward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, float scale,
        const float *q, const nc_int *qs, const float *k, const nc_int *ks, const float *v, const nc_int *vs,
        const float *mask, const nc_int *ms, int is_causal, float *out, const nc_int *os, float *lse, float *work)
    void nc_attention_backward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, float scale,
        const float *q, const nc_int *qs, const float *k, const nc_int *ks, const float *v, const nc_int *vs,
        const float *mask, const nc_int *ms, int is_causal, const float *out, const nc_int *os, const float *lse,
        const float *grad_out, const nc_int *gos, float *grad_q, const nc_int *gqs, float *grad_k, const nc_int *gks,
        float *grad_v, const nc_int *gvs, float *work)
    void nc_layer_norm_forward_f32(nc_int rows, nc_int cols, float eps, const float *x, const float *weight,
        const float *bias, float *y, float *mean, float *rstd)
    void nc_layer_norm_backward_f32(nc_int rows, nc_int cols, const float *grad_y, const float *x, const float *mean,
        const float *rstd, const float *weight, float *grad_x, float *grad_weight, float *grad_bias)
    void nc_attention_forward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, double scale,
        const double *q, const nc_int *qs, const double *k, const nc_int *ks, const double *v, const nc_int *vs,
        const double *mask, const nc_int *ms, int is_causal, double *out, const nc_int *os, double *lse, double *work)
    void nc_attention_backward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, double scale,
        const double *q, const nc_int *qs, const double *k, const nc_int *ks, const double *v, const nc_int *vs,
        const double *mask, const nc_int *ms, int is_causal, const double *out, const nc_int *os, const double *lse,
        const double *grad_out, const nc_int *gos, double *grad_q, const nc_int *gqs, double *grad_k, const nc_int *gks,
        double *grad_v, const nc_int *gvs, double *work)
    void nc_layer_norm_forward_f64(nc_int rows, nc_int cols, double eps, const double *x, const double *weight,
        const double *bias, double *y, double *mean, double *rstd)
    void nc_layer_norm_backward_f64(nc_int rows, nc_int cols, const double *grad_y, const double *x, const double *mean,
        const double *rstd, const double *weight, double *grad_x, double *grad_weight, double *grad_bias)

    # ---- losses ------------------------------------------------------------
    ctypedef signed long long nc_int64 "int64_t"
    void nc_cross_entropy_forward_f32(nc_int m, nc_int n, float label_smoothing, nc_int64 ignore_index,
                                      const float *logits, nc_int ldl, const nc_int64 *target, const float *weight,
                                      float *loss, float *lse)
    void nc_cross_entropy_backward_f32(nc_int m, nc_int n, float label_smoothing, nc_int64 ignore_index,
                                       const float *logits, nc_int ldl, const nc_int64 *target, const float *weight,
                                       const float *lse, const float *grad_loss, float grad_scale,
                                       float *grad_logits, nc_int ldg)
    void nc_cross_entropy_soft_forward_f32(nc_int m, nc_int n, float label_smoothing, const float *logits,
                                           nc_int ldl, const float *target, nc_int ldt, const float *weight,
                                           float *loss, float *lse)
    void nc_cross_entropy_soft_backward_f32(nc_int m, nc_int n, float label_smoothing, const float *logits,
                                            nc_int ldl, const float *target, nc_int ldt, const float *weight,
                                            const float *lse, const float *grad_loss, float grad_scale,
                                            float *grad_logits, nc_int ldg)
    void nc_bce_with_logits_forward_f32(nc_int m, nc_int n, const float *x, const float *y,
                                        const float *pos_weight, nc_int ldp, float *loss)
    void nc_bce_with_logits_backward_f32(nc_int m, nc_int n, const float *x, const float *y,
                                         const float *pos_weight, nc_int ldp, const float *grad_loss,
                                         float grad_scale, float *grad_x)
    void nc_cross_entropy_forward_f64(nc_int m, nc_int n, double label_smoothing, nc_int64 ignore_index,
                                      const double *logits, nc_int ldl, const nc_int64 *target, const double *weight,
                                      double *loss, double *lse)
    void nc_cross_entropy_backward_f64(nc_int m, nc_int n, double label_smoothing, nc_int64 ignore_index,
                                       const double *logits, nc_int ldl, const nc_int64 *target, const double *weight,
                                       const double *lse, const double *grad_loss, double grad_scale,
                                       double *grad_logits, nc_int ldg)
    void nc_cross_entropy_soft_forward_f64(nc_int m, nc_int n, double label_smoothing, const double *logits,
                                           nc_int ldl, const double *target, nc_int ldt, const double *weight,
                                           double *loss, double *lse)
    void nc_cross_entropy_soft_backward_f64(nc_int m, nc_int n, double label_smoothing, const double *logits,
                                            nc_int ldl, const double *target, nc_int ldt, const double *weight,
                                            const double *lse, const double *grad_loss, double grad_scale,
                                            double *grad_logits, nc_int ldg)
    void nc_bce_with_logits_forward_f64(nc_int m, nc_int n, const double *x, const double *y,
                                        const double *pos_weight, nc_int ldp, double *loss)
    void nc_bce_with_logits_backward_f64(nc_int m, nc_int n, const double *x, const double *y,
                                         const double *pos_weight, nc_int ldp, const double *grad_loss,
                                         double grad_scale, double *grad_x)

    # ---- FMA peak (a register-only loop, for the benchmark) ---------------
    double nc_fma_peak_f32(nc_int count, nc_int iters, float *out)
    double nc_fma_peak_f64(nc_int count, nc_int iters, double *out)


# ---- one name per kernel, for both widths --------------------------------
# nc_softmax(m, n, x, ldx, y, ldy) calls nc_softmax_f32 when x and y are
# float pointers and nc_softmax_f64 when they are double pointers: Cython
# picks the width when it compiles the call (an inline function, no runtime
# cost), so a fused helper over `real` writes each call once, and a float
# pointer cannot reach an f64 kernel.  Scalars (alpha, slope, eps, scale)
# take the pointers' width, as in the C kernels.  The optimizer steps have
# no dispatcher: _optim.pxi, their only caller, names both widths.
ctypedef fused real:
    float
    double

cdef inline void nc_add(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_add_f32(n, a, b, out)
    else: nc_add_f64(n, a, b, out)

cdef inline void nc_sub(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_sub_f32(n, a, b, out)
    else: nc_sub_f64(n, a, b, out)

cdef inline void nc_mul(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_mul_f32(n, a, b, out)
    else: nc_mul_f64(n, a, b, out)

cdef inline void nc_div(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_div_f32(n, a, b, out)
    else: nc_div_f64(n, a, b, out)

cdef inline void nc_scale(nc_int n, real alpha, const real *x, real *out) noexcept nogil:
    if real is float: nc_scale_f32(n, alpha, x, out)
    else: nc_scale_f64(n, alpha, x, out)

cdef inline void nc_axpy(nc_int n, real alpha, const real *x, real *y) noexcept nogil:
    if real is float: nc_axpy_f32(n, alpha, x, y)
    else: nc_axpy_f64(n, alpha, x, y)

cdef inline void nc_fma(nc_int n, const real *a, const real *b, const real *c, real *out) noexcept nogil:
    if real is float: nc_fma_f32(n, a, b, c, out)
    else: nc_fma_f64(n, a, b, c, out)

cdef inline void nc_sum_rows(nc_int m, nc_int n, const real *x, nc_int ldx, real beta,
                             real *out) noexcept nogil:
    if real is float: nc_sum_rows_f32(m, n, x, ldx, beta, out)
    else: nc_sum_rows_f64(m, n, x, ldx, beta, out)

cdef inline void nc_activation_forward(nc_int n, int act, real slope, const real *x, real *y) noexcept nogil:
    if real is float: nc_activation_forward_f32(n, act, slope, x, y)
    else: nc_activation_forward_f64(n, act, slope, x, y)

cdef inline void nc_activation_forward_grad(nc_int n, int act, real slope, const real *x, real *y,
                                            real *dy) noexcept nogil:
    if real is float: nc_activation_forward_grad_f32(n, act, slope, x, y, dy)
    else: nc_activation_forward_grad_f64(n, act, slope, x, y, dy)

cdef inline void nc_activation_backward(nc_int n, int act, real slope, const real *grad_y, const real *x,
                                        const real *y, real *grad_x) noexcept nogil:
    if real is float: nc_activation_backward_f32(n, act, slope, grad_y, x, y, grad_x)
    else: nc_activation_backward_f64(n, act, slope, grad_y, x, y, grad_x)

cdef inline void nc_exp(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_exp_f32(n, x, out)
    else: nc_exp_f64(n, x, out)

cdef inline void nc_log(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_log_f32(n, x, out)
    else: nc_log_f64(n, x, out)

cdef inline void nc_tanh(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_tanh_f32(n, x, out)
    else: nc_tanh_f64(n, x, out)

cdef inline void nc_erf(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_erf_f32(n, x, out)
    else: nc_erf_f64(n, x, out)

cdef inline void nc_erfc(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_erfc_f32(n, x, out)
    else: nc_erfc_f64(n, x, out)

cdef inline void nc_softmax(nc_int m, nc_int n, const real *x, nc_int ldx, real *y, nc_int ldy) noexcept nogil:
    if real is float: nc_softmax_f32(m, n, x, ldx, y, ldy)
    else: nc_softmax_f64(m, n, x, ldx, y, ldy)

cdef inline void nc_log_softmax(nc_int m, nc_int n, const real *x, nc_int ldx, real *y,
                                nc_int ldy) noexcept nogil:
    if real is float: nc_log_softmax_f32(m, n, x, ldx, y, ldy)
    else: nc_log_softmax_f64(m, n, x, ldx, y, ldy)

cdef inline void nc_softmax_backward(nc_int m, nc_int n, const real *y, nc_int ldy, const real *grad_y,
                                     nc_int ldgy, real *grad_x, nc_int ldgx) noexcept nogil:
    if real is float: nc_softmax_backward_f32(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)
    else: nc_softmax_backward_f64(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)

cdef inline void nc_log_softmax_backward(nc_int m, nc_int n, const real *y, nc_int ldy, const real *grad_y,
                                         nc_int ldgy, real *grad_x, nc_int ldgx) noexcept nogil:
    if real is float: nc_log_softmax_backward_f32(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)
    else: nc_log_softmax_backward_f64(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)

cdef inline void nc_matvec(int trans, nc_int m, nc_int n, real alpha, const real *w, nc_int ldw, const real *x,
                           real beta, real *y) noexcept nogil:
    if real is float: nc_matvec_f32(trans, m, n, alpha, w, ldw, x, beta, y)
    else: nc_matvec_f64(trans, m, n, alpha, w, ldw, x, beta, y)

cdef inline void nc_outer_acc(nc_int m, nc_int n, real alpha, const real *d, const real *a, real *g,
                              nc_int ldg) noexcept nogil:
    if real is float: nc_outer_acc_f32(m, n, alpha, d, a, g, ldg)
    else: nc_outer_acc_f64(m, n, alpha, d, a, g, ldg)

cdef inline void nc_gemm(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, real alpha, const real *a,
                         nc_int lda, const real *b, nc_int ldb, real beta, real *c, nc_int ldc) noexcept nogil:
    if real is float: nc_gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else: nc_gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

cdef inline void nc_gemm_fused(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, real alpha,
                               const real *a, nc_int lda, const real *b, nc_int ldb, real beta, real *c,
                               nc_int ldc, const real *bias, int activation, real slope, real *preact,
                               nc_int ldp) noexcept nogil:
    if real is float: nc_gemm_fused_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                                        activation, slope, preact, ldp)
    else: nc_gemm_fused_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, activation,
                            slope, preact, ldp)

cdef inline void nc_gemm_batched(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                 real alpha, const real *a, nc_int lda, nc_int stride_a, const real *b,
                                 nc_int ldb, nc_int stride_b, real beta, real *c, nc_int ldc,
                                 nc_int stride_c) noexcept nogil:
    if real is float: nc_gemm_batched_f32(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                          stride_b, beta, c, ldc, stride_c)
    else: nc_gemm_batched_f64(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta,
                              c, ldc, stride_c)

cdef inline void nc_act_grad(nc_int n, int activation, real slope, const real *grad_output, const real *preact,
                             real *delta) noexcept nogil:
    if real is float: nc_act_grad_f32(n, activation, slope, grad_output, preact, delta)
    else: nc_act_grad_f64(n, activation, slope, grad_output, preact, delta)

cdef inline void nc_attention_forward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, real scale,
                                      const real *q, const nc_int *qs, const real *k, const nc_int *ks,
                                      const real *v, const nc_int *vs, const real *mask, const nc_int *ms,
                                      int is_causal, real *out, const nc_int *os, real *lse,
                                      real *work) noexcept nogil:
    if real is float: nc_attention_forward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                               is_causal, out, os, lse, work)
    else: nc_attention_forward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out, os,
                                   lse, work)

cdef inline void nc_attention_backward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, real scale,
                                       const real *q, const nc_int *qs, const real *k, const nc_int *ks,
                                       const real *v, const nc_int *vs, const real *mask, const nc_int *ms,
                                       int is_causal, const real *out, const nc_int *os, const real *lse,
                                       const real *grad_out, const nc_int *gos, real *grad_q, const nc_int *gqs,
                                       real *grad_k, const nc_int *gks, real *grad_v, const nc_int *gvs,
                                       real *work) noexcept nogil:
    if real is float: nc_attention_backward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                is_causal, out, os, lse, grad_out, gos, grad_q, gqs, grad_k,
                                                gks, grad_v, gvs, work)
    else: nc_attention_backward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out, os,
                                    lse, grad_out, gos, grad_q, gqs, grad_k, gks, grad_v, gvs, work)

cdef inline void nc_layer_norm_forward(nc_int rows, nc_int cols, real eps, const real *x, const real *weight,
                                       const real *bias, real *y, real *mean, real *rstd) noexcept nogil:
    if real is float: nc_layer_norm_forward_f32(rows, cols, eps, x, weight, bias, y, mean, rstd)
    else: nc_layer_norm_forward_f64(rows, cols, eps, x, weight, bias, y, mean, rstd)

cdef inline void nc_layer_norm_backward(nc_int rows, nc_int cols, const real *grad_y, const real *x,
                                        const real *mean, const real *rstd, const real *weight, real *grad_x,
                                        real *grad_weight, real *grad_bias) noexcept nogil:
    if real is float: nc_layer_norm_backward_f32(rows, cols, grad_y, x, mean, rstd, weight, grad_x, grad_weight,
                                                 grad_bias)
    else: nc_layer_norm_backward_f64(rows, cols, grad_y, x, mean, rstd, weight, grad_x, grad_weight, grad_bias)

cdef inline void nc_cross_entropy_forward(nc_int m, nc_int n, real label_smoothing, nc_int64 ignore_index,
                                          const real *logits, nc_int ldl, const nc_int64 *target,
                                          const real *weight, real *loss, real *lse) noexcept nogil:
    if real is float: nc_cross_entropy_forward_f32(m, n, label_smoothing, ignore_index, logits, ldl, target,
                                                   weight, loss, lse)
    else: nc_cross_entropy_forward_f64(m, n, label_smoothing, ignore_index, logits, ldl, target, weight, loss,
                                       lse)

cdef inline void nc_cross_entropy_backward(nc_int m, nc_int n, real label_smoothing, nc_int64 ignore_index,
                                           const real *logits, nc_int ldl, const nc_int64 *target,
                                           const real *weight, const real *lse, const real *grad_loss,
                                           real grad_scale, real *grad_logits, nc_int ldg) noexcept nogil:
    if real is float: nc_cross_entropy_backward_f32(m, n, label_smoothing, ignore_index, logits, ldl, target,
                                                    weight, lse, grad_loss, grad_scale, grad_logits, ldg)
    else: nc_cross_entropy_backward_f64(m, n, label_smoothing, ignore_index, logits, ldl, target, weight, lse,
                                        grad_loss, grad_scale, grad_logits, ldg)

cdef inline void nc_cross_entropy_soft_forward(nc_int m, nc_int n, real label_smoothing, const real *logits,
                                               nc_int ldl, const real *target, nc_int ldt, const real *weight,
                                               real *loss, real *lse) noexcept nogil:
    if real is float: nc_cross_entropy_soft_forward_f32(m, n, label_smoothing, logits, ldl, target, ldt, weight,
                                                        loss, lse)
    else: nc_cross_entropy_soft_forward_f64(m, n, label_smoothing, logits, ldl, target, ldt, weight, loss, lse)

cdef inline void nc_cross_entropy_soft_backward(nc_int m, nc_int n, real label_smoothing, const real *logits,
                                                nc_int ldl, const real *target, nc_int ldt, const real *weight,
                                                const real *lse, const real *grad_loss, real grad_scale,
                                                real *grad_logits, nc_int ldg) noexcept nogil:
    if real is float: nc_cross_entropy_soft_backward_f32(m, n, label_smoothing, logits, ldl, target, ldt,
                                                         weight, lse, grad_loss, grad_scale, grad_logits, ldg)
    else: nc_cross_entropy_soft_backward_f64(m, n, label_smoothing, logits, ldl, target, ldt, weight, lse,
                                             grad_loss, grad_scale, grad_logits, ldg)

cdef inline void nc_bce_with_logits_forward(nc_int m, nc_int n, const real *x, const real *y,
                                            const real *pos_weight, nc_int ldp, real *loss) noexcept nogil:
    if real is float: nc_bce_with_logits_forward_f32(m, n, x, y, pos_weight, ldp, loss)
    else: nc_bce_with_logits_forward_f64(m, n, x, y, pos_weight, ldp, loss)

cdef inline void nc_bce_with_logits_backward(nc_int m, nc_int n, const real *x, const real *y,
                                             const real *pos_weight, nc_int ldp, const real *grad_loss,
                                             real grad_scale, real *grad_x) noexcept nogil:
    if real is float: nc_bce_with_logits_backward_f32(m, n, x, y, pos_weight, ldp, grad_loss, grad_scale,
                                                      grad_x)
    else: nc_bce_with_logits_backward_f64(m, n, x, y, pos_weight, ldp, grad_loss, grad_scale, grad_x)

cdef inline double nc_fma_peak(nc_int count, nc_int iters, real *out) noexcept nogil:
    if real is float: return nc_fma_peak_f32(count, iters, out)
    else: return nc_fma_peak_f64(count, iters, out)
