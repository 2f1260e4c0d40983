"""LR schedulers: the lr sequences of PyTorch's schedulers, checked against
their closed forms (PyTorch updates recursively; both agree to rounding)."""
import math

import numpy as np
import pytest

import neurocore as nc
from neurocore import optim
from neurocore.optim import lr_scheduler as S


def _P():
    return nc.nn.Parameter(np.zeros(2))


def make_opt(lr=0.1, groups=1):
    return optim.SGD([{"params": [_P()], "lr": lr * (i + 1)} for i in range(groups)], lr=lr)


def run(opt, sched, n):
    """lr of every group at epochs 0 .. n-1 (step after each epoch)."""
    seq = []
    for _ in range(n):
        seq.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == seq[-1]
        opt.step()
        sched.step()
    return np.array(seq)


def test_step_lr():
    opt = make_opt(groups=2)
    got = run(opt, S.StepLR(opt, step_size=3, gamma=0.5), 10)
    want = [[b * 0.5 ** (e // 3) for b in (0.1, 0.2)] for e in range(10)]
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_multistep_lr():
    opt = make_opt()
    got = run(opt, S.MultiStepLR(opt, milestones=[5, 2, 5], gamma=0.5), 8)[:, 0]
    # a milestone listed twice decays twice, as in PyTorch
    np.testing.assert_allclose(got, [0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.0125], rtol=1e-14)


def test_constant_lr_then_sequential():
    opt = make_opt()
    got = run(opt, S.ConstantLR(opt, factor=0.5, total_iters=3), 5)[:, 0]
    np.testing.assert_allclose(got, [0.05, 0.05, 0.05, 0.1, 0.1], rtol=1e-14)
    opt = make_opt()
    seq = S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.1, total_iters=2), S.ExponentialLR(opt, gamma=0.9)],
                         milestones=[2])
    np.testing.assert_allclose(run(opt, seq, 5)[:, 0], [0.01, 0.01, 0.1, 0.09, 0.081], rtol=1e-13)


def test_exponential_lr():
    opt = make_opt()
    got = run(opt, S.ExponentialLR(opt, gamma=0.9), 12)
    np.testing.assert_allclose(got[:, 0], [0.1 * 0.9 ** e for e in range(12)], rtol=1e-13)


def test_cosine_annealing_lr_and_beyond_t_max():
    opt = make_opt()
    T, lo = 10, 0.001
    got = run(opt, S.CosineAnnealingLR(opt, T_max=T, eta_min=lo), 31)
    want = [lo + (0.1 - lo) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(31)]
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-10, atol=1e-15)
    assert got[T, 0] == pytest.approx(lo) and got[2 * T, 0] == pytest.approx(0.1)


def test_linear_lr_warmup():
    opt = make_opt()
    got = run(opt, S.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=4), 8)
    want = [0.1 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(8)]
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-13)
    opt = make_opt()
    default = run(opt, S.LinearLR(opt), 7)[:, 0]
    np.testing.assert_allclose(default, [0.1 * (1 / 3 + 2 / 3 * min(e, 5) / 5) for e in range(7)], rtol=1e-13)


def test_sequential_lr_warmup_then_cosine():
    opt = make_opt()
    warm = S.LinearLR(opt, start_factor=0.1, total_iters=4)
    cos = S.CosineAnnealingLR(opt, T_max=6)
    sched = S.SequentialLR(opt, [warm, cos], milestones=[4])
    got = run(opt, sched, 12)[:, 0]
    # PyTorch: the warm-up runs epochs 0-3, the cosine restarts at epoch 4 from base_lr
    want = [0.1 * (0.1 + 0.9 * e / 4) for e in range(4)]
    want += [0.1 * (1 + math.cos(math.pi * (e - 4) / 6)) / 2 for e in range(4, 12)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


def test_sequential_lr_three_stages():
    opt = make_opt()
    scheds = [S.LinearLR(opt, start_factor=0.5, total_iters=2), S.StepLR(opt, 1, gamma=1.0),
              S.ExponentialLR(opt, gamma=0.5)]
    got = run(opt, S.SequentialLR(opt, scheds, milestones=[2, 4]), 7)[:, 0]
    np.testing.assert_allclose(got, [0.05, 0.075, 0.1, 0.1, 0.1, 0.05, 0.025], rtol=1e-13)


def test_scheduler_state_dict_round_trip():
    opt = make_opt()
    sched = S.CosineAnnealingLR(opt, T_max=8)
    run(opt, sched, 3)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3 and sd["base_lrs"] == [0.1]
    opt2 = make_opt()
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    opt2.param_groups[0]["initial_lr"] = 0.1
    sched2 = S.CosineAnnealingLR(opt2, T_max=8, last_epoch=0)
    sched2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    np.testing.assert_array_equal(run(opt, sched, 5), run(opt2, sched2, 5))


def test_scheduler_drives_optimizer_lr():
    p = _P()
    opt = optim.SGD([p], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = nc.tensor(np.ones(2))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, -(1.0 + 0.5 + 0.25))


def test_bad_scheduler_arguments():
    opt = make_opt()
    with pytest.raises(ValueError, match="start_factor=0"):
        S.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="T_max"):
        S.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(opt, step_size=-1)
    with pytest.raises(ValueError, match="milestone"):
        S.SequentialLR(opt, [S.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="same optimizer"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(make_opt(), 2)], milestones=[3])
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), 2, last_epoch=5)
