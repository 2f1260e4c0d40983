# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._attention: fused scaled-dot-product attention and layer
normalisation (csrc/kernels/attention.inc, layernorm.inc).

The attention forward keeps one log-sum-exp per row; the backward
recomputes the tiles.
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_f32, _data, _float_input, _like_input, _empty, _check_shape, _output, _finite_scalar,
    _no_partial_overlap, _strided4, _fill_strides, _strided_output, _check_no_overlap, _attention_mask,
    _attention_operands, _attention_scale)

cnp.import_array()
nc_api = kernel_table()


def attention_forward(q, k, v, mask=None, is_causal=False, scale=None, out=None, workspace=True):
    """attention_forward(q, k, v, mask=None, is_causal=False, scale=None, out=None, workspace=True) -> (out, lse)

    out = softmax(q k^T * scale + mask) v per (batch, head), fused: tiles with
    an online softmax, the N x M score matrix is never stored.

    q     : IN, array of shape (B, H, N, D).
    k     : IN, array of shape (B, H, M, D).
    v     : IN, array of shape (B, H, M, DV).
    mask  : IN, None, boolean (True = attend) or additive float array
            broadcastable to (B, H, N, M).
    is_causal : query i sees only keys j <= i.
    scale : default 1/sqrt(D).
    out   : OUT, optional array of shape (B, H, N, DV) (any strides with a
            contiguous last axis, e.g. a transposed (B, N, H, DV) buffer).
    workspace : accepted for symmetry with attention_backward; the forward
            reads k and v in place and needs no workspace (the results do
            not depend on it).
    Returns out and lse, the log-sum-exp of each score row, shape (B, H, N),
    which attention_backward needs.  Strided inputs with a contiguous last
    axis are used in place.
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
    O = _strided_output(out, (B, H, N, DV), Q.dtype, "out")
    if out is not None:
        _check_no_overlap((("out", O),), (("q", Q), ("k", K), ("v", V), ("mask", M4)))
    L = _empty((B, H, N), Q.dtype)
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(O, os)
    cdef int causal = 1 if is_causal else 0
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *po = _data(O)
    cdef void *pl = _data(L)
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            nc_attention_forward(B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                                 <float *>pm, ms, causal, <float *>po, os, <float *>pl, NULL)
        else:
            nc_attention_forward(B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                                 <double *>pm, ms, causal, <double *>po, os, <double *>pl, NULL)
    return O, L


def attention_backward(grad_out, q, k, v, out, lse, mask=None, is_causal=False, scale=None,
                       grad_q=None, grad_k=None, grad_v=None, workspace=True):
    """attention_backward(grad_out, q, k, v, out, lse, mask=None, is_causal=False, scale=None,
    grad_q=None, grad_k=None, grad_v=None, workspace=True) -> (grad_q, grad_k, grad_v)

    Gradients of attention_forward, recomputing the probabilities tile by
    tile from lse (P = exp(s - lse)); with dS = P * (dO v^T - rowsum(dO * out)):
    grad_q = dS k * scale, grad_k = dS^T q * scale, grad_v = P^T dO.

    grad_out : IN, array of shape (B, H, N, DV).
    q, k, v, mask, is_causal, scale : as given to attention_forward.
    out, lse : IN, what attention_forward returned.
    grad_q, grad_k, grad_v : OUT, optional arrays shaped like q, k, v
             (contiguous last axis); they are overwritten.
    workspace : as in attention_forward (B*H*M*(D+DV) elements).
    """
    Q, K, V = _attention_operands(q, k, v)
    cdef nc_int B = Q.shape[0], H = Q.shape[1], N = Q.shape[2], D = Q.shape[3]
    cdef nc_int M = K.shape[2], DV = V.shape[3]
    O = _strided4(out, "out", Q, "q")
    GO = _strided4(grad_out, "grad_out", Q, "q")
    if O.shape != (B, H, N, DV):
        raise ValueError(f"out must have shape {(B, H, N, DV)}, got {O.shape}")
    if GO.shape != (B, H, N, DV):
        raise ValueError(f"grad_out must have shape {(B, H, N, DV)}, got {GO.shape}")
    L = _like_input(lse, "lse", Q, "q")
    _check_shape(L, "lse", (B, H, N))
    cdef double sc = _attention_scale(scale, D)
    cdef nc_int qs[3], ks[3], vs[3], os[3], gos[3], gqs[3], gks[3], gvs[3], ms[4]
    cdef void *pm = NULL
    M4 = None
    if mask is not None:
        M4 = _attention_mask(mask, (B, H, N, M), Q.dtype, ms)
        pm = _data(M4)
    GQ = _strided_output(grad_q, Q.shape, Q.dtype, "grad_q")
    GK = _strided_output(grad_k, K.shape, Q.dtype, "grad_k")
    GV = _strided_output(grad_v, V.shape, Q.dtype, "grad_v")
    if grad_q is not None or grad_k is not None or grad_v is not None:
        _check_no_overlap((("grad_q", GQ), ("grad_k", GK), ("grad_v", GV)),
                          (("q", Q), ("k", K), ("v", V), ("out", O), ("grad_out", GO), ("lse", L),
                           ("mask", M4)))
        if np.may_share_memory(GQ, GK) or np.may_share_memory(GQ, GV) or np.may_share_memory(GK, GV):
            if any(np.shares_memory(a, b) for a, b in ((GQ, GK), (GQ, GV), (GK, GV))):
                raise ValueError("grad_q, grad_k and grad_v must not overlap each other")
    _fill_strides(Q, qs); _fill_strides(K, ks); _fill_strides(V, vs); _fill_strides(O, os)
    _fill_strides(GO, gos); _fill_strides(GQ, gqs); _fill_strides(GK, gks); _fill_strides(GV, gvs)
    cdef int causal = 1 if is_causal else 0
    cdef void *pq = _data(Q)
    cdef void *pk = _data(K)
    cdef void *pv = _data(V)
    cdef void *po = _data(O)
    cdef void *pl = _data(L)
    cdef void *pgo = _data(GO)
    cdef void *pgq = _data(GQ)
    cdef void *pgk = _data(GK)
    cdef void *pgv = _data(GV)
    # the kernel's workspace: each head's keys and values transposed once
    W = _empty((B * H * (D + DV) * M,), Q.dtype) if workspace else None
    cdef void *pw = _data(W) if W is not None else NULL
    cdef bint f32 = _is_f32(Q)
    with nogil:
        if f32:
            nc_attention_backward(B, H, N, M, D, DV, sc, <float *>pq, qs, <float *>pk, ks, <float *>pv, vs,
                                  <float *>pm, ms, causal, <float *>po, os, <float *>pl, <float *>pgo, gos,
                                  <float *>pgq, gqs, <float *>pgk, gks, <float *>pgv, gvs, <float *>pw)
        else:
            nc_attention_backward(B, H, N, M, D, DV, sc, <double *>pq, qs, <double *>pk, ks, <double *>pv, vs,
                                  <double *>pm, ms, causal, <double *>po, os, <double *>pl, <double *>pgo, gos,
                                  <double *>pgq, gqs, <double *>pgk, gks, <double *>pgv, gvs, <double *>pw)
    return GQ, GK, GV


cdef object _ln_param(object p, str name, object X):
    if p is None:
        return None
    P = _like_input(p, name, X, "x")
    _check_shape(P, name, (X.shape[X.ndim - 1],))
    return P


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5, out=None):
    """layer_norm_forward(x, weight=None, bias=None, eps=1e-5, out=None) -> (y, mean, rstd)

    y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis
    (biased variance, as PyTorch).

    x      : IN, float array of shape (..., C), at least 1-D.
    weight : IN, optional array of shape (C,); bias likewise.
    out    : OUT, optional array of x's shape and dtype.
    Returns y and the per-row mean and rstd = 1/sqrt(var + eps), shape
    x.shape[:-1], which layer_norm_backward needs.
    """
    X = _float_input(x, "x")
    if X.ndim < 1:
        raise ValueError(f"x must be at least 1-D, got shape {X.shape}")
    W = _ln_param(weight, "weight", X)
    Bi = _ln_param(bias, "bias", X)
    cdef double e = _finite_scalar(eps, "eps")
    if e < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    Y = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(Y, "out", ((X, "x"), (W, "weight"), (Bi, "bias")))
    Mu = _empty(X.shape[:X.ndim - 1], X.dtype)
    Rs = _empty(X.shape[:X.ndim - 1], X.dtype)
    cdef nc_int cols = X.shape[X.ndim - 1]  # (wraparound is off in this module)
    cdef nc_int rows = Mu.size
    cdef void *px = _data(X)
    cdef void *pw = _data(W) if W is not None else NULL
    cdef void *pb = _data(Bi) if Bi is not None else NULL
    cdef void *py = _data(Y)
    cdef void *pmu = _data(Mu)
    cdef void *prs = _data(Rs)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32:
            nc_layer_norm_forward(rows, cols, e, <float *>px, <float *>pw, <float *>pb, <float *>py,
                                  <float *>pmu, <float *>prs)
        else:
            nc_layer_norm_forward(rows, cols, e, <double *>px, <double *>pw, <double *>pb, <double *>py,
                                  <double *>pmu, <double *>prs)
    return Y, Mu, Rs


def layer_norm_backward(grad_y, x, mean, rstd, weight=None, need_input_grad=True, need_param_grads=True):
    """layer_norm_backward(grad_y, x, mean, rstd, weight=None, need_input_grad=True,
    need_param_grads=True) -> (grad_x, grad_weight, grad_bias)

    With xhat = (x - mean) * rstd and g = grad_y * weight:
    grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)),
    grad_weight = sum over rows of grad_y * xhat, grad_bias = sum of grad_y.

    grad_y, x  : IN, float arrays of shape (..., C).
    mean, rstd : IN, what layer_norm_forward returned, shape x.shape[:-1].
    weight     : IN, optional (C,) (None: no affine).
    Returns None in place of a gradient that was not asked for.
    """
    X = _float_input(x, "x")
    if X.ndim < 1:
        raise ValueError(f"x must be at least 1-D, got shape {X.shape}")
    G = _like_input(grad_y, "grad_y", X, "x")
    _check_shape(G, "grad_y", X.shape)
    Mu = _like_input(mean, "mean", X, "x")
    _check_shape(Mu, "mean", X.shape[:X.ndim - 1])
    Rs = _like_input(rstd, "rstd", X, "x")
    _check_shape(Rs, "rstd", X.shape[:X.ndim - 1])
    W = _ln_param(weight, "weight", X)
    cdef nc_int cols = X.shape[X.ndim - 1]  # (wraparound is off in this module)
    cdef nc_int rows = Mu.size
    GX = _empty(X.shape, X.dtype) if need_input_grad else None
    GW = np.zeros(cols, dtype=X.dtype) if need_param_grads else None
    GB = np.zeros(cols, dtype=X.dtype) if need_param_grads else None
    cdef void *pg = _data(G)
    cdef void *px = _data(X)
    cdef void *pmu = _data(Mu)
    cdef void *prs = _data(Rs)
    cdef void *pw = _data(W) if W is not None else NULL
    cdef void *pgx = _data(GX) if GX is not None else NULL
    cdef void *pgw = _data(GW) if GW is not None else NULL
    cdef void *pgb = _data(GB) if GB is not None else NULL
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32:
            nc_layer_norm_backward(rows, cols, <float *>pg, <float *>px, <float *>pmu, <float *>prs,
                                   <float *>pw, <float *>pgx, <float *>pgw, <float *>pgb)
        else:
            nc_layer_norm_backward(rows, cols, <double *>pg, <double *>px, <double *>pmu, <double *>prs,
                                   <double *>pw, <double *>pgx, <double *>pgw, <double *>pgb)
    return GX, GW, GB
