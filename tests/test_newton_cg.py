"""Newton-CG (Hessian-free) against gradient descent (seed 000 §2.11.5):
logistic regression and a small least-squares MLP converge in far fewer
iterations.  The counts are printed (pytest -s shows them)."""
import functools

import numpy as np
import pytest

import neurocore as nc

F = nc.functional


def t64(a, requires_grad=False):
    return nc.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _gradient_descent(closure, params, lr, stop, max_iters):
    """Plain GD θ ← θ − lr ∇f; returns the iterations until stop(loss, ‖g‖)."""
    for it in range(max_iters):
        loss = closure()
        grads = nc.grad([loss], params)
        gnorm = np.sqrt(sum(float((g.numpy() ** 2).sum()) for g in grads))
        if stop(loss.item(), gnorm):
            return it
        for p, g in zip(params, grads):
            p.data -= lr * g.numpy()
    return max_iters


def _grad_norm(closure, params):
    grads = nc.grad([closure()], params)
    return np.sqrt(sum(float((g.numpy() ** 2).sum()) for g in grads))


# --------------------------------------------------------------------------
# logistic regression, with features of different scales (ill-conditioned)

def _logistic_problem():
    rng = np.random.default_rng(0)
    n, d = 200, 6
    scales = np.array([1.0, 3.0, 0.3, 2.0, 0.5, 1.5])
    X = rng.standard_normal((n, d)) * scales
    w_true = rng.standard_normal(d)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ w_true))).astype(np.float64)
    return X, y


def _logistic_loss(w, b, X, y, l2=1e-3):
    # mean softplus(z) − y z, written with Tensor ops: log(1 + e^z) is safe
    # here because |z| stays small for these data
    z = t64(X) @ w + b
    return ((1.0 + z.exp()).log() - t64(y) * z).mean() + 0.5 * l2 * (w * w).sum()


def test_newton_cg_logistic_regression():
    X, y = _logistic_problem()
    tol = 1e-7

    w, b = t64(np.zeros(6), True), t64(0.0, True)
    closure = lambda: _logistic_loss(w, b, X, y)  # noqa: E731
    opt = nc.optim.NewtonCG([w, b], max_cg_iters=20, cg_tol=1e-6, damping=1e-4)
    newton_steps = 0
    while _grad_norm(closure, [w, b]) > tol and newton_steps < 50:
        opt.step(closure)
        newton_steps += 1
    newton_loss = closure().item()

    # L = λmax(XᵀX)/4n + l2 bounds the Hessian: GD with step 1/L converges
    L = np.linalg.eigvalsh(np.c_[X, np.ones(len(X))].T @ np.c_[X, np.ones(len(X))])[-1] \
        / (4 * len(X)) + 1e-3
    w_gd, b_gd = t64(np.zeros(6), True), t64(0.0, True)
    gd_iters = _gradient_descent(lambda: _logistic_loss(w_gd, b_gd, X, y), [w_gd, b_gd],
                                 1.0 / L, lambda f, g: g <= tol, 20000)
    print(f"\nlogistic regression to |grad| <= {tol:g}: Newton-CG {newton_steps} steps "
          f"({opt.state['func_evals']} loss evaluations), gradient descent {gd_iters} "
          "iterations")
    assert _grad_norm(closure, [w, b]) <= tol
    assert newton_steps <= 12
    assert gd_iters >= 20 * newton_steps
    # both reach the same minimum
    np.testing.assert_allclose(w.numpy(), w_gd.numpy(), atol=1e-4)
    assert newton_loss == pytest.approx(_logistic_loss(w_gd, b_gd, X, y).item(), abs=1e-9)


# --------------------------------------------------------------------------
# least-squares MLP 1 → 12 → 1 (tanh), fitting sin on 40 points

def _mlp_problem():
    rng = np.random.default_rng(1)
    x = np.linspace(-2, 2, 40).reshape(-1, 1)
    y = np.sin(1.5 * x)
    params = [t64(rng.standard_normal((12, 1)), True), t64(np.zeros(12), True),
              t64(rng.standard_normal((1, 12)) * 0.3, True), t64(np.zeros(1), True)]
    return x, y, params


def _mlp_loss(params, x, y):
    W1, b1, W2, b2 = params
    out = F.tanh(t64(x) @ W1.T + b1) @ W2.T + b2
    return ((out - t64(y)) ** 2).mean(), out


MLP_TARGET = 3e-3


@functools.lru_cache(maxsize=1)
def _mlp_gradient_descent_iterations():
    # lr = 0.1 is close to the largest stable step for this problem
    x, y, params = _mlp_problem()
    return _gradient_descent(lambda: _mlp_loss(params, x, y)[0], params, 0.1,
                             lambda f, g: f <= MLP_TARGET, 10000)


@pytest.mark.parametrize("gauss_newton", [True, False], ids=["gauss-newton", "hessian"])
def test_newton_cg_least_squares_mlp(gauss_newton):
    x, y, params = _mlp_problem()
    target = MLP_TARGET
    opt = nc.optim.NewtonCG(params, max_cg_iters=30, cg_tol=1e-4, damping=1e-2,
                            gauss_newton=gauss_newton)
    closure = lambda: _mlp_loss(params, x, y)  # noqa: E731
    newton_steps = 0
    while closure()[0].item() > target and newton_steps < 100:
        opt.step(closure)
        newton_steps += 1

    gd_iters = _mlp_gradient_descent_iterations()
    kind = "Gauss-Newton" if gauss_newton else "exact Hessian"
    print(f"\nleast-squares MLP to loss <= {target:g}: Newton-CG ({kind}) {newton_steps} steps "
          f"({opt.state['func_evals']} loss evaluations), gradient descent {gd_iters} iterations")
    assert closure()[0].item() <= target
    assert newton_steps * 20 <= gd_iters


def test_newton_cg_options_and_state():
    X, y = _logistic_problem()
    w, b = t64(np.zeros(6), True), t64(0.0, True)
    opt = nc.optim.NewtonCG([{"params": [w, b]}], damping=1.0, line_search=False)
    loss0 = opt.step(lambda: _logistic_loss(w, b, X, y))
    assert loss0.item() == pytest.approx(np.log(2), rel=1e-12)
    assert _logistic_loss(w, b, X, y).item() < loss0.item()
    state = opt.state_dict()
    assert state["state"]["n_steps"] == 1 and state["state"]["cg_iters"] >= 1
    opt2 = nc.optim.NewtonCG([w, b])
    opt2.load_state_dict(state)
    assert opt2.state["damping"] == opt.state["damping"]
    with pytest.raises(ValueError, match="damping"):
        nc.optim.NewtonCG([w, b], damping=-1.0)
    with pytest.raises(ValueError, match="lr"):
        nc.optim.NewtonCG([w, b], lr=float("nan"))
    with pytest.raises(ValueError, match="closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="output"):
        nc.optim.NewtonCG([w, b], gauss_newton=True).step(lambda: _logistic_loss(w, b, X, y))


def test_newton_cg_quadratic_one_step():
    """On f = ½θᵀAθ − bᵀθ the undamped Newton step lands on A⁻¹b."""
    rng = np.random.default_rng(2)
    M = rng.standard_normal((5, 5))
    A = M @ M.T + 5 * np.eye(5)
    bvec = rng.standard_normal(5)
    theta = t64(np.zeros((1, 5)), True)
    closure = lambda: 0.5 * (theta @ t64(A) * theta).sum() - (theta * t64(bvec)).sum()  # noqa
    opt = nc.optim.NewtonCG([theta], damping=0.0, adapt_damping=False, cg_tol=1e-12)
    opt.step(closure)
    np.testing.assert_allclose(theta.numpy().ravel(), np.linalg.solve(A, bvec), rtol=1e-9)
    assert opt.state["cg_iters"] <= 5
    assert opt.state["rho"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("gauss_newton", [True, False], ids=["gauss-newton", "hessian"])
def test_newton_cg_module_cross_entropy(gauss_newton):
    """Any model's parameters: an nn.Sequential classifier, cross-entropy
    (Gauss-Newton products use the softmax Hessian of the loss)."""
    nc.manual_seed(0)
    rng = np.random.default_rng(4)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = np.repeat(np.arange(3), 20)
    x = t64(centers[labels] + 0.8 * rng.standard_normal((60, 2)))
    model = nc.nn.Sequential(nc.nn.Linear(2, 8, dtype=np.float64), nc.nn.Tanh(),
                             nc.nn.Linear(8, 3, dtype=np.float64))

    def closure():
        out = model(x)
        return F.cross_entropy(out, labels), out

    opt = nc.optim.NewtonCG(model.parameters(), damping=1e-2, gauss_newton=gauss_newton)
    losses = [opt.step(closure).item() for _ in range(15)]
    final = closure()[0].item()
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:] + [final]))
    assert final < 0.2 * losses[0]
    accuracy = (model(x).numpy().argmax(axis=1) == labels).mean()
    assert accuracy >= 0.9


def test_newton_cg_float32_parameters():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    w_true = np.array([1.0, -2.0, 0.5], np.float32)
    y = nc.tensor(X @ w_true)
    w = nc.tensor(np.zeros(3, np.float32), requires_grad=True)
    closure = lambda: F.mse_loss(nc.tensor(X) @ w, y)  # noqa: E731
    opt = nc.optim.NewtonCG([w], damping=1e-6)
    for _ in range(3):
        opt.step(closure)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.numpy(), w_true, atol=1e-4)


def test_newton_cg_rejects_non_tensors_and_works_with_a_scheduler():
    with pytest.raises(TypeError, match="params\\[0\\]"):
        nc.optim.NewtonCG([np.zeros(3)])
    with pytest.raises(ValueError, match="empty"):
        nc.optim.NewtonCG([])
    w = t64(np.zeros((1, 2)), True)
    opt = nc.optim.NewtonCG([w], lr=1.0, line_search=False, damping=0.0, adapt_damping=False)
    sched = nc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    A = np.array([[2.0, 0.0], [0.0, 4.0]])
    closure = lambda: 0.5 * (w @ t64(A) * w).sum() - w.sum()  # noqa: E731
    opt.step(closure)
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5
    np.testing.assert_allclose(w.numpy().ravel(), [0.5, 0.25], rtol=1e-12)


def test_newton_cg_closure_without_graph_is_an_error():
    w = t64(np.ones(2), True)
    with pytest.raises(RuntimeError, match="depend on params"):
        nc.optim.NewtonCG([w]).step(lambda: t64(3.0) * 1.0)
    with pytest.raises(RuntimeError, match="depend on params"):
        nc.optim.NewtonCG([w], gauss_newton=True).step(lambda: (t64(3.0) * 1.0, w.detach()))
