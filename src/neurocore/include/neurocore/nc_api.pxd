# cython: language_level=3
"""neurocore's C API for Cython: the table of neurocore/nc_api.h.

    # distutils/setuptools: include_dirs=[neurocore.get_include()]
    from neurocore.nc_api cimport nc_api, nc_import_api

    nc_import_api()                 # once, at module import (raises ImportError)
    with nogil:
        nc_api.gemm_f32(0, 0, m, n, k, 1.0, a, k, b, n, 0.0, c, n)

Each member is the nc.h function of the same name with the nc_ prefix
(nc_api.softmax_f64 is nc_softmax_f64): sizes first, const inputs, outputs
last, row-major arrays with explicit leading dimensions.  The kernels need
neither the GIL nor a link against neurocore's module.
"""
from libc.stdint cimport int64_t

cdef extern from "neurocore/nc_api.h" nogil:
    ctypedef Py_ssize_t nc_int      # ptrdiff_t

    enum:
        NC_API_VERSION

    # activation selector (nc.h enum nc_activation)
    enum:
        NC_ACT_IDENTITY
        NC_ACT_RELU
        NC_ACT_LEAKY_RELU
        NC_ACT_GELU
        NC_ACT_GELU_TANH
        NC_ACT_SIGMOID
        NC_ACT_TANH

    # optimizer flags (nc.h enum nc_optim_flags)
    enum:
        NC_OPTIM_MAXIMIZE
        NC_OPTIM_NESTEROV
        NC_OPTIM_AMSGRAD
        NC_OPTIM_DECOUPLED
        NC_OPTIM_EPS_IN_SQRT
        NC_OPTIM_CENTERED

    ctypedef struct nc_api_t:
        unsigned int version
        size_t size
        # runtime
        int (*isa_active)() noexcept nogil
        const char *(*isa_name)(int isa) noexcept nogil
        void (*set_num_threads)(int n) noexcept nogil
        int (*get_num_threads)() noexcept nogil
        nc_int (*lamb_workspace_size)(nc_int ntensors, const nc_int *sizes) noexcept nogil
        # kernels, float
        void (*add_f32)(nc_int n, const float *a, const float *b, float *out) noexcept nogil
        void (*sub_f32)(nc_int n, const float *a, const float *b, float *out) noexcept nogil
        void (*mul_f32)(nc_int n, const float *a, const float *b, float *out) noexcept nogil
        void (*div_f32)(nc_int n, const float *a, const float *b, float *out) noexcept nogil
        void (*scale_f32)(nc_int n, float alpha, const float *x, float *out) noexcept nogil
        void (*axpy_f32)(nc_int n, float alpha, const float *x, float *y) noexcept nogil
        void (*fma_f32)(nc_int n, const float *a, const float *b, const float *c, float *out) noexcept nogil
        void (*sum_rows_f32)(nc_int m, nc_int n, const float *x, nc_int ldx, float beta,
                             float *out) noexcept nogil
        void (*activation_forward_f32)(nc_int n, int act, float slope, const float *x,
                                       float *y) noexcept nogil
        void (*activation_backward_f32)(nc_int n, int act, float slope, const float *grad_y, const float *x,
                                        const float *y, float *grad_x) noexcept nogil
        void (*exp_f32)(nc_int n, const float *x, float *out) noexcept nogil
        void (*log_f32)(nc_int n, const float *x, float *out) noexcept nogil
        void (*tanh_f32)(nc_int n, const float *x, float *out) noexcept nogil
        void (*erf_f32)(nc_int n, const float *x, float *out) noexcept nogil
        void (*erfc_f32)(nc_int n, const float *x, float *out) noexcept nogil
        void (*softmax_f32)(nc_int m, nc_int n, const float *x, nc_int ldx, float *y,
                            nc_int ldy) noexcept nogil
        void (*log_softmax_f32)(nc_int m, nc_int n, const float *x, nc_int ldx, float *y,
                                nc_int ldy) noexcept nogil
        void (*softmax_backward_f32)(nc_int m, nc_int n, const float *y, nc_int ldy, const float *grad_y,
                                     nc_int ldgy, float *grad_x, nc_int ldgx) noexcept nogil
        void (*log_softmax_backward_f32)(nc_int m, nc_int n, const float *y, nc_int ldy, const float *grad_y,
                                         nc_int ldgy, float *grad_x, nc_int ldgx) noexcept nogil
        void (*matvec_f32)(int trans, nc_int m, nc_int n, float alpha, const float *w, nc_int ldw,
                           const float *x, float beta, float *y) noexcept nogil
        void (*outer_acc_f32)(nc_int m, nc_int n, float alpha, const float *d, const float *a, float *g,
                              nc_int ldg) noexcept nogil
        void (*gemm_f32)(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, float alpha, const float *a,
                         nc_int lda, const float *b, nc_int ldb, float beta, float *c,
                         nc_int ldc) noexcept nogil
        void (*gemm_fused_f32)(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, float alpha,
                               const float *a, nc_int lda, const float *b, nc_int ldb, float beta, float *c,
                               nc_int ldc, const float *bias, int activation, float slope, float *preact,
                               nc_int ldp) noexcept nogil
        void (*gemm_batched_f32)(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                 float alpha, const float *a, nc_int lda, nc_int stride_a, const float *b,
                                 nc_int ldb, nc_int stride_b, float beta, float *c, nc_int ldc,
                                 nc_int stride_c) noexcept nogil
        void (*act_grad_f32)(nc_int n, int activation, float slope, const float *grad_output,
                             const float *preact, float *delta) noexcept nogil
        void (*sgd_step_f32)(nc_int ntensors, const nc_int *sizes, double lr, double momentum,
                             double dampening, double weight_decay, int flags, float *const *params,
                             const float *const *grads, float *const *momentum_buffers,
                             const unsigned char *fresh) noexcept nogil
        void (*adagrad_step_f32)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                                 double lr_decay, double weight_decay, double eps, int flags,
                                 float *const *params, const float *const *grads,
                                 float *const *state_sums) noexcept nogil
        void (*rmsprop_step_f32)(nc_int ntensors, const nc_int *sizes, double lr, double alpha, double eps,
                                 double weight_decay, double momentum, int flags, float *const *params,
                                 const float *const *grads, float *const *square_avgs,
                                 float *const *momentum_buffers, float *const *grad_avgs) noexcept nogil
        void (*adam_step_f32)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags,
                              float *const *params, const float *const *grads, float *const *exp_avgs,
                              float *const *exp_avg_sqs, float *const *max_exp_avg_sqs) noexcept nogil
        void (*lamb_step_f32)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags,
                              float *const *params, const float *const *grads, float *const *exp_avgs,
                              float *const *exp_avg_sqs, double *workspace) noexcept nogil
        void (*attention_forward_f32)(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                      float scale, const float *q, const nc_int *qs, const float *k,
                                      const nc_int *ks, const float *v, const nc_int *vs, const float *mask,
                                      const nc_int *ms, int is_causal, float *out, const nc_int *os,
                                      float *lse, float *work) noexcept nogil
        void (*attention_backward_f32)(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                       float scale, const float *q, const nc_int *qs, const float *k,
                                       const nc_int *ks, const float *v, const nc_int *vs, const float *mask,
                                       const nc_int *ms, int is_causal, const float *out, const nc_int *os,
                                       const float *lse, const float *grad_out, const nc_int *gos,
                                       float *grad_q, const nc_int *gqs, float *grad_k, const nc_int *gks,
                                       float *grad_v, const nc_int *gvs, float *work) noexcept nogil
        void (*layer_norm_forward_f32)(nc_int rows, nc_int cols, float eps, const float *x,
                                       const float *weight, const float *bias, float *y, float *mean,
                                       float *rstd) noexcept nogil
        void (*layer_norm_backward_f32)(nc_int rows, nc_int cols, const float *grad_y, const float *x,
                                        const float *mean, const float *rstd, const float *weight,
                                        float *grad_x, float *grad_weight, float *grad_bias) noexcept nogil
        void (*cross_entropy_forward_f32)(nc_int m, nc_int n, float label_smoothing, int64_t ignore_index,
                                          const float *logits, nc_int ldl, const int64_t *target,
                                          const float *weight, float *loss, float *lse) noexcept nogil
        void (*cross_entropy_backward_f32)(nc_int m, nc_int n, float label_smoothing, int64_t ignore_index,
                                           const float *logits, nc_int ldl, const int64_t *target,
                                           const float *weight, const float *lse, const float *grad_loss,
                                           float grad_scale, float *grad_logits, nc_int ldg) noexcept nogil
        void (*cross_entropy_soft_forward_f32)(nc_int m, nc_int n, float label_smoothing,
                                               const float *logits, nc_int ldl, const float *target,
                                               nc_int ldt, const float *weight, float *loss,
                                               float *lse) noexcept nogil
        void (*cross_entropy_soft_backward_f32)(nc_int m, nc_int n, float label_smoothing,
                                                const float *logits, nc_int ldl, const float *target,
                                                nc_int ldt, const float *weight, const float *lse,
                                                const float *grad_loss, float grad_scale, float *grad_logits,
                                                nc_int ldg) noexcept nogil
        void (*bce_with_logits_forward_f32)(nc_int m, nc_int n, const float *x, const float *y,
                                            const float *pos_weight, nc_int ldp, float *loss) noexcept nogil
        void (*bce_with_logits_backward_f32)(nc_int m, nc_int n, const float *x, const float *y,
                                             const float *pos_weight, nc_int ldp, const float *grad_loss,
                                             float grad_scale, float *grad_x) noexcept nogil
        # kernels, double
        void (*add_f64)(nc_int n, const double *a, const double *b, double *out) noexcept nogil
        void (*sub_f64)(nc_int n, const double *a, const double *b, double *out) noexcept nogil
        void (*mul_f64)(nc_int n, const double *a, const double *b, double *out) noexcept nogil
        void (*div_f64)(nc_int n, const double *a, const double *b, double *out) noexcept nogil
        void (*scale_f64)(nc_int n, double alpha, const double *x, double *out) noexcept nogil
        void (*axpy_f64)(nc_int n, double alpha, const double *x, double *y) noexcept nogil
        void (*fma_f64)(nc_int n, const double *a, const double *b, const double *c,
                        double *out) noexcept nogil
        void (*sum_rows_f64)(nc_int m, nc_int n, const double *x, nc_int ldx, double beta,
                             double *out) noexcept nogil
        void (*activation_forward_f64)(nc_int n, int act, double slope, const double *x,
                                       double *y) noexcept nogil
        void (*activation_backward_f64)(nc_int n, int act, double slope, const double *grad_y,
                                        const double *x, const double *y, double *grad_x) noexcept nogil
        void (*exp_f64)(nc_int n, const double *x, double *out) noexcept nogil
        void (*log_f64)(nc_int n, const double *x, double *out) noexcept nogil
        void (*tanh_f64)(nc_int n, const double *x, double *out) noexcept nogil
        void (*erf_f64)(nc_int n, const double *x, double *out) noexcept nogil
        void (*erfc_f64)(nc_int n, const double *x, double *out) noexcept nogil
        void (*softmax_f64)(nc_int m, nc_int n, const double *x, nc_int ldx, double *y,
                            nc_int ldy) noexcept nogil
        void (*log_softmax_f64)(nc_int m, nc_int n, const double *x, nc_int ldx, double *y,
                                nc_int ldy) noexcept nogil
        void (*softmax_backward_f64)(nc_int m, nc_int n, const double *y, nc_int ldy, const double *grad_y,
                                     nc_int ldgy, double *grad_x, nc_int ldgx) noexcept nogil
        void (*log_softmax_backward_f64)(nc_int m, nc_int n, const double *y, nc_int ldy,
                                         const double *grad_y, nc_int ldgy, double *grad_x,
                                         nc_int ldgx) noexcept nogil
        void (*matvec_f64)(int trans, nc_int m, nc_int n, double alpha, const double *w, nc_int ldw,
                           const double *x, double beta, double *y) noexcept nogil
        void (*outer_acc_f64)(nc_int m, nc_int n, double alpha, const double *d, const double *a, double *g,
                              nc_int ldg) noexcept nogil
        void (*gemm_f64)(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, double alpha,
                         const double *a, nc_int lda, const double *b, nc_int ldb, double beta, double *c,
                         nc_int ldc) noexcept nogil
        void (*gemm_fused_f64)(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, double alpha,
                               const double *a, nc_int lda, const double *b, nc_int ldb, double beta,
                               double *c, nc_int ldc, const double *bias, int activation, double slope,
                               double *preact, nc_int ldp) noexcept nogil
        void (*gemm_batched_f64)(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                 double alpha, const double *a, nc_int lda, nc_int stride_a, const double *b,
                                 nc_int ldb, nc_int stride_b, double beta, double *c, nc_int ldc,
                                 nc_int stride_c) noexcept nogil
        void (*act_grad_f64)(nc_int n, int activation, double slope, const double *grad_output,
                             const double *preact, double *delta) noexcept nogil
        void (*sgd_step_f64)(nc_int ntensors, const nc_int *sizes, double lr, double momentum,
                             double dampening, double weight_decay, int flags, double *const *params,
                             const double *const *grads, double *const *momentum_buffers,
                             const unsigned char *fresh) noexcept nogil
        void (*adagrad_step_f64)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                                 double lr_decay, double weight_decay, double eps, int flags,
                                 double *const *params, const double *const *grads,
                                 double *const *state_sums) noexcept nogil
        void (*rmsprop_step_f64)(nc_int ntensors, const nc_int *sizes, double lr, double alpha, double eps,
                                 double weight_decay, double momentum, int flags, double *const *params,
                                 const double *const *grads, double *const *square_avgs,
                                 double *const *momentum_buffers, double *const *grad_avgs) noexcept nogil
        void (*adam_step_f64)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags,
                              double *const *params, const double *const *grads, double *const *exp_avgs,
                              double *const *exp_avg_sqs, double *const *max_exp_avg_sqs) noexcept nogil
        void (*lamb_step_f64)(nc_int ntensors, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags,
                              double *const *params, const double *const *grads, double *const *exp_avgs,
                              double *const *exp_avg_sqs, double *workspace) noexcept nogil
        void (*attention_forward_f64)(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                      double scale, const double *q, const nc_int *qs, const double *k,
                                      const nc_int *ks, const double *v, const nc_int *vs,
                                      const double *mask, const nc_int *ms, int is_causal, double *out,
                                      const nc_int *os, double *lse, double *work) noexcept nogil
        void (*attention_backward_f64)(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                       double scale, const double *q, const nc_int *qs, const double *k,
                                       const nc_int *ks, const double *v, const nc_int *vs,
                                       const double *mask, const nc_int *ms, int is_causal,
                                       const double *out, const nc_int *os, const double *lse,
                                       const double *grad_out, const nc_int *gos, double *grad_q,
                                       const nc_int *gqs, double *grad_k, const nc_int *gks, double *grad_v,
                                       const nc_int *gvs, double *work) noexcept nogil
        void (*layer_norm_forward_f64)(nc_int rows, nc_int cols, double eps, const double *x,
                                       const double *weight, const double *bias, double *y, double *mean,
                                       double *rstd) noexcept nogil
        void (*layer_norm_backward_f64)(nc_int rows, nc_int cols, const double *grad_y, const double *x,
                                        const double *mean, const double *rstd, const double *weight,
                                        double *grad_x, double *grad_weight,
                                        double *grad_bias) noexcept nogil
        void (*cross_entropy_forward_f64)(nc_int m, nc_int n, double label_smoothing, int64_t ignore_index,
                                          const double *logits, nc_int ldl, const int64_t *target,
                                          const double *weight, double *loss, double *lse) noexcept nogil
        void (*cross_entropy_backward_f64)(nc_int m, nc_int n, double label_smoothing, int64_t ignore_index,
                                           const double *logits, nc_int ldl, const int64_t *target,
                                           const double *weight, const double *lse, const double *grad_loss,
                                           double grad_scale, double *grad_logits,
                                           nc_int ldg) noexcept nogil
        void (*cross_entropy_soft_forward_f64)(nc_int m, nc_int n, double label_smoothing,
                                               const double *logits, nc_int ldl, const double *target,
                                               nc_int ldt, const double *weight, double *loss,
                                               double *lse) noexcept nogil
        void (*cross_entropy_soft_backward_f64)(nc_int m, nc_int n, double label_smoothing,
                                                const double *logits, nc_int ldl, const double *target,
                                                nc_int ldt, const double *weight, const double *lse,
                                                const double *grad_loss, double grad_scale,
                                                double *grad_logits, nc_int ldg) noexcept nogil
        void (*bce_with_logits_forward_f64)(nc_int m, nc_int n, const double *x, const double *y,
                                            const double *pos_weight, nc_int ldp,
                                            double *loss) noexcept nogil
        void (*bce_with_logits_backward_f64)(nc_int m, nc_int n, const double *x, const double *y,
                                             const double *pos_weight, nc_int ldp, const double *grad_loss,
                                             double grad_scale, double *grad_x) noexcept nogil
        # revision 2
        void (*activation_forward_grad_f32)(nc_int n, int act, float slope, const float *x, float *y,
                                            float *dy) noexcept nogil
        void (*activation_forward_grad_f64)(nc_int n, int act, double slope, const double *x, double *y,
                                            double *dy) noexcept nogil

    # the table, once nc_import_api() has succeeded (NULL before)
    const nc_api_t *nc_api


cdef extern from "neurocore/nc_api.h":
    # fetch the table from neurocore._kernels._C_API; ImportError when the
    # installed neurocore's table is older than this header
    int nc_import_api() except -1
    int nc_import_api_version(unsigned int version, size_t size) except -1
