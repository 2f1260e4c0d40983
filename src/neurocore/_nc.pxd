# The C API of csrc/include/neurocore/nc.h, as Cython sees it.
# Sections mirror nc.h; each kernel family declares its own.

cdef extern from "neurocore/nc.h" nogil:
    ctypedef Py_ssize_t nc_int

    # ---- runtime -----------------------------------------------------------
    int nc_init()
    int nc_isa_supported()
    int nc_isa_active()
    int nc_set_isa(int isa)
    const char *nc_isa_name(int isa)
    void nc_set_num_threads(int n)
    int nc_get_num_threads()

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
    # (section owned by the activation work)
    void nc_activation_forward_f32(nc_int n, int act, float slope, const float *x, float *y)
    void nc_activation_backward_f32(nc_int n, int act, float slope, const float *grad_y, const float *x,
                                    const float *y, float *grad_x)
    void nc_exp_f32(nc_int n, const float *x, float *out)
    void nc_log_f32(nc_int n, const float *x, float *out)
    void nc_tanh_f32(nc_int n, const float *x, float *out)
    void nc_erf_f32(nc_int n, const float *x, float *out)
    void nc_activation_forward_f64(nc_int n, int act, double slope, const double *x, double *y)
    void nc_activation_backward_f64(nc_int n, int act, double slope, const double *grad_y, const double *x,
                                    const double *y, double *grad_x)
    void nc_exp_f64(nc_int n, const double *x, double *out)
    void nc_log_f64(nc_int n, const double *x, double *out)
    void nc_tanh_f64(nc_int n, const double *x, double *out)
    void nc_erf_f64(nc_int n, const double *x, double *out)

    # ---- softmax -----------------------------------------------------------
    # (section owned by the softmax work)
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
    # (section owned by the GEMM work)

    # ---- optimizer steps ---------------------------------------------------
    # (section owned by the optimizer work)

    # ---- attention and layer norm ------------------------------------------
    # (section owned by the attention work)

    # ---- losses ------------------------------------------------------------
    # (section owned by the loss work)
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
