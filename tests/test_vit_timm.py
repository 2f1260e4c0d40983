"""The timm front of nc.nn.VisionTransformer: timm's keyword names, class
token on/off, global_pool 'token'/'avg' with timm's norm/fc_norm placement,
the vit_*_patch16_224 factories and from_pretrained on timm-layout
safetensors files (one written here by nc.save; one written by timm itself
when timm is installed).  Logits are checked against a float64 NumPy ViT
written from timm's documented forward:

    x = patch_embed(img); x = cat(cls, x) (if class token) + pos_embed
    x = blocks(x); x = norm(x)               (norm is Identity when fc_norm)
    x = x[:, 0] (token) | x[:, prefix:].mean(1) (avg); x = fc_norm(x); head(x)
"""
import math

import numpy as np
import pytest

import neurocore as nc
from neurocore import nn

_erf = np.frompyfunc(math.erf, 1, 1)


def _ln(x, w, b, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def reference_vit(sd, images, num_heads, global_pool):
    """float64 ViT forward on a timm-layout state dict."""
    p = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    images = np.asarray(images, np.float64)
    w = p["patch_embed.proj.weight"]
    D, C, P, _ = w.shape
    B, _, H, W = images.shape
    gh, gw = H // P, W // P
    patches = images.reshape(B, C, gh, P, gw, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * P * P)
    x = patches @ w.reshape(D, -1).T + p["patch_embed.proj.bias"]
    prefix = 0
    if "cls_token" in p:
        x = np.concatenate([np.broadcast_to(p["cls_token"], (B, 1, D)), x], axis=1)
        prefix = 1
    x = x + p["pos_embed"]
    N, d = x.shape[1], D // num_heads
    i = 0
    while f"blocks.{i}.norm1.weight" in p:
        q_ = lambda name: p[f"blocks.{i}.{name}"]  # noqa: E731
        y = _ln(x, q_("norm1.weight"), q_("norm1.bias"))
        qkv = y @ q_("attn.qkv.weight").T
        if f"blocks.{i}.attn.qkv.bias" in p:
            qkv = qkv + q_("attn.qkv.bias")
        qkv = qkv.reshape(B, N, 3, num_heads, d).transpose(2, 0, 3, 1, 4)
        s = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ qkv[2]
        x = x + a.transpose(0, 2, 1, 3).reshape(B, N, D) @ q_("attn.proj.weight").T + q_("attn.proj.bias")
        y = _ln(x, q_("norm2.weight"), q_("norm2.bias"))
        z = y @ q_("mlp.fc1.weight").T + q_("mlp.fc1.bias")
        g = 0.5 * z * (1.0 + _erf(z / math.sqrt(2)).astype(np.float64))
        x = x + g @ q_("mlp.fc2.weight").T + q_("mlp.fc2.bias")
        i += 1
    if "norm.weight" in p:
        x = _ln(x, p["norm.weight"], p["norm.bias"])
    x = x[:, prefix:].mean(axis=1) if global_pool == "avg" else x[:, 0]
    if "fc_norm.weight" in p:
        x = _ln(x, p["fc_norm.weight"], p["fc_norm.bias"])
    if "head.weight" in p:
        x = x @ p["head.weight"].T + p["head.bias"]
    return x


def _randomize(model, seed):
    """Every parameter drawn at random (norms too), so that every piece counts."""
    rng = np.random.default_rng(seed)
    sd = model.state_dict()
    model.load_state_dict({k: rng.standard_normal(v.shape) * (0.5 if v.ndim > 1 else 0.2)
                           + (1.0 if k.endswith("norm1.weight") or k.endswith("norm2.weight") else 0.0)
                           for k, v in sd.items()})
    return model


TINY = dict(img_size=16, patch_size=4, in_chans=2, embed_dim=16, depth=2, num_heads=2, num_classes=5)


def test_timm_keyword_names():
    m = nn.VisionTransformer(**TINY)
    assert m.patch_embed.image_size == (16, 16) and m.patch_embed.in_channels == 2 and m.dim == 16
    sd = m.state_dict()
    assert sd["patch_embed.proj.weight"].shape == (16, 2, 4, 4)
    assert sd["pos_embed"].shape == (1, 17, 16) and sd["cls_token"].shape == (1, 1, 16)
    # the same model in our names
    ours = nn.VisionTransformer(image_size=16, patch_size=4, in_channels=2, dim=16, depth=2, num_heads=2,
                                num_classes=5)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    with pytest.raises(TypeError, match="both dim=16 and timm's embed_dim=32"):
        nn.VisionTransformer(dim=16, embed_dim=32, num_heads=2)
    with pytest.raises(TypeError, match="img_size"):
        nn.VisionTransformer(image_size=16, img_size=16, patch_size=4)


def test_qkv_bias_false_has_no_qkv_bias():
    sd = nn.VisionTransformer(**TINY, qkv_bias=False).state_dict()
    assert "blocks.0.attn.qkv.bias" not in sd and "blocks.0.attn.proj.bias" in sd


def test_class_token_and_pool_layouts():
    no_cls = nn.VisionTransformer(**TINY, class_token=False, global_pool="avg").state_dict()
    assert "cls_token" not in no_cls and no_cls["pos_embed"].shape == (1, 16, 16)
    # avg pooling: timm's default fc_norm replaces norm
    assert "fc_norm.weight" in no_cls and "norm.weight" not in no_cls
    token = nn.VisionTransformer(**TINY).state_dict()
    assert "norm.weight" in token and "fc_norm.weight" not in token
    avg_norm = nn.VisionTransformer(**TINY, global_pool="avg", fc_norm=False).state_dict()
    assert "norm.weight" in avg_norm and "fc_norm.weight" not in avg_norm
    with pytest.raises(ValueError, match="class_token=True"):
        nn.VisionTransformer(**TINY, class_token=False, global_pool="token")
    with pytest.raises(ValueError, match="global_pool"):
        nn.VisionTransformer(**TINY, global_pool="max")
    with pytest.raises(ValueError, match="drop_rate"):
        nn.VisionTransformer(**TINY, drop_rate=1.5)


@pytest.mark.parametrize("class_token, global_pool, fc_norm, qkv_bias", [
    (True, "token", None, True),
    (True, "avg", None, True),
    (False, "avg", None, True),
    (True, "avg", False, False),
    (True, "token", True, True),
    (False, "avg", False, True),
])
def test_logits_match_float64_reference(class_token, global_pool, fc_norm, qkv_bias):
    nc.manual_seed(0)
    m = nn.VisionTransformer(**TINY, class_token=class_token, global_pool=global_pool, fc_norm=fc_norm,
                             qkv_bias=qkv_bias, dtype=np.float64)
    _randomize(m, 1).eval()
    images = np.random.default_rng(2).standard_normal((3, 2, 16, 16))
    with nc.no_grad():
        fast = m(nc.tensor(images)).data
    ref = reference_vit(m.state_dict(), images, 2, global_pool)
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10)
    # and the same through the recording (training) path, with gradients flowing
    x = nc.tensor(images)
    out = m(x)
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-10)
    out.sum().backward()
    assert m.pos_embed.grad is not None and np.isfinite(m.pos_embed.grad.data).all()


def test_avg_pool_excludes_the_class_token():
    nc.manual_seed(3)
    m = _randomize(nn.VisionTransformer(**TINY, global_pool="avg", dtype=np.float64), 4).eval()
    images = np.random.default_rng(5).standard_normal((2, 2, 16, 16))
    with nc.no_grad():
        tokens = m.forward_features(nc.tensor(images)).data
        logits = m(nc.tensor(images)).data
    sd = m.state_dict()
    pooled = _ln(tokens[:, 1:].mean(axis=1), sd["fc_norm.weight"], sd["fc_norm.bias"])
    np.testing.assert_allclose(logits, pooled @ sd["head.weight"].T + sd["head.bias"], rtol=1e-12, atol=1e-12)
    with_cls = _ln(tokens.mean(axis=1), sd["fc_norm.weight"], sd["fc_norm.bias"])
    assert not np.allclose(logits, with_cls @ sd["head.weight"].T + sd["head.bias"])


def test_num_classes_zero_returns_pooled_features():
    m = nn.VisionTransformer(**{**TINY, "num_classes": 0})
    assert not any(k.startswith("head.") for k in m.state_dict())
    with nc.no_grad():
        out = m(nc.tensor(np.zeros((2, 2, 16, 16), np.float32)))
    assert out.shape == (2, 16)


def test_factories():
    tiny = nn.vit_tiny_patch16_224(depth=1, num_classes=10)
    assert (tiny.dim, tiny.patch_embed.patch_size, tiny.patch_embed.image_size, tiny.num_classes) == \
        (192, 16, (224, 224), 10)
    assert tiny.blocks[0].attn.num_heads == 3 and tiny.num_tokens == 197
    small = nn.vit_small_patch16_224(depth=1, img_size=32, global_pool="avg")
    assert small.dim == 384 and small.blocks[0].attn.num_heads == 6 and small.num_tokens == 5
    base = nn.vit_base_patch16_224(depth=1, img_size=32, num_classes=0)
    assert base.dim == 768 and base.blocks[0].attn.num_heads == 12 and base.num_classes == 0
    assert len(nn.vit_tiny_patch16_224(img_size=32).blocks) == 12
    with pytest.raises(TypeError, match="both"):
        nn.vit_tiny_patch16_224(img_size=32, image_size=32)


@pytest.mark.parametrize("variant", [
    dict(),
    dict(class_token=False, global_pool="avg"),
    dict(global_pool="avg", qkv_bias=False),
])
def test_from_pretrained_synthetic_timm_file(tmp_path, variant):
    """A timm-layout file written by nc.save: the config is read back from
    the shapes (dim 192: 3 heads from the standard-size table) and the logits
    are the original model's, and the float64 reference's within float32
    tolerance."""
    nc.manual_seed(6)
    cfg = dict(img_size=32, patch_size=16, in_chans=3, embed_dim=192, depth=2, num_heads=3, num_classes=7,
               mlp_ratio=2.0)
    src = _randomize(nn.VisionTransformer(**cfg, **variant), 7).eval()
    path = tmp_path / "model.safetensors"
    nc.save(src.state_dict(), path)
    m = nn.VisionTransformer.from_pretrained(path)
    assert (m.dim, m.depth, m.num_classes, m.global_pool) == (192, 2, 7, src.global_pool)
    assert m.blocks[0].attn.num_heads == 3 and m.patch_embed.image_size == (32, 32)
    assert m.blocks[0].mlp.fc1.out_features == 384
    images = np.random.default_rng(8).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with nc.no_grad():
        got = m(nc.tensor(images)).data
        want = src(nc.tensor(images)).data
    np.testing.assert_array_equal(got, want)
    ref = reference_vit(src.state_dict(), images, 3, src.global_pool)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())
    # float64 on request, and overrides pass through
    m64 = nn.VisionTransformer.from_pretrained(path, dtype=np.float64, num_classes=7, drop_rate=0.1)
    assert m64.pos_embed.dtype == np.float64 and m64.drop_rate == 0.1
    m64.eval()
    with nc.no_grad():
        got64 = m64(nc.tensor(images.astype(np.float64))).data
    np.testing.assert_allclose(got64, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_from_pretrained_needs_heads_for_odd_dims_and_rejects_other_layouts(tmp_path):
    m = nn.VisionTransformer(**TINY)
    path = tmp_path / "odd.safetensors"
    nc.save(m.state_dict(), path)
    with pytest.raises(ValueError, match="num_heads"):
        nn.VisionTransformer.from_pretrained(path)
    loaded = nn.VisionTransformer.from_pretrained(path, num_heads=2)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)
    # timm's layer scale is not supported: the unexpected keys are named
    sd = dict(m.state_dict())
    sd["blocks.0.ls1.gamma"] = np.ones(16, np.float32)
    nc.save(sd, tmp_path / "ls.safetensors")
    with pytest.raises(RuntimeError, match="ls1.gamma"):
        nn.VisionTransformer.from_pretrained(tmp_path / "ls.safetensors", num_heads=2)
    nc.save({"weight": np.zeros((2, 2), np.float32)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="timm's layout"):
        nn.VisionTransformer.from_pretrained(tmp_path / "other.safetensors")


@pytest.mark.parametrize("kwargs", [dict(), dict(class_token=False, global_pool="avg"),
                                    dict(global_pool="avg")])
def test_from_pretrained_timm_checkpoint(tmp_path, kwargs):
    """A checkpoint that timm itself builds and writes (optional peer)."""
    timm = pytest.importorskip("timm")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=2, num_classes=9,
                            **kwargs).eval()
    path = tmp_path / "model.safetensors"
    try:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    except ImportError:
        nc.save({k: v.detach().numpy() for k, v in ref.state_dict().items()}, path)
    m = nn.VisionTransformer.from_pretrained(path).eval()
    images = np.random.default_rng(9).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(images)).numpy()
    with nc.no_grad():
        got = m(nc.tensor(images)).data
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))
