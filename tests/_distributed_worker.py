"""The rank program of tests/test_distributed.py, run as
``mpiexec -n 2 python tests/_distributed_worker.py SCENARIO OUT [...]``.

Scenarios:
  train OUT [--stop-at K CKPT] [--resume CKPT]
      data-parallel AdamW training of a tiny ViT on a fixed data set; after
      every step the parameters must be bitwise equal on all ranks; rank 0
      writes the final parameters (and the reduction counters) to OUT (.npz).
      --stop-at K CKPT stops after K steps and checkpoints; --resume CKPT
      starts from such a checkpoint.
  api OUT
      the collectives, no_sync, unused parameters, the sampler on the group.
  fault
      rank 1 raises inside backward() while rank 0 waits in the allreduce.
  hang
      rank 1 stalls; rank 0's allreduce times out (init_process_group(timeout=2)).
"""
import sys

import numpy as np

import neurocore as nc
import neurocore.distributed as dist
from neurocore import functional as F

STEPS = 6
GLOBAL_BATCH = 8
CONFIG = dict(image_size=8, patch_size=4, in_channels=1, num_classes=3, dim=16, depth=2, num_heads=2,
              mlp_ratio=2.0)


def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((STEPS * GLOBAL_BATCH, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, STEPS * GLOBAL_BATCH)
    return x, y


def make_model(seed):
    nc.manual_seed(seed)
    return nc.nn.VisionTransformer(**CONFIG)


def global_batch(step):
    x, y = data()
    return x[step * GLOBAL_BATCH:(step + 1) * GLOBAL_BATCH], y[step * GLOBAL_BATCH:(step + 1) * GLOBAL_BATCH]


def flat_params(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def assert_replicas_equal(model, what):
    mine = flat_params(model)
    theirs = mine.copy()
    dist.broadcast(theirs, src=0)
    same = np.array([int(mine.tobytes() == theirs.tobytes())], np.int32)
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    if not same[0]:
        raise AssertionError(f"parameters differ between ranks {what}")


def train(out, stop_at=None, ckpt=None, resume=None, bucket_view=False):
    rank, world = dist.get_rank(), dist.get_world_size()
    # rank 1 starts from other weights: the wrap must broadcast rank 0's
    model = make_model(seed=0 if rank == 0 else 99)
    if resume is not None:
        model = make_model(seed=1234)           # the checkpoint must overwrite everything
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.002,   # several buckets of ~2 KiB
                                       gradient_as_bucket_view=bucket_view)
    assert_replicas_equal(model, "after the wrap")
    opt = nc.optim.AdamW(ddp.parameters(), lr=3e-3, weight_decay=0.05)
    first = 0
    if resume is not None:
        state = dist.load(resume)
        ddp.module.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        first = state["step"]
    for step in range(first, STEPS):
        if stop_at is not None and step == stop_at:
            dist.save({"model": ddp.module.state_dict(), "optimizer": opt.state_dict(), "step": step}, ckpt)
            break
        xb, yb = global_batch(step)
        opt.zero_grad()
        loss = F.cross_entropy(ddp(nc.tensor(xb[rank::world])), yb[rank::world])
        loss.backward()
        opt.step()
        assert_replicas_equal(model, f"after step {step}")
    if rank == 0:
        stats = ddp.reduction_stats
        views = [np.shares_memory(p.grad.data, ddp._bucket_of[id(p)][0].buffer) for p in ddp._params]
        np.savez(out, params=flat_params(model), buckets=len(ddp._buckets), early=stats.early_buckets,
                 steps=stats.steps, shared=all(b.shared is not None for b in ddp._buckets),
                 grads_are_views=all(views), grads_share_none=not any(views))


def api(out):
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {}
    assert dist.is_initialized() and world == 2
    results["local_rank"] = dist.get_local_rank()
    results["threads"] = nc.get_num_threads()
    # collectives, in place on Tensors and arrays
    t = nc.tensor(np.array([1.0, 2.0, 3.0], np.float32) * (rank + 1))
    dist.all_reduce(t)
    results["sum"] = t.numpy().copy()
    a = np.array([1.0, 4.0], np.float64) * (rank + 1)
    dist.all_reduce(a, op=dist.ReduceOp.AVG)
    results["avg"] = a.copy()
    m = np.array([rank, -rank, 5], np.int64)
    dist.all_reduce(m, op=dist.ReduceOp.MAX)
    results["max"] = m.copy()
    m = np.array([rank, -rank, 5], np.int64)
    dist.all_reduce(m, op=dist.ReduceOp.MIN)
    results["min"] = m.copy()
    strided = np.zeros((3, 4), np.float32)
    strided[:, ::2] = rank + 1                  # a non-contiguous view, reduced in place
    dist.all_reduce(strided[:, ::2])
    results["strided"] = strided.copy()
    b = np.full(4, rank, np.float32)
    dist.broadcast(b, src=1)
    results["bcast"] = b.copy()
    work = dist.all_reduce(np.ones(2) * rank, async_op=True)
    work.wait()
    dist.barrier()
    # no_sync: two local backward passes accumulate, the third averages the sum
    nc.manual_seed(0)
    model = nc.nn.Sequential(nc.nn.Linear(3, 4), nc.nn.Tanh(), nc.nn.Linear(4, 2))
    ddp = dist.DistributedDataParallel(model)
    rng = np.random.default_rng(rank)
    xs = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(3)]
    local = nc.nn.Sequential(nc.nn.Linear(3, 4), nc.nn.Tanh(), nc.nn.Linear(4, 2))
    local.load_state_dict(model.state_dict())
    with ddp.no_sync():
        for x in xs[:2]:
            (ddp(nc.tensor(x)) ** 2).sum().backward()
    synced_before = ddp.reduction_stats.steps
    (ddp(nc.tensor(xs[2])) ** 2).sum().backward()
    for x in xs:
        (local(nc.tensor(x)) ** 2).sum().backward()
    want = np.concatenate([p.grad.numpy().ravel() for p in local.parameters()])
    dist.all_reduce(want, op=dist.ReduceOp.AVG)
    got = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    results["no_sync_steps"] = np.array([synced_before, ddp.reduction_stats.steps])
    results["no_sync_err"] = np.array([np.max(np.abs(got - want))])
    # a parameter without a gradient: an error at the next forward, or zeros
    # reduced with find_unused_parameters=True
    two = nc.nn.Sequential(nc.nn.Linear(3, 3), nc.nn.Linear(3, 3))
    ddp2 = dist.DistributedDataParallel(two)
    x = nc.tensor(np.ones((2, 3), np.float32))
    two[0](x).sum().backward()              # bypasses the second layer
    try:
        ddp2(x)
        results["unused_error"] = np.array([0])
    except RuntimeError as e:
        results["unused_error"] = np.array([int("find_unused_parameters" in str(e))])
    class Partial(nc.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nc.nn.Linear(3, 3)
            self.unused = nc.nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)
    three = Partial()
    ddp3 = dist.DistributedDataParallel(three, find_unused_parameters=True)
    ddp3(x * (rank + 1.0)).sum().backward()
    results["unused_grad"] = np.array([float(np.abs(three.unused.weight.grad.numpy()).max()),
                                       ddp3.reduction_stats.steps])
    with nc.no_grad():                          # an evaluation forward starts no reduction
        ddp3(x)
    steps_after_eval = ddp3.reduction_stats.steps
    ddp3(x).sum().backward()
    results["eval_then_train_steps"] = np.array([steps_after_eval, ddp3.reduction_stats.steps])
    sampler = dist.DistributedSampler(10, shuffle=False)
    results["sampler"] = sampler.indices()
    if rank == 0:
        np.savez(out, **results)
    dist.barrier()


class _FailOnRank1(nc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        if dist.get_rank() == 1:
            raise ValueError("injected failure in backward on rank 1")
        return g


def fault():
    model = nc.nn.Sequential(nc.nn.Linear(4, 8), nc.nn.ReLU(), nc.nn.Linear(8, 2))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0001)
    x = nc.tensor(np.ones((3, 4), np.float32))
    h = ddp.module[0](x)
    h = _FailOnRank1.apply(h)                   # between the two layers' gradients
    loss = ddp.module[2](ddp.module[1](h)).sum()
    loss.backward()                             # rank 0: waits for rank 1's buckets
    print(f"rank {dist.get_rank()} finished backward", flush=True)


def hang():
    """Rank 1 stalls before its backward pass; rank 0, with a 2 s timeout,
    gives up waiting for the gradient allreduce."""
    import time

    model = nc.nn.Sequential(nc.nn.Linear(4, 8), nc.nn.ReLU(), nc.nn.Linear(8, 2))
    ddp = dist.DistributedDataParallel(model)
    loss = ddp(nc.tensor(np.ones((3, 4), np.float32))).sum()
    if dist.get_rank() == 1:
        time.sleep(120)
    loss.backward()
    print(f"rank {dist.get_rank()} finished backward", flush=True)


def main(argv):
    scenario = argv[0]
    dist.init_process_group("mpi", timeout=2.0 if scenario == "hang" else None)
    if scenario == "train":
        out, rest = argv[1], argv[2:]
        stop_at = ckpt = resume = None
        bucket_view = rest[:1] == ["--bucket-view"]
        if rest[:1] == ["--stop-at"]:
            stop_at, ckpt = int(rest[1]), rest[2]
        elif rest[:1] == ["--resume"]:
            resume = rest[1]
        train(out, stop_at, ckpt, resume, bucket_view)
    elif scenario == "api":
        api(argv[1])
    elif scenario == "fault":
        fault()
    elif scenario == "hang":
        hang()
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
