"""The fused optimizer step kernels against NumPy float64 references of the
documented algorithms (tests/optim_reference.py), per ISA path and dtype,
60 steps each, on several tensors at once (the multi-tensor call)."""
import numpy as np
import pytest

import optim_reference as ref
from neurocore import kernels as K

STEPS = 60
SIZES = [1, 7, 33, 1000]
# float32 state and params drift from the float64 reference by rounding only
TOLS = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}

# (kernel name, reference, state roles in kernel order, hyperparameters)
CASES = {
    "sgd": ("sgd", {"lr": 0.05}),
    "sgd_wd_maximize": ("sgd", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    "sgd_momentum": ("sgd", {"lr": 0.05, "momentum": 0.9}),
    "sgd_dampening": ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    "sgd_nesterov": ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    # seed 000 §1.3.2: momentum as an exponential average
    "sgd_seed_average": ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.9}),
    "adagrad": ("adagrad", {"lr": 0.05}),
    "adagrad_decay": ("adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.1, "maximize": True}),
    "adagrad_seed": ("adagrad", {"lr": 0.05, "eps": 1e-3, "eps_inside_sqrt": True}),
    "rmsprop": ("rmsprop", {"lr": 0.01}),
    "rmsprop_centered": ("rmsprop", {"lr": 0.01, "centered": True, "weight_decay": 0.1}),
    "rmsprop_momentum": ("rmsprop", {"lr": 0.01, "momentum": 0.9, "maximize": True}),
    "rmsprop_all": ("rmsprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "alpha": 0.9}),
    "rmsprop_seed": ("rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-4, "eps_inside_sqrt": True}),
    "adam": ("adam", {"lr": 0.01}),
    "adam_wd_amsgrad": ("adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    "adam_maximize": ("adam", {"lr": 0.01, "maximize": True, "betas": (0.8, 0.99)}),
    "adamw": ("adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled": True}),
    "adamw_amsgrad": ("adam", {"lr": 0.01, "weight_decay": 0.05, "decoupled": True, "amsgrad": True}),
    "adam_seed": ("adam", {"lr": 0.01, "eps": 1e-6, "eps_inside_sqrt": True}),
    "lamb": ("lamb", {"lr": 0.01}),
    "lamb_wd": ("lamb", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    "lamb_seed": ("lamb", {"lr": 0.01, "eps_inside_sqrt": True, "maximize": True}),
}

ROLES = {
    "sgd": ["momentum_buffer"],
    "adagrad": ["sum"],
    "rmsprop": ["square_avg", "momentum_buffer", "grad_avg"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "lamb": ["exp_avg", "exp_avg_sq"],
}


def kernel_step(kind, params, grads, states, t, hp):
    """One multi-tensor kernel call; states: one dict of arrays per tensor."""
    hp = dict(hp)
    if "betas" in hp:
        hp["beta1"], hp["beta2"] = hp.pop("betas")
    role = lambda name: [s[name] for s in states]  # noqa: E731
    if kind == "sgd":
        fresh = [t == 1] * len(params)
        K.sgd_step(params, grads, role("momentum_buffer"), fresh=fresh, **hp)
    elif kind == "adagrad":
        K.adagrad_step(params, grads, role("sum"), t, **hp)
    elif kind == "rmsprop":
        K.rmsprop_step(params, grads, role("square_avg"), role("momentum_buffer"), role("grad_avg"), **hp)
    elif kind == "adam":
        K.adam_step(params, grads, role("exp_avg"), role("exp_avg_sq"), t, role("max_exp_avg_sq"), **hp)
    else:
        K.lamb_step(params, grads, role("exp_avg"), role("exp_avg_sq"), t, **hp)


def run_both(case, dtype, rng, sizes=SIZES, steps=STEPS, reference=True):
    kind, hp = CASES[case]
    reference = getattr(ref, kind) if reference else None
    p64 = [rng.standard_normal(n) for n in sizes]
    params = [p.astype(dtype) for p in p64]
    p64 = [p.astype(np.float64) for p in params]
    states = [{r: np.zeros(n, dtype) for r in ROLES[kind]} for n in sizes]
    ref_states = [{} for _ in sizes]
    for t in range(1, steps + 1):
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        kernel_step(kind, params, grads, states, t, hp)
        ref_hp = {k: v for k, v in hp.items() if k != "decoupled" or kind == "adam"}
        if reference is not None:
            p64 = [reference(p, g.astype(np.float64), s, t, **ref_hp) for p, g, s in zip(p64, grads, ref_states)]
    return params, p64, states, ref_states


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_matches_reference(isa, dtype, case, rng):
    params, p64, states, ref_states = run_both(case, dtype, rng)
    for p, r, s, rs in zip(params, p64, states, ref_states):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, r, **TOLS[dtype])
        for name, value in rs.items():
            np.testing.assert_allclose(s[name], value, **TOLS[dtype])


@pytest.mark.parametrize("case", ["sgd_nesterov", "adagrad", "rmsprop_all", "adamw_amsgrad", "lamb_wd"])
def test_kernel_threads_bitwise(dtype, case, threads):
    results = []
    for nt in (1, 2, 3, 6):
        threads(nt)
        # several tasks per thread, LAMB segments of one and of several tensors, and
        # (6 threads) LAMB threads past its scratch slots, which recompute r instead
        params, _, states, _ = run_both(case, dtype, np.random.default_rng(7),
                                        sizes=[600001, 3, 0, 300000, 250000], steps=2, reference=False)
        results.append((params, states))
    for params, states in results[1:]:
        for a, b in zip(params, results[0][0]):
            assert np.array_equal(a, b)
        for sa, sb in zip(states, results[0][1]):
            for name in sa:
                assert np.array_equal(sa[name], sb[name])


def test_lamb_stored_and_recomputed_r_agree(dtype, threads):
    """LAMB's pass 2 reads r from a per-thread scratch slot (4 of them);
    threads beyond recompute it: with 8 threads over 40 small tensors both
    kinds run, and every result is the single thread's, bit for bit."""
    results = []
    for nt in (1, 8):
        threads(nt)
        params, _, states, _ = run_both("lamb_wd", dtype, np.random.default_rng(3), sizes=[5003] * 40, steps=2,
                                        reference=False)
        results.append(params + [s[name] for s in states for name in s])
    for a, b in zip(*results):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("case", ["lamb_wd"])
def test_kernel_large_tensors_across_segments(isa, dtype, case, rng):
    """Tensors larger than one LAMB segment / thread task, and runs of small
    ones, against the reference (a few steps: the arrays are large)."""
    params, p64, states, _ = run_both(case, dtype, rng, sizes=[524289, 5, 262144, 262141, 9], steps=2)
    for p, r in zip(params, p64):
        np.testing.assert_allclose(p, r, **TOLS[dtype])


def test_single_array_and_empty(dtype):
    p = np.ones(5, dtype)
    m, v = np.zeros(5, dtype), np.zeros(5, dtype)
    assert K.adam_step(p, np.ones(5, dtype), m, v, 1, lr=0.1) is p
    np.testing.assert_allclose(p, 0.9, rtol=1e-6)
    empty = np.zeros(0, dtype)
    K.adam_step([empty], [empty], [empty], [empty], 1, lr=0.1)
    K.lamb_step([], [], [], [], 1, lr=0.1)
    K.sgd_step([empty, p], [empty, np.ones(5, dtype)], lr=0.5)
    np.testing.assert_allclose(p, 0.4, rtol=1e-6)


def test_lamb_zero_norms_give_ratio_one(dtype):
    p = np.zeros(4, dtype)
    g = np.array([1.0, -1.0, 2.0, 0.0], dtype)
    m, v = np.zeros(4, dtype), np.zeros(4, dtype)
    K.lamb_step(p, g, m, v, 1, lr=0.1)
    # ||p|| = 0: trust ratio 1, an Adam-like step of size lr (eps aside)
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1, 0.0], rtol=1e-5)


def test_strided_grad_and_nan_propagate(dtype):
    p = np.ones(6, dtype)
    g = np.arange(12, dtype=dtype)[::2]
    K.sgd_step(p, g, lr=0.5)
    np.testing.assert_array_equal(p, 1 - 0.5 * np.arange(0, 12, 2, dtype=dtype))
    p = np.ones(3, dtype)
    K.adam_step(p, np.array([np.nan, 1, np.inf], dtype), np.zeros(3, dtype), np.zeros(3, dtype), 1, lr=0.1)
    assert np.isnan(p[0]) and np.isfinite(p[1]) and np.isnan(p[2])


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=-1.0), "lr: -1.0"),
    (dict(lr=float("nan")), "lr: nan"),
    (dict(lr=0.1, beta1=1.0), "beta1: 1.0"),
    (dict(lr=0.1, beta2=-0.5), "beta2: -0.5"),
    (dict(lr=0.1, eps=0.0), "eps: 0.0"),
    (dict(lr=0.1, weight_decay=-0.1), "weight_decay: -0.1"),
])
def test_kernel_rejects_bad_hyperparameters(kwargs, match):
    a = [np.ones(3, np.float32) for _ in range(4)]
    with pytest.raises(ValueError, match=match):
        K.adam_step(a[0], a[1], a[2], a[3], 1, **kwargs)


def test_kernel_rejects_bad_arrays():
    f, d = np.ones(3, np.float32), np.ones(3, np.float64)
    with pytest.raises(TypeError, match=r"grads\[0\] has dtype float64 but params\[0\] has dtype float32"):
        K.sgd_step(f, d, lr=0.1)
    with pytest.raises(ValueError, match=r"exp_avgs\[0\] has shape \(2,\)"):
        K.adam_step(f, f.copy(), np.ones(2, np.float32), f.copy(), 1, lr=0.1)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        K.sgd_step(np.ones(6, np.float32)[::2], f, lr=0.1)
    with pytest.raises(ValueError, match="grads has 1 arrays but params has 2"):
        K.sgd_step([f, f.copy()], [f], lr=0.1)
    with pytest.raises(TypeError, match="int"):
        K.sgd_step(np.ones(3, np.int64), f, lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        K.adam_step(f, f.copy(), f.copy(), f.copy(), 0, lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        K.sgd_step(f, f.copy(), [f.copy()], lr=0.1, nesterov=True)
