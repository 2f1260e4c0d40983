# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._gemm: matvec, outer-product accumulation, GEMM (2-D and
batched) and the fused Linear layer (csrc/kernels/gemm.inc, matvec.inc).

Operands that are transposed views of contiguous arrays (a.T, or
swapaxes(-1, -2) of a 3-D array) are not copied: the transpose flag of the
kernel absorbs them.  Outputs that overlap an input are computed into a
fresh array first.
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_f32, _data, _check_aligned_output, _like_input, _empty, _check_shape, _check_ndim, _output,
    _finite_scalar)

cnp.import_array()
nc_api = kernel_table()


_GEMM_ACTIVATIONS = {"identity": NC_ACT_IDENTITY, "relu": NC_ACT_RELU,
                     "leaky_relu": NC_ACT_LEAKY_RELU, "gelu": NC_ACT_GELU,
                     "gelu_tanh": NC_ACT_GELU_TANH, "sigmoid": NC_ACT_SIGMOID,
                     "tanh": NC_ACT_TANH}


cdef object _gemm_array(object x, str name, bint inout=False):
    """x checked for type and dtype, not copied (C-API checks: these wrappers
    sit on the per-example path of training, where microseconds count).

    The type number does not carry the byte order: an input in non-native
    byte order, or with misaligned elements, is copied once (the kernels read
    native, aligned floats); an array updated in place (inout) cannot be, and
    is refused."""
    if not cnp.PyArray_Check(x):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype}")
    if not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x):
        if inout:
            raise TypeError(f"{name} has non-native byte order ({x.dtype.str}) and is updated in place; "
                            f"pass a native-order array (x.astype(x.dtype.newbyteorder('=')))")
        return x.astype(x.dtype.newbyteorder("="))
    if not cnp.PyArray_ISALIGNED(<cnp.ndarray>x):
        if inout:
            _check_aligned_output(x, name)
        return np.array(x, order="K")       # aligned; a transposed view stays one
    return x


cdef object _gemm_like(object x, str name, object ref, str ref_name, bint inout=False):
    cdef object a = _gemm_array(x, name, inout)
    if cnp.PyArray_TYPE(<cnp.ndarray>a) != cnp.PyArray_TYPE(<cnp.ndarray>ref):
        raise TypeError(f"{name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}; "
                        f"convert one explicitly")
    return a


cdef inline bint _gemm_c_contiguous(object x):
    return cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)


cdef object _gemm_contiguous(object x):
    return x if _gemm_c_contiguous(x) else np.ascontiguousarray(x)


cdef tuple _gemm_rowmajor(object x):
    """(array, flipped): x when C-contiguous; the transpose of its last two
    axes when that is C-contiguous (flipped = True); else a C copy."""
    if _gemm_c_contiguous(x):
        return x, False
    xt = np.swapaxes(x, -1, -2)
    if _gemm_c_contiguous(xt):
        return xt, True
    return np.ascontiguousarray(x), False


cdef object _gemm_empty1(nc_int n, int typenum):
    cdef cnp.npy_intp d = n
    return cnp.PyArray_EMPTY(1, &d, typenum, 0)


cdef int _gemm_activation(object activation) except -1:
    if not isinstance(activation, str) or activation not in _GEMM_ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_GEMM_ACTIVATIONS)}, got {activation!r}")
    return _GEMM_ACTIVATIONS[activation]


cdef void _gemm_extent(object x, char **lo, char **hi):
    """The bytes an array can touch, [lo, hi), from its shape and strides."""
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef char *start = <char *>cnp.PyArray_DATA(a)
    cdef char *end = start + cnp.PyArray_ITEMSIZE(a)
    cdef int d
    cdef cnp.npy_intp step
    for d in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, d) == 0:
            lo[0] = start
            hi[0] = start
            return
        step = (cnp.PyArray_DIM(a, d) - 1) * cnp.PyArray_STRIDE(a, d)
        if step >= 0:
            end += step
        else:
            start += step
    lo[0] = start
    hi[0] = end


cdef bint _gemm_overlaps(object out, tuple inputs):
    """Whether out's memory may overlap an input's (bounds, like
    numpy.may_share_memory, without its call overhead)."""
    cdef char *olo
    cdef char *ohi
    cdef char *lo
    cdef char *hi
    _gemm_extent(out, &olo, &ohi)
    for x in inputs:
        if x is not None:
            _gemm_extent(x, &lo, &hi)
            if lo < ohi and olo < hi:
                return True
    return False


cdef inline void _gemm_products(int ta, int tb, nc_int batch, nc_int m, nc_int n, nc_int k, real alpha,
                                 const real *a, nc_int lda, nc_int sa, const real *b, nc_int ldb, nc_int sb,
                                 real beta, real *c, nc_int ldc, nc_int sc) noexcept nogil:
    """c = alpha op(a) op(b) + beta c for each of batch products (strides sa, sb, sc)."""
    if batch == 1:
        nc_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:
        nc_gemm_batched(ta, tb, batch, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc)


cdef _gemm_call(bint f32, int ta, int tb, nc_int batch, nc_int m, nc_int n, nc_int k,
                double alpha, object A, nc_int lda, nc_int sa, object B, nc_int ldb, nc_int sb,
                double beta, object C, nc_int ldc, nc_int sc):
    cdef void *pa = _data(A)
    cdef void *pb = _data(B)
    cdef void *pc = _data(C)
    with nogil:
        if f32:
            _gemm_products(ta, tb, batch, m, n, k, alpha, <float *>pa, lda, sa, <float *>pb, ldb, sb,
                           beta, <float *>pc, ldc, sc)
        else:
            _gemm_products(ta, tb, batch, m, n, k, alpha, <double *>pa, lda, sa, <double *>pb, ldb, sb,
                           beta, <double *>pc, ldc, sc)


cdef object _gemm_impl(object a, object b, object c, object alpha, object beta,
                       bint trans_a, bint trans_b, object out, str what):
    """Operands with more than one leading (batch) dimension, e.g. attention's
    (batch, heads, tokens, head_dim), are flattened to one batch dimension."""
    A = _gemm_array(a, "a")
    B = _gemm_like(b, "b", A, "a")
    if A.ndim < 2:
        raise ValueError(f"a must have at least 2 dimensions, got shape {A.shape}")
    if B.ndim < 2:
        raise ValueError(f"b must have at least 2 dimensions, got shape {B.shape}")
    if A.ndim <= 3 and B.ndim <= 3:
        return _gemm_impl3(A, B, c, alpha, beta, trans_a, trans_b, out, what)
    lead_a, lead_b = A.shape[:A.ndim - 2], B.shape[:B.ndim - 2]
    if A.ndim > 2 and B.ndim > 2 and lead_a != lead_b:
        raise ValueError(f"{what}: batch dimensions differ: a {A.shape}, b {B.shape}")
    lead = lead_a if A.ndim > 2 else lead_b
    cdef nc_int batch = 1
    for d in lead:
        batch *= d
    m = A.shape[A.ndim - 1] if trans_a else A.shape[A.ndim - 2]
    n = B.shape[B.ndim - 2] if trans_b else B.shape[B.ndim - 1]
    shape = lead + (m, n)
    A3 = A.reshape((batch,) + A.shape[A.ndim - 2:]) if A.ndim > 2 else A
    B3 = B.reshape((batch,) + B.shape[B.ndim - 2:]) if B.ndim > 2 else B
    C3 = None
    if c is not None:
        C = _gemm_like(c, "c", A, "a")
        if C.shape != shape:
            raise ValueError(f"c must have shape {shape}, got {C.shape}")
        C3 = C.reshape((batch, m, n))
    O3 = None
    if out is not None:
        _output(out, shape, A.dtype)
        O3 = out.reshape((batch, m, n))  # a view: out is C-contiguous
    R = _gemm_impl3(A3, B3, C3, alpha, beta, trans_a, trans_b, O3, what)
    return out if out is not None else R.reshape(shape)


cdef object _gemm_impl3(object A, object B, object c, object alpha, object beta,
                        bint trans_a, bint trans_b, object out, str what):
    cdef double al = _finite_scalar(alpha, "alpha")
    cdef double be = _finite_scalar(beta, "beta")
    cdef nc_int ar = A.shape[A.ndim - 2], ac = A.shape[A.ndim - 1]
    cdef nc_int br = B.shape[B.ndim - 2], bc = B.shape[B.ndim - 1]
    cdef nc_int m = ac if trans_a else ar
    cdef nc_int ka = ar if trans_a else ac
    cdef nc_int kb = bc if trans_b else br
    cdef nc_int n = br if trans_b else bc
    if ka != kb:
        raise ValueError(f"{what}: inner dimensions differ: op(a) is ({m}, {ka}) and op(b) is "
                         f"({kb}, {n}) (a {A.shape}, b {B.shape}, trans_a={trans_a}, trans_b={trans_b})")
    cdef nc_int batch_a = A.shape[0] if A.ndim == 3 else 1
    cdef nc_int batch_b = B.shape[0] if B.ndim == 3 else 1
    cdef nc_int batch = max(batch_a, batch_b)
    if A.ndim == 3 and B.ndim == 3 and batch_a != batch_b and batch_a != 1 and batch_b != 1:
        raise ValueError(f"{what}: batch sizes differ: a {A.shape}, b {B.shape}")
    cdef bint batched = A.ndim == 3 or B.ndim == 3
    cdef tuple shape
    if batched:
        shape = (batch, m, n)
    else:
        shape = (m, n)
    C = None
    if c is not None:
        C = _gemm_like(c, "c", A, "a")
        if C.shape != shape:
            raise ValueError(f"c must have shape {shape}, got {C.shape}")
    elif be != 0.0:
        raise ValueError(f"beta={beta} needs c (the matrix it scales)")
    if out is not None:
        _output(out, shape, A.dtype)
    if c is not None and be == 0.0:
        C = None
    # compute into a fresh array when the destination overlaps an input
    O = out
    if O is None or _gemm_overlaps(O, (A, B)):
        O = _empty(shape, A.dtype)
    if C is not None and C is not O:
        np.copyto(O, C)
    Ar, fa = _gemm_rowmajor(A)
    Br, fb = _gemm_rowmajor(B)
    cdef int ta = trans_a != fa
    cdef int tb = trans_b != fb
    cdef nc_int lda = Ar.shape[Ar.ndim - 1], ldb = Br.shape[Br.ndim - 1]
    cdef nc_int sa = Ar.shape[1] * Ar.shape[2] if (Ar.ndim == 3 and batch_a > 1) else 0
    cdef nc_int sb = Br.shape[1] * Br.shape[2] if (Br.ndim == 3 and batch_b > 1) else 0
    if batch > 0 and m > 0 and n > 0:
        _gemm_call(_is_f32(A), ta, tb, batch, m, n, ka, al, Ar, max(lda, 1), sa, Br, max(ldb, 1), sb,
                   be if C is not None else 0.0, O, max(n, 1), m * n)
    if out is not None and O is not out:
        np.copyto(out, O)
        return out
    return O


def gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, out=None):
    """gemm(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, out=None)
    -> alpha * op(a) @ op(b) + beta * c, op(x) = x or x.T per the flags.

    a     : IN, array of shape (m, k) (or (k, m) with trans_a), or a batch
            (batch, m, k) or (..., m, k); float32 or float64.
    b     : IN, array of shape (k, n) (or (n, k) with trans_b), or a batch
            (batch, k, n) or (..., k, n); a 2-D operand is shared by every
            product of a batch; 3-D batches of size 1 broadcast.
    c     : IN, optional array of the result's shape, scaled by beta (beta != 0
            needs c; beta == 0 ignores c, NaN included, as BLAS).
    out   : OUT, optional C-contiguous array of the result's shape; may be c.
    Transposed views (x.T) are read in place, not copied.
    """
    return _gemm_impl(a, b, c, alpha, beta, trans_a, trans_b, out, "gemm")


def matmul(a, b, out=None):
    """matmul(a, b, out=None) -> a @ b, as numpy.matmul for arrays of 2 or more
    dimensions (leading dimensions must match, or one operand be 2-D; with
    3-D operands a batch of size 1 also broadcasts).

    a   : IN, array of shape (m, k), (batch, m, k) or (..., m, k).
    b   : IN, array of shape (k, n), (batch, k, n) or (..., k, n).
    out : OUT, optional C-contiguous array of the result's shape.
    """
    return _gemm_impl(a, b, None, 1.0, 0.0, False, False, out, "matmul")


def matvec(w, x, y=None, alpha=1.0, beta=0.0, trans=False):
    """matvec(w, x, y=None, alpha=1.0, beta=0.0, trans=False)
    -> y = alpha * op(w) @ x + beta * y, op(w) = w or w.T.

    w : IN, array of shape (m, n), e.g. a weight (out, in).
    x : IN, vector of length n (m with trans).
    y : IN/OUT, optional writable contiguous vector of length m (n with
        trans), updated in place and returned; beta != 0 needs y.
    """
    cdef double al = _finite_scalar(alpha, "alpha")
    cdef double be = _finite_scalar(beta, "beta")
    W = _gemm_array(w, "w")
    if cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
        raise ValueError(f"w must be 2-D, got shape {W.shape}")
    X = _gemm_like(x, "x", W, "w")
    cdef bint tr = trans is True or (trans is not False and bool(trans))
    cdef nc_int m = cnp.PyArray_DIM(<cnp.ndarray>W, 0), n = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
    cdef nc_int nin = m if tr else n
    cdef nc_int nout = n if tr else m
    if cnp.PyArray_NDIM(<cnp.ndarray>X) != 1 or cnp.PyArray_DIM(<cnp.ndarray>X, 0) != nin:
        raise ValueError(f"x must have shape {(nin,)}, got {X.shape}")
    X = _gemm_contiguous(X)
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>W)
    if y is None:
        if be != 0.0:
            raise ValueError(f"beta={beta} needs y (the vector it scales)")
        Y = _gemm_empty1(nout, typenum)
    else:
        Y = _output(y, (nout,), W.dtype, "y")
    Wr, fw = _gemm_rowmajor(W)
    cdef int t = tr != fw
    cdef nc_int rows = cnp.PyArray_DIM(<cnp.ndarray>Wr, 0), cols = cnp.PyArray_DIM(<cnp.ndarray>Wr, 1)
    O = Y
    if y is not None and _gemm_overlaps(Y, (Wr, X)):
        O = Y.copy()
    cdef void *pw = _data(Wr)
    cdef void *px = _data(X)
    cdef void *py = _data(O)
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    with nogil:
        if f32: nc_matvec(t, rows, cols, al, <float *>pw, max(cols, 1), <float *>px, be, <float *>py)
        else: nc_matvec(t, rows, cols, al, <double *>pw, max(cols, 1), <double *>px, be, <double *>py)
    if O is not Y:
        np.copyto(Y, O)
    return Y


def outer_acc(g, d, a, alpha=1.0):
    """outer_acc(g, d, a, alpha=1.0) -> g, after g += alpha * outer(d, a) in place.

    The weight gradient of one example: dW += delta a^T.
    g : IN/OUT, writable C-contiguous array of shape (m, n).
    d : IN, vector of length m.
    a : IN, vector of length n.
    """
    cdef double al = _finite_scalar(alpha, "alpha")
    G = _gemm_array(g, "g", True)
    _check_ndim(G, "g", 2)
    D = _gemm_like(d, "d", G, "g")
    Av = _gemm_like(a, "a", G, "g")
    cdef nc_int m = cnp.PyArray_DIM(<cnp.ndarray>G, 0), n = cnp.PyArray_DIM(<cnp.ndarray>G, 1)
    if cnp.PyArray_NDIM(<cnp.ndarray>D) != 1 or cnp.PyArray_DIM(<cnp.ndarray>D, 0) != m:
        raise ValueError(f"d must have shape {(m,)}, got {D.shape}")
    if cnp.PyArray_NDIM(<cnp.ndarray>Av) != 1 or cnp.PyArray_DIM(<cnp.ndarray>Av, 0) != n:
        raise ValueError(f"a must have shape {(n,)}, got {Av.shape}")
    if not _gemm_c_contiguous(G) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>G):
        raise ValueError("g must be a writable C-contiguous array")
    if _gemm_overlaps(G, (D, Av)):
        D = D.copy()
        Av = Av.copy()
    D = _gemm_contiguous(D)
    Av = _gemm_contiguous(Av)
    cdef void *pg = _data(G)
    cdef void *pd = _data(D)
    cdef void *pa = _data(Av)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>G) == cnp.NPY_FLOAT32
    with nogil:
        if f32: nc_outer_acc(m, n, al, <float *>pd, <float *>pa, <float *>pg, max(n, 1))
        else: nc_outer_acc(m, n, al, <double *>pd, <double *>pa, <double *>pg, max(n, 1))
    return g


def linear_forward(x, weight, bias=None, activation="identity", negative_slope=0.01, out=None,
                   return_preact=False):
    """linear_forward(x, weight, bias=None, activation="identity", negative_slope=0.01,
    out=None, return_preact=False) -> y = act(x @ weight.T + bias), or (y, z).

    One pass over the output: bias and activation are applied to each tile
    of the product while it is in registers.

    x      : IN, array of shape (..., in_features).
    weight : IN, array of shape (out_features, in_features) (PyTorch layout).
    bias   : IN, optional vector of length out_features.
    activation : "identity", "relu", "leaky_relu", "gelu", "gelu_tanh",
                 "sigmoid" or "tanh" (negative_slope is leaky ReLU's).
    out    : OUT, optional C-contiguous array of shape (..., out_features).
    return_preact : also return z = x @ weight.T + bias (what linear_backward
                    needs for a non-identity activation).
    """
    cdef int act = _gemm_activation(activation)
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    X = _gemm_array(x, "x")
    W = _gemm_like(weight, "weight", X, "x")
    if W.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {W.shape}")
    if X.ndim < 1:
        raise ValueError(f"x must have at least 1 dimension, got shape {X.shape}")
    cdef nc_int nout = W.shape[0], nin = W.shape[1]
    if X.shape[X.ndim - 1] != nin:
        raise ValueError(f"x has {X.shape[X.ndim - 1]} features (shape {X.shape}) but weight expects "
                         f"{nin} (shape {W.shape})")
    Bv = None
    if bias is not None:
        Bv = _like_input(bias, "bias", X, "x")
        _check_shape(Bv, "bias", (nout,))
    shape = X.shape[:X.ndim - 1] + (nout,)
    if out is not None:
        _output(out, shape, X.dtype)
    Xc = _gemm_contiguous(X)
    cdef nc_int m = Xc.size // nin if nin > 0 else int(np.prod(X.shape[:X.ndim - 1]))
    O = out
    if O is None or _gemm_overlaps(O, (Xc, W, Bv)):
        O = _empty(shape, X.dtype)
    Z = _empty(shape, X.dtype) if return_preact else None
    Wr, fw = _gemm_rowmajor(W)
    cdef int tb = not fw
    cdef nc_int ldb = Wr.shape[1]
    cdef void *px = _data(Xc)
    cdef void *pw = _data(Wr)
    cdef void *pb = _data(Bv) if Bv is not None else NULL
    cdef void *po = _data(O)
    cdef void *pz = _data(Z) if Z is not None else NULL
    cdef bint f32 = _is_f32(X)
    if m > 0 and nout > 0:
        with nogil:
            if f32:
                nc_gemm_fused(0, tb, m, nout, nin, 1.0, <float *>px, max(nin, 1), <float *>pw, max(ldb, 1),
                              0.0, <float *>po, nout, <float *>pb, act, slope, <float *>pz, nout)
            else:
                nc_gemm_fused(0, tb, m, nout, nin, 1.0, <double *>px, max(nin, 1), <double *>pw, max(ldb, 1),
                              0.0, <double *>po, nout, <double *>pb, act, slope, <double *>pz, nout)
    if out is not None and O is not out:
        np.copyto(out, O)
        O = out
    if return_preact:
        return O, Z
    return O


def linear_backward(grad_output, x, weight, preact=None, activation="identity", negative_slope=0.01,
                    need_input_grad=True, need_bias_grad=True):
    """linear_backward(grad_output, x, weight, preact=None, activation="identity",
    negative_slope=0.01, need_input_grad=True, need_bias_grad=True)
    -> (grad_x or None, grad_weight, grad_bias or None)

    The backward of y = act(x @ weight.T + b): delta = grad_output * act'(z)
    (one pass), then grad_x = delta @ weight, grad_weight = delta^T x (summed
    over every leading dimension) and grad_bias = delta summed over rows.

    grad_output : IN, array of shape (..., out_features).
    x           : IN, the layer's input, shape (..., in_features).
    weight      : IN, array of shape (out_features, in_features).
    preact      : IN, z of linear_forward(..., return_preact=True), shape of
                  grad_output; needed unless activation is "identity".
    """
    cdef int act = _gemm_activation(activation)
    cdef double slope = _finite_scalar(negative_slope, "negative_slope")
    G = _gemm_array(grad_output, "grad_output")
    X = _gemm_like(x, "x", G, "grad_output")
    W = _gemm_like(weight, "weight", G, "grad_output")
    if W.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {W.shape}")
    cdef nc_int nout = W.shape[0], nin = W.shape[1]
    if X.ndim < 1 or X.shape[X.ndim - 1] != nin:
        raise ValueError(f"x must have shape (..., {nin}) for weight {W.shape}, got {X.shape}")
    if G.shape != X.shape[:X.ndim - 1] + (nout,):
        raise ValueError(f"grad_output must have shape {X.shape[:X.ndim - 1] + (nout,)} for x {X.shape} and "
                         f"weight {W.shape}, got {G.shape}")
    Z = None
    if act != NC_ACT_IDENTITY:
        if preact is None:
            raise ValueError(f"activation {activation!r} needs preact (from return_preact=True)")
        Z = _like_input(preact, "preact", G, "grad_output")
        _check_shape(Z, "preact", G.shape)
    Gc = _gemm_contiguous(G)
    Xc = _gemm_contiguous(X)
    cdef nc_int m = Gc.size // nout if nout > 0 else int(np.prod(G.shape[:G.ndim - 1]))
    cdef bint f32 = _is_f32(G)
    cdef void *pg = _data(Gc)
    cdef void *pz
    cdef void *pd
    cdef void *pgb
    cdef nc_int total = Gc.size
    D = Gc
    if Z is not None:
        D = _empty(Gc.shape, G.dtype)
        pz = _data(Z)
        pd = _data(D)
        with nogil:
            if f32: nc_act_grad(total, act, slope, <float *>pg, <float *>pz, <float *>pd)
            else: nc_act_grad(total, act, slope, <double *>pg, <double *>pz, <double *>pd)
    pd = _data(D)
    cdef void *px = _data(Xc)
    Wr, fw = _gemm_rowmajor(W)
    cdef void *pw = _data(Wr)
    cdef int tw = fw
    cdef nc_int ldw = Wr.shape[1]
    grad_x = None
    cdef void *pgx
    if need_input_grad:
        grad_x = _empty(X.shape, G.dtype)
        pgx = _data(grad_x)
        # grad_x (m, in) = delta (m, out) @ weight (out, in)
        with nogil:
            if f32:
                nc_gemm(0, tw, m, nin, nout, 1.0, <float *>pd, max(nout, 1), <float *>pw, max(ldw, 1),
                        0.0, <float *>pgx, max(nin, 1))
            else:
                nc_gemm(0, tw, m, nin, nout, 1.0, <double *>pd, max(nout, 1), <double *>pw, max(ldw, 1),
                        0.0, <double *>pgx, max(nin, 1))
    grad_w = _empty((nout, nin), G.dtype)
    cdef void *pgw = _data(grad_w)
    # grad_weight (out, in) = delta^T (out, m) @ x (m, in)
    with nogil:
        if f32:
            nc_gemm(1, 0, nout, nin, m, 1.0, <float *>pd, max(nout, 1), <float *>px, max(nin, 1),
                    0.0, <float *>pgw, max(nin, 1))
        else:
            nc_gemm(1, 0, nout, nin, m, 1.0, <double *>pd, max(nout, 1), <double *>px, max(nin, 1),
                    0.0, <double *>pgw, max(nin, 1))
    grad_b = None
    if need_bias_grad:
        grad_b = _empty((nout,), G.dtype)
        pgb = _data(grad_b)
        with nogil:
            if f32: nc_sum_rows(m, nout, <float *>pd, nout, 0.0, <float *>pgb)
            else: nc_sum_rows(m, nout, <double *>pd, nout, 0.0, <double *>pgb)
    return grad_x, grad_w, grad_b
