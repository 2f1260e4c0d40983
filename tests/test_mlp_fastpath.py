"""The MLP training step's compiled pieces (one-call LinearChain, plain
cross-entropy, the engine's scalar backward) against the per-layer and
general routes: same values and gradients, and every awkward argument either
handled like the canonical one or refused with an error that names it."""
import numpy as np
import pytest

import neurocore as nc
from neurocore import _kernels
from neurocore import functional as F
from neurocore.functional import _ops
from conftest import TOL

ACTS = ["relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh", "identity"]


def _params(sizes, dtype, rng, bias=True):
    out = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        out.append((rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype))
        out.append(rng.standard_normal(o).astype(dtype) if bias else None)
    return out


def _reference(x, params, acts, slope):
    """Layer by layer through the public per-layer kernels (float64 oracle path)."""
    inputs, saved, h = [], [], x
    for i, act in enumerate(acts):
        inputs.append(h)
        h, z = _ops._linear_forward(h, params[2 * i], params[2 * i + 1], act, slope)
        saved.append((z, h))
    return h, inputs, saved


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch", [1, 5])
def test_chain_matches_layer_by_layer(act, batch, dtype, rng):
    sizes = [6, 7, 5, 3]
    acts = (act, act, "identity")
    params = _params(sizes, dtype, rng, bias=(act != "tanh"))
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y, inputs, saved = _kernels._linear_chain_forward(x, params, acts, 0.1, True)
    y_ref, inputs_ref, saved_ref = _reference(x, params, acts, 0.1)
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    assert y.dtype == dtype and len(inputs) == len(saved) == 3
    g = rng.standard_normal(y.shape).astype(dtype)
    needs = (True,) + (True,) * 6
    grads = _kernels._linear_chain_backward(g, inputs, params, saved, acts, 0.1, needs)
    gd = g
    for i in range(2, -1, -1):
        preact, output = saved_ref[i]
        gx, gw, gb = _ops._linear_backward(gd, inputs_ref[i], params[2 * i], params[2 * i + 1] is not None,
                                           preact, output, acts[i], 0.1, True, True)
        np.testing.assert_allclose(grads[1 + 2 * i], gw, **TOL[dtype])
        if params[2 * i + 1] is None:
            assert grads[2 + 2 * i] is None
        else:
            np.testing.assert_allclose(grads[2 + 2 * i], gb, **TOL[dtype])
        gd = gx
    np.testing.assert_allclose(grads[0], gd, **TOL[dtype])


def test_chain_skips_unneeded_gradients(rng):
    params = _params([4, 3, 2], np.float32, rng)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    y, inputs, saved = _kernels._linear_chain_forward(x, params, ("relu", "identity"), 0.01, True)
    g = np.ones_like(y)
    grads = _kernels._linear_chain_backward(g, inputs, params, saved, ("relu", "identity"), 0.01,
                                            (False, True, False, False, True))
    assert grads[0] is None and grads[2] is None and grads[3] is None
    assert grads[1].shape == (3, 4) and grads[4].shape == (2,)


def test_chain_under_no_grad_keeps_nothing(rng):
    params = _params([4, 3, 2], np.float64, rng)
    x = rng.standard_normal((2, 4))
    y, inputs, saved = _kernels._linear_chain_forward(x, params, ("gelu", "identity"), 0.01, False)
    assert inputs == [] and saved == []
    np.testing.assert_allclose(y, _reference(x, params, ("gelu", "identity"), 0.01)[0], **TOL[np.float64])


@pytest.mark.parametrize("case", ["strided_x", "swapped", "3d_x", "1d_x", "strided_weight"])
def test_chain_handles_any_layout_and_rank(case, rng):
    """A strided or byte-swapped array is copied once; an input of any rank
    (..., in) runs as rows: the same result and gradients as the canonical call."""
    params = _params([4, 3, 2], np.float32, rng)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) if case == "3d_x" else \
        rng.standard_normal((2, 4)).astype(np.float32)
    if case == "1d_x":
        x = x[0]
    acts = ("gelu", "identity")
    canonical = x.reshape(-1, 4)
    y_ref, inputs_ref, saved_ref = _kernels._linear_chain_forward(canonical, params, acts, 0.01, True)
    g = rng.standard_normal(x.shape[:-1] + (2,)).astype(np.float32)
    grads_ref = _kernels._linear_chain_backward(g.reshape(-1, 2), inputs_ref, params, saved_ref, acts, 0.01,
                                                (True,) * 5)
    if case == "strided_x":
        x = np.asfortranarray(x)
    elif case == "swapped":
        x = x.astype(x.dtype.newbyteorder())
    elif case == "strided_weight":
        params[0] = np.asfortranarray(params[0])
    y, inputs, saved = _kernels._linear_chain_forward(x, params, acts, 0.01, True)
    assert y.shape == x.shape[:-1] + (2,) and y.dtype == np.float32
    np.testing.assert_array_equal(y, y_ref.reshape(y.shape))
    grads = _kernels._linear_chain_backward(g, inputs, params, saved, acts, 0.01, (True,) * 5)
    assert grads[0].shape == x.shape
    np.testing.assert_array_equal(grads[0], grads_ref[0].reshape(x.shape))
    for a, b in zip(grads[1:], grads_ref[1:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case, error, words", [
    ("mixed_dtype", TypeError, "do not mix"),
    ("int_x", TypeError, "floating point"),
    ("bad_shape", ValueError, "weight 1"),
    ("bad_x", ValueError, "input of shape"),
    ("bad_bias", ValueError, "bias must have shape"),
    ("bad_act", ValueError, "activations[1]"),
    ("no_layer", ValueError, "at least one layer"),
    ("nan_slope", ValueError, "negative_slope"),
])
def test_chain_refuses_what_it_cannot_run(case, error, words, rng):
    params = _params([4, 3, 2], np.float32, rng)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    acts, slope = ("relu", "identity"), 0.01
    if case == "mixed_dtype":
        params[2] = params[2].astype(np.float64)
    elif case == "int_x":
        x = x.astype(np.int64)
    elif case == "bad_shape":
        params[2] = params[2][:, :2].copy()
    elif case == "bad_x":
        x = x[:, :3]
    elif case == "bad_bias":
        params[1] = params[1][:2]
    elif case == "bad_act":
        acts = ("relu", "swish")
    elif case == "no_layer":
        params, acts = [], ()
    else:
        slope = float("nan")
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        _kernels._linear_chain_forward(x, params, acts, slope, True)


def test_chain_of_many_layers(rng):
    """More layers than any fixed-size table would hold."""
    n = 70
    params = _params([3] * (n + 1), np.float64, rng)
    acts = ("tanh",) * n
    x = rng.standard_normal((2, 3))
    y, inputs, saved = _kernels._linear_chain_forward(x, params, acts, 0.01, True)
    np.testing.assert_allclose(y, _reference(x, params, acts, 0.01)[0], **TOL[np.float64])
    grads = _kernels._linear_chain_backward(np.ones_like(y), inputs, params, saved, acts, 0.01,
                                            (True,) * (2 * n + 1))
    assert len(grads) == 2 * n + 1 and all(g is not None for g in grads)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_grad", [False, True])
def test_mlp_runs_as_one_linear_chain(x_grad, bias, dtype, rng):
    """nn.MLP's forward is one LinearChain node over its layers' current
    params: the same output, node and gradients as LinearChain.apply
    called by hand, with and without biases, and a weight replaced after
    the first call is the one used."""
    mlp = nc.nn.MLP([4, 5, 3], activation="leaky_relu", bias=bias, dtype=dtype)
    linears = [m for m in mlp if isinstance(m, nc.nn.Linear)]
    x = nc.tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=x_grad)
    mlp(x)
    linears[1].weight = nc.nn.Parameter(rng.standard_normal((3, 5)).astype(dtype))
    params = [p for m in linears for p in (m.weight, m.bias)]
    results = []
    for run in ("module", "by hand"):
        mlp.zero_grad()
        x.grad = None
        if run == "module":
            y = mlp(x)
        else:
            y = _ops.LinearChain.apply(x, *params, activations=("leaky_relu", "identity"), slope=0.01)
        assert type(y.grad_fn) is _ops.LinearChain
        assert y.grad_fn.needs_input_grad == (x_grad,) + (True, bias) * 2
        (y * y).sum().backward()
        results.append([y.numpy()] + [p.grad.numpy() for p in params if p is not None]
                       + ([x.grad.numpy()] if x_grad else []))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_mlp_chain_under_no_grad_and_bad_input(rng):
    mlp = nc.nn.MLP([4, 3, 2])
    x = rng.standard_normal((2, 4)).astype(np.float32)
    with nc.no_grad():
        y = mlp(nc.tensor(x))
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(TypeError, match="must be a neurocore Tensor, got ndarray"):
        mlp(x)
    with pytest.raises(TypeError, match="do not mix"):
        mlp(nc.tensor(x.astype(np.float64)))
    # a strided input: copied once, the same result
    np.testing.assert_array_equal(mlp(nc.tensor(np.asfortranarray(x))).numpy(), mlp(nc.tensor(x)).numpy())


def test_mlp_on_batched_sequences_matches_layer_by_layer(rng):
    """An (B, T, in) input through nn.MLP: the same outputs and gradients as
    the layers applied one by one (and create_graph works through it)."""
    nc.manual_seed(4)
    model = nc.nn.MLP([4, 5, 3], activation="gelu", dtype=np.float64)
    x = nc.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    y = model(x)
    h = x
    for m in model:
        h = m(h)
    assert y.shape == h.shape == (2, 3, 3)
    np.testing.assert_allclose(y.numpy(), h.numpy(), **TOL[np.float64])
    (gx,) = nc.grad((y * y).sum(), [x], create_graph=True)
    (gx_ref,) = nc.grad((h * h).sum(), [x], create_graph=True)
    np.testing.assert_allclose(gx.numpy(), gx_ref.numpy(), **TOL[np.float64])
    # second order through the chain
    (ggx,) = nc.grad(gx.sum(), [x])
    (ggx_ref,) = nc.grad(gx_ref.sum(), [x])
    np.testing.assert_allclose(ggx.numpy(), ggx_ref.numpy(), rtol=1e-10, atol=1e-12)


def test_mlp_on_a_strided_input_trains_like_on_a_contiguous_one(rng):
    """A strided input is copied once: same loss and gradients."""
    nc.manual_seed(3)
    model = nc.nn.MLP([4, 5, 3])
    x = rng.standard_normal((4, 6)).astype(np.float32)[:, :4]       # not C-contiguous
    y = np.array([0, 2, 1, 2])
    grads = []
    for data in (x, np.ascontiguousarray(x)):
        model.zero_grad()
        loss = F.cross_entropy(model(nc.tensor(data)), y)
        loss.backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()] + [loss.item()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ---- plain cross-entropy --------------------------------------------------------------

def _ce_general(logits, target, reduction, ignore_index=-100):
    """The general op (class weights of one change nothing but the route)."""
    return F.cross_entropy(logits, target, weight=np.ones(logits.shape[1], logits.dtype), reduction=reduction,
                           ignore_index=ignore_index)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_plain_cross_entropy_matches_general_route(reduction, dtype, rng):
    z = rng.standard_normal((7, 5)).astype(dtype)
    t = rng.integers(0, 5, 7)
    t[2] = -100
    losses, grads = [], []
    for fn in (F.cross_entropy, _ce_general):
        zt = nc.tensor(z, requires_grad=True)
        loss = fn(zt, t, reduction=reduction)
        loss.backward()
        losses.append(loss.item())
        grads.append(zt.grad.numpy())
    assert losses[0] == pytest.approx(losses[1], rel=TOL[dtype]["rtol"] * 10)
    np.testing.assert_allclose(grads[0], grads[1], **TOL[dtype])
    # float64 reference: mean over the 6 kept rows of lse - z_t
    z64 = z.astype(np.float64)
    lse = np.log(np.exp(z64 - z64.max(1, keepdims=True)).sum(1)) + z64.max(1)
    keep = t != -100
    per_row = (lse - z64[np.arange(7), np.where(keep, t, 0)])[keep]
    expected = per_row.mean() if reduction == "mean" else per_row.sum()
    assert losses[0] == pytest.approx(expected, rel=1e-5 if dtype == np.float32 else 1e-12)


def test_plain_cross_entropy_all_ignored_mean_is_nan():
    z = nc.tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    loss = F.cross_entropy(z, np.full(3, -100))
    assert np.isnan(loss.item())
    loss.backward()
    assert (z.grad.numpy() == 0).all()          # ignored rows get no gradient


def test_plain_cross_entropy_rejects_out_of_range_targets_with_the_same_message():
    z = nc.tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"target holds class indices outside \[0, 4\): \[4, 7\]"):
        F.cross_entropy(z, np.array([0, 4, 7]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(z, np.array([0, 1, 2]), reduction="avg")


def test_plain_cross_entropy_case_and_checks():
    """The plain case is chosen by the arguments' kinds (2-D float logits,
    1-D integer targets); within it, every layout works and bad values raise."""
    z = np.zeros((3, 4), np.float32)
    case = _kernels._cross_entropy_plain_case
    assert case(z, np.array([0, 1, 2])) and case(z, np.array([0, 1, 2], np.int32))
    assert not case(z[0], np.array([0])) and not case(z, z) and not case(z, np.array([0.0, 1.0, 2.0]))
    assert not case(z.astype(np.int64), np.array([0, 1, 2])) and not case(z, [0, 1, 2])
    loss, lse, count, t = _kernels._cross_entropy_plain(z, np.array([0, -100, 2]), -100, True)
    assert count == 2 and loss.shape == () and lse.shape == (3,) and t.dtype == np.int64
    assert loss.item() == pytest.approx(np.log(4), rel=1e-6)
    # an int32, strided or byte-swapped target, strided logits: converted once, same result
    for zz, tt in ((z, np.array([0, -100, 2], np.int32)), (z, np.array([0, 9, -100, 7, 2])[::2]),
                   (z, np.array([0, -100, 2]).astype(">i8")), (np.zeros((3, 8), np.float32)[:, ::2],
                                                               np.array([0, -100, 2]))):
        got = _kernels._cross_entropy_plain(zz, tt, -100, True)
        assert got[2] == 2 and got[0].item() == loss.item()
        np.testing.assert_array_equal(got[1], lse)
    # an ignore_index beyond int64 ignores nothing
    assert _kernels._cross_entropy_plain(z, np.array([0, 1, 2]), 1 << 70, True)[2] == 3
    with pytest.raises(ValueError, match=r"outside \[0, 4\): \[4, 9\]"):
        _kernels._cross_entropy_plain(z, np.array([0, 9, 4]), -100, True)
    with pytest.raises(ValueError, match=r"outside \[0, 4\): \[-100\]"):
        _kernels._cross_entropy_plain(z, np.array([0, -100, 2]), 1 << 70, True)
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        _kernels._cross_entropy_plain(z, np.array([0, 1]), -100, True)
    with pytest.raises(ValueError, match=r"outside \[0, 4\): \[9\]"):
        _kernels._cross_entropy_plain_backward(z, np.array([0, 1, 9]), lse, -100, 1.0)
    with pytest.raises(ValueError, match="lse must have shape"):
        _kernels._cross_entropy_plain_backward(z, np.array([0, 1, 2]), lse[:2], -100, 1.0)


def test_plain_cross_entropy_create_graph_matches_general(rng):
    z = nc.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    t = np.array([1, 0, 4, 2])
    grads = []
    for fn in (F.cross_entropy, _ce_general):
        (g,) = nc.grad(fn(z, t, reduction="mean"), [z], create_graph=True)
        (gg,) = nc.grad((g * g).sum(), [z])
        grads.append((g.numpy(), gg.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, **TOL[np.float64])


# ---- engine ---------------------------------------------------------------------------

def test_scalar_backward_accumulates_and_frees_like_the_general_engine(rng):
    a = nc.tensor(rng.standard_normal(3), requires_grad=True)
    for _ in range(2):                       # second call accumulates into .grad
        (a * a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 4 * a.numpy(), rtol=1e-12)
    y = (a * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    y = (a * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(a.grad.numpy(), 4 * a.numpy() + 6, rtol=1e-12)


def test_shared_gradient_array_gives_each_leaf_its_own_grad(rng):
    a = nc.tensor(np.ones(3), requires_grad=True)
    b = nc.tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()                 # add's backward hands one array to both
    a.grad.data[0] = 5
    assert b.grad.numpy()[0] == 1
