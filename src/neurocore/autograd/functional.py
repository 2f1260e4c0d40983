"""neurocore.autograd.functional: vjp, jvp, jacobian, hessian, hvp, vhp and
curvature diagnostics, all built on the autograd engine's ``create_graph``.

Backpropagation is a product of Jacobian transposes that are never formed
(seed 000 chapter 3): one backward pass is a vector-Jacobian product.  A
Hessian-vector product is one more backward pass (seed 000 §2.11):

    Hu = ∇θ (∇f(θ)ᵀ u)

computed as one forward pass, a first backward pass that records itself
(``create_graph=True``), the scalar projection s = ∇fᵀu, and a second
backward pass through s.  No Hessian is formed.

The first six functions have ``torch.autograd.functional``'s signatures and
return conventions: ``inputs`` is a Tensor or a tuple of Tensors, and each
result is a Tensor where the matching argument was a Tensor, a tuple where
it was a tuple.  Results are detached unless ``create_graph=True``.

The diagnostics (seed 000 §2.11.3-2.11.4) take a zero-argument ``closure``
that computes a scalar loss from ``params`` (module parameters or any leaf
Tensors with ``requires_grad=True``), like an optimizer's closure:
``directional_curvature``, ``curvature_diagnostics`` and
``hessian_top_eigenvalue``.
"""
import numpy as np

from neurocore import _engine
from neurocore._grad_mode import enable_grad
from neurocore._tensor import Tensor, stack, tensor

__all__ = [
    "vjp", "jvp", "jacobian", "hessian", "hvp", "vhp",
    "directional_curvature", "curvature_diagnostics", "hessian_top_eigenvalue",
]


# ---------------------------------------------------------------------------
# Engine access.

def _Tensor():
    return Tensor


def _new_tensor(data, requires_grad=False):
    data = np.asarray(data)
    return tensor(data, dtype=data.dtype, requires_grad=requires_grad)


def _zeros_like(x):
    return _new_tensor(np.zeros(x.shape, dtype=x.dtype))


# ---------------------------------------------------------------------------
# Argument handling shared by the torch-style functions

def _as_tuple(value, arg_name, fn_name):
    """(was_tuple, tuple of Tensors), TypeError naming the argument otherwise."""
    Tensor = _Tensor()
    is_tuple = isinstance(value, (tuple, list))
    items = tuple(value) if is_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            where = f"{arg_name}[{i}]" if is_tuple else arg_name
            raise TypeError(
                f"{fn_name}: {where} must be a neurocore Tensor, got {type(item).__name__}")
    return is_tuple, items


def _check_float(items, arg_name, fn_name):
    for i, item in enumerate(items):
        if not np.issubdtype(item.dtype, np.floating):
            raise TypeError(f"{fn_name}: {arg_name}[{i}] must be a floating tensor, "
                            f"got dtype {item.dtype}")


def _prepare_inputs(inputs, create_graph, fn_name):
    """Leaves to differentiate with respect to.

    Without ``create_graph`` the inputs are detached copies (so the caller's
    graph is untouched); with it, an input that already requires grad is used
    as is, so that the results stay differentiable with respect to it.
    """
    is_tuple, items = _as_tuple(inputs, "inputs", fn_name)
    _check_float(items, "inputs", fn_name)
    prepared = []
    for x in items:
        if create_graph and x.requires_grad:
            prepared.append(x)
        else:
            # shares x's array: nothing here writes to an input
            prepared.append(x.detach().requires_grad_(True))
    return is_tuple, tuple(prepared)


def _check_like(v, refs, arg_name, ref_name, fn_name):
    """``v`` (Tensor or tuple) matching ``refs`` one-to-one in shape and dtype."""
    _, vs = _as_tuple(v, arg_name, fn_name)
    if len(vs) != len(refs):
        raise ValueError(f"{fn_name}: {arg_name} has {len(vs)} tensors but {ref_name} "
                         f"has {len(refs)}")
    for i, (a, b) in enumerate(zip(vs, refs)):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"{fn_name}: {arg_name}[{i}] has shape {tuple(a.shape)} but "
                             f"{ref_name}[{i}] has shape {tuple(b.shape)}")
        if np.dtype(a.dtype) != np.dtype(b.dtype):
            raise TypeError(f"{fn_name}: {arg_name}[{i}] has dtype {a.dtype} but "
                            f"{ref_name}[{i}] has dtype {b.dtype}")
    return vs


def _ones_for_scalars(refs, arg_name, ref_name, fn_name):
    """The implicit v=None of torch: allowed only where every tensor has one element."""
    for i, r in enumerate(refs):
        if int(np.prod(r.shape)) != 1:
            raise ValueError(
                f"{fn_name}: {arg_name} may be None only when every tensor of {ref_name} "
                f"has a single element, but {ref_name}[{i}] has shape {tuple(r.shape)}")
    return tuple(_new_tensor(np.ones(r.shape, dtype=r.dtype)) for r in refs)


def _grad(outputs, inputs, grad_outputs, create_graph, retain_graph, strict, fn_name):
    """nc.grad over the outputs that depend on the graph; zeros (or, with
    ``strict``, a RuntimeError) where an input does not influence them."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if pairs:
        grads = _engine.grad(
            [o for o, _ in pairs], list(inputs), grad_outputs=[g for _, g in pairs],
            retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
    else:
        grads = [None] * len(inputs)
    result = []
    for i, (g, x) in enumerate(zip(grads, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn_name}: the output is independent of input {i} "
                                   "(strict=True)")
            g = _zeros_like(x)
        result.append(g)
    return tuple(result)


def _finish(items, create_graph, is_tuple):
    if not create_graph:
        items = tuple(t.detach() for t in items)
    return items if is_tuple else items[0]


def _check_outputs(outputs, fn_name):
    is_tuple, outs = _as_tuple(outputs, "the output of func", fn_name)
    return is_tuple, outs


def _scalar_output(output, fn_name):
    Tensor = _Tensor()
    if not isinstance(output, Tensor) or int(np.prod(output.shape)) != 1:
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ValueError(f"{fn_name}: func must return a single Tensor with a single "
                         f"element, got {shape}")
    return output


# ---------------------------------------------------------------------------
# torch.autograd.functional

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """Vector-Jacobian product vᵀ J_func(inputs): one backward pass.

    Args:
        func: function of the Tensors in ``inputs`` returning a Tensor or a
            tuple of Tensors.
        inputs: Tensor or tuple of Tensors.
        v: cotangent with the shape of func's output (may be None when the
            output has a single element).
        create_graph: record the product so it can be differentiated again.
        strict: raise when an input does not influence the output (otherwise
            its product is zero).
    Returns:
        (func_output, vjp), vjp shaped like ``inputs``.
    """
    with enable_grad():
        is_in_tuple, inputs = _prepare_inputs(inputs, create_graph, "vjp")
        is_out_tuple, outputs = _check_outputs(func(*inputs), "vjp")
        if v is None:
            v = _ones_for_scalars(outputs, "v", "the output of func", "vjp")
        else:
            v = _check_like(v, outputs, "v", "the output of func", "vjp")
        grads = _grad(outputs, inputs, v, create_graph, create_graph, strict, "vjp")
    return _finish(outputs, create_graph, is_out_tuple), _finish(grads, create_graph, is_in_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """Jacobian-vector product J_func(inputs) v, by the double-vjp trick.

    g(w) = Jᵀw is linear in a dummy cotangent w, so J v = ∇_w (g(w)ᵀ v):
    a recorded backward pass followed by a second one, as for an HVP.
    Returns (func_output, jvp), jvp shaped like func's output.
    """
    with enable_grad():
        is_in_tuple, inputs = _prepare_inputs(inputs, create_graph, "jvp")
        if v is None:
            v = _ones_for_scalars(inputs, "v", "inputs", "jvp")
        else:
            v = _check_like(v, inputs, "v", "inputs", "jvp")
        is_out_tuple, outputs = _check_outputs(func(*inputs), "jvp")
        dummies = tuple(_new_tensor(np.zeros(o.shape, dtype=o.dtype), requires_grad=True)
                        for o in outputs)
        g = _grad(outputs, inputs, dummies, True, True, strict, "jvp")
        jv = _grad(g, dummies, v, create_graph, create_graph, False, "jvp")
        if strict:
            for i, o in enumerate(outputs):
                if not o.requires_grad:
                    raise RuntimeError(f"jvp: output {i} is independent of the inputs "
                                       "(strict=True)")
    return _finish(outputs, create_graph, is_out_tuple), _finish(jv, create_graph, is_out_tuple)


def _stack(rows, shape, create_graph):
    """Rows of a Jacobian into one Tensor of ``shape``; differentiable only
    when it must be."""
    if create_graph:
        return stack(list(rows)).reshape(shape)
    return _new_tensor(np.stack([r.data for r in rows]).reshape(shape))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, built explicitly.

    ``strategy="reverse-mode"`` does one vjp per output element (one-hot
    cotangents, seed 000 §3.3); ``"forward-mode"`` one jvp per input element.
    ``vectorize`` is accepted for torch compatibility and ignored.

    Returns, like torch: a Tensor of shape out.shape + in.shape for one output
    and one input; a tuple over inputs (or over outputs) where that argument
    is a tuple; a tuple over outputs of tuples over inputs where both are.
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', "
                         f"got {strategy!r}")
    with enable_grad():
        is_in_tuple, inputs = _prepare_inputs(inputs, create_graph, "jacobian")
        is_out_tuple, outputs = _check_outputs(func(*inputs), "jacobian")
        blocks = [[None] * len(inputs) for _ in outputs]
        if strategy == "reverse-mode":
            for i, out in enumerate(outputs):
                rows = [[] for _ in inputs]
                n = int(np.prod(out.shape))
                for k in range(n):
                    onehot = np.zeros(n, dtype=out.dtype)
                    onehot[k] = 1
                    cot = _new_tensor(onehot.reshape(out.shape))
                    gs = _grad((out,), inputs, (cot,), create_graph, True, strict, "jacobian")
                    for j, g in enumerate(gs):
                        rows[j].append(g)
                for j, x in enumerate(inputs):
                    shape = tuple(out.shape) + tuple(x.shape)
                    if n == 0:
                        blocks[i][j] = _new_tensor(np.zeros(shape, dtype=x.dtype))
                    else:
                        blocks[i][j] = _stack(rows[j], shape, create_graph)
        else:
            dummies = tuple(_new_tensor(np.zeros(o.shape, dtype=o.dtype), requires_grad=True)
                            for o in outputs)
            g = _grad(outputs, inputs, dummies, True, True, strict, "jacobian")
            for j, x in enumerate(inputs):
                cols = [[] for _ in outputs]
                n = int(np.prod(x.shape))
                for k in range(n):
                    v = [_zeros_like(y) for y in inputs]
                    onehot = np.zeros(n, dtype=x.dtype)
                    onehot[k] = 1
                    v[j] = _new_tensor(onehot.reshape(x.shape))
                    jv = _grad(g, dummies, v, create_graph, True, False, "jacobian")
                    for i, col in enumerate(jv):
                        cols[i].append(col)
                for i, out in enumerate(outputs):
                    shape = tuple(out.shape) + tuple(x.shape)
                    if n == 0:
                        blocks[i][j] = _new_tensor(np.zeros(shape, dtype=x.dtype))
                        continue
                    # columns stacked first, then the input axes moved last
                    stacked = _stack(cols[i], (n,) + tuple(out.shape), create_graph)
                    m = len(out.shape)
                    if create_graph:
                        flat = stacked.reshape((n, int(np.prod(out.shape))))
                        blocks[i][j] = flat.transpose(1, 0).reshape(shape) if m else \
                            flat.reshape(shape)
                    else:
                        data = np.moveaxis(stacked.data, 0, -1) if m else stacked.data
                        blocks[i][j] = _new_tensor(np.ascontiguousarray(data).reshape(shape))
    result = tuple(_finish(tuple(row), create_graph, True) for row in blocks)
    if not is_in_tuple:
        result = tuple(row[0] for row in result)
    return result if is_out_tuple else result[0]


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of the scalar function ``func`` at ``inputs``: the
    Jacobian of its recorded gradient.  Shape in.shape + in.shape for one
    input; a tuple of tuples H[i][j] = ∂²f/∂x_i∂x_j for a tuple of inputs."""
    is_in_tuple, items = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        out = _scalar_output(func(*xs), "hessian")
        return _grad((out,), xs, (_new_tensor(np.ones(out.shape, dtype=out.dtype)),),
                     True, True, strict, "hessian")

    result = jacobian(gradient, items, create_graph=create_graph, strict=strict,
                      vectorize=vectorize, strategy=outer_jacobian_strategy)
    return result if is_in_tuple else result[0][0]


def _hvp_core(func, inputs, v, create_graph, strict, fn_name):
    with enable_grad():
        is_in_tuple, inputs = _prepare_inputs(inputs, create_graph, fn_name)
        if v is None:
            v = _ones_for_scalars(inputs, "v", "inputs", fn_name)
        else:
            v = _check_like(v, inputs, "v", "inputs", fn_name)
        out = _scalar_output(func(*inputs), fn_name)
        ones = _new_tensor(np.ones(out.shape, dtype=out.dtype))
        # first backward pass, recorded
        g = _grad((out,), inputs, (ones,), True, True, strict, fn_name)
        # second backward pass, through s = ∇fᵀu (see the note below)
        hv = _grad(g, inputs, v, create_graph, create_graph, strict, fn_name)
    return _finish((out,), create_graph, False), _finish(hv, create_graph, is_in_tuple)


# Why the scalar s = ∇fᵀu is not built as a Tensor: the first step of
# backpropagating through s = Σᵢ sum(gᵢ ⊙ uᵢ) hands each gᵢ the cotangent uᵢ,
# so the second backward pass of seed 000 §2.11.2 is exactly
# grad(g, θ, grad_outputs=u).  Starting there skips a multiply, a reduction
# and their backward over every parameter (a third of an MLP's HVP time).
# A gᵢ that does not depend on θ (a parameter entering f linearly) adds
# nothing to Hu and is left out.


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """Hessian-vector product H v of the scalar function ``func``, computed
    exactly as seed 000 §2.11 describes: forward, a recorded backward pass,
    the scalar s = ∇fᵀv, and a second backward pass Hv = ∇s.

    Returns (func_output, hvp), hvp shaped like ``inputs``.
    """
    return _hvp_core(func, inputs, v, create_graph, strict, "hvp")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """Vector-Hessian product vᵀH.  The Hessian of a twice continuously
    differentiable function is symmetric, so this is the same second backward
    pass as ``hvp``; the name exists for torch compatibility."""
    return _hvp_core(func, inputs, v, create_graph, strict, "vhp")


# ---------------------------------------------------------------------------
# Closure form, shared by the diagnostics and by optim.NewtonCG

class _ParamsCurvature:
    """Hessian-vector products at one point θ for a closure over ``params``.

    The forward pass and the recorded first backward pass are done once;
    each product is one scalar projection and one second backward pass
    through the retained graph (seed 000 §2.11.2), so a CG solve or a power
    iteration pays the first two passes once.
    """

    def __init__(self, closure, params):
        self.params = _param_list(params)
        with enable_grad():
            loss = closure()
            if isinstance(loss, (tuple, list)):
                loss = loss[0]
            self.loss = _scalar_output(loss, "closure")
            if not self.loss.requires_grad:
                raise RuntimeError("the closure's loss does not depend on params (was it "
                                   "computed under no_grad, or from detached tensors?)")
            grads = _engine.grad([self.loss], self.params, create_graph=True,
                                   retain_graph=True, allow_unused=True)
        self.grads = tuple(_zeros_like(p) if g is None else g
                           for g, p in zip(grads, self.params))
        self.flat_grad = _flatten([g.data for g in self.grads])

    def hvp(self, u):
        """H u for a flat float64 vector u (NumPy); returns a flat float64 vector."""
        vectors = _unflatten(u, self.params)
        pairs = [(g, v) for g, v in zip(self.grads, vectors) if g.requires_grad]
        if not pairs:
            return np.zeros_like(u)
        with enable_grad():
            hv = _engine.grad([g for g, _ in pairs], self.params,
                                grad_outputs=[v for _, v in pairs], retain_graph=True,
                                allow_unused=True)
        return _flatten([np.zeros(p.shape) if h is None else h.data
                         for h, p in zip(hv, self.params)])


def _param_list(params):
    Tensor = _Tensor()
    if isinstance(params, Tensor):
        params = [params]
    params = list(params)
    if not params:
        raise ValueError("params is empty")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{i}] must be a Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"params[{i}] (shape {tuple(p.shape)}) does not require grad")
    return params


def _flatten(arrays):
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def _unflatten(vec, params):
    out, offset = [], 0
    for p in params:
        n = int(np.prod(p.shape))
        out.append(_new_tensor(vec[offset:offset + n].reshape(p.shape).astype(p.dtype)))
        offset += n
    return out


def directional_curvature(closure, params, directions):
    """uᵀHu for each direction u (seed 000 §2.11.3): the curvature of the
    loss along u, one second backward pass each.

    Args:
        closure: zero-argument function returning the scalar loss.
        params: the Tensors the Hessian is taken with respect to.
        directions: one direction (a Tensor or a list of Tensors shaped like
            ``params``), or a list of such directions.
    Returns:
        a float for one direction, a float64 array for a list of them.
    """
    op = _ParamsCurvature(closure, params)
    single = _is_direction(directions, op.params)
    dirs = [directions] if single else list(directions)
    values = []
    for d in dirs:
        if not _is_direction(d, op.params):
            raise ValueError("each direction must be a list of Tensors/arrays shaped like params")
        u = _flatten([_as_array(x) for x in (d if isinstance(d, (list, tuple)) else [d])])
        values.append(float(u @ op.hvp(u)))
    return values[0] if single else np.asarray(values)


def _as_array(x):
    return x.data if isinstance(x, _Tensor()) else np.asarray(x)


def _is_direction(d, params):
    items = d if isinstance(d, (list, tuple)) else [d]
    if len(items) != len(params):
        return False
    return all(not isinstance(x, (list, tuple)) and tuple(np.shape(_as_array(x))) == tuple(p.shape)
               for x, p in zip(items, params))


def curvature_diagnostics(closure, params, num_random=8, power_iterations=0, seed=0):
    """Curvature of the loss at the current point (seed 000 §2.11.3-2.11.4).

    Returns a dict:
        ``loss``, ``grad_norm``;
        ``gradient_curvature``: ĝᵀHĝ along the unit gradient direction ĝ;
        ``random_curvatures``: uᵀHu for ``num_random`` random unit directions
        (their mean estimates trace(H) / number of parameters);
        ``top_eigenvalue``: by power iteration when ``power_iterations`` > 0.
    """
    rng = np.random.default_rng(seed)
    op = _ParamsCurvature(closure, params)
    g = op.flat_grad
    gnorm = float(np.linalg.norm(g))
    result = {"loss": float(op.loss.data.reshape(())), "grad_norm": gnorm}
    if gnorm > 0:
        u = g / gnorm
        result["gradient_curvature"] = float(u @ op.hvp(u))
    else:
        result["gradient_curvature"] = 0.0
    curv = []
    for _ in range(num_random):
        u = rng.standard_normal(g.size)
        u /= np.linalg.norm(u)
        curv.append(float(u @ op.hvp(u)))
    result["random_curvatures"] = np.asarray(curv)
    if power_iterations > 0:
        result["top_eigenvalue"] = _power_iteration(op, power_iterations, 1e-6, rng)[0]
    return result


def _power_iteration(op, num_iterations, tol, rng):
    v = rng.standard_normal(op.flat_grad.size)
    v /= np.linalg.norm(v)
    eig = 0.0
    for _ in range(num_iterations):
        w = op.hvp(v)
        new_eig = float(v @ w)
        norm = np.linalg.norm(w)
        if norm == 0:
            return 0.0, v
        v = w / norm
        if abs(new_eig - eig) <= tol * max(abs(new_eig), 1e-30):
            eig = new_eig
            break
        eig = new_eig
    return eig, v


def hessian_top_eigenvalue(closure, params, num_iterations=100, tol=1e-6, seed=0,
                           return_eigenvector=False):
    """The Hessian eigenvalue of largest magnitude (the sharpness of the loss)
    by power iteration with Hessian-vector products: v ← Hv/‖Hv‖, λ = vᵀHv.

    The forward and first backward pass are done once; each iteration is one
    second backward pass.  Stops when λ changes by less than ``tol``·|λ|.
    With ``return_eigenvector`` returns (λ, v) where v is a list of arrays
    shaped like ``params``.
    """
    if num_iterations < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    op = _ParamsCurvature(closure, params)
    eig, v = _power_iteration(op, num_iterations, tol, np.random.default_rng(seed))
    if return_eigenvector:
        return eig, [t.data for t in _unflatten(v, op.params)]
    return eig
