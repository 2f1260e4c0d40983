"""neurocore next to NumPy (and PyTorch): one neurocore call alternated with
one call of the other library in a loop, as a program that mixes them does.

For each pair the score is (time of the neurocore call alone + time of the
partner call alone) / (time of one alternated pair): 1 when the two thread
pools leave each other alone, well below 1 when one pool's spinning or
barriers slow the other (13x to 79x slowdowns were measured with OpenMP's
default spinning next to OpenBLAS, on 2 cores).  The target is >= 0.8.

    python bench/bench_coexist.py                 # prints the table
    python -m pytest bench/bench_coexist.py -q    # pytest-benchmark groups

The cases are plain functions (`cases()` returns name, neurocore call,
partner call), so other drivers can reuse them.
"""
import statistics
import sys
import time

import numpy as np

import neurocore as nc
from neurocore import functional as F


def linear_pair(rng):
    """F.linear 64x784 -> 256 against NumPy's X @ W.T + b."""
    x = rng.standard_normal((64, 784)).astype(np.float32)
    w = rng.standard_normal((256, 784)).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    xt, wt, bt = nc.tensor(x), nc.tensor(w), nc.tensor(b)
    return (lambda: F.linear(xt, wt, bt)), (lambda: x @ w.T + b)


def matvec_pair(rng):
    """F.linear on a vector (1024 -> 1024) against NumPy's M @ v."""
    m = rng.standard_normal((1024, 1024)).astype(np.float32)
    v = rng.standard_normal(1024).astype(np.float32)
    mt, vt = nc.tensor(m), nc.tensor(v)
    return (lambda: F.linear(vt, mt)), (lambda: m @ v)


def mlp_step_pair(rng):
    """An MLP [784, 256, 10] training step at batch 64 (SGD) against a NumPy
    256 x 256 product."""
    nc.manual_seed(0)
    model = nc.nn.MLP([784, 256, 10])
    opt = nc.optim.SGD(model.parameters(), lr=0.01)
    x = nc.tensor(rng.standard_normal((64, 784)).astype(np.float32))
    y = rng.integers(0, 10, 64)
    a = rng.standard_normal((256, 256)).astype(np.float32)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step, (lambda: a @ a)


def torch_linear_pair(rng):
    """F.linear 64x784 -> 256 against torch.nn.functional.linear (same sizes)."""
    import torch

    neurocore_call, _ = linear_pair(rng)
    x = torch.randn(64, 784)
    w = torch.randn(256, 784)
    b = torch.randn(256)
    return neurocore_call, (lambda: torch.nn.functional.linear(x, w, b))


def cases():
    """(name, make) pairs; make(rng) returns (neurocore call, partner call)."""
    found = [
        ("F.linear 64x784->256 | NumPy X@W.T+b", linear_pair),
        ("F.linear matvec 1024 | NumPy M@v", matvec_pair),
        ("MLP B64 training step | NumPy 256x256 @", mlp_step_pair),
    ]
    try:
        import torch  # noqa: F401  (optional partner)
    except ImportError:
        pass
    else:
        found.append(("F.linear 64x784->256 | torch F.linear", torch_linear_pair))
    return found


def _per_call(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def measure(neurocore_call, partner_call, rounds=15, budget_s=0.03):
    """Medians over rounds (each round the three loops back to back, so a
    burst of load elsewhere hits all three): seconds per neurocore call
    alone, per partner call alone, per alternated pair, and the score."""
    both = lambda: (neurocore_call(), partner_call())  # noqa: E731
    for fn in (neurocore_call, partner_call, both):    # warm up (pools, caches)
        for _ in range(5):
            fn()
    calls = max(5, int(budget_s / max(_per_call(both, 5), 1e-7)))
    alone_nc, alone_partner, alternated = [], [], []
    for _ in range(rounds):
        alone_nc.append(_per_call(neurocore_call, calls))
        alone_partner.append(_per_call(partner_call, calls))
        alternated.append(_per_call(both, calls))
    t_nc, t_partner, t_both = (statistics.median(v) for v in (alone_nc, alone_partner, alternated))
    return t_nc, t_partner, t_both, (t_nc + t_partner) / t_both


def table(rounds=15):
    rows = [f"threads: {nc.get_num_threads()}",
            f"{'pair':42s} {'nc alone':>10s} {'other':>10s} {'alternated':>11s} {'score':>6s}"]
    for name, make in cases():
        t_nc, t_partner, t_both, score = measure(*make(np.random.default_rng(0)), rounds=rounds)
        rows.append(f"{name:42s} {t_nc * 1e3:8.3f}ms {t_partner * 1e3:8.3f}ms {t_both * 1e3:9.3f}ms {score:6.2f}")
    return "\n".join(rows)


# ---- pytest-benchmark: the alternated loop, with the score as extra info ----
try:
    import pytest
except ImportError:  # the script needs no pytest
    pytest = None

if pytest is not None:
    @pytest.mark.parametrize("name,make", cases(), ids=[c[0] for c in cases()])
    def test_coexist(benchmark, name, make):
        neurocore_call, partner_call = make(np.random.default_rng(0))
        t_nc, t_partner, t_both, score = measure(neurocore_call, partner_call, rounds=5)
        benchmark.group = f"coexist: {name}"
        benchmark.extra_info.update(alone_neurocore_s=t_nc, alone_partner_s=t_partner, score=score)
        benchmark(lambda: (neurocore_call(), partner_call()))
        assert np.isfinite(score) and score > 0


if __name__ == "__main__":
    print(table(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 15))
