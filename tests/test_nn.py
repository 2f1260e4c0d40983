"""nn: Module bookkeeping, Linear init, layers, MLP, dropout and MC dropout."""
import math

import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F
from neurocore import nn
from neurocore.autograd import gradcheck


class TwoLayer(nn.Module):
    def __init__(self, dtype=np.float32):
        super().__init__()
        self.fc1 = nn.Linear(4, 3, dtype=dtype)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(3, 2, bias=False, dtype=dtype)
        self.scale = nn.Parameter(np.ones(2, dtype))
        self.note = "not registered"

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_registration_names_and_order():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert list(m.state_dict()) == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert len(list(m.parameters())) == 4
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Tanh", "Linear"]
    m.fc2 = nn.Identity()                         # re-assignment replaces the registration
    assert "fc2.weight" not in m.state_dict()


def test_linear_init_is_pytorch_default_and_seedable(dtype):
    nc.manual_seed(123)
    a = nn.Linear(50, 40, dtype=dtype)
    nc.manual_seed(123)
    b = nn.Linear(50, 40, dtype=dtype)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    bound = 1 / math.sqrt(50)
    for p in (a.weight, a.bias):
        assert p.dtype == dtype and p.requires_grad
        assert np.all(np.abs(p.data) <= bound)
    assert a.weight.shape == (40, 50) and a.bias.shape == (40,)
    # U(-b, b): standard deviation b/√3 (2000 samples, loose bound)
    assert abs(a.weight.data.std() - bound / math.sqrt(3)) < 0.1 * bound
    nc.manual_seed(124)
    assert not np.array_equal(nn.Linear(50, 40, dtype=dtype).weight.data, a.weight.data)


def test_linear_forward_backward_matches_numpy(dtype, rng):
    layer = nn.Linear(4, 3, dtype=dtype)
    x = nc.tensor(rng.standard_normal((5, 4)).astype(dtype), requires_grad=True)
    y = layer(x)
    np.testing.assert_allclose(y.data, x.data @ layer.weight.data.T + layer.bias.data, rtol=1e-5)
    g = rng.standard_normal((5, 3)).astype(dtype)
    y.backward(g)
    np.testing.assert_allclose(layer.weight.grad.data, g.T @ x.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad.data, g.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.data, g @ layer.weight.data, rtol=1e-5, atol=1e-6)


def test_linear_gradcheck_float64(rng):
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = nc.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), (x, layer.weight, layer.bias))


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 3], activation="swish")
    layer = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="last dimension 4"):
        layer(nc.tensor(np.ones((2, 5), np.float32)))
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        layer(nc.tensor(np.ones((2, 4))))


def test_state_dict_round_trip_and_strict_loading(rng):
    a, b = TwoLayer(), TwoLayer()
    x = nc.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    weight_array = b.fc1.weight.data
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert b.fc1.weight.data is weight_array      # loaded in place

    bad = dict(a.state_dict())
    bad.pop("fc2.weight")
    bad["extra"] = np.zeros(1, np.float32)
    bad["fc1.bias"] = np.full(3, 7.0, np.float32)
    c = TwoLayer()
    before = {k: v.copy() for k, v in c.state_dict().items()}
    with pytest.raises(RuntimeError, match="missing keys.*fc2.weight.*unexpected keys.*extra"):
        c.load_state_dict(bad)
    for k, v in c.state_dict().items():            # strict failure loads nothing
        np.testing.assert_array_equal(v, before[k])
    result = c.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["fc2.weight"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(c.fc1.bias.data, 7.0)

    wrong = dict(a.state_dict())
    wrong["fc1.weight"] = np.zeros((2, 2), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight.*\(2, 2\).*\(3, 4\)"):
        c.load_state_dict(wrong)


def test_train_eval_zero_grad_and_repr(rng):
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.2), nn.Linear(3, 2))
    assert all(mod.training for mod in m.modules())
    m.eval()
    assert not any(mod.training for mod in m.modules())
    m.train()
    m(nc.tensor(rng.standard_normal((2, 4)).astype(np.float32))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert repr(m) == ("Sequential(\n"
                       "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
                       "  (1): ReLU()\n"
                       "  (2): Dropout(p=0.2)\n"
                       "  (3): Linear(in_features=3, out_features=2, bias=True)\n"
                       ")")
    assert m[0] is list(m)[0] and len(m) == 4


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "sigmoid", "tanh"])
def test_mlp_fused_forward_equals_layer_by_layer(activation, rng):
    nc.manual_seed(0)
    mlp = nn.MLP([6, 5, 4, 3], activation=activation, dtype=np.float64)
    x = nc.tensor(rng.standard_normal((7, 6)), requires_grad=True)
    fused = mlp(x)
    y = x
    for m in mlp:
        y = m(y)
    np.testing.assert_allclose(fused.data, y.data, rtol=1e-12, atol=1e-14)
    params = list(mlp.parameters())
    assert gradcheck(lambda x, *ps: mlp(x), (x, *params))


def test_mlp_structure_with_dropout():
    mlp = nn.MLP([5, 3, 4, 3], dropout=0.1)
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert list(mlp.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]


def test_dropout_is_inverted_and_seeded():
    x = nc.tensor(np.ones((200, 100), np.float32), requires_grad=True)
    nc.manual_seed(7)
    y = F.dropout(x, 0.3, training=True)
    nc.manual_seed(7)
    y2 = F.dropout(x, 0.3, training=True)
    np.testing.assert_array_equal(y.data, y2.data)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)          # the same mask scales the gradient
    assert F.dropout(x, 0.3, training=False) is x
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x


def test_mc_dropout_predict():
    nc.manual_seed(0)
    model = nn.MLP([3, 16, 2], dropout=0.3, dtype=np.float64)
    model.eval()
    x = nc.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    mean, std = nn.mc_dropout_predict(model, x, samples=200)
    assert mean.shape == (4, 2) and std.shape == (4, 2)
    assert np.all(std.data > 0)
    assert not model.training and not model[2].training   # modes restored
    deterministic = model(x).data
    # inverted dropout keeps the expectation of the linear output layer's input
    assert np.max(np.abs(mean.data - deterministic)) < 6 * np.max(std.data) / math.sqrt(200) + 0.05
    with pytest.raises(ValueError, match="samples"):
        nn.mc_dropout_predict(model, x, 0)


def test_residual_gradient_adds_identity(rng):
    inner = nn.Linear(3, 3, dtype=np.float64)
    block = nn.Residual(inner)
    x = nc.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    np.testing.assert_allclose(block(x).data, x.data + inner(x).data)
    block(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 + inner.weight.data.sum(0)[None].repeat(2, 0))
    assert list(block.state_dict()) == ["module.weight", "module.bias"]


def test_activation_modules(rng):
    x = nc.tensor(rng.standard_normal((3, 4)))
    np.testing.assert_allclose(nn.ReLU()(x).data, np.maximum(x.data, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, np.where(x.data > 0, x.data, 0.1 * x.data))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    np.testing.assert_allclose(nn.GELU("tanh")(x).data, F.gelu(x, "tanh").data)
    np.testing.assert_allclose(nn.Softmax(dim=0)(x).data.sum(0), np.ones(4))
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"


def test_module_to_dtype():
    m = TwoLayer().to(np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m(nc.tensor(np.ones((1, 4)))).dtype == np.float64


def test_mlp_demo_reaches_97_percent_on_digits():
    # needs the [demo] extra (scikit-learn, tqdm): the README's test command installs it
    from neurocore.demos import mlp

    assert mlp.main(epochs=30, quiet=True) >= 0.97


def test_mlp_with_active_dropout_runs_layer_by_layer_and_differentiates(rng):
    mlp = nn.MLP([4, 6, 3], dropout=0.4, dtype=np.float64)
    x = nc.tensor(rng.standard_normal((5, 4)), requires_grad=True)

    def seeded(x, *params):
        nc.manual_seed(11)                        # the same dropout mask at every evaluation
        return mlp(x)

    assert gradcheck(seeded, (x, *mlp.parameters()))
    mlp.eval()
    assert mlp(x).grad_fn.__class__.__name__ == "LinearChain"
