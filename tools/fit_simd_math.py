"""Fit the polynomial coefficients of csrc/core/nc_simd_math.h.

    python tools/fit_simd_math.py

Each approximation is a polynomial interpolating the target function at the
Chebyshev nodes of its interval (near-minimax: within a small factor of the
best uniform approximation), computed in 60-digit arithmetic with mpmath and
printed as C constants.  The maximum relative error of the polynomial itself
is printed next to it; the rounding of the float evaluation comes on top.
"""
import mpmath as mp

mp.mp.dps = 60


def cheb_fit(f, a, b, degree):
    """Monomial coefficients (c0..cd, in the variable v) of the polynomial
    interpolating f at degree+1 Chebyshev nodes of [a, b]."""
    n = degree + 1
    nodes = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
    A = mp.matrix([[v**j for j in range(n)] for v in nodes])
    y = mp.matrix([f(v) for v in nodes])
    return list(mp.lu_solve(A, y))


def horner(c, v):
    r = mp.mpf(0)
    for ck in reversed(c):
        r = r * v + ck
    return r


def max_rel(f, c, a, b, samples=2000, weight=None):
    worst = mp.mpf(0)
    for k in range(samples + 1):
        v = a + (b - a) * k / samples
        want = f(v)
        got = horner(c, v)
        w = weight(v) if weight else 1
        if want != 0:
            worst = max(worst, abs((got - want) * w / want))
    return worst


def report(name, f, a, b, degree, weight=None):
    c = cheb_fit(f, mp.mpf(a), mp.mpf(b), degree)
    err = max_rel(f, c, mp.mpf(a), mp.mpf(b), weight=weight)
    print(f"/* {name}: degree {degree} on [{a}, {b}], max rel err {mp.nstr(err, 3)} */")
    for k, ck in enumerate(c):
        print(f"    {mp.nstr(ck, 21, min_fixed=-1, max_fixed=1)},  /* c{k} */")
    return c


def exp_p(r):  # exp(r) = 1 + r + r^2 P(r)
    if abs(r) < mp.mpf("1e-30"):
        return mp.mpf(1) / 2
    return (mp.exp(r) - 1 - r) / r**2


def log_q(z):  # 2 atanh(s) = 2 s + s z Q(z), z = s^2
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) - 2 * s) / (s * z)


def tanh_t(u):  # tanh(x) = x + x u T(u), u = x^2 (the former two-branch tanh)
    if u == 0:
        return mp.mpf(-1) / 3
    x = mp.sqrt(u)
    return (mp.tanh(x) / x - 1) / u


def erf_e(u):  # erf(x) = x E(u), u = x^2
    if u == 0:
        return 2 / mp.sqrt(mp.pi)
    x = mp.sqrt(u)
    return mp.erf(x) / x


def erfc_h(t, t0):  # erfc(x) = exp(-x^2) t H(t), t = 1/(x + t0)
    # H -> 1/sqrt(pi) as t -> 0; without the factor t the polynomial would
    # fall to 0 there and Horner would cancel (12 ulp in float64)
    x = 1 / t - t0
    return mp.erfc(x) * mp.exp(x * x) / t


def report_shifted(name, f, a, b, degree):
    """Like report, for f(t) on [a, b] fitted in v = t - a in [0, b - a]: the
    coefficients come out positive, so Horner adds without cancelling (in
    w = (t - mid) / half the alternating sum loses ~2 bits)."""
    a, b = mp.mpf(a), mp.mpf(b)
    g = lambda v: f(a + v)
    c = cheb_fit(g, mp.mpf(0), b - a, degree)
    err = max_rel(g, c, mp.mpf(0), b - a)
    print(f"/* {name}: degree {degree} in v = t - {mp.nstr(a, 21)}, t in [{mp.nstr(a, 8)}, "
          f"{mp.nstr(b, 8)}], max rel err {mp.nstr(err, 3)} */")
    for k, ck in enumerate(c):
        print(f"    {mp.nstr(ck, 21, min_fixed=-1, max_fixed=1)},  /* c{k} */")


def tanh_rational(dp=6, dq=3, xmax=10.0, npts=600, iterations=25):
    """float32 tanh(x) = x P(x^2) / Q(x^2), Q(0) = 1, on [0, xmax]: linearised
    least squares on the relative error, reweighted (Lawson) toward the
    equioscillating minimax solution; returns (max rel err, P, Q)."""
    xs = [mp.mpf(xmax) * (1 - mp.cos(mp.pi * (k + 0.5) / npts)) / 2 for k in range(npts)]
    us = [x * x for x in xs]
    f = [mp.tanh(x) / x for x in xs]
    w = [mp.mpf(1)] * npts
    best = None
    for _ in range(iterations):
        rows = [[wi * u**j / g for j in range(dp + 1)] + [-wi * u**j for j in range(1, dq + 1)]
                for u, g, wi in zip(us, f, w)]
        sol = mp.qr_solve(mp.matrix(rows), mp.matrix(w))[0]
        p = [sol[j] for j in range(dp + 1)]
        q = [mp.mpf(1)] + [sol[dp + j] for j in range(1, dq + 1)]
        errs = [abs(horner(p, u) / horner(q, u) / g - 1) for u, g in zip(us, f)]
        worst = max(errs)
        if best is None or worst < best[0]:
            best = (worst, p, q)
        w = [wi * mp.sqrt(e / worst + mp.mpf("1e-3")) for wi, e in zip(w, errs)]
        total = sum(w)
        w = [wi * npts / total for wi in w]
    return best


# Degrees per dtype: the lowest whose polynomial error stays well below the
# float's half ulp (1e-8 for float32, 1e-17 for float64).
DEGREES = {"f32": dict(exp=4, log=2, erf=5, erfc=9),
           "f64": dict(exp=10, log=6, erf=10, erfc=23)}
ERF_SMALL = 0.75               # erf(x) = x E(x^2) below, 1 - erfc(x) above
# erfc(x), x >= 0, is one branch: GELU's Phi needs it at every x
ERFC_T0 = 3                    # erfc(x) = exp(-x^2) t H(t), t = 1 / (x + 3)
ERFC_XMAX = {"f32": 10.1, "f64": 27.3}   # erfc underflows to 0 beyond

if __name__ == "__main__":
    err, p, q = tanh_rational()
    print(f"/* tanh float32 rational x P(x^2) / Q(x^2) on [0, 10], max rel err {mp.nstr(err, 3)} */")
    print("    P: " + ", ".join(mp.nstr(c, 21, min_fixed=-1, max_fixed=1) for c in p))
    print("    Q: " + ", ".join(mp.nstr(c, 21, min_fixed=-1, max_fixed=1) for c in q))
    for dtype, d in DEGREES.items():
        print(f"\n/* ===== {dtype} ===== */")
        report(f"exp P {dtype}", exp_p, -0.3466, 0.3466, d["exp"], weight=lambda r: r * r)
        report(f"log Q {dtype}", log_q, 0, 0.02944, d["log"], weight=lambda z: z * mp.sqrt(z))
        report(f"erf E {dtype}", erf_e, 0, ERF_SMALL**2, d["erf"])
        report_shifted(f"erfc H {dtype}", lambda t: erfc_h(t, ERFC_T0),
                      1 / (mp.mpf(ERFC_XMAX[dtype]) + ERFC_T0), mp.mpf(1) / ERFC_T0, d["erfc"])
