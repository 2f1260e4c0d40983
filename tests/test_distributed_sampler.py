"""DistributedSampler's sharding semantics (PyTorch's padding, drop_last and
interleaving), with explicit num_replicas and rank: no process group."""
import math

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="the [mpi] extra (mpi4py, mpich) is not installed")
from neurocore.distributed import DistributedSampler  # noqa: E402


def _torch_shards(n, replicas, order, drop_last):
    """PyTorch's DistributedSampler.__iter__ on a given order, written out."""
    order = list(order)
    if drop_last and n % replicas:
        num_samples = math.ceil((n - replicas) / replicas)
    else:
        num_samples = math.ceil(n / replicas)
    total = num_samples * replicas
    if not drop_last:
        pad = total - len(order)
        if pad <= len(order):
            order += order[:pad]
        else:
            order += (order * math.ceil(pad / len(order)))[:pad]
    else:
        order = order[:total]
    return [order[r:total:replicas] for r in range(replicas)]


@pytest.mark.parametrize("n", [0, 1, 3, 10, 11, 17])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_match_pytorch_rules(n, replicas, drop_last):
    shards = [list(DistributedSampler(n, replicas, r, shuffle=False, drop_last=drop_last)) for r in range(replicas)]
    assert shards == _torch_shards(n, replicas, range(n), drop_last)
    lengths = {len(s) for s in shards}
    assert len(lengths) == 1                        # equal shard sizes: every rank runs the same steps
    assert len(DistributedSampler(n, replicas, 0, drop_last=drop_last)) == lengths.pop()
    flat = sorted(i for s in shards for i in s)
    if drop_last:
        assert len(set(flat)) == len(flat) and len(flat) == n - n % replicas if n >= replicas else True
    elif n:
        assert set(flat) == set(range(n))           # every sample, some twice (the padding)


def test_shuffle_is_seeded_per_epoch_and_shared_by_ranks():
    n, replicas = 23, 3
    samplers = [DistributedSampler(n, replicas, r, seed=5) for r in range(replicas)]
    first = [s.indices() for s in samplers]
    perm = np.random.default_rng(5).permutation(n)
    assert [list(x) for x in first] == _torch_shards(n, replicas, perm.tolist(), False)
    again = [s.indices() for s in samplers]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))   # no set_epoch: same order
    for s in samplers:
        s.set_epoch(1)
    second = [s.indices() for s in samplers]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))
    assert sorted(np.concatenate(second).tolist())[:n - 1] != []     # still a cover of the data set
    assert set(np.concatenate(second).tolist()) == set(range(n))
    other_seed = DistributedSampler(n, replicas, 0, seed=6)
    assert not np.array_equal(other_seed.indices(), first[0])


def test_takes_a_sized_dataset():
    assert list(DistributedSampler(list("abcde"), 2, 1, shuffle=False)) == [1, 3, 0]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dataset=5, num_replicas=2, rank=2), ValueError, "rank"),
    (dict(dataset=5, num_replicas=2, rank=-1), ValueError, "rank"),
    (dict(dataset=5, num_replicas=0, rank=0), ValueError, "num_replicas"),
    (dict(dataset=-1, num_replicas=1, rank=0), ValueError, "length"),
    (dict(dataset=object(), num_replicas=1, rank=0), TypeError, "dataset"),
    (dict(dataset=5, num_replicas=2.0, rank=0), TypeError, "num_replicas"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        DistributedSampler(**kwargs)
