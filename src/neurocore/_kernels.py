"""neurocore._kernels: every kernel wrapper, and the runtime, in one namespace.

The wrappers live in one extension module per kernel family
(neurocore._elementwise, _activation, _softmax, _gemm, _optim, _attention,
_loss, _mlp), each calling the C kernels through the C-API table of
neurocore._nc_core, the one module that links the C core.  This module
gathers them for the layers above and for neurocore.kernels, the public
face; its _C_API is the capsule that nc_import_api() (nc_api.h) fetches.
"""

from neurocore._nc_core import (  # noqa: F401
    get_isa, supported_isas, _set_isa, set_num_threads, get_num_threads, _fma_peak, _runtime_stats,
    _empty_cache, _set_cache_limit, _cache_stats, _use_cache_handler, _restore_handler,
    _real_scalar, _c_api_version, _reference_gemm, _reference_attention_forward,
    _reference_attention_backward, _ISA_NAMES, _C_API,
)
from neurocore._elementwise import (  # noqa: F401
    add, sub, mul, div, scale, axpy, fma, sum_rows,
)
from neurocore._activation import (  # noqa: F401
    activation_forward, activation_forward_grad, activation_backward, sigmoid, relu, leaky_relu,
    gelu, exp, log, tanh, erf, erfc,
)
from neurocore._softmax import (  # noqa: F401
    softmax, log_softmax, softmax_backward, log_softmax_backward,
)
from neurocore._gemm import (  # noqa: F401
    gemm, matmul, matvec, outer_acc, linear_forward, linear_backward, _GEMM_ACTIVATIONS,
)
from neurocore._optim import (  # noqa: F401
    sgd_step, _sgd_step_p, adagrad_step, _adagrad_step_p, rmsprop_step, _rmsprop_step_p, adam_step,
    _adam_step_p, lamb_step, _lamb_step_p,
)
from neurocore._attention import (  # noqa: F401
    attention_forward, attention_backward, layer_norm_forward, layer_norm_backward,
)
from neurocore._loss import (  # noqa: F401
    cross_entropy_forward, cross_entropy_backward, bce_with_logits_forward,
    bce_with_logits_backward, _cross_entropy_plain_case, _cross_entropy_plain,
    _cross_entropy_plain_backward,
)
from neurocore._mlp import (  # noqa: F401
    _linear_chain_forward, _linear_chain_backward,
)
