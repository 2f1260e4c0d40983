"""Tensor.register_post_accumulate_grad_hook: torch.Tensor's method of the
same name.  A hook runs once per backward pass, after the leaf's .grad holds
every contribution of that pass, on every route of the engine (the compiled
scalar backward, the general backward, create_graph, inputs=)."""
import gc

import numpy as np
import pytest

import neurocore as nc
from neurocore import _engine
from neurocore import functional as F


@pytest.fixture(autouse=True)
def _no_hook_left_behind():
    # a hooked leaf kept alive (by a traceback's frames) would make every later
    # backward in this process build a hook tracker: collect them here
    yield
    gc.collect()
    assert not _engine._LeafHooks.registry


def _leaf(values, dtype=np.float64):
    return nc.tensor(np.asarray(values, dtype), requires_grad=True)


def _recorder(log):
    def hook(t):
        log.append((t, None if t.grad is None else t.grad.numpy().copy()))
    return hook


def test_hook_sees_the_complete_gradient_of_a_leaf_used_twice():
    # f = sum(x*x + 3x): the leaf gets two contributions (2x from Mul, 3 from the
    # scalar product); the hook must run once, after both
    x = _leaf([1.0, -2.0, 0.5])
    log = []
    x.register_post_accumulate_grad_hook(_recorder(log))
    (x * x + x * 3.0).sum().backward()
    assert len(log) == 1
    assert log[0][0] is x
    np.testing.assert_array_equal(log[0][1], 2 * x.numpy() + 3.0)


def test_hooks_run_in_reverse_layer_order_before_earlier_grads_exist():
    # what data-parallel training relies on: the last layer's gradient is final
    # (and its hook runs) while the first layer's gradient is not yet computed
    nc.manual_seed(0)
    layers = [nc.nn.Linear(4, 4, dtype=np.float64) for _ in range(3)]
    seen = []
    for i, layer in enumerate(layers):
        layer.weight.register_post_accumulate_grad_hook(
            lambda t, i=i: seen.append((i, layers[0].weight.grad is None)))
    h = nc.tensor(np.random.default_rng(0).standard_normal((2, 4)))
    for layer in layers:
        h = F.relu(layer(h)) if layer is not layers[-1] else layer(h)
    h.sum().backward()
    assert [i for i, _ in seen] == [2, 1, 0]
    assert seen[0][1] and seen[1][1]            # layer 0's grad not there yet
    assert not seen[2][1]


def test_hook_runs_once_per_backward_with_the_accumulated_grad():
    w = _leaf([2.0, 3.0])
    log = []
    w.register_post_accumulate_grad_hook(_recorder(log))
    (w * w).sum().backward()
    (w * 5.0).sum().backward()
    assert len(log) == 2
    np.testing.assert_array_equal(log[0][1], [4.0, 6.0])
    np.testing.assert_array_equal(log[1][1], [9.0, 11.0])


def test_hook_may_change_the_grad_in_place():
    w = _leaf([1.0, 2.0])

    def halve(t):
        t.grad.data[...] *= 0.5
    w.register_post_accumulate_grad_hook(halve)
    (w * 4.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])


def test_remove_and_context_manager():
    w = _leaf([1.0])
    log = []
    handle = w.register_post_accumulate_grad_hook(_recorder(log))
    with w.register_post_accumulate_grad_hook(_recorder(log)):
        (w * 2.0).sum().backward()
    assert len(log) == 2
    handle.remove()
    handle.remove()                              # a second remove is a no-op
    (w * 2.0).sum().backward()
    assert len(log) == 2
    assert id(w) not in _engine._LeafHooks.registry


def test_registry_forgets_collected_leaves():
    before = len(_engine._LeafHooks.registry)
    w = _leaf([1.0])
    w.register_post_accumulate_grad_hook(lambda t: None)
    assert len(_engine._LeafHooks.registry) == before + 1
    del w
    gc.collect()
    assert len(_engine._LeafHooks.registry) == before


def test_every_backward_route_runs_the_hook():
    x_np = np.array([0.5, -1.5, 2.0])

    def run(route):
        x = _leaf(x_np)
        log = []
        x.register_post_accumulate_grad_hook(_recorder(log))
        y = (x * x).sum()
        if route == "scalar":
            y.backward()
        elif route == "general":
            y.backward(gradient=np.float64(1.0))
        elif route == "create_graph":
            y.backward(create_graph=True)
        elif route == "inputs":
            y.backward(inputs=[x])
        return log

    for route in ("scalar", "general", "create_graph", "inputs"):
        log = run(route)
        assert len(log) == 1, route
        np.testing.assert_array_equal(log[0][1], 2 * x_np, err_msg=route)


def test_leaf_root_gets_its_seed_and_its_hook():
    x = _leaf([1.0, 2.0])
    log = []
    x.register_post_accumulate_grad_hook(_recorder(log))
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(log[0][1], [3.0, 4.0])


def test_grad_does_not_run_hooks():
    # torch.autograd.grad accumulates nothing, so no post-accumulate hook runs
    x = _leaf([1.0, 2.0])
    log = []
    x.register_post_accumulate_grad_hook(_recorder(log))
    (g,) = nc.grad((x * x).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert log == [] and x.grad is None


class _OnlyFirst(nc.autograd.Function):
    """f(a, b) = a * b with a gradient for a only (None for b)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        (b,) = ctx.saved_tensors
        return g * b, None


def test_none_contributions_count_and_a_leaf_with_no_gradient_is_not_hooked():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    log_a, log_b = [], []
    a.register_post_accumulate_grad_hook(_recorder(log_a))
    b.register_post_accumulate_grad_hook(_recorder(log_b))
    _OnlyFirst.apply(a, b).sum().backward()
    assert len(log_a) == 1 and log_b == [] and b.grad is None
    # b also used on a path with a gradient: its hook runs once, with that part only
    (_OnlyFirst.apply(a, b) + b * 2.0).sum().backward()
    assert len(log_b) == 1
    np.testing.assert_array_equal(log_b[0][1], [2.0, 2.0])


def test_mlp_grads_with_hooks_equal_grads_without():
    # nn.MLP's backward is one fused node: every hook runs after it, with the
    # same gradients as an unhooked run
    def grads(hooked):
        nc.manual_seed(3)
        model = nc.nn.MLP([6, 8, 3], activation="relu")
        log = []
        if hooked:
            for p in model.parameters():
                p.register_post_accumulate_grad_hook(_recorder(log))
        x = nc.tensor(np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32))
        F.cross_entropy(model(x), np.array([0, 1, 2, 0, 1])).backward()
        return [p.grad.numpy().copy() for p in model.parameters()], log

    plain, _ = grads(False)
    hooked, log = grads(True)
    assert len(log) == len(plain)
    for a, b in zip(plain, hooked):
        np.testing.assert_array_equal(a, b)
    for t, g in log:
        np.testing.assert_array_equal(g, t.grad.numpy())


def test_hook_errors():
    x = _leaf([1.0])
    with pytest.raises(TypeError, match="callable"):
        x.register_post_accumulate_grad_hook(3)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require"):
        nc.tensor(np.ones(2)).register_post_accumulate_grad_hook(lambda t: None)

    def boom(t):
        raise ValueError("from the hook")
    x.register_post_accumulate_grad_hook(boom)
    with pytest.raises(ValueError, match="from the hook"):
        (x * 2.0).sum().backward()
    y = _leaf([1.0])
    y.register_post_accumulate_grad_hook(lambda t: 1)
    with pytest.raises(RuntimeError, match="return None"):
        (y * 2.0).sum().backward()


def test_pickle_and_deepcopy_leave_the_hooks_behind():
    import copy
    import pickle

    w = _leaf([1.0, 2.0])
    log = []
    w.register_post_accumulate_grad_hook(lambda t: log.append(t))
    (w * 2.0).sum().backward()
    for clone in (pickle.loads(pickle.dumps(w)), copy.deepcopy(w)):
        assert clone.requires_grad and clone.is_leaf
        np.testing.assert_array_equal(clone.numpy(), w.numpy())
        np.testing.assert_array_equal(clone.grad.numpy(), w.grad.numpy())
        (clone * 3.0).sum().backward()
        np.testing.assert_array_equal(clone.grad.numpy(), [5.0, 5.0])
    assert len(log) == 1
