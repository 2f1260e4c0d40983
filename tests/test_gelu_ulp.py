"""Exact (erf) GELU forward and backward in ulp, per ISA path.

float32 against a float64 reference built on math.erfc (< 1 ulp in float64,
so exact to well below a float32 ulp), over a dense grid of [-15, 10] (the
left tail down to where GELU underflows), [-3, 3] and tiny magnitudes of
both signs; then the special values.  The derivative Phi(z) + z phi(z) has
a root at z = -0.7518 where its two terms cancel, so its error is measured
in ulps of the larger term (a relative bound there would ask for digits the
terms do not carry).  float64 is checked on [-2, 8] only: below, the
reference's own rounding of z / sqrt 2 costs it about a^2 = z^2 / 2 ulp,
more than the kernels' error.
"""
import math

import numpy as np
import pytest

from neurocore import kernels as K

from test_simd_math import ulp_error

_verfc = np.vectorize(math.erfc, otypes=[np.float64])
_LD = np.longdouble

# max ulp: float32 measured 6.0 (forward, AVX2/AVX-512), 2.5 (forward,
# generic), 12.7 (derivative, in ulps of the larger term, at z = -13.3 where
# both terms are near the bottom of the normal range); float64 11 (forward:
# for z < 0 erfc's own error, up to 8 ulp in tests/test_simd_math.py, plus
# the products)
BOUND = {np.float32: (8, 16), np.float64: (12, 16)}


def _grid(dtype):
    if dtype == np.float32:
        parts = [np.linspace(-15, 10, 1 << 19), np.linspace(-3, 3, 1 << 17),
                 np.geomspace(1e-38, 1, 1 << 14), -np.geomspace(1e-38, 1, 1 << 14)]
    else:
        parts = [np.linspace(-2, 8, 1 << 17), np.geomspace(1e-300, 1, 1 << 12), -np.geomspace(1e-300, 1, 1 << 12)]
    return np.concatenate(parts).astype(dtype)


def _reference(x):
    x64 = x.astype(np.float64)
    cdf = 0.5 * _verfc(-x64 / math.sqrt(2))
    pdf = np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return (x64 * cdf).astype(_LD), (cdf + x64 * pdf).astype(_LD), np.maximum(np.abs(cdf), np.abs(x64 * pdf))


def test_gelu_forward_ulp(isa, dtype):
    x = _grid(dtype)
    ref, _, _ = _reference(x)
    got = K.activation_forward(x, "gelu")
    err = ulp_error(got, ref, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype][0], f"gelu({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}: " \
                                          f"{float(err[worst]):.2f} ulp"
    # the fused GEMM epilogue computes the same thing
    y = K.linear_forward(x[:4096, None], np.ones((1, 1), dtype), None, "gelu")[:, 0]
    np.testing.assert_array_equal(y, got[:4096])


def test_gelu_backward_ulp_of_larger_term(isa, dtype):
    x = _grid(dtype)
    _, ref, scale = _reference(x)
    got = K.activation_backward(np.ones_like(x), x, "gelu")
    spacing = np.maximum(np.spacing(scale.astype(dtype)).astype(_LD), _LD(np.finfo(dtype).smallest_subnormal))
    err = np.abs(got.astype(_LD) - ref) / spacing
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[dtype][1], f"gelu'({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}: " \
                                          f"{float(err[worst]):.2f} ulp of the larger term"


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_gelu_special_values(isa, dtype, activation):
    """gelu(+-0) = +-0, gelu(-inf) = 0 and gelu(inf) = inf (the limits, not
    -inf * 0), NaN stays NaN; the exact GELU's derivative is 1/2 at 0 (to
    rounding), 0 at -inf, 1 at inf.  Each value sits in every lane position."""
    specials = np.array([0.0, -0.0, -np.inf, np.inf, np.nan], dtype)
    for shift in range(17):
        x = np.roll(np.concatenate([specials, np.linspace(-20, 20, 12, dtype=dtype)]), shift)
        # positions of +0, -0, -inf, inf (0.0 and -0.0 are one dict key)
        pz, nz, ninf, pinf = [int(np.flatnonzero((x == v) & (np.signbit(x) == np.signbit(v)))[0])
                              for v in (0.0, -0.0, -np.inf, np.inf)]
        y = K.activation_forward(x, activation)
        assert y[pz] == 0 and not np.signbit(y[pz])
        assert y[nz] == 0 and np.signbit(y[nz])
        assert y[ninf] == 0
        assert y[pinf] == np.inf
        assert np.isnan(y[np.isnan(x)]).all()
        assert not np.isnan(y[~np.isnan(x)]).any()
        if activation == "gelu":
            d = K.activation_backward(np.ones_like(x), x, "gelu")
            np.testing.assert_array_equal(d[[ninf, pinf]], np.array([0.0, 1.0], dtype))
            # Phi(0) = erfc(0)/2 is not special-cased: within erfc's bound
            np.testing.assert_allclose(d[[pz, nz]], 0.5, rtol=4 * np.finfo(dtype).eps, atol=0)
            assert np.isnan(d[np.isnan(x)]).all()
