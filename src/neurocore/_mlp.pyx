# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._mlp: the whole Linear chain of nn.MLP
(functional._ops.LinearChain) in one wrapper call each way.

The same kernels as linear_forward/linear_backward (nc_gemm_fused,
nc_act_grad, nc_gemm, nc_sum_rows), with the per-call Python entry paid once
per chain instead of once per layer, which is what dominates small batches.
The chain's only route: every argument is checked here (a strided or
byte-swapped array is copied once, anything else wrong raises, naming the
argument), and inputs of any rank (..., in) run as one (m, in) matrix.
"""
import numpy as np
from neurocore._gemm import _GEMM_ACTIVATIONS
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _kernel_ready, _data, _kernel_copy, _new_array)

cnp.import_array()
nc_api = kernel_table()

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)


from libc.string cimport memcpy
from libc.stdlib cimport malloc, free


cdef inline bint _chain_array(object a, int typenum):
    """a is an exact ndarray of dtype typenum that a kernel can read as it is."""
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and _kernel_ready(a))


cdef object _chain_operand(object a, str name, int typenum):
    """a as a C-contiguous native array of the chain's dtype (typenum),
    copied once when strided or byte-swapped; TypeError otherwise."""
    if _chain_array(a, typenum):
        return a
    want = _F32 if typenum == cnp.NPY_FLOAT32 else _F64
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating point tensor, got dtype {a.dtype}")
    if a.dtype.newbyteorder("=") != want:
        raise TypeError(f"dtypes do not mix: got {a.dtype.name} and {want.name}; "
                        f"convert one side explicitly (e.g. .to(np.{a.dtype.name}))")
    return _kernel_copy(a, want)


cdef int _chain_dtype(object w) except -1:
    """The chain's dtype number: W_1's (float32 or float64, either byte order)."""
    cdef int t
    if type(w) is cnp.ndarray and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>w):
        t = cnp.PyArray_TYPE(<cnp.ndarray>w)
        if t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64:
            return t
    if not isinstance(w, np.ndarray):
        raise TypeError(f"weight must be a numpy.ndarray, got {type(w).__name__}")
    native = w.dtype.newbyteorder("=")
    if native == _F32:
        return cnp.NPY_FLOAT32
    if native == _F64:
        return cnp.NPY_FLOAT64
    raise TypeError(f"weight must have dtype float32 or float64, got {w.dtype}")


cdef inline bint _relu_like(int act, double slope):
    # y > 0 exactly where z > 0, so the output doubles as the derivative's mask
    return act == NC_ACT_RELU or (act == NC_ACT_LEAKY_RELU and slope >= 0.0)


ctypedef struct _ChainLayer:
    # one layer's sizes, activation and buffers (NULL: not used)
    cnp.npy_intp nin, nout
    int act
    void *x                 # IN  (m, nin), the layer's input
    void *w                 # IN  (nout, nin)
    void *b                 # IN  (nout,)
    void *o                 # OUT (m, nout), act(z)
    void *z                 # OUT (m, nout), the pre-activation z, when kept apart from o
    void *g                 # IN  (m, nout), the gradient of o
    void *d                 # delta = g * act'(z), or g itself
    void *gw                # OUT (nout, nin)
    void *gb                # OUT (nout,)
    void *gx                # OUT (m, nin), the gradient of x
    cnp.npy_intp d_off, gx_off      # scratch offsets in elements, -1: none


cdef _ChainLayer *_chain_layers(Py_ssize_t nl) except NULL:
    cdef _ChainLayer *layers = <_ChainLayer *>malloc(<size_t>(nl if nl > 0 else 1) * sizeof(_ChainLayer))
    if layers == NULL:
        raise MemoryError()
    return layers


cdef int _chain_activation(object a, Py_ssize_t i) except -1:
    if type(a) is not str or a not in _GEMM_ACTIVATIONS:
        raise ValueError(f"activations[{i}] must be one of {tuple(_GEMM_ACTIVATIONS)}, got {a!r}")
    return _GEMM_ACTIVATIONS[a]


cdef inline object _as_2d(object a, cnp.npy_intp m, cnp.npy_intp n):
    """A C-contiguous array as an (m, n) view (itself when already 2-D)."""
    if cnp.PyArray_NDIM(<cnp.ndarray>a) == 2:
        return a
    return a.reshape(m, n)


cdef inline object _with_lead(object a, tuple lead, cnp.npy_intp n):
    """An (m, n) result as (*lead, n): the caller's leading dimensions."""
    if lead is None:
        return a
    return a.reshape(lead + (n,))


def _linear_chain_forward(x, params, activations, double slope, bint keep):
    """(y, layer_inputs, saved) of the chain y = act_L(... act_1(x W_1^T + b_1) ...).

    x      : IN, float array of shape (..., in), W_1's dtype.
    params : [W_1, b_1, W_2, b_2, ...], W_i of shape (out_i, in_i), b_i of
             shape (out_i,) or None; W_1's dtype (float32 or float64) is the
             chain's.
    activations : one name per layer (those of linear_forward).
    keep   : keep what the backward needs: layer_inputs[i] is layer i's input
             and saved[i] its (preact or None, output), each as an (m, n)
             array with m the number of rows of x; else both are empty.
    """
    cdef Py_ssize_t nl = len(activations), i
    if nl == 0:
        raise ValueError("a Linear chain needs at least one layer")
    if len(params) != 2 * nl:
        raise ValueError(f"params must hold a weight and a bias (or None) per layer: "
                         f"{2 * nl} entries for {nl} activations, got {len(params)}")
    cdef int typenum = _chain_dtype(params[0])
    W = _chain_operand(params[0], "weight", typenum)
    if cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {W.shape}")
    x = _chain_operand(x, "input", typenum)
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>x)
    if nd == 0 or cnp.PyArray_DIM(<cnp.ndarray>x, nd - 1) != cnp.PyArray_DIM(<cnp.ndarray>W, 1):
        raise ValueError(f"input of shape {x.shape} does not match weight of shape {W.shape} "
                         f"(expected last dimension {W.shape[1]})")
    cdef cnp.npy_intp nin = cnp.PyArray_DIM(<cnp.ndarray>x, nd - 1), nout
    cdef cnp.npy_intp m = 1
    for i in range(nd - 1):
        m *= cnp.PyArray_DIM(<cnp.ndarray>x, i)
    cdef tuple lead = None
    if nd != 2:                 # (..., in) runs as (m, in); the result gets the leading dims back
        lead = x.shape[:nd - 1]
        x = x.reshape(m, nin)
    if slope != slope or slope - slope != 0.0:
        raise ValueError(f"negative_slope must be finite, got {slope}")
    weights, biases = [], []
    for i in range(nl):
        W = _chain_operand(params[2 * i], f"weight {i}" if i else "weight", typenum)
        if cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
            raise ValueError(f"weight {i} must be 2-D (out_features, in_features), got shape {W.shape}")
        if cnp.PyArray_DIM(<cnp.ndarray>W, 1) != nin:
            raise ValueError(f"weight {i} of shape {W.shape} does not take the previous layer's "
                             f"{nin} outputs")
        nout = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        B = params[2 * i + 1]
        if B is not None:
            B = _chain_operand(B, "bias", typenum)
            if cnp.PyArray_NDIM(<cnp.ndarray>B) != 1 or cnp.PyArray_DIM(<cnp.ndarray>B, 0) != nout:
                raise ValueError(f"bias must have shape ({nout},), got {B.shape}")
        weights.append(W)
        biases.append(B)
        nin = nout
    cdef _ChainLayer *layers = _chain_layers(nl)
    try:
        for i in range(nl):
            layers[i].act = _chain_activation(activations[i], i)
        return _chain_forward_run(layers, nl, x, weights, biases, typenum, m, slope, keep, lead)
    finally:
        free(layers)


cdef inline void _layer_forward(_ChainLayer *L, cnp.npy_intp m, real slope) noexcept nogil:
    """One layer of the forward: o = act(x W^T + b), z the pre-activation
    when kept (the dtype is slope's)."""
    nc_gemm_fused(0, 1, m, L.nout, L.nin, 1.0, <real *>L.x, max(L.nin, 1), <real *>L.w, max(L.nin, 1), 0.0,
                  <real *>L.o, L.nout, <real *>L.b, L.act, slope, <real *>L.z, L.nout)


cdef inline void _layer_backward(_ChainLayer *L, cnp.npy_intp m, real slope) noexcept nogil:
    """One layer of the backward (the dtype is slope's): delta = g act'(z),
    then grad_W, grad_b and grad_x from it, each where its pointer is set."""
    cdef cnp.npy_intp total = m * L.nout
    if L.z != NULL:
        # delta = g * act'(z): one pass (seed 000 §2.9)
        nc_act_grad(total, L.act, slope, <real *>L.g, <real *>L.z, <real *>L.d)
    if L.gw != NULL:
        # grad_weight (out, in) = delta^T (out, m) @ x (m, in)
        nc_gemm(1, 0, L.nout, L.nin, m, 1.0, <real *>L.d, max(L.nout, 1), <real *>L.x, max(L.nin, 1), 0.0,
                <real *>L.gw, max(L.nin, 1))
    if L.gb != NULL:
        if m == 1:
            # the sum over one row is the row (a batch of one: no kernel call)
            memcpy(L.gb, L.d, <size_t>L.nout * sizeof(real))
        else:
            nc_sum_rows(m, L.nout, <real *>L.d, L.nout, 0.0, <real *>L.gb)
    if L.gx != NULL:
        # grad_x (m, in) = delta (m, out) @ weight (out, in)
        nc_gemm(0, 0, m, L.nin, L.nout, 1.0, <real *>L.d, max(L.nout, 1), <real *>L.w, max(L.nin, 1), 0.0,
                <real *>L.gx, max(L.nin, 1))


cdef tuple _chain_forward_run(_ChainLayer *layers, Py_ssize_t nl, object x, list weights, list biases,
                              int typenum, cnp.npy_intp m, double slope, bint keep, tuple lead):
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    cdef list inputs = [], saved = []
    cdef cnp.npy_intp dims[2]
    # training (keep): every output is allocated first, then all layers run
    # in ONE nogil block, so a small network pays one GIL hand-over per pass;
    # inference runs layer by layer so that only two outputs are ever alive
    # (seed 000 Table 2.10)
    cdef Py_ssize_t i, j, lo
    cdef _ChainLayer *L
    h = x
    for i in range(nl):
        W = weights[i]
        B = biases[i]
        L = &layers[i]
        L.nin = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
        L.nout = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        dims[0] = m
        dims[1] = L.nout
        O = _new_array(2, dims, typenum)
        Z = None
        if L.act != NC_ACT_IDENTITY and not _relu_like(L.act, slope) and keep:
            Z = _new_array(2, dims, typenum)
        L.x = _data(h)
        L.w = _data(W)
        L.b = NULL if B is None else _data(B)
        L.o = _data(O)
        L.z = NULL if Z is None else _data(Z)
        if keep:
            inputs.append(h)
            if L.act == NC_ACT_IDENTITY:
                saved.append((None, O))
            elif Z is None:
                saved.append((O, O))
            else:
                saved.append((Z, O))
        lo = 0 if keep else i
        if m > 0 and (not keep or i == nl - 1):
            with nogil:
                for j in range(lo, i + 1):
                    L = &layers[j]
                    if L.nout == 0:
                        continue
                    if f32:
                        _layer_forward(L, m, <float>slope)
                    else:
                        _layer_forward(L, m, slope)
        h = O
    return _with_lead(h, lead, layers[nl - 1].nout), inputs, saved


def _linear_chain_backward(g, inputs, params, saved, activations, double slope, needs):
    """Gradients of the chain for grad_output g: a list [grad_x, grad_W_1,
    grad_b_1, ...], None where needs (LinearChain's needs_input_grad) says no.

    g      : IN, array of the chain output's shape (..., out_L).
    inputs, saved : what _linear_chain_forward kept (keep=True) for the same
             params and activations.
    grad_x has g's leading dimensions: (..., in_1).
    """
    cdef Py_ssize_t nl = len(activations), i
    if nl == 0 or len(params) != 2 * nl or len(inputs) != nl or len(saved) != nl or len(needs) != 2 * nl + 1:
        raise ValueError(f"a chain of {len(activations)} layers needs {2 * nl} params, {nl} inputs, "
                         f"{nl} saved pairs and {2 * nl + 1} needs; got {len(params)}, {len(inputs)}, "
                         f"{len(saved)} and {len(needs)}")
    X0 = inputs[0]
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>X0)
    g = _chain_operand(g, "grad_output", typenum)
    cdef cnp.npy_intp m = cnp.PyArray_DIM(<cnp.ndarray>X0, 0)
    cdef cnp.npy_intp last_out = cnp.PyArray_DIM(<cnp.ndarray>saved[nl - 1][1], 1)
    cdef int gnd = cnp.PyArray_NDIM(<cnp.ndarray>g)
    cdef tuple lead = None
    if gnd != 2 or cnp.PyArray_DIM(<cnp.ndarray>g, 0) != m or cnp.PyArray_DIM(<cnp.ndarray>g, 1) != last_out:
        if gnd == 0 or cnp.PyArray_DIM(<cnp.ndarray>g, gnd - 1) != last_out or cnp.PyArray_SIZE(<cnp.ndarray>g) != m * last_out:
            raise ValueError(f"grad_output of shape {g.shape} does not match the chain's output "
                             f"({m} rows of {last_out})")
        lead = g.shape[:gnd - 1]
        g = g.reshape(m, last_out)
    weights = [_chain_operand(params[2 * i], "weight", typenum) for i in range(nl)]
    cdef _ChainLayer *layers = _chain_layers(nl)
    try:
        for i in range(nl):
            layers[i].act = _chain_activation(activations[i], i)
        grads = _chain_backward_run(layers, nl, g, inputs, weights, params, saved, typenum, m, slope, needs)
    finally:
        free(layers)
    if lead is not None and grads[0] is not None:
        grads[0] = grads[0].reshape(lead + (grads[0].shape[1],))
    return grads


cdef list _chain_backward_run(_ChainLayer *layers, Py_ssize_t nl, object g, object inputs, list weights,
                              object params, object saved, int typenum, cnp.npy_intp m, double slope,
                              object needs):
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    cdef list grads = [None] * (2 * nl + 1)
    cdef cnp.npy_intp dims[2]
    cdef Py_ssize_t i
    cdef Py_ssize_t first = 0  # the lowest layer that runs
    cdef bint need_x, need_w, need_b
    cdef _ChainLayer *L
    # every result is allocated first (pointers per layer; NULL: not
    # needed), then the layers run in ONE nogil block, as in the forward;
    # the temporaries (each delta, each inner layer's grad_x) live in one
    # scratch block, placed once every result array exists
    cdef cnp.npy_intp scratch_len = 0
    cdef size_t esize = 4 if f32 else 8
    cdef char *scratch = NULL
    layers[nl - 1].g = _data(g)
    for i in range(nl - 1, -1, -1):
        W = weights[i]
        L = &layers[i]
        L.nout = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        L.nin = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
        need_x = i > 0 or bool(needs[0])
        need_w = bool(needs[1 + 2 * i])
        need_b = params[2 * i + 1] is not None and bool(needs[2 + 2 * i])
        L.z = NULL
        L.d_off = L.gx_off = -1
        if L.act != NC_ACT_IDENTITY:
            L.z = _data(saved[i][0])
            L.d_off = scratch_len
            scratch_len += m * L.nout
        L.x = _data(inputs[i])
        L.w = _data(W)
        L.gw = L.gb = L.gx = NULL
        if need_w:
            dims[0] = L.nout
            dims[1] = L.nin
            GW = _new_array(2, dims, typenum)
            L.gw = _data(GW)
            grads[1 + 2 * i] = GW
        if need_b:
            dims[0] = L.nout
            GB = _new_array(1, dims, typenum)
            L.gb = _data(GB)
            grads[2 + 2 * i] = GB
        first = i
        if not need_x:
            g = None
            break
        if i > 0:
            L.gx_off = scratch_len
            scratch_len += m * L.nin
        else:
            dims[0] = m
            dims[1] = L.nin
            g = _new_array(2, dims, typenum)
            L.gx = _data(g)
    scratch = <char *>malloc(<size_t>(scratch_len + 1) * esize)     # never NULL on success, even if empty
    if scratch == NULL:
        raise MemoryError()
    for i in range(nl - 1, first - 1, -1):
        L = &layers[i]
        if L.gx_off >= 0:
            L.gx = scratch + L.gx_off * esize
            layers[i - 1].g = L.gx
        L.d = L.g if L.d_off < 0 else scratch + L.d_off * esize
    with nogil:
        for i in range(nl - 1, first - 1, -1):
            if f32:
                _layer_backward(&layers[i], m, <float>slope)
            else:
                _layer_backward(&layers[i], m, slope)
        free(scratch)
    grads[0] = g if needs[0] else None
    return grads
