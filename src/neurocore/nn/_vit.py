"""The Vision Transformer (seed 000 chapter 4) and its parts.

An image (B, C, H, W) is cut into non-overlapping P x P patches, each
flattened and projected to D features (section 4.2); a learned [CLS] token is
prepended, N = (H/P)(W/P) + 1 tokens (equations 4.1, 4.2), and learned
position embeddings are added.  A stack of depth L pre-norm encoder blocks
follows, each with exactly one multi-head self-attention over all N tokens
(h heads of d_h = D/h features, equations 4.3-4.5) and one MLP of r·D hidden
units (4.8), both inside residual connections.  A final LayerNorm and a
linear head read the [CLS] token.

Parameter names and shapes are those of the common public ViT checkpoints
(patch_embed.proj.weight (D, C, P, P), cls_token (1, 1, D), pos_embed
(1, N, D), blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 /
mlp.fc2, norm, head), so their weights load unchanged.  LayerNorm eps 1e-6,
exact GELU, qkv laid out [3][heads][d_h].
"""
import math
import sys
from typing import NamedTuple

import numpy as np

from neurocore import _engine, _grad_mode, _io, _tensor
from neurocore import functional as F
from neurocore import kernels as K
from neurocore.functional._attention import _packed_self_attention
from neurocore.nn._modules import Identity, Linear, Module, ModuleList, Parameter, _check_dtype

__all__ = ["LayerNorm", "MultiHeadSelfAttention", "TransformerEncoderBlock", "PatchEmbedding",
           "VisionTransformer", "ViTCost", "vit_cost",
           "vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224"]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        return _positive_int(value[0], name), _positive_int(value[1], name)
    v = _positive_int(value, name)
    return v, v


def _check_heads(dim, num_heads):
    dim, num_heads = _positive_int(dim, "dim"), _positive_int(num_heads, "num_heads")
    if dim % num_heads:
        raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads} "
                         f"(seed eq. 4.4: d_h = D/h needs D mod h = 0)")
    return dim, num_heads


def _grid(image_size, patch_size):
    (H, W), P = _pair(image_size, "image_size"), _positive_int(patch_size, "patch_size")
    if H % P or W % P:
        raise ValueError(f"image_size {(H, W)} is not divisible by patch_size {P}")
    return H, W, P


def _inference(x, dtype):
    """True when a forward may run on the raw arrays: grad mode is off (so
    nothing is recorded) and x is a Tensor of the parameters' dtype (every
    other case takes the Tensor path, which raises the documented errors).
    The raw path calls the same kernels in the same order, so its results are
    bitwise those of the Tensor path; it only skips the per-op bookkeeping."""
    return not _grad_mode._mode.enabled and isinstance(x, _tensor.Tensor) and x.dtype == dtype


def _trunc_normal(shape, std, dtype):
    """N(0, std²) truncated to ±2 std (redrawn), the ViT embeddings' init."""
    gen = _tensor._generator
    x = gen.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return (x * std).astype(dtype)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing
    ``normalized_shape`` (PyTorch's LayerNorm, biased variance, one fused
    kernel each way).

    Args: normalized_shape (int or tuple), eps=1e-5, elementwise_affine=True,
    bias=True, dtype=np.float32.  weight starts at 1, bias at 0.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_positive_int(s, "normalized_shape") for s in normalized_shape)
        if not (isinstance(eps, (int, float)) and 0 <= eps <= sys.float_info.max):
            raise ValueError(f"Invalid eps value: {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = _check_dtype(dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def forward(self, x):
        if (self.weight is not None and _inference(x, self.weight.dtype) and len(self.normalized_shape) == 1
                and x.ndim >= 1 and x.shape[-1] == self.normalized_shape[0]
                and (self.bias is None or self.bias.dtype == x.dtype)):
            b = None if self.bias is None else self.bias.data
            return _engine._wrap(K.layer_norm_forward(x.data, self.weight.data, b, eps=self.eps)[0], None)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class MultiHeadSelfAttention(Module):
    """Multi-head self-attention (seed 000 section 4.4): one packed qkv
    projection D -> 3D, h heads of softmax(Q Kᵀ/√d_h) V in the fused kernel,
    heads concatenated and projected D -> D.

    Args: dim (D), num_heads (h, must divide D), qkv_bias=True,
    dropout=0.0 (on the output projection), dtype=np.float32.
    Shape: (B, N, D) -> (B, N, D).
    """

    def __init__(self, dim, num_heads, qkv_bias=True, dropout=0.0, dtype=np.float32):
        super().__init__()
        self.dim, self.num_heads = _check_heads(dim, num_heads)
        self.head_dim = self.dim // self.num_heads
        self.scale = self.head_dim ** -0.5
        self.dropout = float(dropout)
        self.qkv = Linear(self.dim, 3 * self.dim, bias=qkv_bias, dtype=dtype)
        self.proj = Linear(self.dim, self.dim, dtype=dtype)

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"MultiHeadSelfAttention expects input (batch, tokens, {self.dim}), "
                             f"got shape {x.shape}")
        heads = _packed_self_attention(self.qkv(x), self.num_heads, self.scale)
        return F.dropout(self.proj(heads), self.dropout, self.training)

    def extra_repr(self):
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"


class _Mlp(Module):
    """fc1 with the exact GELU fused into its GEMM epilogue, then fc2."""

    def __init__(self, dim, hidden, dropout, dtype):
        super().__init__()
        self.fc1 = Linear(dim, hidden, dtype=dtype)
        self.fc2 = Linear(hidden, dim, dtype=dtype)
        self.dropout = dropout

    def forward(self, x):
        h = F.linear(x, self.fc1.weight, self.fc1.bias, activation="gelu")
        h = F.dropout(h, self.dropout, self.training)
        return F.dropout(self.fc2(h), self.dropout, self.training)


class TransformerEncoderBlock(Module):
    """One pre-norm encoder layer (seed 000 section 4.3: one MHSA and one MLP):

        x = x + MHSA(LayerNorm(x));   x = x + MLP(LayerNorm(x))

    with MLP = fc2(GELU(fc1(.))) of hidden width mlp_ratio·dim.

    Args: dim, num_heads, mlp_ratio=4.0, qkv_bias=True, dropout=0.0,
    eps=1e-6, dtype=np.float32.  Shape: (B, N, D) -> (B, N, D).
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, dropout=0.0, eps=1e-6,
                 dtype=np.float32):
        super().__init__()
        dim, num_heads = _check_heads(dim, num_heads)
        if not (isinstance(mlp_ratio, (int, float)) and mlp_ratio > 0):
            raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout probability must be in [0, 1), got {dropout!r}")
        self.norm1 = LayerNorm(dim, eps=eps, dtype=dtype)
        self.attn = MultiHeadSelfAttention(dim, num_heads, qkv_bias=qkv_bias, dropout=dropout, dtype=dtype)
        self.norm2 = LayerNorm(dim, eps=eps, dtype=dtype)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), float(dropout), dtype)

    def forward(self, x):
        if (_inference(x, self.norm1.weight.dtype) and x.ndim == 3 and x.shape[-1] == self.attn.dim
                and (self.mlp.dropout == 0.0 or not self.mlp.training)):
            return self._forward_inference(x)
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def _forward_inference(self, x):
        """forward under no_grad on the raw arrays: the same kernels, no
        pre-activation copy, the second residual added in place."""
        h = np.add(x.data, self.attn(self.norm1(x)).data)
        y = self.norm2(_engine._wrap(h, None)).data
        fc1, fc2 = self.mlp.fc1, self.mlp.fc2
        u = K.linear_forward(y, fc1.weight.data, None if fc1.bias is None else fc1.bias.data,
                             activation="gelu")
        u = K.linear_forward(u, fc2.weight.data, None if fc2.bias is None else fc2.bias.data)
        np.add(h, u, out=h)
        return _engine._wrap(h, None)


class _PatchProjection(Module):
    """The patch projection's parameters in convolution layout: weight
    (D, C, P, P), bias (D,), as the checkpoints store a stride-P conv."""

    def __init__(self, in_channels, dim, patch_size, dtype):
        super().__init__()
        fan_in = in_channels * patch_size * patch_size
        bound = 1.0 / math.sqrt(fan_in)
        gen = _tensor._generator
        shape = (dim, in_channels, patch_size, patch_size)
        self.weight = Parameter(gen.uniform(-bound, bound, shape).astype(dtype))
        self.bias = Parameter(gen.uniform(-bound, bound, dim).astype(dtype))


class PatchEmbedding(Module):
    """Non-overlapping P x P patches, flattened and projected to D features
    (seed 000 section 4.2): a reshape of the image into (B, N_patch, C·P·P)
    and one GEMM with the (D, C, P, P) weight seen as (D, C·P·P), which is
    exactly a stride-P convolution.

    Args: image_size (int or (H, W)), patch_size, in_channels=3, dim=768,
    dtype=np.float32.  Shape: (B, C, H, W) -> (B, (H/P)(W/P), D).
    """

    def __init__(self, image_size=224, patch_size=16, in_channels=3, dim=768, dtype=np.float32):
        super().__init__()
        H, W, P = _grid(image_size, patch_size)
        self.image_size, self.patch_size = (H, W), P
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.dim = _positive_int(dim, "dim")
        self.grid_size = (H // P, W // P)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = _PatchProjection(self.in_channels, self.dim, P, _check_dtype(dtype))

    def forward(self, x):
        C, (H, W), P = self.in_channels, self.image_size, self.patch_size
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"PatchEmbedding expects images (batch, {C}, {H}, {W}), got shape {x.shape} "
                             f"(wrong channel count)")
        if x.shape[2:] != (H, W):
            raise ValueError(f"PatchEmbedding expects images (batch, {C}, {H}, {W}), got shape {x.shape} "
                             f"(wrong image size)")
        B, (gh, gw) = x.shape[0], self.grid_size
        # (B, C, gh, P, gw, P) -> (B, gh, gw, C, P, P): each patch's pixels in
        # the weight's (C, P, P) order
        patches = x.reshape(B, C, gh, P, gw, P).permute(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * P * P)
        return F.linear(patches, self.proj.weight.reshape(self.dim, C * P * P), self.proj.bias)

    def extra_repr(self):
        return (f"image_size={self.image_size}, patch_size={self.patch_size}, "
                f"in_channels={self.in_channels}, dim={self.dim}")


# timm's keyword names (timm.models.vision_transformer.VisionTransformer) and ours
_TIMM_ALIASES = (("img_size", "image_size"), ("in_chans", "in_channels"), ("embed_dim", "dim"))
# heads of the standard ViT sizes (Dosovitskiy et al. 2021, Table 1; DeiT's Tiny
# and Small): a checkpoint's shapes give dim but not the head count
_HEADS_BY_DIM = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}


def _either(ours, our_name, timms, timm_name, default):
    """One value from our keyword or timm's (TypeError when both are given)."""
    if ours is not None and timms is not None:
        raise TypeError(f"got both {our_name}={ours!r} and timm's {timm_name}={timms!r}; pass one of them")
    if ours is not None:
        return ours
    return default if timms is None else timms


def _timm_to_ours(kwargs):
    """kwargs with timm's names replaced by ours (TypeError when both are given)."""
    kwargs = dict(kwargs)
    for timm_name, our_name in _TIMM_ALIASES:
        if timm_name in kwargs:
            if kwargs.get(our_name) is not None:
                raise TypeError(f"got both {our_name}={kwargs[our_name]!r} and timm's "
                                f"{timm_name}={kwargs[timm_name]!r}; pass one of them")
            kwargs[our_name] = kwargs.pop(timm_name)
    return kwargs


class VisionTransformer(Module):
    """ViT (seed 000 chapter 4): patch embedding, [CLS] token, learned
    position embeddings, depth pre-norm encoder blocks, final LayerNorm and a
    linear head on the [CLS] token.

    Args: image_size=224, patch_size=16, in_channels=3, num_classes=1000,
    dim=192, depth=12, num_heads=3, mlp_ratio=4.0, dropout=0.0 (after the
    position embedding, in attention's projection and in the MLP),
    dtype=np.float32 (the defaults are ViT-Tiny/16).

    timm's keyword names and options, with timm's meaning:
    img_size, in_chans, embed_dim (= image_size, in_channels, dim);
    qkv_bias=True; class_token=True (False: no [CLS] token, pos_embed has
    one entry per patch); global_pool='token' (the [CLS] token) or 'avg' (the
    mean of the patch tokens, the [CLS] token excluded); fc_norm=None (the
    final LayerNorm after pooling instead of before it; None means
    global_pool == 'avg', as in timm, and the parameters are then named
    fc_norm.* instead of norm.*); drop_rate=0.0 (dropout before the head).
    num_classes=0 gives no head: the output is the pooled features (B, D).
    Shape: images (B, C, H, W) -> logits (B, num_classes).

    Example::

        model = nc.nn.VisionTransformer(image_size=8, patch_size=2, in_channels=1,
                                        num_classes=10, dim=32, depth=2, num_heads=2)
        logits = model(nc.tensor(np.zeros((4, 1, 8, 8), np.float32)))
    """

    def __init__(self, image_size=None, patch_size=16, in_channels=None, num_classes=1000, dim=None,
                 depth=12, num_heads=3, mlp_ratio=4.0, dropout=0.0, dtype=np.float32, *,
                 qkv_bias=True, class_token=True, global_pool="token", fc_norm=None, drop_rate=0.0,
                 img_size=None, in_chans=None, embed_dim=None):
        super().__init__()
        image_size = _either(image_size, "image_size", img_size, "img_size", 224)
        in_channels = _either(in_channels, "in_channels", in_chans, "in_chans", 3)
        dim = _either(dim, "dim", embed_dim, "embed_dim", 192)
        dtype = _check_dtype(dtype)
        _grid(image_size, patch_size)
        dim, num_heads = _check_heads(dim, num_heads)
        depth = _positive_int(depth, "depth")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
        for name, p in (("dropout", dropout), ("drop_rate", drop_rate)):
            if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
                raise ValueError(f"{name} probability must be in [0, 1), got {p!r}")
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; use global_pool='avg' "
                             "for a model without a [CLS] token")
        if fc_norm not in (None, True, False):
            raise ValueError(f"fc_norm must be None, True or False, got {fc_norm!r}")
        use_fc_norm = global_pool == "avg" if fc_norm is None else fc_norm
        self.num_classes, self.dim, self.depth, self.dropout = int(num_classes), dim, depth, float(dropout)
        self.drop_rate, self.global_pool = float(drop_rate), global_pool
        self.num_prefix_tokens = 1 if class_token else 0
        self.cls_token = Parameter(_trunc_normal((1, 1, dim), 0.02, dtype)) if class_token else None
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, dim, dtype)
        self.num_tokens = self.patch_embed.num_patches + self.num_prefix_tokens
        self.pos_embed = Parameter(_trunc_normal((1, self.num_tokens, dim), 0.02, dtype))
        self.blocks = ModuleList([TransformerEncoderBlock(dim, num_heads, mlp_ratio, qkv_bias, dropout, 1e-6,
                                                          dtype)
                                  for _ in range(depth)])
        # timm keeps exactly one of the two final norms (the other an Identity)
        self.norm = Identity() if use_fc_norm else LayerNorm(dim, eps=1e-6, dtype=dtype)
        self.fc_norm = LayerNorm(dim, eps=1e-6, dtype=dtype) if use_fc_norm else Identity()
        self.head = Linear(dim, self.num_classes, dtype=dtype) if self.num_classes else Identity()

    def forward_features(self, x):
        """Token features after the last block, (B, N, D) (before the final norm)."""
        tokens = self.patch_embed(x)
        if self.cls_token is not None:
            cls = self.cls_token.expand(tokens.shape[0], 1, self.dim)
            tokens = _tensor.concatenate([cls, tokens], axis=1)
        x = tokens + self.pos_embed
        x = F.dropout(x, self.dropout, self.training)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_head(self, x):
        """Logits (B, num_classes) from forward_features' tokens (B, N, D):
        the final norm, the pooling, fc_norm, head dropout and the head."""
        if self.global_pool == "avg":
            x = self.norm(x)[:, self.num_prefix_tokens:].mean(axis=1)
        else:
            # LayerNorm acts per token, so norm(x)[:, 0] == norm(x[:, 0]): only
            # the [CLS] token the head reads is normalised
            x = self.norm(x[:, 0])
        x = F.dropout(self.fc_norm(x), self.drop_rate, self.training)
        return self.head(x)

    def forward(self, x):
        if not isinstance(x, _tensor.Tensor):
            x = _tensor.Tensor(np.asarray(x))
        if x.dtype != self.pos_embed.dtype:
            raise _engine._dtype_error(self.pos_embed.dtype, x.dtype)
        return self.forward_head(self.forward_features(x))

    @classmethod
    def from_pretrained(cls, path, num_heads=None, dtype=np.float32, **overrides):
        """A model with the weights of a timm / Hugging Face ``model.safetensors``
        checkpoint of a plain ViT (timm's layout: patch_embed.proj, cls_token,
        pos_embed, blocks.{i}.*, norm or fc_norm, head).

        The configuration comes from the tensor shapes: dim, depth, patch size,
        channels, image size (square, from pos_embed), [CLS] token, MLP ratio,
        qkv bias, fc_norm and num_classes (0 when there is no head).  The head
        count cannot be read from shapes: pass ``num_heads``, or it is taken
        from the standard sizes (dim 192 -> 3, 384 -> 6, 768 -> 12, 1024 and
        1280 -> 16).  ``overrides`` (e.g. ``global_pool``, ``dropout``) are
        passed to the constructor.  Arrays are cast to ``dtype``.  Layer
        scale, register tokens and other timm variants are refused with the
        checkpoint keys that the model does not have.
        """
        state = _io.load(path)
        config = _config_from_state(state, path)
        if num_heads is None:
            if config["dim"] not in _HEADS_BY_DIM:
                raise ValueError(f"{path}: embedding dim {config['dim']} is not a standard ViT size "
                                 f"{sorted(_HEADS_BY_DIM)}; pass num_heads explicitly")
            num_heads = _HEADS_BY_DIM[config["dim"]]
        config.update(_timm_to_ours(overrides))
        model = cls(num_heads=num_heads, dtype=dtype, **config)
        model.load_state_dict(state, strict=True)
        return model

    def extra_repr(self):
        return (f"num_tokens={self.num_tokens}, dim={self.dim}, depth={self.depth}, "
                f"global_pool={self.global_pool!r}")


def _config_from_state(state, path):
    """The constructor arguments that a timm-layout ViT state dict implies."""
    def need(key):
        if key not in state:
            raise ValueError(f"{path}: not a ViT checkpoint in timm's layout (no {key!r}; "
                             f"keys start {sorted(state)[:5]})")
        return state[key]
    proj = need("patch_embed.proj.weight")
    pos = need("pos_embed")
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3] or pos.ndim != 3 or pos.shape[-1] != proj.shape[0]:
        raise ValueError(f"{path}: patch_embed.proj.weight {proj.shape} and pos_embed {pos.shape} "
                         f"do not describe a square-patch ViT")
    dim, in_channels, patch_size = proj.shape[0], proj.shape[1], proj.shape[2]
    class_token = "cls_token" in state
    num_patches = pos.shape[1] - (1 if class_token else 0)
    side = math.isqrt(max(num_patches, 0))
    if num_patches < 1 or side * side != num_patches:
        raise ValueError(f"{path}: pos_embed has {pos.shape[1]} positions, which is not a square grid "
                         f"of patches{' plus the [CLS] token' if class_token else ''}")
    depth = 0
    while f"blocks.{depth}.norm1.weight" in state:
        depth += 1
    if depth == 0:
        raise ValueError(f"{path}: no encoder blocks (blocks.0.norm1.weight)")
    hidden = need("blocks.0.mlp.fc1.weight").shape[0]
    fc_norm = "fc_norm.weight" in state
    config = dict(image_size=side * patch_size, patch_size=patch_size, in_channels=in_channels, dim=dim,
                  depth=depth, mlp_ratio=hidden / dim, qkv_bias="blocks.0.attn.qkv.bias" in state,
                  class_token=class_token, fc_norm=fc_norm,
                  global_pool="token" if class_token and not fc_norm else "avg",
                  num_classes=state["head.weight"].shape[0] if "head.weight" in state else 0)
    return config


def _vit_factory(name, patch_size, image_size, dim, depth, num_heads):
    def factory(**kwargs):
        config = dict(image_size=image_size, patch_size=patch_size, dim=dim, depth=depth, num_heads=num_heads)
        config.update(_timm_to_ours(kwargs))
        return VisionTransformer(**config)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"ViT as timm's ``{name}``: {image_size}x{image_size} images, {patch_size}x{patch_size} "
                       f"patches, dim {dim}, depth {depth}, {num_heads} heads.  Keyword arguments (ours or "
                       f"timm's names, e.g. num_classes, global_pool, dtype) override the configuration.")
    return factory


vit_tiny_patch16_224 = _vit_factory("vit_tiny_patch16_224", 16, 224, 192, 12, 3)
vit_small_patch16_224 = _vit_factory("vit_small_patch16_224", 16, 224, 384, 12, 6)
vit_base_patch16_224 = _vit_factory("vit_base_patch16_224", 16, 224, 768, 12, 12)


class ViTCost(NamedTuple):
    """What seed 000 sections 4.2-4.7 count for one ViT configuration.

    FLOPs count a multiply-add as 2 and are per image; ``attention_flops``
    is the token-mixing part (Q Kᵀ and P V, 4·N²·D per layer, the O(N²·D)
    term of eq. 4.7), ``projection_flops`` the qkv and output projections
    (8·N·D² per layer), ``mlp_flops`` the MLP (4·N·D·D_MLP per layer, eq. 4.9).
    """
    tokens: int                       # N = (H/P)(W/P) + 1       (4.1, 4.2)
    patch_tokens: int                 # N_patch = (H/P)(W/P)
    head_dim: int                     # d_h = D / h              (4.4)
    attention_modules: int            # = depth L                (4.3)
    attention_entries_per_layer: int  # h · N²                   (4.6, 4.13)
    mlp_hidden: int                   # D_MLP = r · D            (4.8)
    parameters: int
    attention_flops: int
    projection_flops: int
    mlp_flops: int
    embedding_flops: int              # patch projection and head
    total_flops: int


def vit_cost(image_size=224, patch_size=16, dim=192, depth=12, num_heads=3, mlp_ratio=4.0,
             in_channels=3, num_classes=1000):
    """The seed's cost model of a ViT as numbers (seed 000 sections 4.2-4.7).

    >>> c = vit_cost(224, 16, 192, 12, 3)
    >>> c.tokens, c.head_dim, c.attention_entries_per_layer, c.parameters
    (197, 64, 116427, 5717416)
    """
    H, W, P = _grid(image_size, patch_size)
    D, h = _check_heads(dim, num_heads)
    L = _positive_int(depth, "depth")
    if not (isinstance(mlp_ratio, (int, float)) and mlp_ratio > 0):
        raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
    C = _positive_int(in_channels, "in_channels")
    n_patch = (H // P) * (W // P)
    N = n_patch + 1
    hidden = int(D * mlp_ratio)
    block_params = (2 * D                      # norm1
                    + 3 * D * D + 3 * D        # qkv
                    + D * D + D                # proj
                    + 2 * D                    # norm2
                    + D * hidden + hidden      # fc1
                    + hidden * D + D)          # fc2
    params = (D * C * P * P + D               # patch_embed.proj
              + D + N * D                      # cls_token, pos_embed
              + L * block_params
              + 2 * D                          # norm
              + D * num_classes + num_classes)  # head
    attention = L * 4 * N * N * D
    projection = L * 8 * N * D * D
    mlp = L * 4 * N * D * hidden
    embedding = 2 * n_patch * C * P * P * D + 2 * D * num_classes
    return ViTCost(tokens=N, patch_tokens=n_patch, head_dim=D // h, attention_modules=L,
                   attention_entries_per_layer=h * N * N, mlp_hidden=hidden, parameters=params,
                   attention_flops=attention, projection_flops=projection, mlp_flops=mlp,
                   embedding_flops=embedding,
                   total_flops=attention + projection + mlp + embedding)
