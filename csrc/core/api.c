/*
 * The C-API table of nc_api.h, filled with this library's kernels.  The
 * extension module publishes it as the capsule neurocore._kernels._C_API.
 */
#define NC_API_NO_PYTHON
#include "neurocore/nc_api.h"

/* The kernel members, named by nc.h's family lists: a designated
 * initializer per kernel, so the lists' order does not matter (the table's
 * layout is nc_api.h's alone), a listed kernel the table lacks is a compile
 * error, and the count below checks that no member is left NULL. */
#define NC_API_FAMILIES(X, T, S)               \
    NC_ELEMENTWISE_KERNELS(X, T, S)            \
    NC_ACTIVATION_KERNELS(X, T, S)             \
    NC_SOFTMAX_KERNELS(X, T, S)                \
    NC_MATVEC_KERNELS(X, T, S)                 \
    NC_GEMM_KERNELS(X, T, S)                   \
    NC_OPTIM_KERNELS(X, T, S)                  \
    NC_ATTENTION_KERNELS(X, T, S)              \
    NC_LAYER_NORM_KERNELS(X, T, S)             \
    NC_LOSS_KERNELS(X, T, S)
#define NC_API_MEMBER(T, S, op, params, args) .op##_##S = nc_##op##_##S,
#define NC_API_FILL(T, S)                          \
    NC_API_FAMILIES(NC_API_MEMBER, T, S)           \
    .act_grad_##S = nc_act_grad_##S,

/* Every member after the header is a function pointer: 5 of the runtime,
 * then per dtype the listed kernels and act_grad. */
#define NC_API_COUNT(T, S, op, params, args) +1
enum { NC_API_LISTED = 0 NC_API_FAMILIES(NC_API_COUNT, float, f32) };
_Static_assert(sizeof(nc_api_t) == offsetof(nc_api_t, isa_active)
                                       + (5 + 2 * (NC_API_LISTED + 1)) * sizeof(void (*)(void)),
               "a member of nc_api_t is not filled from nc.h's kernel lists");

static const nc_api_t nc_api_table = {
    .version = NC_API_VERSION,
    .size = sizeof(nc_api_t),
    .isa_active = nc_isa_active,
    .isa_name = nc_isa_name,
    .set_num_threads = nc_set_num_threads,
    .get_num_threads = nc_get_num_threads,
    .lamb_workspace_size = nc_lamb_workspace_size,
    NC_API_FILL(float, f32)
    NC_API_FILL(double, f64)
};

const nc_api_t *nc_get_api(void) { return &nc_api_table; }
