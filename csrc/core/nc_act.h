/*
 * nc_act.h: activations and their derivatives on one vector, shared by the
 * activation kernels (activation.inc) and the GEMM epilogue (gemm.inc), so a
 * fused Linear+activation computes exactly what the separate kernels do.
 * Included after nc_simd.h; uses vexp/verf/vtanh of nc_simd_math.h.
 *
 * Notes
 *  - ReLU'(0) = 0, as PyTorch and the seeds' indicator 1[z > 0].
 *  - sigmoid uses the two-branch stable form: with e = exp(-|z|),
 *    sigmoid(z) = 1/(1+e) for z >= 0 and e/(1+e) for z < 0, so exp never
 *    overflows.
 */
#ifndef NC_ACT_H
#define NC_ACT_H

#define NC_SQRT_2_OVER_PI 0.79788456080286535588
#define NC_INV_SQRT_2 0.70710678118654752440
#define NC_INV_SQRT_2PI 0.39894228040143267794
#define NC_GELU_TANH_C 0.044715

static inline vreal nc_vsigmoid(vreal z)
{
    vreal e = vexp(vneg(vabs(z)));
    vreal r = vdiv(vset1(1), vadd(vset1(1), e));
    return vselect(vcmp_ge(z, vzero()), r, vmul(e, r));
}

/* a = act(z) */
static inline vreal nc_vact_forward(int act, real slope, vreal z)
{
    switch (act) {
    case NC_ACT_RELU:
        return vselect(vcmp_gt(z, vzero()), z, vzero());
    case NC_ACT_LEAKY_RELU:
        return vselect(vcmp_gt(z, vzero()), z, vmul(vset1(slope), z));
    case NC_ACT_GELU: /* z * Phi(z) = 0.5 z (1 + erf(z / sqrt 2)) */
        return vmul(vmul(vset1((real)0.5), z),
                    vadd(vset1(1), verf(vmul(z, vset1((real)NC_INV_SQRT_2)))));
    case NC_ACT_GELU_TANH: {
        vreal z3 = vmul(vmul(z, z), z);
        vreal u = vmul(vset1((real)NC_SQRT_2_OVER_PI), vfma(vset1((real)NC_GELU_TANH_C), z3, z));
        return vmul(vmul(vset1((real)0.5), z), vadd(vset1(1), vtanh(u)));
    }
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
    case NC_ACT_GELU: { /* Phi(z) + z phi(z) */
        vreal cdf = vmul(vset1((real)0.5), vadd(vset1(1), verf(vmul(z, vset1((real)NC_INV_SQRT_2)))));
        vreal pdf = vmul(vset1((real)NC_INV_SQRT_2PI), vexp(vmul(vset1((real)-0.5), vmul(z, z))));
        return vmul(grad_a, vfma(z, pdf, cdf));
    }
    case NC_ACT_GELU_TANH: { /* 0.5(1+t) + 0.5 z (1-t^2) sqrt(2/pi)(1 + 3c z^2) */
        vreal z2 = vmul(z, z);
        vreal u = vmul(vset1((real)NC_SQRT_2_OVER_PI), vmul(z, vfma(vset1((real)NC_GELU_TANH_C), z2, vset1(1))));
        vreal t = vtanh(u);
        vreal du = vmul(vset1((real)NC_SQRT_2_OVER_PI), vfma(vset1((real)(3 * NC_GELU_TANH_C)), z2, vset1(1)));
        vreal half_z = vmul(vset1((real)0.5), z);
        vreal d = vfma(vmul(half_z, vfnma(t, t, vset1(1))), du, vmul(vset1((real)0.5), vadd(vset1(1), t)));
        return vmul(grad_a, d);
    }
    case NC_ACT_SIGMOID: {
        vreal s = nc_vsigmoid(z);
        return vmul(grad_a, vmul(s, vsub(vset1(1), s)));
    }
    case NC_ACT_TANH: {
        vreal t = vtanh(z);
        return vmul(grad_a, vfnma(t, t, vset1(1)));
    }
    default:
        return grad_a;
    }
}

#endif /* NC_ACT_H */
