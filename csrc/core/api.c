/*
 * The C-API table of nc_api.h, filled with this library's kernels.  The
 * extension module publishes it as the capsule neurocore._kernels._C_API.
 */
#define NC_API_NO_PYTHON
#include "neurocore/nc_api.h"

#define NC_API_FILL(S)                                                            \
    .add_##S = nc_add_##S,                                                    \
    .sub_##S = nc_sub_##S,                                                    \
    .mul_##S = nc_mul_##S,                                                    \
    .div_##S = nc_div_##S,                                                    \
    .scale_##S = nc_scale_##S,                                                \
    .axpy_##S = nc_axpy_##S,                                                  \
    .fma_##S = nc_fma_##S,                                                    \
    .sum_rows_##S = nc_sum_rows_##S,                                          \
    .activation_forward_##S = nc_activation_forward_##S,                      \
    .activation_backward_##S = nc_activation_backward_##S,                    \
    .exp_##S = nc_exp_##S,                                                    \
    .log_##S = nc_log_##S,                                                    \
    .tanh_##S = nc_tanh_##S,                                                  \
    .erf_##S = nc_erf_##S,                                                    \
    .erfc_##S = nc_erfc_##S,                                                  \
    .softmax_##S = nc_softmax_##S,                                            \
    .log_softmax_##S = nc_log_softmax_##S,                                    \
    .softmax_backward_##S = nc_softmax_backward_##S,                          \
    .log_softmax_backward_##S = nc_log_softmax_backward_##S,                  \
    .matvec_##S = nc_matvec_##S,                                              \
    .outer_acc_##S = nc_outer_acc_##S,                                        \
    .gemm_##S = nc_gemm_##S,                                                  \
    .gemm_fused_##S = nc_gemm_fused_##S,                                      \
    .gemm_batched_##S = nc_gemm_batched_##S,                                  \
    .act_grad_##S = nc_act_grad_##S,                                          \
    .sgd_step_##S = nc_sgd_step_##S,                                          \
    .adagrad_step_##S = nc_adagrad_step_##S,                                  \
    .rmsprop_step_##S = nc_rmsprop_step_##S,                                  \
    .adam_step_##S = nc_adam_step_##S,                                        \
    .lamb_step_##S = nc_lamb_step_##S,                                        \
    .attention_forward_##S = nc_attention_forward_##S,                        \
    .attention_backward_##S = nc_attention_backward_##S,                      \
    .layer_norm_forward_##S = nc_layer_norm_forward_##S,                      \
    .layer_norm_backward_##S = nc_layer_norm_backward_##S,                    \
    .cross_entropy_forward_##S = nc_cross_entropy_forward_##S,                \
    .cross_entropy_backward_##S = nc_cross_entropy_backward_##S,              \
    .cross_entropy_soft_forward_##S = nc_cross_entropy_soft_forward_##S,      \
    .cross_entropy_soft_backward_##S = nc_cross_entropy_soft_backward_##S,    \
    .bce_with_logits_forward_##S = nc_bce_with_logits_forward_##S,            \
    .bce_with_logits_backward_##S = nc_bce_with_logits_backward_##S,          \

static const nc_api_t nc_api_table = {
    .version = NC_API_VERSION,
    .size = sizeof(nc_api_t),
    .isa_active = nc_isa_active,
    .isa_name = nc_isa_name,
    .set_num_threads = nc_set_num_threads,
    .get_num_threads = nc_get_num_threads,
    .lamb_workspace_size = nc_lamb_workspace_size,
    NC_API_FILL(f32)
    NC_API_FILL(f64)
};

const nc_api_t *nc_get_api(void) { return &nc_api_table; }
