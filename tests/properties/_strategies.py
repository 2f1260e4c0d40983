"""Hypothesis strategies and the comparison shared by the property modules.

Arrays come with every layout a caller can hand over (C order, Fortran
order, transposed, negatively strided, sliced with a step, zero-stride
broadcast views), shapes with 0- and 1-sized dimensions and sizes across
the SIMD widths, and values that include NaN, +-inf, +-0, denormals and
numbers near the overflow threshold."""
import re

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import TOL

FLOATS = (np.float32, np.float64)
# what callers pass by mistake (or on purpose): every one must either work
# (equal to the reference) or raise TypeError/ValueError naming the argument
OTHER_DTYPES = (np.dtype(np.float16), np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_),
                np.dtype(">f4"), np.dtype(">f8"))

SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -1e-310, 1e-40, -1e-45, 1.2e-38,
            3e38, -3.4e38, 1e300, -1e-300, 88.7, -103.9, 709.7, -745.0, 1e15, -1e-7)
LAYOUTS = ("c", "fortran", "transposed", "negative", "sliced", "broadcast")

# dimension sizes: empty, one, and around the vector widths (4/8/16 lanes)
DIMS = st.sampled_from([0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33])


def values(special=True, lo=-30.0, hi=30.0):
    finite = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)
    if not special:
        return finite
    return st.one_of(finite, finite, finite, st.sampled_from(SPECIALS))


def shapes(min_dims=1, max_dims=3):
    return st.lists(DIMS, min_size=min_dims, max_size=max_dims).map(tuple)


def relayout(a, layout):
    """The values of `a` (after the layout's own change for "broadcast") in
    another memory layout."""
    if a.ndim == 0 or a.size == 0 or layout == "c":
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "negative":
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "sliced":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "broadcast":           # one row repeated with stride 0
        return np.broadcast_to(a[:1], a.shape)
    raise ValueError(layout)


@st.composite
def float_arrays(draw, shape=None, dtype=None, special=True, lo=-30.0, hi=30.0, layouts=LAYOUTS):
    """(array, dtype): a float32/float64 array in a drawn layout."""
    if shape is None:
        shape = draw(shapes())
    if dtype is None:
        dtype = draw(st.sampled_from(FLOATS))
    base = draw(hnp.arrays(np.float64, shape, elements=values(special, lo, hi)))
    with np.errstate(over="ignore", under="ignore"):
        a = base.astype(dtype)
    return relayout(a, draw(st.sampled_from(layouts)))


def as_other_dtype(a, dtype):
    with np.errstate(all="ignore"):
        if dtype.kind in "iub":
            return np.nan_to_num(a, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dtype)
        return a.astype(dtype)


def check_close(got, ref, dtype, rtol=None, atol=None, what="result"):
    """got (an array of dtype) equals the float64 reference within the
    tolerance table: NaN exactly where the reference is NaN, infinities of
    the same sign where it is infinite (or beyond the dtype's range), the
    rest within rtol/atol."""
    dtype = np.dtype(dtype)
    tol = TOL[dtype.type]
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    got = np.asarray(got)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    g = got.astype(np.float64)
    nan_ref, nan_got = np.isnan(ref), np.isnan(g)
    bad = nan_ref != nan_got
    big = np.finfo(dtype).max
    with np.errstate(invalid="ignore", over="ignore"):
        # beyond the dtype's range (within the tolerance) the result may be inf
        overflow = np.abs(ref) >= big * (1 - rtol)
        inf_ok = overflow & (np.sign(g) == np.sign(ref)) & (np.abs(g) >= big * (1 - rtol))
        finite = ~nan_ref & ~nan_got & ~inf_ok
        exact = finite & np.isinf(ref)
        bad |= exact & (g != ref)
        close = finite & ~np.isinf(ref)
        bad |= close & ~(np.abs(g - ref) <= atol + rtol * np.abs(ref))
    if bad.any():
        idx = np.argwhere(bad)[:5]
        pairs = [(tuple(int(v) for v in i), float(g[tuple(i)]), float(ref[tuple(i)])) for i in idx]
        raise AssertionError(f"{what} ({dtype}): {int(bad.sum())} of {bad.size} differ "
                             f"(index, got, expected): {pairs}")


def check_error_names(exc, names):
    """A TypeError/ValueError's message names one of the arguments (as the
    subject of a sentence: "x must ...", "b has dtype ...")."""
    message = str(exc)
    assert any(re.search(rf"(^|[\s(]){re.escape(n)}\b[^a-z]*\s(must|has|is|of|and)\b", message)
               for n in names), f"error does not name {names}: {message!r}"
