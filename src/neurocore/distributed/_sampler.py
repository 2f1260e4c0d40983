"""DistributedSampler: torch.utils.data.distributed.DistributedSampler's
index sharding, on NumPy.

Every rank draws the same permutation of the dataset (seeded by ``seed +
epoch``), pads it by repeating its head (or, with ``drop_last``, trims its
tail) to a multiple of ``num_replicas``, and keeps every
``num_replicas``-th index from its rank on.  Shards are disjoint (but for
the padding) and of equal length, so every rank runs the same number of
steps.  The permutation is NumPy's ``default_rng(seed + epoch)``, so the
order differs from PyTorch's generator; the padding, trimming and
interleaving are PyTorch's.
"""
import math
import operator

import numpy as np

__all__ = ["DistributedSampler"]


def _index(value, name):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None


class DistributedSampler:
    """The indices of rank ``rank``'s shard of a dataset, one epoch at a time.

    Args:
        dataset: the dataset's length (an int) or any object with ``len()``.
        num_replicas: ranks sharing the dataset (default: the world size of
            the process group).
        rank: this rank (default: the process group's rank).
        shuffle: a new permutation each epoch (``set_epoch``); else in order.
        seed: seed of the permutations, the same on every rank.
        drop_last: trim the tail so that every shard is whole, instead of
            padding with indices from the head.

    Call ``set_epoch(epoch)`` before each epoch; without it every epoch
    yields the same order.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if isinstance(dataset, bool):
            raise TypeError("dataset must be a length (int) or a sized object, got bool")
        if isinstance(dataset, (int, np.integer)):
            length = int(dataset)
        elif hasattr(dataset, "__len__"):
            length = len(dataset)
        else:
            raise TypeError(f"dataset must be a length (int) or a sized object, got {type(dataset).__name__}")
        if length < 0:
            raise ValueError(f"dataset length must be >= 0, got {length}")
        if num_replicas is None or rank is None:
            from neurocore.distributed import _group
            group = _group._require_group()
            num_replicas = group.size if num_replicas is None else num_replicas
            rank = group.rank if rank is None else rank
        num_replicas = _index(num_replicas, "num_replicas")
        rank = _index(rank, "rank")
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset_len = length
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = bool(shuffle)
        self.seed = _index(seed, "seed")
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last and length % num_replicas:
            # the largest whole number of samples per rank
            self.num_samples = math.ceil((length - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(length / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """The epoch whose permutation the next iteration yields."""
        self.epoch = _index(epoch, "epoch")

    def indices(self):
        """This rank's shard of the current epoch, an int64 array of num_samples."""
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.dataset_len)
        else:
            order = np.arange(self.dataset_len)
        order = order.astype(np.int64, copy=False)
        if not self.drop_last:
            padding = self.total_size - len(order)
            if padding > 0 and len(order):
                order = np.concatenate([order, np.resize(order, padding)])   # the head, repeated
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples
