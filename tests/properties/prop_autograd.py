"""Properties of the differentiable layer on generated input: functional
ops and losses against float64 NumPy references (forward) and central
differences (backward, nc.autograd.gradcheck); every module's float32
forward and gradients against the same module in float64; optimizer
classes against the float64 reference updates, with strided parameters.
Run by tests/test_properties.py in a subprocess."""
import math

import numpy as np
from hypothesis import assume, given, strategies as st

import neurocore as nc
import neurocore.functional as F
import optim_reference as R
from _strategies import FLOATS, OTHER_DTYPES, as_other_dtype, check_close, float_arrays, shapes

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(x):
    z = x - x.max(-1, keepdims=True, initial=-np.inf)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


OPS = {
    "sigmoid": (F.sigmoid, _sigmoid),
    "tanh": (F.tanh, np.tanh),
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "gelu": (F.gelu, lambda x: x * 0.5 * _erfc(-x / math.sqrt(2))),
    "softmax": (lambda t: F.softmax(t, -1), lambda x: np.exp(_log_softmax(x))),
    "log_softmax": (lambda t: F.log_softmax(t, -1), _log_softmax),
    "layer_norm": (lambda t: F.layer_norm(t, (t.shape[-1],)),
                   lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)),
    "exp": (lambda t: t.exp(), np.exp),
    "square_sum": (lambda t: (t * t).sum(), lambda x: np.sum(x * x)),
    "mean_T": (lambda t: t.T.mean(), lambda x: np.sum(x.T) / x.size if x.size else np.nan),
}
SMOOTH = {"sigmoid", "tanh", "gelu", "softmax", "log_softmax", "layer_norm", "exp", "square_sum", "mean_T"}


@given(data=st.data(), op=st.sampled_from(list(OPS)))
def test_functional_forward(data, op):
    shape = data.draw(shapes(1, 3).filter(lambda s: s[-1] > 0 or op not in ("layer_norm",)), "shape")
    x = data.draw(float_arrays(shape=shape, special=False, lo=-8, hi=8), "x")
    fn, ref = OPS[op]
    got = fn(nc.tensor(x)).data
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    eps = np.finfo(x.dtype).eps
    atol = 64 * eps * max(1.0, float(np.max(np.abs(x), initial=0))) if op in ("layer_norm", "log_softmax") else None
    rtol = 64 * eps if op in ("square_sum", "mean_T") else None
    check_close(got, want, x.dtype, atol=atol, rtol=rtol, what=op)


@given(data=st.data(), op=st.sampled_from(sorted(SMOOTH)))
def test_functional_gradcheck(data, op):
    shape = data.draw(shapes(1, 2).filter(lambda s: 0 < np.prod(s) <= 24 and s[-1] > 1), "shape")
    x = data.draw(float_arrays(shape=shape, dtype=np.float64, special=False, lo=-3, hi=3), "x")
    if op == "layer_norm":                  # ill-conditioned for nearly constant rows
        assume(np.min(np.std(x, axis=-1)) > 0.1)
    t = nc.tensor(x, requires_grad=True)
    assert nc.autograd.gradcheck(OPS[op][0], (t,), eps=1e-6, atol=1e-5, rtol=1e-4)


LOSSES = {
    "mse_loss": lambda p, y: np.mean((p - y) ** 2),
    "l1_loss": lambda p, y: np.mean(np.abs(p - y)),
    "huber_loss": lambda p, y: np.mean(np.where(np.abs(p - y) < 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5)),
    "smooth_l1_loss": lambda p, y: np.mean(np.where(np.abs(p - y) < 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5)),
    "binary_cross_entropy_with_logits": lambda p, y: np.mean(np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))),
}


@given(data=st.data(), loss=st.sampled_from(list(LOSSES)), reduction=st.sampled_from(["mean", "sum"]))
def test_losses(data, loss, reduction):
    shape = data.draw(shapes(1, 2).filter(lambda s: np.prod(s) > 0), "shape")
    dtype = data.draw(st.sampled_from(FLOATS), "dtype")
    p = data.draw(float_arrays(shape=shape, dtype=dtype, special=False, lo=-5, hi=5), "input")
    lo = 0.0 if "cross_entropy" in loss else -5.0
    y = data.draw(float_arrays(shape=shape, dtype=dtype, special=False, lo=lo, hi=1.0), "target")
    got = getattr(F, loss)(nc.tensor(p), nc.tensor(y), reduction=reduction).data
    want = LOSSES[loss](p.astype(np.float64), y.astype(np.float64))
    if reduction == "sum":
        want = want * p.size
    eps = np.finfo(dtype).eps
    check_close(got, want, dtype, rtol=64 * eps, atol=64 * eps * p.size, what=loss)
    if dtype == np.float64 and loss not in ("l1_loss", "huber_loss", "smooth_l1_loss"):
        tp = nc.tensor(p, requires_grad=True)
        assert nc.autograd.gradcheck(lambda t: getattr(F, loss)(t, nc.tensor(y), reduction=reduction), (tp,),
                                     eps=1e-6, atol=1e-5, rtol=1e-4)


@given(data=st.data())
def test_cross_entropy(data):
    m, n = data.draw(st.tuples(st.integers(1, 6), st.integers(1, 9)), "shape")
    dtype = data.draw(st.sampled_from(FLOATS), "dtype")
    z = data.draw(float_arrays(shape=(m, n), dtype=dtype, special=False, lo=-20, hi=20), "logits")
    target = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    smoothing = data.draw(st.sampled_from([0.0, 0.1]), "label_smoothing")
    got = F.cross_entropy(nc.tensor(z), target, label_smoothing=smoothing).data
    ls = _log_softmax(z.astype(np.float64))
    q = np.full((m, n), smoothing / n)
    q[np.arange(m), target] += 1 - smoothing
    want = -np.mean(np.sum(q * ls, -1))
    eps = np.finfo(dtype).eps
    check_close(got, want, dtype, rtol=64 * eps, atol=64 * eps * 20, what="cross_entropy")


def _modules(dim, dtype):
    return {
        "linear": lambda: nc.nn.Linear(dim, 3, dtype=dtype),
        "mlp_gelu": lambda: nc.nn.MLP([dim, 5, 2], activation="gelu", dtype=dtype),
        "mlp_tanh": lambda: nc.nn.MLP([dim, 4, 3], activation="tanh", dtype=dtype),
        "layer_norm": lambda: nc.nn.LayerNorm(dim, dtype=dtype),
        "attention": lambda: nc.nn.MultiHeadSelfAttention(dim, 2, dtype=dtype),
        "block": lambda: nc.nn.TransformerEncoderBlock(dim, 2, mlp_ratio=2.0, dtype=dtype),
    }


@given(data=st.data(), name=st.sampled_from(sorted(_modules(4, np.float32))))
def test_module_forward_backward_f32_against_f64(data, name):
    dim = data.draw(st.sampled_from([2, 4, 6]), "dim")
    lead = data.draw(st.sampled_from([(1, 3), (2, 5), (2, 1)] if name in ("attention", "block") else
                                     [(1,), (3,), (7,), (2, 3)]), "leading shape")
    x = data.draw(float_arrays(shape=lead + (dim,), dtype=np.float64, special=False, lo=-3, hi=3), "x")
    nc.manual_seed(data.draw(st.integers(0, 100), "seed"))
    m64 = _modules(dim, np.float64)[name]()
    m32 = _modules(dim, np.float32)[name]()
    m32.load_state_dict({k: v.astype(np.float32) for k, v in m64.state_dict().items()})
    outs = {}
    for tag, model, dt in (("f64", m64, np.float64), ("f32", m32, np.float32)):
        xt = nc.tensor(x.astype(dt), requires_grad=True)
        y = model(xt)
        (y * y).sum().backward()
        outs[tag] = (y.data, xt.grad.data, {k: p.grad.data for k, p in model.named_parameters()})
    y64, gx64, gp64 = outs["f64"]
    y32, gx32, gp32 = outs["f32"]
    # float32 against float64 of the same weights: the float32 rounding of
    # the weights and each op's eps, amplified by the depth of the graph
    tol = dict(rtol=2e-3, atol=2e-3 * max(1.0, float(np.max(np.abs(y64), initial=0))))
    np.testing.assert_allclose(y32, y64, **tol)
    scale = max(1.0, float(np.max(np.abs(gx64), initial=0)))
    np.testing.assert_allclose(gx32, gx64, rtol=5e-3, atol=5e-3 * scale)
    for k in gp64:
        s = max(1.0, float(np.max(np.abs(gp64[k]), initial=0)))
        np.testing.assert_allclose(gp32[k], gp64[k], rtol=5e-3, atol=5e-3 * s, err_msg=k)


@given(data=st.data(), name=st.sampled_from(["linear", "mlp_gelu", "layer_norm", "attention"]))
def test_module_gradcheck(data, name):
    dim = data.draw(st.sampled_from([2, 4] if name == "attention" else [2, 3]), "dim")
    lead = (1, 3) if name == "attention" else data.draw(st.sampled_from([(1,), (2,)]), "leading shape")
    x = data.draw(float_arrays(shape=lead + (dim,), dtype=np.float64, special=False, lo=-2, hi=2), "x")
    if name == "layer_norm":
        assume(np.min(np.std(x, axis=-1)) > 0.1)
    nc.manual_seed(3)
    model = _modules(dim, np.float64)[name]()
    xt = nc.tensor(x, requires_grad=True)
    assert nc.autograd.gradcheck(lambda t: model(t), (xt,), eps=1e-6, atol=1e-5, rtol=1e-4)


@given(data=st.data(), opt=st.sampled_from(["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "LAMB"]),
       layout=st.sampled_from(["c", "transposed", "sliced"]))
def test_optimizer_classes_on_strided_params(data, opt, layout):
    """Two steps of an optimizer class on parameters whose data is a strided
    view: the update lands in the caller's array, equal to the reference."""
    dtype = data.draw(st.sampled_from(FLOATS), "dtype")
    shape = data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9)), "shape")
    p0 = data.draw(float_arrays(shape=shape, dtype=dtype, special=False, lo=-2, hi=2, layouts=("c",)), "param")
    if layout == "transposed":
        held = np.ascontiguousarray(p0.T).T
    elif layout == "sliced":
        big = np.zeros((shape[0], 2 * shape[1]), dtype)
        big[:, ::2] = p0
        held = big[:, ::2]
    else:
        held = p0.copy()
    param = nc.nn.Parameter(held)
    param.data = held                      # keep the strided view itself
    kwargs = {"SGD": dict(lr=0.1, momentum=0.9), "Adagrad": dict(lr=0.1), "RMSprop": dict(lr=0.01),
              "Adam": dict(lr=0.01), "AdamW": dict(lr=0.01, weight_decay=0.1), "LAMB": dict(lr=0.01)}[opt]
    optimizer = getattr(nc.optim, opt)([param], **kwargs)
    ref_fn = {"SGD": R.sgd, "Adagrad": R.adagrad, "RMSprop": R.rmsprop, "Adam": R.adam, "AdamW": R.adam,
              "LAMB": R.lamb}[opt]
    ref_kwargs = dict(kwargs, decoupled=True) if opt == "AdamW" else dict(kwargs)
    if opt == "AdamW":
        ref_kwargs.setdefault("weight_decay", 1e-2)
    lr = ref_kwargs.pop("lr")
    p_ref, state = p0.astype(np.float64), {}
    for t in (1, 2):
        g = data.draw(float_arrays(shape=shape, dtype=dtype, special=False, lo=-2, hi=2), f"grad{t}")
        param.grad = nc.tensor(np.ascontiguousarray(g))
        optimizer.step()
        p_ref = ref_fn(p_ref, g.astype(np.float64), state, t, lr, **ref_kwargs)
    eps = np.finfo(dtype).eps
    check_close(param.data, p_ref, dtype, rtol=256 * eps, atol=256 * eps, what=opt)
    check_close(held, p_ref, dtype, rtol=256 * eps, atol=256 * eps, what=f"{opt} (caller's view)")


@given(data=st.data(), dtype=st.sampled_from(OTHER_DTYPES), layer=st.sampled_from(["linear", "mlp_gelu", "layer_norm"]))
def test_modules_on_other_input_dtypes(data, dtype, layer):
    """A float32 module fed float16, int, bool or big-endian data: a
    big-endian float32 input works (nc.tensor holds native data) and equals
    the native input's result; anything else raises TypeError/ValueError
    saying which dtypes met."""
    x64 = data.draw(float_arrays(shape=(3, 4), dtype=np.float64, special=False, lo=-3, hi=3), "x")
    x = as_other_dtype(x64, dtype)
    nc.manual_seed(1)
    model = _modules(4, np.float32)[layer]()
    try:
        got = model(nc.tensor(x)).data
    except (TypeError, ValueError) as exc:
        assert str(np.dtype(dtype.newbyteorder("=")).name) in str(exc) or "dtype" in str(exc), str(exc)
        assert dtype.newbyteorder("=") != np.float32, f"{dtype} refused: {exc}"
        return
    assert dtype.newbyteorder("=") == np.float32, f"{layer} accepted {dtype}"
    want = model(nc.tensor(x.astype(np.float32))).data
    assert got.dtype == np.float32 and np.array_equal(got, want)
