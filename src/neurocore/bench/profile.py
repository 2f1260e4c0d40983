"""A per-op profile of ViT-Tiny inference and training (``--profile``).

While a profile runs, every kernel entry point of ``neurocore._kernels``
(also reached as ``neurocore.kernels``) is replaced by a wrapper that adds
its call's time to that kernel's total; the wrappers are removed afterwards,
so profiling costs nothing when it is off.  Times are exclusive: a kernel
that calls another through the module counts only its own part.  Private
wrappers (names starting with "_", such as the fused LinearChain's) appear
as ops of their own.  What is left of each phase's wall time ran outside
the module: the autograd engine (neurocore._engine_core and the Python
layers) and NumPy reshapes and copies between kernels.
GEMM-like kernels also report GFLOPS, per kernel and per product shape.
"""
import time
from collections import defaultdict

import numpy as np

from neurocore import _kernels
from neurocore import kernels as _public
from neurocore.bench._case import select_cases

# Kernels that are not ops (runtime queries) stay unwrapped.
_SKIP = {"get_isa", "supported_isas", "_set_isa", "set_num_threads", "get_num_threads", "_fma_peak"}


def _shape(a):
    return getattr(a, "shape", ())


def _gemm_flops(name, args, kwargs):
    """(flops, "M x K x N") of one call of a GEMM-like kernel, or None."""
    try:
        if name == "linear_forward":
            x, w = args[0], args[1]
            k, n = _shape(x)[-1], _shape(w)[0]
            m = int(np.prod(_shape(x)[:-1]))
            return 2.0 * m * k * n, f"{m} x {k} x {n}"
        if name == "linear_backward":
            g, x, w = args[0], args[1], args[2]
            k, n = _shape(x)[-1], _shape(w)[0]
            m = int(np.prod(_shape(x)[:-1]))
            need_x = kwargs.get("need_input_grad", args[6] if len(args) > 6 else True)
            return (4.0 if need_x else 2.0) * m * k * n, f"{m} x {k} x {n} (bwd)"
        if name in ("gemm", "matmul"):
            a, b = _shape(args[0]), _shape(args[1])
            trans_a = kwargs.get("trans_a", False)
            trans_b = kwargs.get("trans_b", False)
            m, k = (a[-1], a[-2]) if trans_a else (a[-2], a[-1])
            n = b[-2] if trans_b else b[-1]
            batch = max(int(np.prod(a[:-2])), int(np.prod(b[:-2])))
            return 2.0 * batch * m * k * n, f"{batch} x ({m} x {k} x {n})"
        if name == "matvec":
            m, k = _shape(args[0])
            return 2.0 * m * k, f"{m} x {k} x 1"
        if name == "outer_acc":
            m, n = _shape(args[0])
            return 2.0 * m * n, f"{m} x 1 x {n} (outer)"
        if name in ("attention_forward", "attention_backward"):
            q, k = (args[0], args[1]) if name == "attention_forward" else (args[1], args[2])
            b, h, nq, d = (int(np.prod(_shape(q)[:-3])) or 1,) + tuple(_shape(q)[-3:])
            nk = _shape(k)[-2]
            per = 4.0 if name == "attention_forward" else 10.0
            return per * b * h * nq * nk * d, f"attention {b}x{h}x{nq}x{nk}x{d}"
    except (IndexError, TypeError, ValueError):
        return None
    return None


class Profiler:
    """Context manager: wraps the kernels on entry, restores them on exit."""

    def __init__(self):
        self.time = defaultdict(float)
        self.calls = defaultdict(int)
        self.flops = defaultdict(float)
        self.gemm_time = defaultdict(float)
        self.gemm_calls = defaultdict(int)
        self.gemm_flops = defaultdict(float)
        self._stack = []
        self._saved = []

    def _wrap(self, name, fn):
        stack, clock = self._stack, time.perf_counter

        def timed(*args, **kwargs):
            stack.append(0.0)
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = clock() - start
                own = elapsed - stack.pop()
                if stack:
                    stack[-1] += elapsed
                self.time[name] += own
                self.calls[name] += 1
                counted = _gemm_flops(name, args, kwargs)
                if counted is not None:
                    flops, shape = counted
                    self.flops[name] += flops
                    self.gemm_time[shape] += own
                    self.gemm_calls[shape] += 1
                    self.gemm_flops[shape] += flops

        timed.__wrapped__ = fn
        return timed

    def __enter__(self):
        wrappers = {}
        for name, fn in list(vars(_kernels).items()):
            if name in _SKIP or name.startswith("__") or isinstance(fn, type):
                continue
            if type(fn).__name__ in ("builtin_function_or_method", "cython_function_or_method"):
                wrappers[id(fn)] = self._wrap(name, fn)
        for module in (_kernels, _public):
            for name, fn in list(vars(module).items()):
                if id(fn) in wrappers:
                    self._saved.append((module, name, fn))
                    setattr(module, name, wrappers[id(fn)])
        return self

    def __exit__(self, *exc):
        for module, name, fn in reversed(self._saved):
            setattr(module, name, fn)
        self._saved.clear()
        return False

    def reset(self):
        for d in (self.time, self.calls, self.flops, self.gemm_time, self.gemm_calls, self.gemm_flops):
            d.clear()


def profile_phase(name, fn, flops, peak, calls=3):
    """Profile `calls` calls of fn (after one unprofiled warm-up call):
    per-call wall time, and per kernel its time, share and GFLOPS."""
    fn()
    with Profiler() as prof:
        fn()                                  # warm the wrappers' paths too
        prof.reset()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        wall = (time.perf_counter() - start) / calls
    ops = []
    for op, t in prof.time.items():
        t /= calls
        ops.append({"op": op, "calls": prof.calls[op] // calls, "time": t, "share": t / wall,
                    "gflops": prof.flops[op] / calls / t / 1e9 if prof.flops.get(op) and t > 0 else None})
    inside = sum(op["time"] for op in ops)
    ops.sort(key=lambda op: -op["time"])
    ops.append({"op": "(outside neurocore._kernels: Python layers, NumPy glue)", "calls": 0,
                "time": max(wall - inside, 0.0), "share": max(wall - inside, 0.0) / wall, "gflops": None})
    gemms = []
    for shape, t in prof.gemm_time.items():
        t /= calls
        g = prof.gemm_flops[shape] / calls / t / 1e9 if t > 0 else 0.0
        gemms.append({"shape": shape, "calls": prof.gemm_calls[shape] // calls, "time": t, "share": t / wall,
                      "gflops": g, "peak_percent": 100.0 * g / peak if peak else 0.0})
    gemms.sort(key=lambda g: -g["time"])
    gflops = flops / wall / 1e9
    return {"name": name, "wall": wall, "gflops": gflops, "peak_percent": 100.0 * gflops / peak if peak else 0.0,
            "ops": ops, "gemms": gemms}


def vit_profile(peak, calls=3):
    """The profile document of ViT-Tiny inference (B1, B8) and its AdamW
    training step (B8), built from the bench's own ViT cases."""
    phases = []
    for case in select_cases(group="vit"):
        neurocore_fn = case.setup(np.random.default_rng(0))["neurocore"]
        phases.append(profile_phase(case.name, neurocore_fn, case.flops, peak, calls))
    return {"fma_peak_gflops": peak, "calls": calls, "phases": phases}
