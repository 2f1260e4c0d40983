"""The case registry: one ``Case`` per benchmark, registered once."""
import fnmatch
from dataclasses import dataclass
from typing import Callable, Dict, Optional

IMPLEMENTATIONS = ("neurocore", "numpy", "torch", "onnxruntime")


@dataclass(frozen=True)
class Case:
    """One benchmark.

    name       unique, human-readable ("linear fwd f32 64x784x256")
    group      family ("gemm", "vit", ...): --filter matches it, and the
               checkout's bench/bench_<group>.py runs it under pytest
    setup      rng -> {implementation: zero-argument callable}
    flops      floating-point operations of one neurocore call (None: not
               a FLOP-bound case); gives GFLOPS and % of the FMA peak
    goal       the ratio time(goal_vs) / time(neurocore) the issues ask for
    goal_vs    the implementation that goal compares with
    quick      part of ``--quick``
    min_rounds alternated rounds at least (slow cases lower it)
    """

    name: str
    group: str
    setup: Callable[..., Dict[str, Callable[[], object]]]
    flops: Optional[float] = None
    goal: Optional[float] = None
    goal_vs: str = "numpy"
    quick: bool = False
    min_rounds: int = 5


class SkipCase(Exception):
    """Raised by a case's setup when something it needs (an optional
    library, a C compiler) is absent: the row says why it did not run,
    and the run does not count it as failed."""


_REGISTRY: Dict[str, Case] = {}


def register(name, *, group, flops=None, goal=None, goal_vs="numpy", quick=False, min_rounds=5):
    """Decorator: register ``setup`` as the case ``name`` (see the package
    docstring); returns setup unchanged."""
    if goal_vs not in IMPLEMENTATIONS:
        raise ValueError(f"goal_vs must be one of {IMPLEMENTATIONS}, got {goal_vs!r}")

    def decorate(setup):
        if name in _REGISTRY:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        _REGISTRY[name] = Case(name, group, setup, None if flops is None else float(flops), goal, goal_vs,
                               quick, min_rounds)
        return setup

    return decorate


def select_cases(pattern=None, quick=False, group=None):
    """Registered cases in registration order.  pattern: a substring or a
    glob ("gemm*", "*B8*"), case-insensitive, matched against "group/name";
    quick: only the --quick cases; group: only that group."""
    selected = []
    for case in _REGISTRY.values():
        if quick and not case.quick:
            continue
        if group is not None and case.group != group:
            continue
        if pattern and not _matches(pattern, f"{case.group}/{case.name}"):
            continue
        selected.append(case)
    return selected


def _matches(pattern, text):
    pattern, text = pattern.lower(), text.lower()
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(text, pattern) or fnmatch.fnmatchcase(text.split("/", 1)[1], pattern)
    return pattern in text
