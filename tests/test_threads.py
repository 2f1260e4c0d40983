"""The thread runtime (csrc/core/nc_thread.c): determinism across thread
counts on every kernel family, concurrent Python threads, fork, the
caller's floating-point state, idle CPU, oversubscription, controls and
linkage.  Anything that could hang runs in a subprocess with a timeout."""
import ctypes
import os
import platform
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import neurocore as nc
from neurocore import _kernels, _nc_core
from neurocore import kernels as K


def _run(code, timeout=120, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, cwd="/", timeout=timeout)


def _every_family(dtype, seed=0):
    """One call of each kernel family, every one large enough to go parallel;
    returns all outputs as a list of arrays."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    out = []
    a, b, w, bias = r(130, 300), r(300, 120), r(200, 300), r(200)
    out += [K.gemm(a, b), K.gemm(b, a, trans_a=True, trans_b=True)]
    out += list(K.linear_forward(a, w, bias, "gelu", return_preact=True))
    out += list(K.linear_backward(r(130, 200), a, w, a @ w.T, "tanh")[:2])
    out += [K.matmul(r(6, 64, 80), r(6, 80, 64))]
    mat, vec = r(700, 600), r(700)
    out += [K.matvec(mat, vec[:600]), K.matvec(mat, vec, trans=True), K.outer_acc(mat.copy(), vec, vec[:600])]
    x, y = r(70000), r(70000)
    out += [K.add(x, y), K.mul(x, y), K.fma(x, y, x), K.axpy(0.5, x, y.copy()), K.sum_rows(r(300, 260))]
    out += [K.gelu(x), K.exp(x[:20000]), K.activation_backward(y, x, "gelu_tanh"),
            K.activation_backward(y, np.tanh(x), "tanh", output=np.tanh(x))]
    z = r(160, 300)
    sm = K.softmax(z)
    g = r(160, 300)
    out += [sm, K.log_softmax(z), K.softmax_backward(sm, g), K.log_softmax_backward(K.log_softmax(z), g)]
    q, k, v = r(2, 3, 100, 32), r(2, 3, 90, 32), r(2, 3, 90, 32)
    for causal in (False, True):
        kk, vv = (q.copy(), q.copy()) if causal else (k, v)
        o, lse = K.attention_forward(q, kk, vv, is_causal=causal)
        out += [o, lse, *K.attention_backward(r(*o.shape), q, kk, vv, o, lse, is_causal=causal)]
    xl, wl = r(300, 192), r(192)
    yl, mu, rs = K.layer_norm_forward(xl, wl, wl)
    out += [yl, mu, rs, *K.layer_norm_backward(r(300, 192), xl, mu, rs, wl)]
    logits = r(400, 100)
    target = rng.integers(0, 100, 400)
    loss, lse = K.cross_entropy_forward(logits, target, label_smoothing=0.1)
    out += [loss, lse, K.cross_entropy_backward(logits, target, lse, label_smoothing=0.1)]
    probs = np.abs(r(400, 100))
    out += [K.bce_with_logits_forward(logits, probs / probs.max()),
            K.bce_with_logits_backward(logits, probs / probs.max())]
    sizes = [300001, 7, 70000]
    params = [r(n) for n in sizes]
    grads = [r(n) for n in sizes]
    m1, v1 = [np.zeros(n, dtype) for n in sizes], [np.zeros(n, dtype) for n in sizes]
    K.adam_step(params, grads, m1, v1, 1, lr=1e-2, weight_decay=0.1, decoupled=True)
    m2, v2 = [np.zeros(n, dtype) for n in sizes], [np.zeros(n, dtype) for n in sizes]
    lamb_params = [p.copy() for p in params]
    K.lamb_step(lamb_params, grads, m2, v2, 1, lr=1e-2, weight_decay=0.01)
    out += params + m1 + v1 + lamb_params + m2 + v2
    return out


def _assert_all_equal(results, reference):
    assert len(results) == len(reference)
    for i, (got, want) in enumerate(zip(results, reference)):
        assert np.array_equal(got, want, equal_nan=True), f"output {i} differs"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_every_family_bitwise_equal_on_1_2_3_threads(isa, dtype, threads):
    results = {}
    for n in (1, 2, 3):
        threads(n)
        results[n] = _every_family(dtype)
    _assert_all_equal(results[2], results[1])
    _assert_all_equal(results[3], results[1])


def test_four_python_threads_match_single_thread_results(threads):
    threads(1)
    expected = {seed: _every_family(np.float32, seed) for seed in range(4)}
    threads(max(2, _kernels._runtime_stats()["cores"]))
    got, errors = {}, []

    def work(seed):
        try:
            for _ in range(2):
                got[seed] = _every_family(np.float32, seed)
                _assert_all_equal(got[seed], expected[seed])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    workers = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in workers), "a kernel call hung"
    assert not errors, errors[:3]
    assert len(got) == 4


def test_helpers_never_exceed_cores_minus_callers(threads):
    """Four Python threads calling parallel kernels at once: each time a
    helper joined a call, busy helpers + callers inside a parallel call were
    within the capacity (the cores, or the thread count if larger)."""
    stats = _kernels._runtime_stats()
    threads(stats["cores"])
    rng = np.random.default_rng(3)
    a = rng.standard_normal((400, 400)).astype(np.float32)
    expected = K.gemm(a, a)
    _kernels._runtime_stats(reset=True)
    errors = []

    def work():
        for _ in range(15):
            if not np.array_equal(K.gemm(a, a), expected):
                errors.append("mismatch")

    workers = [threading.Thread(target=work) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    after = _kernels._runtime_stats()
    assert not errors
    assert after["capacity"] == stats["cores"]
    assert after["peak_load"] <= after["capacity"]
    assert after["peak_busy_helpers"] <= max(0, after["capacity"] - 1)
    assert after["busy_helpers"] == 0 and after["active_callers"] == 0


@pytest.mark.skipif(os.cpu_count() < 2, reason="needs two cores for a helper to join")
def test_a_lone_call_is_shared_with_helpers(threads):
    """The counter of the test above is live: a lone caller's big product is
    shared with helpers (on a busy machine a helper may miss a call, so
    several calls are made)."""
    threads(2)
    a = np.random.default_rng(4).standard_normal((600, 600)).astype(np.float32)
    _kernels._runtime_stats(reset=True)
    for _ in range(20):
        K.gemm(a, a)
        if _kernels._runtime_stats()["helper_chunks"] > 0:
            break
    stats = _kernels._runtime_stats()
    assert stats["helpers"] >= 1
    assert stats["helper_joins"] > 0 and stats["helper_chunks"] > 0
    assert stats["peak_load"] <= stats["capacity"]


_THREAD_CPU = """
    import os
    def thread_cpu():
        # {thread id: (name, CPU ticks)} of every thread of this process
        out = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            out[tid] = (name, int(fields[11]) + int(fields[12]))
        return out
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_idle_helpers_burn_no_cpu():
    """CPU time of neurocore's helpers (named nc-worker) during a 1 s sleep
    right after parallel kernel calls: they spin for microseconds, then sleep.
    NumPy's OpenBLAS pool spins ~40 ms after import, so whole-process CPU
    time is not the measure here."""
    result = _run(textwrap.dedent(_THREAD_CPU) + textwrap.dedent("""
        import time, numpy as np, neurocore as nc
        from neurocore import kernels as K
        nc.set_num_threads(2)
        a = np.random.default_rng(0).standard_normal((500, 500)).astype(np.float32)
        for _ in range(5):
            K.gemm(a, a); K.add(a.ravel(), a.ravel())
        before = thread_cpu()
        time.sleep(1.0)
        after = thread_cpu()
        helpers = [t for t, (name, _) in after.items() if name == "nc-worker"]
        ticks = sum(after[t][1] - before.get(t, ("", 0))[1] for t in helpers)
        print(len(helpers), ticks / os.sysconf("SC_CLK_TCK"))
    """))
    assert result.returncode == 0, result.stderr
    count, burnt = result.stdout.split()
    assert int(count) >= 1, "no helper thread named nc-worker was found"
    assert float(burnt) <= 0.010, f"{float(burnt) * 1000:.1f} ms of CPU burnt by idle helpers"


def test_idle_process_burns_no_cpu():
    """The whole process's CPU time during a 1 s sleep after parallel kernel
    calls, with NumPy's BLAS pool kept to one thread (its own ~40 ms spin
    after import is not neurocore's)."""
    result = _run("""
        import time, numpy as np, neurocore as nc
        from neurocore import kernels as K
        nc.set_num_threads(2)
        a = np.random.default_rng(0).standard_normal((500, 500)).astype(np.float32)
        for _ in range(5):
            K.gemm(a, a); K.add(a.ravel(), a.ravel())
        t0 = time.process_time()
        time.sleep(1.0)
        print(time.process_time() - t0)
    """, OPENBLAS_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    burnt = float(result.stdout.strip())
    assert burnt <= 0.010, f"{burnt * 1000:.1f} ms of CPU burnt while idle"


_FORK_SETUP = """
    import os, sys, threading, numpy as np, neurocore as nc
    from neurocore import kernels as K
    nc.set_num_threads(2)
    a = np.random.default_rng(0).standard_normal((400, 400)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal(200000).astype(np.float32)
    def compute():
        return K.gemm(a, a), K.gelu(x)
    def same(r, s):
        return all(np.array_equal(u, v) for u, v in zip(r, s))
    reference = compute()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_child_computes_what_the_parent_does():
    result = _run(_FORK_SETUP + """
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)   # fork() of a threaded process
    pid = os.fork()
    if pid == 0:
        ok = same(compute(), reference) and nc._kernels._runtime_stats()["helpers"] >= 1
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), same(compute(), reference))
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_multiprocessing_fork_pool_after_a_parallel_call():
    result = _run(_FORK_SETUP + """
    import multiprocessing as mp, warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    def task(i):
        return same(compute(), reference)
    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(task, range(4)))
    """, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, True, True, True]"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_while_another_thread_is_inside_a_kernel():
    """The child must not inherit a lock held by the parent's other thread,
    nor wait for that thread's job: it starts a pool of its own."""
    result = _run(_FORK_SETUP + """
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    stop = False
    def busy():
        while not stop:
            compute()
    t = threading.Thread(target=busy)
    t.start()
    codes = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            os._exit(0 if same(compute(), reference) else 3)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    stop = True
    t.join()
    print(codes)
    """, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([0] * 8)


_FE_UPWARD = {"x86_64": 0x800, "AMD64": 0x800, "i686": 0x800, "aarch64": 0x400000, "arm64": 0x400000}


@pytest.mark.skipif(platform.machine() not in _FE_UPWARD or sys.platform != "linux",
                    reason="fesetround constants known for Linux on x86 and aarch64")
def test_helpers_compute_under_the_callers_rounding_mode(threads):
    """With the caller rounding upward, a product shared with a helper gives
    the bits of the single-thread product in that mode (and not those of
    round-to-nearest): the helper ran under the caller's FP state."""
    libm = ctypes.CDLL(None)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(300000).astype(np.float32), rng.standard_normal(300000).astype(np.float32)
    nearest = K.mul(a, b)
    results = {}
    assert libm.fegetround() == 0
    try:
        for n in (1, 2):
            threads(n)
            _kernels._runtime_stats(reset=True)
            if libm.fesetround(_FE_UPWARD[platform.machine()]) != 0:
                pytest.skip("fesetround refused FE_UPWARD")
            for _ in range(50):
                results[n] = K.mul(a, b)
                if n == 1 or _kernels._runtime_stats()["helper_chunks"] > 0:
                    break
            libm.fesetround(0)
    finally:
        libm.fesetround(0)
    if _kernels._runtime_stats()["helper_chunks"] == 0:
        pytest.fail("no helper took part in 50 parallel calls")
    assert not np.array_equal(results[1], nearest)
    assert np.array_equal(results[2], results[1])


def test_num_threads_from_the_environment():
    code = "import neurocore; print(neurocore.get_num_threads())"
    assert _run(code, NEUROCORE_NUM_THREADS="3", OMP_NUM_THREADS="2").stdout.strip() == "3"
    assert _run(code, OMP_NUM_THREADS="2,1").stdout.strip() == "2"
    cores = _kernels._runtime_stats()["cores"]
    env = dict(os.environ, NEUROCORE_NUM_THREADS="zero")
    env.pop("OMP_NUM_THREADS", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == str(cores), result.stderr


def test_threadpoolctl_sees_and_limits_neurocore(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threads(2)
    info = [lib for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "neurocore"]
    assert len(info) == 1
    assert info[0]["num_threads"] == 2
    assert os.path.samefile(info[0]["filepath"], _nc_core.__file__)
    with threadpoolctl.threadpool_limits(1):
        assert nc.get_num_threads() == 1
    assert nc.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=1, user_api="neurocore"):
        assert nc.get_num_threads() == 1
    assert nc.get_num_threads() == 2


def test_no_openmp_runtime_in_the_extension():
    """No libgomp / libomp / libiomp NEEDED, nor any OpenMP entry point: the
    strings would be in the binary's dynamic string table."""
    with open(_nc_core.__file__, "rb") as f:
        binary = f.read()
    for name in (b"libgomp", b"libomp", b"libiomp", b"GOMP_parallel", b"omp_get_num_threads",
                 b"__kmpc_fork_call"):
        assert name not in binary, name
    if sys.platform == "linux":
        result = subprocess.run(["ldd", _nc_core.__file__], capture_output=True, text=True) \
            if _which("ldd") else None
        if result is not None and result.returncode == 0:
            assert "gomp" not in result.stdout and "libomp" not in result.stdout


def _which(name):
    import shutil
    return shutil.which(name)
