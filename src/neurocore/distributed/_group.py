"""The process group: torch.distributed's names on MPI's COMM_WORLD.

MPI is the engine; nothing here moves bytes itself.  ``init_process_group``
duplicates COMM_WORLD (so that our collectives never match a user's own MPI
calls), splits it by shared-memory node for the local rank, picks the
threads per rank and installs the exception hook that ends every rank when
one raises.
"""
import os
import sys
import time

import numpy as np

from neurocore._kernels import set_num_threads
from neurocore._tensor import Tensor

__all__ = [
    "ReduceOp", "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "get_rank", "get_world_size", "get_local_rank", "get_local_world_size", "barrier", "broadcast",
    "all_reduce", "Work",
]


class ReduceOp:
    """The reductions of ``all_reduce`` (torch.distributed.ReduceOp's names).
    AVG is SUM followed by a division by the world size on every rank."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


_REDUCE_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MAX, ReduceOp.MIN)


class _Group:
    """The one process group: communicators, ranks, the wait timeout."""

    def __init__(self, MPI, comm, local_comm, timeout):
        self.MPI = MPI
        self.comm = comm
        self.local_comm = local_comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.local_rank = local_comm.Get_rank()
        self.local_size = local_comm.Get_size()
        self.timeout = timeout
        self.previous_excepthook = None
        self.windows = []           # shared-memory windows (SharedBuffer), freed with the group


class SharedBuffer:
    """One flat array per rank of this node in one MPI shared-memory window
    (MPI_Win_allocate_shared on the node's communicator): every rank reads
    and writes every rank's array directly.  Collective to create; freed by
    destroy_process_group (freeing a window is collective too, so it cannot
    wait for garbage collection)."""

    def __init__(self, group, count, dtype):
        MPI = group.MPI
        dtype = np.dtype(dtype)
        nbytes = max(count, 1) * dtype.itemsize
        self.win = MPI.Win.Allocate_shared(nbytes, dtype.itemsize, comm=group.local_comm)
        # a passive-target epoch for the window's life: Sync() then orders
        # this rank's loads and stores around the barriers (MPI's unified model)
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.arrays = []
        for r in range(group.local_size):
            memory, _ = self.win.Shared_query(r)
            a = np.frombuffer(memory, dtype=dtype, count=count)
            if not a.flags.aligned or not a.flags.writeable:
                raise RuntimeError("MPI's shared-memory window is not an aligned, writable buffer")
            self.arrays.append(a)
        self.mine = self.arrays[group.local_rank]
        group.windows.append(self)

    def fence(self, group, what):
        """Every rank's stores before it are seen by every rank's loads after
        it: a memory barrier, a barrier of the node, a memory barrier."""
        self.win.Sync()
        _wait([group.local_comm.Ibarrier()], what)
        self.win.Sync()

    def free(self):
        self.arrays = self.mine = None
        self.win.Unlock_all()
        self.win.Free()


_group = None


def is_available():
    """True: importing neurocore.distributed succeeded, so mpi4py is there."""
    return True


def is_initialized():
    return _group is not None


def _require_group():
    if _group is None:
        raise RuntimeError("Default process group has not been initialized, please make sure to call "
                           "neurocore.distributed.init_process_group()")
    return _group


def _mpi_op(MPI, op):
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}[op]


def _default_threads(local_size):
    """Cores on this node divided among its ranks (at least 1), so that
    ranks x threads never oversubscribe the node; within this process's CPU
    affinity when the launcher binds ranks to cores."""
    cores = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
    else:
        usable = cores
    return max(1, min(usable, cores // max(local_size, 1)))


def _abort_on_exception(exc_type, exc, tb):
    """sys.excepthook while the group is up: print the rank and the error,
    then MPI Abort, which ends every rank of the job (the others would
    otherwise wait forever in their next collective)."""
    group = _group
    previous = group.previous_excepthook if group is not None else sys.__excepthook__
    if group is None or group.size == 1:
        previous(exc_type, exc, tb)
        return
    sys.stderr.write(f"neurocore.distributed: rank {group.rank} of {group.size} raised "
                     f"{exc_type.__name__}: {exc}\n")
    previous(exc_type, exc, tb)
    sys.stderr.write(f"neurocore.distributed: rank {group.rank} aborts the job (MPI Abort) so that no rank "
                     f"waits forever for it\n")
    sys.stderr.flush()
    sys.stdout.flush()
    group.comm.Abort(1)


def init_process_group(backend="mpi", *, timeout=None, num_threads=None, abort_on_exception=True):
    """Join the job's process group (every rank started by mpiexec/srun).

    Args:
        backend: "mpi" (the only one).
        timeout: seconds (or a datetime.timedelta) a collective of
            neurocore.distributed may wait before raising TimeoutError; None
            waits as long as it takes (a rank that raises still ends the job,
            see abort_on_exception).
        num_threads: kernel threads of this rank; None: the cores of the node
            divided by the ranks on it, unless NEUROCORE_NUM_THREADS or
            OMP_NUM_THREADS says otherwise.
        abort_on_exception: install a sys.excepthook that prints the rank and
            the uncaught exception and calls MPI Abort, ending all ranks.
    """
    global _group
    if backend not in ("mpi", "MPI"):
        raise ValueError(f"backend must be 'mpi' (neurocore.distributed runs on MPI), got {backend!r}")
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if timeout is not None:
        timeout = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout}")
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                    or num_threads < 1):
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
    # importing mpi4py.MPI initialises MPI (mpi4py's default), so it waits until here
    from mpi4py import MPI

    comm = MPI.COMM_WORLD.Dup()
    local_comm = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    group = _Group(MPI, comm, local_comm, timeout)
    _group = group
    for name, value in (("RANK", group.rank), ("WORLD_SIZE", group.size), ("LOCAL_RANK", group.local_rank),
                        ("LOCAL_WORLD_SIZE", group.local_size)):
        os.environ.setdefault(name, str(value))         # the torchrun convention, for user code
    if num_threads is None and not (os.environ.get("NEUROCORE_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")):
        num_threads = _default_threads(group.local_size)
    if num_threads is not None:
        set_num_threads(num_threads)
    if abort_on_exception:
        group.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_exception


def destroy_process_group():
    """Leave the group: free its communicators and restore sys.excepthook.
    MPI itself stays initialised (mpi4py finalises it at exit)."""
    global _group
    group = _require_group()
    for window in group.windows:
        window.free()
    group.windows.clear()
    if group.previous_excepthook is not None and sys.excepthook is _abort_on_exception:
        sys.excepthook = group.previous_excepthook
    _group = None
    group.local_comm.Free()
    group.comm.Free()


def get_rank():
    return _require_group().rank


def get_world_size():
    return _require_group().size


def get_local_rank():
    """This process's rank among the ranks on its node (MPI's shared-memory
    split of the world), the LOCAL_RANK of torchrun's convention."""
    return _require_group().local_rank


def get_local_world_size():
    return _require_group().local_size


def _wait(requests, what):
    """Wait for MPI requests, within the group's timeout when one is set."""
    group = _require_group()
    MPI = group.MPI
    if group.timeout is None:
        MPI.Request.Waitall(requests)
        return
    deadline = time.monotonic() + group.timeout
    pause = 1e-5
    while not MPI.Request.Testall(requests):
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {group.rank}: {what} did not complete within {group.timeout:g} s "
                               f"(another rank is stuck or gone)")
        time.sleep(pause)
        pause = min(pause * 2, 1e-3)


def barrier():
    group = _require_group()
    _wait([group.comm.Ibarrier()], "barrier")


def _buffer(tensor, name):
    """(array to hand to MPI, array to copy the result into or None): in
    place on a Tensor's data or a NumPy array; a non-contiguous or
    byte-swapped array goes through a native contiguous copy."""
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a neurocore Tensor or a NumPy array, got {type(tensor).__name__}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a bool, integer or float dtype, got {arr.dtype}")
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; collectives work in place")
    native = arr.dtype.newbyteorder("=")
    if arr.flags.c_contiguous and arr.dtype.isnative:
        return arr, None
    return np.ascontiguousarray(arr, dtype=native), arr


class Work:
    """The handle of an ``async_op=True`` collective: ``wait()`` completes it
    (and finishes the in-place update), ``is_completed()`` polls."""

    def __init__(self, request, finish, what):
        self._request, self._finish, self._what, self._done = request, finish, what, False

    def is_completed(self):
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None):
        if not self._done:
            _wait([self._request], self._what)
            self._complete()
        return True

    def _complete(self):
        self._done = True
        self._finish()


def _finisher(work, target, divide_by=None):
    def finish():
        if divide_by is not None:
            np.divide(work, divide_by, out=work, casting="unsafe")
        if target is not None:
            target[...] = work
    return finish


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` (a Tensor or NumPy array) over all ranks, in place:
    every rank ends with the same result.  ``op``: ReduceOp.SUM, AVG,
    PRODUCT, MAX or MIN.  The reduction order is MPI's for the world size and
    message size, never the arrival order, so results are reproducible."""
    g = _require_group()
    if group is not None:
        raise ValueError("group: only the default (world) group exists; pass group=None")
    if op not in _REDUCE_OPS:
        raise ValueError(f"op must be one of ReduceOp.SUM, AVG, PRODUCT, MAX, MIN, got {op!r}")
    work, target = _buffer(tensor, "tensor")
    if op == ReduceOp.AVG and work.dtype.kind != "f":
        raise TypeError(f"ReduceOp.AVG needs a float tensor, got dtype {work.dtype}")
    if work.dtype.kind == "b" and op not in (ReduceOp.MAX, ReduceOp.MIN):
        raise TypeError(f"a bool tensor reduces with MAX or MIN only, got {op!r}")
    request = g.comm.Iallreduce(g.MPI.IN_PLACE, work, _mpi_op(g.MPI, op))
    handle = Work(request, _finisher(work, target, g.size if op == ReduceOp.AVG else None), "all_reduce")
    if async_op:
        return handle
    handle.wait()
    return None


def broadcast(tensor, src=0, group=None, async_op=False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place
    (same shape and dtype on every rank)."""
    g = _require_group()
    if group is not None:
        raise ValueError("group: only the default (world) group exists; pass group=None")
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"src must be a rank in [0, {g.size}), got {src!r}")
    work, target = _buffer(tensor, "tensor")
    request = g.comm.Ibcast(work, root=int(src))
    handle = Work(request, _finisher(work, target), "broadcast")
    if async_op:
        return handle
    handle.wait()
    return None


def broadcast_object(obj, src=0):
    """Rank ``src``'s Python object (pickled) on every rank."""
    g = _require_group()
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < g.size:
        raise ValueError(f"src must be a rank in [0, {g.size}), got {src!r}")
    return g.comm.bcast(obj, root=int(src))
