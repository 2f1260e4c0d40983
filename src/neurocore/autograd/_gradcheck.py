"""gradcheck: analytical gradients against float64 central differences."""
import numpy as np

from neurocore._engine import grad
from neurocore._grad_mode import no_grad
from neurocore._tensor import Tensor


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Check the gradients of ``fn`` at ``inputs`` like torch.autograd.gradcheck.

    Every output element's gradient with respect to every input that requires
    grad (float64 tensors, as PyTorch insists) is compared with the central
    difference (f(x + eps) - f(x - eps)) / (2 eps).  Returns True, or raises
    RuntimeError naming the input, element and both values (False if
    ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs (input {i} is {inputs[i].dtype})")

    def outputs():
        return [o for o in _as_tuple(fn(*inputs))]

    def fail(message):
        if raise_exception:
            raise RuntimeError(message)
        return False

    outs = outputs()
    with no_grad():
        base = [o.data.copy() for o in outs]
    for k, out in enumerate(outs):
        if not isinstance(out, Tensor) or out.dtype != np.float64:
            continue
        analytic = [np.zeros((out.data.size,) + inputs[i].shape) for i in wrt]
        if out.requires_grad:
            for j in range(out.data.size):
                seed = np.zeros(out.shape)
                seed.flat[j] = 1.0
                gs = grad([out], [inputs[i] for i in wrt], [seed], retain_graph=True, allow_unused=True)
                for a, g in zip(analytic, gs):
                    if g is not None:
                        a[j] = g.data
        for a, i in zip(analytic, wrt):
            x = inputs[i].data
            for e in range(x.size):
                original = x.flat[e]
                with no_grad():
                    x.flat[e] = original + eps
                    plus = _as_tuple(fn(*inputs))[k].data.copy()
                    x.flat[e] = original - eps
                    minus = _as_tuple(fn(*inputs))[k].data.copy()
                x.flat[e] = original
                numeric = ((plus - minus) / (2 * eps)).reshape(-1)
                got = a[(slice(None),) + np.unravel_index(e, x.shape)]
                got = got.reshape(-1)
                bad = np.abs(got - numeric) > atol + rtol * np.abs(numeric)
                if np.any(bad):
                    j = int(np.argmax(bad))
                    return fail(f"Jacobian mismatch for output {k} with respect to input {i}, "
                                f"element {np.unravel_index(e, x.shape) if x.ndim else ()}, output element {j}: "
                                f"analytical {got[j]!r} vs numerical {numeric[j]!r}")
    del base
    return True
