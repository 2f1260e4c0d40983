/*
 * nc_simd_math.h: vectorised exp, log, tanh, erf and erfc for the vector
 * types of nc_simd.h (included from there, once per ISA and dtype).
 *
 * Generic path: the C library's functions, the reference the tests trust.
 * AVX2, AVX-512 and NEON paths: range reduction plus polynomials evaluated in the
 * vector registers, every lane through the same instructions (so results do
 * not depend on how an array is split into vectors or threads).  The
 * coefficients interpolate each function at Chebyshev nodes in 60-digit
 * arithmetic (near-minimax); tools/fit_simd_math.py computes and checks
 * them.
 *
 * Notes
 *  - exp: x = n ln2 + r, |r| <= ln2/2, n = round(x / ln2) by the 1.5 * 2^p
 *    "shifter" addition, r by two fused multiply-adds with ln2 split in a
 *    short high part (n * ln2_hi is exact) and a low part;
 *    exp(r) = 1 + (r + r^2 P(r)).  2^n is built in the exponent bits.  When
 *    some lane's result may be subnormal or overflow, 2^n is applied as two
 *    halves, so gradual underflow rounds once and overflow gives inf; each
 *    product by a power of two is exact otherwise, so both routes give the
 *    same bits.
 *  - log: x = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1,
 *    s = f / (2 + f), log(1 + f) = f - (f^2/2 - s (f^2/2 + s^2 Q(s^2)))
 *    (the atanh series 2 atanh(s) = 2s + s^3 Q; the f^2/2 split keeps the
 *    large part exact); subnormal inputs are scaled by 2^24 / 2^54 first.
 *    log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
 *  - tanh: float32 x P(x^2) / Q(x^2), a rational fit on [0, 10]; float64
 *    expm1(2x) / (expm1(2x) + 2); see vtanh.  (A two-branch form,
 *    x + x^3 T(x^2) below 0.625 and 1 - 2/(exp(2|x|) + 1) above, was as
 *    accurate but computed both branches for most vectors: 2x slower.)
 *  - erf: |x| < 0.75: x E(x^2); else 1 - erfc(|x|) with the sign of x.
 *  - erfc(a) = exp(-a^2) t H(t), t = 1 / (a + 3), one branch for all
 *    a >= 0; erfc(x < 0) = 2 - erfc(-x).  H tends to 1/sqrt(pi) as t -> 0
 *    and in powers of t - t_min its coefficients barely cancel (a
 *    polynomial for exp(a^2) erfc(a) itself, which falls to 0 there, lost
 *    12 ulp in float64 to Horner's cancellation).  a^2 = hi + lo exactly
 *    (one FMA) and exp(-hi - lo) = exp(-hi) (1 - lo): the rounding of a^2
 *    alone would cost |a^2| eps relative error.
 *  - Measured max error in ulp (AVX2 and AVX-512 alike: the same
 *    operations) over sweeps of 3 million points across each function's
 *    range, against float64 for float32, long double for float64
 *    exp/log/tanh and the C library (< 1 ulp itself) for float64 erf/erfc:
 *                  exp    log    tanh   erf    erfc
 *        float32   1.04   0.80   5.26   2.42   7.1
 *        float64   0.97   0.82   2.54   2.00   8.0
 *    tests/test_simd_math.py asserts 2 (exp, log), 6 (float32 tanh),
 *    3 (float64 tanh, float32 erf), 4 (float64 erf), 8 / 9 (erfc).
 *    float32 tanh's error is the ten float32 roundings of the rational form
 *    (in exact arithmetic the fit is within 0.33 ulp, 0.97 with float
 *    coefficients); the expm1 form measured 2.48 ulp but ran 1.2x slower.
 *    erfc's error is largest for small a: erfc(a) exp(a^2) as a function
 *    of t changes 3.4 times faster (relatively) than t at a = 0, so the
 *    rounding of t = 1/(a + 3) is amplified; carrying t's error would need
 *    H' too.  erf for |x| >= 0.75 is 1 - erfc with erfc <= 0.29 and a
 *    smaller amplification, so erf's error stays near 2 ulp.
 */
#ifndef NC_SIMD_MATH_H
#define NC_SIMD_MATH_H

/* erfc(a) underflows to 0 beyond this a; the vector erfc clamps a there */
#if NC_DTYPE == 32
#define NC_ERFC_AMAX 10.1f
#else
#define NC_ERFC_AMAX 27.3
#endif

#if NC_ISA == NC_GENERIC
static inline vreal vexp(vreal x) { return NC_LIBM(exp)(x); }
static inline vreal vlog(vreal x) { return NC_LIBM(log)(x); }
static inline vreal vtanh(vreal x) { return NC_LIBM(tanh)(x); }
static inline vreal verf(vreal x) { return NC_LIBM(erf)(x); }
static inline vreal verfc(vreal x) { return NC_LIBM(erfc)(x); }
/* the rounding error of hi = a * b, exactly (a fused multiply-add) */
static inline vreal nc_vmul_lo(vreal a, vreal b, vreal hi) { return NC_LIBM(fma)(a, b, -hi); }
/* erfc(a) for a >= 0, and *e = exp(-a^2) with a^2 taken exactly (its
 * rounding alone would cost |a^2| eps relative): in double for float, by
 * Veltkamp's split a = ah + al for double. */
static inline vreal verfc_pos_exp(vreal a, vreal *e)
{
#if NC_DTYPE == 32
    *e = (float)exp(-((double)a * (double)a));
#else
    if (a > 40) { /* exp(-1600) underflows; the split would overflow */
        *e = 0;
    } else {
        double c = 134217729.0 * a, ah = c - (c - a), al = a - ah;
        double hi = a * a, lo = ((ah * ah - hi) + 2 * ah * al) + al * al;
        *e = exp(-hi) * (1 - lo);
    }
#endif
    return NC_LIBM(erfc)(a);
}
/* erfc(a) = e th (see the vector verfc_pos_parts2), a^2 = a2 + a2_lo:
 * float in double (a from the exact a^2); double with th = erfc(a) / e_a,
 * e_a = exp(-a^2) of the rounded a itself (th loses digits where e_a is
 * subnormal, a > 26.5: results near the underflow threshold). */
static inline void verfc_pos_parts2(vreal a, vreal a2, vreal a2_lo, vreal *e_out, vreal *th_out)
{
#if NC_DTYPE == 32
    (void)a;
    double s = (double)a2 + (double)a2_lo, e = exp(-s);
    *e_out = (float)e;
    *th_out = s != s ? (float)s : e > 0 ? (float)(erfc(sqrt(s)) / e) : 0.0f;
#else
    vreal e_a;
    vreal c = verfc_pos_exp(a, &e_a);
    *e_out = a2 > 746 ? 0 : exp(-a2) * (1 - a2_lo);
    *th_out = a != a ? a : e_a > 0 ? c / e_a : 0;
#endif
}
static inline void verfc_pos_parts(vreal a, vreal *e_out, vreal *th_out)
{
#if NC_DTYPE == 32
    double d = (double)a * (double)a;
    float h = (float)d;
    verfc_pos_parts2(a, h, isinf(h) ? 0.0f : (float)(d - (double)h), e_out, th_out);
#else
    double c = 134217729.0 * a, ah = c - (c - a), al = a - ah;
    double hi = a * a, lo = ((ah * ah - hi) + 2 * ah * al) + al * al;
    verfc_pos_parts2(a, hi, lo, e_out, th_out);
#endif
}
#else

/* the rounding error of hi = a * b, exactly (a fused multiply-add) */
static inline vreal nc_vmul_lo(vreal a, vreal b, vreal hi) { return vfma(a, b, vneg(hi)); }

/* ---- integer views of the lanes (same width as real) -------------------- */
#if NC_DTYPE == 32
#define NC_MANT_BITS 23
#define NC_EXP_BIAS 127
#define NC_SHIFTER 12582912.0f                  /* 1.5 * 2^23 */
#define NC_TWO_P 8388608.0f                     /* 2^23 */
#define NC_ONE_BITS 0x3f800000                  /* 1.0f */
#define NC_SQRT_HALF_BITS 0x3f3504f3            /* sqrt(1/2) */
#define NC_MANT_MASK 0x007fffff
#else
#define NC_MANT_BITS 52
#define NC_EXP_BIAS 1023
#define NC_SHIFTER 6755399441055744.0           /* 1.5 * 2^52 */
#define NC_TWO_P 4503599627370496.0             /* 2^52 */
#define NC_ONE_BITS 0x3ff0000000000000LL
#define NC_SQRT_HALF_BITS 0x3fe6a09e667f3bcdLL
#define NC_MANT_MASK 0x000fffffffffffffLL
#endif

#if NC_ISA == NC_AVX2
typedef __m256i vint;
#if NC_DTYPE == 32
static inline vint vasint(vreal x) { return _mm256_castps_si256(x); }
static inline vreal vasreal(vint x) { return _mm256_castsi256_ps(x); }
static inline vint vi_set1(long long v) { return _mm256_set1_epi32((int)v); }
static inline vint vi_add(vint a, vint b) { return _mm256_add_epi32(a, b); }
static inline vint vi_shl_mant(vint a) { return _mm256_slli_epi32(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a) { return _mm256_srli_epi32(a, NC_MANT_BITS); }
static inline int vmask_bits(vmask m) { return _mm256_movemask_ps(m); }
#else
static inline vint vasint(vreal x) { return _mm256_castpd_si256(x); }
static inline vreal vasreal(vint x) { return _mm256_castsi256_pd(x); }
static inline vint vi_set1(long long v) { return _mm256_set1_epi64x(v); }
static inline vint vi_add(vint a, vint b) { return _mm256_add_epi64(a, b); }
static inline vint vi_shl_mant(vint a) { return _mm256_slli_epi64(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a) { return _mm256_srli_epi64(a, NC_MANT_BITS); }
static inline int vmask_bits(vmask m) { return _mm256_movemask_pd(m); }
#endif
static inline vint vi_and(vint a, vint b) { return _mm256_and_si256(a, b); }
static inline vint vi_or(vint a, vint b) { return _mm256_or_si256(a, b); }
#elif NC_ISA == NC_NEON
#if NC_DTYPE == 32
typedef int32x4_t vint;
static inline vint vasint(vreal x) { return vreinterpretq_s32_f32(x); }
static inline vreal vasreal(vint x) { return vreinterpretq_f32_s32(x); }
static inline vint vi_set1(long long v) { return vdupq_n_s32((int32_t)v); }
static inline vint vi_add(vint a, vint b) { return vaddq_s32(a, b); }
static inline vint vi_shl_mant(vint a) { return vshlq_n_s32(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a)
{
    return vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(a), NC_MANT_BITS));
}
static inline vint vi_and(vint a, vint b) { return vandq_s32(a, b); }
static inline vint vi_or(vint a, vint b) { return vorrq_s32(a, b); }
/* lane i's predicate as bit i, as x86's movemask */
static inline int vmask_bits(vmask m)
{
    static const uint32_t bit[4] = {1, 2, 4, 8};
    return (int)vaddvq_u32(vandq_u32(m, vld1q_u32(bit)));
}
#else
typedef int64x2_t vint;
static inline vint vasint(vreal x) { return vreinterpretq_s64_f64(x); }
static inline vreal vasreal(vint x) { return vreinterpretq_f64_s64(x); }
static inline vint vi_set1(long long v) { return vdupq_n_s64((int64_t)v); }
static inline vint vi_add(vint a, vint b) { return vaddq_s64(a, b); }
static inline vint vi_shl_mant(vint a) { return vshlq_n_s64(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a)
{
    return vreinterpretq_s64_u64(vshrq_n_u64(vreinterpretq_u64_s64(a), NC_MANT_BITS));
}
static inline vint vi_and(vint a, vint b) { return vandq_s64(a, b); }
static inline vint vi_or(vint a, vint b) { return vorrq_s64(a, b); }
static inline int vmask_bits(vmask m)
{
    static const uint64_t bit[2] = {1, 2};
    return (int)vaddvq_u64(vandq_u64(m, vld1q_u64(bit)));
}
#endif
#else /* AVX-512 */
typedef __m512i vint;
#if NC_DTYPE == 32
static inline vint vasint(vreal x) { return _mm512_castps_si512(x); }
static inline vreal vasreal(vint x) { return _mm512_castsi512_ps(x); }
static inline vint vi_set1(long long v) { return _mm512_set1_epi32((int)v); }
static inline vint vi_add(vint a, vint b) { return _mm512_add_epi32(a, b); }
static inline vint vi_shl_mant(vint a) { return _mm512_slli_epi32(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a) { return _mm512_srli_epi32(a, NC_MANT_BITS); }
#else
static inline vint vasint(vreal x) { return _mm512_castpd_si512(x); }
static inline vreal vasreal(vint x) { return _mm512_castsi512_pd(x); }
static inline vint vi_set1(long long v) { return _mm512_set1_epi64(v); }
static inline vint vi_add(vint a, vint b) { return _mm512_add_epi64(a, b); }
static inline vint vi_shl_mant(vint a) { return _mm512_slli_epi64(a, NC_MANT_BITS); }
static inline vint vi_shr_mant(vint a) { return _mm512_srli_epi64(a, NC_MANT_BITS); }
#endif
static inline vint vi_and(vint a, vint b) { return _mm512_and_si512(a, b); }
static inline vint vi_or(vint a, vint b) { return _mm512_or_si512(a, b); }
static inline int vmask_bits(vmask m) { return (int)m; }
#endif
#define NC_MASK_ALL ((1 << VLEN) - 1)

/* |mag| with the sign bit of sgn (keeps -0, which x + x^3 T(x^2) loses) */
static inline vreal nc_vcopysign(vreal mag, vreal sgn)
{
    const vint sign = vasint(vset1((real)-0.0));
    const vint abs_mask = vasint(vabs(vasreal(vi_set1(-1))));
    return vasreal(vi_or(vi_and(vasint(mag), abs_mask), vi_and(vasint(sgn), sign)));
}

/* c[0] + v (c[1] + v (c[2] + ...)); n is a constant, the loop unrolls. */
static inline vreal nc_horner(vreal v, const real *c, int n)
{
    vreal r = vset1(c[n - 1]);
    for (int k = n - 2; k >= 0; k--)
        r = vfma(r, v, vset1(c[k]));
    return r;
}
#define NC_HORNER(v, c) nc_horner(v, c, (int)(sizeof(c) / sizeof(c[0])))

/* 2^n for the integer-valued n held as kd = n + NC_SHIFTER: the low bits of
 * kd are n in two's complement; shifted into the exponent field they carry
 * the shifter's bits out of the word, and the bias is added. */
static inline vreal nc_pow2_shifted(vreal kd)
{
    return vasreal(vi_add(vi_shl_mant(vasint(kd)), vi_set1((long long)NC_EXP_BIAS << NC_MANT_BITS)));
}

/* ---- exp ----------------------------------------------------------------- */
/* expm1(r) = r + r^2 P(r) for |r| <= ln2/2 */
static inline vreal nc_expm1_reduced(vreal r)
{
#if NC_DTYPE == 32
    static const real c[] = {
        5.0e-1, 1.66665769982429252184e-1, 4.16665546278780832132e-2, 8.36317762999444562313e-3,
        1.39261818104893426652e-3
    };
#else
    static const real c[] = {
        5.0e-1, 1.66666666666666709896e-1, 4.16666666666666697539e-2, 8.33333333332613649646e-3,
        1.38888888888837492834e-3, 1.98412698748158331066e-4, 2.48015873255443190805e-5,
        2.75572554062850436824e-6, 2.75572736474510895806e-7, 2.51052144747514137532e-8,
        2.09146851614180679831e-9
    };
#endif
    return vfma(vmul(r, r), NC_HORNER(r, c), r);
}

static inline vreal vexp(vreal x)
{
#if NC_DTYPE == 32
    const real lo = -104.0f, hi = 89.0f, safe = 87.0f;
    const real ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
#else
    const real lo = -746.0, hi = 710.0, safe = 707.0;
    const real ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
#endif
    const vreal shifter = vset1(NC_SHIFTER);
    int wide = vmask_bits(vcmp_gt(vabs(x), vset1(safe))) != 0;
    if (wide) /* clamp so n stays in range; max(lo, NaN) keeps the NaN */
        x = vmin(vset1(hi), vmax(vset1(lo), x));
    vreal kd = vfma(x, vset1((real)1.44269504088896340736), shifter);
    vreal n = vsub(kd, shifter);
    vreal r = vfnma(n, vset1(ln2_hi), x);
    r = vfnma(n, vset1(ln2_lo), r);
    vreal p = vadd(vset1(1), nc_expm1_reduced(r));
    if (!wide)
        return vmul(p, nc_pow2_shifted(kd));
    /* n = n1 + n2, each half a normal power of two */
    vreal k1 = vfma(n, vset1((real)0.5), shifter);
    vreal k2 = vadd(vsub(n, vsub(k1, shifter)), shifter);
    return vmul(vmul(p, nc_pow2_shifted(k1)), nc_pow2_shifted(k2));
}

/* ---- log ----------------------------------------------------------------- */
static inline vreal vlog(vreal x)
{
#if NC_DTYPE == 32
    static const real c[] = {
        6.6666685044785878303e-1, 3.99887784336514373265e-1, 2.95800461683121988977e-1
    };
#else
    static const real c[] = {
        6.66666666666666968816e-1, 3.99999999998994472971e-1, 2.85714286260014255747e-1,
        2.22222111305607264421e-1, 1.81828894337575164229e-1, 1.53317113466729959766e-1,
        1.46165764216443859895e-1
    };
#endif
#if NC_DTYPE == 32
    const real min_normal = 1.17549435e-38f, max_finite = 3.40282347e+38f, up = 16777216.0f, up_log2 = 24.0f;
    const real ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
#else
    const real min_normal = 2.2250738585072014e-308, max_finite = 1.7976931348623157e+308;
    const real up = 18014398509481984.0, up_log2 = 54.0;
    const real ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
#endif
    vmask tiny = vcmp_lt(x, vset1(min_normal));
    vreal xs = vselect(tiny, vmul(x, vset1(up)), x);
    /* ix: x's bits moved so that the exponent field counts from sqrt(1/2) */
    vint ix = vi_add(vasint(xs), vi_set1(NC_ONE_BITS - NC_SQRT_HALF_BITS));
    vreal kbits = vasreal(vi_or(vi_shr_mant(ix), vasint(vset1(NC_TWO_P))));
    vreal k = vsub(kbits, vset1((real)(NC_TWO_P + NC_EXP_BIAS)));
    k = vsub(k, vselect(tiny, vset1(up_log2), vzero()));
    vreal m = vasreal(vi_add(vi_and(ix, vi_set1(NC_MANT_MASK)), vi_set1(NC_SQRT_HALF_BITS)));
    vreal f = vsub(m, vset1(1));
    vreal s = vdiv(f, vadd(vset1(2), f));
    vreal z = vmul(s, s);
    vreal hfsq = vmul(vset1((real)0.5), vmul(f, f));
    vreal rz = vmul(z, NC_HORNER(z, c));
    vreal lo_part = vfma(k, vset1(ln2_lo), vmul(s, vadd(hfsq, rz)));
    vreal y = vfma(k, vset1(ln2_hi), vsub(f, vsub(hfsq, lo_part)));
    /* x <= 0, NaN, inf */
    vreal special = vselect(vcmp_ge(x, vzero()), vset1((real)-INFINITY), vset1((real)NAN));
    y = vselect(vcmp_gt(x, vzero()), y, special);
    return vselect(vcmp_gt(x, vset1(max_finite)), x, y);
}

/* ---- tanh ----------------------------------------------------------------
 * float32: tanh(x) = x P(x^2) / Q(x^2), a rational minimax-like fit on
 * [0, 10] (tools/fit_simd_math.py, 2e-8 relative), x clamped to +-10 where
 * tanh rounds to +-1.  Half the operations of the expm1 form below, no
 * cancellation near 0 (P(0) rounds to 1, so tiny x returns x), keeps -0.
 * float64: tanh(x) = expm1(2x) / (expm1(2x) + 2): one formula for every x,
 * so no lane computes two branches.  With 2x = n ln2 + r (as in exp),
 * expm1(2x) = 2^n expm1(r) + (2^n - 1); for |2x| < ln2/2 (n = 0) that is
 * expm1(r) itself, so tanh keeps full relative accuracy near 0 (tiny x
 * returns x).  |x| is clamped to 19.1, where tanh rounds to +-1, keeping
 * expm1 finite; the sign is copied back for -0. */
#if NC_DTYPE == 32
static inline vreal vtanh(vreal x)
{
    static const real p[] = {
        9.99999980508766175763e-1, 1.30391784557497816436e-1, 3.05410346669689141628e-3,
        1.06407833224751395409e-5, -1.82020038626790807262e-8, 4.34380787779239404433e-11,
        -6.21010944829442764845e-14
    };
    static const real q[] = {
        1.0, 4.63724945585823103601e-1, 2.42960058127383617181e-2, 2.47398217324827328186e-4
    };
    vreal xc = vmin(vset1(10.0f), vmax(vset1(-10.0f), x)); /* keeps NaN */
    vreal u = vmul(xc, xc);
    return vdiv(vmul(xc, NC_HORNER(u, p)), NC_HORNER(u, q));
}
#else
static inline vreal vtanh(vreal x)
{
    const real xmax = 19.1;
    const real ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const vreal shifter = vset1(NC_SHIFTER), one = vset1(1);
    vreal y = vmin(vset1(2 * xmax), vmax(vset1(-2 * xmax), vadd(x, x)));
    vreal kd = vfma(y, vset1((real)1.44269504088896340736), shifter);
    vreal n = vsub(kd, shifter);
    vreal r = vfnma(n, vset1(ln2_hi), y);
    r = vfnma(n, vset1(ln2_lo), r);
    vreal s = nc_pow2_shifted(kd);
    vreal em1 = vfma(s, nc_expm1_reduced(r), vsub(s, one));
    return nc_vcopysign(vdiv(em1, vadd(em1, vset1(2))), x);
}
#endif

/* ---- erf, erfc ----------------------------------------------------------- */
/* x E(x^2) = erf(x) for |x| < 0.75 */
static inline vreal nc_verf_small(vreal x)
{
#if NC_DTYPE == 32
    static const real c[] = {
        1.12837916557875168374, -3.76126194694376761182e-1, 1.12833865384145441309e-1,
        -2.68351145686097034767e-2, 5.11533211253222635363e-3, -6.75647956868004729967e-4
    };
#else
    static const real c[] = {
        1.12837916709551257307, -3.76126389031837169221e-1, 1.12837916709525960607e-1,
        -2.68661706444284840839e-2, 5.22397761542053867312e-3, -8.54832618875975266375e-4,
        1.20552895675417067418e-4, -1.49241963055696165794e-5, 1.64306841797415490551e-6,
        -1.59400668546617174239e-7, 1.14724997010946916175e-8
    };
#endif
    return vmul(x, NC_HORNER(vmul(x, x), c));
}

/* erfc(a) = e th for a >= 0 (NaN propagates), as its two factors:
 * *e_out = exp(-a^2), which exact GELU's derivative needs too
 * (phi(z) = exp(-z^2/2) / sqrt(2 pi), a = |z|/sqrt 2), and *th_out = t H(t)
 * (about 1 / (sqrt(pi) a) for large a).  Multiplied together they fall
 * below the normal range first (float32: erfc(a) from a = 9.2 on), so a
 * caller that scales erfc back up (GELU: z erfc(a) / 2) keeps full
 * precision by multiplying e by its own factor first.
 * verfc_pos_parts2 takes a^2 = a2 + a2_lo exactly from the caller, who may
 * know it better than the rounded a does (GELU: a^2 = z^2 / 2 from z; the
 * rounding of a = |z| / sqrt 2 alone would cost 2 a^2 eps / 2 relative,
 * 84 ulp at z = -13).  The caller bounds a (the fit holds to
 * NC_ERFC_AMAX, where erfc has underflowed; a little beyond, the result is
 * still 0 or a subnormal, as exp(-a^2) is) and keeps a^2 finite. */
static inline void verfc_pos_parts2(vreal a, vreal a2, vreal a2_lo, vreal *e_out, vreal *th_out)
{
    static const real c[] = {
#if NC_DTYPE == 32
        7.28235375970476326979e-1, 2.71520435804365558031, 9.15447850781363352816,
        2.73823934401001527707e+1, 6.94696075765149085544e+1, 1.54708995255134023418e+2,
        8.78136757462233698707e+1, 7.33796016566443418436e+2, -3.57594852589687161748e+3,
        3.36625080801031686818e+3
    };
    const real t_lo = 0.0763358778625954219176f;
#else
        6.25769184394380972724e-1, 2.05546279524730669301, 6.28088771687628334916,
        1.7601745427881539975e+1, 4.42479578480053463637e+1, 9.59656454666786897797e+1,
        1.64959285261631727028e+2, 1.67162628398624791716e+2, -1.53858453657759152069e+2,
        -1.12189939688527004021e+3, -3.01161901988425151597e+3, 7.45099536707087029841e+3,
        -6.67120362956145535028e+4, 7.05739094016920082169e+5, -4.39288112076835032305e+6,
        2.22986291624181756028e+7, -9.00665121555871256362e+7, 2.63560742961809605799e+8,
        -5.27788674528062058611e+8, 6.74432381453306836352e+8, -4.44537793708125119319e+8,
        -3.68294581003390106628e+7, 2.76380299048570896354e+8, -1.39348884551969508786e+8
    };
    const real t_lo = 0.0330033003300330025264;
#endif
    vreal t = vdiv(vset1(1), vadd(a, vset1(3)));
    vreal th = vmul(t, NC_HORNER(vsub(t, vset1(t_lo)), c));
    vreal e = vexp(vneg(a2));
    *e_out = vfnma(e, a2_lo, e);
    *th_out = th;
}

static inline void verfc_pos_parts(vreal a, vreal *e_out, vreal *th_out)
{
    a = vmin(vset1(NC_ERFC_AMAX), a); /* erfc underflows beyond; keeps a^2 finite */
    vreal a2 = vmul(a, a);
    verfc_pos_parts2(a, a2, vfma(a, a, vneg(a2)), e_out, th_out);
}

/* erfc(a) for a >= 0, *e = exp(-a^2) (see verfc_pos_parts) */
static inline vreal verfc_pos_exp(vreal a, vreal *e_out)
{
    vreal th;
    verfc_pos_parts(a, e_out, &th);
    return vmul(*e_out, th);
}

static inline vreal verf(vreal x)
{
    vreal ax = vabs(x);
    vmask small = vcmp_lt(ax, vset1((real)0.75));
    int bits = vmask_bits(small);
    vreal ys = x, yl = x;
    if (bits != 0)
        ys = nc_verf_small(x);
    if (bits != NC_MASK_ALL) {
        vreal e, y = vsub(vset1(1), verfc_pos_exp(ax, &e));
        yl = vselect(vcmp_lt(x, vzero()), vneg(y), y);
    }
    return vselect(small, ys, yl);
}

/* One branch for all x: erfc(|x|) from verfc_pos_exp, reflected for
 * x < 0, so exact GELU never evaluates two branches per vector. */
static inline vreal verfc(vreal x)
{
    vreal e, c = verfc_pos_exp(vabs(x), &e);
    return vselect(vcmp_lt(x, vzero()), vsub(vset1(2), c), c);
}

#undef NC_MASK_ALL
#endif /* NC_ISA */

#endif /* NC_SIMD_MATH_H */
