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
    void nc_exp_f32(nc_int n, const float *x, float *out)
    void nc_log_f32(nc_int n, const float *x, float *out)
    void nc_tanh_f32(nc_int n, const float *x, float *out)
    void nc_erf_f32(nc_int n, const float *x, float *out)
    void nc_erfc_f32(nc_int n, const float *x, float *out)
    void nc_activation_forward_f64(nc_int n, int act, double slope, const double *x, double *y)
    void nc_activation_backward_f64(nc_int n, int act, double slope, const double *grad_y, const double *x,
                                    const double *y, double *grad_x)
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
