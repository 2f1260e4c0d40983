"""nc.save / nc.load of nested state dicts (model + optimizer + counters):
arrays flattened to dotted names, other leaves JSON in __metadata__, the
tree rebuilt exactly on load; flat dicts stay plain safetensors."""
import copy
import json
import struct

import numpy as np
import pytest

import neurocore as nc
from neurocore import _tree
from neurocore import functional as F


def _header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def _assert_same(a, b):
    # an OrderedDict (Module.state_dict) comes back as a dict, in the same order
    assert type(a) is type(b) or isinstance(a, dict) and isinstance(b, dict), (a, b)
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def _train(model, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((6, 5)).astype(np.float32)
        y = rng.integers(0, 3, 6)
        opt.zero_grad()
        F.cross_entropy(model(nc.tensor(x)), y).backward()
        opt.step()


def test_model_and_optimizer_round_trip_and_resume_bitwise(tmp_path):
    def fresh():
        nc.manual_seed(0)
        model = nc.nn.MLP([5, 7, 3], activation="relu")
        return model, nc.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)

    model, opt = fresh()
    _train(model, opt, 3, seed=1)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "note": "x",
             "best": float("inf"), "flags": [True, None]}
    nc.save(state, tmp_path / "ck.safetensors")
    header = _header(tmp_path / "ck.safetensors")
    assert "optimizer.state.0.exp_avg" in header
    assert {f"model.{k}" for k in model.state_dict()} <= set(header)
    meta = header["__metadata__"]
    assert json.loads(meta["optimizer.param_groups.0.lr"]) == 1e-2
    assert json.loads(meta["epoch"]) == 3
    assert all(isinstance(v, str) for v in meta.values())
    loaded = nc.load(tmp_path / "ck.safetensors")
    _assert_same(loaded, {k: copy.deepcopy(v) for k, v in state.items()})
    # resume: a fresh model and optimizer restored from the file continue exactly
    _train(model, opt, 2, seed=2)
    model2, opt2 = fresh()
    _train(model2, opt2, 1, seed=9)             # different state, to be overwritten
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    _train(model2, opt2, 2, seed=2)
    for a, b in zip(model.parameters(), model2.parameters()):
        assert a.numpy().tobytes() == b.numpy().tobytes()


def test_flat_state_dict_file_is_unchanged(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    nc.save(state, tmp_path / "flat.safetensors", metadata={"format": "np"})
    header = _header(tmp_path / "flat.safetensors")
    assert header["__metadata__"] == {"format": "np"}
    out = nc.load(tmp_path / "flat.safetensors")
    assert list(out) == ["w"] and np.array_equal(out["w"], state["w"])


def test_tree_shapes_survive():
    state = {"a": {0: np.ones(2), 1: {"k": [1, 2.5, "s", None, False]}}, "t": (np.zeros(1), 3),
             "empty": {}, "nan": float("nan"), "neg": -float("inf"), "np_scalar": np.float32(0.5)}
    arrays, meta = _tree.flatten(state)
    assert set(arrays) == {"a.0", "t.0"}
    back = _tree.unflatten(arrays, meta)
    want = dict(state, np_scalar=0.5)
    _assert_same(back, want)


@pytest.mark.parametrize("state, error, match", [
    ({"a.b": np.ones(1), "a": {"b": np.ones(1)}}, ValueError, "same name"),
    ({"a": {1.5: np.ones(1)}}, TypeError, "keys"),
    ({"a": {"b": object()}}, TypeError, "'a.b'"),
    ({"a": np.ones(1), "x": 1}, ValueError, "clash"),
])
def test_flatten_errors(state, error, match):
    with pytest.raises(error, match=match):
        _tree.flatten(state, {"x": "user"} if "x" in state else None)


@pytest.mark.parametrize("tree, meta, match", [
    ('{"d":[["w",{"a":1}]]}', {}, "lacks"),
    ('{"d":[["w",{"m":1}]]}', {}, "lacks"),
    ('{"d":[["v",{"m":1}]]}', {"v": "[1, 2]"}, "list"),
    ('{"q":1}', {}, "bad"),
    ('not json', {}, "JSON"),
    ('{"l":[]}', {}, "not a dict"),
])
def test_unflatten_rejects_bad_trees(tree, meta, match):
    with pytest.raises(ValueError, match=match):
        _tree.unflatten({}, dict(meta, **{_tree.TREE_KEY: tree}))


def test_unflatten_rejects_stray_tensors():
    with pytest.raises(ValueError, match="not part of the tree"):
        _tree.unflatten({"x": np.ones(1)}, {_tree.TREE_KEY: '{"d":[]}'})
