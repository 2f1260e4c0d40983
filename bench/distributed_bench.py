"""Data-parallel throughput on one machine: 2 ranks x 1 thread
(DistributedDataParallel over MPI shared memory) against 1 rank x 2 threads
(one process), for the MLP B256 step and the ViT-Tiny B8 AdamW step; the
time spent in the gradient allreduce and how much of it the overlap with
the backward pass hides; the alpha-beta parameters of MPI's allreduce here.

    python bench/distributed_bench.py [--rounds 3] [--json out.json]

needs the [mpi] extra (mpiexec on PATH or beside the Python executable).
The layouts run alternately, ``--rounds`` times each, and the table shows
medians.  A 1 rank x 1 thread row gives the per-core baseline: 2 ranks
at twice its throughput is perfect data-parallel scaling.  A PyTorch DDP (gloo) row is added where torch is installed.
Both DDPs run with gradient_as_bucket_view=True (no copy of the averages
back into separate .grad arrays).
Not part of the pytest benchmark suite (its name does not match bench_*.py):
it launches its own processes.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

CASES = {
    # name: (model, global batch, bucket_cap_mb, warm-up steps, timed steps)
    "mlp": ("MLP [784, 512, 512, 10] SGD step", 256, 25, 5, 40),
    "vit": ("ViT-Tiny/16 AdamW step", 8, 25, 2, 6),
    "vit-b4": ("ViT-Tiny/16 AdamW step, 4 MiB buckets", 8, 4, 2, 6),
}


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


# ---- the rank program ----------------------------------------------------------
def _build(case, batch, seed=0):
    import neurocore as nc

    nc.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if case == "mlp":
        model = nc.nn.MLP([784, 512, 512, 10])
        opt = nc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = rng.standard_normal((batch, 784)).astype(np.float32)
        y = rng.integers(0, 10, batch)
    else:
        model = nc.nn.VisionTransformer(image_size=224, patch_size=16, num_classes=1000, dim=192, depth=12,
                                        num_heads=3)
        opt = nc.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
        y = rng.integers(0, 1000, batch)
    return model, opt, x, y


def run_neurocore(case, distributed):
    import neurocore as nc
    from neurocore import functional as F

    _, batch, bucket_mb, warm, timed = CASES[case]
    rank, world = 0, 1
    if distributed:
        import neurocore.distributed as dist

        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    model, opt, x, y = _build(case.split("-")[0], batch)
    xl, yl = nc.tensor(x[rank::world]), y[rank::world]
    net = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_mb, gradient_as_bucket_view=True) \
        if distributed else model
    times, exposed = [], []
    for i in range(warm + timed):
        if distributed:
            dist.barrier()
            before = net.reduction_stats.exposed_s
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(net(xl), yl).backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if i >= warm:
            times.append(elapsed)
            if distributed:
                exposed.append(net.reduction_stats.exposed_s - before)
    result = {"case": case, "layout": f"{world}x{nc.get_num_threads()}", "step_s": statistics.median(times),
              "samples_per_s": batch / statistics.median(times)}
    if distributed:
        # the same reductions, blocking, with nothing to overlap: the allreduce's own cost
        blocking = []
        for _ in range(max(5, timed)):
            dist.barrier()
            start = time.perf_counter()
            for b in net._buckets:
                dist.all_reduce(b.buffer)
            blocking.append(time.perf_counter() - start)
        stats = net.reduction_stats
        result.update(allreduce_s=statistics.median(blocking), exposed_s=statistics.median(exposed),
                      buckets=len(net._buckets), bytes=sum(b.buffer.nbytes for b in net._buckets),
                      early_bucket_fraction=stats.early_buckets / max(stats.buckets, 1))
        result["hidden_fraction"] = max(0.0, 1.0 - result["exposed_s"] / result["allreduce_s"])
        # every rank's step time: the slowest sets the pace
        step = np.array([result["step_s"]])
        dist.all_reduce(step, op=dist.ReduceOp.MAX)
        result["step_s"] = float(step[0])
        result["samples_per_s"] = batch / result["step_s"]
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)
    if distributed:
        dist.destroy_process_group()


def run_torch(case, distributed):
    """The same step in PyTorch (DDP over gloo when distributed; rank and
    world from the MPI launcher's environment)."""
    import torch
    import torch.nn as tnn

    _, batch, bucket_mb, warm, timed = CASES[case]
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    world = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
    torch.set_num_threads(1 if distributed else 2)
    if distributed:
        import torch.distributed as tdist

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    if case == "mlp":
        model = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 512), tnn.ReLU(),
                               tnn.Linear(512, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(batch, 784), torch.randint(0, 10, (batch,))
    else:
        try:
            import timm
        except ImportError:
            return
        model = timm.create_model("vit_tiny_patch16_224")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        x, y = torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,))
    if distributed:
        model = tnn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_mb, gradient_as_bucket_view=True)
    xl, yl = x[rank::world], y[rank::world]
    times = []
    for i in range(warm + timed):
        start = time.perf_counter()
        opt.zero_grad()
        tnn.functional.cross_entropy(model(xl), yl).backward()
        opt.step()
        if i >= warm:
            times.append(time.perf_counter() - start)
    if rank == 0:
        step = statistics.median(times)
        print("RESULT " + json.dumps({"case": case, "layout": f"torch {world}x{torch.get_num_threads()}",
                                      "step_s": step, "samples_per_s": batch / step}), flush=True)
    if distributed:
        tdist.destroy_process_group()


def alpha_beta():
    """Time MPI_Allreduce (float32 SUM, 2 ranks) over sizes 4 B .. 64 MiB and
    fit t(n) = 2 alpha + n beta, the ring allreduce's cost at p = 2
    (2(p-1) alpha + 2(p-1)/p n beta).  The fit uses each size's fastest
    repetition: on a shared machine the median also holds the time a rank
    waits for its partner to be scheduled (milliseconds under load), which
    is not the transport's."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    sizes, times, medians = [], [], []
    for k in range(0, 25, 2):
        n = 1 << k
        buf = np.ones(n, np.float32)
        reps = max(3, min(200, (1 << 22) // n))
        comm.Allreduce(MPI.IN_PLACE, buf)
        samples = []
        for _ in range(reps):
            comm.Barrier()
            start = MPI.Wtime()
            comm.Allreduce(MPI.IN_PLACE, buf)
            samples.append(MPI.Wtime() - start)
        sizes.append(4 * n)
        times.append(min(samples))
        medians.append(statistics.median(samples))
    if comm.Get_rank() == 0:
        sizes_a, times_a = np.array(sizes, float), np.array(times)
        # least squares on relative error (small and large messages alike)
        design = np.stack([2 * np.ones_like(sizes_a), sizes_a], 1) / times_a[:, None]
        (alpha, beta), *_ = np.linalg.lstsq(design, np.ones_like(times_a), rcond=None)
        print("RESULT " + json.dumps({"case": "alpha-beta", "alpha_s": alpha, "beta_s_per_byte": beta,
                                      "sizes": sizes, "times": times, "medians": medians}), flush=True)


# ---- the alpha-beta cost model ----------------------------------------------------
LINKS = {
    # name: (alpha seconds, beta seconds per byte); typical figures, not measured here
    "10 GbE (TCP)": (25e-6, 1 / 1.25e9),
    "100 Gb (RDMA)": (2e-6, 1 / 12.5e9),
}
PARAMS = {"vit": 5_717_416, "mlp": 669_706, "digits-mlp": 9_610}     # float32 parameters


def ring_allreduce_s(n_bytes, p, alpha, beta):
    """Ring allreduce of n bytes over p ranks: p-1 reduce-scatter and p-1
    allgather steps, each one message of n/p bytes."""
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes * beta


def cost_model(compute_per_sample_s, global_batch, nodes=(2, 4, 8, 16, 32, 64)):
    """Predicted scaling efficiency E(p) = (C/p) / (C/p + allreduce(params)),
    C the compute of one step of the global batch on one node, no overlap
    (what the overlap hides only raises E)."""
    lines = [f"{'model':<11} {'global B':>8} {'link':<14} " + " ".join(f"{p:>6}" for p in nodes)]
    for model, per_sample in compute_per_sample_s.items():
        compute = per_sample * global_batch[model]
        for link, (alpha, beta) in LINKS.items():
            effs = []
            for p in nodes:
                t_ar = ring_allreduce_s(4 * PARAMS[model], p, alpha, beta)
                effs.append((compute / p) / (compute / p + t_ar))
            lines.append(f"{model:<11} {global_batch[model]:>8} {link:<14} " + " ".join(f"{e:6.0%}" for e in effs))
    return "\n".join(lines)


# ---- the driver ------------------------------------------------------------------
def _launch(args, distributed, env_extra):
    env = dict(os.environ)
    for name in ("NEUROCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        env.pop(name, None)
    env.update(env_extra)
    command = [sys.executable, __file__, *args]
    if distributed:
        command = [_mpiexec(), "-n", "2", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=1800)
    results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0:
        if "--torch" in args and results:
            # the optional peer measured its step, then failed in its own
            # teardown (gloo at exit): keep the measurement, say so
            print(f"note: {' '.join(args)} exited {done.returncode} after its measurement", file=sys.stderr)
            return results
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="mlp,vit,vit-b4")
    parser.add_argument("--json", default=None)
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run == "alpha-beta":
        return alpha_beta()
    if args.run:
        return (run_torch if args.torch else run_neurocore)(args.run, args.distributed)
    if _mpiexec() is None:
        raise SystemExit("mpiexec not found: pip install 'neurocore[mpi]'")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = {}
    for case in args.cases.split(","):
        for _ in range(args.rounds):          # the layouts alternate, round after round
            layouts = [("1x2", False, {"NEUROCORE_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}, []),
                       ("1x1", False, {"NEUROCORE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}, []),
                       ("2x1", True, {}, [])]
            if have_torch:
                layouts += [("torch 2x1", True, {}, ["--torch"]), ("torch 1x2", False, {}, ["--torch"])]
            for name, distributed, env, extra in layouts:
                flags = ["--run", case] + extra + (["--distributed"] if distributed else [])
                for r in _launch(flags, distributed, env):
                    rows.setdefault((case, name), []).append(r)
    ab = _launch(["--run", "alpha-beta"], True, {})[0]
    print(f"load average at start: {load:.1f} (the machine's other work slows every row alike only on average)")
    print(f"MPI allreduce on this machine (shared memory, 2 ranks): alpha = {ab['alpha_s'] * 1e6:.2f} us, "
          f"beta = {ab['beta_s_per_byte'] * 1e9:.3f} ns/byte ({1 / ab['beta_s_per_byte'] / 1e9:.2f} GB/s)")
    header = (f"{'case':<10} {'layout':<10} {'step ms':>9} {'samples/s':>10} {'vs 1x2':>7} {'allreduce ms':>13} "
              f"{'exposed ms':>11} {'hidden':>7} {'buckets':>8}")
    print(header)
    summary = []
    for case in args.cases.split(","):
        base = None
        for name in ["1x2", "1x1", "2x1", "torch 1x2", "torch 2x1"]:
            runs = rows.get((case, name))
            if not runs:
                continue
            step = statistics.median(r["step_s"] for r in runs)
            if name == "1x2":
                base = step
            row = {"case": case, "layout": name, "step_s": step, "runs": [r["step_s"] for r in runs]}
            extra = ""
            if "allreduce_s" in runs[0]:
                for key in ("allreduce_s", "exposed_s", "hidden_fraction", "early_bucket_fraction"):
                    row[key] = statistics.median(r[key] for r in runs)
                row["buckets"], row["bytes"] = runs[0]["buckets"], runs[0]["bytes"]
                extra = (f" {row['allreduce_s'] * 1e3:13.2f} {row['exposed_s'] * 1e3:11.2f} "
                         f"{row['hidden_fraction']:7.0%} {row['buckets']:8d}")
            ratio = f"{base / step:6.2f}x" if base else "      -"
            print(f"{case:<10} {name:<10} {step * 1e3:9.2f} {CASES[case][1] / step:10.1f} {ratio} {extra}")
            summary.append(row)
    # the cost model: C from the 2-rank runs (a rank's step less its time in MPI,
    # i.e. the node's compute of the global batch), per sample; the digits MLP
    # [64, 128, 10] scaled from the large MLP by parameter count (an MLP's
    # step is ~6 flops per parameter per sample)
    per_sample = {}
    for row in summary:
        if row["layout"] == "2x1" and row["case"] in ("mlp", "vit"):
            per_sample[row["case"]] = (row["step_s"] - row["exposed_s"]) / CASES[row["case"]][1]
    if "mlp" in per_sample:
        per_sample["digits-mlp"] = per_sample["mlp"] * PARAMS["digits-mlp"] / PARAMS["mlp"]
    batches = {"mlp": 64 * 256, "vit": 64 * 8, "digits-mlp": 64 * 32}
    table = cost_model(per_sample, batches)
    print("\npredicted scaling efficiency (fixed global batch = 64 x the per-node batch; compute per sample "
          "measured here: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in per_sample.items()) + ")")
    print(table)
    here = ring_allreduce_s(4 * PARAMS["vit"], 2, ab["alpha_s"], ab["beta_s_per_byte"])
    print(f"check: the model's allreduce of ViT-Tiny's gradients on 2 ranks here: {here * 1e3:.2f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": load, "alpha_beta": ab, "rows": summary, "compute_per_sample_s": per_sample,
                       "cost_model": table}, f, indent=1)


if __name__ == "__main__":
    main()
