"""python -m neurocore demo --model mlp: an MLP on scikit-learn's 8×8 digits.

Needs the ``[demo]`` extra (scikit-learn, tqdm).  Trains a 64-128-10 ReLU MLP
with cross-entropy and SGD with momentum, one progress bar per epoch, and
prints the test accuracy.
"""
import time

import numpy as np

import neurocore as nc
from neurocore import functional as F


def _cross_entropy(logits, target):
    if hasattr(F, "cross_entropy"):
        return F.cross_entropy(logits, target)
    # log-softmax + negative log-likelihood of the target class, averaged
    logp = F.log_softmax(logits, axis=-1)
    return -logp[np.arange(len(target)), target].mean()


class _MomentumSGD:
    """Fallback when nc.optim.SGD is absent: v = μ v + g, θ -= lr v (PyTorch's rule)."""

    def __init__(self, params, lr, momentum):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p, v in zip(self.params, self.velocity):
            if p.grad is not None:
                v *= self.momentum
                v += p.grad.data
                p.data -= self.lr * v


def _optimizer(params, lr, momentum):
    sgd = getattr(nc.optim, "SGD", None)
    if sgd is not None:
        return sgd(params, lr=lr, momentum=momentum)
    return _MomentumSGD(params, lr, momentum)


def load_digits_split(seed=0, test_fraction=0.2):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(0)
    return x[train] - mean, y[train], x[test] - mean, y[test]


def accuracy(model, x, y):
    model.eval()
    with nc.no_grad():
        pred = model(nc.tensor(x)).data.argmax(axis=1)
    model.train()
    return float((pred == y).mean())


def main(epochs=30, batch_size=32, lr=0.05, momentum=0.9, seed=0, quiet=False):
    from tqdm import tqdm

    start = time.perf_counter()
    nc.manual_seed(seed)
    x_train, y_train, x_test, y_test = load_digits_split(seed)
    model = nc.nn.MLP([64, 128, 10], activation="relu")
    opt = _optimizer(model.parameters(), lr, momentum)
    print(f"digits: {len(x_train)} train / {len(x_test)} test, model {model.__class__.__name__}"
          f"([64, 128, 10]), optimizer {type(opt).__name__}(lr={lr}, momentum={momentum})")
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        batches = range(0, len(order), batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch:2d}/{epochs}", leave=False, disable=quiet, unit="batch")
        total = 0.0
        for i in bar:
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = _cross_entropy(model(nc.tensor(x_train[idx])), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        bar.close()
        if not quiet and (epoch % 5 == 0 or epoch == epochs):
            print(f"epoch {epoch:2d}: train loss {total / len(order):.4f}, "
                  f"test accuracy {accuracy(model, x_test, y_test):.2%}")
    acc = accuracy(model, x_test, y_test)
    print(f"test accuracy: {acc:.2%} ({time.perf_counter() - start:.1f} s)")
    return acc


if __name__ == "__main__":
    main()
