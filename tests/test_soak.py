"""Resource soak: many training steps, save/load cycles and thread-pool
resizes keep the resident set and the open file descriptors flat.

The default run does a short form (SHORT: a few seconds); NEUROCORE_SOAK=full
runs the full one (FULL: 20 000 steps, 2 000 save/load cycles, 1 000
resizes; .ci/run does).  Each runs in a fresh subprocess, so that what other
tests allocated does not blur the measurement.  After a warm-up tenth of
each phase, RSS may grow by at most RSS_BOUND over the remaining nine
tenths and the descriptor count not at all."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.soak,
              pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")]

SHORT = dict(steps=1000, cycles=100, resizes=100)
FULL = dict(steps=20000, cycles=2000, resizes=1000)
RSS_BOUND = 4 << 20

SCRIPT = r"""
import gc, json, os, sys, tempfile
import numpy as np
import neurocore as nc

PAGE = os.sysconf("SC_PAGE_SIZE")


def usage():
    gc.collect()
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * PAGE
    return rss, len(os.listdir("/proc/self/fd"))


def measured(phase, n, body):
    warm = max(1, n // 10)
    for i in range(warm):
        body(i)
    rss0, fds0 = usage()
    for i in range(warm, n):
        body(i)
    rss1, fds1 = usage()
    return {"phase": phase, "n": n, "rss_growth": rss1 - rss0, "fd_growth": fds1 - fds0}


steps, cycles, resizes = (int(v) for v in sys.argv[1:4])
nc.manual_seed(0)
rng = np.random.default_rng(0)
x = nc.tensor(rng.standard_normal((32, 16)).astype(np.float32))
y = rng.integers(0, 4, 32)
model = nc.nn.MLP([16, 32, 4], activation="gelu")
opt = nc.optim.AdamW(model.parameters(), lr=1e-3)


def train(i):
    opt.zero_grad()
    nc.functional.cross_entropy(model(x), y).backward()
    opt.step()


folder = tempfile.mkdtemp()
path = os.path.join(folder, "ckpt.safetensors")


def save_load(i):
    nc.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    back = nc.load(path)
    model.load_state_dict(back["model"])
    opt.load_state_dict(back["optimizer"])


def resize(i):
    nc.set_num_threads(1 + i % 2)
    train(i)


results = [measured("train", steps, train), measured("save_load", cycles, save_load),
           measured("resize", resizes, resize)]
print(json.dumps(results))
"""


def _soak(sizes):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(sizes["steps"]), str(sizes["cycles"]),
                           str(sizes["resizes"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in results:
        assert r["fd_growth"] == 0, r
        assert r["rss_growth"] <= RSS_BOUND, r
    return results


@pytest.mark.skipif(os.environ.get("NEUROCORE_SOAK") == "full", reason="the full soak runs instead")
def test_soak_short():
    _soak(SHORT)


@pytest.mark.skipif(os.environ.get("NEUROCORE_SOAK") != "full", reason="NEUROCORE_SOAK=full runs it")
def test_soak_full():
    print(_soak(FULL))
