"""The autograd engine: ops against NumPy, gradients against float64 central
differences (gradcheck), the seeds' worked examples, double backward, grad
modes and memory, and bad input."""
import threading
import tracemalloc

import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F
from neurocore.autograd import Function, gradcheck

from conftest import TOL
from _tolerances import FD_HVP, TOL_STEP


def t64(rng, *shape, positive=False, requires_grad=True):
    data = rng.standard_normal(shape)
    if positive:
        data = np.abs(data) + 0.5
    return nc.tensor(data, requires_grad=requires_grad)


# ---- seeds --------------------------------------------------------------------


def test_seed_000_2_10_accumulation_over_two_paths():
    # v3 = x², v5 = 2 v3, v6 = v3 + 1, f = v5 v6 at x = 3: df/dv3 = 18 + 20 = 38
    x = nc.tensor(3.0, dtype=np.float64, requires_grad=True)
    v3 = x ** 2
    v5 = 2 * v3
    v6 = v3 + 1
    f = v5 * v6
    assert (v3.item(), v5.item(), v6.item(), f.item()) == (9.0, 18.0, 10.0, 180.0)
    (df_dv3,) = nc.grad(f, v3, retain_graph=True)
    assert df_dv3.item() == 38.0
    f.backward()
    assert x.grad.item() == 38.0 * 2 * 3          # chain on to x: dv3/dx = 2x


def test_seed_000_2_11_1_hessian_vector_product():
    # f = w1² + 3 w1 w2 + 2 w2², H = [[2, 3], [3, 4]], u = (1, -1): Hu = (-1, -1)
    w = nc.tensor(np.array([0.7, -1.3]), requires_grad=True)
    f = w[0] ** 2 + 3 * w[0] * w[1] + 2 * w[1] ** 2
    (g,) = nc.grad(f, w, create_graph=True)
    np.testing.assert_allclose(g.data, [2 * 0.7 + 3 * -1.3, 3 * 0.7 + 4 * -1.3])
    u = nc.tensor(np.array([1.0, -1.0]))
    (hu,) = nc.grad((g * u).sum(), w)
    np.testing.assert_allclose(hu.data, [-1.0, -1.0])


class MySigmoid(Function):
    """Seed 004 §3.5.3, written as there."""

    @staticmethod
    def forward(ctx, input):
        a = 1 / (1 + (-input).exp())
        ctx.save_for_backward(a)
        return a

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * a * (1 - a)


class MyLinear(Function):
    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight, bias)
        return input @ weight.t() + bias

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_output @ weight
        grad_weight = grad_output.t() @ input
        grad_bias = grad_output.sum(dim=0)
        return grad_input, grad_weight, grad_bias


def _seed_004_params(dtype):
    W1 = np.array([[0.2, -0.3, 0.5], [0.7, 0.1, -0.2], [-0.5, 0.4, 0.3], [0.1, -0.4, 0.2]], dtype)
    b1 = np.array([0.1, -0.2, 0.05, 0.0], dtype)
    W2 = np.array([[0.3, -0.6, 0.2, 0.1], [-0.2, 0.1, 0.4, -0.5]], dtype)
    b2 = np.array([0.05, -0.1], dtype)
    return [nc.tensor(p, requires_grad=True) for p in (W1, b1, W2, b2)]


@pytest.mark.parametrize("custom", [False, True])
def test_seed_004_network_custom_functions_match_builtins(custom, dtype):
    x = nc.tensor(np.array([[1.0, 0.5, -1.0]], dtype))
    y = nc.tensor(np.array([[1.0, 0.0]], dtype))
    W1, b1, W2, b2 = _seed_004_params(dtype)
    if custom:
        a1 = MySigmoid.apply(MyLinear.apply(x, W1, b1))
        z2 = MyLinear.apply(a1, W2, b2)
    else:
        a1 = F.sigmoid(F.linear(x, W1, b1))
        z2 = F.linear(a1, W2, b2)
    a2 = F.softmax(z2, dim=1)
    loss = 0.5 * ((a2 - y) ** 2).sum()
    loss.backward()
    # the same network by hand (seed 004 §3.4 formulas), float64
    xs, ys = x.data.astype(np.float64), y.data.astype(np.float64)
    w1, c1, w2, c2 = (p.data.astype(np.float64) for p in (W1, b1, W2, b2))
    h = 1 / (1 + np.exp(-(xs @ w1.T + c1)))
    z = h @ w2.T + c2
    s = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    ds = s - ys
    dz = s * (ds - (ds * s).sum())
    dh = dz @ w2 * h * (1 - h)
    tol = TOL_STEP[dtype]
    np.testing.assert_allclose(loss.item(), 0.5 * (ds ** 2).sum(), **tol)
    np.testing.assert_allclose(W2.grad.data, dz.T @ h, **tol)
    np.testing.assert_allclose(b2.grad.data, dz[0], **tol)
    np.testing.assert_allclose(W1.grad.data, dh.T @ xs, **tol)
    np.testing.assert_allclose(b1.grad.data, dh[0], **tol)
    for p in (W1, b1, W2, b2):
        assert p.grad.dtype == dtype


def test_custom_function_gradcheck_and_double_backward(rng):
    x, w, b = t64(rng, 4, 3), t64(rng, 2, 3), t64(rng, 2)
    assert gradcheck(lambda x, w, b: MySigmoid.apply(MyLinear.apply(x, w, b)), (x, w, b))
    # its backward is written in Tensor ops, so create_graph differentiates it
    (gx,) = nc.grad(MySigmoid.apply(x).sum(), x, create_graph=True)
    (ggx,) = nc.grad(gx.sum(), x)
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(ggx.data, s * (1 - s) * (1 - 2 * s), rtol=1e-12)


def test_custom_function_needs_input_grad_and_wrong_shape(rng):
    seen = {}

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k):
            seen["needs"] = ctx.needs_input_grad
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g[:1], None                    # wrong shape on purpose

    x = t64(rng, 3)
    y = Scale.apply(x, 2.0)
    assert seen["needs"] == (True, False)
    with pytest.raises(RuntimeError, match="shape"):
        y.sum().backward()


# ---- ops against NumPy, gradients against finite differences ---------------------

UNARY = {
    "neg": (lambda x: -x, lambda a: -a, False),
    "exp": (lambda x: x.exp(), np.exp, False),
    "log": (lambda x: x.log(), np.log, True),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, True),
    "abs": (lambda x: abs(x), np.abs, False),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), False),
    "clamp_min": (lambda x: x.clamp(min=0.1), lambda a: np.maximum(a, 0.1), False),
    "pow3": (lambda x: x ** 3, lambda a: a ** 3, False),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, True),
    "rpow": (lambda x: 2.0 ** x, lambda a: 2.0 ** a, False),
    "rsub": (lambda x: 1 - x, lambda a: 1 - a, False),
    "rdiv": (lambda x: 1 / x, lambda a: 1 / a, True),
    "sum": (lambda x: x.sum(), np.sum, False),
    "sum_axis": (lambda x: x.sum(axis=1), lambda a: a.sum(axis=1), False),
    "sum_keep": (lambda x: x.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(axis=(0, 2), keepdims=True), False),
    "mean": (lambda x: x.mean(), np.mean, False),
    "mean_axis": (lambda x: x.mean(axis=-1, keepdims=True), lambda a: a.mean(axis=-1, keepdims=True), False),
    "max": (lambda x: x.max(), np.max, False),
    "max_axis": (lambda x: x.max(axis=1), lambda a: a.max(axis=1), False),
    "min_axis": (lambda x: x.min(axis=0, keepdims=True), lambda a: a.min(axis=0, keepdims=True), False),
    "reshape": (lambda x: x.reshape(6, 4), lambda a: a.reshape(6, 4), False),
    "flatten": (lambda x: x.flatten(1), lambda a: a.reshape(2, -1), False),
    "transpose": (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), False),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), False),
    "T": (lambda x: x.T, lambda a: a.T, False),
    "expand": (lambda x: x[:, :1].expand(2, 5, 4), lambda a: np.broadcast_to(a[:, :1], (2, 5, 4)), False),
    "slice": (lambda x: x[1:, ::2, -1], lambda a: a[1:, ::2, -1], False),
    "int_array": (lambda x: x[[0, 1, 0], [2, 2, 2]], lambda a: a[[0, 1, 0], [2, 2, 2]], False),
    "bool_mask": (lambda x: x[x.data > 0], lambda a: a[a > 0], False),
    "sigmoid": (F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), False),
    "tanh": (F.tanh, np.tanh, False),
    "relu": (F.relu, lambda a: np.maximum(a, 0), False),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda a: np.where(a > 0, a, 0.2 * a), False),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))), False),
    "softmax": (lambda x: F.softmax(x, axis=-1),
                lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), False),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0),
                      lambda a: np.exp(a) / np.exp(a).sum(0, keepdims=True), False),
    "log_softmax": (lambda x: F.log_softmax(x, dim=1),
                    lambda a: a - np.log(np.exp(a).sum(1, keepdims=True)), False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_values_and_gradcheck(name, rng):
    op, ref, positive = UNARY[name]
    x = t64(rng, 3, 4, 2, positive=positive) if name != "T" else t64(rng, 3, 4, positive=positive)
    if name in ("reshape", "flatten", "transpose", "permute", "expand", "slice"):
        x = t64(rng, 2, 3, 4)
    if name.startswith("max") or name.startswith("min") or name == "abs":
        x.data[np.abs(x.data) < 0.05] += 0.3     # keep finite differences away from kinks and ties
    if name.startswith("clamp"):
        x.data[np.abs(x.data - 0.7) < 0.05] += 0.2
        x.data[np.abs(x.data + 0.5) < 0.05] += 0.2
        x.data[np.abs(x.data - 0.1) < 0.05] += 0.2
    if name in ("relu", "leaky_relu"):
        x.data[np.abs(x.data) < 0.05] += 0.3
    np.testing.assert_allclose(op(x).data, ref(x.data), rtol=1e-12, atol=1e-14)
    assert gradcheck(op, (x,))


def test_gelu_exact_values_and_gradcheck(rng):
    import math
    x = t64(rng, 5, 3)
    ref = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(x.data)
    np.testing.assert_allclose(F.gelu(x).data, ref, rtol=1e-12, atol=1e-15)
    assert gradcheck(F.gelu, (x,))


@pytest.mark.parametrize("approximate, kernel", [("none", "gelu"), ("tanh", "gelu_tanh")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_backward_is_the_kernel_backward(rng, approximate, kernel, dtype):
    """The recorded GELU keeps act'(x) from its forward pass and multiplies
    in the backward: the gradient is activation_backward's, bit for bit, and
    a retained graph gives it again."""
    x = (3 * rng.standard_normal((257, 5))).astype(dtype)
    g = rng.standard_normal((257, 5)).astype(dtype)
    t = nc.tensor(x, requires_grad=True)
    y = F.gelu(t, approximate=approximate)
    np.testing.assert_array_equal(y.data, nc.kernels.activation_forward(x, kernel))
    y.backward(nc.tensor(g), retain_graph=True)
    want = nc.kernels.activation_backward(g, x, kernel)
    np.testing.assert_array_equal(t.grad.data, want)
    y.backward(nc.tensor(g))
    np.testing.assert_array_equal(t.grad.data, want + want)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_backward_reads_the_gradient_argument_without_keeping_it(as_tensor):
    """y.backward(g) reads g in place: a leaf that receives g itself (y = a + b)
    gets a copy, each leaf its own, and g is left as it was."""
    a = nc.tensor(np.ones(5, np.float32), requires_grad=True)
    b = nc.tensor(np.ones(5, np.float32), requires_grad=True)
    g = np.arange(5, dtype=np.float32)
    (a + b).backward(nc.tensor(g) if as_tensor else g)
    np.testing.assert_array_equal(g, np.arange(5, dtype=np.float32))
    for leaf in (a, b):
        np.testing.assert_array_equal(leaf.grad.data, g)
        assert not np.shares_memory(leaf.grad.data, g)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[0] = 100                    # in-place updates of one .grad touch nothing else
    assert g[0] == 0 and b.grad.data[0] == 0
    c = nc.tensor(np.ones(5, np.float32), requires_grad=True)
    (c * 1.0 + 0.0).backward(g)             # through two nodes to one leaf
    assert not np.shares_memory(c.grad.data, g)
    np.testing.assert_array_equal(c.grad.data, g)


BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3))]
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
}


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasting_values_and_grads(name, shapes, rng):
    op, ref = BINARY[name]
    a = t64(rng, *shapes[0], positive=name in ("pow", "div"))
    b = t64(rng, *shapes[1], positive=name in ("pow", "div"))
    out = op(a, b)
    np.testing.assert_allclose(out.data, ref(a.data, b.data), rtol=1e-12)
    assert gradcheck(op, (a, b))
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3,))], ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_arithmetic_matches_the_op_route(op, shapes, dtype, rng):
    """Tensor's + - * / (compiled: forward, recording and, for same-shaped
    gradients, the backward of + - *) give the values and gradients the
    ops' apply and Python backward give, bit for bit; reflected forms, a
    float operand and the no-grad cases included."""
    from neurocore._tensor_ops import Add, Div, Mul, Sub
    cls = {"add": Add, "sub": Sub, "mul": Mul, "truediv": Div}[op]
    a0 = rng.uniform(0.5, 2, shapes[0]).astype(dtype)
    b0 = rng.uniform(0.5, 2, shapes[1]).astype(dtype)
    g = rng.standard_normal(np.broadcast_shapes(a0.shape, b0.shape)).astype(dtype)
    for lhs_grad, rhs_grad in [(True, True), (True, False), (False, True)]:
        results = []
        for compiled in (True, False):
            a = nc.tensor(a0, requires_grad=lhs_grad)
            b = nc.tensor(b0, requires_grad=rhs_grad)
            y = getattr(a, f"__{op}__")(b) if compiled else cls.apply(a, b)
            y2 = getattr(y, f"__r{op}__")(1.5) if compiled else cls.apply(1.5, y)
            y3 = getattr(y2, f"__{op}__")(0.75) if compiled else cls.apply(y2, 0.75)
            assert type(y3.grad_fn) is cls and y3.requires_grad
            y3.backward(nc.tensor(g))
            results.append((y3, a.grad, b.grad))
        for got, want in zip(*results):
            if want is None:
                assert got is None
            else:
                assert got.data.dtype == dtype
                np.testing.assert_array_equal(got.data, want.data)
    a, b = nc.tensor(a0), nc.tensor(b0)
    assert getattr(a, f"__{op}__")(b).grad_fn is None                   # nothing requires grad
    with nc.no_grad():
        assert getattr(nc.tensor(a0, requires_grad=True), f"__{op}__")(b).grad_fn is None
    with pytest.raises(TypeError, match="dtypes do not mix"):
        getattr(a, f"__{op}__")(nc.tensor(b0.astype(np.float16)))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5))], ids=str)
def test_matmul_values_and_grads(shapes, rng):
    a, b = t64(rng, *shapes[0]), t64(rng, *shapes[1])
    np.testing.assert_allclose((a @ b).data, a.data @ b.data, rtol=1e-12)
    assert gradcheck(lambda a, b: a @ b, (a, b))


def test_concatenate_and_stack(rng):
    a, b, c = t64(rng, 2, 3), t64(rng, 4, 3), t64(rng, 2, 3)
    np.testing.assert_array_equal(nc.cat([a, b], 0).data, np.concatenate([a.data, b.data]))
    np.testing.assert_array_equal(nc.stack([a, c], axis=1).data, np.stack([a.data, c.data], 1))
    assert gradcheck(lambda a, b: nc.concatenate([a, b * 2, a], axis=0), (a, b))
    assert gradcheck(lambda a, c: nc.stack([a, c, a], dim=-1), (a, c))
    with pytest.raises(TypeError, match="float32"):
        nc.cat([a, nc.tensor(np.ones((1, 3), np.float32))])


def test_where(rng):
    a, b = t64(rng, 3, 4), t64(rng, 4)
    cond = a.data > 0
    np.testing.assert_array_equal(nc.where(cond, a, b).data, np.where(cond, a.data, b.data))
    assert gradcheck(lambda a, b: nc.where(cond, a, b), (a, b))


def test_linear_functional_with_fused_activations(rng):
    x, w, b = t64(rng, 5, 4), t64(rng, 3, 4), t64(rng, 3)
    for act in ("identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh"):
        z = x.data @ w.data.T + b.data
        want = F._ops._np_forward(z, act, 0.01)
        np.testing.assert_allclose(F.linear(x, w, b, activation=act).data, want, rtol=1e-12, atol=1e-14)
        assert gradcheck(lambda x, w, b: F.linear(x, w, b, activation=act), (x, w, b))
    x3 = t64(rng, 2, 5, 4)
    assert gradcheck(lambda x, w: F.linear(x, w), (x3, w))


def test_index_with_repeated_indices_accumulates():
    x = nc.tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 0, 3, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 0.0, 1.0])


# ---- dtypes -----------------------------------------------------------------------


def test_float32_stays_float32_through_every_op(rng):
    x = nc.tensor(rng.standard_normal((3, 4)).astype(np.float32) + 3.0, requires_grad=True)
    y = (x * 2.5 + np.float64(1.5)) / 3 - 1
    y = (y ** 2).sqrt().log().exp() @ x.T
    y = F.gelu(y) + F.softmax(y) + F.log_softmax(y, axis=0) + 2 ** F.tanh(y) + y.abs().clamp(0.1, 2.0)
    y = y.mean(0).max() + F.sigmoid(y).sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_mixed_float_dtypes_raise_naming_both():
    a = nc.tensor(np.ones(3, np.float32))
    b = nc.tensor(np.ones(3, np.float64))
    for op in (lambda: a + b, lambda: a * b.data, lambda: b @ a, lambda: a - b, lambda: b / a):
        with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
            op()
    # Python scalars and integer arrays are fine
    assert (a * 2).dtype == np.float32 and (a + np.arange(3)).dtype == np.float32


def test_tensor_defaults_follow_pytorch():
    assert nc.tensor([1.0, 2.0]).dtype == np.float32
    assert nc.tensor(np.ones(2)).dtype == np.float64
    assert nc.tensor([1, 2]).dtype.kind == "i"
    with pytest.raises(TypeError, match="floating point"):
        nc.tensor([1, 2], requires_grad=True)
    data = np.ones(3)
    t = nc.tensor(data)
    data[0] = 5
    assert t.data[0] == 1.0                       # nc.tensor copies


# ---- engine behaviour ------------------------------------------------------------------


def test_gradients_accumulate_across_backward_calls(rng):
    x = t64(rng, 3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0, 5.0])


def test_leaf_grads_never_share_memory():
    a = nc.tensor(np.ones(3), requires_grad=True)
    b = nc.tensor(np.ones(3), requires_grad=True)
    (a + b).reshape(3, 1).sum().backward()
    a.grad.data *= 10                             # e.g. in-place clipping of one parameter
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0, 1.0])
    a.grad.data[...] = 0
    assert b.grad.data.flags.writeable


def test_retain_graph_and_freed_graph_error(rng):
    x = t64(rng, 3)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (np.exp(x.data) * (1 + x.data)))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_on_non_scalar_needs_gradient(rng):
    x = t64(rng, 2, 3)
    y = x * 3
    with pytest.raises(RuntimeError, match="scalar outputs"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 3.0))
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(3))


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nc.tensor(np.ones(2)).sum().backward()


def test_grad_function_semantics(rng):
    x, y = t64(rng, 3), t64(rng, 3)
    out = (x * x).sum()
    (gx,) = nc.grad(out, [x], retain_graph=True)
    np.testing.assert_allclose(gx.data, 2 * x.data)
    assert x.grad is None                         # grad() writes nothing into .grad
    with pytest.raises(RuntimeError, match="allow_unused"):
        nc.grad(out, [x, y], retain_graph=True)
    gx2, gy = nc.grad(out, [x, y], allow_unused=True)
    assert gy is None and np.allclose(gx2.data, gx.data)


@pytest.mark.parametrize("name", ["mul", "div", "exp", "log", "sigmoid", "tanh", "softmax",
                                  "log_softmax", "gelu", "matmul", "max", "index", "linear_gelu", "linear_relu",
                                  "linear_leaky", "linear", "pow"])
def test_double_backward_matches_finite_differences_of_gradient(name, rng):
    w = t64(rng, 3, 3)
    fns = {
        "mul": lambda x: (x * x * w).sum(),
        "div": lambda x: (w / (x * x + 1)).sum(),
        "exp": lambda x: (x.exp() * w).sum(),
        "log": lambda x: ((x * x + 1).log() * w).sum(),
        "sigmoid": lambda x: (F.sigmoid(x) * w).sum(),
        "tanh": lambda x: (F.tanh(x) ** 2).sum(),
        "softmax": lambda x: (F.softmax(x) * w).sum(),
        "log_softmax": lambda x: (F.log_softmax(x, 0) * w).sum(),
        "gelu": lambda x: (F.gelu(x) * w).sum(),
        "matmul": lambda x: ((x @ w @ x) ** 2).sum(),
        "max": lambda x: (x * x).max(axis=1).sum(),
        "index": lambda x: (x[[0, 2, 0]] ** 3).sum(),
        "linear_gelu": lambda x: (F.linear(x, w, x[0], activation="gelu") ** 2).sum(),
        "linear_relu": lambda x: (F.linear(x, x * w, x[1], activation="relu") ** 2).sum(),
        "linear_leaky": lambda x: (F.linear(x, x * w, x[1], activation="leaky_relu") ** 2).sum(),
        "linear": lambda x: (F.linear(x * w, x, None) ** 3).sum(),
        "pow": lambda x: ((x * x + 1) ** x).sum(),
    }
    f = fns[name]
    x = t64(rng, 3, 3)
    v = rng.standard_normal((3, 3))
    (g,) = nc.grad(f(x), x, create_graph=True)
    (hv,) = nc.grad((g * nc.tensor(v)).sum(), x)

    def gradient(at):
        t = nc.tensor(at, requires_grad=True)
        f(t).backward()
        return t.grad.data

    eps = 1e-6
    numeric = (gradient(x.data + eps * v) - gradient(x.data - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=FD_HVP["rtol"], atol=1e-6)


# ---- grad modes and memory ---------------------------------------------------------------


def test_no_grad_records_nothing(rng):
    x = t64(rng, 4, 4)
    with nc.no_grad():
        assert not nc.is_grad_enabled()
        y = F.relu(x @ x).sum()
        with nc.enable_grad():
            z = (x * 2).sum()
    assert nc.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @nc.no_grad()
    def infer(t):
        return t * 3

    assert infer(x).grad_fn is None


def test_grad_mode_is_per_thread(rng):
    x = t64(rng, 3)
    seen = []

    def worker():
        seen.append((x * 2).requires_grad)

    with nc.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    assert seen == [True]


def test_grad_mode_set_in_a_thread_stays_there(rng):
    x = t64(rng, 3)
    seen = []

    def worker():
        nc.set_grad_enabled(False).__enter__()      # never restored: the thread ends with it off
        seen.append((nc.is_grad_enabled(), (x * 2).requires_grad))

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert seen == [(False, False)]
    assert nc.is_grad_enabled() and (x * 2).requires_grad


def test_no_grad_peak_memory_is_a_small_fraction_of_training():
    # seed 000 Table 2.10: training keeps every activation for backward,
    # inference keeps none; measured with tracemalloc (traces NumPy buffers)
    nc.manual_seed(0)
    model = nc.nn.MLP([256] + [256] * 12 + [10], activation="tanh")
    x = nc.tensor(np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32))

    def peak(fn):
        tracemalloc.start()
        out = fn()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del out
        return top

    training = peak(lambda: model(x).sum())
    with nc.no_grad():
        inference = peak(lambda: model(x).sum())
    activation_bytes = 256 * 256 * 4
    assert training > 12 * activation_bytes       # every layer's output is kept alive
    assert inference < 0.25 * training


def test_param_grad_assignment(rng):
    p = nc.nn.Parameter(np.zeros((2, 3), np.float32))
    p.grad = nc.tensor(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3)
    with pytest.raises(ValueError, match="shape"):
        p.grad = nc.tensor(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        p.grad = nc.tensor(np.ones((2, 3)))
    p.grad = None
    assert p.grad is None


def test_detach_and_requires_grad_rules(rng):
    x = t64(rng, 3)
    y = x * 2
    assert y.detach().grad_fn is None and not y.detach().requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_gradcheck_reports_a_wrong_gradient(rng):
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g                              # should be 2 x g

    x = t64(rng, 3)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, (nc.tensor(np.ones(2, np.float32), requires_grad=True),))


def test_tolerance_table_is_shared():
    assert TOL[np.float64]["rtol"] <= 1e-12


def test_bad_inputs_name_what_they_saw(rng):
    x = t64(rng, 2, 3)
    with pytest.raises(ValueError, match=r"axis 2 is out of range.*\(2, 3\)"):
        F.softmax(x, axis=2)
    with pytest.raises(ValueError, match=r"\[0, 1\).*1.0"):
        F.dropout(x, 1.0)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(TypeError, match="Tensor"):
        F.relu(np.ones(3))
    with pytest.raises(TypeError, match="floating point"):
        F.sigmoid(nc.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.linear(x, t64(rng, 4, 3), t64(rng, 3))
    with pytest.raises(ValueError, match="unknown activation"):
        F.linear(x, t64(rng, 4, 3), activation="swish")
    with pytest.raises(ValueError, match="one element"):
        x.item()


def test_mlp_hessian_vector_product_through_the_fused_chain(rng):
    # the MLP is one LinearChain node; create_graph differentiates its composite
    nc.manual_seed(3)
    mlp = nc.nn.MLP([3, 4, 2], activation="tanh", dtype=np.float64)
    x = nc.tensor(rng.standard_normal((5, 3)))
    params = list(mlp.parameters())
    vs = [rng.standard_normal(p.shape) for p in params]

    def loss():
        return (mlp(x) ** 2).sum()

    grads = nc.grad(loss(), params, create_graph=True)
    hv = nc.grad(sum((g * nc.tensor(v)).sum() for g, v in zip(grads, vs)), params)

    def flat_grad():
        return np.concatenate([g.data.ravel() for g in nc.grad(loss(), params)])

    eps = 1e-6
    for p, v in zip(params, vs):
        p.data += eps * v
    plus = flat_grad()
    for p, v in zip(params, vs):
        p.data -= 2 * eps * v
    minus = flat_grad()
    for p, v in zip(params, vs):
        p.data += eps * v
    np.testing.assert_allclose(np.concatenate([h.data.ravel() for h in hv]), (plus - minus) / (2 * eps),
                               rtol=1e-5, atol=1e-7)


def test_tensor_converts_to_numpy_and_repr():
    t = nc.tensor(np.arange(3.0), requires_grad=True)
    assert np.asarray(t) is t.data and t.numpy() is t.data
    np.testing.assert_array_equal(np.asarray(t, np.float32), [0, 1, 2])
    assert repr(t) == "tensor([0., 1., 2.], dtype=float64, requires_grad=True)"
    assert "grad_fn=<MulBackward>" in repr(t * 2)


def test_empty_tensors_and_nan_propagation():
    e = nc.tensor(np.zeros((0, 3)), requires_grad=True)
    assert e.sum().item() == 0.0 and np.isnan(e.mean().item())
    (e * 2).sum().backward()
    assert e.grad.shape == (0, 3)
    x = nc.tensor(np.array([1.0, np.nan, np.inf]), requires_grad=True)
    y = F.softmax(nc.tensor(np.array([0.0, 1.0, 2.0])), axis=0)
    z = (x * y + 1).sum()
    assert np.isnan(z.item())
    z.backward()
    np.testing.assert_allclose(x.grad.data, y.data)


def test_custom_function_with_two_outputs(rng):
    class SplitScale(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g2, g3):
            return g2 * 2 + g3 * 3

    x = t64(rng, 4)
    a, b = SplitScale.apply(x)
    (a.sum() + (b * b).sum()).backward()
    np.testing.assert_allclose(x.grad.data, 2 + 3 * 2 * b.data)
    x.grad = None
    a, _ = SplitScale.apply(x)          # an unused output gets a zero gradient
    a.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2.0)


def test_independent_training_in_threads():
    # the engine keeps no global state besides the per-thread grad mode
    results = {}

    def train(seed):
        rng = np.random.default_rng(seed)
        w = nc.tensor(rng.standard_normal(3), requires_grad=True)
        x = nc.tensor(rng.standard_normal((50, 3)))
        for _ in range(50):
            w.grad = None
            ((x @ w) ** 2).mean().backward()
            w.data -= 0.1 * w.grad.data
        results[seed] = w.data.copy()

    threads = [threading.Thread(target=train, args=(s,)) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for s in range(4):
        train(s + 100)                          # the same computation, serially
        rng = np.random.default_rng(s)
        w = rng.standard_normal(3)
        x = rng.standard_normal((50, 3))
        for _ in range(50):
            w = w - 0.1 * (2 * x.T @ (x @ w) / 50)
        np.testing.assert_allclose(results[s], w, rtol=1e-10)
