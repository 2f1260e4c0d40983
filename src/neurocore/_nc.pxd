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

    # ---- softmax -----------------------------------------------------------
    # (section owned by the softmax work)

    # ---- matvec, outer, GEMM, linear ---------------------------------------
    # (section owned by the GEMM work)

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
    # (section owned by the attention work)

    # ---- losses ------------------------------------------------------------
    # (section owned by the loss work)
