"""nc.optim and nc.nn.utils clipping: every optimizer and option against the
NumPy float64 references of tests/optim_reference.py (60 steps), the seeds'
variants, param groups, state_dict round trips, zero_grad, closures and bad
hyperparameters."""
import copy

import numpy as np
import pytest

import neurocore as nc
import optim_reference as ref
from neurocore import optim

from _tolerances import TOL_OPTIM

STEPS = 60
SHAPES = [(3, 4), (7,), (1,), (50, 9)]
TOLS = TOL_OPTIM


def make_param(array):
    return nc.nn.Parameter(array)


def set_grad(p, g):
    p.grad = nc.tensor(g)


# (class, constructor kwargs, reference, reference kwargs)
CASES = {
    "sgd": (optim.SGD, dict(lr=0.05), ref.sgd, {}),
    "sgd_momentum_wd": (optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01), ref.sgd, {}),
    "sgd_dampening_maximize": (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2, maximize=True), ref.sgd, {}),
    "sgd_nesterov": (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), ref.sgd, {}),
    "adagrad": (optim.Adagrad, dict(lr=0.05), ref.adagrad, {}),
    "adagrad_all": (optim.Adagrad, dict(lr=0.05, lr_decay=0.02, weight_decay=0.1, initial_accumulator_value=0.5,
                                        maximize=True), ref.adagrad, {}),
    "rmsprop": (optim.RMSprop, dict(lr=0.01), ref.rmsprop, {}),
    "rmsprop_centered_momentum": (optim.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.7, centered=True,
                                                      weight_decay=0.05), ref.rmsprop, {}),
    "adam": (optim.Adam, dict(lr=0.01), ref.adam, {}),
    "adam_amsgrad_wd": (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True), ref.adam, {}),
    "adam_maximize": (optim.Adam, dict(lr=0.01, maximize=True), ref.adam, {}),
    "adamw": (optim.AdamW, dict(lr=0.01), ref.adam, dict(weight_decay=1e-2, decoupled=True)),
    "adamw_amsgrad": (optim.AdamW, dict(lr=0.01, weight_decay=0.2, amsgrad=True), ref.adam, dict(decoupled=True)),
    "lamb": (optim.LAMB, dict(lr=0.01), ref.lamb, {}),
    "lamb_wd": (optim.LAMB, dict(lr=0.01, weight_decay=0.1, betas=(0.85, 0.98)), ref.lamb, {}),
    # the seeds' variants (seed 000 §1.3), reached by arguments
    "seed_momentum_average": (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.9), ref.sgd, {}),
    "seed_adagrad": (optim.Adagrad, dict(lr=0.05, eps=1e-4, eps_inside_sqrt=True), ref.adagrad, {}),
    "seed_rmsprop": (optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-4, eps_inside_sqrt=True), ref.rmsprop, {}),
    "seed_adam": (optim.Adam, dict(lr=0.01, eps=1e-6, eps_inside_sqrt=True), ref.adam, {}),
    "seed_adamw": (optim.AdamW, dict(lr=0.01, weight_decay=0.1, eps=1e-6, eps_inside_sqrt=True), ref.adam,
                   dict(decoupled=True)),
    "seed_lamb": (optim.LAMB, dict(lr=0.01, eps=1e-6, eps_inside_sqrt=True), ref.lamb, {}),
}

def reference_kwargs(kwargs, extra):
    return dict(kwargs, **extra)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_optimizer_matches_reference(case, dtype, rng):
    cls, kwargs, reference, extra = CASES[case]
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    params = [make_param(a.copy()) for a in arrays]
    data_refs = [p.data for p in params]
    # two groups: the second with its own lr
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] * 0.5}], **kwargs)
    ref_params = [a.astype(np.float64) for a in arrays]
    ref_states = [{} for _ in arrays]
    ref_kw = reference_kwargs(kwargs, extra)
    for t in range(1, STEPS + 1):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        for p, g in zip(params, grads):
            set_grad(p, g)
        opt.step()
        for i in range(len(arrays)):
            kw = dict(ref_kw, lr=ref_kw["lr"] * (0.5 if i >= 2 else 1.0))
            ref_params[i] = reference(ref_params[i], grads[i].astype(np.float64), ref_states[i], t, **kw)
    for p, data, r in zip(params, data_refs, ref_params):
        assert p.data is data, "the optimizer must update .data in place"
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, r, **TOLS[dtype])


@pytest.mark.parametrize("case", ["sgd_nesterov", "adagrad_all", "rmsprop_centered_momentum", "adam_amsgrad_wd",
                                  "adamw", "lamb_wd"])
def test_state_dict_round_trip_is_bit_identical(case, rng):
    cls, kwargs, _, _ = CASES[case]
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(10)]
    a = [make_param(x.copy()) for x in arrays]
    opt_a = cls([{"params": a[:3]}, {"params": a[3:], "lr": 0.003}], **kwargs)
    for step in grads[:5]:
        for p, g in zip(a, step):
            set_grad(p, g)
        opt_a.step()
    sd = copy.deepcopy(opt_a.state_dict())
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1, 2], [3]]
    assert sd["param_groups"][1]["lr"] == 0.003
    assert set(sd["state"]) == {0, 1, 2, 3}
    b = [make_param(p.data.copy()) for p in a]
    opt_b = cls([{"params": b[:3]}, {"params": b[3:]}], **kwargs)
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[1]["lr"] == 0.003
    for step in grads[5:]:
        for pa, pb, g in zip(a, b, step):
            set_grad(pa, g)
            set_grad(pb, g.copy())
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_layout_like_pytorch(rng):
    p = make_param(np.ones(3))
    opt = optim.Adam([p], amsgrad=True)
    set_grad(p, np.ones(3))
    opt.step()
    opt.step()
    state = opt.state_dict()["state"][0]
    assert state["step"] == 2
    assert set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert opt.state[p] is state
    group = opt.state_dict()["param_groups"][0]
    assert group["lr"] == 1e-3 and group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8
    assert optim.AdamW([make_param(np.ones(1))]).defaults["weight_decay"] == 1e-2
    assert set(optim.Adagrad([p]).state[p]) == {"step", "sum"}
    sgd = optim.SGD([p], lr=0.1)
    sgd.step()
    assert sgd.state_dict()["state"] == {}  # no momentum: no state, as in PyTorch


def test_load_state_dict_rejects_mismatch():
    opt = optim.SGD([make_param(np.ones(2)), make_param(np.ones(2))], lr=0.1)
    other = optim.SGD([make_param(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())


def test_grad_none_skipped_and_steps_per_param():
    p, q = make_param(np.ones(2)), make_param(np.ones(2))
    opt = optim.Adam([p, q], lr=0.1)
    set_grad(p, np.ones(2))
    opt.step()
    np.testing.assert_array_equal(q.data, np.ones(2))
    set_grad(q, np.ones(2))
    opt.step()
    assert opt.state[p]["step"] == 2 and opt.state[q]["step"] == 1
    # q's first step is a full Adam step of size lr (bias corrections of t = 1)
    np.testing.assert_allclose(q.data, 0.9, rtol=1e-6)


def test_zero_grad_and_closure():
    p = make_param(np.ones(2, np.float32))
    opt = optim.SGD([p], lr=0.5)
    set_grad(p, np.ones(2, np.float32))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    opt.zero_grad()
    assert p.grad is None

    def closure():
        set_grad(p, np.full(2, 2.0, np.float32))
        return 7.0

    assert opt.step(closure) == 7.0
    np.testing.assert_array_equal(p.data, 0.0)
    assert opt.step() is None


def test_noncontiguous_param_and_mixed_dtypes():
    base = np.ones((4, 4))
    view = make_param(base.T)  # a non-contiguous view: updated through
    p32 = make_param(np.ones(3, np.float32))
    opt = optim.SGD([view, p32], lr=0.5)
    set_grad(view, np.ones((4, 4)))
    set_grad(p32, np.ones(3, np.float32))
    opt.step()
    np.testing.assert_array_equal(base, 0.5)
    np.testing.assert_array_equal(p32.data, np.float32(0.5))
    assert p32.data.dtype == np.float32


def test_grad_dtype_and_shape_checked():
    p = make_param(np.ones(3, np.float32))
    opt = optim.Adam([p])
    # Tensor.grad's setter checks; a gradient's .data replaced later is checked again here
    set_grad(p, np.ones(3, np.float32))
    p.grad.data = np.ones(3, np.float64)
    with pytest.raises(TypeError, match="float64.*float32"):
        opt.step()
    p.grad.data = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        opt.step()


def test_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    p = make_param(np.ones(2))
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


@pytest.mark.parametrize("cls,kwargs,match", [
    (optim.SGD, dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (optim.SGD, dict(lr=float("nan")), "Invalid learning rate: nan"),
    (optim.SGD, dict(lr=0.1, momentum=-1.0), "Invalid momentum value: -1.0"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (optim.Adam, dict(betas=(0.9, float("nan"))), "Invalid beta parameter at index 1: nan"),
    (optim.AdamW, dict(eps=0.0), "Invalid epsilon value: 0.0"),
    (optim.AdamW, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (optim.AdamW, dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    (optim.LAMB, dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    (optim.LAMB, dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    (optim.Adagrad, dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (optim.Adagrad, dict(eps=0), "Invalid epsilon value: 0"),
    (optim.RMSprop, dict(alpha=1.5), "Invalid alpha value: 1.5"),
    (optim.RMSprop, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
])
def test_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([make_param(np.ones(2))], **kwargs)


def test_bad_lr_set_later_is_rejected_at_step():
    p = make_param(np.ones(2))
    opt = optim.Adam([p])
    set_grad(p, np.ones(2))
    opt.param_groups[0]["lr"] = float("inf")
    with pytest.raises(ValueError, match="Invalid learning rate: inf"):
        opt.step()
    np.testing.assert_array_equal(p.data, 1.0)


# ---- gradient clipping -------------------------------------------------------
def test_clip_grad_norm(rng):
    grads = [rng.standard_normal(s) for s in SHAPES]
    params = [make_param(np.zeros(s)) for s in SHAPES]
    for p, g in zip(params, grads):
        set_grad(p, g.copy())
    total = np.sqrt(sum((g ** 2).sum() for g in grads))
    result = nc.nn.utils.clip_grad_norm_(params, 1.0)
    np.testing.assert_allclose(float(result.item()), total, rtol=1e-12)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.data, g / (total + 1e-6), rtol=1e-12)
    clipped = np.sqrt(sum((p.grad.data ** 2).sum() for p in params))
    np.testing.assert_allclose(clipped, 1.0, rtol=1e-5)
    # below the limit: unchanged
    before = [p.grad.data.copy() for p in params]
    nc.nn.utils.clip_grad_norm_(params, 10.0)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.data, b)


def test_clip_grad_norm_other_norms_and_errors():
    p = make_param(np.zeros(3, np.float32))
    set_grad(p, np.array([3.0, -4.0, 1.0], np.float32))
    assert float(nc.nn.utils.clip_grad_norm_(p, 2.0, norm_type="inf").item()) == 4.0
    np.testing.assert_allclose(p.grad.data, np.array([3.0, -4.0, 1.0]) * 2.0 / (4.0 + 1e-6), rtol=1e-6)
    set_grad(p, np.array([3.0, -4.0, 1.0], np.float32))
    np.testing.assert_allclose(float(nc.nn.utils.clip_grad_norm_(p, 100.0, norm_type=1).item()), 8.0)
    set_grad(p, np.array([np.nan, 1.0, 1.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nc.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert float(nc.nn.utils.clip_grad_norm_([make_param(np.zeros(2))], 1.0).item()) == 0.0


def test_clip_grad_value():
    p = make_param(np.zeros(4))
    set_grad(p, np.array([-3.0, 0.5, 2.0, np.nan]))
    nc.nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.data, [-1.0, 0.5, 1.0, np.nan])
    with pytest.raises(ValueError, match="clip_value"):
        nc.nn.utils.clip_grad_value_([p], -1.0)


def test_training_a_model_with_autograd(rng):
    """nc.nn + autograd + AdamW + a scheduler: each step equals the reference
    update on the gradients the backward pass produced, and the loss falls."""
    nc.manual_seed(0)
    model = nc.nn.Sequential(nc.nn.Linear(5, 16), nc.nn.Tanh(), nc.nn.Linear(16, 1))
    params = list(model.parameters())
    opt = optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    x_np = rng.standard_normal((64, 5)).astype(np.float32)
    x = nc.tensor(x_np)
    y = nc.tensor(np.tanh(x_np @ rng.standard_normal((5, 1))).astype(np.float32))
    ref_params = [p.data.astype(np.float64) for p in params]
    ref_states = [{} for _ in params]
    losses = []
    for t in range(1, 31):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        losses.append(float(loss.item()))
        lr = opt.param_groups[0]["lr"]
        for i, p in enumerate(params):
            ref_params[i] = ref.adam(p.data.astype(np.float64), p.grad.data.astype(np.float64), ref_states[i], t,
                                     lr=lr, weight_decay=0.01, decoupled=True)
        opt.step()
        sched.step()
        for p, r in zip(params, ref_params):
            np.testing.assert_allclose(p.data, r, rtol=1e-5, atol=1e-6)
    assert losses[-1] < 0.5 * losses[0]


def test_add_param_group_later():
    p, q = make_param(np.ones(2)), make_param(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": [q], "lr": 0.2})
    assert opt.param_groups[1]["momentum"] == 0.5  # defaults fill the rest
    set_grad(p, np.ones(2))
    set_grad(q, np.ones(2))
    opt.step()
    np.testing.assert_allclose(p.data, 0.9)
    np.testing.assert_allclose(q.data, 0.8)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        opt.add_param_group({"params": [make_param(np.ones(1))], "lr": -1})


# ---- step() validates a group only when it changed; nothing else is cached ----
def test_hyperparameters_changed_between_steps_are_checked():
    p = make_param(np.ones(2))
    opt = optim.Adam([p], lr=0.1, betas=[0.9, 0.999])  # a list: mutable in place
    set_grad(p, np.ones(2))
    opt.step()
    group = opt.param_groups[0]
    group["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        opt.step()
    group["lr"] = 0.1
    group["betas"][0] = 1.5
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.5"):
        opt.step()
    group["betas"][0] = 0.9
    before = p.data.copy()
    opt.step()
    assert opt.state[p]["step"] == 2
    assert np.all(p.data < before)
    group["eps"] = True        # equal to a valid 1, but not a real number
    with pytest.raises(TypeError, match="eps"):
        opt.step()
    group["eps"] = 1e-8
    group["lr"] = np.array([0.1, 0.2])
    with pytest.raises(TypeError, match="learning rate must be a real number"):
        opt.step()


def test_scheduler_lr_changes_take_effect():
    p = make_param(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for expected in (-1.0, -1.5, -1.75):
        set_grad(p, np.ones(1))
        opt.step()
        sched.step()
        np.testing.assert_allclose(p.data, expected)


def test_grads_data_and_params_replaced_between_steps():
    p, q = make_param(np.ones(3)), make_param(np.ones(2))
    opt = optim.SGD([p, q], lr=0.5)
    set_grad(p, np.ones(3))
    set_grad(q, np.ones(2))
    opt.step()
    q.grad = None                     # skipped now
    set_grad(p, np.full(3, 2.0))      # a new grad Tensor
    opt.step()
    np.testing.assert_allclose(p.data, -0.5)
    np.testing.assert_allclose(q.data, 0.5)
    p.data = np.zeros(3)              # a new array behind the param
    p.grad.data = np.ones(3)          # a new array behind the grad
    opt.step()
    np.testing.assert_allclose(p.data, -0.5)
    r = make_param(np.ones(1))
    opt.add_param_group({"params": [r], "lr": 1.0})
    set_grad(r, np.ones(1))
    opt.step()
    np.testing.assert_allclose(r.data, 0.0)


def test_step_after_load_state_dict_and_state_replaced(rng):
    shapes = [(3,), (2, 2)]
    a = [make_param(rng.standard_normal(s)) for s in shapes]
    b = [make_param(x.data.copy()) for x in a]
    opt_a, opt_b = optim.Adam(a, lr=0.1), optim.Adam(b, lr=0.1)
    grads = [rng.standard_normal(s) for s in shapes]
    for x, g in zip(a, grads):
        set_grad(x, g)
    opt_a.step()
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for x, y, g in zip(a, b, grads):
        y.data[...] = x.data
        set_grad(y, g)
    opt_a.step()
    opt_b.step()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    # a state array replaced by the user is the one updated next
    fresh = np.zeros_like(a[0].data)
    opt_a.state[a[0]]["exp_avg"] = fresh
    opt_a.step()
    assert np.any(fresh != 0)


def test_zero_grad_strided_and_foreign_grads():
    p = make_param(np.ones((3, 3)))
    p.grad = nc.tensor(np.ones((3, 3)))
    p.grad.data = np.ones((3, 6))[:, ::2]   # a strided array behind the grad
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0.0)
    opt.zero_grad()
    assert p.grad is None


def test_sgd_momentum_buffer_created_when_a_grad_first_appears():
    p, q = make_param(np.zeros(2)), make_param(np.zeros(2))
    opt = optim.SGD([p, q], lr=1.0, momentum=0.5)
    set_grad(p, np.ones(2))
    opt.step()                          # p: b = 1, p = -1; q untouched, no buffer
    assert "momentum_buffer" not in opt.state[q]
    set_grad(q, np.ones(2))
    opt.step()                          # p: b = 0.5 + 1, p = -2.5; q: fresh b = 1, q = -1
    np.testing.assert_array_equal(p.data, -2.5)
    np.testing.assert_array_equal(q.data, -1.0)
    opt.step()                          # both from their buffers: p -= 1.75, q -= 1.5
    np.testing.assert_array_equal(p.data, -4.25)
    np.testing.assert_array_equal(q.data, -2.5)
