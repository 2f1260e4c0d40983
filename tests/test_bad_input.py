"""Hostile input for every public function of neurocore.kernels (DESIGN.md,
"Bad input"): each call either works (checked against NumPy or against the
same call on clean contiguous arrays) or raises TypeError/ValueError naming
the argument, before any C runs.  Nothing may crash.

The functions are enumerated from the module, so a new kernel without a
valid-call spec below fails test_every_kernel_has_a_spec.  The whole sweep runs
first in a subprocess (test_sweep_does_not_crash) so that a segfault is
reported as a failing case instead of killing pytest; the in-process tests
then re-run each case and check its outcome.

Run as a script (``python tests/test_bad_input.py --sweep``) it prints every
case id before running it: the last id printed names a crasher.
"""
import math
import os
import subprocess
import sys

import numpy as np

import neurocore.kernels as K
from _tolerances import SAME, TOL_HOSTILE

F32 = np.float32
HELPERS = {"get_isa", "supported_isas", "set_num_threads", "get_num_threads"}


def _public_kernels():
    return sorted(n for n in dir(K) if not n.startswith("_") and callable(getattr(K, n))
                  and n not in HELPERS and not isinstance(getattr(K, n), type))


# ---- valid calls ------------------------------------------------------------
class Spec:
    """One valid call: build(m, dtype) -> kwargs (fresh arrays every time; m is
    a leading size, 0 for the empty case).  Argument roles:
      inputs   - arrays read (lists of arrays for the optimizers)
      written  - arrays written in place or `out` buffers
      optional - may be None
      free     - inputs whose shape is free (no other array constrains it)
      hyper    - real hyperparameters that must be finite
      values   - real scalars where NaN/inf may propagate (gradients)
      ints     - integer arguments, strs - string choices
      ref      - NumPy reference of the result, from the kwargs (optional)
      ok       - {(arg, mutation)} that may succeed (documented extensions)
      aliases  - {arg: the name its messages use} (PyTorch's input/target)
    """

    def __init__(self, build, inputs=(), written=(), optional=(), free=(), hyper=(),
                 values=(), ints=(), strs=(), ref=None, ok=(), aliases=None):
        self.build, self.inputs, self.written = build, tuple(inputs), tuple(written)
        self.optional, self.free, self.hyper = set(optional), set(free), tuple(hyper)
        self.values, self.ints, self.strs = tuple(values), tuple(ints), tuple(strs)
        self.ref, self.ok, self.aliases = ref, set(ok), aliases or {}


def _r(m, *shape, dtype=F32, seed=0, lo=-2.0, hi=2.0):
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    return rng.uniform(lo, hi, size=(m,) + shape).astype(dtype)


def _e(m, *shape, dtype=F32):
    return np.zeros((m,) + shape, dtype=dtype)


def _binary(op):
    return Spec(lambda m, d: dict(a=_r(m, 4, dtype=d, seed=1), b=_r(m, 4, dtype=d, seed=2, lo=0.5),
                                  out=_e(m, 4, dtype=d)),
                inputs=("a", "b"), written=("out",), optional=("out",),
                ref=lambda kw: op(kw["a"], kw["b"]))


def _unary(ref, lo=-2.0, **extra):
    kw_extra = dict(extra)

    def build(m, d):
        kw = dict(x=_r(m, 5, dtype=d, lo=lo), out=_e(m, 5, dtype=d))
        kw.update(kw_extra)
        return kw
    return Spec(build, inputs=("x",), written=("out",), optional=("out",), free=("x",),
                hyper=tuple(k for k in kw_extra if k == "negative_slope"),
                strs=tuple(k for k in kw_extra if k == "approximate"),
                ref=lambda kw: ref(kw["x"].astype(np.float64)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _opt_lists(m, d, names, nonneg=()):
    kw = {}
    for i, name in enumerate(names):
        lo = 0.0 if name in nonneg else -1.0
        kw[name] = [_r(m, 3, dtype=d, seed=10 + i, lo=lo, hi=1.0),
                    _r(m + 1, dtype=d, seed=20 + i, lo=lo, hi=1.0)]
    return kw


def _attn_fwd(m, d):
    return dict(q=_r(m, 2, 3, 4, dtype=d, seed=1), k=_r(m, 2, 5, 4, dtype=d, seed=2),
                v=_r(m, 2, 5, 6, dtype=d, seed=3), mask=np.tri(3, 5, 1, dtype=bool),
                scale=0.4, out=_e(m, 2, 3, 6, dtype=d))


def _attn_bwd(m, d):
    kw = _attn_fwd(m, d)
    out, lse = K.attention_forward(kw["q"], kw["k"], kw["v"], mask=kw["mask"], scale=0.4)
    return dict(grad_out=_r(m, 2, 3, 6, dtype=d, seed=4), q=kw["q"], k=kw["k"], v=kw["v"],
                out=out, lse=lse, mask=kw["mask"], scale=0.4, grad_q=_e(m, 2, 3, 4, dtype=d),
                grad_k=_e(m, 2, 5, 4, dtype=d), grad_v=_e(m, 2, 5, 6, dtype=d))


def _ln_bwd(m, d):
    x, w = _r(m, 5, dtype=d, seed=1), _r(5, dtype=d, seed=2)
    _, mean, rstd = K.layer_norm_forward(x, w, None)
    return dict(grad_y=_r(m, 5, dtype=d, seed=3), x=x, mean=mean, rstd=rstd, weight=w)


def _target(m):
    return (np.arange(m) * 3 % 5).astype(np.int64)


def _ce_bwd(m, d):
    logits = _r(m, 5, dtype=d, seed=1)
    _, lse = K.cross_entropy_forward(logits, _target(m))
    return dict(logits=logits, target=_target(m), lse=lse, grad_loss=0.5, label_smoothing=0.1,
                weight=_r(5, dtype=d, seed=2, lo=0.1), ignore_index=-100, out=_e(m, 5, dtype=d))


SPECS = {
    "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply),
    "div": _binary(np.divide),
    "scale": Spec(lambda m, d: dict(alpha=1.5, x=_r(m, 4, dtype=d), out=_e(m, 4, dtype=d)),
                  inputs=("x",), written=("out",), optional=("out",), free=("x",),
                  hyper=("alpha",), ref=lambda kw: 1.5 * kw["x"]),
    "axpy": Spec(lambda m, d: dict(alpha=1.5, x=_r(m, 4, dtype=d, seed=1), y=_r(m, 4, dtype=d, seed=2)),
                 inputs=("x",), written=("y",), hyper=("alpha",),
                 ref=lambda kw: 1.5 * kw["x"] + kw["y"]),
    "fma": Spec(lambda m, d: dict(a=_r(m, 4, dtype=d, seed=1), b=_r(m, 4, dtype=d, seed=2),
                                  c=_r(m, 4, dtype=d, seed=3), out=_e(m, 4, dtype=d)),
                inputs=("a", "b", "c"), written=("out",), optional=("out",),
                ref=lambda kw: kw["a"].astype(np.float64) * kw["b"] + kw["c"]),
    "sum_rows": Spec(lambda m, d: dict(x=_r(m, 4, dtype=d), out=_e(4, dtype=d)),
                     inputs=("x",), written=("out",), optional=("out",),
                     ok={("x", "other_float"), ("x", "shrunk"), ("x", "grown")},
                     ref=lambda kw: kw["x"].astype(np.float64).sum(0)),
    "activation_forward": Spec(
        lambda m, d: dict(x=_r(m, 5, dtype=d), activation="leaky_relu", negative_slope=0.2,
                          out=_e(m, 5, dtype=d)),
        inputs=("x",), written=("out",), optional=("out",), free=("x",),
        hyper=("negative_slope",), strs=("activation",),
        ref=lambda kw: np.where(kw["x"] > 0, kw["x"], 0.2 * kw["x"])),
    "activation_forward_grad": Spec(
        lambda m, d: dict(x=_r(m, 5, dtype=d), activation="leaky_relu", negative_slope=0.2,
                          out=_e(m, 5, dtype=d), derivative_out=_e(m, 5, dtype=d)),
        inputs=("x",), written=("out", "derivative_out"), optional=("out", "derivative_out"), free=("x",),
        hyper=("negative_slope",), strs=("activation",),
        ref=lambda kw: np.where(kw["x"] > 0, kw["x"], 0.2 * kw["x"])),
    "activation_backward": Spec(
        lambda m, d: dict(grad_output=_r(m, 5, dtype=d, seed=1), x=_r(m, 5, dtype=d, seed=2),
                          activation="sigmoid", negative_slope=0.2,
                          output=_sigmoid(_r(m, 5, dtype=d, seed=2)).astype(d), out=_e(m, 5, dtype=d)),
        inputs=("grad_output", "x", "output"), written=("out",), optional=("output", "out"),
        hyper=("negative_slope",), strs=("activation",),
        ref=lambda kw: kw["grad_output"] * _sigmoid(kw["x"].astype(np.float64))
        * (1 - _sigmoid(kw["x"].astype(np.float64)))),
    "sigmoid": _unary(_sigmoid), "tanh": _unary(np.tanh),
    "relu": _unary(lambda x: np.maximum(x, 0)),
    "leaky_relu": _unary(lambda x: np.where(x > 0, x, 0.3 * x), negative_slope=0.3),
    "gelu": _unary(lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
                   approximate="tanh"),
    "exp": _unary(np.exp), "log": _unary(np.log, lo=0.1),
    "erf": _unary(lambda x: np.vectorize(math.erf, otypes=[float])(x)),
    "erfc": _unary(lambda x: np.vectorize(math.erfc, otypes=[float])(x)),
    "softmax": Spec(lambda m, d: dict(x=_r(m, 5, dtype=d), out=_e(m, 5, dtype=d)),
                    inputs=("x",), written=("out",), optional=("out",), free=("x",),
                    ref=lambda kw: _softmax(kw["x"].astype(np.float64))),
    "log_softmax": Spec(lambda m, d: dict(x=_r(m, 5, dtype=d), out=_e(m, 5, dtype=d)),
                        inputs=("x",), written=("out",), optional=("out",), free=("x",),
                        ref=lambda kw: np.log(_softmax(kw["x"].astype(np.float64)))),
    "softmax_backward": Spec(
        lambda m, d: dict(output=_softmax(_r(m, 5, dtype=d, seed=1)).astype(d),
                          grad_output=_r(m, 5, dtype=d, seed=2), out=_e(m, 5, dtype=d)),
        inputs=("output", "grad_output"), written=("out",), optional=("out",),
        ref=lambda kw: kw["output"] * (kw["grad_output"] - (kw["grad_output"] * kw["output"])
                                       .astype(np.float64).sum(-1, keepdims=True))),
    "log_softmax_backward": Spec(
        lambda m, d: dict(output=np.log(_softmax(_r(m, 5, dtype=d, seed=1))).astype(d),
                          grad_output=_r(m, 5, dtype=d, seed=2), out=_e(m, 5, dtype=d)),
        inputs=("output", "grad_output"), written=("out",), optional=("out",),
        ref=lambda kw: kw["grad_output"] - np.exp(kw["output"].astype(np.float64))
        * kw["grad_output"].astype(np.float64).sum(-1, keepdims=True)),
    "matvec": Spec(lambda m, d: dict(w=_r(m, 3, dtype=d, seed=1), x=_r(3, dtype=d, seed=2),
                                     y=_r(m, dtype=d, seed=3), alpha=1.5, beta=0.5),
                   inputs=("w", "x"), written=("y",), optional=("y",), hyper=("alpha", "beta"),
                   ref=lambda kw: 1.5 * kw["w"].astype(np.float64) @ kw["x"] + 0.5 * kw["y"]),
    "outer_acc": Spec(lambda m, d: dict(g=_r(m, 3, dtype=d, seed=1), d=_r(m, dtype=d, seed=2),
                                        a=_r(3, dtype=d, seed=3), alpha=1.5),
                      inputs=("d", "a"), written=("g",), hyper=("alpha",),
                      ref=lambda kw: kw["g"] + 1.5 * np.outer(kw["d"].astype(np.float64), kw["a"])),
    "gemm": Spec(lambda m, d: dict(a=_r(m, 3, dtype=d, seed=1), b=_r(3, 5, dtype=d, seed=2),
                                   c=_r(m, 5, dtype=d, seed=3), alpha=1.5, beta=0.5,
                                   out=_e(m, 5, dtype=d)),
                 inputs=("a", "b", "c"), written=("out",), optional=("c", "out"),
                 hyper=("alpha", "beta"),
                 ref=lambda kw: 1.5 * kw["a"].astype(np.float64) @ kw["b"] + 0.5 * kw["c"]),
    "matmul": Spec(lambda m, d: dict(a=_r(m, 3, dtype=d, seed=1), b=_r(3, 5, dtype=d, seed=2),
                                     out=_e(m, 5, dtype=d)),
                   inputs=("a", "b"), written=("out",), optional=("out",),
                   ok={("a", "extra_dim"), ("b", "extra_dim"), ("b", "shrunk"), ("b", "grown")},
                   ref=lambda kw: kw["a"].astype(np.float64) @ kw["b"]),
    "linear_forward": Spec(
        lambda m, d: dict(x=_r(m, 3, 4, dtype=d, seed=1), weight=_r(5, 4, dtype=d, seed=2),
                          bias=_r(5, dtype=d, seed=3), activation="leaky_relu", negative_slope=0.2,
                          out=_e(m, 3, 5, dtype=d)),
        inputs=("x", "weight", "bias"), written=("out",), optional=("bias", "out"),
        hyper=("negative_slope",), strs=("activation",), ok={("x", "extra_dim"), ("x", "fewer_dim")},
        ref=lambda kw: (lambda z: np.where(z > 0, z, 0.2 * z))(
            kw["x"].astype(np.float64) @ kw["weight"].T + kw["bias"])),
    "linear_backward": Spec(
        lambda m, d: dict(grad_output=_r(m, 3, 5, dtype=d, seed=1), x=_r(m, 3, 4, dtype=d, seed=2),
                          weight=_r(5, 4, dtype=d, seed=3), preact=_r(m, 3, 5, dtype=d, seed=4),
                          activation="leaky_relu", negative_slope=0.2),
        inputs=("grad_output", "x", "weight", "preact"), optional=("preact",),
        hyper=("negative_slope",), strs=("activation",)),
    "sgd_step": Spec(
        lambda m, d: dict(_opt_lists(m, d, ("params", "grads", "momentum_buffers")), lr=0.1,
                          momentum=0.9, dampening=0.1, weight_decay=0.01),
        inputs=("grads",), written=("params", "momentum_buffers"), optional=("momentum_buffers",),
        hyper=("lr", "momentum", "dampening", "weight_decay")),
    "adagrad_step": Spec(
        lambda m, d: dict(_opt_lists(m, d, ("params", "grads", "state_sums"), nonneg=("state_sums",)),
                          steps=3, lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10),
        inputs=("grads",), written=("params", "state_sums"),
        hyper=("lr", "lr_decay", "weight_decay", "eps"), ints=("steps",)),
    "rmsprop_step": Spec(
        lambda m, d: dict(_opt_lists(m, d, ("params", "grads", "square_avgs", "momentum_buffers",
                                            "grad_avgs"), nonneg=("square_avgs",)),
                          lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.01, momentum=0.9,
                          centered=True),
        inputs=("grads",), written=("params", "square_avgs", "momentum_buffers", "grad_avgs"),
        optional=("momentum_buffers", "grad_avgs"),
        hyper=("lr", "alpha", "eps", "weight_decay", "momentum")),
    "adam_step": Spec(
        lambda m, d: dict(_opt_lists(m, d, ("params", "grads", "exp_avgs", "exp_avg_sqs",
                                            "max_exp_avg_sqs"),
                                     nonneg=("exp_avg_sqs", "max_exp_avg_sqs")),
                          steps=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                          amsgrad=True),
        inputs=("grads",), written=("params", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"),
        optional=("max_exp_avg_sqs",),
        hyper=("lr", "beta1", "beta2", "eps", "weight_decay"), ints=("steps",)),
    "lamb_step": Spec(
        lambda m, d: dict(_opt_lists(m, d, ("params", "grads", "exp_avgs", "exp_avg_sqs"),
                                     nonneg=("exp_avg_sqs",)),
                          steps=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01),
        inputs=("grads",), written=("params", "exp_avgs", "exp_avg_sqs"),
        hyper=("lr", "beta1", "beta2", "eps", "weight_decay"), ints=("steps",)),
    "attention_forward": Spec(_attn_fwd, inputs=("q", "k", "v", "mask"), written=("out",),
                              optional=("mask", "out", "scale"), hyper=("scale",),
                              ok={("mask", "bool"), ("mask", "other_float"), ("mask", "int64"), ("mask", "fewer_dim"), ("mask", "zero_d"),
                                  ("mask", "extra_dim"), ("v", "shrunk"), ("v", "grown")}),
    "attention_backward": Spec(_attn_bwd, inputs=("grad_out", "q", "k", "v", "out", "lse", "mask"),
                               written=("grad_q", "grad_k", "grad_v"),
                               optional=("mask", "grad_q", "grad_k", "grad_v", "scale"),
                               hyper=("scale",),
                               ok={("mask", "bool"), ("mask", "other_float"), ("mask", "int64"), ("mask", "fewer_dim"), ("mask", "zero_d"),
                                   ("mask", "extra_dim")}),
    "layer_norm_forward": Spec(
        lambda m, d: dict(x=_r(m, 5, dtype=d, seed=1), weight=_r(5, dtype=d, seed=2),
                          bias=_r(5, dtype=d, seed=3), eps=1e-5, out=_e(m, 5, dtype=d)),
        inputs=("x", "weight", "bias"), written=("out",), optional=("weight", "bias", "out"),
        hyper=("eps",), ok={("x", "extra_dim"), ("x", "fewer_dim")}),
    "layer_norm_backward": Spec(_ln_bwd, inputs=("grad_y", "x", "mean", "rstd", "weight"),
                                optional=("weight",)),
    "cross_entropy_forward": Spec(
        lambda m, d: dict(logits=_r(m, 5, dtype=d, seed=1), target=_target(m), label_smoothing=0.1,
                          weight=_r(5, dtype=d, seed=2, lo=0.1), ignore_index=-100,
                          out=_e(m, dtype=d), lse_out=_e(m, dtype=d)),
        inputs=("logits", "target", "weight"), written=("out", "lse_out"),
        optional=("weight", "out", "lse_out"), hyper=("label_smoothing",), ints=("ignore_index",),
        ok={("target", "int64"), ("target", "int32")}),
    "cross_entropy_backward": Spec(
        _ce_bwd, inputs=("logits", "target", "lse", "weight"), written=("out",),
        optional=("weight", "out", "grad_loss"), hyper=("label_smoothing",), values=("grad_loss",),
        ints=("ignore_index",),
        ok={("target", "int64"), ("target", "int32")}),
    "bce_with_logits_forward": Spec(
        lambda m, d: dict(x=_r(m, 4, dtype=d, seed=1), y=_r(m, 4, dtype=d, seed=2, lo=0.0, hi=1.0),
                          pos_weight=_r(4, dtype=d, seed=3, lo=0.5), out=_e(m, 4, dtype=d)),
        inputs=("x", "y", "pos_weight"), written=("out",), optional=("pos_weight", "out"),
        ok={("pos_weight", "zero_d"), ("pos_weight", "fewer_dim"), ("pos_weight", "extra_dim")},
        aliases={"x": "input", "y": "target"}),
    "bce_with_logits_backward": Spec(
        lambda m, d: dict(x=_r(m, 4, dtype=d, seed=1), y=_r(m, 4, dtype=d, seed=2, lo=0.0, hi=1.0),
                          grad_loss=0.5, pos_weight=_r(4, dtype=d, seed=3, lo=0.5),
                          out=_e(m, 4, dtype=d)),
        inputs=("x", "y", "pos_weight"), written=("out",), optional=("pos_weight", "out", "grad_loss"),
        values=("grad_loss",),
        ok={("pos_weight", "zero_d"), ("pos_weight", "fewer_dim"), ("pos_weight", "extra_dim")},
        aliases={"x": "input", "y": "target"}),
}


# ---- hostile mutations of one argument ------------------------------------------
def _neg_stride(a):
    if a.ndim == 0:
        return a
    return np.ascontiguousarray(a[..., ::-1])[..., ::-1]


def _strided(a):
    if a.ndim == 0:
        return a
    buf = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    buf[..., ::2] = a
    return buf[..., ::2]


def _misaligned(a):
    """The same values at an address that is not a multiple of the item size."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _native(a):
    return a.astype(a.dtype.newbyteorder("=")) if not a.dtype.isnative else a


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _other_float(a):
    return a.astype(np.float64 if a.dtype == np.float32 else np.float32)


ARRAY_MUTATIONS = {
    # must raise (TypeError/ValueError naming the argument) unless spec.ok says otherwise
    "int64": lambda a: a.astype(np.int64), "int32": lambda a: a.astype(np.int32),
    "bool": lambda a: a.astype(bool), "complex": lambda a: a.astype(np.complex128),
    "object": lambda a: a.astype(object), "float16": lambda a: a.astype(np.float16),
    "other_float": _other_float,
    "list": lambda a: a.tolist(), "none": lambda a: None, "str": lambda a: "abc",
    "zero_d": lambda a: np.array(1, dtype=a.dtype),
    "extra_dim": lambda a: a[None].repeat(2, 0), "fewer_dim": lambda a: a.reshape(-1)[:1].reshape(()) if a.ndim == 1 else a[0],
    "shrunk": lambda a: a[..., :-1] if a.ndim and a.shape[-1] else a[..., None],
    "grown": lambda a: np.concatenate([a, a[..., :1]], -1) if a.ndim else a[None],
    # must work and match the clean call (inputs); outputs may also refuse
    "neg_stride": _neg_stride, "strided": _strided, "fortran": np.asfortranarray,
    "neg_lead": lambda a: np.ascontiguousarray(a[::-1])[::-1] if a.ndim else a,
    "broadcast": lambda a: np.broadcast_to(a[:1], a.shape) if a.ndim else a,
    "misaligned": _misaligned,
    "swapped": lambda a: a.astype(a.dtype.newbyteorder("S")),      # the same values, other byte order
    # outputs only: must refuse
    "readonly": _readonly,
}
MUST_WORK = {"neg_stride", "strided", "fortran", "neg_lead", "broadcast", "misaligned", "swapped"}
MISMATCH = {"other_float", "zero_d", "extra_dim", "fewer_dim", "shrunk", "grown"}
SCALAR_MUTATIONS = {
    "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "np_nan": np.float32("nan"),
    "str": "1.0", "complex": 1 + 1j, "none": None, "huge_int": 10**400, "list": [1.0],
    "array": np.ones(3),
}
INT_MUTATIONS = {"float": 1.5, "str": "3", "none": None, "huge": 2**70, "zero": 0, "neg": -5,
                 "array": np.ones(3)}
STR_MUTATIONS = {"bogus": "bogus", "none": None, "int": 3, "upper": "RELU"}


OUT_NAMES = ("out", "lse_out", "grad_q", "grad_k", "grad_v")


def _apply(value, fn):
    """Apply a mutation to an array, or to the first array of a list of arrays."""
    if isinstance(value, list):
        return [fn(value[0])] + [v.copy() for v in value[1:]]
    return fn(value)


def _cases(name):
    """Every hostile case of one function: (case_id, arg, kind, builder)."""
    spec = SPECS[name]
    out = []
    for arg in spec.inputs + spec.written:
        muts = dict(ARRAY_MUTATIONS)
        if arg not in spec.written:
            del muts["readonly"]
        for mut, fn in muts.items():
            def build(clean=False, arg=arg, fn=fn):
                kw = spec.build(3, F32)
                if arg not in spec.written:
                    # check the input itself, not its agreement with an out buffer
                    for w in OUT_NAMES:
                        if w in kw and w in spec.written:
                            kw[w] = None
                if kw.get(arg) is None:
                    return None
                # the clean twin of a must-work case: the same values, contiguous, native order
                kw[arg] = _apply(kw[arg], (lambda a: _native(np.ascontiguousarray(fn(a)))) if clean else fn)
                return kw
            out.append((f"{name}:{arg}:{mut}", arg, mut, build))
    for group, muts in ((spec.hyper, SCALAR_MUTATIONS), (spec.values, SCALAR_MUTATIONS),
                        (spec.ints, INT_MUTATIONS), (spec.strs, STR_MUTATIONS)):
        for arg in group:
            for mut, val in muts.items():
                def build(clean=False, arg=arg, val=val):
                    kw = spec.build(3, F32)
                    if not clean:
                        kw[arg] = val
                    return kw
                out.append((f"{name}:{arg}:{mut}", arg, mut, build))
    return out


def _outcome(fn, kw):
    try:
        return "ok", fn(**kw)
    except Exception as e:  # noqa: BLE001 - the type is what is checked
        return "raise", e


def _snapshot(result, kw):
    """Arrays to compare between two calls: the result and every list/array argument."""
    arrays = []
    for r in (result if isinstance(result, tuple) else (result,)):
        if isinstance(r, np.ndarray):
            arrays.append(np.array(r))
        elif isinstance(r, list):
            arrays += [np.array(x) for x in r]
    for k in sorted(kw):
        v = kw[k]
        if isinstance(v, list):
            arrays += [np.array(x) for x in v]
        elif isinstance(v, np.ndarray):
            arrays.append(np.array(v))
    return arrays


def _check_case(name, arg, mut, build):
    """None if the case behaves, else a description of what went wrong."""
    spec = SPECS[name]
    fn = getattr(K, name)
    kw = build()
    if kw is None:
        return None
    kind, res = _outcome(fn, kw)
    if kind == "raise":
        if not isinstance(res, (TypeError, ValueError)):
            return f"{type(res).__name__}: {res}"
        named = [arg, spec.aliases.get(arg, arg)]
        if mut in MISMATCH:     # a disagreement between two arrays may name either
            named += [k for k, v in kw.items() if isinstance(v, (np.ndarray, list))]
        if not any(n in str(res) for n in named):
            return f"{type(res).__name__} does not name {arg!r}: {res}"
    may_work = (mut in MUST_WORK or (mut == "none" and arg in spec.optional) or (arg, mut) in spec.ok
                or (mut == "none" and arg in spec.optional)
                or (arg in spec.free and mut in ("other_float", "zero_d", "extra_dim", "fewer_dim", "shrunk", "grown"))
                or (arg in spec.values and mut in ("nan", "inf", "-inf", "np_nan", "array"))
                or (arg in spec.ints and mut in ("zero", "neg", "huge") and arg == "ignore_index"))
    if kind == "ok" and not may_work:
        return f"accepted silently (returned {type(res).__name__})"
    if kind == "raise" and mut in MUST_WORK and arg not in spec.written:
        return f"must work for a {mut} input, raised {type(res).__name__}: {res}"
    if kind == "ok" and mut in MUST_WORK:
        clean = build(clean=True)
        ref = fn(**clean)
        got, want = _snapshot(res, kw), _snapshot(ref, clean)
        for g, w in zip(got, want):
            if g.shape != w.shape or not np.allclose(g, w, equal_nan=True, **SAME):
                return f"{mut} result differs from the contiguous call"
    return None


def all_cases():
    return [(name,) + c for name in sorted(SPECS) for c in _cases(name)]


# ---- the subprocess crash sweep ----------------------------------------------------
def _sweep(exclude):
    for name, cid, arg, mut, build in all_cases():
        if cid in exclude:
            continue
        print("CASE", cid, flush=True)
        _check_case(name, arg, mut, build)
    print("DONE", flush=True)


_CRASHED = None


def crashed_cases():
    """Ids of the cases that kill the process, found by re-running the sweep in
    a subprocess past each crash (cached for the session)."""
    global _CRASHED
    if _CRASHED is None:
        _CRASHED = {}
        for _ in range(20):
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--sweep",
                                   ",".join(_CRASHED)], capture_output=True, text=True, timeout=300)
            lines = proc.stdout.split("\n")
            if proc.returncode == 0 and "DONE" in lines:
                break
            last = [ln for ln in lines if ln.startswith("CASE ")]
            if not last:
                _CRASHED["<startup>"] = proc.stderr[-2000:]
                break
            _CRASHED[last[-1][5:]] = f"rc={proc.returncode} {proc.stderr[-500:]}"
    return _CRASHED


# ---- tests ----------------------------------------------------------------------------
import pytest  # noqa: E402


def test_every_kernel_has_a_spec():
    missing = [n for n in _public_kernels() if n not in SPECS]
    assert not missing, f"add a valid-call spec to tests/test_bad_input.py for {missing}"
    stale = [n for n in SPECS if n not in _public_kernels()]
    assert not stale, f"specs for functions that are gone: {stale}"


def test_sweep_does_not_crash():
    crashed = crashed_cases()
    assert not crashed, f"hostile calls that crash the process: {crashed}"


@pytest.mark.parametrize("isa", [i for i in K.supported_isas() if i != K.get_isa()])
def test_sweep_does_not_crash_on_other_isas(isa):
    """The same sweep on every other ISA path (NEUROCORE_ISA), in a subprocess."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--sweep", ""],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, NEUROCORE_ISA=isa))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[-1:] == ["DONE"], \
        f"{isa}: crashed (rc={proc.returncode}) at {lines[-1:]}: {proc.stderr[-1000:]}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hostile_arguments(name):
    crashed = crashed_cases()
    bad = []
    for cid, arg, mut, build in _cases(name):
        if cid in crashed:
            bad.append(f"{cid}: CRASHES the process ({crashed[cid]})")
            continue
        err = _check_case(name, arg, mut, build)
        if err:
            bad.append(f"{cid}: {err}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_clean_call_matches_numpy(name, dtype):
    spec = SPECS[name]
    kw = spec.build(3, dtype)
    res = getattr(K, name)(**kw)
    if spec.ref is not None:
        kw2 = spec.build(3, dtype)
        want = spec.ref(kw2)
        got = res if isinstance(res, np.ndarray) else kw[spec.written[0]]
        tol = TOL_HOSTILE[dtype]
        np.testing.assert_allclose(got, want, **tol)
        assert got.dtype == dtype


@pytest.mark.parametrize("name", sorted(SPECS))
def test_empty_arrays_work(name):
    spec = SPECS[name]
    kw = spec.build(0, np.float32)
    res = getattr(K, name)(**kw)
    for r in (res if isinstance(res, tuple) else (res,)):
        if isinstance(r, np.ndarray):
            assert r.dtype == np.float32
    if spec.ref is not None:
        want = spec.ref(spec.build(0, np.float32))
        got = res if isinstance(res, np.ndarray) else kw[spec.written[0]]
        assert got.shape == np.shape(want)


if __name__ == "__main__" and "--sweep" in sys.argv:
    excl = sys.argv[sys.argv.index("--sweep") + 1] if len(sys.argv) > sys.argv.index("--sweep") + 1 else ""
    _sweep(set(filter(None, excl.split(","))))


# ---- huge broadcast views: a clean error or bounded work, never terabytes ------------
_HUGE_SCRIPT = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
sys.path.insert(0, {tests!r})
import numpy as np
from numpy.lib.stride_tricks import as_strided
import test_bad_input as T

K = T.K
for name in sorted(T.SPECS):
    spec = T.SPECS[name]
    for arg in spec.inputs + spec.written:
        kw = spec.build(3, T.F32)
        if kw.get(arg) is None:
            continue
        a = kw[arg][0] if isinstance(kw[arg], list) else kw[arg]
        shape = (2**40,) + a.shape[1:] if a.ndim else (2**40,)
        huge = as_strided(np.zeros(1, a.dtype), shape=shape, strides=(0,) * len(shape))
        kw[arg] = [huge] + kw[arg][1:] if isinstance(kw[arg], list) else huge
        print("CASE", name, arg, flush=True)
        try:
            getattr(K, name)(**kw)
            print("BAD", name, arg, "accepted a (2**40, ...) view", flush=True)
        except (TypeError, ValueError, MemoryError):
            pass
        except Exception as e:
            print("BAD", name, arg, type(e).__name__, e, flush=True)
print("DONE", flush=True)
"""


def test_huge_broadcast_views_fail_cleanly():
    """A (2**40, ...) zero-stride view of one element, as each array argument in
    turn, under a 6 GiB address-space limit: TypeError/ValueError/MemoryError,
    no crash, no hang, no attempt to touch terabytes."""
    script = _HUGE_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and "DONE" in lines, \
        f"crashed (rc={proc.returncode}) after {lines[-1:]}: {proc.stderr[-1500:]}"
    bad = [ln for ln in lines if ln.startswith("BAD")]
    assert not bad, "\n".join(bad)


def test_class_indices_out_of_range():
    logits = _r(3, 5)
    for t in ([0, 5, 1], [0, -1, 1], [0, -101, 1], [0, 2**40, 1]):
        target = np.array(t, dtype=np.int64)
        with pytest.raises((ValueError, IndexError), match="target"):
            K.cross_entropy_forward(logits, target)
        lse = np.zeros(3, np.float32)
        with pytest.raises((ValueError, IndexError), match="target"):
            K.cross_entropy_backward(logits, target, lse)
    # ignore_index rows are skipped, not indexed
    loss, _ = K.cross_entropy_forward(logits, np.array([0, 7, 1]), ignore_index=7)
    assert loss[1] == 0.0


def test_mask_dtype_never_mixes():
    kw = _attn_fwd(1, np.float32)
    with pytest.raises(TypeError, match="mask"):
        K.attention_forward(kw["q"], kw["k"], kw["v"], mask=np.zeros((3, 5)))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "exp", "log", "erf", "erfc",
                                  "softmax", "log_softmax", "gelu", "leaky_relu"])
def test_nan_inf_inputs_propagate(name):
    x = np.array([[np.nan, 1.0, -np.inf, np.inf, 0.0]], np.float32)
    y = getattr(K, name)(x)
    assert y.shape == x.shape
    assert np.isnan(y[0, 0])        # NaN in, NaN out (softmax: the whole row)


def test_concurrent_python_threads():
    """The kernels release the GIL: several Python threads calling them at once
    get the same results as one thread, and nothing crashes."""
    import threading
    names = ["matmul", "linear_forward", "softmax", "attention_forward", "layer_norm_forward",
             "cross_entropy_forward", "adam_step", "gelu"]
    want = {}
    for n in names:
        kw = SPECS[n].build(3, F32)
        want[n] = _snapshot(getattr(K, n)(**kw), kw)
    errors = []

    def work():
        try:
            for _ in range(30):
                for n in names:
                    kw = SPECS[n].build(3, F32)
                    got = _snapshot(getattr(K, n)(**kw), kw)
                    for g, w in zip(got, want[n]):
                        np.testing.assert_array_equal(g, w)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_output_aliasing_an_input(name):
    """An out buffer that IS one of the inputs (same shape and dtype): either
    the right result (as with a separate buffer holding the same values) or a
    ValueError saying they overlap."""
    spec = SPECS[name]
    fn = getattr(K, name)
    for w in spec.written:
        for a in spec.inputs:
            kw = spec.build(3, F32)
            if not isinstance(kw.get(w), np.ndarray) or not isinstance(kw.get(a), np.ndarray):
                continue
            if kw[w].shape != kw[a].shape or kw[w].dtype != kw[a].dtype:
                continue
            clean = spec.build(3, F32)
            clean[w] = clean[a].copy()
            want = _snapshot(fn(**clean), {})
            kw[w] = kw[a]
            try:
                got = _snapshot(fn(**kw), {})
            except ValueError as e:
                assert w in str(e) and a in str(e), e
                continue
            for g, x in zip(got, want):
                np.testing.assert_allclose(g, x, err_msg=f"{w}={a}", **SAME)


def test_sgd_fresh_must_be_a_sequence():
    kw = SPECS["sgd_step"].build(3, F32)
    with pytest.raises(TypeError, match="fresh"):
        K.sgd_step(**kw, fresh=5)
    with pytest.raises(ValueError, match="fresh"):
        K.sgd_step(**kw, fresh=[True])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_output_partially_overlapping_an_input(name):
    """An output (or in/out) buffer sharing one element with an input in one
    buffer: the right result or a ValueError naming both (PyTorch refuses
    it too)."""
    spec = SPECS[name]
    fn = getattr(K, name)

    def copies(kw):
        return {k: (np.array(v) if isinstance(v, np.ndarray) else
                    [np.array(x) for x in v] if isinstance(v, list) else v) for k, v in kw.items()}

    for w in spec.written:
        for a in spec.inputs:
            kw = spec.build(3, F32)
            if not isinstance(kw.get(w), np.ndarray) or not isinstance(kw.get(a), np.ndarray):
                continue
            if kw[w].dtype != kw[a].dtype or kw[a].size == 0 or kw[w].size == 0:
                continue
            na, nw = kw[a].size, kw[w].size
            for start in sorted({1, na - 1}):       # w from a's second or last element on
                kw = spec.build(3, F32)
                buf = np.zeros(max(na, start + nw), kw[a].dtype)
                wview = buf[start:start + nw].reshape(kw[w].shape)
                wview[...] = kw[w]
                aview = buf[:na].reshape(kw[a].shape)
                aview[...] = kw[a]
                kw[w], kw[a] = wview, aview
                want = _snapshot(fn(**copies(kw)), {})
                try:
                    got = _snapshot(fn(**kw), {})
                except ValueError as e:
                    assert w in str(e) and (a in str(e) or spec.aliases.get(a, a) in str(e)), e
                    continue
                for g, x in zip(got, want):
                    np.testing.assert_allclose(g, x, err_msg=f"{w} overlapping {a} from element {start}",
                                               **SAME)
