"""Newton-CG (Hessian-free) optimizer, seed 000 §2.11.5.

Each step solves the damped Newton system (B + λI) p = −∇f by conjugate
gradient, where B is the Hessian H (or the Gauss-Newton matrix G) accessed
only through products Bu: a forward pass and a recorded backward pass once
per step, then one second backward pass per CG iteration.  A backtracking
line search on f(θ + t p) follows, and λ is adapted Levenberg-Marquardt
style from how well the quadratic model predicted the decrease.
"""
import math

import numpy as np

from neurocore import autograd as _autograd
from neurocore.autograd import functional as _F

__all__ = ["NewtonCG"]


class NewtonCG:
    r"""Newton-CG / Hessian-free optimization (Martens 2010; Nocedal & Wright
    Alg. 7.1).

    Per step, with g = ∇f(θ) and B = H (or G with ``gauss_newton=True``):

    1. solve (B + λI) p = −g by CG from p = 0, stopping after
       ``max_cg_iters`` iterations or when ‖r‖ ≤ ``cg_tol``·‖g‖; on a
       direction of non-positive curvature dᵀ(B+λI)d ≤ 0 (possible with the
       exact Hessian of a non-convex loss) CG stops and keeps the last
       iterate (−g if it is the first);
    2. backtracking line search: the largest t = lr·βᵏ with
       f(θ + t p) ≤ f(θ) + c₁ t gᵀp, k < ``max_backtracks``; if none, θ is
       left unchanged and λ is increased;
    3. Levenberg-Marquardt damping: ρ = (f(θ + t p) − f(θ)) / (t gᵀp +
       ½ t² pᵀBp) is the actual over the predicted decrease; λ ← λ·3/2 if
       ρ < 1/4, λ ← λ·2/3 if ρ > 3/4 (with ``adapt_damping``).

    Gauss-Newton products: for a loss ℓ(z(θ)) of network outputs z,
    G = Jᵀ ∇²ℓ(z) J is positive semi-definite where ∇²ℓ is (every convex
    loss: MSE, cross-entropy), so CG stays well defined on non-convex
    networks.  Gu = Jᵀ(∇²ℓ (J u)) uses J u by the double-vjp trick, one
    loss-Hessian product and one vjp.  With ``gauss_newton=True`` the
    closure must return ``(loss, output)``, the output being the tensor z
    that the loss was computed from.

    Args:
        params: iterable of Tensors (e.g. ``model.parameters()``); one group.
        lr: initial step length of the line search (1 = the Newton step).
        max_cg_iters: CG iterations per step.
        cg_tol: relative residual tolerance of CG.
        damping: initial Tikhonov damping λ ≥ 0.
        adapt_damping: adapt λ from the reduction ratio ρ.
        min_damping, max_damping: bounds of the adapted λ.
        gauss_newton: use Gauss-Newton products instead of the Hessian.
        line_search: backtracking line search (if False, θ ← θ + lr·p).
        max_backtracks, backtrack_factor (β), armijo (c₁): line search.

    The closure re-evaluates the model and returns the loss (it must not call
    ``backward``: the optimizer differentiates itself, recording the first
    backward pass).  ``step`` returns the loss at the starting point, and the
    state holds per-step diagnostics: ``damping``, ``cg_iters``,
    ``step_size``, ``rho``, ``grad_norm``, ``n_steps``, ``func_evals``.

    Example:
        >>> opt = nc.optim.NewtonCG(model.parameters(), damping=1e-3)
        >>> for _ in range(10):
        ...     loss = opt.step(lambda: nc.functional.mse_loss(model(x), y))
    """

    def __init__(self, params, lr=1.0, max_cg_iters=50, cg_tol=1e-4, damping=1e-3,
                 adapt_damping=True, min_damping=1e-10, max_damping=1e10,
                 gauss_newton=False, line_search=True, max_backtracks=20,
                 backtrack_factor=0.5, armijo=1e-4):
        for name, value, low in (("lr", lr, 0.0), ("cg_tol", cg_tol, 0.0),
                                 ("damping", damping, 0.0), ("min_damping", min_damping, 0.0),
                                 ("armijo", armijo, 0.0)):
            if not (math.isfinite(value) and value >= low):
                raise ValueError(f"Invalid {name} value: {value}")
        if lr == 0:
            raise ValueError(f"Invalid lr value: {lr}")
        if not (0.0 < backtrack_factor < 1.0):
            raise ValueError(f"Invalid backtrack_factor value: {backtrack_factor}")
        if not armijo < 1.0:
            raise ValueError(f"Invalid armijo value: {armijo}")
        if int(max_cg_iters) < 1:
            raise ValueError(f"Invalid max_cg_iters value: {max_cg_iters}")
        if int(max_backtracks) < 1:
            raise ValueError(f"Invalid max_backtracks value: {max_backtracks}")
        if not max_damping >= min_damping:
            raise ValueError(f"Invalid max_damping value: {max_damping} < min_damping "
                             f"{min_damping}")
        params = list(params)
        if params and isinstance(params[0], dict):
            if len(params) != 1:
                raise ValueError("NewtonCG supports a single parameter group")
            group = dict(params[0])
            group["params"] = list(group["params"])
        else:
            group = {"params": params}
        if not group["params"]:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(group["params"]):
            data = getattr(p, "data", None)
            if not isinstance(data, np.ndarray) or isinstance(p, np.ndarray):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is "
                                f"{type(p).__name__}")
            if data.dtype not in (np.float32, np.float64):
                raise TypeError(f"optimizer can only optimize float32/float64 Tensors, params[{i}] "
                                f"has dtype {data.dtype}")
        self.defaults = dict(lr=lr, max_cg_iters=int(max_cg_iters), cg_tol=cg_tol,
                             damping=damping, adapt_damping=bool(adapt_damping),
                             min_damping=min_damping, max_damping=max_damping,
                             gauss_newton=bool(gauss_newton), line_search=bool(line_search),
                             max_backtracks=int(max_backtracks),
                             backtrack_factor=backtrack_factor, armijo=armijo)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups = [group]
        self.state = {"damping": group["damping"], "n_steps": 0, "func_evals": 0,
                      "cg_iters": 0, "step_size": 0.0, "rho": float("nan"),
                      "grad_norm": float("nan")}

    # -- PyTorch optimizer protocol -------------------------------------
    def zero_grad(self, set_to_none=True):
        for p in self.param_groups[0]["params"]:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def state_dict(self):
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.param_groups[0]["params"])))
        return {"state": dict(self.state), "param_groups": [group]}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.param_groups[0]["params"]):
            raise ValueError("loaded state dict does not match this optimizer's parameters")
        for key, value in groups[0].items():
            if key != "params":
                self.param_groups[0][key] = value
        self.state = dict(state_dict["state"])

    # -- the step ---------------------------------------------------------
    def step(self, closure):
        """One Newton-CG step; ``closure()`` returns the loss (or, with
        ``gauss_newton``, ``(loss, output)``).  Returns the loss before the step."""
        if closure is None:
            raise ValueError("NewtonCG.step requires a closure that returns the loss")
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.requires_grad]
        state = self.state
        damping = float(state["damping"])

        curvature = (_GaussNewton(closure, params) if group["gauss_newton"]
                     else _F._ParamsCurvature(closure, params))
        state["func_evals"] += 1
        loss = curvature.loss
        f0 = float(np.asarray(loss.data).reshape(()))
        g = curvature.flat_grad
        gnorm = float(np.linalg.norm(g))
        state["grad_norm"] = gnorm
        state["n_steps"] += 1
        if gnorm == 0.0 or not math.isfinite(f0) or not math.isfinite(gnorm):
            state.update(cg_iters=0, step_size=0.0, rho=float("nan"))
            return loss.detach()

        p, pBp, iters = _conjugate_gradient(curvature.hvp, g, damping, group["max_cg_iters"],
                                            group["cg_tol"])
        state["cg_iters"] = iters
        slope = float(g @ p)
        if not slope < 0:
            # CG from p = 0 only returns descent directions in exact arithmetic;
            # rounding on a nearly singular system can break that
            p = -g
            pBp = float(p @ curvature.hvp(p))
            slope = float(g @ p)

        start = [np.array(q.data, copy=True) for q in params]
        t = group["lr"]
        accepted = False
        if group["line_search"]:
            for _ in range(group["max_backtracks"]):
                f_new = self._evaluate(closure, params, start, p, t)
                if math.isfinite(f_new) and f_new <= f0 + group["armijo"] * t * slope:
                    accepted = True
                    break
                t *= group["backtrack_factor"]
        else:
            f_new = self._evaluate(closure, params, start, p, t)
            accepted = math.isfinite(f_new)

        if not accepted:
            _assign(params, start)
            state.update(step_size=0.0, rho=float("-inf"))
            damping = damping * 3.0 / 2.0 if damping > 0 else 1e-4
        else:
            state["step_size"] = t
            predicted = t * slope + 0.5 * t * t * pBp
            rho = (f_new - f0) / predicted if predicted < 0 else float("nan")
            state["rho"] = rho
            if group["adapt_damping"]:
                if not rho >= 0.25:
                    damping *= 3.0 / 2.0
                elif rho > 0.75:
                    damping *= 2.0 / 3.0
        if group["adapt_damping"] or not accepted:
            damping = min(max(damping, group["min_damping"]), group["max_damping"])
        state["damping"] = damping
        return loss.detach()

    def _evaluate(self, closure, params, start, direction, t):
        """f(θ₀ + t p) without recording a graph."""
        offset = 0
        for q, q0 in zip(params, start):
            n = q0.size
            np.add(q0, (t * direction[offset:offset + n]).reshape(q0.shape).astype(q0.dtype),
                   out=q.data)
            offset += n
        self.state["func_evals"] += 1
        with _autograd.no_grad():
            out = closure()
        if isinstance(out, (tuple, list)):
            out = out[0]
        return float(np.asarray(out.data).reshape(()))


def _assign(params, arrays):
    for q, a in zip(params, arrays):
        np.copyto(q.data, a)


def _conjugate_gradient(matvec, g, damping, max_iters, rel_tol):
    """Solve (B + λI) p = −g from p = 0; return p, pᵀBp and the iteration count.

    pᵀBp is tracked without an extra product: with r = −g − (B+λI)p,
    pᵀ(B+λI)p = −pᵀg − pᵀr.
    """
    p = np.zeros_like(g)
    r = -g.copy()
    d = r.copy()
    rr = float(r @ r)
    stop = (rel_tol * math.sqrt(rr)) ** 2
    iters = 0
    for iters in range(1, max_iters + 1):
        Ad = matvec(d) + damping * d
        dAd = float(d @ Ad)
        if not dAd > 0:
            # non-positive curvature: the quadratic model is unbounded along d
            if iters == 1:
                p = -g.copy()
                pBp = float(p @ matvec(p))
                return p, pBp, iters
            iters -= 1
            break
        alpha = rr / dAd
        p += alpha * d
        r -= alpha * Ad
        rr_new = float(r @ r)
        if rr_new <= stop:
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    pAp = -float(p @ g) - float(p @ r)
    return p, pAp - damping * float(p @ p), iters


class _GaussNewton:
    """Gauss-Newton products Gu = Jᵀ (∇²ℓ(z) (J u)) at one point.

    The closure returns (loss, z).  J u comes from the double-vjp trick:
    w ↦ Jᵀw = ∇θ(zᵀw) is recorded with a dummy w, then J u = ∇_w (Jᵀw)ᵀu.
    """

    def __init__(self, closure, params):
        self.params = params
        with _autograd.enable_grad():
            out = closure()
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ValueError("with gauss_newton=True the closure must return "
                                 "(loss, output)")
            loss, z = out
            self.loss = _F._scalar_output(loss, "closure")
            if not (self.loss.requires_grad and getattr(z, "requires_grad", False)):
                raise RuntimeError("the closure's loss and output must depend on params "
                                   "(was the model run under no_grad?)")
            self.z = z
            (grad_z,) = _autograd.grad([self.loss], [z], create_graph=True, retain_graph=True)
            self.grad_z = grad_z
            grads = _autograd.grad([z], params, grad_outputs=[grad_z], retain_graph=True,
                                   allow_unused=True)
            self.dummy = _F._new_tensor(np.zeros(z.shape, dtype=z.dtype), requires_grad=True)
            self.jt_dummy = _autograd.grad([z], params, grad_outputs=[self.dummy],
                                           create_graph=True, retain_graph=True,
                                           allow_unused=True)
        self.flat_grad = _F._flatten([np.zeros(p.shape) if gr is None else gr.data
                                      for gr, p in zip(grads, params)])

    def hvp(self, u):
        vectors = _F._unflatten(u, self.params)
        with _autograd.enable_grad():
            pairs = [(j, v) for j, v in zip(self.jt_dummy, vectors)
                     if j is not None and j.requires_grad]
            if not pairs:
                return np.zeros_like(u)
            (ju,) = _autograd.grad([j for j, _ in pairs], [self.dummy],
                                   grad_outputs=[v for _, v in pairs], retain_graph=True,
                                   allow_unused=True)
            if ju is None:
                return np.zeros_like(u)
            ju = ju.detach()
            if self.grad_z.requires_grad:
                (hju,) = _autograd.grad([self.grad_z], [self.z], grad_outputs=[ju],
                                        retain_graph=True, allow_unused=True)
            else:
                hju = None
            if hju is None:
                return np.zeros_like(u)
            gu = _autograd.grad([self.z], self.params, grad_outputs=[hju.detach()],
                                retain_graph=True, allow_unused=True)
        return _F._flatten([np.zeros(p.shape) if h is None else h.data
                            for h, p in zip(gu, self.params)])
