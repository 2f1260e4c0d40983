"""One training step of an MLP (forward, cross-entropy, backward, AdamW),
plus a save/load round trip: the program .ci/valgrind.sh runs under
valgrind's memcheck.  Small sizes: valgrind runs it ~50x slower."""
import os
import sys
import tempfile

import numpy as np

import neurocore as nc

nc.set_num_threads(2)
nc.manual_seed(0)
rng = np.random.default_rng(0)
x = nc.tensor(rng.standard_normal((37, 20)).astype(np.float32))
y = rng.integers(0, 10, 37)
model = nc.nn.MLP([20, 33, 10], activation="gelu")
opt = nc.optim.AdamW(model.parameters(), lr=1e-3)
loss = nc.functional.cross_entropy(model(x), y)
loss.backward()
opt.step()
opt.zero_grad()
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "m.safetensors")
    nc.save(model.state_dict(), path)
    back = nc.load(path)
assert all(np.array_equal(back[k], v) for k, v in model.state_dict().items())
print(f"isa {nc.kernels.get_isa()}, loss {float(loss.item()):.6f}", file=sys.stderr)
