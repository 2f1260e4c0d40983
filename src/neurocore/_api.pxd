# The kernels of nc.h for the family modules (_elementwise.pyx and the
# rest), reached through the C-API table that neurocore._nc_core publishes
# (nc_api.h): the core, with its thread pool and ISA choice, lives in that
# one extension module, and every other module calls it through this table,
# as an embedding extension would.  Each family module runs
#     nc_api = kernel_table()
# once at import; then nc_add(...) and the rest dispatch on the pointers'
# width to the table's _f32 or _f64 entry.
from libc.stdint cimport int64_t
from cpython.pycapsule cimport PyCapsule_GetPointer
from neurocore.nc_api cimport (
    nc_int, nc_api_t, nc_api, NC_ACT_IDENTITY, NC_ACT_RELU, NC_ACT_LEAKY_RELU, NC_ACT_GELU, NC_ACT_GELU_TANH,
    NC_ACT_SIGMOID, NC_ACT_TANH, NC_OPTIM_MAXIMIZE, NC_OPTIM_NESTEROV, NC_OPTIM_AMSGRAD, NC_OPTIM_DECOUPLED,
    NC_OPTIM_EPS_IN_SQRT, NC_OPTIM_CENTERED)

cdef extern from "neurocore/nc_api.h":
    const char *NC_API_CAPSULE_NAME

ctypedef int64_t nc_int64


cdef inline const nc_api_t *kernel_table() except NULL:
    """The table of neurocore._nc_core (imported first: it links the C core)."""
    from neurocore._nc_core import _C_API
    return <const nc_api_t *>PyCapsule_GetPointer(_C_API, NC_API_CAPSULE_NAME)


# ---- one name per kernel, for both widths --------------------------------
# nc_softmax(m, n, x, ldx, y, ldy) calls nc_softmax_f32 when x and y are
# float pointers and nc_softmax_f64 when they are double pointers: Cython
# picks the width when it compiles the call (an inline function, no runtime
# cost), so a fused helper over `real` writes each call once, and a float
# pointer cannot reach an f64 kernel.  Scalars (alpha, slope, eps, scale)
# take the pointers' width, as in the C kernels.
ctypedef fused real:
    float
    double

cdef inline void nc_add(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_api.add_f32(n, a, b, out)
    else: nc_api.add_f64(n, a, b, out)

cdef inline void nc_sub(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_api.sub_f32(n, a, b, out)
    else: nc_api.sub_f64(n, a, b, out)

cdef inline void nc_mul(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_api.mul_f32(n, a, b, out)
    else: nc_api.mul_f64(n, a, b, out)

cdef inline void nc_div(nc_int n, const real *a, const real *b, real *out) noexcept nogil:
    if real is float: nc_api.div_f32(n, a, b, out)
    else: nc_api.div_f64(n, a, b, out)

cdef inline void nc_scale(nc_int n, real alpha, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.scale_f32(n, alpha, x, out)
    else: nc_api.scale_f64(n, alpha, x, out)

cdef inline void nc_axpy(nc_int n, real alpha, const real *x, real *y) noexcept nogil:
    if real is float: nc_api.axpy_f32(n, alpha, x, y)
    else: nc_api.axpy_f64(n, alpha, x, y)

cdef inline void nc_fma(nc_int n, const real *a, const real *b, const real *c, real *out) noexcept nogil:
    if real is float: nc_api.fma_f32(n, a, b, c, out)
    else: nc_api.fma_f64(n, a, b, c, out)

cdef inline void nc_sum_rows(nc_int m, nc_int n, const real *x, nc_int ldx, real beta,
                             real *out) noexcept nogil:
    if real is float: nc_api.sum_rows_f32(m, n, x, ldx, beta, out)
    else: nc_api.sum_rows_f64(m, n, x, ldx, beta, out)

cdef inline void nc_activation_forward(nc_int n, int act, real slope, const real *x, real *y) noexcept nogil:
    if real is float: nc_api.activation_forward_f32(n, act, slope, x, y)
    else: nc_api.activation_forward_f64(n, act, slope, x, y)

cdef inline void nc_activation_forward_grad(nc_int n, int act, real slope, const real *x, real *y,
                                            real *dy) noexcept nogil:
    if real is float: nc_api.activation_forward_grad_f32(n, act, slope, x, y, dy)
    else: nc_api.activation_forward_grad_f64(n, act, slope, x, y, dy)

cdef inline void nc_activation_backward(nc_int n, int act, real slope, const real *grad_y, const real *x,
                                        const real *y, real *grad_x) noexcept nogil:
    if real is float: nc_api.activation_backward_f32(n, act, slope, grad_y, x, y, grad_x)
    else: nc_api.activation_backward_f64(n, act, slope, grad_y, x, y, grad_x)

cdef inline void nc_exp(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.exp_f32(n, x, out)
    else: nc_api.exp_f64(n, x, out)

cdef inline void nc_log(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.log_f32(n, x, out)
    else: nc_api.log_f64(n, x, out)

cdef inline void nc_tanh(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.tanh_f32(n, x, out)
    else: nc_api.tanh_f64(n, x, out)

cdef inline void nc_erf(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.erf_f32(n, x, out)
    else: nc_api.erf_f64(n, x, out)

cdef inline void nc_erfc(nc_int n, const real *x, real *out) noexcept nogil:
    if real is float: nc_api.erfc_f32(n, x, out)
    else: nc_api.erfc_f64(n, x, out)

cdef inline void nc_softmax(nc_int m, nc_int n, const real *x, nc_int ldx, real *y, nc_int ldy) noexcept nogil:
    if real is float: nc_api.softmax_f32(m, n, x, ldx, y, ldy)
    else: nc_api.softmax_f64(m, n, x, ldx, y, ldy)

cdef inline void nc_log_softmax(nc_int m, nc_int n, const real *x, nc_int ldx, real *y,
                                nc_int ldy) noexcept nogil:
    if real is float: nc_api.log_softmax_f32(m, n, x, ldx, y, ldy)
    else: nc_api.log_softmax_f64(m, n, x, ldx, y, ldy)

cdef inline void nc_softmax_backward(nc_int m, nc_int n, const real *y, nc_int ldy, const real *grad_y,
                                     nc_int ldgy, real *grad_x, nc_int ldgx) noexcept nogil:
    if real is float: nc_api.softmax_backward_f32(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)
    else: nc_api.softmax_backward_f64(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)

cdef inline void nc_log_softmax_backward(nc_int m, nc_int n, const real *y, nc_int ldy, const real *grad_y,
                                         nc_int ldgy, real *grad_x, nc_int ldgx) noexcept nogil:
    if real is float: nc_api.log_softmax_backward_f32(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)
    else: nc_api.log_softmax_backward_f64(m, n, y, ldy, grad_y, ldgy, grad_x, ldgx)

cdef inline void nc_matvec(int trans, nc_int m, nc_int n, real alpha, const real *w, nc_int ldw, const real *x,
                           real beta, real *y) noexcept nogil:
    if real is float: nc_api.matvec_f32(trans, m, n, alpha, w, ldw, x, beta, y)
    else: nc_api.matvec_f64(trans, m, n, alpha, w, ldw, x, beta, y)

cdef inline void nc_outer_acc(nc_int m, nc_int n, real alpha, const real *d, const real *a, real *g,
                              nc_int ldg) noexcept nogil:
    if real is float: nc_api.outer_acc_f32(m, n, alpha, d, a, g, ldg)
    else: nc_api.outer_acc_f64(m, n, alpha, d, a, g, ldg)

cdef inline void nc_gemm(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, real alpha, const real *a,
                         nc_int lda, const real *b, nc_int ldb, real beta, real *c, nc_int ldc) noexcept nogil:
    if real is float: nc_api.gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else: nc_api.gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

cdef inline void nc_gemm_fused(int trans_a, int trans_b, nc_int m, nc_int n, nc_int k, real alpha,
                               const real *a, nc_int lda, const real *b, nc_int ldb, real beta, real *c,
                               nc_int ldc, const real *bias, int activation, real slope, real *preact,
                               nc_int ldp) noexcept nogil:
    if real is float: nc_api.gemm_fused_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                                        activation, slope, preact, ldp)
    else: nc_api.gemm_fused_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, activation,
                            slope, preact, ldp)

cdef inline void nc_gemm_batched(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                 real alpha, const real *a, nc_int lda, nc_int stride_a, const real *b,
                                 nc_int ldb, nc_int stride_b, real beta, real *c, nc_int ldc,
                                 nc_int stride_c) noexcept nogil:
    if real is float: nc_api.gemm_batched_f32(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                          stride_b, beta, c, ldc, stride_c)
    else: nc_api.gemm_batched_f64(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta,
                              c, ldc, stride_c)

cdef inline void nc_act_grad(nc_int n, int activation, real slope, const real *grad_output, const real *preact,
                             real *delta) noexcept nogil:
    if real is float: nc_api.act_grad_f32(n, activation, slope, grad_output, preact, delta)
    else: nc_api.act_grad_f64(n, activation, slope, grad_output, preact, delta)

cdef inline void nc_attention_forward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, real scale,
                                      const real *q, const nc_int *qs, const real *k, const nc_int *ks,
                                      const real *v, const nc_int *vs, const real *mask, const nc_int *ms,
                                      int is_causal, real *out, const nc_int *os, real *lse,
                                      real *work) noexcept nogil:
    if real is float: nc_api.attention_forward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                               is_causal, out, os, lse, work)
    else: nc_api.attention_forward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out, os,
                                   lse, work)

cdef inline void nc_attention_backward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV, real scale,
                                       const real *q, const nc_int *qs, const real *k, const nc_int *ks,
                                       const real *v, const nc_int *vs, const real *mask, const nc_int *ms,
                                       int is_causal, const real *out, const nc_int *os, const real *lse,
                                       const real *grad_out, const nc_int *gos, real *grad_q, const nc_int *gqs,
                                       real *grad_k, const nc_int *gks, real *grad_v, const nc_int *gvs,
                                       real *work) noexcept nogil:
    if real is float: nc_api.attention_backward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                is_causal, out, os, lse, grad_out, gos, grad_q, gqs, grad_k,
                                                gks, grad_v, gvs, work)
    else: nc_api.attention_backward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms, is_causal, out, os,
                                    lse, grad_out, gos, grad_q, gqs, grad_k, gks, grad_v, gvs, work)

cdef inline void nc_layer_norm_forward(nc_int rows, nc_int cols, real eps, const real *x, const real *weight,
                                       const real *bias, real *y, real *mean, real *rstd) noexcept nogil:
    if real is float: nc_api.layer_norm_forward_f32(rows, cols, eps, x, weight, bias, y, mean, rstd)
    else: nc_api.layer_norm_forward_f64(rows, cols, eps, x, weight, bias, y, mean, rstd)

cdef inline void nc_layer_norm_backward(nc_int rows, nc_int cols, const real *grad_y, const real *x,
                                        const real *mean, const real *rstd, const real *weight, real *grad_x,
                                        real *grad_weight, real *grad_bias) noexcept nogil:
    if real is float: nc_api.layer_norm_backward_f32(rows, cols, grad_y, x, mean, rstd, weight, grad_x, grad_weight,
                                                 grad_bias)
    else: nc_api.layer_norm_backward_f64(rows, cols, grad_y, x, mean, rstd, weight, grad_x, grad_weight, grad_bias)

cdef inline void nc_cross_entropy_forward(nc_int m, nc_int n, real label_smoothing, nc_int64 ignore_index,
                                          const real *logits, nc_int ldl, const nc_int64 *target,
                                          const real *weight, real *loss, real *lse) noexcept nogil:
    if real is float: nc_api.cross_entropy_forward_f32(m, n, label_smoothing, ignore_index, logits, ldl, target,
                                                   weight, loss, lse)
    else: nc_api.cross_entropy_forward_f64(m, n, label_smoothing, ignore_index, logits, ldl, target, weight, loss,
                                       lse)

cdef inline void nc_cross_entropy_backward(nc_int m, nc_int n, real label_smoothing, nc_int64 ignore_index,
                                           const real *logits, nc_int ldl, const nc_int64 *target,
                                           const real *weight, const real *lse, const real *grad_loss,
                                           real grad_scale, real *grad_logits, nc_int ldg) noexcept nogil:
    if real is float: nc_api.cross_entropy_backward_f32(m, n, label_smoothing, ignore_index, logits, ldl, target,
                                                    weight, lse, grad_loss, grad_scale, grad_logits, ldg)
    else: nc_api.cross_entropy_backward_f64(m, n, label_smoothing, ignore_index, logits, ldl, target, weight, lse,
                                        grad_loss, grad_scale, grad_logits, ldg)

cdef inline void nc_cross_entropy_soft_forward(nc_int m, nc_int n, real label_smoothing, const real *logits,
                                               nc_int ldl, const real *target, nc_int ldt, const real *weight,
                                               real *loss, real *lse) noexcept nogil:
    if real is float: nc_api.cross_entropy_soft_forward_f32(m, n, label_smoothing, logits, ldl, target, ldt, weight,
                                                        loss, lse)
    else: nc_api.cross_entropy_soft_forward_f64(m, n, label_smoothing, logits, ldl, target, ldt, weight, loss, lse)

cdef inline void nc_cross_entropy_soft_backward(nc_int m, nc_int n, real label_smoothing, const real *logits,
                                                nc_int ldl, const real *target, nc_int ldt, const real *weight,
                                                const real *lse, const real *grad_loss, real grad_scale,
                                                real *grad_logits, nc_int ldg) noexcept nogil:
    if real is float: nc_api.cross_entropy_soft_backward_f32(m, n, label_smoothing, logits, ldl, target, ldt,
                                                         weight, lse, grad_loss, grad_scale, grad_logits, ldg)
    else: nc_api.cross_entropy_soft_backward_f64(m, n, label_smoothing, logits, ldl, target, ldt, weight, lse,
                                             grad_loss, grad_scale, grad_logits, ldg)

cdef inline void nc_bce_with_logits_forward(nc_int m, nc_int n, const real *x, const real *y,
                                            const real *pos_weight, nc_int ldp, real *loss) noexcept nogil:
    if real is float: nc_api.bce_with_logits_forward_f32(m, n, x, y, pos_weight, ldp, loss)
    else: nc_api.bce_with_logits_forward_f64(m, n, x, y, pos_weight, ldp, loss)

cdef inline void nc_bce_with_logits_backward(nc_int m, nc_int n, const real *x, const real *y,
                                             const real *pos_weight, nc_int ldp, const real *grad_loss,
                                             real grad_scale, real *grad_x) noexcept nogil:
    if real is float: nc_api.bce_with_logits_backward_f32(m, n, x, y, pos_weight, ldp, grad_loss, grad_scale,
                                                      grad_x)
    else: nc_api.bce_with_logits_backward_f64(m, n, x, y, pos_weight, ldp, grad_loss, grad_scale, grad_x)

# The optimizer steps take one pointer per tensor, in the void * arrays of
# _optim's tensor groups: `f32` (the group's dtype) picks the width.
cdef inline void nc_sgd_step(bint f32, nc_int n, const nc_int *sizes, double lr, double momentum,
                             double dampening, double weight_decay, int flags, void **params, void **grads,
                             void **momentum_buffers, const unsigned char *fresh) noexcept nogil:
    if f32: nc_api.sgd_step_f32(n, sizes, lr, momentum, dampening, weight_decay, flags, <float **>params,
                                <const float **>grads, <float **>momentum_buffers, fresh)
    else: nc_api.sgd_step_f64(n, sizes, lr, momentum, dampening, weight_decay, flags, <double **>params,
                              <const double **>grads, <double **>momentum_buffers, fresh)

cdef inline void nc_adagrad_step(bint f32, nc_int n, const nc_int *sizes, const nc_int *steps, double lr,
                                 double lr_decay, double weight_decay, double eps, int flags, void **params,
                                 void **grads, void **state_sums) noexcept nogil:
    if f32: nc_api.adagrad_step_f32(n, sizes, steps, lr, lr_decay, weight_decay, eps, flags, <float **>params,
                                    <const float **>grads, <float **>state_sums)
    else: nc_api.adagrad_step_f64(n, sizes, steps, lr, lr_decay, weight_decay, eps, flags, <double **>params,
                                  <const double **>grads, <double **>state_sums)

cdef inline void nc_rmsprop_step(bint f32, nc_int n, const nc_int *sizes, double lr, double alpha, double eps,
                                 double weight_decay, double momentum, int flags, void **params, void **grads,
                                 void **square_avgs, void **momentum_buffers, void **grad_avgs) noexcept nogil:
    if f32: nc_api.rmsprop_step_f32(n, sizes, lr, alpha, eps, weight_decay, momentum, flags, <float **>params,
                                    <const float **>grads, <float **>square_avgs, <float **>momentum_buffers,
                                    <float **>grad_avgs)
    else: nc_api.rmsprop_step_f64(n, sizes, lr, alpha, eps, weight_decay, momentum, flags, <double **>params,
                                  <const double **>grads, <double **>square_avgs, <double **>momentum_buffers,
                                  <double **>grad_avgs)

cdef inline void nc_adam_step(bint f32, nc_int n, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags, void **params,
                              void **grads, void **exp_avgs, void **exp_avg_sqs,
                              void **max_exp_avg_sqs) noexcept nogil:
    if f32: nc_api.adam_step_f32(n, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, <float **>params,
                                 <const float **>grads, <float **>exp_avgs, <float **>exp_avg_sqs,
                                 <float **>max_exp_avg_sqs)
    else: nc_api.adam_step_f64(n, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, <double **>params,
                               <const double **>grads, <double **>exp_avgs, <double **>exp_avg_sqs,
                               <double **>max_exp_avg_sqs)

cdef inline void nc_lamb_step(bint f32, nc_int n, const nc_int *sizes, const nc_int *steps, double lr,
                              double beta1, double beta2, double eps, double weight_decay, int flags, void **params,
                              void **grads, void **exp_avgs, void **exp_avg_sqs, double *workspace) noexcept nogil:
    if f32: nc_api.lamb_step_f32(n, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, <float **>params,
                                 <const float **>grads, <float **>exp_avgs, <float **>exp_avg_sqs, workspace)
    else: nc_api.lamb_step_f64(n, sizes, steps, lr, beta1, beta2, eps, weight_decay, flags, <double **>params,
                               <const double **>grads, <double **>exp_avgs, <double **>exp_avg_sqs, workspace)

cdef inline nc_int nc_lamb_workspace_size(nc_int ntensors, const nc_int *sizes) noexcept nogil:
    return nc_api.lamb_workspace_size(ntensors, sizes)
