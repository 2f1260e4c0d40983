"""Speed of two neurocore builds side by side: two Python executables (two
virtual environments, e.g. before and after a change), each measured in a
fresh process per round, the rounds alternating A, B, B, A, ... so that
load on the machine hits both alike; medians over the rounds.

    python bench/ab_compare.py /path/venv-old/bin/python /path/venv-new/bin/python [rounds]

Cases: MLP training steps at batch 1, 64 and 256, GEMM 2048^3 (float32),
ViT-Tiny/16 inference at batch 1 and 8 and an AdamW training step at batch
8, and an Adam step on 5.7 M parameters.  Prints seconds per call for A and
B and B / A (below 1: B is faster), and the median of the per-round ratios.  Run it on an idle machine for numbers
to quote; NumPy's OpenBLAS variables are unset in the children as the
other benchmarks do.
"""
import json
import os
import statistics
import subprocess
import sys

# One round of every case in one process; prints {case: seconds} as JSON.
_CHILD = r'''
import json, sys, time
import numpy as np
import neurocore as nc
from neurocore import functional as F
from neurocore import kernels as K

def per_call(fn, calls, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]

def mlp(batch, sizes):
    rng = np.random.default_rng(0)
    nc.manual_seed(0)
    model = nc.nn.MLP(sizes)
    opt = nc.optim.SGD(model.parameters(), lr=0.01)
    x = nc.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = rng.integers(0, sizes[-1], batch)
    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step

out = {}
out["MLP B1 [5,3,4,3] step"] = per_call(mlp(1, [5, 3, 4, 3]), 400, 50)
out["MLP B64 [784,256,10] step"] = per_call(mlp(64, [784, 256, 10]), 200, 20)
out["MLP B256 [784,512,512,10] step"] = per_call(mlp(256, [784, 512, 512, 10]), 60, 5)
rng = np.random.default_rng(0)
a = rng.standard_normal((2048, 2048)).astype(np.float32)
b = rng.standard_normal((2048, 2048)).astype(np.float32)
out["GEMM 2048^3 f32"] = per_call(lambda: K.gemm(a, b), 5, 1)
nc.manual_seed(0)
vit = nc.nn.VisionTransformer(image_size=224, patch_size=16, dim=192, depth=12, num_heads=3)
for batch in (1, 8):
    x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
    def infer():
        with nc.no_grad():
            vit(nc.tensor(x))
    out[f"ViT-Tiny B{batch} inference"] = per_call(infer, 12 if batch == 1 else 5, 1)
x8 = rng.standard_normal((8, 3, 224, 224)).astype(np.float32)
labels = rng.integers(0, 1000, 8)
opt = nc.optim.AdamW(vit.parameters(), lr=1e-4, weight_decay=0.05)
def train():
    opt.zero_grad()
    F.cross_entropy(vit(nc.tensor(x8)), labels).backward()
    opt.step()
out["ViT-Tiny B8 AdamW training step"] = per_call(train, 4, 1)
params = [nc.nn.Parameter(p.data.copy()) for p in vit.parameters()]
for p in params:
    p.grad = nc.tensor(np.full(p.data.shape, 1e-3, np.float32))
adam = nc.optim.Adam(params, lr=1e-3)
out["Adam step 5.7M params"] = per_call(adam.step, 30, 3)
print(json.dumps(out))
'''


def run_child(python):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    result = subprocess.run([python, "-c", _CHILD], capture_output=True, text=True, env=env, cwd="/",
                            timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{python} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    python_a, python_b = argv[1], argv[2]
    rounds = int(argv[3]) if len(argv) > 3 else 7
    samples = {"A": [], "B": []}
    for r in range(rounds):
        order = [("A", python_a), ("B", python_b)]
        if r % 2:
            order.reverse()
        for label, python in order:
            samples[label].append(run_child(python))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"A: {python_a}\nB: {python_b}\n{rounds} alternated rounds, medians; 'paired': the median "
          f"of each round's B/A (A and B ran back to back there) with its quartiles")
    print(f"{'case':36s} {'A':>11s} {'B':>11s} {'B/A':>6s} {'paired':>6s} {'quartiles':>13s}")
    for case in samples["A"][0]:
        ta = statistics.median(s[case] for s in samples["A"])
        tb = statistics.median(s[case] for s in samples["B"])
        ratios = [b[case] / a[case] for a, b in zip(samples["A"], samples["B"])]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        print(f"{case:36s} {ta * 1e3:9.3f}ms {tb * 1e3:9.3f}ms {tb / ta:6.3f} "
              f"{statistics.median(ratios):6.3f} {q1:6.3f}-{q3:6.3f}")


if __name__ == "__main__":
    main(sys.argv)
