"""Demos run by ``python -m neurocore demo [--model mlp|vit]``: models trained
on scikit-learn's bundled 8×8 digits (the ``[demo]`` extra: scikit-learn,
tqdm).  What the demos share: the data split, the accuracy and the training
loop with one progress bar per epoch."""
import time

import numpy as np

import neurocore as nc
from neurocore import functional as F


def load_digits_split(seed=0, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1] and centred
    on the training mean, float32; labels int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(0)
    return x[train] - mean, y[train], x[test] - mean, y[test]


def accuracy(model, x, y, batch_size=512):
    """Fraction of x classified as y, in eval mode and without a graph."""
    model.eval()
    correct = 0
    with nc.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(nc.tensor(x[i:i + batch_size])).numpy().argmax(1) == y[i:i + batch_size]).sum())
    model.train()
    return correct / len(x)


def train(model, opt, data, epochs, batch_size, seed=0, quiet=False, before_step=None):
    """Minibatch cross-entropy training with a tqdm bar per epoch; prints the
    test accuracy every 5 epochs and returns the final one.  before_step(step)
    runs before each optimizer step (a learning-rate schedule)."""
    from tqdm import tqdm

    x_train, y_train, x_test, y_test = data
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        bar = tqdm(range(0, len(order), batch_size), desc=f"epoch {epoch:2d}/{epochs}", leave=False,
                   disable=quiet, unit="batch")
        total = 0.0
        for i in bar:
            if before_step is not None:
                before_step(step)
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(nc.tensor(x_train[idx])), y_train[idx])
            loss.backward()
            opt.step()
            step += 1
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        bar.close()
        if not quiet and (epoch % 5 == 0 or epoch == epochs):
            print(f"epoch {epoch:2d}: train loss {total / len(order):.4f}, "
                  f"test accuracy {accuracy(model, x_test, y_test):.2%}")
    acc = accuracy(model, x_test, y_test)
    print(f"test accuracy: {acc:.2%} ({time.perf_counter() - start:.1f} s)")
    return acc
