"""neurocore.sklearn against scikit-learn, and the C API's per-call saving.

The baseline ("numpy" in the report's columns) is scikit-learn's own
estimator, itself written in NumPy; "neurocore" is neurocore.sklearn with
the same hyper-parameters and epochs (tol=0 and a large n_iter_no_change, so
both run every epoch; float32 input).  Cases:

- MLPClassifier.fit on digits (70/30 split), one hidden layer of 256,
  batch 64, 60 epochs, Adam (goal: >= 8x), the test accuracies printed;
- MLPClassifier.fit on a 50 000 x 784 synthetic set, 10 classes, same
  network and batch, 2 epochs (goal: >= 3x);
- predict_proba on 10 000 rows of 784 features (goal: >= 3x);
- one 64-element add, called 10 000 times from Cython through the C API
  ("neurocore") against 10 000 calls of nc.kernels.add from Python
  ("numpy" column): the per-call overhead the C API saves.

The plain functions (fit_digits, fit_synthetic, predict_proba_rows,
capi_call_overhead) run one measurement each, without pytest, for the
package bench.  Run:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m pytest bench/bench_sklearn.py --benchmark-json=/tmp/b.json -q
    python bench/report.py /tmp/b.json

Measured on the 2-core VM while it was shared with other jobs (load
average ~20, so only the ratios of one process with alternated rounds mean
anything; OMP/OPENBLAS threads 1 on both sides): digits fit, 10 epochs,
sklearn 1.20 s / neurocore 0.27 s (4.5x; test accuracy over 60 epochs 0.9796
vs 0.9778); 50000x784, 1 epoch, 23.6 s / 6.9 s (3.4x); predict_proba on
10000 rows 463 ms / 394 ms (1.2x: the 10000x784x256 product, at BLAS speed
on both sides, is nearly all of it); a 64-element add 7 ns per call through
the C API from Cython against 311 ns through nc.kernels from Python.
"""
import importlib.machinery
import importlib.util
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import neurocore as nc

DIGITS_KW = dict(hidden_layer_sizes=(256,), batch_size=64, max_iter=60, solver="adam", tol=0.0,
                 n_iter_no_change=10_000, random_state=0)
SYNTHETIC_KW = dict(DIGITS_KW, max_iter=2)


def _estimator(impl, **kw):
    if impl == "numpy":
        from sklearn.neural_network import MLPClassifier
    else:
        from neurocore.sklearn import MLPClassifier
    return MLPClassifier(**kw)


def _fit(impl, X, y, kw):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _estimator(impl, **kw).fit(X, y)


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    return train_test_split((X / 16.0).astype(np.float32), y, test_size=0.3, random_state=0)


def synthetic(n=50_000, features=784, classes=10, seed=0):
    """A learnable 10-class problem: labels of a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features), dtype=np.float32)
    y = (X @ rng.standard_normal((features, classes), dtype=np.float32)).argmax(axis=1)
    return X, y


# ---- plain functions (one measurement each) ---------------------------------
def fit_digits(impl):
    """(seconds, test accuracy) of MLPClassifier.fit on digits, DIGITS_KW."""
    Xtr, Xte, ytr, yte = digits_split()
    t = time.perf_counter()
    model = _fit(impl, Xtr, ytr, DIGITS_KW)
    return time.perf_counter() - t, model.score(Xte, yte)


def fit_synthetic(impl, n=50_000):
    """Seconds of MLPClassifier.fit on the synthetic set, SYNTHETIC_KW."""
    X, y = synthetic(n)
    t = time.perf_counter()
    _fit(impl, X, y, SYNTHETIC_KW)
    return time.perf_counter() - t


def predict_proba_rows(impl, rows=10_000):
    """Seconds of predict_proba on `rows` rows of a model fitted briefly."""
    X, y = synthetic(2_000)
    model = _fit(impl, X, y, dict(DIGITS_KW, max_iter=1))
    Xp = synthetic(rows, seed=1)[0]
    model.predict_proba(Xp)
    t = time.perf_counter()
    model.predict_proba(Xp)
    return time.perf_counter() - t


_CAPI_PYX = r"""
# cython: language_level=3
from neurocore.nc_api cimport nc_api, nc_import_api

nc_import_api()


def add_calls(float[::1] a, float[::1] b, float[::1] out, Py_ssize_t calls):
    cdef Py_ssize_t i
    with nogil:
        for i in range(calls):
            nc_api.add_f32(a.shape[0], &a[0], &b[0], &out[0])
"""


def build_capi_module(folder):
    """Compile the Cython caller above against the installed neurocore."""
    folder = Path(folder)
    (folder / "nc_bench_capi.pyx").write_text(_CAPI_PYX)
    subprocess.run([sys.executable, "-m", "cython", "-3", "-I", nc.get_include(), "nc_bench_capi.pyx"],
                   check=True, capture_output=True, cwd=folder)
    out = folder / ("nc_bench_capi" + sysconfig.get_config_var("EXT_SUFFIX"))
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    subprocess.run(cc + ["-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}",
                         f"-I{nc.get_include()}", str(folder / "nc_bench_capi.c"), "-o", str(out)],
                   check=True, capture_output=True)
    loader = importlib.machinery.ExtensionFileLoader("nc_bench_capi", str(out))
    spec = importlib.util.spec_from_file_location("nc_bench_capi", str(out), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def capi_call_overhead(calls=10_000, n=64):
    """(seconds per call through the C API from Cython, seconds per call of
    nc.kernels.add from Python), one 64-element float32 add each."""
    a = np.ones(n, np.float32)
    b = np.full(n, 0.5, np.float32)
    out = np.empty(n, np.float32)
    with tempfile.TemporaryDirectory() as folder:
        module = build_capi_module(folder)
        module.add_calls(a, b, out, calls)
        t = time.perf_counter()
        module.add_calls(a, b, out, calls)
        capi = (time.perf_counter() - t) / calls
    add = nc.kernels.add
    t = time.perf_counter()
    for _ in range(calls):
        add(a, b, out=out)
    python = (time.perf_counter() - t) / calls
    return capi, python


# ---- pytest-benchmark cases ---------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return digits_split()


def test_fit_digits(benchmark, impl, digits):
    Xtr, Xte, ytr, yte = digits
    benchmark.group = "sklearn MLPClassifier.fit digits (256, batch 64, 60 epochs, adam)"
    model = benchmark.pedantic(_fit, args=(impl, Xtr, ytr, DIGITS_KW), rounds=3, iterations=1)
    benchmark.extra_info["test_accuracy"] = model.score(Xte, yte)
    assert model.n_iter_ == 60


def test_fit_synthetic(benchmark, impl):
    pytest.importorskip("sklearn")
    X, y = synthetic()
    benchmark.group = "sklearn MLPClassifier.fit 50000x784 (256, batch 64, 2 epochs, adam)"
    benchmark.pedantic(_fit, args=(impl, X, y, SYNTHETIC_KW), rounds=2, iterations=1)


def test_predict_proba(benchmark, impl):
    pytest.importorskip("sklearn")
    X, y = synthetic(2_000)
    model = _fit(impl, X, y, dict(DIGITS_KW, max_iter=1))
    Xp = synthetic(10_000, seed=1)[0]
    benchmark.group = "sklearn MLPClassifier.predict_proba 10000x784 (256)"
    benchmark(model.predict_proba, Xp)


@pytest.fixture(scope="module")
def capi_module(tmp_path_factory):
    pytest.importorskip("Cython")
    return build_capi_module(tmp_path_factory.mktemp("nc_bench_capi"))


def test_capi_call_overhead(benchmark, impl, capi_module):
    """1000 calls of a 64-element add: "numpy" = nc.kernels.add from Python,
    "neurocore" = nc_api.add_f32 from Cython (per-call cost = median / 1000)."""
    a = np.ones(64, np.float32)
    b = np.full(64, 0.5, np.float32)
    out = np.empty(64, np.float32)
    benchmark.group = "1000 calls of a 64-element add: nc.kernels (Python) vs C API (Cython)"
    if impl == "numpy":
        add = nc.kernels.add

        def run():
            for _ in range(1000):
                add(a, b, out=out)
    else:
        def run():
            capi_module.add_calls(a, b, out, 1000)
    benchmark(run)
    np.testing.assert_array_equal(out, a + b)


if __name__ == "__main__":
    print("fit digits      sklearn %.3f s (acc %.4f), neurocore %.3f s (acc %.4f)"
          % (fit_digits("numpy") + fit_digits("neurocore")))
    sk, ours = fit_synthetic("numpy"), fit_synthetic("neurocore")
    print(f"fit 50000x784   sklearn {sk:.3f} s, neurocore {ours:.3f} s, ratio {sk / ours:.2f}")
    sk, ours = predict_proba_rows("numpy"), predict_proba_rows("neurocore")
    print(f"predict_proba   sklearn {sk * 1e3:.2f} ms, neurocore {ours * 1e3:.2f} ms, ratio {sk / ours:.2f}")
    capi, python = capi_call_overhead()
    print(f"64-element add  C API from Cython {capi * 1e9:.0f} ns/call, nc.kernels {python * 1e9:.0f} ns/call")
