"""The Vision Transformer (seed 000 chapter 4): the seed's cost numbers,
checkpoint names and shapes, logits against an independent NumPy program
of the public checkpoints' architecture, parameter gradients against float64
finite differences, and the bad-input rules."""
import math

import numpy as np
import pytest

import neurocore as nc
from neurocore import nn

_erf = np.vectorize(math.erf)


# ---- an independent float64 NumPy program of the public ViT checkpoints ----

def _np_layer_norm(x, w, b, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def numpy_vit(sd, images, num_heads):
    """Logits of a pre-norm ViT from a checkpoint-style state_dict: the patch
    projection as the stride-P convolution it is, qkv split as
    reshape(B, N, 3, h, d), exact GELU, eps 1e-6, head on the [CLS] token."""
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    x = images.astype(np.float64)
    B, C, H, W = x.shape
    w = sd["patch_embed.proj.weight"]
    D, _, P, _ = w.shape
    tokens = []
    for i in range(H // P):
        for j in range(W // P):
            patch = x[:, :, i * P:(i + 1) * P, j * P:(j + 1) * P]
            tokens.append(np.einsum("dcuv,bcuv->bd", w, patch) + sd["patch_embed.proj.bias"])
    x = np.concatenate([np.broadcast_to(sd["cls_token"], (B, 1, D)), np.stack(tokens, 1)], 1)
    x = x + sd["pos_embed"]
    N, h = x.shape[1], num_heads
    i = 0
    while f"blocks.{i}.norm1.weight" in sd:
        p = lambda name: sd[f"blocks.{i}.{name}"]  # noqa: E731
        y = _np_layer_norm(x, p("norm1.weight"), p("norm1.bias"))
        qkv = (y @ p("attn.qkv.weight").T + p("attn.qkv.bias")).reshape(B, N, 3, h, D // h)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D // h)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        y = (a @ v).transpose(0, 2, 1, 3).reshape(B, N, D)
        x = x + y @ p("attn.proj.weight").T + p("attn.proj.bias")
        y = _np_layer_norm(x, p("norm2.weight"), p("norm2.bias"))
        y = y @ p("mlp.fc1.weight").T + p("mlp.fc1.bias")
        y = 0.5 * y * (1 + _erf(y / math.sqrt(2)))
        x = x + y @ p("mlp.fc2.weight").T + p("mlp.fc2.bias")
        i += 1
    x = _np_layer_norm(x, sd["norm.weight"], sd["norm.bias"])
    return x[:, 0] @ sd["head.weight"].T + sd["head.bias"]


def random_checkpoint(model, rng):
    """A state_dict with every entry replaced by random numbers (a stand-in
    for downloaded weights: norms away from 1/0 so every term matters)."""
    return {k: (rng.standard_normal(v.shape) * (0.3 if v.ndim > 1 else 0.5) + (1.0 if "norm" in k and
            k.endswith("weight") else 0.0)).astype(v.dtype) for k, v in model.state_dict().items()}


SMALL = dict(image_size=8, patch_size=2, in_channels=3, num_classes=5, dim=12, depth=2, num_heads=3)


# ---- the seed's numbers ---------------------------------------------------

def test_vit_cost_reproduces_seed_section_4_7():
    c = nn.vit_cost(224, 16, 192, 12, 3)
    assert (c.patch_tokens, c.tokens) == (196, 197)          # eq. 4.10, 4.11
    assert c.head_dim == 64                                  # eq. 4.12
    assert c.attention_entries_per_layer == 116_427          # eq. 4.13
    assert c.attention_modules == 12                         # eq. 4.3: = depth
    assert c.parameters == 5_717_416                         # ViT-Tiny/16
    assert c.mlp_hidden == 768                               # eq. 4.8, r = 4
    c8 = nn.vit_cost(224, 8, 192, 12, 3)
    assert c8.tokens == 785
    assert c8.attention_entries_per_layer == 3 * 785 ** 2 == 1_848_675   # "about 1.85 million"
    # quadratic in N for attention, linear for the MLP (eq. 4.7, 4.9)
    assert c8.attention_flops / c.attention_flops == pytest.approx((785 / 197) ** 2)
    assert c8.mlp_flops / c.mlp_flops == pytest.approx(785 / 197)
    assert c.attention_flops == 12 * 4 * 197 ** 2 * 192
    assert c.mlp_flops == 12 * 4 * 197 * 192 * 768
    assert c.total_flops == c.attention_flops + c.projection_flops + c.mlp_flops + c.embedding_flops
    assert nn.vit_cost((224, 160), 16, 192, 12, 3).tokens == 14 * 10 + 1


def test_vit_tiny_state_dict_names_and_shapes():
    model = nn.VisionTransformer()                           # ViT-Tiny/16 at 224
    sd = model.state_dict()
    assert sum(v.size for v in sd.values()) == 5_717_416 == nn.vit_cost().parameters
    expected = {
        "cls_token": (1, 1, 192), "pos_embed": (1, 197, 192),
        "patch_embed.proj.weight": (192, 3, 16, 16), "patch_embed.proj.bias": (192,),
        "norm.weight": (192,), "norm.bias": (192,), "head.weight": (1000, 192), "head.bias": (1000,),
    }
    for i in range(12):
        expected.update({
            f"blocks.{i}.norm1.weight": (192,), f"blocks.{i}.norm1.bias": (192,),
            f"blocks.{i}.attn.qkv.weight": (576, 192), f"blocks.{i}.attn.qkv.bias": (576,),
            f"blocks.{i}.attn.proj.weight": (192, 192), f"blocks.{i}.attn.proj.bias": (192,),
            f"blocks.{i}.norm2.weight": (192,), f"blocks.{i}.norm2.bias": (192,),
            f"blocks.{i}.mlp.fc1.weight": (768, 192), f"blocks.{i}.mlp.fc1.bias": (768,),
            f"blocks.{i}.mlp.fc2.weight": (192, 768), f"blocks.{i}.mlp.fc2.bias": (192,),
        })
    assert {k: v.shape for k, v in sd.items()} == expected
    assert all(v.dtype == np.float32 for v in sd.values())


# ---- logits and gradients --------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_checkpoint_loads_unchanged_and_gives_the_same_logits(dtype, rng, tmp_path):
    model = nn.VisionTransformer(**SMALL, dtype=dtype)
    sd = random_checkpoint(model, rng)
    model.load_state_dict(sd)
    images = rng.standard_normal((3, 3, 8, 8)).astype(dtype)
    with nc.no_grad():
        logits = model(nc.tensor(images)).numpy()
    want = numpy_vit(sd, images, SMALL["num_heads"])
    assert logits.dtype == dtype and logits.shape == (3, 5)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(logits, want, rtol=tol, atol=tol)
    # a round trip through the safetensors file format keeps them
    nc.save(model.state_dict(), tmp_path / "vit.safetensors")
    model2 = nn.VisionTransformer(**SMALL, dtype=dtype)
    model2.load_state_dict(nc.load(tmp_path / "vit.safetensors"))
    with nc.no_grad():
        np.testing.assert_array_equal(model2(nc.tensor(images)).numpy(), logits)


def test_parameter_gradients_by_finite_differences(rng):
    nc.manual_seed(3)
    cfg = dict(image_size=4, patch_size=2, in_channels=2, num_classes=3, dim=4, depth=2, num_heads=2)
    model = nn.VisionTransformer(**cfg, dtype=np.float64)
    model.load_state_dict(random_checkpoint(model, rng))
    images = nc.tensor(rng.standard_normal((2, 2, 4, 4)))
    weights = rng.standard_normal((2, 3))

    def loss():
        return float((model(images).numpy() * weights).sum())

    model.zero_grad()
    (model(images) * nc.tensor(weights)).sum().backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        picks = rng.choice(p.data.size, size=min(p.data.size, 5), replace=False)
        for flat in picks:
            idx = np.unravel_index(flat, p.shape)
            original = p.data[idx]
            p.data[idx] = original + eps
            plus = loss()
            p.data[idx] = original - eps
            minus = loss()
            p.data[idx] = original
            numeric = (plus - minus) / (2 * eps)
            assert abs(p.grad.numpy()[idx] - numeric) <= 1e-6 + 1e-5 * abs(numeric), (name, idx)


def test_mhsa_matches_functional_attention(rng):
    attn = nn.MultiHeadSelfAttention(12, 3, dtype=np.float64)
    x = nc.tensor(rng.standard_normal((2, 5, 12)), requires_grad=True)
    out = attn(x)
    qkv = (x @ attn.qkv.weight.mT + attn.qkv.bias).reshape(2, 5, 3, 3, 4).permute(2, 0, 3, 1, 4)
    ref = nc.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    ref = ref.permute(0, 2, 1, 3).reshape(2, 5, 12) @ attn.proj.weight.mT + attn.proj.bias
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    (g1,) = nc.grad([(out * nc.tensor(g)).sum()], [x])
    (g2,) = nc.grad([(ref * nc.tensor(g)).sum()], [x])
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-10, atol=1e-12)
    assert nc.autograd.gradcheck(lambda t: attn(t), (nc.tensor(rng.standard_normal((1, 3, 12)),
                                                               requires_grad=True),), atol=1e-7, rtol=1e-6)


def test_block_is_pre_norm_with_residuals(rng):
    block = nn.TransformerEncoderBlock(8, 2, mlp_ratio=2.0, dtype=np.float64)
    x = rng.standard_normal((1, 3, 8))
    with nc.no_grad():
        y = block(nc.tensor(x)).numpy()
        a = x + block.attn(block.norm1(nc.tensor(x))).numpy()
        want = a + block.mlp(block.norm2(nc.tensor(a))).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert block.norm1.eps == 1e-6 and block.mlp.fc1.out_features == 16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_path_is_bitwise_the_recorded_path(dtype, rng):
    """Under no_grad the blocks and LayerNorms run their kernels on the raw
    arrays: the logits must be exactly those of the recording Tensor path."""
    nc.manual_seed(3)
    model = nn.VisionTransformer(image_size=16, patch_size=4, in_channels=3, num_classes=7, dim=24,
                                 depth=2, num_heads=3, dtype=dtype)
    x = nc.tensor(rng.standard_normal((2, 3, 16, 16)).astype(dtype))
    recorded = model(x)
    assert recorded.requires_grad
    with nc.no_grad():
        fast = model(x)
    assert not fast.requires_grad
    assert np.array_equal(fast.numpy(), recorded.detach().numpy())
    norm = nn.LayerNorm(24, dtype=dtype)
    with nc.no_grad():
        bad = nc.tensor(np.zeros((2, 24), np.float64 if dtype == np.float32 else np.float32))
        with pytest.raises(TypeError):
            norm(bad)


def test_patch_embedding_is_a_strided_convolution(rng):
    pe = nn.PatchEmbedding(image_size=(6, 4), patch_size=2, in_channels=2, dim=3, dtype=np.float64)
    x = rng.standard_normal((2, 2, 6, 4))
    out = pe(nc.tensor(x)).numpy()
    w, b = pe.proj.weight.numpy(), pe.proj.bias.numpy()
    assert out.shape == (2, 6, 3) and pe.num_patches == 6
    for i in range(3):
        for j in range(2):
            want = np.einsum("dcuv,bcuv->bd", w, x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]) + b
            np.testing.assert_allclose(out[:, i * 2 + j], want, rtol=1e-12, atol=1e-12)


def test_training_step_reduces_the_loss(rng):
    nc.manual_seed(0)
    model = nn.VisionTransformer(**SMALL)
    images = nc.tensor(rng.standard_normal((8, 3, 8, 8)).astype(np.float32))
    labels = rng.integers(0, 5, 8)
    opt = nc.optim.SGD(model.parameters(), lr=0.05) if hasattr(nc.optim, "SGD") else None

    def loss_fn():
        logits = model(images)
        shifted = logits - logits.max(-1, keepdims=True).detach()
        logp = shifted - shifted.exp().sum(-1, keepdims=True).log()
        return -(logp * nc.tensor(np.eye(5, dtype=np.float32)[labels])).sum() / 8

    first = loss_fn()
    for _ in range(5):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        if opt is not None:
            opt.step()
        else:
            for p in model.parameters():
                p.data -= 0.05 * p.grad.numpy()
    assert loss_fn().item() < first.item()


# ---- bad input ---------------------------------------------------------------

def test_bad_configurations_and_inputs_are_rejected(rng):
    with pytest.raises(ValueError, match=r"image_size \(30, 30\) is not divisible by patch_size 16"):
        nn.VisionTransformer(image_size=30)
    with pytest.raises(ValueError, match="dim=10 is not divisible by num_heads=3"):
        nn.VisionTransformer(dim=10, num_heads=3)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        nn.MultiHeadSelfAttention(8, 3)
    with pytest.raises(ValueError, match="not divisible"):
        nn.vit_cost(225, 16)
    with pytest.raises(ValueError, match="num_heads"):
        nn.vit_cost(224, 16, 192, 12, 5)
    model = nn.VisionTransformer(**SMALL)
    with pytest.raises(ValueError, match=r"wrong channel count"):
        model(nc.tensor(np.zeros((1, 1, 8, 8), np.float32)))
    with pytest.raises(ValueError, match=r"wrong image size"):
        model(nc.tensor(np.zeros((1, 3, 8, 10), np.float32)))
    with pytest.raises(ValueError, match=r"\(1, 3, 8\)"):
        model(nc.tensor(np.zeros((1, 3, 8), np.float32)))
    with pytest.raises(TypeError, match="float64"):
        model(nc.tensor(np.zeros((1, 3, 8, 8), np.float64)))
    with pytest.raises(ValueError, match="input"):
        model.blocks[0].attn(nc.tensor(np.zeros((1, 4, 8), np.float32)))
    with pytest.raises(RuntimeError, match="size mismatch"):
        bad = model.state_dict()
        bad["pos_embed"] = np.zeros((1, 5, 12), np.float32)
        model.load_state_dict(bad)


def test_mhsa_double_backward(rng):
    # create_graph through the packed attention op (its composite): the
    # Hessian-vector product of a loss against finite differences of its gradient
    nc.manual_seed(5)
    attn = nn.MultiHeadSelfAttention(4, 2, dtype=np.float64)
    x0 = rng.standard_normal((1, 3, 4))
    u = rng.standard_normal(x0.shape)

    def gradient(x_):
        xt = nc.tensor(x_, requires_grad=True)
        out = attn(xt)
        (g,) = nc.grad([(out * out).sum()], [xt], create_graph=True)
        return xt, g

    xt, g = gradient(x0)
    (hvp,) = nc.grad([(g * nc.tensor(u)).sum()], [xt])
    eps = 1e-5
    numeric = np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        p, m = x0.copy(), x0.copy()
        p[idx] += eps
        m[idx] -= eps
        numeric[idx] = ((gradient(p)[1].numpy() - gradient(m)[1].numpy()) * u).sum() / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), numeric, rtol=1e-5, atol=1e-7)


def test_vit_demo_reaches_95_percent_on_digits():
    # needs the [demo] extra (scikit-learn, tqdm): the README's test command installs it
    from neurocore.demos import vit

    assert vit.main(quiet=True) >= 0.95
