# Private wrappers for csrc/kernels/reference.inc: the plain reference GEMM
# and attention (one output element at a time, sums in double), the tests'
# oracle next to NumPy.  Slow on purpose; not part of the public API.

cdef extern from "nc_reference.h" nogil:
    void nc_reference_gemm_f32(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                               float alpha, const float *a, nc_int lda, nc_int stride_a, const float *b,
                               nc_int ldb, nc_int stride_b, float beta, float *c, nc_int ldc,
                               nc_int stride_c)
    void nc_reference_gemm_f64(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                               double alpha, const double *a, nc_int lda, nc_int stride_a,
                               const double *b, nc_int ldb, nc_int stride_b, double beta, double *c,
                               nc_int ldc, nc_int stride_c)
    int nc_reference_attention_forward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                           float scale, const float *q, const nc_int *qs, const float *k,
                                           const nc_int *ks, const float *v, const nc_int *vs,
                                           const float *mask, const nc_int *ms, int is_causal, float *out,
                                           const nc_int *out_strides, float *lse)
    int nc_reference_attention_forward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                           double scale, const double *q, const nc_int *qs,
                                           const double *k, const nc_int *ks, const double *v,
                                           const nc_int *vs, const double *mask, const nc_int *ms,
                                           int is_causal, double *out, const nc_int *out_strides, double *lse)
    int nc_reference_attention_backward_f32(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                            float scale, const float *q, const nc_int *qs, const float *k,
                                            const nc_int *ks, const float *v, const nc_int *vs,
                                            const float *mask, const nc_int *ms, int is_causal,
                                            const float *grad_out, const nc_int *gos, float *grad_q,
                                            const nc_int *gqs, float *grad_k, const nc_int *gks,
                                            float *grad_v, const nc_int *gvs)
    int nc_reference_attention_backward_f64(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                            double scale, const double *q, const nc_int *qs,
                                            const double *k, const nc_int *ks, const double *v,
                                            const nc_int *vs, const double *mask, const nc_int *ms,
                                            int is_causal, const double *grad_out, const nc_int *gos,
                                            double *grad_q, const nc_int *gqs, double *grad_k,
                                            const nc_int *gks, double *grad_v, const nc_int *gvs)


# one name for both widths, as the kernels of _nc.pxd
cdef inline void nc_reference_gemm(int trans_a, int trans_b, nc_int batch, nc_int m, nc_int n, nc_int k,
                                   real alpha, const real *a, nc_int lda, nc_int stride_a, const real *b,
                                   nc_int ldb, nc_int stride_b, real beta, real *c, nc_int ldc,
                                   nc_int stride_c) noexcept nogil:
    if real is float: nc_reference_gemm_f32(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                            stride_b, beta, c, ldc, stride_c)
    else: nc_reference_gemm_f64(trans_a, trans_b, batch, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                                beta, c, ldc, stride_c)

cdef inline int nc_reference_attention_forward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                               real scale, const real *q, const nc_int *qs, const real *k,
                                               const nc_int *ks, const real *v, const nc_int *vs,
                                               const real *mask, const nc_int *ms, int is_causal, real *out,
                                               const nc_int *out_strides, real *lse) noexcept nogil:
    if real is float: return nc_reference_attention_forward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs,
                                                                mask, ms, is_causal, out, out_strides, lse)
    else: return nc_reference_attention_forward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                    is_causal, out, out_strides, lse)

cdef inline int nc_reference_attention_backward(nc_int B, nc_int H, nc_int N, nc_int M, nc_int D, nc_int DV,
                                                real scale, const real *q, const nc_int *qs, const real *k,
                                                const nc_int *ks, const real *v, const nc_int *vs,
                                                const real *mask, const nc_int *ms, int is_causal,
                                                const real *grad_out, const nc_int *gos, real *grad_q,
                                                const nc_int *gqs, real *grad_k, const nc_int *gks,
                                                real *grad_v, const nc_int *gvs) noexcept nogil:
    if real is float: return nc_reference_attention_backward_f32(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs,
                                                                 mask, ms, is_causal, grad_out, gos, grad_q,
                                                                 gqs, grad_k, gks, grad_v, gvs)
    else: return nc_reference_attention_backward_f64(B, H, N, M, D, DV, scale, q, qs, k, ks, v, vs, mask, ms,
                                                     is_causal, grad_out, gos, grad_q, gqs, grad_k, gks, grad_v,
                                                     gvs)


cdef tuple _reference_matrices(object x, str name, bint trans):
    """(batch or 0 for a 2-D x, rows, cols of op(x)) of a 2-D or 3-D operand."""
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D (a batch of matrices), got shape {x.shape}")
    rows, cols = x.shape[x.ndim - 2], x.shape[x.ndim - 1]
    return (x.shape[0] if x.ndim == 3 else 0,) + ((cols, rows) if trans else (rows, cols))


def _reference_gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """_reference_gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False) -> array

    alpha op(a) op(b) + beta c by the plain reference loops (sums in double,
    rounded once), the oracle for gemm and gemm_batched.

    a : IN, array of shape (m, k), or (k, m) with trans_a; or a stack
        (batch, ., .) of such matrices.
    b : IN, array of shape (k, n), or (n, k) with trans_b; or a stack.  A 2-D
        operand next to a 3-D one is used for every product (stride 0).
    c : IN, None or array of shape (m, n) or (batch, m, n); not modified.
        beta == 0 ignores it.
    Returns a new array of shape (m, n), or (batch, m, n) when a or b is 3-D.
    """
    A = _float_input(a, "a")
    B = _like_input(b, "b", A, "a")
    cdef double al = _finite_scalar(alpha, "alpha"), be = _finite_scalar(beta, "beta")
    cdef int ta = 1 if trans_a else 0, tb = 1 if trans_b else 0
    batch_a, m, k = _reference_matrices(A, "a", ta)
    batch_b, kb, n = _reference_matrices(B, "b", tb)
    if kb != k:
        raise ValueError(f"op(a) is ({m}, {k}) but op(b) is ({kb}, {n}): inner sizes differ")
    if batch_a and batch_b and batch_a != batch_b:
        raise ValueError(f"a and b hold {batch_a} and {batch_b} matrices; they must match")
    cdef nc_int batch = max(batch_a, batch_b, 1)
    shape = (batch, m, n) if (batch_a or batch_b) else (m, n)
    if c is None:
        C = np.zeros(shape, dtype=A.dtype)
    else:
        C = _like_input(c, "c", A, "a")
        _check_shape(C, "c", shape)
        C = np.array(C, order="C")          # the result: a fresh copy of c
    cdef nc_int M = m, N = n, K = k
    cdef nc_int lda = A.shape[A.ndim - 1], ldb = B.shape[B.ndim - 1]
    cdef nc_int sa = lda * A.shape[1] if batch_a else 0, sb = ldb * B.shape[1] if batch_b else 0
    cdef void *pa = _data(A)
    cdef void *pb = _data(B)
    cdef void *pc = _data(C)
    cdef bint f32 = _is_f32(A)
    with nogil:
        if f32:
            nc_reference_gemm(ta, tb, batch, M, N, K, al, <float *>pa, lda, sa, <float *>pb, ldb, sb, be,
                              <float *>pc, N, M * N)
        else:
            nc_reference_gemm(ta, tb, batch, M, N, K, al, <double *>pa, lda, sa, <double *>pb, ldb, sb, be,
                              <double *>pc, N, M * N)
    return C


def _reference_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    """_reference_attention_forward(q, k, v, mask=None, is_causal=False, scale=None) -> (out, lse)

    attention_forward's out and lse by the unfused formula, one query row at
    a time, sums in double: the oracle for attention_forward.  Arguments as
    attention_forward's; out (B, H, N, DV) and lse (B, H, N) are new arrays.
    """
    Q, K, V = _attention_operands(q, k, v)
    cdef nc_int B = Q.shape[0], H = Q.shape[1], N = Q.shape[2], D = Q.shape[3]
    cdef nc_int M = K.shape[2], DV = V.shape[3]
    cdef double sc = _attention_scale(scale, D)
    cdef nc_int qs[3], ks[3], vs[3], os[3], ms[4]
    cdef void *pm = NULL
    M4 = None
    if mask is not None:
        M4 = _attention_mask(mask, (B, H, N, M), Q.dtype, ms)
        pm = _data(M4)
    O = np.empty((B, H, N, DV), dtype=Q.dtype)
    L = np.empty((B, H, N), dtype=Q.dtype)
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(O, os)
    cdef int causal = 1 if is_causal else 0, status
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *po = _data(O)
    cdef void *pl = _data(L)
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            status = nc_reference_attention_forward(
                B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                <float *>pm, ms, causal, <float *>po, os, <float *>pl)
        else:
            status = nc_reference_attention_forward(
                B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                <double *>pm, ms, causal, <double *>po, os, <double *>pl)
    if status != 0:
        raise MemoryError("_reference_attention_forward: no memory for a row of scores")
    return O, L


def _reference_attention_backward(grad_out, q, k, v, mask=None, is_causal=False, scale=None):
    """_reference_attention_backward(grad_out, q, k, v, mask=None, is_causal=False, scale=None)
    -> (grad_q, grad_k, grad_v)

    attention_backward's gradients by the unfused formulas, recomputed from
    q, k and v alone (no saved out or lse), sums in double: the oracle for
    attention_backward.  grad_out (B, H, N, DV); the other arguments as
    attention_forward's.  Returns new arrays shaped like q, k and v.
    """
    Q, K, V = _attention_operands(q, k, v)
    cdef nc_int B = Q.shape[0], H = Q.shape[1], N = Q.shape[2], D = Q.shape[3]
    cdef nc_int M = K.shape[2], DV = V.shape[3]
    GO = _strided4(grad_out, "grad_out", Q, "q")
    if GO.shape != (B, H, N, DV):
        raise ValueError(f"grad_out must have shape {(B, H, N, DV)}, got {GO.shape}")
    cdef double sc = _attention_scale(scale, D)
    cdef nc_int qs[3], ks[3], vs[3], gos[3], gqs[3], gks[3], gvs[3], ms[4]
    cdef void *pm = NULL
    M4 = None
    if mask is not None:
        M4 = _attention_mask(mask, (B, H, N, M), Q.dtype, ms)
        pm = _data(M4)
    GQ = np.empty(Q.shape, dtype=Q.dtype)
    GK = np.empty(K.shape, dtype=Q.dtype)
    GV = np.empty(V.shape, dtype=Q.dtype)
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(GO, gos)
    _fill_strides(GQ, gqs); _fill_strides(GK, gks); _fill_strides(GV, gvs)
    cdef int causal = 1 if is_causal else 0, status
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *pgo = _data(GO)
    cdef void *pgq = _data(GQ)
    cdef void *pgk = _data(GK)
    cdef void *pgv = _data(GV)
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            status = nc_reference_attention_backward(
                B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                <float *>pm, ms, causal, <float *>pgo, gos, <float *>pgq, gqs, <float *>pgk, gks,
                <float *>pgv, gvs)
        else:
            status = nc_reference_attention_backward(
                B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                <double *>pm, ms, causal, <double *>pgo, gos, <double *>pgq, gqs, <double *>pgk, gks,
                <double *>pgv, gvs)
    if status != 0:
        raise MemoryError("_reference_attention_backward: no memory for its scratch")
    return GQ, GK, GV
