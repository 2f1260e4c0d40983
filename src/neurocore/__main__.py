"""python -m neurocore [demo|bench]: version, ISA, threads and a self-check."""
import argparse
import sys

import numpy as np

import neurocore
from neurocore import _kernels
from neurocore import kernels as K


def _self_checks():
    """(name, callable returning max relative error) for every kernel family."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 33))
    b = rng.standard_normal((64, 33)) + 4.0

    def rel(got, want):
        want = np.asarray(want, np.float64)
        return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))

    checks = [
        ("add", lambda x, y: rel(K.add(x, y), x + y)),
        ("sub", lambda x, y: rel(K.sub(x, y), x - y)),
        ("mul", lambda x, y: rel(K.mul(x, y), x * y)),
        ("div", lambda x, y: rel(K.div(x, y), x / y)),
        ("scale", lambda x, y: rel(K.scale(0.5, x), 0.5 * x)),
        ("axpy", lambda x, y: rel(K.axpy(2.0, x, y.copy()), y + 2.0 * x)),
        ("fma", lambda x, y: rel(K.fma(x, y, x), x * y + x)),
        ("sum_rows", lambda x, y: rel(K.sum_rows(x), x.sum(0))),
        ("sigmoid", lambda x, y: rel(K.sigmoid(x), 1 / (1 + np.exp(-x.astype(np.float64))))),
        ("tanh", lambda x, y: rel(K.tanh(x), np.tanh(x.astype(np.float64)))),
        ("relu", lambda x, y: rel(K.relu(x), np.maximum(x, 0))),
        ("gelu", lambda x, y: rel(K.gelu(x), _gelu64(x))),
        ("gelu_backward", lambda x, y: rel(K.activation_backward(y, x, "gelu_tanh"),
                                           y * _gelu_tanh_grad64(x))),
        ("exp", lambda x, y: rel(K.exp(x), np.exp(x.astype(np.float64)))),
        ("log", lambda x, y: rel(K.log(y), np.log(y.astype(np.float64)))),
        ("softmax", lambda x, y: rel(K.softmax(x), _softmax64(x))),
        ("log_softmax", lambda x, y: rel(K.log_softmax(x), np.log(_softmax64(x)))),
        ("softmax_backward", lambda x, y: rel(K.softmax_backward(K.softmax(x), y),
                                              _softmax64(x) * (y - (y * _softmax64(x)).sum(-1, keepdims=True)))),
        # optimizer steps: first steps, whose closed forms are simple
        ("sgd_step", lambda x, y: rel(K.sgd_step(x.copy(), y, lr=0.1), x - 0.1 * y.astype(np.float64))),
        ("adam_step", lambda x, y: rel(K.adam_step(x.copy(), y, np.zeros_like(x), np.zeros_like(x), 1, lr=0.1),
                                       x - 0.1 * y / (np.abs(y.astype(np.float64)) + 1e-8))),
        ("attention_forward", lambda x, y: rel(
            K.attention_forward(x[None, None], y[None, None], x[None, None])[0][0, 0],
            (lambda p: p / p.sum(-1, keepdims=True) @ x)(
                np.exp((lambda s: s - s.max(-1, keepdims=True))(x.astype(np.float64) @ y.T / np.sqrt(33)))))),
        ("layer_norm_forward", lambda x, y: rel(
            K.layer_norm_forward(x)[0],
            (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5))),
        ("cross_entropy", lambda x, y: rel(K.cross_entropy_forward(x, _classes(x))[0],
                                           -np.log(_softmax64(x))[np.arange(len(x)), _classes(x)])),
        ("cross_entropy_backward", lambda x, y: rel(
            K.cross_entropy_backward(x, _classes(x), K.cross_entropy_forward(x, _classes(x))[1]),
            _softmax64(x) - np.eye(x.shape[1])[_classes(x)])),
        ("bce_with_logits", lambda x, y: rel(K.bce_with_logits_forward(x, (y > 4).astype(x.dtype)),
                                             np.logaddexp(0, x.astype(np.float64)) - x * (y > 4))),
        ("bce_with_logits_backward", lambda x, y: rel(K.bce_with_logits_backward(x, (y > 4).astype(x.dtype)),
                                                      1 / (1 + np.exp(-x.astype(np.float64))) - (y > 4))),
        ("matvec", lambda x, y: rel(K.matvec(x, y[0]), x.astype(np.float64) @ y[0])),
        ("matvec_trans", lambda x, y: rel(K.matvec(x, y[:, 0], trans=True), x.T.astype(np.float64) @ y[:, 0])),
        ("outer_acc", lambda x, y: rel(K.outer_acc(x.copy(), y[:, 0], y[0]),
                                       x + np.outer(y[:, 0].astype(np.float64), y[0]))),
        ("gemm", lambda x, y: rel(K.gemm(x, y, trans_b=True), x.astype(np.float64) @ y.T)),
        ("linear_forward", lambda x, y: rel(K.linear_forward(x, y[:20], y[0, :20]),
                                            x.astype(np.float64) @ y[:20].T + y[0, :20])),
    ]
    for name, check in checks:
        for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
            yield f"{name}[{np.dtype(dtype).name}]", check(a.astype(dtype), b.astype(dtype)), tol


def _classes(x):
    return np.arange(x.shape[0]) % x.shape[1]


def _gelu64(x):
    import math
    x = x.astype(np.float64)
    return x * 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2.0))


def _gelu_tanh_grad64(x):
    x = x.astype(np.float64)
    c = np.sqrt(2 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


def _softmax64(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def info():
    print(f"neurocore {neurocore.__version__}")
    print(f"isa: {_kernels.get_isa()} (supported: {', '.join(_kernels.supported_isas())})")
    print(f"threads: {neurocore.get_num_threads()}")
    failures = 0
    for name, err, tol in _self_checks():
        ok = err <= tol
        failures += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<24} max rel err {err:.2e}")
    print("self-check: " + ("all kernels agree with NumPy" if not failures else f"{failures} FAILED"))
    return 1 if failures else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m neurocore", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["info", "demo", "bench"], default="info")
    parser.add_argument("--model", choices=["mlp", "vit"], default="mlp", help="demo: which model to train")
    parser.add_argument("--distributed", action="store_true",
                        help="demo: data-parallel on MPI ranks (mpiexec -n N python -m neurocore demo "
                             "--distributed; needs the [mpi] extra)")
    parser.add_argument("--bench-dir", default="bench", help="bench: the checkout's bench/ folder")
    parser.add_argument("-k", dest="select", default=None, help="bench: pytest -k expression")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.model, args.distributed)
    if args.command == "bench":
        return bench(args.bench_dir, args.select)
    return info()


def bench(bench_dir, select=None):
    """Run the pytest-benchmark suite of a checkout, print the ratio table
    (NumPy median / neurocore median) and plot it when matplotlib is there."""
    import os
    import subprocess
    import tempfile

    report = os.path.join(bench_dir, "report.py")
    if not os.path.isfile(report):
        print(f"no benchmark suite at {bench_dir!r}: run from a neurocore checkout or pass --bench-dir")
        return 1
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        print("note: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set and may slow NumPy's baseline")
    with tempfile.TemporaryDirectory() as tmp:
        results = os.path.join(tmp, "bench.json")
        command = [sys.executable, "-m", "pytest", bench_dir, "-q", "-p", "no:cacheprovider",
                   f"--benchmark-json={results}"] + (["-k", select] if select else [])
        status = subprocess.call(command)
        if not os.path.isfile(results):
            return status or 1
        sys.path.insert(0, bench_dir)
        import report as bench_report

        groups, flops = bench_report.load(results)
        bench_report.main(["report", results])
        _plot_ratios(bench_report.table(groups, flops))
    return status


def _plot_ratios(rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    cases = [(r[0], float(r[3][:-1])) for r in rows[1:] if r[3].endswith("x")]
    if not cases:
        return
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(cases) + 1.5))
    ax.barh([c for c, _ in cases], [v for _, v in cases], color="tab:blue")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("speed-up over NumPy (NumPy median / neurocore median)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig("bench-ratios.png", dpi=100)
    print("plot written to bench-ratios.png")


def demo(model, distributed=False):
    try:
        import sklearn  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        print("the demo needs the [demo] extra: pip install 'neurocore[demo]' (scikit-learn, tqdm)")
        return 1
    if distributed:
        try:
            import neurocore.distributed as dist
        except ImportError as e:
            print(e)
            return 1
        dist.init_process_group("mpi")
    import importlib
    import importlib.util

    name = f"neurocore.demos.{model}"          # imported on demand: only the chosen demo loads
    if importlib.util.find_spec(name) is None:
        print(f"the {model} demo is not part of this build")
        return 1
    if distributed:
        importlib.import_module(name).main(distributed=True)
        dist.destroy_process_group()
    else:
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
