"""The cache of large array blocks (csrc/core/nc_cache.c, neurocore.memory):
which arrays use it, reuse, the limit, emptying, NumPy's realloc and calloc
through it, threads and fork.  Anything that could hang runs in a
subprocess with a timeout."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import neurocore as nc
import neurocore.functional as F
from neurocore import _kernels
from neurocore import kernels as K
from neurocore import memory

BIG = 1 << 17            # float32 elements: 512 KiB, above the 256 KiB threshold
SMALL = 1 << 12          # 16 KiB


def _handler_name(a):
    return np._core.multiarray.get_handler_name(a)


@pytest.fixture(autouse=True)
def _default_limit():
    previous = memory.set_cache_limit(64 << 20)
    yield
    memory.set_cache_limit(previous)


def _run(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd="/", timeout=timeout)


def test_large_kernel_outputs_come_from_the_cache_and_small_ones_do_not():
    x = np.random.default_rng(0).standard_normal(BIG).astype(np.float32)
    assert _handler_name(K.add(x, x)) == "neurocore_cache"
    assert _handler_name(K.gemm(x.reshape(256, 512), x.reshape(512, 256))) == "neurocore_cache"
    assert _handler_name(K.activation_forward_grad(x, "gelu")[1]) == "neurocore_cache"
    assert _handler_name(K.add(x[:SMALL], x[:SMALL])) == "default_allocator"
    # the user's own arrays, made before and after, keep NumPy's allocator
    assert _handler_name(x) == "default_allocator"
    assert _handler_name(np.empty(BIG, np.float32)) == "default_allocator"


def test_a_freed_block_is_reused_and_the_result_is_still_right():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, BIG)).astype(np.float32)
    memory.empty_cache()                     # the freed block below is the only one
    first = K.mul(x, x)
    address = first.ctypes.data
    del first
    before = memory.memory_stats()
    second = K.add(x, y)                     # same size: takes the block back
    after = memory.memory_stats()
    assert second.ctypes.data == address
    assert after["hits"] == before["hits"] + 1
    np.testing.assert_array_equal(second, x + y)
    assert second.ctypes.data % 64 == 0


def test_autograd_steps_reuse_their_blocks():
    x = nc.tensor(np.random.default_rng(2).standard_normal(BIG).astype(np.float32), requires_grad=True)
    g = nc.tensor(np.ones(BIG, np.float32))
    F.gelu(x).backward(g)
    x.grad = None
    before = memory.memory_stats()
    for _ in range(3):
        F.gelu(x).backward(g)
        x.grad = None
    after = memory.memory_stats()
    assert after["misses"] == before["misses"]
    assert after["hits"] >= before["hits"] + 6          # y, dy and grad each step


def test_limit_bounds_the_free_blocks_and_zero_turns_caching_off():
    x = np.ones(BIG, np.float32)
    memory.empty_cache()
    assert memory.memory_stats()["cached_bytes"] == 0
    outs = [K.add(x, x) for _ in range(8)]
    memory.set_cache_limit(3 * BIG * 4 + 100)
    del outs
    stats = memory.memory_stats()
    assert stats["cached_blocks"] == 3
    assert stats["cached_bytes"] <= stats["limit"] == 3 * BIG * 4 + 100
    assert memory.set_cache_limit(0) == 3 * BIG * 4 + 100
    assert memory.memory_stats()["cached_bytes"] == 0      # lowering the limit frees them
    a = K.add(x, x)
    del a
    assert memory.memory_stats()["cached_bytes"] == 0
    np.testing.assert_array_equal(K.add(x, x), 2 * x)


def test_empty_cache_leaves_live_arrays_valid():
    x = np.arange(BIG, dtype=np.float32)
    keep = K.add(x, x)
    drop = K.mul(x, x)
    del drop
    assert memory.memory_stats()["cached_blocks"] >= 1
    memory.empty_cache()
    stats = memory.memory_stats()
    assert stats["cached_blocks"] == 0 and stats["cached_bytes"] == 0
    np.testing.assert_array_equal(keep, 2 * x)
    del keep
    assert memory.memory_stats()["cached_blocks"] == 1


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("64", TypeError), (True, TypeError)])
def test_set_cache_limit_rejects_bad_values(bad, exc):
    with pytest.raises(exc, match="nbytes"):
        memory.set_cache_limit(bad)


def test_numpy_calloc_and_realloc_through_the_cache_handler():
    """The handler's calloc must zero a reused (dirty) block, and realloc
    (ndarray.resize) must keep the contents, growing and shrinking."""
    x = np.full(BIG, 7.0, np.float32)
    dirty = K.add(x, x)
    del dirty                                # a block full of 14.0 is cached now
    previous = _kernels._use_cache_handler()
    try:
        z = np.zeros(BIG, np.float32)
        a = np.arange(BIG, dtype=np.float64)
        a.resize(3 * BIG, refcheck=False)
        b = np.arange(BIG, dtype=np.float64)
        b.resize(BIG // 8, refcheck=False)
    finally:
        _kernels._restore_handler(previous)
    assert _handler_name(z) == "neurocore_cache"
    assert not z.any()
    np.testing.assert_array_equal(a[:BIG], np.arange(BIG, dtype=np.float64))
    assert not a[BIG:].any()                  # NumPy zero-fills the grown part
    np.testing.assert_array_equal(b, np.arange(BIG // 8, dtype=np.float64))


def test_threads_allocating_and_freeing_at_once_get_right_results():
    rng = np.random.default_rng(3)
    sizes = [BIG, BIG + 1000, 2 * BIG, 3 * BIG // 2]
    inputs = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    errors = []

    def work(i):
        x = inputs[i % len(inputs)]
        for _ in range(200):
            out = [K.add(x, x), K.mul(x, x)]
            if not (np.array_equal(out[0], x + x) and np.array_equal(out[1], x * x)):
                errors.append(i)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = memory.memory_stats()
    assert stats["cached_bytes"] <= stats["limit"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_child_uses_the_cache_while_a_parent_thread_allocates():
    """A child forked while another thread holds the cache's lock must not
    inherit it held: its own allocations and frees go on."""
    result = _run("""
    import os, threading, warnings
    import numpy as np
    from neurocore import kernels as K, memory
    warnings.simplefilter("ignore", DeprecationWarning)   # fork() of a threaded process
    x = np.arange(1 << 17, dtype=np.float32)
    keep = K.add(x, x)
    stop = False
    def churn():
        while not stop:
            K.mul(x, x)
    t = threading.Thread(target=churn)
    t.start()
    codes = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            ok = all(np.array_equal(K.add(x, x), 2 * x) for _ in range(20)) and np.array_equal(keep, 2 * x)
            memory.empty_cache()
            os._exit(0 if ok else 3)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    stop = True
    t.join()
    print(codes)
    """, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([0] * 8)
