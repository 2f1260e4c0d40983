"""neurocore.distributed on two MPI ranks: each test launches
``mpiexec -n 2 python tests/_distributed_worker.py ...`` with a timeout and
checks what rank 0 wrote.  Skipped only where mpi4py or mpiexec is absent
(the [test] extra installs both)."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import neurocore as nc
from neurocore import functional as F

mpi4py = pytest.importorskip("mpi4py", reason="the [mpi] extra (mpi4py, mpich) is not installed")

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_distributed_worker.py")
sys.path.insert(0, HERE)
import _distributed_worker as worker  # noqa: E402


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")   # the venv's, when not activated
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install mpich)")


def _launch(*args, timeout=60, check=True, **extra_env):
    env = dict(os.environ, **extra_env)
    for name in ("NEUROCORE_NUM_THREADS", "OMP_NUM_THREADS", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    command = [MPIEXEC, "-n", "2", sys.executable, WORKER, *map(str, args)]
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done, elapsed


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "full.npz"
    _launch("train", out)
    return dict(np.load(out))


def _reference_params():
    """One process, the whole global batch per step: what the 2-rank run
    computes, up to the order of float32 sums."""
    model = worker.make_model(seed=0)
    opt = nc.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    for step in range(worker.STEPS):
        xb, yb = worker.global_batch(step)
        opt.zero_grad()
        F.cross_entropy(model(nc.tensor(xb)), yb).backward()
        opt.step()
    return worker.flat_params(model)


def test_two_ranks_train_like_one_process_on_the_global_batch(uninterrupted):
    # the worker itself asserts bitwise-equal replicas after the wrap and every step
    want = _reference_params()
    got = uninterrupted["params"]
    assert got.shape == want.shape
    # the key bias of attention has a zero gradient in exact arithmetic (softmax
    # ignores a constant added to every score of a query), so its float32
    # gradient is rounding noise that AdamW scales up to ~lr per step: left out
    keep, offset = np.ones(got.shape, bool), 0
    for name, p in worker.make_model(seed=0).named_parameters():
        if name.endswith("attn.qkv.bias"):
            dim = p.data.size // 3
            keep[offset + dim:offset + 2 * dim] = False
        offset += p.data.size
    assert keep.sum() > 0.95 * keep.size
    np.testing.assert_allclose(got[keep], want[keep], rtol=2e-4, atol=2e-5)
    assert not np.array_equal(got, worker.flat_params(worker.make_model(seed=0)))   # it trained
    # every bucket reduced once per step, and some before the backward pass ended
    assert int(uninterrupted["steps"]) == worker.STEPS
    assert int(uninterrupted["buckets"]) > 2
    assert 0 < int(uninterrupted["early"]) <= (int(uninterrupted["buckets"]) - 1) * worker.STEPS


def test_gradient_as_bucket_view_gives_the_same_bits_without_the_copy(uninterrupted, tmp_path):
    """gradient_as_bucket_view=True (PyTorch's option): after each reduction
    the .grad arrays are views of the buckets, not copies, and training
    takes the same values."""
    assert bool(uninterrupted["grads_share_none"])
    _launch("train", tmp_path / "view.npz", "--bucket-view")
    view = np.load(tmp_path / "view.npz")
    assert bool(view["grads_are_views"])
    assert view["params"].tobytes() == uninterrupted["params"].tobytes()


def test_mpi_allreduce_path_gives_the_bits_of_the_shared_memory_path(uninterrupted, tmp_path):
    """Both ranks on one node: the buckets live in a shared-memory window
    (each rank averages a slice); NEUROCORE_DDP_SHARED_MEMORY=0 takes MPI's
    Iallreduce, the multi-node path.  Two ranks: (a + b) / 2 either way."""
    assert bool(uninterrupted["shared"])
    _launch("train", tmp_path / "mpi.npz", NEUROCORE_DDP_SHARED_MEMORY="0")
    mpi = np.load(tmp_path / "mpi.npz")
    assert not bool(mpi["shared"])
    assert int(mpi["steps"]) == worker.STEPS and int(mpi["early"]) > 0
    assert mpi["params"].tobytes() == uninterrupted["params"].tobytes()


def test_two_runs_are_bitwise_equal(uninterrupted, tmp_path):
    _launch("train", tmp_path / "again.npz")
    again = np.load(tmp_path / "again.npz")["params"]
    assert again.tobytes() == uninterrupted["params"].tobytes()


def test_stopped_and_resumed_run_equals_uninterrupted_run(uninterrupted, tmp_path):
    ckpt = tmp_path / "ckpt.safetensors"
    _launch("train", tmp_path / "first.npz", "--stop-at", 3, ckpt)
    saved = nc.load(ckpt)                      # a nested state dict: model, optimizer, step
    assert saved["step"] == 3 and isinstance(saved["optimizer"]["state"][0]["exp_avg"], np.ndarray)
    assert saved["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    _launch("train", tmp_path / "resumed.npz", "--resume", ckpt)
    resumed = np.load(tmp_path / "resumed.npz")["params"]
    assert resumed.tobytes() == uninterrupted["params"].tobytes()


def test_collectives_no_sync_unused_parameters(tmp_path):
    _launch("api", tmp_path / "api.npz")
    r = np.load(tmp_path / "api.npz")
    np.testing.assert_array_equal(r["sum"], [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(r["avg"], [1.5, 6.0])
    np.testing.assert_array_equal(r["max"], [1, 0, 5])
    np.testing.assert_array_equal(r["min"], [0, -1, 5])
    want = np.zeros((3, 4), np.float32)
    want[:, ::2] = 3.0
    np.testing.assert_array_equal(r["strided"], want)
    np.testing.assert_array_equal(r["bcast"], [1.0] * 4)
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    assert int(r["threads"]) == max(1, min(usable, cores // 2))
    assert int(r["local_rank"]) == 0
    assert r["no_sync_steps"].tolist() == [0, 1]
    assert float(r["no_sync_err"][0]) < 1e-5
    assert int(r["unused_error"][0]) == 1
    assert r["unused_grad"].tolist() == [0.0, 1.0]
    assert r["eval_then_train_steps"].tolist() == [1, 2]
    np.testing.assert_array_equal(r["sampler"], [0, 2, 4, 6, 8])


def test_a_rank_that_raises_ends_the_job():
    # rank 1 raises inside backward() while rank 0 waits in the gradient allreduce:
    # both must end, non-zero, with rank 1 and its exception named
    done, elapsed = _launch("fault", check=False, timeout=90)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert elapsed < 60, f"took {elapsed:.1f} s"
    assert "rank 1 of 2 raised ValueError: injected failure in backward on rank 1" in output, output
    assert "finished backward" not in output, output


def test_a_stalled_rank_times_out_with_a_timeout():
    done, elapsed = _launch("hang", check=False, timeout=90)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert elapsed < 60, f"took {elapsed:.1f} s"
    assert "rank 0 of 2 raised TimeoutError" in output, output
    assert "finished backward" not in output, output


def test_cli_demo_on_two_ranks_reports_the_accuracy_of_one_process():
    pytest.importorskip("sklearn", reason="the demo needs the [demo] extra")
    pytest.importorskip("tqdm", reason="the demo needs the [demo] extra")
    import re

    from neurocore.demos import mlp

    env = {k: v for k, v in os.environ.items() if k not in ("NEUROCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "neurocore", "demo", "--distributed"],
                          capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.findall(r"test accuracy: ([0-9.]+%) \(.* on 2 ranks", done.stdout)
    assert len(found) == 1, done.stdout                 # rank 0 alone reports
    assert found[0] == f"{mlp.main(quiet=True):.2%}"


def test_import_without_mpi4py_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "neurocore.distributed" or name.startswith("neurocore.distributed."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"neurocore\[mpi\]"):
        import neurocore.distributed  # noqa: F401


def test_functions_need_a_process_group():
    import neurocore.distributed as dist

    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend"):
        dist.init_process_group("gloo")
