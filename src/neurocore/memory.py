"""neurocore.memory: the cache of large array blocks.

Arrays of 256 KiB or more that neurocore's kernels return take their memory
from a bounded cache.  When such an array is freed, its block is kept (up to
a limit in total, 64 MiB by default) and handed to the next array of about
its size, with its pages still mapped.  A training step that allocates the
same large temporaries every step then reuses them instead of faulting
fresh pages in from the OS each time (glibc returns blocks above its mmap
threshold to the OS on free).  Arrays keep working after the cache is
emptied or resized; only the free blocks are affected.  NumPy arrays that
neurocore did not allocate never use the cache.
"""
from neurocore import _kernels

__all__ = ["empty_cache", "set_cache_limit", "memory_stats"]


def empty_cache():
    """Returns every free cached block to the system (as
    torch.cuda.empty_cache does for its allocator)."""
    _kernels._empty_cache()


def set_cache_limit(nbytes):
    """Keep at most `nbytes` of free blocks (0 turns caching off); returns
    the previous limit.  Lowering it frees the cached blocks."""
    return _kernels._set_cache_limit(nbytes)


def memory_stats():
    """A dict: cached_bytes and cached_blocks (free blocks held now), limit,
    hits (requests served from the cache) and misses (served fresh)."""
    return _kernels._cache_stats()
