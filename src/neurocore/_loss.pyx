# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._loss: fused cross-entropy (log-softmax + NLL) and binary
cross-entropy on logits (csrc/kernels/loss.inc).

Per-row / per-element losses come out; the reductions belong to the Python
layer (a sum of m numbers).
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _is_float_type, _kernel_ready, _is_f32, _data, _kernel_copy, _float_input, _like_input, _new_array,
    _check_shape, _check_ndim, _output, _finite_scalar, _no_partial_overlap)

cnp.import_array()
nc_api = kernel_table()


cdef object _I64 = np.dtype(np.int64)


cdef object _class_targets(object target, Py_ssize_t m, Py_ssize_t n, long long ignore_index):
    """target as a C-contiguous int64 (m,) array, every value in [0, n) or
    equal to ignore_index; ValueError naming the bad values otherwise."""
    if not isinstance(target, np.ndarray):
        raise TypeError(f"target must be a numpy.ndarray, got {type(target).__name__}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"class-index target must have an integer dtype, got {target.dtype}")
    if target.shape != (m,):
        raise ValueError(f"target must have shape ({m},) to match logits of shape ({m}, {n}), "
                         f"got {target.shape}")
    T = target if target.dtype == _I64 and _kernel_ready(target) else _kernel_copy(target, _I64)
    if m:
        bad = (T != ignore_index) & ((T < 0) | (T >= n))
        if bad.any():
            values = np.unique(T[bad])
            raise ValueError(f"target holds class indices outside [0, {n}): {values[:10].tolist()}"
                             + (" ..." if values.size > 10 else ""))
    return T


cdef double _label_smoothing(object value) except? -1.0:
    cdef double eps = _finite_scalar(value, "label_smoothing")
    if eps < 0.0 or eps > 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {value}")
    return eps


cdef object _class_weight(object weight, object ref, Py_ssize_t n):
    if weight is None:
        return None
    W = _like_input(weight, "weight", ref, "logits")
    _check_shape(W, "weight", (n,))
    return W


cdef object _grad_rows(object grad_loss, object ref, str ref_name, tuple shape, double *scale):
    """grad_loss as a scalar (returned None, value in scale) or an array."""
    if grad_loss is None:
        scale[0] = 1.0
        return None
    if isinstance(grad_loss, np.ndarray) and grad_loss.ndim > 0:
        G = _like_input(grad_loss, "grad_loss", ref, ref_name)
        _check_shape(G, "grad_loss", shape)
        scale[0] = 1.0
        return G
    if isinstance(grad_loss, np.ndarray):
        grad_loss = grad_loss.item()
    if isinstance(grad_loss, (bool, np.bool_)) or not isinstance(grad_loss, (int, float, np.integer, np.floating)):
        raise TypeError(f"grad_loss must be a real number or an array, got {type(grad_loss).__name__}")
    try:
        scale[0] = <double>grad_loss
    except OverflowError:                   # an int beyond the double range
        raise ValueError(f"grad_loss must fit in a double, got an int of {grad_loss.bit_length()} bits") from None
    return None


cdef inline void *_data_or_null(object a):
    return NULL if a is None else _data(a)


cdef inline void _cross_entropy_rows(bint soft, nc_int m, nc_int n, real eps, nc_int64 ign, const real *logits,
                                     const void *target, const real *weight, real *loss,
                                     real *lse) noexcept nogil:
    """loss, lse (m,) of logits (m, n); target: probabilities (m, n) of
    logits' type when soft, else int64 class indices (m,)."""
    if soft:
        nc_cross_entropy_soft_forward(m, n, eps, logits, n, <const real *>target, n, weight, loss, lse)
    else:
        nc_cross_entropy_forward(m, n, eps, ign, logits, n, <const nc_int64 *>target, weight, loss, lse)


cdef inline void _cross_entropy_rows_backward(bint soft, nc_int m, nc_int n, real eps, nc_int64 ign,
                                              const real *logits, const void *target, const real *weight,
                                              const real *lse, const real *grad_loss, real scale,
                                              real *grad_logits) noexcept nogil:
    """grad_logits (m, n) of _cross_entropy_rows; grad_loss (m,) or NULL (scale alone)."""
    if soft:
        nc_cross_entropy_soft_backward(m, n, eps, logits, n, <const real *>target, n, weight, lse, grad_loss,
                                       scale, grad_logits, n)
    else:
        nc_cross_entropy_backward(m, n, eps, ign, logits, n, <const nc_int64 *>target, weight, lse, grad_loss,
                                  scale, grad_logits, n)


def cross_entropy_forward(logits, target, label_smoothing=0.0, weight=None, ignore_index=-100,
                          out=None, lse_out=None):
    """cross_entropy_forward(logits, target, label_smoothing=0.0, weight=None,
    ignore_index=-100, out=None, lse_out=None) -> (loss, lse)

    Fused log-softmax + negative log-likelihood over the rows of logits:
    loss_i = -sum_j q_ij log softmax(z_i)_j with q the (smoothed) target.

    logits : IN, float array of shape (m, n).
    target : IN, int array of shape (m,) (class indices in [0, n), or
             ignore_index: loss 0), or float array of shape (m, n) of class
             probabilities (same dtype as logits; ignore_index unused).
    label_smoothing : eps in [0, 1]; the target becomes (1-eps) q + eps/n.
    weight : IN, optional float array of shape (n,): per-class weights.
    out    : OUT, optional array (m,) for the per-row losses.
    lse_out: OUT, optional array (m,) for log-sum-exp per row (needed by the
             backward).
    """
    Z = _float_input(logits, "logits")
    _check_ndim(Z, "logits", 2)
    cdef nc_int m = Z.shape[0], n = Z.shape[1]
    cdef double eps = _label_smoothing(label_smoothing)
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    if not -2**63 <= ignore_index < 2**63:
        raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
    cdef long long ign = ignore_index
    W = _class_weight(weight, Z, n)
    cdef bint soft = isinstance(target, np.ndarray) and target.dtype.kind == "f"
    if soft:
        T = _like_input(target, "target", Z, "logits")
        _check_shape(T, "target", (m, n))
    else:
        T = _class_targets(target, m, n, ign)
    L = _output(out, (m,), Z.dtype)
    S = _output(lse_out, (m,), Z.dtype, "lse_out")
    if out is not None:
        _no_partial_overlap(L, "out", ((Z, "logits"), (S, "lse_out"), (W, "weight")))
    if lse_out is not None:
        _no_partial_overlap(S, "lse_out", ((Z, "logits"), (W, "weight")))
    cdef void *pz = _data(Z)
    cdef void *pt = _data(T)
    cdef void *pw = _data_or_null(W)
    cdef void *pl = _data(L)
    cdef void *ps = _data(S)
    cdef bint f32 = _is_f32(Z)
    with nogil:
        if f32:
            _cross_entropy_rows(soft, m, n, eps, ign, <float *>pz, pt, <float *>pw, <float *>pl, <float *>ps)
        else:
            _cross_entropy_rows(soft, m, n, eps, ign, <double *>pz, pt, <double *>pw, <double *>pl, <double *>ps)
    return L, S


def cross_entropy_backward(logits, target, lse, grad_loss=1.0, label_smoothing=0.0, weight=None,
                           ignore_index=-100, out=None):
    """cross_entropy_backward(logits, target, lse, grad_loss=1.0,
    label_smoothing=0.0, weight=None, ignore_index=-100, out=None) -> grad_logits

    grad_logits_i = grad_loss_i * (softmax(z_i) * sum_j w_j q_ij - w * q_i):
    for plain class targets, softmax - onehot, scaled.

    logits, target, label_smoothing, weight, ignore_index : as in the forward.
    lse       : IN, array (m,) from cross_entropy_forward.
    grad_loss : a scalar (every row: the mean/sum reductions) or an array (m,).
    out       : OUT, optional array (m, n).
    """
    Z = _float_input(logits, "logits")
    _check_ndim(Z, "logits", 2)
    cdef nc_int m = Z.shape[0], n = Z.shape[1]
    cdef double eps = _label_smoothing(label_smoothing)
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    if not -2**63 <= ignore_index < 2**63:
        raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
    cdef long long ign = ignore_index
    W = _class_weight(weight, Z, n)
    cdef bint soft = isinstance(target, np.ndarray) and target.dtype.kind == "f"
    if soft:
        T = _like_input(target, "target", Z, "logits")
        _check_shape(T, "target", (m, n))
    else:
        T = _class_targets(target, m, n, ign)
    S = _like_input(lse, "lse", Z, "logits")
    _check_shape(S, "lse", (m,))
    cdef double scale = 1.0
    G = _grad_rows(grad_loss, Z, "logits", (m,), &scale)
    O = _output(out, (m, n), Z.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((Z, "logits"), (T, "target"), (S, "lse"), (G, "grad_loss"),
                                      (W, "weight")))
    cdef void *pz = _data(Z)
    cdef void *pt = _data(T)
    cdef void *pw = _data_or_null(W)
    cdef void *ps = _data(S)
    cdef void *pg = _data_or_null(G)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(Z)
    with nogil:
        if f32:
            _cross_entropy_rows_backward(soft, m, n, eps, ign, <float *>pz, pt, <float *>pw, <float *>ps,
                                         <float *>pg, scale, <float *>po)
        else:
            _cross_entropy_rows_backward(soft, m, n, eps, ign, <double *>pz, pt, <double *>pw, <double *>ps,
                                         <double *>pg, scale, <double *>po)
    return O


cdef object _pos_weight_rows(object pos_weight, object X, Py_ssize_t m, Py_ssize_t n, nc_int *ldp):
    """pos_weight as rows of n: one shared row (ldp 0) or the full (m, n)."""
    if pos_weight is None:
        ldp[0] = 0
        return None
    P = _like_input(pos_weight, "pos_weight", X, "x")
    try:
        np.broadcast_shapes(P.shape, X.shape)
    except ValueError:
        raise ValueError(f"pos_weight of shape {P.shape} does not broadcast to x of shape {X.shape}")
    if np.broadcast_shapes(P.shape, X.shape) != X.shape:
        raise ValueError(f"pos_weight of shape {P.shape} would broadcast x of shape {X.shape} "
                         f"to a larger shape")
    if P.ndim <= 1 or all(d == 1 for d in P.shape[:P.ndim - 1]):
        ldp[0] = 0
        return np.ascontiguousarray(np.broadcast_to(P.reshape(-1) if P.size > 1 else P.reshape(1), (n,)))
    ldp[0] = n
    return np.ascontiguousarray(np.broadcast_to(P, X.shape))


cdef tuple _rows_cols(object shape):
    # (the module compiles with wraparound=False: no negative indices here)
    cdef Py_ssize_t k = len(shape)
    if k == 0:
        return 1, 1
    return int(np.prod(shape[:k - 1])), shape[k - 1]


def bce_with_logits_forward(x, y, pos_weight=None, out=None):
    """bce_with_logits_forward(x, y, pos_weight=None, out=None) -> loss

    Element-wise binary cross-entropy on logits, stable for any finite x:
    max(x, 0) - x y + log1p(exp(-|x|)); with pos_weight p,
    (1 - y) x + (1 + (p - 1) y) log1p(exp(-x)).

    x          : IN, float array (logits), any shape.
    y          : IN, float array of x's shape and dtype (targets in [0, 1]).
    pos_weight : IN, optional float array broadcastable to x (usually (C,)
                 for the last axis).
    out        : OUT, optional array of x's shape.
    """
    X = _float_input(x, "x")
    Y = _like_input(y, "y", X, "x")
    if X.shape != Y.shape:
        raise ValueError(f"y must have the shape of x {X.shape}, got {Y.shape}")
    cdef nc_int ldp = 0
    cdef nc_int m, n
    m, n = _rows_cols(X.shape)
    P = _pos_weight_rows(pos_weight, X, m, n, &ldp)
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"), (Y, "y"), (P, "pos_weight")))
    cdef void *px = _data(X)
    cdef void *py = _data(Y)
    cdef void *pp = _data_or_null(P)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32: nc_bce_with_logits_forward(m, n, <float *>px, <float *>py, <float *>pp, ldp, <float *>po)
        else: nc_bce_with_logits_forward(m, n, <double *>px, <double *>py, <double *>pp, ldp, <double *>po)
    return O


def bce_with_logits_backward(x, y, grad_loss=1.0, pos_weight=None, out=None):
    """bce_with_logits_backward(x, y, grad_loss=1.0, pos_weight=None, out=None) -> grad_x

    grad_x = grad_loss * (sigmoid(x) - y); with pos_weight p,
    grad_loss * ((1 - y) - (1 + (p - 1) y) sigmoid(-x)).

    x, y, pos_weight : as in the forward.
    grad_loss : a scalar (the mean/sum reductions) or an array of x's shape.
    out       : OUT, optional array of x's shape.
    """
    X = _float_input(x, "x")
    Y = _like_input(y, "y", X, "x")
    if X.shape != Y.shape:
        raise ValueError(f"y must have the shape of x {X.shape}, got {Y.shape}")
    cdef nc_int ldp = 0
    cdef nc_int m, n
    m, n = _rows_cols(X.shape)
    P = _pos_weight_rows(pos_weight, X, m, n, &ldp)
    cdef double scale = 1.0
    G = _grad_rows(grad_loss, X, "x", X.shape, &scale)
    O = _output(out, X.shape, X.dtype)
    if out is not None:
        _no_partial_overlap(O, "out", ((X, "x"), (Y, "y"), (P, "pos_weight"), (G, "grad_loss")))
    cdef void *px = _data(X)
    cdef void *py = _data(Y)
    cdef void *pp = _data_or_null(P)
    cdef void *pg = _data_or_null(G)
    cdef void *po = _data(O)
    cdef bint f32 = _is_f32(X)
    with nogil:
        if f32:
            nc_bce_with_logits_backward(m, n, <float *>px, <float *>py, <float *>pp, ldp, <float *>pg, scale,
                                        <float *>po)
        else:
            nc_bce_with_logits_backward(m, n, <double *>px, <double *>py, <double *>pp, ldp, <double *>pg, scale,
                                        <double *>po)
    return O


# ---- the plain class-index cross-entropy in one call (the autograd layer's) ----
def _cross_entropy_plain_case(logits, target):
    """Whether (logits, target) is the plain case that _cross_entropy_plain
    computes: logits a 2-D float32/float64 array, target a 1-D integer array
    (any layout or byte order; their values and lengths are checked there)."""
    return (type(logits) is cnp.ndarray and type(target) is cnp.ndarray
            and cnp.PyArray_NDIM(<cnp.ndarray>logits) == 2 and cnp.PyArray_NDIM(<cnp.ndarray>target) == 1
            and _is_float_type(cnp.PyArray_TYPE(<cnp.ndarray>logits))
            and cnp.PyArray_ISINTEGER(<cnp.ndarray>target))


cdef object _plain_logits(object logits):
    """Plain-case logits as a C-contiguous native array (copied once if not)."""
    return logits if _kernel_ready(logits) else _kernel_copy(logits)


cdef object _plain_targets(object target, Py_ssize_t m, Py_ssize_t n, object ignore_index, long long *ign):
    """The plain case's target as a C-contiguous native int64 array of shape
    (m,) whose values lie in [0, n) or equal ignore_index; ValueError (the
    autograd layer's wording) otherwise.  ign: the value the kernel skips
    (-1, matching no valid class, when ignore_index is outside int64)."""
    cdef cnp.ndarray T = <cnp.ndarray>target
    if cnp.PyArray_DIM(T, 0) != m:
        raise ValueError(f"target must have shape ({m},) for input of shape ({m}, {n}), got {target.shape}")
    if not (cnp.PyArray_TYPE(T) == cnp.NPY_INT64 and _kernel_ready(T)):
        T = <cnp.ndarray>_kernel_copy(target, _I64)
    cdef bint has_ign = -2**63 <= ignore_index < 2**63
    ign[0] = ignore_index if has_ign else -1
    cdef const nc_int64 *pt = <const nc_int64 *>cnp.PyArray_DATA(T)
    cdef nc_int64 t
    cdef Py_ssize_t i
    for i in range(m):
        t = pt[i]
        if (t < 0 or t >= n) and not (has_ign and t == ign[0]):
            t_all = np.asarray(T)
            bad = ((t_all < 0) | (t_all >= n)) & ((t_all != ign[0]) if has_ign else True)
            values = np.unique(t_all[bad])
            raise ValueError(f"target holds class indices outside [0, {n}): {values[:10].tolist()}"
                             + (" ..." if values.size > 10 else ""))
    return T


cdef inline Py_ssize_t _plain_loss(Py_ssize_t m, nc_int n, nc_int64 ign, bint mean, const real *logits,
                                   const nc_int64 *target, real *loss, real *lse, real *result) noexcept nogil:
    """loss and lse (m,) per row; result[0] = the losses summed in double
    (divided by the count of rows not ignored, when mean), rounded once.
    Returns that count."""
    cdef double total = 0.0
    cdef Py_ssize_t i, count = 0
    nc_cross_entropy_forward(m, n, 0.0, ign, logits, n, target, NULL, loss, lse)
    for i in range(m):
        total += loss[i]
    for i in range(m):
        count += target[i] != ign
    if mean:
        total = total / <double>count       # every row ignored: 0/0 = NaN, as PyTorch
    result[0] = <real>total
    return count


def _cross_entropy_plain(logits, target, ignore_index, bint mean):
    """(loss, lse, count, target) of the mean (or sum) cross-entropy of
    logits (m, n) against class indices target (m,), the plain case (see
    _cross_entropy_plain_case): loss a 0-d array of logits' dtype (the
    per-row losses summed in double, divided by count, the number of rows
    whose target is not ignore_index, when mean), lse the per-row
    log-sum-exp for the backward, target the int64 array the kernel read
    (target itself when it already was one)."""
    if not _cross_entropy_plain_case(logits, target):
        raise TypeError("logits must be a 2-D float array and target a 1-D integer array")
    Z = _plain_logits(logits)
    cdef Py_ssize_t m = cnp.PyArray_DIM(<cnp.ndarray>Z, 0)
    cdef nc_int n = cnp.PyArray_DIM(<cnp.ndarray>Z, 1)
    cdef long long ign = 0
    T = _plain_targets(target, m, n, ignore_index, &ign)
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>Z)
    cdef cnp.npy_intp dims[1]
    dims[0] = m
    L = _new_array(1, dims, typenum)
    S = _new_array(1, dims, typenum)
    R = _new_array(0, dims, typenum)
    cdef void *pz = _data(Z)
    cdef const nc_int64 *pt = <const nc_int64 *>cnp.PyArray_DATA(<cnp.ndarray>T)
    cdef void *pl = _data(L)
    cdef void *ps = _data(S)
    cdef void *pr = _data(R)
    cdef Py_ssize_t count
    with nogil:
        if typenum == cnp.NPY_FLOAT32:
            count = _plain_loss(m, n, ign, mean, <float *>pz, pt, <float *>pl, <float *>ps, <float *>pr)
        else:
            count = _plain_loss(m, n, ign, mean, <double *>pz, pt, <double *>pl, <double *>ps, <double *>pr)
    return R, S, count, T


def _cross_entropy_plain_backward(logits, target, lse, ignore_index, double scale):
    """grad_logits = scale * (softmax(logits) - onehot(target)) (rows whose
    target is ignore_index: 0), for the plain case of _cross_entropy_plain
    with target and lse from it."""
    if not _cross_entropy_plain_case(logits, target):
        raise TypeError("logits must be a 2-D float array and target a 1-D integer array")
    Z = _plain_logits(logits)
    cdef Py_ssize_t m = cnp.PyArray_DIM(<cnp.ndarray>Z, 0)
    cdef nc_int n = cnp.PyArray_DIM(<cnp.ndarray>Z, 1)
    cdef long long ign = 0
    T = _plain_targets(target, m, n, ignore_index, &ign)
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>Z)
    S = _like_input(lse, "lse", Z, "logits")
    _check_shape(S, "lse", (m,))
    cdef cnp.npy_intp dims[2]
    dims[0] = m
    dims[1] = n
    O = _new_array(2, dims, typenum)
    cdef void *pz = _data(Z)
    cdef const nc_int64 *pt = <const nc_int64 *>cnp.PyArray_DATA(<cnp.ndarray>T)
    cdef void *ps = _data(S)
    cdef void *po = _data(O)
    with nogil:
        if typenum == cnp.NPY_FLOAT32:
            nc_cross_entropy_backward(m, n, 0.0, ign, <float *>pz, n, pt, NULL, <float *>ps, NULL, scale,
                                      <float *>po, n)
        else:
            nc_cross_entropy_backward(m, n, 0.0, ign, <double *>pz, n, pt, NULL, <double *>ps, NULL, scale,
                                      <double *>po, n)
    return O
