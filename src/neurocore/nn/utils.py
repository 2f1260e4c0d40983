"""neurocore.nn.utils: gradient clipping (torch.nn.utils's names and rules)."""
import math

import numpy as np

from neurocore._tensor import tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if hasattr(parameters, "data") and not isinstance(parameters, (list, tuple)):
        parameters = [parameters]
    grads = []
    for p in parameters:
        g = getattr(p, "grad", None)
        if g is None:
            continue
        grads.append(g if isinstance(g, np.ndarray) else g.data)
    return grads


def _as_result(value, dtype):
    return tensor(np.asarray(value, dtype=dtype))


def _vector_norm(g, p):
    """‖g‖_p over all elements, as a Python float (float64)."""
    r = g.reshape(-1)
    if r.size == 0:
        return 0.0
    if p == 2.0:
        return math.sqrt(float(np.dot(r, r)))
    a = np.abs(r)
    if p == math.inf:
        return float(a.max())
    if p == -math.inf:
        return float(a.min())
    if p == 0.0:
        return float(np.count_nonzero(r))
    if p == 1.0:
        return float(a.sum(dtype=np.float64))
    return float(np.sum(a.astype(np.float64) ** p) ** (1.0 / p))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of `parameters` in place so that their total
    norm (the norm_type-norm of all gradients concatenated) is at most
    max_norm: every gradient is multiplied by min(1, max_norm / (total +
    1e-6)), as PyTorch does.  Returns the total norm before clipping (a
    0-d Tensor).  foreach is accepted for PyTorch compatibility (one pass
    per gradient either way)."""
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if math.isnan(max_norm):
        raise ValueError(f"max_norm must be a number, got {max_norm!r}")
    if math.isnan(norm_type):
        raise ValueError(f"norm_type must be a number or inf, got {norm_type!r}")
    grads = _grads(parameters)
    if not grads:
        return _as_result(0.0, np.float32)
    dtype = grads[0].dtype
    norms = [_vector_norm(g, norm_type) for g in grads]
    total = _vector_norm(np.array(norms, dtype=np.float64), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           f"so it cannot be clipped. To disable this error and scale the gradients by the "
                           f"non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    if coef != 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return _as_result(total, dtype)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of `parameters` to [-clip_value, clip_value] in
    place (NaN stays NaN)."""
    clip_value = float(clip_value)
    if not clip_value >= 0.0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value!r}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
