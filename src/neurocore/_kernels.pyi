# Type information for the Cython module neurocore._kernels (hand-written).
from typing import Optional, Tuple

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]

# ---- runtime --------------------------------------------------------------
def get_isa() -> str: ...
def supported_isas() -> Tuple[str, ...]: ...
def _set_isa(name: str) -> str: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# ---- Hadamard family ------------------------------------------------------
def add(a: FloatArray, b: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def sub(a: FloatArray, b: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def mul(a: FloatArray, b: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def div(a: FloatArray, b: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def scale(alpha: float, x: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def axpy(alpha: float, x: FloatArray, y: FloatArray) -> FloatArray: ...
def fma(a: FloatArray, b: FloatArray, c: FloatArray, out: Optional[FloatArray] = None) -> FloatArray: ...
def sum_rows(x: FloatArray, out: Optional[FloatArray] = None, accumulate: bool = False) -> FloatArray: ...

# ---- activations and vector math (section owned by the activation work) ----

# ---- softmax (section owned by the softmax work) ---------------------------

# ---- matvec, outer, GEMM, linear (section owned by the GEMM work) ----------

# ---- optimizer steps (section owned by the optimizer work) -----------------
from typing import Sequence  # noqa: E402

Arrays = FloatArray | Sequence[FloatArray]
Steps = int | Sequence[int]
def sgd_step(params: Arrays, grads: Arrays, momentum_buffers: Optional[Arrays] = None, *, lr: float,
             momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
             nesterov: bool = False, maximize: bool = False,
             fresh: Optional[Sequence[bool]] = None) -> Arrays: ...
def adagrad_step(params: Arrays, grads: Arrays, state_sums: Arrays, steps: Steps, *, lr: float,
                 lr_decay: float = 0.0, weight_decay: float = 0.0, eps: float = 1e-10,
                 maximize: bool = False, eps_inside_sqrt: bool = False) -> Arrays: ...
def rmsprop_step(params: Arrays, grads: Arrays, square_avgs: Arrays,
                 momentum_buffers: Optional[Arrays] = None, grad_avgs: Optional[Arrays] = None, *,
                 lr: float, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, maximize: bool = False,
                 eps_inside_sqrt: bool = False) -> Arrays: ...
def adam_step(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, steps: Steps,
              max_exp_avg_sqs: Optional[Arrays] = None, *, lr: float, beta1: float = 0.9,
              beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
              amsgrad: bool = False, decoupled: bool = False, maximize: bool = False,
              eps_inside_sqrt: bool = False) -> Arrays: ...
def lamb_step(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, steps: Steps, *,
              lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6,
              weight_decay: float = 0.0, maximize: bool = False,
              eps_inside_sqrt: bool = False) -> Arrays: ...

# ---- attention and layer norm (section owned by the attention work) --------

# ---- losses (section owned by the loss work) --------------------------------
