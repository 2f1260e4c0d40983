"""Timing: alternated rounds in one process, medians, and the FMA peak.

Every implementation of a case is called in turn within each round (the
order reversed every other round), so that a slow stretch of a shared
machine lands on all of them alike; a round times ``number`` back-to-back
calls of one implementation, with ``number`` chosen so that a round lasts
about ``round_time``.  The reported time is the median over rounds.
"""
import datetime
import gc
import os
import platform
import time

import numpy as np

import neurocore as nc
from neurocore import _kernels
from neurocore.bench import peers
from neurocore.bench._case import IMPLEMENTATIONS, SkipCase

SCHEMA_ID = "neurocore-bench/1"


class Settings:
    """How long to spend per case.  ``budget``: seconds of rounds per case
    (after min_rounds); ``round_time``: seconds per timed round."""

    def __init__(self, quick=False):
        self.budget = 0.25 if quick else 1.5
        self.round_time = 0.005 if quick else 0.02
        self.min_rounds = 3 if quick else 5
        self.max_rounds = 30 if quick else 60


def measure(impls, settings, min_rounds=None, warmed=False):
    """{implementation: {"median", "min", "number", "samples"}} for the
    zero-argument callables in impls, timed in alternated rounds.  warmed:
    each was called once already (else a warm-up call comes first)."""
    names = list(impls)
    min_rounds = max(1, min(settings.min_rounds, min_rounds or settings.min_rounds))
    number = {}
    for name in names:                          # warm-up, and the size of a round
        fn = impls[name]
        if not warmed:
            fn()
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        number[name] = int(max(1, min(10000, settings.round_time / max(once, 1e-7))))
    samples = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start, rounds = time.perf_counter(), 0
        while rounds < settings.max_rounds and (rounds < min_rounds or time.perf_counter() - start < settings.budget):
            for name in (names if rounds % 2 == 0 else names[::-1]):
                fn, n = impls[name], number[name]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - t0) / n)
            rounds += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: {"median": float(np.median(s)), "min": float(min(s)), "number": number[name], "samples": s}
            for name, s in samples.items()}


def fma_peak(threads=None, seconds=0.05, repeats=5, dtype=np.float32):
    """The float32 FMA peak in GFLOPS on the active ISA path with `threads`
    threads (default: all of neurocore's): register-only FMA loops, one per
    thread, best of `repeats` runs of about `seconds` each."""
    previous = nc.get_num_threads()
    threads = previous if threads is None else threads
    nc.set_num_threads(threads)
    try:
        # size the loop on the calling thread alone: a parallel call also
        # pays the workers' wake-up, which on a busy machine can exceed
        # the loop itself
        iters = 1 << 12
        while True:
            start = time.perf_counter()
            _kernels._fma_peak(1, iters, dtype)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 4 or iters > 1 << 34:
                break
            iters *= 4
        iters = max(1, int(iters * seconds / max(elapsed, 1e-9)))
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            flops, _ = _kernels._fma_peak(threads, iters, dtype)
            best = max(best, flops / (time.perf_counter() - start) / 1e9)
        return best
    finally:
        nc.set_num_threads(previous)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(label=None):
    return {"cpu": _cpu_model(), "arch": platform.machine(), "cores": os.cpu_count() or 1,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "label": label}


def library_versions():
    versions = {"neurocore": nc.__version__, "numpy": np.__version__}
    versions.update(peers.versions())
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        versions["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:                             # the layout of show_config is not an API
        versions["numpy_blas"] = None
    return versions


def run(selected, quick=False, label=None, progress=None, profile=None):
    """Run the cases; returns the result document (see schema.json)."""
    settings = Settings(quick)
    isa = _kernels.get_isa()
    peak = fma_peak()
    doc = {
        "schema": SCHEMA_ID,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": bool(quick),
        "machine": machine_info(label),
        "isa": isa,
        "supported_isas": list(_kernels.supported_isas()),
        "threads": nc.get_num_threads(),
        "versions": library_versions(),
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "NEUROCORE_NUM_THREADS", "NEUROCORE_ISA",
                                                   "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")
                        if k in os.environ},
        "fma_peak_gflops": peak,
        "cases": [],
    }
    for case in selected:
        if progress is not None:
            progress.set_description(case.name)
        doc["cases"].append(run_case(case, settings, isa, peak))
        gc.collect()
        if progress is not None:
            progress.update(1)
    if profile is not None:
        doc["profile"] = profile
    return doc


def run_case(case, settings, isa, peak):
    """One row of the result document."""
    row = {"name": case.name, "group": case.group, "isa": isa, "flops": case.flops, "goal": case.goal,
           "goal_vs": case.goal_vs, "times": {}, "errors": {}}
    try:
        impls = case.setup(np.random.default_rng(0))
    except SkipCase as why:
        row["skipped"] = str(why)
        impls = {}
    except Exception as error:              # a broken case is reported, never ends the run
        row["errors"]["setup"] = f"{type(error).__name__}: {error}"
        impls = {}
    impls = {name: fn for name, fn in impls.items() if name in IMPLEMENTATIONS}
    runnable = {}
    for name, fn in impls.items():
        try:
            fn()
            runnable[name] = fn
        except Exception as error:
            row["errors"][name] = f"{type(error).__name__}: {error}"
    if "neurocore" in runnable:
        row["times"] = measure(runnable, settings, case.min_rounds, warmed=True)
    nc_time = row["times"].get("neurocore", {}).get("median")
    row["ratios"] = {name: t["median"] / nc_time for name, t in row["times"].items()
                     if name != "neurocore" and nc_time}
    row["ratio"] = row["ratios"].get("numpy")
    row["gflops"] = case.flops / nc_time / 1e9 if case.flops and nc_time else None
    row["peak_percent"] = 100.0 * row["gflops"] / peak if row["gflops"] and peak else None
    reached = row["ratios"].get(case.goal_vs)
    row["goal_met"] = None if case.goal is None or reached is None else bool(reached >= case.goal)
    if not row["errors"]:
        del row["errors"]
    return row
