"""Second order: vjp, jvp, jacobian, hessian, hvp, vhp and curvature
diagnostics against the seeds' worked examples (seed 000 §2.11.1, §2.11.2,
§3.5), analytic Hessians, float64 central finite differences of gradients
and the explicit Hessian."""
import numpy as np
import pytest

import neurocore as nc
import neurocore.autograd.functional as AF

F = nc.functional


def t64(a, requires_grad=False):
    return nc.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# --------------------------------------------------------------------------
# seed 000 §2.11.1: f(w1, w2) = w1² + 3 w1 w2 + 2 w2², u = (1, −1), Hu = (−1, −1)

def quadratic(w1, w2):
    return w1 * w1 + 3 * w1 * w2 + 2 * w2 * w2


@pytest.mark.parametrize("point", [(0.0, 0.0), (1.5, -2.0), (-3.0, 0.25)])
def test_seed_2_11_1_quadratic_hvp(point):
    w = (t64(point[0]), t64(point[1]))
    u = (t64(1.0), t64(-1.0))
    value, hu = AF.hvp(quadratic, w, u)
    assert isinstance(hu, tuple) and len(hu) == 2
    np.testing.assert_allclose([hu[0].item(), hu[1].item()], [-1.0, -1.0], rtol=0, atol=1e-14)
    np.testing.assert_allclose(value.item(), quadratic(*point), rtol=1e-14)
    # the scalar projection of the seed: ∇fᵀu = −(w1 + w2)
    _, g = AF.vjp(quadratic, w)
    s = g[0].item() * 1.0 + g[1].item() * -1.0
    np.testing.assert_allclose(s, -(point[0] + point[1]), atol=1e-14)
    H = AF.hessian(quadratic, w)
    np.testing.assert_allclose([[H[i][j].item() for j in range(2)] for i in range(2)],
                               [[2.0, 3.0], [3.0, 4.0]], atol=1e-14)
    # vhp is the same second backward pass (H is symmetric)
    _, uh = AF.vhp(quadratic, w, u)
    np.testing.assert_allclose([uh[0].item(), uh[1].item()], [-1.0, -1.0], atol=1e-14)


def _fd_curvature(closure, params, u, eps):
    """uᵀHu by central differences of the gradient along u (parameters restored)."""
    start = [p.numpy().copy() for p in params]

    def grad_dot_u(sign):
        for p, p0, d in zip(params, start, u):
            p.data[...] = p0 + sign * eps * d
        gs = nc.grad([closure()], params)
        return sum(float((g.numpy() * d).sum()) for g, d in zip(gs, u))

    try:
        return (grad_dot_u(1) - grad_dot_u(-1)) / (2 * eps)
    finally:
        for p, p0 in zip(params, start):
            p.data[...] = p0


def test_seed_2_11_1_vector_form_and_curvature_diagnostics():
    def f(w):
        return w[0] * w[0] + 3 * w[0] * w[1] + 2 * w[1] * w[1]

    w = t64([0.7, -1.1])
    H = AF.hessian(f, w)
    np.testing.assert_allclose(H.numpy(), [[2.0, 3.0], [3.0, 4.0]], atol=1e-14)
    _, hu = AF.hvp(f, w, t64([1.0, -1.0]))
    np.testing.assert_allclose(hu.numpy(), [-1.0, -1.0], atol=1e-14)

    param = t64([0.7, -1.1], requires_grad=True)
    closure = lambda: f(param)  # noqa: E731
    Hm = np.array([[2.0, 3.0], [3.0, 4.0]])
    # §2.11.3: uᵀHu along chosen directions
    u = np.array([1.0, -1.0])
    assert AF.directional_curvature(closure, [param], [u]) == pytest.approx(u @ Hm @ u)
    diag = AF.curvature_diagnostics(closure, [param], num_random=4, power_iterations=200)
    g = Hm @ param.numpy()
    gh = g / np.linalg.norm(g)
    assert diag["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-12)
    assert diag["gradient_curvature"] == pytest.approx(gh @ Hm @ gh, rel=1e-12)
    lo, hi = 3 - np.sqrt(10), 3 + np.sqrt(10)
    assert np.all(diag["random_curvatures"] >= lo - 1e-12)
    assert np.all(diag["random_curvatures"] <= hi + 1e-12)
    assert diag["top_eigenvalue"] == pytest.approx(hi, rel=1e-6)
    eig, vec = AF.hessian_top_eigenvalue(closure, [param], return_eigenvector=True)
    assert eig == pytest.approx(hi, rel=1e-6)
    v = vec[0] / np.linalg.norm(vec[0])
    np.testing.assert_allclose(np.abs(v), np.abs(np.linalg.eigh(Hm)[1][:, 1]), atol=1e-3)


# --------------------------------------------------------------------------
# seed 000 §2.11.2: ŷ = w3 (w2 (w1 x + b1) + b2) + b3, L = ½(ŷ − y)²

X_SCALAR, Y_SCALAR = 1.5, -0.4
THETA = np.array([0.8, -0.3, 1.2, 0.5, -0.7, 0.1])  # w1, b1, w2, b2, w3, b3


def three_layer_loss(w1, b1, w2, b2, w3, b3):
    a1 = w1 * X_SCALAR + b1
    a2 = w2 * a1 + b2
    y_hat = w3 * a2 + b3
    return 0.5 * (y_hat - Y_SCALAR) ** 2


def three_layer_analytic():
    w1, b1, w2, b2, w3, b3 = THETA
    x = X_SCALAR
    a1 = w1 * x + b1
    a2 = w2 * a1 + b2
    r = w3 * a2 + b3 - Y_SCALAR
    dr = np.array([w3 * w2 * x, w3 * w2, w3 * a1, w3, a2, 1.0])  # the seed's vector
    d2r = np.zeros((6, 6))  # ∇²ŷ, the only non-zero second partials
    for i, j, value in [(0, 2, w3 * x), (0, 4, w2 * x), (1, 2, w3), (1, 4, w2),
                        (2, 4, a1), (3, 4, 1.0)]:
        d2r[i, j] = d2r[j, i] = value
    return r * dr, np.outer(dr, dr) + r * d2r


def test_seed_2_11_2_three_layer_gradient_and_hvp():
    theta = tuple(t64(v) for v in THETA)
    grad_expected, H = three_layer_analytic()
    _, grads = AF.vjp(three_layer_loss, theta)
    np.testing.assert_allclose([g.item() for g in grads], grad_expected, rtol=1e-13, atol=1e-15)
    rng = np.random.default_rng(0)
    for u in [np.eye(6)[2], rng.standard_normal(6), grad_expected]:
        _, hu = AF.hvp(three_layer_loss, theta, tuple(t64(c) for c in u))
        np.testing.assert_allclose([h.item() for h in hu], H @ u, rtol=1e-12, atol=1e-14)
    Hn = AF.hessian(three_layer_loss, theta)
    np.testing.assert_allclose([[Hn[i][j].item() for j in range(6)] for i in range(6)], H,
                               rtol=1e-12, atol=1e-14)


def test_seed_2_11_2_with_parameters_and_closure():
    """The same network as nn parameters: the closure form used by NewtonCG."""
    params = [nc.tensor(np.array(v), requires_grad=True) for v in THETA]
    closure = lambda: three_layer_loss(*params)  # noqa: E731
    _, H = three_layer_analytic()
    u = np.linspace(-1.0, 1.0, 6)
    value = AF.directional_curvature(closure, params, [np.array(c) for c in u])
    assert value == pytest.approx(u @ H @ u, rel=1e-12)
    assert AF.hessian_top_eigenvalue(closure, params, num_iterations=500, tol=1e-12) == \
        pytest.approx(np.linalg.eigvalsh(H)[np.argmax(np.abs(np.linalg.eigvalsh(H)))], rel=1e-6)


# --------------------------------------------------------------------------
# seed 000 §3.5: explicit Jacobians of a 2-2-2-1 network (φ = ReLU, ψ = tanh,
# σ = sigmoid, y = 1).  Seed typos: σ'(z3) is printed 0.215271 but J3 = σ'W3
# and ŷ(1−ŷ) give 0.215237; ∂L/∂a2 is printed (−0.094506, 0.053988) but is
# (−0.094483, 0.053991); ∂L/∂a1 is printed (−0.001435, 0.002267) but is
# (−0.001533, 0.002686).  The Jacobians and ∇ₓL of the seed are right.

X35 = np.array([[2.0, 1.0]])
W1 = np.array([[1.0, 2.0], [-0.5, 1.5]])
B1 = np.array([0.1, -0.2])
W2 = np.array([[0.7, -1.2], [1.1, 0.3]])
B2 = np.array([0.05, -0.1])
W3 = np.array([[1.4, -0.8]])
B3 = np.array([0.2])


def layer1(a0):
    return F.relu(a0 @ t64(W1).T + t64(B1))


def layer2(a1):
    return F.tanh(a1 @ t64(W2).T + t64(B2))


def layer3(a2):
    return F.sigmoid(a2 @ t64(W3).T + t64(B3))


def loss35(x):
    return (0.5 * (layer3(layer2(layer1(x))) - 1.0) ** 2).sum()


def test_seed_3_5_explicit_jacobians():
    a0 = t64(X35)
    a1 = layer1(a0)
    a2 = layer2(a1)
    np.testing.assert_allclose(a1.numpy(), [[4.1, 0.3]], atol=1e-14)
    np.testing.assert_allclose(a2.numpy(), [[0.988119, 0.999753]], atol=1e-6)
    J1 = AF.jacobian(layer1, a0).numpy().reshape(2, 2)
    J2 = AF.jacobian(layer2, a1).numpy().reshape(2, 2)
    J3 = AF.jacobian(layer3, a2).numpy().reshape(1, 2)
    np.testing.assert_allclose(J1, W1, atol=1e-15)
    np.testing.assert_allclose(J2, [[0.016535, -0.028345], [0.000543, 0.000148]], atol=1e-6)
    np.testing.assert_allclose(J3, [[0.301332, -0.172190]], atol=1e-6)
    y_hat = layer3(a2).item()
    assert y_hat == pytest.approx(0.686448, abs=1e-6)
    # backpropagation = product of Jacobian transposes, never formed by nc
    grad_x_jac = (J1.T @ J2.T @ J3.T * (y_hat - 1.0)).ravel()
    _, grad_x = AF.vjp(loss35, a0)
    np.testing.assert_allclose(grad_x.numpy().ravel(), [-0.002876, 0.000963], atol=1e-6)
    np.testing.assert_allclose(grad_x.numpy().ravel(), grad_x_jac, rtol=1e-12)
    # the intermediate cotangents (corrected, see above)
    _, grad_a2 = AF.vjp(lambda a: (0.5 * (layer3(a) - 1.0) ** 2).sum(), a2)
    np.testing.assert_allclose(grad_a2.numpy().ravel(), [-0.094483, 0.053991], atol=1e-6)
    # forward mode gives the same Jacobian column by column
    J2f = AF.jacobian(layer2, a1, strategy="forward-mode").numpy().reshape(2, 2)
    np.testing.assert_allclose(J2f, J2, rtol=1e-12, atol=1e-18)


# --------------------------------------------------------------------------
# torch.autograd.functional conventions

def test_vjp_jvp_conventions():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 4))
    x = t64(rng.standard_normal(4).reshape(1, 4))
    f = lambda x: F.tanh(x @ t64(A).T)  # noqa: E731
    J = AF.jacobian(f, x).numpy().reshape(3, 4)
    z = np.tanh(x.numpy() @ A.T).ravel()
    np.testing.assert_allclose(J, (1 - z ** 2)[:, None] * A, rtol=1e-12)
    v_out = rng.standard_normal((1, 3))
    v_in = rng.standard_normal((1, 4))
    out, vj = AF.vjp(f, x, t64(v_out))
    assert not out.requires_grad and not vj.requires_grad
    np.testing.assert_allclose(out.numpy().ravel(), z, rtol=1e-14)
    np.testing.assert_allclose(vj.numpy().ravel(), v_out.ravel() @ J, rtol=1e-12)
    out, jv = AF.jvp(f, x, t64(v_in))
    assert tuple(jv.shape) == (1, 3)
    np.testing.assert_allclose(jv.numpy().ravel(), J @ v_in.ravel(), rtol=1e-12)
    # tuples in, tuple out
    g = lambda a, b: (a * b, (a + b).sum())  # noqa: E731
    a, b = t64([1.0, 2.0]), t64([3.0, -1.0])
    out, vj = AF.vjp(g, (a, b), (t64([1.0, 1.0]), t64(2.0)))
    assert isinstance(out, tuple) and isinstance(vj, tuple)
    np.testing.assert_allclose(vj[0].numpy(), b.numpy() + 2)
    np.testing.assert_allclose(vj[1].numpy(), a.numpy() + 2)
    out, jv = AF.jvp(g, (a, b), (t64([1.0, 0.0]), t64([0.0, 1.0])))
    np.testing.assert_allclose(jv[0].numpy(), [3.0, 2.0])
    assert jv[1].item() == pytest.approx(2.0)
    jac = AF.jacobian(g, (a, b))
    assert isinstance(jac, tuple) and isinstance(jac[0], tuple)
    np.testing.assert_allclose(jac[0][0].numpy(), np.diag(b.numpy()))
    np.testing.assert_allclose(jac[1][1].numpy(), [1.0, 1.0])
    assert tuple(jac[1][0].shape) == (2,)


def test_independent_inputs_zero_or_strict():
    f = lambda a, b: (a * a).sum()  # noqa: E731
    a, b = t64([1.0, 2.0]), t64([3.0])
    _, hv = AF.hvp(f, (a, b), (t64([1.0, 1.0]), t64([1.0])))
    np.testing.assert_allclose(hv[0].numpy(), [2.0, 2.0])
    np.testing.assert_allclose(hv[1].numpy(), [0.0])
    with pytest.raises(RuntimeError):
        AF.hvp(f, (a, b), (t64([1.0, 1.0]), t64([1.0])), strict=True)
    # an affine function has a zero Hessian
    _, hv = AF.hvp(lambda a: (3 * a).sum(), a, t64([1.0, -2.0]))
    np.testing.assert_allclose(hv.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(AF.hessian(lambda a: (3 * a).sum(), a).numpy(), np.zeros((2, 2)))


def test_bad_arguments():
    a = t64([1.0, 2.0])
    f = lambda a: (a * a).sum()  # noqa: E731
    with pytest.raises(ValueError, match="shape"):
        AF.hvp(f, a, t64([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="dtype"):
        AF.hvp(f, a, nc.tensor(np.array([1.0, 2.0], np.float32)))
    with pytest.raises(TypeError, match="inputs"):
        AF.hvp(f, np.array([1.0, 2.0]), a)
    with pytest.raises(ValueError, match="single element"):
        AF.hvp(lambda a: a * a, a, a)
    with pytest.raises(ValueError, match="None"):
        AF.vjp(lambda a: a * a, a)
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(f, a, strategy="sideways")


def test_create_graph_gives_third_derivatives():
    # f = Σ x⁴: H = diag(12 x²), d/dx (uᵀ H u) = 24 x u²
    x = t64([0.5, -1.5, 2.0], requires_grad=True)
    u = t64([1.0, 2.0, -1.0])
    _, hu = AF.hvp(lambda x: (x ** 4).sum(), x, u, create_graph=True)
    assert hu.requires_grad
    np.testing.assert_allclose(hu.numpy(), 12 * x.numpy() ** 2 * u.numpy())
    (d,) = nc.grad([(hu * u).sum()], [x])
    np.testing.assert_allclose(d.numpy(), 24 * x.numpy() * u.numpy() ** 2, rtol=1e-13)
    # differentiating a Hessian: d/dx trace(H) = 24 x
    H = AF.hessian(lambda x: (x ** 4).sum(), x, create_graph=True)
    assert H.requires_grad
    (dtrace,) = nc.grad([(H * t64(np.eye(3))).sum()], [x])
    np.testing.assert_allclose(dtrace.numpy(), 24 * x.numpy(), rtol=1e-13)


# --------------------------------------------------------------------------
# small MLPs: every activation and several losses; HVP against float64
# central differences of the gradient and against hessian(f)·u

ACTIVATIONS = {
    "relu": lambda z: F.relu(z),
    "leaky_relu": lambda z: F.leaky_relu(z, 0.1),
    "gelu": lambda z: F.gelu(z),
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    "sigmoid": lambda z: F.sigmoid(z),
    "tanh": lambda z: F.tanh(z),
    "softmax": lambda z: F.softmax(z, -1),
    "log_softmax": lambda z: F.log_softmax(z, -1),
}

BATCH, D_IN, HIDDEN, D_OUT = 4, 3, 5, 3


def _data(rng):
    x = rng.standard_normal((BATCH, D_IN))
    probs = rng.uniform(0.1, 1.0, (BATCH, D_OUT))
    targets = {
        "regression": rng.standard_normal((BATCH, D_OUT)),
        "classes": np.array([0, 2, 1, 2]),
        "probs": probs / probs.sum(axis=1, keepdims=True),
        "binary": rng.uniform(0.0, 1.0, (BATCH, D_OUT)),
        "labels01": (rng.uniform(size=(BATCH, D_OUT)) < 0.5).astype(np.float64),
        "other": rng.standard_normal((BATCH, D_OUT)),
        "other2": rng.standard_normal((BATCH, D_OUT)),
        "pair": np.array([1.0, 0.0, 1.0, 0.0]),
        "sign": np.array([1.0, -1.0, 1.0, -1.0]),
    }
    return x, targets


_FEATURES = np.random.default_rng(99).standard_normal((D_OUT, 4))

# every loss of nc.functional, each fed the network output in the way it
# expects (logits, probabilities, log-probabilities, embeddings, images)
LOSSES = {
    "mse": lambda o, t: F.mse_loss(o, t64(t["regression"])),
    "l1": lambda o, t: F.l1_loss(o, t64(t["regression"])),
    "huber": lambda o, t: F.huber_loss(o, t64(2 * t["regression"]), delta=1.0),
    "smooth_l1": lambda o, t: F.smooth_l1_loss(o, t64(2 * t["regression"]), beta=0.5),
    "bce": lambda o, t: F.binary_cross_entropy(F.sigmoid(o), t64(t["binary"])),
    "bce_logits": lambda o, t: F.binary_cross_entropy_with_logits(
        o, t64(t["binary"]), pos_weight=t64(np.array([1.0, 2.0, 0.5]))),
    "cross_entropy": lambda o, t: F.cross_entropy(o, t["classes"]),
    "cross_entropy_probs_smoothing": lambda o, t: F.cross_entropy(
        o, t64(t["probs"]), label_smoothing=0.1),
    "nll": lambda o, t: F.nll_loss(F.log_softmax(o, -1), t["classes"]),
    "kl_div": lambda o, t: F.kl_div(F.log_softmax(o, -1), t64(t["probs"]),
                                    reduction="batchmean"),
    "focal": lambda o, t: F.sigmoid_focal_loss(o, t64(t["labels01"]), reduction="mean"),
    "dice": lambda o, t: F.dice_loss(F.sigmoid(o), t64(t["labels01"])),
    "iou": lambda o, t: F.iou_loss(F.sigmoid(o), t64(t["labels01"])),
    "triplet": lambda o, t: F.triplet_margin_loss(o, t64(t["other"]), t64(t["other2"]),
                                                  margin=5.0),
    "contrastive": lambda o, t: F.contrastive_loss(o, t64(t["other"]), t64(t["pair"]),
                                                   margin=5.0),
    "cosine_embedding": lambda o, t: F.cosine_embedding_loss(o, t64(t["other"]), t["sign"],
                                                             margin=-1.0),
    "total_variation": lambda o, t: F.total_variation_loss(o.reshape((1, 1, BATCH, D_OUT))),
    "perceptual": lambda o, t: F.perceptual_loss(
        o, t64(t["regression"]), lambda z: [F.tanh(z @ t64(_FEATURES)), z * z]),
}


def _mlp_params(rng):
    return (t64(rng.standard_normal((HIDDEN, D_IN)) * 0.8), t64(rng.standard_normal(HIDDEN) * 0.3),
            t64(rng.standard_normal((D_OUT, HIDDEN)) * 0.8), t64(rng.standard_normal(D_OUT) * 0.3))


def _flat(ts):
    return np.concatenate([t.numpy().ravel() for t in ts])


def _unflat(vec, like):
    out, k = [], 0
    for t in like:
        n = t.numpy().size
        out.append(vec[k:k + n].reshape(t.shape))
        k += n
    return out


def _check_hvp(f, params, rng, fd_rtol=1e-6, exact_rtol=1e-10):
    u = tuple(t64(rng.standard_normal(p.shape)) for p in params)
    _, hu = AF.hvp(f, params, u)
    hu = _flat(hu)
    # against float64 central differences of the gradient along u
    eps = 1e-5
    theta, uf = _flat(params), _flat(u)

    def grad_at(vec):
        return _flat(AF.vjp(f, tuple(t64(a) for a in _unflat(vec, params)))[1])

    fd = (grad_at(theta + eps * uf) - grad_at(theta - eps * uf)) / (2 * eps)
    scale = max(np.abs(fd).max(), 1e-3)
    np.testing.assert_allclose(hu, fd, rtol=0, atol=fd_rtol * scale * 10)
    # against the explicit Hessian
    H = AF.hessian(f, params)
    sizes = [p.numpy().size for p in params]
    Hm = np.block([[H[i][j].numpy().reshape(sizes[i], sizes[j]) for j in range(len(params))]
                   for i in range(len(params))])
    np.testing.assert_allclose(Hm, Hm.T, atol=1e-12)
    np.testing.assert_allclose(hu, Hm @ uf, rtol=exact_rtol, atol=exact_rtol * 1e-2)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_mlp_hvp_every_activation(act):
    rng = np.random.default_rng(7)
    x, targets = _data(rng)
    params = _mlp_params(rng)
    phi = ACTIVATIONS[act]

    def f(W1, b1, W2, b2):
        out = phi(t64(x) @ W1.T + b1) @ W2.T + b2
        return ((out - t64(targets["regression"])) ** 2).mean()

    _check_hvp(f, params, rng)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_mlp_hvp_every_loss(loss):
    rng = np.random.default_rng(11)
    x, targets = _data(rng)
    params = _mlp_params(rng)

    def f(W1, b1, W2, b2):
        out = F.tanh(t64(x) @ W1.T + b1) @ W2.T + b2
        return LOSSES[loss](out, targets)

    _check_hvp(f, params, rng)


def test_relu_second_derivative_is_zero():
    # ReLU'' = 0 almost everywhere: Σ relu(x)² has Hessian diag(2·𝕀[x>0])
    x = t64([-1.0, 0.5, 2.0, -0.2])
    H = AF.hessian(lambda x: (F.relu(x) ** 2).sum(), x).numpy()
    np.testing.assert_allclose(H, np.diag([0.0, 2.0, 2.0, 0.0]))
    H = AF.hessian(lambda x: F.relu(x).sum(), x).numpy()
    np.testing.assert_allclose(H, np.zeros((4, 4)))


def test_hvp_float32():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 6))
    A = A @ A.T
    x = nc.tensor(rng.standard_normal((1, 6)).astype(np.float32))
    u = nc.tensor(rng.standard_normal((1, 6)).astype(np.float32))
    f = lambda x: 0.5 * (x @ nc.tensor(A.astype(np.float32)) * x).sum()  # noqa: E731
    _, hu = AF.hvp(f, x, u)
    assert hu.dtype == np.float32
    np.testing.assert_allclose(hu.numpy(), u.numpy() @ A, rtol=1e-4, atol=1e-4)


def test_hvp_nn_mlp_module():
    """Works on any module: the closure form over model.parameters()."""
    rng = np.random.default_rng(5)
    model = nc.nn.Sequential(nc.nn.Linear(3, 4, dtype=np.float64), nc.nn.Tanh(),
                             nc.nn.Linear(4, 2, dtype=np.float64))
    x, y = t64(rng.standard_normal((6, 3))), t64(rng.standard_normal((6, 2)))
    params = list(model.parameters())
    closure = lambda: F.mse_loss(model(x), y)  # noqa: E731
    sizes = [p.numpy().size for p in params]
    u = rng.standard_normal(sum(sizes))
    curv = AF.directional_curvature(closure, params, _unflat(u, params))

    def f(*ps):
        W1, b1, W2, b2 = ps
        return F.mse_loss(F.tanh(x @ W1.T + b1) @ W2.T + b2, y)

    Hs = AF.hessian(f, tuple(t64(p.numpy()) for p in params))
    Hm = np.block([[Hs[i][j].numpy().reshape(sizes[i], sizes[j]) for j in range(4)]
                   for i in range(4)])
    assert curv == pytest.approx(u @ Hm @ u, rel=1e-10)


@pytest.mark.parametrize("act", ["identity", "relu", "leaky_relu", "gelu", "tanh", "sigmoid"])
def test_hvp_linear_with_fused_activation(act):
    """F.linear(..., activation=) records its backward without recomputing
    the forward where act' is a constant mask; every path must agree."""
    rng = np.random.default_rng(13)
    x, targets = _data(rng)
    params = _mlp_params(rng)

    def f(W1, b1, W2, b2):
        out = F.linear(F.linear(t64(x), W1, b1, activation=act), W2, b2)
        return ((out - t64(targets["regression"])) ** 2).mean()

    _check_hvp(f, params, rng)


# --------------------------------------------------------------------------
# layer norm and attention (fused ops with composite double backward)

def test_hvp_layer_norm():
    rng = np.random.default_rng(17)
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    C = t64(rng.standard_normal((3, 5)))

    def f(x, w, b):
        return (F.tanh(F.layer_norm(x, (5,), w, b)) * C).sum()

    _check_hvp(f, (t64(x), t64(w), t64(b)), rng)


@pytest.mark.parametrize("variant", ["plain", "causal", "mask"])
def test_hvp_scaled_dot_product_attention(variant):
    rng = np.random.default_rng(19)
    q, k, v = (rng.standard_normal((1, 2, 3, 4)) for _ in range(3))
    C = t64(rng.standard_normal((1, 2, 3, 4)))
    mask = np.array([[True, False, True], [True, True, False], [False, True, True]])

    def f(q, k, v):
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=variant == "causal",
            attn_mask=mask if variant == "mask" else None)
        return (F.gelu(out) * C).sum()

    _check_hvp(f, (t64(q), t64(k), t64(v)), rng)


def test_curvature_transformer_block_against_finite_differences():
    """uᵀHu over every parameter of a transformer block (layer norms,
    packed attention, GELU MLP) against central differences of gradients."""
    rng = np.random.default_rng(23)
    block = nc.nn.TransformerEncoderBlock(8, 2, mlp_ratio=2.0, dtype=np.float64)
    x = t64(rng.standard_normal((2, 3, 8)))
    C = t64(rng.standard_normal((2, 3, 8)))
    params = list(block.parameters())
    closure = lambda: (block(x) * C).sum()  # noqa: E731
    u = [rng.standard_normal(p.shape) for p in params]
    curv = AF.directional_curvature(closure, params, u)
    fd = _fd_curvature(closure, params, u, eps=1e-5)
    assert curv == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_hessian_forward_over_reverse_matches():
    rng = np.random.default_rng(29)
    A = t64(rng.standard_normal((3, 3)))
    f = lambda x, y: (F.tanh(x @ A) * y).sum() + (x * x * y).sum()  # noqa: E731
    inputs = (t64(rng.standard_normal((1, 3))), t64(rng.standard_normal((1, 3))))
    rev = AF.hessian(f, inputs)
    fwd = AF.hessian(f, inputs, outer_jacobian_strategy="forward-mode")
    for i in range(2):
        for j in range(2):
            assert tuple(rev[i][j].shape) == (1, 3, 1, 3)
            np.testing.assert_allclose(fwd[i][j].numpy(), rev[i][j].numpy(), rtol=1e-12,
                                       atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "leaky_relu"])
def test_curvature_nn_mlp_against_finite_differences(activation):
    """nn.MLP runs its layers as one fused node; its recorded backward
    replays the saved layer outputs.  uᵀHu against differences of gradients."""
    nc.manual_seed(3)
    rng = np.random.default_rng(31)
    model = nc.nn.MLP([3, 5, 4, 2], activation=activation, dtype=np.float64)
    x, y = t64(rng.standard_normal((6, 3))), t64(rng.standard_normal((6, 2)))
    params = list(model.parameters())
    closure = lambda: F.mse_loss(model(x), y)  # noqa: E731
    u = [rng.standard_normal(p.shape) for p in params]
    curv = AF.directional_curvature(closure, params, u)
    fd = _fd_curvature(closure, params, u, eps=1e-5)
    assert curv == pytest.approx(fd, rel=1e-6, abs=1e-9)


# --------------------------------------------------------------------------
# every Tensor op on the second-order path: HVP against finite differences
# and the explicit Hessian, each op inside a smooth scalar function of
# x (3, 4) and y (3, 4) (values kept where each op is smooth)

C34 = np.random.default_rng(37).standard_normal((3, 4))
TENSOR_OPS = {
    "add_sub_mul": lambda x, y: ((x + y) * (x - 2.0 * y) * t64(C34)).sum(),
    "div": lambda x, y: (x / (y * y + 1.0)).sum(),
    "rdiv_pow": lambda x, y: (1.0 / (1.5 + x.abs()) + (y * y + 0.5) ** 1.5).sum(),
    "rpow": lambda x, y: (2.0 ** (x * y)).sum(),
    "matmul": lambda x, y: ((x @ y.T) ** 2).sum() + (x.T @ y).sum(),
    "matmul_batched": lambda x, y: (F.tanh(x.reshape(3, 2, 2) @ y.reshape(3, 2, 2)) ** 2).sum(),
    "exp_log_sqrt": lambda x, y: ((x * 0.3).exp() * (y * y + 1.0).log()
                                  + (x * x + 2.0).sqrt()).sum(),
    "abs_clamp": lambda x, y: (x.abs() ** 3 + (x * y).clamp(min=-0.5, max=0.7) ** 2).sum(),
    "sum_mean_axis": lambda x, y: (((x * y).sum(axis=1) ** 2).mean()
                                   + (x.mean(axis=0, keepdims=True) * y).sum() ** 2),
    "max_min": lambda x, y: (x * y).max(axis=1).sum() ** 2 + (x - y).min() ** 3,
    "reshape_transpose_permute": lambda x, y: (
        (x.reshape(2, 6) @ y.reshape(6, 2)).T.sum() ** 2
        + (x.reshape(3, 2, 2).permute(2, 0, 1) * y.reshape(2, 3, 2)).sum() ** 2),
    "index_slice": lambda x, y: ((x[1:, ::2] * y[:2, 1::2]).sum() ** 2
                                 + (x[[0, 2, 0]] * y[1]).sum() ** 2),
    "expand_unsqueeze_squeeze": lambda x, y: ((x[:, :1].expand(3, 4) * y).sum() ** 2
                                              + (x.unsqueeze(0) * y).squeeze(0).sum() ** 2),
    "concatenate_stack": lambda x, y: ((nc.concatenate([x, y * x], axis=1) ** 2).sum()
                                       + (nc.stack([x, y]).sum(axis=0) ** 3).sum()),
    "where": lambda x, y: (nc.where(t64(C34) > 0, x * y, x ** 2) ** 2).sum(),
    "sigmoid_tanh_methods": lambda x, y: (x.sigmoid() * y.tanh() + x.relu() * y).sum(),
    "softmax_logsoftmax_axis0": lambda x, y: (F.softmax(x, 0) * y + F.log_softmax(y, 0) * x).sum(),
    "erf": lambda x, y: (F.erf(x * y) * x).sum(),
    "dropout_fixed_mask": lambda x, y: (_with_seed(lambda: F.dropout(x * y, 0.3)) ** 2).sum(),
    "to_float32_and_back": lambda x, y: ((x * y).to(np.float32).to(np.float64) ** 2).sum(),
}


def _with_seed(fn):
    nc.manual_seed(5)
    return fn()


@pytest.mark.parametrize("op", list(TENSOR_OPS))
def test_hvp_tensor_ops(op):
    rng = np.random.default_rng(41)
    x, y = rng.uniform(0.2, 1.0, (3, 4)) * np.sign(C34), rng.standard_normal((3, 4))
    fd_rtol = 1e-3 if op == "to_float32_and_back" else 1e-6
    _check_hvp(TENSOR_OPS[op], (t64(x), t64(y)), rng, fd_rtol=fd_rtol, exact_rtol=
               1e-6 if op == "to_float32_and_back" else 1e-10)


class _Cube(nc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 3.0 * x * x * grad_output


def test_hvp_custom_function():
    """A custom Function whose backward is Tensor code is recorded too:
    f = Σ x³ has H = diag(6x)."""
    x = t64([0.5, -1.0, 2.0])
    u = t64([1.0, 2.0, -3.0])
    _, hu = AF.hvp(lambda x: _Cube.apply(x).sum(), x, u)
    np.testing.assert_allclose(hu.numpy(), 6 * x.numpy() * u.numpy(), rtol=1e-14)


def test_curvature_vision_transformer_against_finite_differences():
    """A whole (tiny) ViT: patch embedding, [CLS], position embedding,
    pre-norm block, head; cross-entropy.  The loss has large third
    derivatives, so the central difference uses ε = 1e-6 (its error falls
    as ε², 7.6e-6 relative at 1e-5, 7.6e-8 at 1e-6)."""
    nc.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nc.nn.VisionTransformer(image_size=8, patch_size=4, in_channels=1, num_classes=3,
                                    dim=8, depth=1, num_heads=2, mlp_ratio=2.0,
                                    dtype=np.float64)
    x = t64(rng.standard_normal((2, 1, 8, 8)))
    labels = np.array([0, 2])
    params = list(model.parameters())
    closure = lambda: F.cross_entropy(model(x), labels)  # noqa: E731
    u = [rng.standard_normal(p.shape) for p in params]
    curv = AF.directional_curvature(closure, params, u)
    fd = _fd_curvature(closure, params, u, eps=1e-6)
    assert curv == pytest.approx(fd, rel=1e-6)
