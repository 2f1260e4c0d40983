"""The vector math of csrc/core/nc_simd_math.h (exp, log, tanh, erf, erfc):
error in ulp over dense sweeps against a more precise reference, and the
special values, per ISA path and dtype.

References: float64 NumPy / math for float32 results (its own error is far
below a float32 ulp); long double NumPy for float64 exp, log and tanh; the C
library's erf/erfc (math.erf, < 1 ulp) for float64 erf and erfc, so those
bounds include the reference's own error.
"""
import functools
import math

import numpy as np
import pytest

from neurocore import kernels as K

# Max error in ulp asserted per (function, dtype): the bounds of the
# "Notes" table in nc_simd_math.h plus a margin; the generic path (the C
# library) is held to the same bounds.
ULP_BOUND = {
    ("exp", np.float32): 2, ("exp", np.float64): 2,
    ("log", np.float32): 2, ("log", np.float64): 2,
    ("tanh", np.float32): 6, ("tanh", np.float64): 3,
    ("erf", np.float32): 3, ("erf", np.float64): 4,
    ("erfc", np.float32): 8, ("erfc", np.float64): 9,
}
FUNCS = {"exp": K.exp, "log": K.log, "tanh": K.tanh, "erf": K.erf, "erfc": K.erfc}

_verf = np.vectorize(math.erf, otypes=[np.float64])
_verfc = np.vectorize(math.erfc, otypes=[np.float64])
_LD = np.longdouble


def _sweep(name, dtype):
    """Dense, deterministic inputs covering each function's whole range."""
    big = dtype == np.float32
    n = 1 << 19 if big else 1 << 17
    tiny, huge = np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max
    if name == "exp":
        lim = 88.8 if big else 709.8
        parts = [np.linspace(-1.2 * lim, lim, n), np.linspace(-1, 1, n // 4)]
    elif name == "log":
        parts = [np.geomspace(tiny, huge, n, dtype=np.float64 if big else np.longdouble),
                 np.linspace(0.5, 2.0, n // 4)]
    elif name == "tanh":
        parts = [np.linspace(-20, 20, n), np.geomspace(1e-30, 1.0, n // 4), -np.geomspace(1e-30, 1.0, n // 8)]
    elif name == "erf":
        parts = [np.linspace(-7, 7, n // 2), np.geomspace(1e-30, 1.0, n // 8)]
    else:
        parts = [np.linspace(-7, 10.5 if big else 27.5, n // 2)]
    return np.concatenate([np.asarray(p).astype(dtype) for p in parts])


@functools.lru_cache(maxsize=None)
def _reference(name, dtype):
    x = _sweep(name, dtype)
    if dtype == np.float32 or name in ("erf", "erfc"):
        x64 = x.astype(np.float64)
        with np.errstate(over="ignore"):
            ref = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "erf": _verf, "erfc": _verfc}[name](x64)
        return x, ref.astype(_LD)
    with np.errstate(over="ignore"):
        return x, {"exp": np.exp, "log": np.log, "tanh": np.tanh}[name](x.astype(_LD))


def ulp_error(got, ref, dtype):
    """|got - ref| in units of the dtype's spacing at ref (subnormal spacing
    below the normal range).  Where ref rounds to an infinity in the dtype,
    got must be that infinity (error 0, else inf)."""
    got = np.asarray(got)
    with np.errstate(over="ignore"):
        rounded = ref.astype(dtype)
    ok = np.isfinite(rounded)
    err = np.where(got == rounded, _LD(0), _LD(np.inf))
    spacing = np.spacing(np.abs(rounded[ok])).astype(_LD)
    spacing = np.maximum(spacing, _LD(np.finfo(dtype).smallest_subnormal))
    err[ok] = np.abs(got[ok].astype(_LD) - ref[ok]) / spacing
    return err


@pytest.mark.parametrize("name", list(FUNCS))
def test_ulp_error_dense_sweep(isa, dtype, name):
    x, ref = _reference(name, dtype)
    got = FUNCS[name](x)
    err = ulp_error(got, ref, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= ULP_BOUND[(name, dtype)], (
        f"{name}({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}: {float(err[worst]):.2f} ulp")


def test_special_values(isa, dtype):
    inf, nan = np.inf, np.nan
    tiny = np.finfo(dtype).smallest_subnormal
    with np.errstate(all="ignore"):
        x = np.array([nan, inf, -inf, 0.0, -0.0, 1e4, -1e4, 1e-30, tiny], dtype)
        np.testing.assert_array_equal(K.exp(x)[:7], np.array([nan, inf, 0, 1, 1, inf, 0], dtype))
        np.testing.assert_array_equal(K.exp(x)[7:], np.ones(2, dtype))
        y = K.log(np.array([nan, inf, -inf, 0.0, -0.0, -1.0, 1.0, tiny, np.finfo(dtype).max], dtype))
        np.testing.assert_array_equal(y[:7], np.array([nan, inf, nan, -inf, -inf, nan, 0.0], dtype))
        np.testing.assert_allclose(y[7:], np.log(np.array([tiny, np.finfo(dtype).max], np.float64)), rtol=1e-7)
        t = K.tanh(x)
        np.testing.assert_array_equal(t, np.array([nan, 1, -1, 0, -0.0, 1, -1, 1e-30, tiny], dtype))
        assert np.signbit(t[4])
        e = K.erf(x)
        np.testing.assert_array_equal(e[:7], np.array([nan, 1, -1, 0, -0.0, 1, -1], dtype))
        np.testing.assert_allclose(e[7], 2 / math.sqrt(math.pi) * 1e-30, rtol=1e-6)
        c = K.erfc(x)
        np.testing.assert_array_equal(c[[0, 1, 2, 5, 6]], np.array([nan, 0, 2, 0, 2], dtype))
        # erfc(0) = 1 is not special-cased: within the sweep's ulp bound
        np.testing.assert_allclose(c[3:5], 1, rtol=2 * np.finfo(dtype).eps, atol=0)


def test_exp_overflow_underflow_edges(isa, dtype):
    """Around the largest finite result and through the subnormal range."""
    if dtype == np.float32:
        x = np.array([88.72, 88.7228, 88.73, -87.3, -100.0, -103.0, -103.97, -104.0, -110.0], dtype)
    else:
        x = np.array([709.78, 709.783, 709.79, -708.4, -740.0, -744.4, -745.13, -745.2, -800.0], dtype)
    with np.errstate(over="ignore"):
        ref = np.exp(x.astype(_LD))
    err = ulp_error(K.exp(x), ref, dtype)
    assert err.max() <= 1.0, (x, K.exp(x), ref)


def test_log_of_subnormals_and_powers_of_two(isa, dtype):
    info = np.finfo(dtype)
    x = np.array([info.smallest_subnormal * k for k in (1, 2, 3, 1000)] + [2.0**k for k in range(-60, 61, 7)],
                 dtype)
    err = ulp_error(K.log(x), np.log(x.astype(_LD)), dtype)
    assert err.max() <= 1.0
    np.testing.assert_array_equal(K.log(np.ones(37, dtype)), np.zeros(37, dtype))


def test_bitwise_same_in_any_position(isa, dtype, rng):
    """A value gives the same result in a full vector, in a masked tail, and
    next to lanes that take another branch (tiny, huge, subnormal results)."""
    base = (30 * rng.standard_normal(64)).astype(dtype)
    for f in FUNCS.values():
        arg = np.abs(base) if f is K.log else base
        alone = np.array([f(arg[i:i + 1])[0] for i in range(arg.size)])
        np.testing.assert_array_equal(f(arg), alone)
        mixed = arg.copy()
        mixed[::3] = 1e-3
        np.testing.assert_array_equal(f(mixed)[1::3], alone[1::3])


SIZES = [0, 1, 3, 15, 16, 17, 1000, 4097, 1 << 20]


@functools.lru_cache(maxsize=None)
def _sized_case(name, n, dtype):
    rng = np.random.default_rng(n)
    x = (4 * rng.standard_normal(n)).astype(dtype)
    if name == "log":
        x = np.abs(x)
    x64 = x.astype(np.float64)
    with np.errstate(divide="ignore"):
        ref = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "erf": _verf, "erfc": _verfc}[name](x64)
    return x, ref.astype(_LD)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", list(FUNCS))
def test_array_kernels_every_size(isa, dtype, name, n):
    """Full vectors, masked tails and threaded chunks: the float64 reference
    bounds float32 results in ulp; float64 results to a relative 1e-14."""
    x, ref = _sized_case(name, n, dtype)
    got = FUNCS[name](x)
    assert got.shape == x.shape and got.dtype == dtype
    if dtype == np.float32:
        assert np.all(ulp_error(got, ref, dtype) <= ULP_BOUND[(name, dtype)])
    else:
        np.testing.assert_allclose(got, ref.astype(np.float64), rtol=1e-14, atol=0)
    out = np.empty_like(x)
    assert FUNCS[name](x, out=out) is out
    np.testing.assert_array_equal(out, got)
