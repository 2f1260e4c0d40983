"""No kernel leaks: each family called a couple of thousand times (valid calls
and calls that raise during validation) keeps the resident set flat, and
Python threads that run a GEMM and exit do not each leave a packing workspace
behind.  Every check runs in a fresh subprocess, so what other tests
allocated does not blur the measurement."""
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

_PRELUDE = r"""
import os, sys, gc
sys.path.insert(0, {tests!r})
import numpy as np
import test_bad_input as T
K = T.K
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE
"""

_FAMILY_SCRIPT = _PRELUDE + r"""
names = {names!r}
calls = []
for name in names:
    spec = T.SPECS[name]
    fn = getattr(K, name)
    calls.append((fn, spec.build(3, T.F32)))          # a valid call
    calls.append((fn, spec.build(0, T.F32)))          # an empty one
    for cid, arg, mut, build in T._cases(name):       # calls that raise part-way
        if mut in ("readonly", "shrunk", "int64", "list"):
            kw = build()
            if kw is not None:
                calls.append((fn, kw))

def run(n):
    for _ in range(n):
        for fn, kw in calls:
            try:
                fn(**kw)
            except (TypeError, ValueError):
                pass

run(300)                       # warm up: caches, pools, first-touch
before = rss()
run({iters})
after = rss()
print("GROWTH", after - before)
"""

_THREAD_SCRIPT = _PRELUDE + r"""
import threading
rng = np.random.default_rng(0)
a = rng.standard_normal((384, 384)).astype(np.float32)
b = rng.standard_normal((384, 384)).astype(np.float32)
ref = K.matmul(a, b)

def work():
    np.testing.assert_array_equal(K.matmul(a, b), ref)
    K.linear_forward(a, b)

def cycle(n):
    for _ in range(n):
        t = threading.Thread(target=work)
        t.start()
        t.join()

cycle(20)
# two equal batches: a leak grows the resident set in both, while a one-off
# jump (a new malloc arena, the allocator returning memory late) shows in one
marks = [rss()]
for _ in range(2):
    cycle({iters} // 2)
    marks.append(rss())
print("GROWTH", min(marks[1] - marks[0], marks[2] - marks[1]))
"""

FAMILIES = {
    "elementwise": ["add", "sub", "mul", "div", "scale", "axpy", "fma", "sum_rows"],
    "activation": ["activation_forward", "activation_forward_grad", "activation_backward", "sigmoid",
                   "tanh", "relu", "leaky_relu", "gelu", "exp", "log", "erf", "erfc"],
    "softmax": ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"],
    "gemm": ["matvec", "outer_acc", "gemm", "matmul", "linear_forward", "linear_backward"],
    "optim": ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "lamb_step"],
    "attention": ["attention_forward", "attention_backward", "layer_norm_forward",
                  "layer_norm_backward"],
    "loss": ["cross_entropy_forward", "cross_entropy_backward", "bce_with_logits_forward",
             "bce_with_logits_backward"],
}


def _growth(script):
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split("GROWTH")[-1])


def test_families_cover_every_kernel():
    from test_bad_input import SPECS
    covered = {n for names in FAMILIES.values() for n in names}
    assert covered == set(SPECS), f"add to a leak family: {set(SPECS) - covered}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_repeated_calls_do_not_leak(family):
    # ~2000 rounds of every valid, empty and failing call of the family; a leak
    # of even one 64-byte object per call would show as > 1 MiB
    growth = _growth(_FAMILY_SCRIPT.format(tests=TESTS, names=FAMILIES[family], iters=2000))
    assert growth < (1 << 20), f"{family}: RSS grew by {growth / 1024:.0f} KiB over 2000 rounds"


def test_exited_threads_do_not_leak_gemm_workspace():
    # each thread packs a 384 x 384 product (workspace ~ hundreds of KiB per
    # thread); 100 threads leaking it would be tens of MiB
    growth = _growth(_THREAD_SCRIPT.format(tests=TESTS, iters=200))
    assert growth < (4 << 20), f"RSS grew by {growth / 1024:.0f} KiB over each of two runs of 100 exited threads"
