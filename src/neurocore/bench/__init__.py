"""The benchmark suite, shipped with the package: ``python -m neurocore bench``.

Each case times neurocore against the NumPy program a user would write for
the same job (allocations, temporaries and all), and against PyTorch and
ONNX Runtime when they are installed.  The same case definitions drive the
pytest-benchmark suite in a checkout's bench/ folder.

Adding a case is one function and one registration, in ``cases.py`` or in
any module imported before the run::

    from neurocore.bench import register

    @register("matvec f32 256x256", group="gemm", flops=2 * 256 * 256, goal=1.0, quick=True)
    def _matvec_256(rng):
        w = rng.standard_normal((256, 256), dtype=np.float32)
        x = rng.standard_normal(256, dtype=np.float32)
        return {"neurocore": lambda: K.matvec(w, x), "numpy": lambda: w @ x}

The function (the case's setup) receives a seeded ``numpy.random.Generator``
and returns the callables to time, keyed by implementation: "neurocore" and
"numpy" always; "torch" and "onnxruntime" when the setup can build them
(``peers.torch()`` and ``peers.onnxruntime()`` return the module or None).
The callables take no arguments; the setup does all preparation.
Registration keywords (see ``Case``): ``group`` (for --filter and the pytest
suite's files), ``flops`` (floating-point operations of one call, for
GFLOPS and the % of the FMA peak), ``goal`` and ``goal_vs`` (the speed-up
over that implementation that the issues ask for), ``quick`` (part of
``--quick``), ``min_rounds`` (for slow cases).
"""
from neurocore.bench._case import Case, register, select_cases
from neurocore.bench import cases  # noqa: E402,F401  (registers the built-in cases)
from neurocore.bench import embed_cases  # noqa: E402,F401  (scikit-learn and C API rows)

__all__ = ["Case", "register", "select_cases"]
