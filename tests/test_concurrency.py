"""Training from several Python threads at once (a service training or
serving models side by side): each thread's model ends bitwise equal to the
same training run alone, grad mode stays per thread, and nothing crashes."""
import sys
import threading

import numpy as np

import neurocore as nc
from neurocore import functional as F


def _setup(seed, batch=4):
    """A small MLP and its data (built in the calling thread: nc.manual_seed
    is process-wide)."""
    rng = np.random.default_rng(seed)
    x = nc.tensor(rng.standard_normal((batch, 6)).astype(np.float32))
    y = rng.integers(0, 3, batch)
    nc.manual_seed(seed)
    return nc.nn.MLP([6, 8, 5, 3], activation="tanh"), x, y


def _train(model, x, y, steps=15, inference_every=0):
    """Adam on fixed data; a no_grad forward every inference_every steps."""
    opt = nc.optim.Adam(model.parameters(), lr=0.01)
    for k in range(steps):
        if inference_every and k % inference_every == 0:
            with nc.no_grad():
                out = model(x)
            assert out.grad_fn is None
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        assert loss.grad_fn is not None       # another thread's no_grad must not leak here
        loss.backward()
        opt.step()
    return [p.numpy().copy() for p in model.parameters()]


def test_threads_training_side_by_side_match_runs_alone():
    seeds = [1, 2, 3, 4]
    alone = {s: _train(*_setup(s)) for s in seeds}
    jobs = {s: _setup(s) for s in seeds}
    results, errors = {}, []

    def work(seed):
        try:
            for _ in range(3):          # the same run three times over, to overlap more
                results[seed] = _train(*_setup_copy(jobs[seed]), inference_every=1 + seed % 3)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)         # hand the GIL over as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    for s in seeds:
        for a, b in zip(results[s], alone[s]):
            np.testing.assert_array_equal(a, b)


def _setup_copy(job):
    """A fresh model with the job's initial parameters (no global seed involved)."""
    model, x, y = job
    fresh = nc.nn.MLP([6, 8, 5, 3], activation="tanh")
    fresh.load_state_dict(model.state_dict())
    return fresh, x, y
