"""A Vision Transformer in plain NumPy: the program a user would write
without neurocore, and the baseline of bench_vit.py.

Same architecture and parameter names as nc.nn.VisionTransformer (the public
checkpoints' layout): forward, a hand-written backward, cross-entropy and
PyTorch's AdamW.  Activations are cached during the forward for the backward.
NumPy has no erf, so the exact GELU uses Abramowitz & Stegun 7.1.26
(|error| < 1.5e-7, below float32's resolution of the result).
"""
import math

import numpy as np


def erf(x):
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def layer_norm(x, w, b, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * rstd
    return xhat * w + b, (xhat, rstd, w)


def layer_norm_backward(dy, cache):
    xhat, rstd, w = cache
    g = dy * w
    dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    rows = tuple(range(dy.ndim - 1))
    return dx, (dy * xhat).sum(rows), dy.sum(rows)


class NumpyViT:
    def __init__(self, state_dict, num_heads, eps=1e-6):
        self.params = {k: np.array(v) for k, v in state_dict.items()}
        self.num_heads, self.eps = num_heads, eps
        self.depth = sum(1 for k in self.params if k.endswith("norm1.weight"))

    # ---- forward -------------------------------------------------------------
    def forward(self, images, cache=None):
        p = self.params
        w_pe = p["patch_embed.proj.weight"]
        D, C, P, _ = w_pe.shape
        B, _, H, W = images.shape
        gh, gw = H // P, W // P
        patches = images.reshape(B, C, gh, P, gw, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * P * P)
        tokens = patches @ w_pe.reshape(D, -1).T + p["patch_embed.proj.bias"]
        x = np.concatenate([np.broadcast_to(p["cls_token"], (B, 1, D)), tokens], axis=1) + p["pos_embed"]
        h = self.num_heads
        N, d = x.shape[1], D // h
        scale = 1.0 / math.sqrt(d)
        if cache is not None:
            cache["patches"] = patches
        for i in range(self.depth):
            q_ = lambda name: p[f"blocks.{i}.{name}"]  # noqa: E731
            y, ln1 = layer_norm(x, q_("norm1.weight"), q_("norm1.bias"), self.eps)
            qkv = (y @ q_("attn.qkv.weight").T + q_("attn.qkv.bias")).reshape(B, N, 3, h, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = q @ k.transpose(0, 1, 3, 2) * scale
            s = np.exp(s - s.max(-1, keepdims=True))
            attn = s / s.sum(-1, keepdims=True)
            a = (attn @ v).transpose(0, 2, 1, 3).reshape(B, N, D)
            x = x + a @ q_("attn.proj.weight").T + q_("attn.proj.bias")
            y2, ln2 = layer_norm(x, q_("norm2.weight"), q_("norm2.bias"), self.eps)
            z = y2 @ q_("mlp.fc1.weight").T + q_("mlp.fc1.bias")
            g = 0.5 * z * (1.0 + erf(z * (1 / math.sqrt(2))))
            x = x + g @ q_("mlp.fc2.weight").T + q_("mlp.fc2.bias")
            if cache is not None:
                cache[i] = (y, ln1, q, k, v, attn, a, y2, ln2, z, g)
        cls, ln = layer_norm(x[:, 0], p["norm.weight"], p["norm.bias"], self.eps)
        if cache is not None:
            cache["final"] = (cls, ln, x.shape)
        return cls @ p["head.weight"].T + p["head.bias"]

    # ---- backward ------------------------------------------------------------
    def backward(self, dlogits, cache):
        p, grads = self.params, {}
        h = self.num_heads
        cls, ln, shape = cache["final"]
        B, N, D = shape
        d = D // h
        scale = 1.0 / math.sqrt(d)
        grads["head.weight"] = dlogits.T @ cls
        grads["head.bias"] = dlogits.sum(0)
        dcls, grads["norm.weight"], grads["norm.bias"] = layer_norm_backward(dlogits @ p["head.weight"], ln)
        dx = np.zeros(shape, dlogits.dtype)
        dx[:, 0] = dcls
        for i in reversed(range(self.depth)):
            pre = f"blocks.{i}."
            y, ln1, q, k, v, attn, a, y2, ln2, z, g = cache[i]
            # MLP branch
            dg = dx @ p[pre + "mlp.fc2.weight"]
            grads[pre + "mlp.fc2.weight"] = dx.reshape(-1, D).T @ g.reshape(-1, g.shape[-1])
            grads[pre + "mlp.fc2.bias"] = dx.sum((0, 1))
            dz = dg * (0.5 * (1.0 + erf(z * (1 / math.sqrt(2)))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
            grads[pre + "mlp.fc1.weight"] = dz.reshape(-1, dz.shape[-1]).T @ y2.reshape(-1, D)
            grads[pre + "mlp.fc1.bias"] = dz.sum((0, 1))
            dy2, grads[pre + "norm2.weight"], grads[pre + "norm2.bias"] = layer_norm_backward(
                dz @ p[pre + "mlp.fc1.weight"], ln2)
            dx = dx + dy2
            # attention branch
            grads[pre + "attn.proj.weight"] = dx.reshape(-1, D).T @ a.reshape(-1, D)
            grads[pre + "attn.proj.bias"] = dx.sum((0, 1))
            da = (dx @ p[pre + "attn.proj.weight"]).reshape(B, N, h, d).transpose(0, 2, 1, 3)
            dv = attn.transpose(0, 1, 3, 2) @ da
            dp = da @ v.transpose(0, 1, 3, 2)
            ds = attn * (dp - (dp * attn).sum(-1, keepdims=True)) * scale
            dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
            dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(B, N, 3 * D)
            grads[pre + "attn.qkv.weight"] = dqkv.reshape(-1, 3 * D).T @ y.reshape(-1, D)
            grads[pre + "attn.qkv.bias"] = dqkv.sum((0, 1))
            dy, grads[pre + "norm1.weight"], grads[pre + "norm1.bias"] = layer_norm_backward(
                dqkv @ p[pre + "attn.qkv.weight"], ln1)
            dx = dx + dy
        grads["pos_embed"] = dx.sum(0, keepdims=True)
        grads["cls_token"] = dx[:, :1].sum(0, keepdims=True)
        dtok = dx[:, 1:]
        w_pe = p["patch_embed.proj.weight"]
        grads["patch_embed.proj.weight"] = (dtok.reshape(-1, D).T @ cache["patches"].reshape(
            -1, cache["patches"].shape[-1])).reshape(w_pe.shape)
        grads["patch_embed.proj.bias"] = dtok.sum((0, 1))
        return grads


def cross_entropy(logits, labels):
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    n = len(labels)
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1
    return -logp[np.arange(n), labels].mean(), grad / n


class AdamW:
    """PyTorch's AdamW: decoupled decay, bias-corrected moments."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        self.params, self.lr, self.betas, self.eps, self.wd = params, lr, betas, eps, weight_decay
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, g in grads.items():
            p = self.params[k]
            p *= 1 - self.lr * self.wd
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            p -= self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


def train_step(model, opt, images, labels):
    cache = {}
    loss, dlogits = cross_entropy(model.forward(images, cache), labels)
    opt.step(model.backward(dlogits.astype(images.dtype), cache))
    return loss
