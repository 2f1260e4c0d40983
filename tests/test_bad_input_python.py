"""Hostile input for the Python layer (DESIGN.md, "Bad input"): losses,
activations, layers, attention, the ViT, optimizer constructors and nc.load
on corrupt files.  Each must raise TypeError/ValueError naming what is wrong
(IndexError/RuntimeError nowhere: PyTorch's own errors are ValueError-like
here), never crash or allocate without bound."""
import os
import struct

import numpy as np
import pytest

import neurocore as nc
import neurocore.functional as F
from neurocore import nn


def t32(*shape):
    return nc.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32),
                     requires_grad=True)


def t64(*shape):
    return nc.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)


def ints(*values):
    return nc.tensor(np.array(values, dtype=np.int64))


PAIR_LOSSES = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
               "binary_cross_entropy_with_logits", "kl_div"]


@pytest.mark.parametrize("name", PAIR_LOSSES)
def test_pair_losses_reject_bad_input(name):
    f = getattr(F, name)
    with pytest.raises(ValueError, match=r"shape.*\(3, 4\).*\(3, 5\)"):
        f(t32(3, 4), t32(3, 5))
    with pytest.raises(TypeError, match="float32.*float64"):
        f(t32(3, 4), t64(3, 4))
    with pytest.raises(TypeError, match="int64"):
        f(nc.tensor(np.ones((3, 4), np.int64)), nc.tensor(np.ones((3, 4), np.int64)))
    with pytest.raises(ValueError, match="reduction"):
        f(t32(3, 4), t32(3, 4), reduction="bogus")
    with pytest.raises(TypeError, match="target"):
        f(t32(3, 4), None)
    # empty batches work (mean of nothing is NaN, as in PyTorch)
    assert f(t32(0, 4), t32(0, 4), reduction="sum").item() == 0.0


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target", [[0, 5, 1], [0, -1, 1], [0, -101, 1], [2**40, 0, 0]])
def test_class_indices_out_of_range(loss, target):
    with pytest.raises((ValueError, IndexError), match="target"):
        getattr(F, loss)(t32(3, 5), ints(*target))


def test_cross_entropy_bad_hyperparameters_and_targets():
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(t32(3, 5), ints(0, 1, 1), label_smoothing=float("nan"))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(t32(3, 5), ints(0, 1, 1), label_smoothing=2.0)
    with pytest.raises(ValueError, match="target"):
        F.cross_entropy(t32(3, 5), t32(3))
    with pytest.raises(TypeError, match="target"):
        F.nll_loss(t32(3, 5), t32(3))
    assert F.cross_entropy(t32(0, 5), ints(), reduction="sum").item() == 0.0


def test_other_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="negative"):
        F.triplet_margin_loss(t32(3, 4), t32(3, 4), t32(3, 5))
    with pytest.raises(ValueError, match="input1 and input2"):
        F.cosine_embedding_loss(t32(3, 4), t32(3, 5), nc.tensor(np.ones(3, np.float32)))


def test_activations_and_layers_reject_bad_input():
    for p in (1.0, -0.1, float("nan"), 1.5):
        with pytest.raises(ValueError, match="probability"):
            F.dropout(t32(3, 4), p=p)
        with pytest.raises(ValueError, match="probability"):
            nn.Dropout(p)
    with pytest.raises(ValueError, match="axis 5"):
        F.softmax(t32(3, 4), dim=5)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(t32(3, 4), (5,))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(4)(t32(3, 5))
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(4, eps=float("nan"))
    with pytest.raises(TypeError, match="int64"):
        F.relu(nc.tensor(np.ones((3, 4), np.int64)))
    with pytest.raises(ValueError, match="negative_slope"):
        F.leaky_relu(t32(3, 4), negative_slope=float("nan"))
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(t32(3, 4), approximate="x")
    with pytest.raises(ValueError, match="weight of shape"):
        F.linear(t32(3, 4), t32(5, 3))
    with pytest.raises(TypeError, match="float64 and float32"):
        F.linear(t64(3, 4), t32(5, 4))


def test_linear_module_rejects_bad_input():
    layer = nn.Linear(4, 5)
    with pytest.raises(ValueError, match=r"\(3, 3\).*expected last dimension 4"):
        layer(t32(3, 3))
    with pytest.raises(TypeError, match="float64 and float32"):
        layer(t64(3, 4))
    with pytest.raises(TypeError, match="ndarray"):
        layer(np.ones((3, 4), np.float32))
    for bad in (-4, 4.5, "4", None):
        with pytest.raises((TypeError, ValueError), match="in_features"):
            nn.Linear(bad, 5)
    assert nn.Linear(0, 5)(t32(3, 0)).shape == (3, 5)


def test_attention_rejects_bad_input():
    with pytest.raises(ValueError, match="num_heads=3"):
        nn.MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads"):
        nn.MultiHeadSelfAttention(10, 0)
    mhsa = nn.MultiHeadSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"\(2, 3, 6\)"):
        mhsa(t32(2, 3, 6))
    with pytest.raises(ValueError, match=r"\(3, 8\)"):
        mhsa(t32(3, 8))
    with pytest.raises(ValueError, match="feature size"):
        F.scaled_dot_product_attention(t32(1, 2, 3, 4), t32(1, 2, 5, 3), t32(1, 2, 5, 4))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(t32(1, 1, 3, 4), t32(1, 1, 5, 4), t32(1, 1, 5, 4),
                                       dropout_p=1.5)


def _vit(**kw):
    args = dict(image_size=8, patch_size=4, in_channels=3, num_classes=5, dim=8, depth=1,
                num_heads=2)
    args.update(kw)
    return nn.VisionTransformer(**args)


def test_vision_transformer_rejects_bad_configurations_and_images():
    for kw, word in [(dict(image_size=10), "divisible"), (dict(patch_size=0), "patch_size"),
                     (dict(num_heads=3), "num_heads"), (dict(num_classes=-1), "num_classes"),
                     (dict(mlp_ratio=float("nan")), "mlp_ratio"), (dict(dropout=1.0), "dropout")]:
        with pytest.raises(ValueError, match=word):
            _vit(**kw)
    model = _vit()
    for shape, word in [((2, 3, 12, 12), "image size"), ((2, 1, 8, 8), "channel"),
                        ((3, 8, 8), r"\(3, 8, 8\)")]:
        with pytest.raises(ValueError, match=word):
            model(t32(*shape))
    with pytest.raises(TypeError, match="float32 and float64"):
        model(nc.tensor(np.zeros((2, 3, 8, 8))))
    assert model(t32(0, 3, 8, 8)).shape == (0, 5)


def _params():
    return [nn.Parameter(np.zeros(3, np.float32))]


@pytest.mark.parametrize("cls, kw, word", [
    ("SGD", dict(lr=-1), "learning rate"), ("SGD", dict(lr=float("nan")), "learning rate"),
    ("SGD", dict(lr="a"), "learning rate"), ("SGD", dict(lr=0.1, momentum=-1), "momentum"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov"),
    ("SGD", dict(lr=0.1, weight_decay=float("inf")), "weight_decay"),
    ("SGD", dict(lr=10**400), "learning rate"),
    ("Adam", dict(lr=float("inf")), "learning rate"), ("Adam", dict(betas=(1.0, 0.9)), "beta"),
    ("Adam", dict(betas=(0.9,)), "betas"), ("Adam", dict(betas="ab"), "betas"),
    ("Adam", dict(betas=(float("nan"), 0.9)), "beta"), ("Adam", dict(eps=-1), "epsilon"),
    ("AdamW", dict(weight_decay=-1), "weight_decay"), ("AdamW", dict(lr=None), "learning rate"),
    ("RMSprop", dict(alpha=1.5), "alpha"), ("RMSprop", dict(momentum=-1), "momentum"),
    ("Adagrad", dict(lr_decay=-1), "lr_decay"), ("Adagrad", dict(eps=float("nan")), "epsilon"),
    ("LAMB", dict(betas=(0.9, 1.0)), "beta"), ("LAMB", dict(lr=float("nan")), "learning rate"),
])
def test_optimizers_reject_bad_hyperparameters(cls, kw, word):
    with pytest.raises((TypeError, ValueError), match=word):
        getattr(nc.optim, cls)(_params(), **kw)


def test_optimizers_reject_bad_parameters_and_gradients():
    with pytest.raises(ValueError, match="empty"):
        nc.optim.SGD([], lr=0.1)
    for params in (nn.Parameter(np.zeros(3, np.float32)), 5, [None], [np.zeros(3)]):
        with pytest.raises(TypeError):
            nc.optim.SGD(params, lr=0.1)
    p = nn.Parameter(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="duplicate"):
        nc.optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match=r"grad has shape \(4,\)"):
        p.grad = nc.tensor(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="grad has dtype float64"):
        p.grad = nc.tensor(np.zeros(3, np.float64))


# ---- nc.load on corrupt files --------------------------------------------------------
def _hdr(text, data=b""):
    return struct.pack("<Q", len(text)) + text + data


def _entry(shape, offsets, dtype=b'"F32"'):
    return b'{"w": {"dtype": ' + dtype + b', "shape": ' + shape + b', "data_offsets": ' + offsets + b"}}"


CORRUPT = {
    "empty": b"", "short": b"abc",
    "header_len_2**63": struct.pack("<Q", 2**63) + b"{}",
    "header_len_max": b"\xff" * 8 + b"{}",
    "not_json": _hdr(b"not json{"), "json_list": _hdr(b"[1,2,3]"), "json_number": _hdr(b"42"),
    "deep_nesting": _hdr(b"[" * 100000 + b"]" * 100000), "bad_utf8": _hdr(b"\xff\xfe"),
    "entry_not_object": _hdr(b'{"w": 5}'),
    "bad_dtype": _hdr(_entry(b"[1]", b"[0, 4]", b'"Q99"'), b"\0" * 4),
    "negative_dim": _hdr(_entry(b"[-1]", b"[0, 4]"), b"\0" * 4),
    "negative_dim_empty": _hdr(_entry(b"[0, -1]", b"[0, 0]")),
    "int64_overflowing_shape": _hdr(_entry(b"[4294967296, 4294967296]", b"[0, 0]")),
    "int64_overflowing_shape2": _hdr(_entry(b"[4611686018427387904, 4]", b"[0, 0]")),
    "4TiB_tensor": _hdr(_entry(b"[1099511627776]", b"[0, 4398046511104]")),
    "float_dim": _hdr(_entry(b"[1.5]", b"[0, 4]"), b"\0" * 4),
    "string_shape": _hdr(_entry(b'"1"', b"[0, 4]"), b"\0" * 4),
    "null_shape": _hdr(_entry(b"null", b"[0, 4]"), b"\0" * 4),
    "three_offsets": _hdr(_entry(b"[1]", b"[0, 4, 8]"), b"\0" * 8),
    "reversed_offsets": _hdr(_entry(b"[1]", b"[4, 0]"), b"\0" * 8),
    "offsets_past_end": _hdr(_entry(b"[1]", b"[10000000000000000000000, 10000000000000000000004]"),
                             b"\0" * 8),
    "5000_digit_int": _hdr(_entry(b"[1" + b"0" * 5000 + b"]", b"[0, 4]"), b"\0" * 4),
    "nan_offset": _hdr(_entry(b"[1]", b"[NaN, 4]"), b"\0" * 4),
    "metadata_not_object": _hdr(b'{"__metadata__": [1]}'),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_load_rejects_corrupt_files(tmp_path, case):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(CORRUPT[case])
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        nc.load(str(path))


def test_load_rejects_truncated_files(tmp_path):
    good = tmp_path / "good.safetensors"
    nc.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3)}, str(good))
    raw = good.read_bytes()
    np.testing.assert_array_equal(nc.load(str(good))["w"], np.arange(6).reshape(2, 3))
    bad = tmp_path / "bad.safetensors"
    for cut in range(0, len(raw), 7):
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError):
            nc.load(str(bad))
    assert os.path.getsize(good) == len(raw)


@pytest.mark.parametrize("data", [None, "abc", [object()], [1 + 1j], 10**400, [[1, 2], [3]]])
def test_tensor_rejects_non_numeric_data(data):
    with pytest.raises((TypeError, ValueError)):
        nc.tensor(data)


@pytest.mark.parametrize("other", [1 + 1j, "x", None, np.array(["a"])])
def test_tensor_ops_reject_non_real_operands(other):
    x = t32(3)
    with pytest.raises(TypeError, match="operand"):
        x * other
    with pytest.raises(TypeError, match="operand"):
        x + other


def test_hyperparameters_beyond_the_double_range():
    huge = 10**400
    with pytest.raises(ValueError, match="negative_slope"):
        F.leaky_relu(t32(3), negative_slope=huge)
    with pytest.raises(ValueError, match="negative_slope"):
        nn.LeakyReLU(huge)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(3, eps=huge)
    with pytest.raises(ValueError, match="eps"):
        F.layer_norm(t32(2, 3), (3,), eps=huge)
    with pytest.raises(ValueError, match="scale"):
        F.scaled_dot_product_attention(t32(1, 1, 3, 4), t32(1, 1, 3, 4), t32(1, 1, 3, 4), scale=huge)
    with pytest.raises(ValueError, match="learning rate"):
        nc.optim.Adam(_params(), lr=huge)
    with pytest.raises(ValueError, match="gamma"):
        nc.optim.lr_scheduler.StepLR(nc.optim.SGD(_params(), lr=0.1), step_size=1, gamma=huge)


def test_fused_mlp_rejects_bad_input_and_takes_strided_input():
    mlp = nn.MLP([4, 8, 3])
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        mlp(t32(2, 5))
    with pytest.raises(TypeError, match="float64 and float32"):
        mlp(t64(2, 4))
    with pytest.raises(TypeError, match="int64"):
        mlp(nc.tensor(np.zeros((2, 4), np.int64)))
    assert mlp(t32(0, 4)).shape == (0, 3)
    data = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    x = nc.tensor(data[::-1, ::-1], requires_grad=True)
    mlp(x).sum().backward()
    x2 = nc.tensor(np.ascontiguousarray(data[::-1, ::-1]), requires_grad=True)
    mlp(x2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())
