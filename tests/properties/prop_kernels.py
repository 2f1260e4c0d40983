"""Properties of the neurocore.kernels entry points on generated input:
every call equals a NumPy float64 reference within the tolerance table, or
raises TypeError/ValueError naming the argument.  Run by
tests/test_properties.py in a subprocess, so a crash is a failure."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import optim_reference as R
from neurocore import _kernels, kernels as K
from _strategies import (FLOATS, OTHER_DTYPES, as_other_dtype, check_close, check_error_names,
                         float_arrays, shapes)
from test_activation import SLOPE, ref_derivative, ref_forward

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
ACTIVATIONS = ["identity", "relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh"]
ISAS = K.supported_isas()


@pytest.fixture(autouse=True)
def _restore_isa():
    previous = _kernels.get_isa()
    yield
    _kernels._set_isa(previous)


def _on_isa(isa):
    """Each example draws its ISA path, so one example budget covers them all."""
    _kernels._set_isa(isa)


isas = st.sampled_from(ISAS)


def _act_ref(x, activation):
    with np.errstate(all="ignore"):
        y = ref_forward(x, activation)
    x = np.asarray(x, np.float64)
    if activation == "relu":                     # NaN propagates, as in PyTorch
        y = np.where(np.isnan(x), x, y)
    if activation in ("gelu", "gelu_tanh"):      # the limits where the formula is inf * 0
        y = np.where(np.isposinf(x), np.inf, np.where(np.isneginf(x), -0.0, y))
    return y


def _act_deriv(x, activation):
    with np.errstate(all="ignore"):
        d = ref_derivative(x, activation)
    x = np.asarray(x, np.float64)
    if activation in ("gelu", "gelu_tanh"):      # saturated: 0 below, 1 above
        d = np.where(np.abs(x) > 1e4, (x > 0).astype(np.float64), d)
    if activation == "tanh":
        d = np.where(np.isinf(x), 0.0, d)
    return d


MATH = {"exp": np.exp, "log": np.log, "erf": _erf, "erfc": _erfc}


@given(x=float_arrays(), activation=st.sampled_from(ACTIVATIONS + list(MATH)), isa=isas)
def test_unary_forward(x, activation, isa):
    _on_isa(isa)
    if activation in MATH:
        got = getattr(K, activation)(x)
        with np.errstate(all="ignore"):
            ref = MATH[activation](x.astype(np.float64))
    else:
        got = K.activation_forward(x, activation, negative_slope=SLOPE)
        ref = _act_ref(x, activation)
    check_close(got, ref, x.dtype, what=activation)


@given(data=st.data(), activation=st.sampled_from(ACTIVATIONS), isa=isas)
def test_activation_backward(data, activation, isa):
    _on_isa(isa)
    x = data.draw(float_arrays(), "x")
    g = data.draw(float_arrays(shape=x.shape, dtype=x.dtype, special=False), "grad_output")
    got = K.activation_backward(g, x, activation, negative_slope=SLOPE)
    with np.errstate(all="ignore"):
        ref = g.astype(np.float64) * _act_deriv(x, activation)
    check_close(got, ref, x.dtype, what=f"{activation}'")


def _softmax_ref(x, log):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=-1, keepdims=True) if x.shape[-1] else 0.0
        z = x - m
        lse = np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
        return z - lse if log else np.exp(z - lse)


@given(x=float_arrays(), log=st.booleans(), isa=isas)
def test_softmax(x, log, isa):
    _on_isa(isa)
    got = (K.log_softmax if log else K.softmax)(x)
    # a float32 row of large finite values loses its digits in z = x - max
    scale = np.max(np.abs(np.nan_to_num(x.astype(np.float64), posinf=0, neginf=0)), initial=1.0)
    eps = np.finfo(x.dtype).eps
    check_close(got, _softmax_ref(x, log), x.dtype, atol=8 * eps * max(1.0, scale) if log else None,
                what="log_softmax" if log else "softmax")


@given(data=st.data(), op=st.sampled_from(["add", "sub", "mul", "div"]), isa=isas)
def test_binary(data, op, isa):
    _on_isa(isa)
    a = data.draw(float_arrays(), "a")
    b = data.draw(float_arrays(shape=a.shape, dtype=a.dtype), "b")
    got = getattr(K, op)(a, b)
    with np.errstate(all="ignore"):
        ref = getattr(np, {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}[op])(
            a.astype(np.float64), b.astype(np.float64))
    check_close(got, ref, a.dtype, what=op)


def _gemm_bound(a, b, dtype):
    """|error| bound of a float product: k eps (|a| @ |b|), elementwise."""
    k = a.shape[-1]
    return 2 * (k + 2) * np.finfo(dtype).eps * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))


@st.composite
def _matmul_operands(draw, special=False):
    m, k, n = draw(st.tuples(*[st.sampled_from([0, 1, 2, 3, 5, 8, 13, 17, 33])] * 3))
    dtype = draw(st.sampled_from(FLOATS))
    a = draw(float_arrays(shape=(m, k), dtype=dtype, special=special, lo=-4, hi=4), "a")
    b = draw(float_arrays(shape=(k, n), dtype=dtype, special=special, lo=-4, hi=4), "b")
    return a, b


@given(ab=_matmul_operands(), isa=isas)
def test_matmul_gemm_linear(ab, isa):
    _on_isa(isa)
    a, b = ab
    ref = a.astype(np.float64) @ b.astype(np.float64)
    bound = _gemm_bound(a, b, a.dtype)
    for name, got in (("matmul", K.matmul(a, b)), ("gemm", K.gemm(a, b.T, trans_b=True)),
                      ("linear_forward", K.linear_forward(a, b.T))):
        assert got.shape == ref.shape and got.dtype == a.dtype, name
        assert np.all(np.abs(got - ref) <= bound + np.finfo(a.dtype).tiny), name
    if a.shape[0]:
        y = K.matvec(b.T, a[0])
        assert np.all(np.abs(y - ref[0]) <= bound[0] + np.finfo(a.dtype).tiny), "matvec"


@given(ab=_matmul_operands(special=True), isa=isas)
def test_matmul_special_values(ab, isa):
    """With NaN/inf operands: wherever the float64 product is NaN the result
    is NaN (an inf or NaN is never lost), and finite rows/columns of finite
    operands stay within the bound."""
    _on_isa(isa)
    a, b = ab
    with np.errstate(all="ignore"):
        ref = a.astype(np.float64) @ b.astype(np.float64)
        bound = _gemm_bound(a, b, a.dtype)
    got = K.matmul(a, b)
    assert np.all(np.isnan(got[np.isnan(ref)]))
    rows = np.all(np.isfinite(a) & (np.abs(a) < 1e15), axis=1)
    cols = np.all(np.isfinite(b) & (np.abs(b) < 1e15), axis=0)
    sel = np.ix_(rows, cols)
    with np.errstate(invalid="ignore"):
        assert np.all(np.abs(got[sel] - ref[sel]) <= bound[sel] + np.finfo(a.dtype).tiny)


@given(data=st.data(), affine=st.booleans(), isa=isas)
def test_layer_norm_forward(data, affine, isa):
    _on_isa(isa)
    x = data.draw(float_arrays(special=False), "x")
    c = x.shape[-1]
    w = data.draw(float_arrays(shape=(c,), dtype=x.dtype, special=False, lo=-3, hi=3), "w") if affine else None
    b = data.draw(float_arrays(shape=(c,), dtype=x.dtype, special=False, lo=-3, hi=3), "b") if affine else None
    y, mean, rstd = K.layer_norm_forward(x, w, b, eps=1e-5)
    assert y.shape == x.shape and mean.shape == rstd.shape == x.shape[:-1]
    if c == 0:                              # empty rows: an empty result
        return
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        mu = x64.mean(-1, keepdims=True)
        var = ((x64 - mu) ** 2).mean(-1, keepdims=True)
        rs = 1 / np.sqrt(var + 1e-5)
        ref = (x64 - mu) * rs
        if affine:
            ref = ref * w + b
        # float rounding of the mean costs eps |x| / std in xhat
        scale = np.max(np.abs(x64), axis=-1, keepdims=True, initial=0) * rs
        wmax = np.max(np.abs(w), initial=1.0) if affine else 1.0
    eps = np.finfo(x.dtype).eps
    err = np.abs(y.astype(np.float64) - ref)
    assert np.all(err <= 64 * eps * (1 + scale) * wmax + 1e-6 * (x.dtype == np.float32)), float(err.max())
    check_close(mean, mu[..., 0], x.dtype, what="mean")


@given(data=st.data(), isa=isas)
def test_cross_entropy_and_bce(data, isa):
    _on_isa(isa)
    logits = data.draw(float_arrays(shape=data.draw(st.tuples(st.sampled_from([0, 1, 3, 9]),
                                                              st.sampled_from([1, 2, 5, 17]))),
                                    special=False), "logits")
    m, n = logits.shape
    target = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    loss, lse = K.cross_entropy_forward(logits, target)
    z = logits.astype(np.float64)
    ref_lse = np.log(np.sum(np.exp(z - z.max(-1, keepdims=True)), -1)) + z.max(-1) if m else np.zeros(0)
    ref = ref_lse - z[np.arange(m), target] if m else np.zeros(0)
    scale = max(1.0, float(np.max(np.abs(z), initial=0)))
    check_close(loss, ref, logits.dtype, atol=16 * np.finfo(logits.dtype).eps * scale, what="cross_entropy")
    y = data.draw(float_arrays(shape=logits.shape, dtype=logits.dtype, special=False, lo=0, hi=1), "y")
    got = K.bce_with_logits_forward(logits, y)
    ref = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    check_close(got, ref, logits.dtype, atol=16 * np.finfo(logits.dtype).eps * scale, what="bce")


@given(data=st.data(), opt=st.sampled_from(["sgd", "adagrad", "rmsprop", "adam", "lamb"]), isa=isas)
def test_optimizer_steps(data, opt, isa):
    _on_isa(isa)
    dtype = data.draw(st.sampled_from(FLOATS), "dtype")
    n_tensors = data.draw(st.integers(1, 3), "n")
    params, grads = [], []
    for i in range(n_tensors):
        shape = data.draw(shapes(1, 2), f"shape{i}")
        params.append(np.ascontiguousarray(data.draw(float_arrays(shape=shape, dtype=dtype, special=False,
                                                                  lo=-3, hi=3, layouts=("c",)))))
        grads.append(data.draw(float_arrays(shape=shape, dtype=dtype, special=False, lo=-3, hi=3)))
    lr = data.draw(st.sampled_from([1e-3, 0.1, 1.0]), "lr")
    wd = data.draw(st.sampled_from([0.0, 0.01]), "weight_decay")
    refs = []
    for p, g in zip(params, grads):
        state = {}
        p64, g64 = p.astype(np.float64), g.astype(np.float64)
        if opt == "sgd":
            refs.append(R.sgd(p64, g64, state, 1, lr, momentum=0.9, weight_decay=wd))
        elif opt == "adagrad":
            refs.append(R.adagrad(p64, g64, state, 1, lr, weight_decay=wd))
        elif opt == "rmsprop":
            refs.append(R.rmsprop(p64, g64, state, 1, lr, weight_decay=wd))
        elif opt == "adam":
            refs.append(R.adam(p64, g64, state, 1, lr, weight_decay=wd))
        else:
            refs.append(R.lamb(p64, g64, state, 1, lr, weight_decay=wd))
    zeros = [np.zeros_like(p) for p in params]
    if opt == "sgd":
        K.sgd_step(params, grads, [z.copy() for z in zeros], lr=lr, momentum=0.9, weight_decay=wd,
                   fresh=[True] * n_tensors)
    elif opt == "adagrad":
        K.adagrad_step(params, grads, [z.copy() for z in zeros], 1, lr=lr, weight_decay=wd)
    elif opt == "rmsprop":
        K.rmsprop_step(params, grads, [z.copy() for z in zeros], lr=lr, weight_decay=wd)
    elif opt == "adam":
        K.adam_step(params, grads, [z.copy() for z in zeros], [z.copy() for z in zeros], 1, lr=lr,
                    weight_decay=wd)
    else:
        K.lamb_step(params, grads, [z.copy() for z in zeros], [z.copy() for z in zeros], 1, lr=lr,
                    weight_decay=wd)
    eps = np.finfo(dtype).eps
    for p, ref in zip(params, refs):
        # a first Adam step divides g by ~|g|: rounding of tiny |g| is relative
        check_close(p, ref, dtype, rtol=64 * eps, atol=64 * eps * (1 + 3 * lr), what=opt)


def _ones_like_float(x):
    return np.zeros(x.shape, x.dtype if x.dtype.kind == "f" else np.float32)


# label: (the argument a bad dtype must be named as, call, float64 reference)
CALLS = {
    "relu": ("x", lambda x: K.relu(x), lambda x: np.maximum(x, 0)),
    "exp": ("x", lambda x: K.exp(x), np.exp),
    "softmax": ("x", lambda x: K.softmax(x), lambda x: _softmax_ref(x, False)),
    "matmul": ("a", lambda x: K.matmul(x, np.ones((x.shape[-1], 2), np.float32)),
               lambda x: x @ np.ones((x.shape[-1], 2))),
    "bce": ("x", lambda x: K.bce_with_logits_forward(x, _ones_like_float(x)),
            lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))),
}


@given(data=st.data(), label=st.sampled_from(list(CALLS)), dtype=st.sampled_from(OTHER_DTYPES))
def test_other_dtypes_work_or_name_the_argument(data, label, dtype):
    base = data.draw(float_arrays(shape=data.draw(shapes(1, 2)), dtype=np.float64))
    x = as_other_dtype(base, dtype)
    arg, call, reference = CALLS[label]
    try:
        got = call(x)
    except (TypeError, ValueError) as exc:
        # the bad array, or (mixed dtypes) the other one it was compared with
        check_error_names(exc, [arg, "b"] if label == "matmul" else [arg])
        return
    # accepted: only a float in non-native byte order may be (one converted copy)
    assert dtype.kind == "f" and not dtype.isnative, f"{label}: {dtype} accepted"
    with np.errstate(all="ignore"):
        ref = reference(x.astype(np.float64))
    native = dtype.newbyteorder("=")
    if label == "matmul":
        bound = 2 * (x.shape[-1] + 2) * np.finfo(native).eps * (np.abs(x.astype(np.float64)) @ np.ones((x.shape[-1], 2)))
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(ref)
            assert np.all(np.abs(got[finite] - ref[finite]) <= bound[finite] + np.finfo(native).tiny)
    else:
        check_close(got, ref, native, what=label)
