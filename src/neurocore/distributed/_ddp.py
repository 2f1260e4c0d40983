"""DistributedDataParallel: torch.nn.parallel.DistributedDataParallel's name
and behaviour on MPI.

Each rank holds a full replica of the model and a shard of every batch.
After ``loss.backward()`` every replica holds the average of the ranks'
gradients, so one optimizer step keeps the replicas bitwise equal.

How the gradients travel:

* Buckets.  The parameters are cut, in reverse order of registration (the
  order in which backward usually completes their gradients), into flat
  buckets of at most ``bucket_cap_mb`` MiB (across machines the first one
  1 MiB, so that the first transfer starts early), one dtype per bucket.
* Overlap.  Each parameter has a post-accumulate-grad hook.  When the last
  gradient of a bucket is in, the hook copies the bucket's gradients into
  its flat buffer and starts a non-blocking ``MPI_Iallreduce`` on it while
  the backward pass goes on computing earlier layers' gradients.  Buckets
  start strictly in bucket order (a bucket whose gradients come early waits
  for the buckets before it), so every rank issues the same collectives in
  the same order, whatever the timing.
* One node.  When every rank runs on one node (mpiexec -n 2 on a
  workstation), each bucket lives in an MPI shared-memory window instead:
  when its last gradient is in, the ranks meet at a barrier, each sums its
  own slice of the bucket across all ranks' copies (in rank order), divides
  by the world size and writes the result into every rank's copy, and they
  meet again.  That moves each byte a few times through memory, against
  MPI's shared-memory allreduce at ~3 GB/s here (1 ms for the 2.7 MB of
  an MLP [784, 512, 512, 10], more than a third of a rank's step); it runs
  inside the hook, so nothing is left in flight.  NEUROCORE_DDP_SHARED_MEMORY=0
  keeps MPI's allreduce (the path of multi-node jobs).
* Progress.  MPI moves a non-blocking collective forward only inside MPI
  calls (MPICH has no progress thread unless asked, and one would need
  MPI_THREAD_MULTIPLE and a core of its own, which a rank running one
  kernel thread per core does not have).  So every hook calls
  ``MPI_Testall`` on the reductions in flight: a few microseconds each, at
  every parameter the backward pass completes, which keeps the pipelined
  steps of the allreduce moving between kernels.
* Completion.  The hook of the last expected gradient waits for all
  reductions (``MPI_Waitall``), divides by the world size and copies the
  averages back into each ``.grad``; ``loss.backward()`` returns with the
  averaged gradients.  If a backward pass leaves some parameter without a
  gradient, the next ``forward`` raises (or pass
  ``find_unused_parameters=True``, which finds them from the graph at each
  forward and counts them as ready with a zero gradient).
* Determinism.  The sum of each bucket is MPI's for the world size and
  bucket size (with MPICH, the same algorithm and order for the same
  sizes), or on one node the rank-order sum of the shared path; the
  division is the same on every rank, so every replica gets the same bits
  and two runs give the same bits.
"""
import contextlib
import os
import time

import numpy as np

from neurocore import nn
from neurocore._engine import _toposort
from neurocore._grad_mode import is_grad_enabled
from neurocore._tensor import Tensor
from neurocore.distributed import _group

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20         # torch's default first bucket (dist._DEFAULT_FIRST_BUCKET_BYTES)


def _use_shared_memory(group):
    return (group.size > 1 and group.local_size == group.size
            and os.environ.get("NEUROCORE_DDP_SHARED_MEMORY", "1") != "0")


class _Bucket:
    """A flat buffer for the gradients of some parameters of one dtype."""

    __slots__ = ("index", "params", "offsets", "buffer", "ready", "request", "shared", "copies", "scratch",
                 "averaged")

    def __init__(self, index, params):
        self.index = index
        self.params = params
        self.offsets = []
        total = 0
        for p in params:
            self.offsets.append(total)
            total += p.data.size
        self.buffer = np.empty(total, params[0].data.dtype)
        self.ready = 0
        self.request = None
        self.shared = self.copies = self.scratch = None
        self.averaged = False

    def share(self, group, shared, offset):
        """Move the buffer to [offset, offset + size) of every rank's array
        of the node's shared-memory window `shared`."""
        n = self.buffer.size
        self.shared = shared
        self.copies = [a[offset:offset + n] for a in shared.arrays]
        self.buffer = self.copies[group.local_rank]
        if len(self.copies) > 2:        # two ranks sum straight into the first copy
            lo, hi = self.slice(group)
            self.scratch = np.empty(hi - lo, self.buffer.dtype)

    def slice(self, group):
        """The part of the buffer this rank sums on the shared path."""
        n, ranks, r = self.buffer.size, group.local_size, group.local_rank
        return n * r // ranks, n * (r + 1) // ranks


class ReductionStats:
    """Counters of the gradient reductions (seconds are wall time on this rank).

    ``exposed_s``: time the backward pass spent inside MPI for the gradient
    reductions (starting them, testing them, the final wait): what the
    overlap failed to hide; ``wait_s``: the part of it in the final wait
    for all buckets.  ``copy_s``: packing gradients into buckets and
    the averages back.  ``steps``, ``buckets``, ``bytes``: reductions done;
    ``early_buckets``: buckets started before the last gradient of their
    backward pass was in (the reductions that overlapped the backward)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.exposed_s = 0.0
        self.wait_s = 0.0
        self.copy_s = 0.0
        self.steps = 0
        self.buckets = 0
        self.bytes = 0
        self.early_buckets = 0

    def __repr__(self):
        return (f"ReductionStats(steps={self.steps}, buckets={self.buckets}, bytes={self.bytes}, "
                f"early_buckets={self.early_buckets}, exposed_s={self.exposed_s:.6f}, "
                f"wait_s={self.wait_s:.6f}, copy_s={self.copy_s:.6f})")


class DistributedDataParallel(nn.Module):
    """Data-parallel training of ``module`` over the process group.

    Args:
        module: the model; its parameters are overwritten with rank 0's at
            wrap time (and its buffers at every forward when
            ``broadcast_buffers``).
        bucket_cap_mb: size of a gradient bucket in MiB (default 25, as
            PyTorch); across machines the first bucket holds at most 1 MiB.
        broadcast_buffers: copy rank 0's buffers (non-parameter state) to
            every rank at each forward.
        find_unused_parameters: walk the graph of each forward's output to
            find parameters that will get no gradient, and reduce zeros for
            them (without it, such a parameter is an error at the next
            forward, as in PyTorch).
        gradient_as_bucket_view: after the reduction, each ``.grad`` is a
            view of its bucket instead of a copy of it (as PyTorch's option
            of that name): one copy of every gradient less per step, but a
            gradient kept past the next backward pass changes with the next
            reduction.

    Example::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(nc.nn.MLP([64, 128, 10]))
        opt = nc.optim.SGD(model.parameters(), lr=0.1)
        loss = F.cross_entropy(model(x_shard), y_shard)
        loss.backward()            # .grad: the average over all ranks
        opt.step()

    ``ddp.no_sync()`` skips the reduction for gradient accumulation: the
    gradients of the backward passes inside it add up locally and the first
    backward after it averages the sum.  ``ddp.reduction_stats`` counts the
    time spent in the reductions.
    """

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True, find_unused_parameters=False,
                 device_ids=None, output_device=None, gradient_as_bucket_view=False):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a neurocore.nn.Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        if device_ids not in (None, []) or output_device is not None:
            raise ValueError("device_ids/output_device: neurocore runs on the CPU; leave them None")
        group = _group._require_group()
        self.module = module
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "broadcast_buffers", bool(broadcast_buffers))
        object.__setattr__(self, "find_unused_parameters", bool(find_unused_parameters))
        object.__setattr__(self, "gradient_as_bucket_view", bool(gradient_as_bucket_view))
        object.__setattr__(self, "bucket_cap_mb", bucket_cap_mb)
        object.__setattr__(self, "reduction_stats", ReductionStats())
        params = [p for p in module.parameters() if p.requires_grad]
        object.__setattr__(self, "_params", params)
        self._broadcast_parameters()
        shared = _use_shared_memory(group)
        # the small first bucket starts a network transfer early; on one node
        # the ranks average the buckets themselves, with nothing to overlap,
        # and every bucket costs two node-wide synchronisations
        cap = int(bucket_cap_mb * (1 << 20))
        buckets = self._make_buckets(params, cap, cap if shared else _FIRST_BUCKET_BYTES)
        if shared:
            # one window per dtype (collective), the buckets end to end in it
            sizes = {}
            for b in buckets:
                sizes[b.buffer.dtype] = sizes.get(b.buffer.dtype, 0) + b.buffer.size
            windows = {dtype: _group.SharedBuffer(group, n, dtype) for dtype, n in sizes.items()}
            offsets = dict.fromkeys(sizes, 0)
            for b in buckets:
                dtype = b.buffer.dtype
                b.share(group, windows[dtype], offsets[dtype])
                offsets[dtype] += b.buffer.size
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_bucket_of", {id(p): (b, i) for b in buckets for i, p in enumerate(b.params)})
        object.__setattr__(self, "_require_sync", True)
        object.__setattr__(self, "_reset_pass", None)
        self._new_pass()
        object.__setattr__(self, "_handles", [p.register_post_accumulate_grad_hook(self._grad_ready)
                                              for p in params])

    # ---- set-up ---------------------------------------------------------------
    def _broadcast_parameters(self):
        """Every rank takes rank 0's parameters (and buffers), in one
        broadcast per dtype of all of them packed together."""
        by_dtype = {}
        for p in self._params:
            by_dtype.setdefault(p.data.dtype, []).append(p.data)
        for m in self.module.modules():
            for name, b in m._buffers.items():
                if isinstance(b, np.ndarray) and b.dtype.kind in "biuf":
                    by_dtype.setdefault(b.dtype, []).append(b)
        for dtype, arrays in by_dtype.items():
            flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.empty(0, dtype)
            _group.broadcast(flat, src=0)
            offset = 0
            for a in arrays:
                a[...] = flat[offset:offset + a.size].reshape(a.shape)
                offset += a.size

    @staticmethod
    def _make_buckets(params, cap_bytes, first_cap_bytes):
        buckets, current, current_bytes, cap = [], {}, {}, min(first_cap_bytes, cap_bytes)
        for p in reversed(params):
            dtype = p.data.dtype
            members = current.setdefault(dtype, [])
            if members and current_bytes[dtype] + p.data.nbytes > cap:
                buckets.append(_Bucket(len(buckets), members))
                members = current[dtype] = []
                current_bytes[dtype] = 0
                cap = cap_bytes
            members.append(p)
            current_bytes[dtype] = current_bytes.get(dtype, 0) + p.data.nbytes
        for members in current.values():
            if members:
                buckets.append(_Bucket(len(buckets), members))
        return buckets

    def _new_pass(self):
        for b in self._buckets:
            b.ready = 0
            b.request = None
            b.averaged = False
        object.__setattr__(self, "_ready_ids", set())
        object.__setattr__(self, "_next_bucket", 0)
        object.__setattr__(self, "_expected", len(self._params))
        object.__setattr__(self, "_in_flight", [])
        object.__setattr__(self, "_pass_started", False)
        object.__setattr__(self, "_unused", ())

    # ---- forward -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._pass_started:
            missing = [name for name, p in self.module.named_parameters()
                       if p.requires_grad and id(p) not in self._ready_ids]
            self._new_pass()
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one: "
                f"the last backward pass gave no gradient to {missing[:8]}"
                f"{' and more' if len(missing) > 8 else ''}; pass find_unused_parameters=True to "
                "DistributedDataParallel if some parameters take no part in the loss")
        if self.broadcast_buffers and any(m._buffers for m in self.module.modules()):
            for m in self.module.modules():
                for b in m._buffers.values():
                    if isinstance(b, np.ndarray) and b.dtype.kind in "biuf" and b.flags.writeable:
                        _group.broadcast(b, src=0)
        output = self.module(*args, **kwargs)
        if self.find_unused_parameters and self._require_sync and is_grad_enabled():
            self._mark_unused(output)
        return output

    def _mark_unused(self, output):
        """Parameters the graph of ``output`` does not reach get no gradient
        in the coming backward: count them as ready, with zeros."""
        outputs = []

        def collect(x):
            if isinstance(x, Tensor):
                outputs.append(x)
            elif isinstance(x, (list, tuple)):
                for y in x:
                    collect(y)
            elif isinstance(x, dict):
                for y in x.values():
                    collect(y)
        collect(output)
        if not any(t.requires_grad for t in outputs):
            return                              # nothing will run backward from this output
        reached = set()
        for node in _toposort([t._node for t in outputs if t._node is not None]):
            for p, need in zip(node.parents or (), node.needs_input_grad):
                if need and isinstance(p, Tensor) and p._node is None:
                    reached.add(id(p))
        reached.update(id(t) for t in outputs if t._node is None and t.requires_grad)
        unused = [p for p in self._params if id(p) not in reached]
        if unused:
            object.__setattr__(self, "_unused", tuple(unused))
            object.__setattr__(self, "_pass_started", True)
            for p in unused:
                self._grad_ready(p, unused=True)

    # ---- the reduction ------------------------------------------------------
    def _grad_ready(self, p, unused=False):
        """Post-accumulate-grad hook of every parameter."""
        if not self._require_sync:
            return
        key = id(p)
        if key in self._ready_ids:
            if unused:
                return
            raise RuntimeError("a parameter's gradient was completed twice in one reduction: "
                               "call backward once per forward (or use no_sync() to accumulate)")
        group = self._group
        start = time.perf_counter()
        object.__setattr__(self, "_pass_started", True)
        self._ready_ids.add(key)
        bucket, _ = self._bucket_of[key]
        bucket.ready += 1
        launched = False
        done = len(self._ready_ids) == self._expected
        packing = 0.0
        # start every complete bucket from the next one on, in bucket order
        while self._next_bucket < len(self._buckets) and \
                self._buckets[self._next_bucket].ready == len(self._buckets[self._next_bucket].params):
            b = self._buckets[self._next_bucket]
            t0 = time.perf_counter()
            self._pack(b)
            packing += time.perf_counter() - t0
            if b.shared is not None:
                self._average_shared(b)
            else:
                b.request = group.comm.Iallreduce(group.MPI.IN_PLACE, b.buffer, group.MPI.SUM)
                self._in_flight.append(b.request)
            self.reduction_stats.buckets += 1
            self.reduction_stats.bytes += b.buffer.nbytes
            self.reduction_stats.early_buckets += not done
            object.__setattr__(self, "_next_bucket", self._next_bucket + 1)
            launched = True
        if self._in_flight and not launched:
            group.MPI.Request.Testall(self._in_flight)      # drive MPI's progress engine
        self.reduction_stats.copy_s += packing
        self.reduction_stats.exposed_s += time.perf_counter() - start - packing
        if done:
            self._finish()

    def _pack(self, b):
        for p, offset in zip(b.params, b.offsets):
            g = p.grad
            view = b.buffer[offset:offset + p.data.size]
            if g is None:
                view[...] = 0
            else:
                view[...] = g.data.reshape(-1)

    def _average_shared(self, b):
        """The one-node path: every rank's gradients are in its copy of the
        bucket; this rank averages its slice over all copies, in rank order,
        and writes the averages into every copy."""
        group = self._group
        what = "the gradient reduction of DistributedDataParallel"
        b.shared.fence(group, what)
        lo, hi = b.slice(group)
        copies = [c[lo:hi] for c in b.copies]
        # the sum in rank order, divided, into the first copy, then the others
        acc = copies[0] if b.scratch is None else b.scratch
        np.add(copies[0], copies[1], out=acc)
        for c in copies[2:]:
            np.add(acc, c, out=acc)
        np.divide(acc, group.size, out=copies[0])
        for c in copies[1:]:
            np.copyto(c, copies[0])
        b.shared.fence(group, what)
        b.averaged = True

    def _finish(self):
        """Wait for every bucket, average, and hand the averages back."""
        start = time.perf_counter()
        _group._wait(self._in_flight, "the gradient allreduce of DistributedDataParallel")
        waited = time.perf_counter()
        size = self._group.size
        for b in self._buckets:
            if size > 1 and not b.averaged:
                np.divide(b.buffer, size, out=b.buffer)
            for p, offset in zip(b.params, b.offsets):
                avg = b.buffer[offset:offset + p.data.size].reshape(p.data.shape)
                if self.gradient_as_bucket_view:
                    p.grad = Tensor(avg)
                elif p.grad is None or not p.grad.data.flags.writeable:
                    p.grad = Tensor(avg.copy())
                else:
                    p.grad.data[...] = avg
        end = time.perf_counter()
        stats = self.reduction_stats
        stats.wait_s += waited - start
        stats.exposed_s += waited - start
        stats.copy_s += end - waited
        stats.steps += 1
        self._new_pass()

    # ---- gradient accumulation -------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside skip the reduction; their gradients add up
        locally and the next backward outside averages the sum."""
        previous = self._require_sync
        object.__setattr__(self, "_require_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_require_sync", previous)

    def remove_hooks(self):
        """Unregister the gradient hooks (the module trains alone again)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
