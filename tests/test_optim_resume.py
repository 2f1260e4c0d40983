"""Resuming training from saved optimizer and scheduler state continues the
same trajectory bitwise: 10 steps, save (in memory, and through a
safetensors file written with nc.save), load into fresh objects, 10 more
steps, against 20 straight steps."""
import copy
import json

import numpy as np
import pytest

import neurocore as nc
from neurocore.optim import lr_scheduler as S

STEPS = 10

OPTIMIZERS = {
    "sgd_momentum": lambda p: nc.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda p: nc.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "sgd_dampening": lambda p: nc.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.8),
    "adagrad": lambda p: nc.optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "rmsprop_centered": lambda p: nc.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adam": lambda p: nc.optim.Adam(p, lr=0.01, weight_decay=1e-3),
    "adam_amsgrad": lambda p: nc.optim.Adam(p, lr=0.01, amsgrad=True),
    "adamw": lambda p: nc.optim.AdamW(p, lr=0.01),
    "lamb": lambda p: nc.optim.LAMB(p, lr=0.01, weight_decay=0.01),
}

SCHEDULERS = {
    "none": None,
    "step": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda o: S.MultiStepLR(o, milestones=[4, 12, 15], gamma=0.3),
    "constant": lambda o: S.ConstantLR(o, factor=0.5, total_iters=13),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.9),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
    "linear": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=14),
    "sequential": lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                               S.ExponentialLR(o, gamma=0.8)], milestones=[13]),
}


def _problem(dtype):
    rng = np.random.default_rng(3)
    x = nc.tensor(rng.standard_normal((16, 6)).astype(dtype))
    y = nc.tensor(rng.standard_normal((16, 2)).astype(dtype))
    nc.manual_seed(11)
    model = nc.nn.MLP([6, 37, 2], dtype=dtype)   # odd sizes: SIMD bodies and tails
    return model, x, y


def _train(model, opt, sched, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        nc.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def _build(opt_name, sched_name, dtype):
    model, x, y = _problem(dtype)
    opt = OPTIMIZERS[opt_name](model.parameters())
    make = SCHEDULERS[sched_name]
    return model, opt, (make(opt) if make else None), x, y


# ---- optimizer/scheduler state through a safetensors file -------------------
def _save_training_state(path, model, opt, sched):
    """Model params, optimizer state arrays and step counts as tensors; the
    param groups and the scheduler's plain values as JSON metadata."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    for index, state in sd["state"].items():
        for name, value in state.items():
            tensors[f"optim.{index}.{name}"] = np.asarray(value)
    metadata = {"param_groups": json.dumps(sd["param_groups"]),
                "scheduler": json.dumps(sched.state_dict() if sched else None)}
    nc.save(tensors, path, metadata=metadata)


def _read_metadata(path):
    import struct
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])["__metadata__"]


def _load_training_state(path, model, opt, sched):
    tensors = nc.load(path)
    meta = _read_metadata(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    if sched is not None:
        sched.load_state_dict(json.loads(meta["scheduler"]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("via", ["memory", "file"])
def test_optimizer_resume_is_bitwise(tmp_path, opt_name, dtype, via):
    sched_name = "cosine"
    model, opt, sched, x, y = _build(opt_name, sched_name, dtype)
    _train(model, opt, sched, x, y, 2 * STEPS)
    straight = {k: v.copy() for k, v in model.state_dict().items()}

    model, opt, sched, x, y = _build(opt_name, sched_name, dtype)
    _train(model, opt, sched, x, y, STEPS)
    if via == "memory":
        saved = copy.deepcopy((model.state_dict(), opt.state_dict(), sched.state_dict()))
    else:
        _save_training_state(tmp_path / "ckpt.safetensors", model, opt, sched)
    del model, opt, sched

    model, opt, sched, x, y = _build(opt_name, sched_name, dtype)   # fresh objects
    if via == "memory":
        model.load_state_dict(saved[0])
        opt.load_state_dict(saved[1])
        sched.load_state_dict(saved[2])
    else:
        _load_training_state(tmp_path / "ckpt.safetensors", model, opt, sched)
    _train(model, opt, sched, x, y, STEPS)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, straight[k], err_msg=k)
        assert v.tobytes() == straight[k].tobytes(), k     # bitwise, signed zeros included


@pytest.mark.parametrize("sched_name", [s for s in SCHEDULERS if s != "none"])
@pytest.mark.parametrize("via", ["memory", "file"])
def test_scheduler_resume_is_bitwise(tmp_path, sched_name, via):
    model, opt, sched, x, y = _build("sgd_momentum", sched_name, np.float64)
    lrs_straight = []
    for _ in range(2 * STEPS):
        _train(model, opt, sched, x, y, 1)
        lrs_straight.append(sched.get_last_lr())
    straight = {k: v.copy() for k, v in model.state_dict().items()}

    model, opt, sched, x, y = _build("sgd_momentum", sched_name, np.float64)
    _train(model, opt, sched, x, y, STEPS)
    if via == "memory":
        saved = copy.deepcopy((model.state_dict(), opt.state_dict(), sched.state_dict()))
    else:
        _save_training_state(tmp_path / "ckpt.safetensors", model, opt, sched)
    model, opt, sched, x, y = _build("sgd_momentum", sched_name, np.float64)
    if via == "memory":
        model.load_state_dict(saved[0])
        opt.load_state_dict(saved[1])
        sched.load_state_dict(saved[2])
    else:
        _load_training_state(tmp_path / "ckpt.safetensors", model, opt, sched)
    lrs = []
    for _ in range(STEPS):
        _train(model, opt, sched, x, y, 1)
        lrs.append(sched.get_last_lr())
    assert lrs == lrs_straight[STEPS:]
    for k, v in model.state_dict().items():
        assert v.tobytes() == straight[k].tobytes(), k


@pytest.mark.parametrize("via", ["memory", "file"])
def test_newton_cg_resume_is_bitwise(tmp_path, via):
    def build():
        model, x, y = _problem(np.float64)
        opt = nc.optim.NewtonCG(model.parameters(), max_cg_iters=5, damping=1e-2)
        return model, opt, x, y

    def run(model, opt, x, y, steps):
        for _ in range(steps):
            opt.step(lambda: nc.functional.mse_loss(model(x), y))

    model, opt, x, y = build()
    run(model, opt, x, y, 2 * 3)
    straight = {k: v.copy() for k, v in model.state_dict().items()}
    model, opt, x, y = build()
    run(model, opt, x, y, 3)
    if via == "memory":
        saved = copy.deepcopy((model.state_dict(), opt.state_dict()))
    else:
        sd = opt.state_dict()
        nc.save(model.state_dict(), tmp_path / "m.safetensors",
                metadata={"optim": json.dumps(sd)})
    model, opt, x, y = build()
    if via == "memory":
        model.load_state_dict(saved[0])
        opt.load_state_dict(saved[1])
    else:
        model.load_state_dict(nc.load(tmp_path / "m.safetensors"))
        opt.load_state_dict(json.loads(_read_metadata(tmp_path / "m.safetensors")["optim"]))
    run(model, opt, x, y, 3)
    for k, v in model.state_dict().items():
        assert v.tobytes() == straight[k].tobytes(), k
