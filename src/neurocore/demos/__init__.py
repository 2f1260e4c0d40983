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


def _mean_over_ranks(value):
    import neurocore.distributed as dist

    buf = np.array([value], np.float64)
    dist.all_reduce(buf, op=dist.ReduceOp.AVG)
    return float(buf[0])


def accuracy(model, x, y, batch_size=512):
    """Fraction of x classified as y, in eval mode and without a graph."""
    model.eval()
    correct = 0
    with nc.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(nc.tensor(x[i:i + batch_size])).numpy().argmax(1) == y[i:i + batch_size]).sum())
    model.train()
    return correct / len(x)


def train(model, opt, data, epochs, batch_size, seed=0, quiet=False, before_step=None, distributed=False):
    """Minibatch cross-entropy training with a tqdm bar per epoch; prints the
    test accuracy every 5 epochs and returns the final one.  before_step(step)
    runs before each optimizer step (a learning-rate schedule).

    distributed: ``model`` is a DistributedDataParallel; each global batch
    (the same as one process's) is dealt out to the ranks, rank r taking
    every world-th sample from r, and each rank's mean loss is weighted by
    its share of the batch, so that the averaged gradient is the gradient of
    the global batch's mean loss: the run computes what one process does, up
    to the order of float sums."""
    from tqdm import tqdm

    rank, world = 0, 1
    if distributed:
        import neurocore.distributed as dist

        rank, world = dist.get_rank(), dist.get_world_size()
        if batch_size < world:
            raise ValueError(f"batch_size ({batch_size}) must be at least the number of ranks ({world})")
    net = model
    model = getattr(net, "module", net)
    x_train, y_train, x_test, y_test = data
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        bar = tqdm(range(0, len(order), batch_size), desc=f"epoch {epoch:2d}/{epochs}", leave=False,
                   disable=quiet or rank != 0, unit="batch")
        total = 0.0
        for i in bar:
            if before_step is not None:
                before_step(step)
            idx = order[i:i + batch_size]
            local = idx[rank::world]
            opt.zero_grad()
            loss = F.cross_entropy(net(nc.tensor(x_train[local])), y_train[local])
            if world > 1 and len(local) * world != len(idx):
                loss = loss * (len(local) * world / len(idx))     # this rank's share of a ragged last batch
            loss.backward()
            opt.step()
            step += 1
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        bar.close()
        if world > 1:
            total = _mean_over_ranks(total)      # the global batch's loss
        if not quiet and rank == 0 and (epoch % 5 == 0 or epoch == epochs):
            print(f"epoch {epoch:2d}: train loss {total / len(order):.4f}, "
                  f"test accuracy {accuracy(model, x_test, y_test):.2%}")
    acc = accuracy(model, x_test, y_test)       # every rank holds the same replica
    if rank == 0:
        ranks = f" on {world} ranks x {nc.get_num_threads()} threads" if distributed else ""
        print(f"test accuracy: {acc:.2%} ({time.perf_counter() - start:.1f} s{ranks})")
    return acc
