"""ViT-Tiny/16 at 224 (5.7 M parameters, 197 tokens) in neurocore against the
same network in plain NumPy (bench/numpy_vit.py): inference at batch 1 and
8, and one AdamW training step (forward, cross-entropy, backward, update) at
batch 8.  Both start from the same weights.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/bench_vit.py \\
        --benchmark-json=/tmp/vit.json -q && python bench/report.py /tmp/vit.json
"""
import os
import sys

import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F

sys.path.insert(0, os.path.dirname(__file__))
from numpy_vit import AdamW, NumpyViT, train_step  # noqa: E402

TINY = dict(image_size=224, patch_size=16, dim=192, depth=12, num_heads=3)


@pytest.fixture(scope="module")
def tiny():
    nc.manual_seed(0)
    model = nc.nn.VisionTransformer(**TINY)
    return model, NumpyViT(model.state_dict(), TINY["num_heads"])


def test_numpy_reference_agrees():
    """The baseline computes the same function and gradients (small ViT)."""
    nc.manual_seed(1)
    model = nc.nn.VisionTransformer(image_size=8, patch_size=2, in_channels=3, num_classes=5, dim=12,
                                    depth=2, num_heads=3, dtype=np.float64)
    ref = NumpyViT(model.state_dict(), 3)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    labels = np.array([0, 1, 2, 3])
    logits = model(nc.tensor(x))
    cache = {}
    np.testing.assert_allclose(logits.numpy(), ref.forward(x, cache), rtol=1e-6, atol=1e-6)
    F.cross_entropy(logits, labels).backward()
    from numpy_vit import cross_entropy
    grads = ref.backward(cross_entropy(ref.forward(x, cache), labels)[1], cache)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("batch", [1, 8])
def test_vit_tiny_inference(benchmark, impl, tiny, batch):
    model, ref = tiny
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    benchmark.group = f"ViT-Tiny/16 forward batch {batch}"
    if impl == "numpy":
        benchmark(ref.forward, x)
    else:
        def run():
            with nc.no_grad():
                return model(nc.tensor(x))
        benchmark(run)


def test_vit_tiny_adamw_step(benchmark, impl, tiny):
    model, ref = tiny
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
    labels = rng.integers(0, 1000, 8)
    benchmark.group = "ViT-Tiny/16 AdamW training step batch 8"
    if impl == "numpy":
        opt = AdamW(ref.params, lr=1e-4, weight_decay=0.05)
        benchmark.pedantic(train_step, (ref, opt, x, labels), rounds=5, warmup_rounds=1)
    else:
        opt = nc.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(nc.tensor(x)), labels)
            loss.backward()
            opt.step()
            return loss
        benchmark.pedantic(step, rounds=5, warmup_rounds=1)
