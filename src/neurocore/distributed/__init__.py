"""Data-parallel training across processes and machines, on MPI.

``pip install "neurocore[mpi]"`` (mpi4py and MPICH from PyPI, which gives
``mpiexec``), then launch one process per rank::

    mpiexec -n 4 python train.py            # or srun, or mpiexec -hosts/-f hostfile

and in ``train.py``, with torch.distributed's names::

    import neurocore as nc
    import neurocore.distributed as dist

    dist.init_process_group("mpi")
    model = dist.DistributedDataParallel(nc.nn.MLP([64, 128, 10]))
    sampler = dist.DistributedSampler(len(x_train))
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        ...                                   # this rank's shard of the data
    dist.destroy_process_group()

MPI moves the bytes (shared memory within a node, the network between
nodes); see the README's "Distributed training" section.
"""
try:
    import mpi4py  # noqa: F401  (mpi4py.MPI, which initialises MPI, waits for init_process_group)
except ImportError as e:
    raise ImportError("neurocore.distributed needs mpi4py and an MPI library: "
                      "pip install \"neurocore[mpi]\" (installs mpi4py and mpich)") from e

from neurocore.distributed._group import (  # noqa: E402
    ReduceOp, Work, all_reduce, barrier, broadcast, broadcast_object, destroy_process_group,
    get_local_rank, get_local_world_size, get_rank, get_world_size, init_process_group, is_available,
    is_initialized,
)
from neurocore.distributed._ddp import DistributedDataParallel  # noqa: E402
from neurocore.distributed._sampler import DistributedSampler  # noqa: E402
from neurocore.distributed._checkpoint import save, load  # noqa: E402

__all__ = [
    "ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "get_rank", "get_world_size", "get_local_rank", "get_local_world_size", "barrier", "broadcast",
    "broadcast_object", "all_reduce", "DistributedDataParallel", "DistributedSampler", "save", "load",
]
