/*
 * nc_simd.h: the one vector abstraction every kernel template is written in.
 *
 * A kernel family csrc/kernels/<family>.inc is compiled once per
 * (ISA, dtype); the generated stub defines
 *     NC_ISA   NC_GENERIC | NC_AVX2 | NC_AVX512 (x86-64) | NC_NEON (aarch64)
 *     NC_DTYPE 32 | 64
 * and includes this header, then the template.  The template sees:
 *     real            float or double
 *     vreal, VLEN     the SIMD register and its lane count (1 in generic)
 *     vmask           a lane predicate (from vcmp_* or vtail_mask), used by vselect
 *     NC_KERNEL(op)   this (ISA, dtype)'s symbol for op: nck_op_avx2_f32
 *     NC_PUBLIC(op)   the public symbol: nc_op_f32
 *     NC_DISPATCH     calls the variant of the active ISA (generic TU only)
 * The generic instantiation is the portable reference: VLEN = 1 and every
 * vector op is the plain scalar expression, so the same template body is
 * the reference kernel and the SIMD kernel.
 *
 * Tails: vload_tail / vstore_tail handle the last n < VLEN lanes with masked
 * loads and stores, so that every element goes through the same vector code
 * (same rounding) wherever a thread's chunk boundary falls.  vtail_mask(t)
 * is the predicate "lane < t" (t in [0, VLEN]), for the reductions whose
 * padding lanes must not count: vselect(vtail_mask(t), v, neutral).
 */
#ifndef NC_SIMD_H
#define NC_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "neurocore/nc.h"
#include "nc_port.h"
#include "nc_internal.h"

/* ISA levels for the preprocessor (the enum nc_isa is invisible to #if). */
#define NC_GENERIC 0
#define NC_AVX2 1
#define NC_AVX512 2
#define NC_NEON 3

#if !defined(NC_ISA) || !defined(NC_DTYPE)
#error "define NC_ISA and NC_DTYPE before including nc_simd.h"
#endif

/* ---- names -------------------------------------------------------------- */
#define NC_CAT2_(a, b) a##b
#define NC_CAT2(a, b) NC_CAT2_(a, b)
#define NC_CAT4_(a, b, c, d) a##b##c##d
#define NC_CAT4(a, b, c, d) NC_CAT4_(a, b, c, d)

#if NC_DTYPE == 32
typedef float real;
#define NC_SFX f32
#define NC_REAL_EPS 1.1920928955078125e-07
#elif NC_DTYPE == 64
typedef double real;
#define NC_SFX f64
#define NC_REAL_EPS 2.220446049250313e-16
#else
#error "NC_DTYPE must be 32 or 64"
#endif

/* ---- scalars of this dtype: the C library's function of this width ----- */
#if NC_DTYPE == 32
#define NC_LIBM(fn) fn##f
#else
#define NC_LIBM(fn) fn
#endif
/* log and sqrt of one scalar (a row's log-sum-exp, a row's 1/sqrt(var)) */
static inline real nc_log_real(real x) { return NC_LIBM(log)(x); }
static inline real nc_sqrt_real(real x) { return NC_LIBM(sqrt)(x); }

#if NC_ISA == NC_GENERIC
#define NC_ISA_SFX generic
#elif NC_ISA == NC_AVX2
#define NC_ISA_SFX avx2
#elif NC_ISA == NC_AVX512
#define NC_ISA_SFX avx512
#elif NC_ISA == NC_NEON
#define NC_ISA_SFX neon
#endif

#define NC_VARIANT(op, isa) NC_CAT4(nck_, op, NC_CAT2(_, isa), NC_CAT2(_, NC_SFX))
#define NC_KERNEL(op) NC_VARIANT(op, NC_ISA_SFX)
#define NC_PUBLIC(op) NC_CAT4(nc_, op, _, NC_SFX)

/* Declares the ISA variants of op with the given return type and
 * parameter list; the generic TU uses it before NC_DISPATCH.  Only the
 * variants of the target architecture are defined (and referenced). */
#define NC_DECLARE_VARIANTS(ret, op, params) \
    ret NC_VARIANT(op, generic) params;      \
    ret NC_VARIANT(op, avx2) params;         \
    ret NC_VARIANT(op, avx512) params;       \
    ret NC_VARIANT(op, neon) params;

/* For a family listed once in nc.h (NC_DECLARE_FAMILY): list(NC_KERNEL_DECL,
 * real, NC_SFX) at the top of the template declares this ISA's variant of
 * every kernel, so each definition is checked against the list in every
 * ISA's compile; list(NC_ENTRY_POINT, real, NC_SFX) in the generic TU
 * declares all variants and defines the public entry points. */
#define NC_KERNEL_DECL(T, S, op, params, args) void NC_KERNEL(op) params;
#define NC_ENTRY_POINT(T, S, op, params, args) \
    NC_DECLARE_VARIANTS(void, op, params)      \
    void NC_PUBLIC(op) params { NC_DISPATCH(op, args); }

/* The build compiles the x86 variants for every x86-64 target and the NEON
 * variants for every aarch64 target (CMakeLists.txt, one stub per ISA,
 * each guarded by the same architecture test), unless NC_GENERIC_ONLY. */
#if NC_ARCH_X86_64 && !defined(NC_GENERIC_ONLY)
#define NC_DISPATCH(op, args)                                   \
    do {                                                        \
        switch (nc_isa_active()) {                              \
        case NC_ISA_AVX512: NC_VARIANT(op, avx512) args; break; \
        case NC_ISA_AVX2: NC_VARIANT(op, avx2) args; break;     \
        default: NC_VARIANT(op, generic) args; break;           \
        }                                                       \
    } while (0)
#define NC_DISPATCH_RETURN(op, args)                              \
    do {                                                          \
        switch (nc_isa_active()) {                                \
        case NC_ISA_AVX512: return NC_VARIANT(op, avx512) args;   \
        case NC_ISA_AVX2: return NC_VARIANT(op, avx2) args;       \
        default: return NC_VARIANT(op, generic) args;             \
        }                                                         \
    } while (0)
#elif NC_ARCH_AARCH64 && !defined(NC_GENERIC_ONLY)
#define NC_DISPATCH(op, args)                                 \
    do {                                                      \
        if (nc_isa_active() == NC_ISA_NEON)                   \
            NC_VARIANT(op, neon) args;                        \
        else                                                  \
            NC_VARIANT(op, generic) args;                     \
    } while (0)
#define NC_DISPATCH_RETURN(op, args)                          \
    do {                                                      \
        if (nc_isa_active() == NC_ISA_NEON)                   \
            return NC_VARIANT(op, neon) args;                 \
        return NC_VARIANT(op, generic) args;                  \
    } while (0)
#else
#define NC_DISPATCH(op, args) NC_VARIANT(op, generic) args
#define NC_DISPATCH_RETURN(op, args) return NC_VARIANT(op, generic) args
#endif

/* ---- vectors ------------------------------------------------------------ */
#if NC_ISA == NC_GENERIC
/* The reference: one lane, plain C. */
#define VLEN 1
typedef real vreal;
typedef int vmask;
static inline vreal vzero(void) { return (real)0; }
static inline vreal vset1(real x) { return x; }
static inline vreal vload(const real *p) { return *p; }
static inline void vstore(real *p, vreal v) { *p = v; }
static inline vreal vload_tail(const real *p, nc_int n) { return n > 0 ? *p : (real)0; }
static inline void vstore_tail(real *p, vreal v, nc_int n) { if (n > 0) *p = v; }
static inline vmask vtail_mask(nc_int t) { return t > 0; }
static inline vreal vadd(vreal a, vreal b) { return a + b; }
static inline vreal vsub(vreal a, vreal b) { return a - b; }
static inline vreal vmul(vreal a, vreal b) { return a * b; }
static inline vreal vdiv(vreal a, vreal b) { return a / b; }
static inline vreal vfma(vreal a, vreal b, vreal c) { return a * b + c; }
static inline vreal vfnma(vreal a, vreal b, vreal c) { return c - a * b; }
/* max/min return b when a is NaN, like the x86 instructions. */
static inline vreal vmax(vreal a, vreal b) { return a > b ? a : b; }
static inline vreal vmin(vreal a, vreal b) { return a < b ? a : b; }
static inline vreal vsqrt(vreal a) { return nc_sqrt_real(a); }
static inline vreal vabs(vreal a) { return NC_LIBM(fabs)(a); }
static inline vreal vneg(vreal a) { return -a; }
static inline vmask vcmp_gt(vreal a, vreal b) { return a > b; }
static inline vmask vcmp_lt(vreal a, vreal b) { return a < b; }
static inline vmask vcmp_ge(vreal a, vreal b) { return a >= b; }
static inline vreal vselect(vmask m, vreal a, vreal b) { return m ? a : b; }
static inline real vhsum(vreal a) { return a; }
static inline real vhmax(vreal a) { return a; }

#elif NC_ISA == NC_AVX2
#include <immintrin.h>
#if NC_DTYPE == 32
#define VLEN 8
typedef __m256 vreal;
typedef __m256 vmask;
#define NC_V(op) _mm256_##op##_ps
static inline __m256i nc_tail_mask_(nc_int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vreal vload_tail(const real *p, nc_int n) { return _mm256_maskload_ps(p, nc_tail_mask_(n)); }
static inline void vstore_tail(real *p, vreal v, nc_int n) { _mm256_maskstore_ps(p, nc_tail_mask_(n), v); }
static inline vreal vabs(vreal a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vreal vneg(vreal a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
static inline real vhsum(vreal a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline real vhmax(vreal a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else
#define VLEN 4
typedef __m256d vreal;
typedef __m256d vmask;
#define NC_V(op) _mm256_##op##_pd
static inline __m256i nc_tail_mask_(nc_int n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), _mm256_setr_epi64x(0, 1, 2, 3));
}
static inline vreal vload_tail(const real *p, nc_int n) { return _mm256_maskload_pd(p, nc_tail_mask_(n)); }
static inline void vstore_tail(real *p, vreal v, nc_int n) { _mm256_maskstore_pd(p, nc_tail_mask_(n), v); }
static inline vreal vabs(vreal a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
static inline vreal vneg(vreal a) { return _mm256_xor_pd(_mm256_set1_pd(-0.0), a); }
static inline real vhsum(vreal a)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
static inline real vhmax(vreal a)
{
    __m128d s = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    s = _mm_max_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
#endif
static inline vreal vzero(void) { return NC_V(setzero)(); }
static inline vreal vset1(real x) { return NC_V(set1)(x); }
static inline vreal vload(const real *p) { return NC_V(loadu)(p); }
static inline void vstore(real *p, vreal v) { NC_V(storeu)(p, v); }
static inline vreal vadd(vreal a, vreal b) { return NC_V(add)(a, b); }
static inline vreal vsub(vreal a, vreal b) { return NC_V(sub)(a, b); }
static inline vreal vmul(vreal a, vreal b) { return NC_V(mul)(a, b); }
static inline vreal vdiv(vreal a, vreal b) { return NC_V(div)(a, b); }
static inline vreal vfma(vreal a, vreal b, vreal c) { return NC_V(fmadd)(a, b, c); }
static inline vreal vfnma(vreal a, vreal b, vreal c) { return NC_V(fnmadd)(a, b, c); }
static inline vreal vmax(vreal a, vreal b) { return NC_V(max)(a, b); }
static inline vreal vmin(vreal a, vreal b) { return NC_V(min)(a, b); }
static inline vreal vsqrt(vreal a) { return NC_V(sqrt)(a); }
static inline vmask vcmp_gt(vreal a, vreal b) { return NC_V(cmp)(a, b, _CMP_GT_OQ); }
static inline vmask vcmp_lt(vreal a, vreal b) { return NC_V(cmp)(a, b, _CMP_LT_OQ); }
static inline vmask vcmp_ge(vreal a, vreal b) { return NC_V(cmp)(a, b, _CMP_GE_OQ); }
static inline vreal vselect(vmask m, vreal a, vreal b) { return NC_V(blendv)(b, a, m); }
static inline vmask vtail_mask(nc_int t) { return NC_V(castsi256)(nc_tail_mask_(t)); }

#elif NC_ISA == NC_AVX512
#include <immintrin.h>
#if NC_DTYPE == 32
#define VLEN 16
typedef __m512 vreal;
typedef __mmask16 vmask;
#define NC_V(op) _mm512_##op##_ps
static inline __mmask16 nc_tail_mask_(nc_int n) { return (__mmask16)((1u << n) - 1u); }
#else
#define VLEN 8
typedef __m512d vreal;
typedef __mmask8 vmask;
#define NC_V(op) _mm512_##op##_pd
static inline __mmask8 nc_tail_mask_(nc_int n) { return (__mmask8)((1u << n) - 1u); }
#endif
static inline vreal vzero(void) { return NC_V(setzero)(); }
static inline vreal vset1(real x) { return NC_V(set1)(x); }
static inline vreal vload(const real *p) { return NC_V(loadu)(p); }
static inline void vstore(real *p, vreal v) { NC_V(storeu)(p, v); }
static inline vreal vload_tail(const real *p, nc_int n) { return NC_V(maskz_loadu)(nc_tail_mask_(n), p); }
static inline void vstore_tail(real *p, vreal v, nc_int n) { NC_V(mask_storeu)(p, nc_tail_mask_(n), v); }
static inline vreal vadd(vreal a, vreal b) { return NC_V(add)(a, b); }
static inline vreal vsub(vreal a, vreal b) { return NC_V(sub)(a, b); }
static inline vreal vmul(vreal a, vreal b) { return NC_V(mul)(a, b); }
static inline vreal vdiv(vreal a, vreal b) { return NC_V(div)(a, b); }
static inline vreal vfma(vreal a, vreal b, vreal c) { return NC_V(fmadd)(a, b, c); }
static inline vreal vfnma(vreal a, vreal b, vreal c) { return NC_V(fnmadd)(a, b, c); }
static inline vreal vmax(vreal a, vreal b) { return NC_V(max)(a, b); }
static inline vreal vmin(vreal a, vreal b) { return NC_V(min)(a, b); }
static inline vreal vsqrt(vreal a) { return NC_V(sqrt)(a); }
static inline vreal vabs(vreal a) { return NC_V(abs)(a); }
static inline vreal vneg(vreal a) { return NC_V(xor)(a, NC_V(set1)(-0.0)); }
/* the compare intrinsics are named _mm512_cmp_p{s,d}_mask, not NC_V-shaped */
#if NC_DTYPE == 32
#define NC_VCMP_(a, b, p) _mm512_cmp_ps_mask(a, b, p)
#else
#define NC_VCMP_(a, b, p) _mm512_cmp_pd_mask(a, b, p)
#endif
static inline vmask vcmp_gt(vreal a, vreal b) { return NC_VCMP_(a, b, _CMP_GT_OQ); }
static inline vmask vcmp_lt(vreal a, vreal b) { return NC_VCMP_(a, b, _CMP_LT_OQ); }
static inline vmask vcmp_ge(vreal a, vreal b) { return NC_VCMP_(a, b, _CMP_GE_OQ); }
static inline vreal vselect(vmask m, vreal a, vreal b) { return NC_V(mask_blend)(m, b, a); }
static inline vmask vtail_mask(nc_int t) { return nc_tail_mask_(t); }
static inline real vhsum(vreal a) { return NC_V(reduce_add)(a); }
static inline real vhmax(vreal a) { return NC_V(reduce_max)(a); }

#elif NC_ISA == NC_NEON
/* AArch64 Advanced SIMD: 128-bit registers, 32 of them.  NEON has no
 * masked loads or stores, so tails go through a small zeroed buffer.
 * vmax/vmin are compare-and-select, not vmaxq/vminq (those return NaN when
 * either operand is NaN): b when a is NaN or either is NaN, as on x86, so
 * max(0, NaN) in ReLU gives what the other paths give. */
#include <arm_neon.h>
#if NC_DTYPE == 32
#define VLEN 4
typedef float32x4_t vreal;
typedef uint32x4_t vmask;
#define NC_V(op) op##q_f32
#define NC_VDUP(x) vdupq_n_f32(x)
#else
#define VLEN 2
typedef float64x2_t vreal;
typedef uint64x2_t vmask;
#define NC_V(op) op##q_f64
#define NC_VDUP(x) vdupq_n_f64(x)
#endif
static inline vreal vzero(void) { return NC_VDUP((real)0); }
static inline vreal vset1(real x) { return NC_VDUP(x); }
static inline vreal vload(const real *p) { return NC_V(vld1)(p); }
static inline void vstore(real *p, vreal v) { NC_V(vst1)(p, v); }
static inline vreal vload_tail(const real *p, nc_int n)
{
    real buf[VLEN] = {0};
    if (n > 0)
        memcpy(buf, p, (size_t)(n < VLEN ? n : VLEN) * sizeof(real));
    return NC_V(vld1)(buf);
}
static inline void vstore_tail(real *p, vreal v, nc_int n)
{
    real buf[VLEN];
    NC_V(vst1)(buf, v);
    if (n > 0)
        memcpy(p, buf, (size_t)(n < VLEN ? n : VLEN) * sizeof(real));
}
static inline vreal vadd(vreal a, vreal b) { return NC_V(vadd)(a, b); }
static inline vreal vsub(vreal a, vreal b) { return NC_V(vsub)(a, b); }
static inline vreal vmul(vreal a, vreal b) { return NC_V(vmul)(a, b); }
static inline vreal vdiv(vreal a, vreal b) { return NC_V(vdiv)(a, b); }
static inline vreal vfma(vreal a, vreal b, vreal c) { return NC_V(vfma)(c, a, b); }
static inline vreal vfnma(vreal a, vreal b, vreal c) { return NC_V(vfms)(c, a, b); }
static inline vmask vcmp_gt(vreal a, vreal b) { return NC_V(vcgt)(a, b); }
static inline vmask vcmp_lt(vreal a, vreal b) { return NC_V(vclt)(a, b); }
static inline vmask vcmp_ge(vreal a, vreal b) { return NC_V(vcge)(a, b); }
static inline vreal vselect(vmask m, vreal a, vreal b) { return NC_V(vbsl)(m, a, b); }
static inline vmask vtail_mask(nc_int t)
{
#if NC_DTYPE == 32
    static const uint32_t lane[4] = {0, 1, 2, 3};
    return vcltq_u32(vld1q_u32(lane), vdupq_n_u32((uint32_t)t));
#else
    static const uint64_t lane[2] = {0, 1};
    return vcltq_u64(vld1q_u64(lane), vdupq_n_u64((uint64_t)t));
#endif
}
static inline vreal vmax(vreal a, vreal b) { return vselect(vcmp_gt(a, b), a, b); }
static inline vreal vmin(vreal a, vreal b) { return vselect(vcmp_lt(a, b), a, b); }
static inline vreal vsqrt(vreal a) { return NC_V(vsqrt)(a); }
static inline vreal vabs(vreal a) { return NC_V(vabs)(a); }
static inline vreal vneg(vreal a) { return NC_V(vneg)(a); }
static inline real vhsum(vreal a) { return NC_V(vaddv)(a); }
/* the lanes' maximum by the same compare-and-select as vmax */
static inline real vhmax(vreal a)
{
    real buf[VLEN];
    NC_V(vst1)(buf, a);
    real m = buf[0];
    for (int i = 1; i < VLEN; i++)
        m = buf[i] > m ? buf[i] : m;
    return m;
}
#endif

#include "nc_simd_math.h"

#endif /* NC_SIMD_H */
