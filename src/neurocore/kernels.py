"""neurocore.kernels: the C kernels on NumPy arrays, without autograd.

For users who embed the kernels directly.  Every function takes float32 or
float64 arrays (never mixed), validates them before any C runs, copies a
non-contiguous input once, accepts an optional ``out=`` array and releases
the GIL while the kernel runs, so Python threads can call it concurrently.
"""
from neurocore._kernels import (  # noqa: F401
    get_isa,
    supported_isas,
    set_num_threads,
    get_num_threads,
    # Hadamard family
    add,
    sub,
    mul,
    div,
    scale,
    axpy,
    fma,
    sum_rows,
)

# activations and vector math
from neurocore._kernels import (  # noqa: F401,E402
    activation_forward,
    activation_forward_grad,
    activation_backward,
    sigmoid,
    tanh,
    relu,
    leaky_relu,
    gelu,
    exp,
    log,
    erf,
    erfc,
)

# softmax
from neurocore._kernels import (  # noqa: F401,E402
    softmax,
    log_softmax,
    softmax_backward,
    log_softmax_backward,
)

# matvec, outer, GEMM, linear
from neurocore._kernels import (  # noqa: F401,E402
    matvec,
    outer_acc,
    gemm,
    matmul,
    linear_forward,
    linear_backward,
)

# optimizer steps
from neurocore._kernels import (  # noqa: F401,E402
    sgd_step,
    adagrad_step,
    rmsprop_step,
    adam_step,
    lamb_step,
)

# attention and layer norm
from neurocore._kernels import (  # noqa: F401,E402
    attention_forward,
    attention_backward,
    layer_norm_forward,
    layer_norm_backward,
)

# losses
from neurocore._kernels import (  # noqa: F401,E402
    cross_entropy_forward,
    cross_entropy_backward,
    bce_with_logits_forward,
    bce_with_logits_backward,
)
