"""Benchmark cases of the embedding fronts: neurocore.sklearn against
scikit-learn, and a kernel called through the C API against the same
kernel through ``nc.kernels``.

scikit-learn's own estimators are written in NumPy, so they are the
"numpy" column of these rows; neurocore.sklearn runs with the same
hyper-parameters and epochs (tol=0 and a large n_iter_no_change, so both
run every epoch), on float32 input.  The rows need scikit-learn; without it
their setup fails and the runner reports that instead of a time.

- MLPClassifier.fit on the bundled digits (70/30 split), one hidden layer
  of 256, batch 64, 60 epochs, Adam (goal: 8x);
- MLPClassifier.fit on a 50 000 x 784 synthetic set, 10 classes, the same
  network, 1 epoch (goal: 3x);
- predict_proba on 10 000 rows of 784 features (goal: 3x);
- 1000 calls of a 64-element float32 add: from Cython through the C API
  ("neurocore"), against nc.kernels.add from Python ("numpy" column); it
  compiles a small Cython module at setup (Cython and a C compiler needed).
"""
import importlib.machinery
import importlib.util
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

import numpy as np

import neurocore as nc
from neurocore.bench._case import register

DIGITS_KW = dict(hidden_layer_sizes=(256,), batch_size=64, max_iter=60, solver="adam", tol=0.0,
                 n_iter_no_change=10_000, random_state=0)
SYNTHETIC_KW = dict(DIGITS_KW, max_iter=1)


def estimator(impl, **kw):
    """scikit-learn's MLPClassifier ("numpy") or neurocore.sklearn's."""
    if impl == "numpy":
        from sklearn.neural_network import MLPClassifier
    else:
        from neurocore.sklearn import MLPClassifier
    return MLPClassifier(**kw)


def fit(impl, X, y, kw):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator(impl, **kw).fit(X, y)


def digits_split():
    """Digits scaled to [0, 1] in float32, split 70/30 (seeded)."""
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


@register("MLPClassifier.fit digits (256, B64, 60 epochs, adam)", group="sklearn", goal=8.0, min_rounds=3)
def _fit_digits_case(rng):
    Xtr, _, ytr, _ = digits_split()
    return {impl: (lambda impl=impl: fit(impl, Xtr, ytr, DIGITS_KW)) for impl in ("numpy", "neurocore")}


@register("MLPClassifier.fit 50000x784 (256, B64, 1 epoch, adam)", group="sklearn", goal=3.0, min_rounds=1)
def _fit_synthetic_case(rng):
    X, y = synthetic()
    return {impl: (lambda impl=impl: fit(impl, X, y, SYNTHETIC_KW)) for impl in ("numpy", "neurocore")}


@register("MLPClassifier.predict_proba 10000x784 (256)", group="sklearn", goal=3.0)
def _predict_proba_case(rng):
    X, y = synthetic(2_000)
    Xp = synthetic(10_000, seed=1)[0]
    impls = {}
    for impl in ("numpy", "neurocore"):
        model = fit(impl, X, y, dict(DIGITS_KW, max_iter=1))
        impls[impl] = lambda model=model: model.predict_proba(Xp)
    return impls


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


@register("1000 calls of a 64-element add: C API from Cython vs nc.kernels from Python", group="capi",
          goal=1.0)
def _capi_case(rng):
    a = np.ones(64, np.float32)
    b = np.full(64, 0.5, np.float32)
    out = np.empty(64, np.float32)
    with tempfile.TemporaryDirectory() as folder:
        module = build_capi_module(folder)      # loaded: the file may go
    add = nc.kernels.add

    def python_calls():
        for _ in range(1000):
            add(a, b, out=out)

    return {"numpy": python_calls, "neurocore": lambda: module.add_calls(a, b, out, 1000)}
