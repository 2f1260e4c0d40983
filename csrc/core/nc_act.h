/*
 * nc_act.h: activations and their derivatives on one vector, shared by the
 * activation kernels (activation.inc) and the GEMM epilogue (gemm.inc), so a
 * fused Linear+activation computes exactly what the separate kernels do.
 * Included after nc_simd.h; uses vexp, vtanh and verfc_pos_exp of
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
 *    erfc keeps full relative accuracy in the left tail.  The backward
 *    reuses erfc's exp(-z^2/2) for phi(z).
 *  - Tanh GELU: 0.5(1 + tanh(u)) = sigmoid(2u), so the same value is
 *    z sigmoid(2u), which does not cancel for z < 0 and costs one exp.
 *  - Where z^3 or z^2 would overflow (|z| > ~1e12 in float32), derivatives
 *    are computed from z clamped to +-NC_ACT_ZBIG: the result is already the
 *    saturated 0 or 1 there, and inf * 0 would make it NaN.
 *  - Likewise both GELU forwards multiply Phi (or the sigmoid), which is
 *    exactly 0 below -NC_ACT_ZBIG, by z floored at -NC_ACT_ZBIG: GELU(-inf)
 *    is then -0 as the limit says (and PyTorch gives), not -inf * 0 = NaN.
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

/* Phi(z), the standard normal CDF, = erfc(-z/sqrt 2)/2; with a = |z|/sqrt 2
 * that is erfc(a)/2 for z < 0 and 1 - erfc(a)/2 otherwise.  *e receives
 * exp(-z^2/2), computed on the way (phi(z) = e / sqrt(2 pi)). */
static inline vreal nc_vphi_cdf(vreal z, vreal *e)
{
    vreal half_c = vmul(vset1((real)0.5), verfc_pos_exp(vmul(vabs(z), vset1((real)NC_INV_SQRT_2)), e));
    return vselect(vcmp_lt(z, vzero()), half_c, vsub(vset1(1), half_c));
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

/* max(z, -NC_ACT_ZBIG), NaN kept (vmax returns its second operand for NaN) */
static inline vreal nc_vfloor_big(vreal z)
{
    return vmax(vset1((real)-NC_ACT_ZBIG), z);
}

/* a = act(z) */
static inline vreal nc_vact_forward(int act, real slope, vreal z)
{
    switch (act) {
    case NC_ACT_RELU: /* max(0, z) returns its second operand for NaN */
        return vmax(vzero(), z);
    case NC_ACT_LEAKY_RELU:
        return vselect(vcmp_gt(z, vzero()), z, vmul(vset1(slope), z));
    case NC_ACT_GELU: { /* z Phi(z) */
        vreal e;
        return vmul(nc_vfloor_big(z), nc_vphi_cdf(z, &e));
    }
    case NC_ACT_GELU_TANH: /* z sigmoid(2u) = 0.5 z (1 + tanh(u)) */
        return vmul(nc_vfloor_big(z), nc_vsigmoid(nc_vgelu_tanh_arg(z)));
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
    case NC_ACT_GELU: { /* Phi(z) + z phi(z), one exp for both */
        vreal e, cdf = nc_vphi_cdf(z, &e);
        vreal pdf = vmul(vset1((real)NC_INV_SQRT_2PI), e);
        return vmul(grad_a, vfma(nc_vclamp_big(z), pdf, cdf));
    }
    case NC_ACT_GELU_TANH: { /* s + z s'(2u) 2u', s = sigmoid(2u) */
        vreal zc = nc_vclamp_big(z);
        vreal e, r = nc_vsigmoid_parts(nc_vgelu_tanh_arg(z), &e);
        vreal s = vselect(vcmp_ge(z, vzero()), r, vmul(e, r));
        vreal ds = vmul(e, vmul(r, r));
        vreal du2 = vmul(vset1((real)(2 * NC_SQRT_2_OVER_PI)),
                         vfma(vset1((real)(3 * NC_GELU_TANH_C)), vmul(zc, zc), vset1(1)));
        return vmul(grad_a, vfma(vmul(zc, ds), du2, s));
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

#endif /* NC_ACT_H */
