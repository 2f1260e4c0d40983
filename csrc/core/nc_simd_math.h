/*
 * nc_simd_math.h: vectorised exp, log, tanh and erf for the vector types of
 * nc_simd.h (included from there, once per ISA and dtype).
 *
 * Generic path: the C library's functions, the reference the tests trust.
 * SIMD paths: for now each lane calls the C library too (correct, not fast);
 * the polynomial versions replace these.
 */
#ifndef NC_SIMD_MATH_H
#define NC_SIMD_MATH_H

#if NC_DTYPE == 32
#define NC_LIBM(fn) fn##f
#else
#define NC_LIBM(fn) fn
#endif

#if NC_ISA == NC_GENERIC
static inline vreal vexp(vreal x) { return NC_LIBM(exp)(x); }
static inline vreal vlog(vreal x) { return NC_LIBM(log)(x); }
static inline vreal vtanh(vreal x) { return NC_LIBM(tanh)(x); }
static inline vreal verf(vreal x) { return NC_LIBM(erf)(x); }
static inline vreal verfc(vreal x) { return NC_LIBM(erfc)(x); }
#else
#define NC_LANEWISE_(name, f)                              \
    static inline vreal name(vreal x)                      \
    {                                                      \
        real lanes[VLEN];                                  \
        vstore(lanes, x);                                  \
        for (int i = 0; i < VLEN; i++)                     \
            lanes[i] = NC_LIBM(f)(lanes[i]);               \
        return vload(lanes);                               \
    }
NC_LANEWISE_(vexp, exp)
NC_LANEWISE_(vlog, log)
NC_LANEWISE_(vtanh, tanh)
NC_LANEWISE_(verf, erf)
NC_LANEWISE_(verfc, erfc)
#undef NC_LANEWISE_
#endif

#endif /* NC_SIMD_MATH_H */
