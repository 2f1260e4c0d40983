/*
 * nc_act.h: activations and their derivatives on one vector, shared by the
 * activation kernels (activation.inc) and the GEMM epilogue (gemm.inc), so a
 * fused Linear+activation computes exactly what the separate kernels do.
 * Included after nc_simd.h; uses vexp, vtanh and verfc_pos_exp/_parts of
 * nc_simd_math.h.
 *
 * Notes
 *  - ReLU'(0) = 0, as PyTorch and the seeds' indicator 1[z > 0].
 *  - sigmoid uses the two-branch stable form: with e = exp(-|z|),
 *    sigmoid(z) = 1/(1+e) for z >= 0 and e/(1+e) for z < 0, so exp never
 *    overflows; its derivative is e/(1+e)^2 (symmetric in z), never the
 *    cancelling s(1-s) for large z.
 *  - tanh'(z) = 1 - tanh^2 loses every digit once tanh rounds to +-1; from
 *    the input it is 4e/(1+e)^2 with e = exp(-2|z|), accurate for all z.
 *  - Exact GELU: Phi(z) = erfc(-z/sqrt 2)/2.  The textbook 0.5(1 + erf(..))
 *    cancels for z < 0 (float32 has no correct digit left below z = -5);
 *    erfc keeps full relative accuracy in the left tail, and z multiplies
 *    erfc's exp factor before the rest (nc_vgelu), so the result stays
 *    accurate where erfc alone is subnormal.  The backward reuses erfc's
 *    exp(-z^2/2) for phi(z).  gelu(-inf) = 0 and gelu(+inf) = +inf, the
 *    limits (not -inf * 0); the same for tanh-GELU.
 *  - Tanh GELU: 0.5(1 + tanh(u)) = sigmoid(2u), so the same value is
 *    z sigmoid(2u), which does not cancel for z < 0 and costs one exp.
 *  - Where z^3 or z^2 would overflow (|z| > ~1e12 in float32), derivatives
 *    are computed from z clamped to +-NC_ACT_ZBIG: the result is already the
 *    saturated 0 or 1 there, and inf * 0 would make it NaN.
 */
#ifndef NC_ACT_H
#define NC_ACT_H

#define NC_SQRT_2_OVER_PI 0.79788456080286535588
#define NC_INV_SQRT_2 0.70710678118654752440
#define NC_INV_SQRT_2PI 0.39894228040143267794
#define NC_GELU_TANH_C 0.044715
#define NC_ACT_ZBIG 1e4

/* e = exp(-|z|) and r = 1/(1+e): the pieces of sigmoid and its derivative. */
static inline vreal nc_vsigmoid_parts(vreal z, vreal *e)
{
    *e = vexp(vneg(vabs(z)));
    return vdiv(vset1(1), vadd(vset1(1), *e));
}

static inline vreal nc_vsigmoid(vreal z)
{
    vreal e, r = nc_vsigmoid_parts(z, &e);
    return vselect(vcmp_ge(z, vzero()), r, vmul(e, r));
}

/* sigmoid'(z) = e/(1+e)^2 */
static inline vreal nc_vsigmoid_grad(vreal z)
{
    vreal e, r = nc_vsigmoid_parts(z, &e);
    return vmul(e, vmul(r, r));
}

/* |z| beyond which exp(-z^2/2) is 0 in the dtype (and with it GELU's
 * erfc factor): GELU clamps z there, so that gelu(-inf) = 0 and
 * gelu'(-inf) = 0, gelu(inf) = inf and gelu'(inf) = 1, the limits (z Phi(z)
 * would be -inf * 0); the clamp keeps NaN. */
#if NC_DTYPE == 32
#define NC_GELU_ZCLAMP 15.0f
#else
#define NC_GELU_ZCLAMP 39.0
#endif

/* zs = z clamped to +-NC_GELU_ZCLAMP; *e = exp(-zs^2/2) and *half_th =
 * th/2 with erfc(a) = e th, a = |zs|/sqrt 2 (verfc_pos_parts2), so that
 * Phi(z) = e th/2 for z < 0.  a^2 = zs^2/2 = zs (zs/2) is passed exactly
 * (one FMA; zs/2 is exact): from the rounded a, exp(-a^2) would carry
 * 2 a^2 eps/2 relative error, 84 ulp at z = -13. */
static inline vreal nc_vphi_parts(vreal z, vreal *e, vreal *half_th)
{
    vreal zs = vmin(vset1(NC_GELU_ZCLAMP), vmax(vset1(-NC_GELU_ZCLAMP), z)); /* max(c, NaN) = NaN */
    vreal w = vmul(vset1((real)0.5), zs), h = vmul(zs, w), th;
    verfc_pos_parts2(vmul(vabs(zs), vset1((real)NC_INV_SQRT_2)), h, nc_vmul_lo(zs, w, h), e, &th);
    *half_th = vmul(vset1((real)0.5), th);
    return zs;
}

/* GELU'(z) = Phi(z) + z phi(z), one exp for both: Phi(z) is erfc(a)/2 for
 * z < 0 and 1 - erfc(a)/2 otherwise, phi(z) = e / sqrt(2 pi).  *p receives
 * (zs e) (th/2), the product nc_vgelu builds z Phi(z) from (the forward with
 * the derivative shares it; a caller that drops it has it optimized away). */
static inline vreal nc_vgelu_grad(vreal z, vreal *p)
{
    vreal e, half_th, zs = nc_vphi_parts(z, &e, &half_th);
    vreal half_c = vmul(e, half_th);
    vreal cdf = vselect(vcmp_lt(z, vzero()), half_c, vsub(vset1(1), half_c));
    *p = vmul(vmul(zs, e), half_th);
    return vfma(zs, vmul(vset1((real)NC_INV_SQRT_2PI), e), cdf);
}

/* z Phi(z) = p = (zs e) (th/2) for z <= 0, z - p for z > 0: erfc(a) alone
 * leaves the normal range (float32: z < -13.0) while z Phi(z) is still
 * normal, so zs multiplies e first.  (z <= 0 keeps gelu(-0) = -0.) */
static inline vreal nc_vgelu(vreal z)
{
    vreal e, half_th, zs = nc_vphi_parts(z, &e, &half_th);
    vreal p = vmul(vmul(zs, e), half_th);
    return vselect(vcmp_gt(z, vzero()), vsub(z, p), p);
}

/* 2u = 2 sqrt(2/pi) (z + c z^3), the sigmoid argument of tanh-GELU */
static inline vreal nc_vgelu_tanh_arg(vreal z)
{
    vreal z2 = vmul(z, z);
    return vmul(vset1((real)(2 * NC_SQRT_2_OVER_PI)), vmul(z, vfma(vset1((real)NC_GELU_TANH_C), z2, vset1(1))));
}

static inline vreal nc_vclamp_big(vreal z)
{
    return vmin(vmax(z, vset1((real)-NC_ACT_ZBIG)), vset1((real)NC_ACT_ZBIG));
}

/* tanh-GELU'(z) = s + z s'(2u) 2u' with s = sigmoid(2u), which *s receives
 * (the forward's factor: z s) */
static inline vreal nc_vgelu_tanh_grad(vreal z, vreal *s)
{
    vreal zc = nc_vclamp_big(z);
    vreal e, r = nc_vsigmoid_parts(nc_vgelu_tanh_arg(z), &e);
    *s = vselect(vcmp_ge(z, vzero()), r, vmul(e, r));
    vreal ds = vmul(e, vmul(r, r));
    vreal du2 = vmul(vset1((real)(2 * NC_SQRT_2_OVER_PI)),
                     vfma(vset1((real)(3 * NC_GELU_TANH_C)), vmul(zc, zc), vset1(1)));
    return vfma(vmul(zc, ds), du2, *s);
}

/* a = act(z) */
static inline vreal nc_vact_forward(int act, real slope, vreal z)
{
    switch (act) {
    case NC_ACT_RELU: /* max(0, z) returns its second operand for NaN */
        return vmax(vzero(), z);
    case NC_ACT_LEAKY_RELU:
        return vselect(vcmp_gt(z, vzero()), z, vmul(vset1(slope), z));
    case NC_ACT_GELU:
        return nc_vgelu(z);
    case NC_ACT_GELU_TANH: /* z sigmoid(2u) = 0.5 z (1 + tanh(u)); z >= -ZBIG
                            * so that -inf gives the limit 0 (max keeps NaN) */
        return vmul(vmax(vset1((real)-NC_ACT_ZBIG), z), nc_vsigmoid(nc_vgelu_tanh_arg(z)));
    case NC_ACT_SIGMOID:
        return nc_vsigmoid(z);
    case NC_ACT_TANH:
        return vtanh(z);
    default:
        return z;
    }
}

/* grad_z = grad_a * act'(z), from the pre-activation z (saved input). */
static inline vreal nc_vact_backward(int act, real slope, vreal z, vreal grad_a)
{
    switch (act) {
    case NC_ACT_RELU:
        return vselect(vcmp_gt(z, vzero()), grad_a, vzero());
    case NC_ACT_LEAKY_RELU:
        return vselect(vcmp_gt(z, vzero()), grad_a, vmul(vset1(slope), grad_a));
    case NC_ACT_GELU: {
        vreal p;
        return vmul(grad_a, nc_vgelu_grad(z, &p));
    }
    case NC_ACT_GELU_TANH: {
        vreal s;
        return vmul(grad_a, nc_vgelu_tanh_grad(z, &s));
    }
    case NC_ACT_SIGMOID:
        return vmul(grad_a, nc_vsigmoid_grad(z));
    case NC_ACT_TANH: { /* 4e/(1+e)^2, e = exp(-2|z|) */
        vreal e = vexp(vmul(vset1((real)-2), vabs(z)));
        vreal r = vdiv(vset1(1), vadd(vset1(1), e));
        return vmul(grad_a, vmul(vmul(vset1((real)4), e), vmul(r, r)));
    }
    default:
        return grad_a;
    }
}

/* a = act(z) and *d = act'(z), sharing what the two have in common (GELU:
 * erfc and exp; tanh-GELU: the sigmoid).  grad_a * *d is bit for bit
 * nc_vact_backward(act, slope, z, grad_a): each backward above is grad_a
 * times the expression *d is (and the forward's select on the sigmoid's
 * argument agrees with the backward's on z: same sign, and both branches
 * are 1/2 where the argument is +-0). */
static inline vreal nc_vact_forward_grad(int act, real slope, vreal z, vreal *d)
{
    switch (act) {
    case NC_ACT_GELU: { /* nc_vgelu's result from the derivative's p */
        vreal p;
        *d = nc_vgelu_grad(z, &p);
        return vselect(vcmp_gt(z, vzero()), vsub(z, p), p);
    }
    case NC_ACT_GELU_TANH: { /* z s, as nc_vact_forward */
        vreal s;
        *d = nc_vgelu_tanh_grad(z, &s);
        return vmul(vmax(vset1((real)-NC_ACT_ZBIG), z), s);
    }
    default:
        *d = nc_vact_backward(act, slope, z, vset1(1));
        return nc_vact_forward(act, slope, z);
    }
}

#endif /* NC_ACT_H */
