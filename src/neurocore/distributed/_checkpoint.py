"""Checkpoints of a data-parallel run: rank 0 writes, rank 0 reads and
every rank receives.  The replicas are equal, so one copy is the state of
all; the file is nc.save's safetensors (nested state dicts flattened)."""
from neurocore import _io
from neurocore.distributed import _group

__all__ = ["save", "load"]


def save(state, path, metadata=None, src=0):
    """Rank ``src`` writes ``state`` (e.g. ``{"model": ddp.module.state_dict(),
    "optimizer": opt.state_dict(), "epoch": epoch}``) to ``path`` with
    nc.save; every rank returns once the file is complete."""
    group = _group._require_group()
    if group.rank == src:
        _io.save(state, path, metadata)
    _group.barrier()


def load(path, src=0):
    """Rank ``src`` reads ``path`` with nc.load and broadcasts the state to
    every rank, which returns it (arrays of its own, safe to modify)."""
    group = _group._require_group()
    state = _io.load(path) if group.rank == src else None
    return _group.broadcast_object(state, src=src)
