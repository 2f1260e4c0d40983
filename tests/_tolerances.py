"""The tolerance table the tests share: how close a result must be to its
reference, for each kind of comparison, per dtype where the dtype matters.

float64 results against an exact (float64) reference agree to ~1e-12
relative and float32 ones to ~1e-5 (DESIGN.md, "Numerics"); the rows below
widen that only where a comparison adds rounding of its own (several passes
chained, a finite-difference reference).  A test that needs a tolerance
takes a row from here, so a change of policy is one edit, visible in review.
"""
import numpy as np

F32, F64 = np.float32, np.float64

# one kernel pass against a float64 NumPy reference
TOL = {F32: dict(rtol=2e-5, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-14)}
# a hand-derived training step (forward, loss, backward) against the seed's formulas
TOL_STEP = {F32: dict(rtol=1e-5, atol=1e-7), F64: dict(rtol=1e-12, atol=1e-15)}
# a loss kernel (row log-sum-exp, reductions) against NumPy in float64
TOL_LOSS_KERNEL = {F32: dict(rtol=2e-5, atol=2e-5), F64: dict(rtol=1e-12, atol=1e-12)}
# a differentiable loss and its gradient, through the autograd layer
TOL_LOSS = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-10, atol=1e-12)}
# several optimizer steps against the reference implementation (errors compound)
TOL_OPTIM = {F32: dict(rtol=2e-4, atol=2e-5), F64: dict(rtol=1e-10, atol=1e-12)}
# a kernel on hostile but valid arrays (strided, swapped, ...) against NumPy
TOL_HOSTILE = {F32: dict(rtol=1e-4, atol=1e-5), F64: dict(rtol=1e-10, atol=1e-12)}
# the same float32 computation on a re-laid-out copy of its arguments
SAME = dict(rtol=1e-5, atol=1e-6)
# a float64 gradient against central finite differences
FD = dict(rtol=1e-6, atol=1e-8)
# a float64 Hessian-vector product against finite differences of the gradient
FD_HVP = dict(rtol=1e-5, atol=1e-7)
# a GEMM (sums of k products) against its reference: atol is per unit of
# sum_k |a_ik b_kj|, the size the k roundings of a sum scale with
TOL_DOT = {F32: dict(rtol=2e-5, atol=2e-6), F64: dict(rtol=1e-12, atol=1e-14)}
# fused attention (online softmax, two chained products) against the plain reference
TOL_ATTENTION = {F32: dict(rtol=2e-5, atol=2e-5), F64: dict(rtol=1e-12, atol=1e-12)}
