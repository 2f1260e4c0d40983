# The whole Linear chain of nn.MLP (functional._ops.LinearChain) in one
# wrapper call each way: the same kernels as linear_forward/linear_backward
# (nc_gemm_fused, nc_act_grad, nc_gemm, nc_sum_rows) with the per-call
# Python entry paid once per chain instead of once per layer, which is what
# dominates small batches.  Private to the autograd layer: these return None
# (and run nothing) whenever an argument is off their fast path (not a 2-D
# C-contiguous native float array, mixed dtypes, mismatched shapes), and the
# caller then takes the per-layer route, whose wrappers raise the
# informative errors.

from libc.string cimport memcpy
from libc.stdlib cimport malloc, free


cdef inline bint _chain_array(object a, int typenum):
    """a is an exact ndarray of dtype typenum, native byte order, C-contiguous."""
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


cdef inline bint _relu_like(int act, double slope):
    # y > 0 exactly where z > 0, so the output doubles as the derivative's mask
    return act == NC_ACT_RELU or (act == NC_ACT_LEAKY_RELU and slope >= 0.0)


def _linear_chain_forward(x, params, activations, double slope, bint keep):
    """(y, layer_inputs, saved) of the chain y = act_L(... act_1(x W_1^T + b_1) ...)
    with params = [W_1, b_1, W_2, b_2, ...] (arrays; a bias may be None), or
    None when an argument is off the fast path.  With keep, layer_inputs[i]
    is layer i's input and saved[i] its (preact or None, output) as
    LinearChain's backward expects; else both are empty lists."""
    cdef Py_ssize_t nl = len(activations), i
    if len(params) != 2 * nl or nl == 0 or type(x) is not cnp.ndarray:
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if not (typenum == cnp.NPY_FLOAT32 or typenum == cnp.NPY_FLOAT64):
        return None
    if not _chain_array(x, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>x) != 2:
        return None
    cdef cnp.npy_intp m = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef cnp.npy_intp nin = cnp.PyArray_DIM(<cnp.ndarray>x, 1), nout
    cdef int[64] acts
    if nl > 64:
        return None
    for i in range(nl):
        a = activations[i]
        if type(a) is not str or a not in _GEMM_ACTIVATIONS:
            return None
        acts[i] = _GEMM_ACTIVATIONS[a]
        W = params[2 * i]
        B = params[2 * i + 1]
        if not _chain_array(W, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
            return None
        if cnp.PyArray_DIM(<cnp.ndarray>W, 1) != nin:
            return None
        nout = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        if B is not None and (not _chain_array(B, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>B) != 1
                              or cnp.PyArray_DIM(<cnp.ndarray>B, 0) != nout):
            return None
        nin = nout
    if slope != slope or slope - slope != 0.0:
        return None
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    cdef list inputs = [], saved = []
    cdef cnp.npy_intp dims[2]
    # training (keep): every output is allocated first, then all layers run
    # in ONE nogil block, so a small network pays one GIL hand-over per pass;
    # inference runs layer by layer so that only two outputs are ever alive
    # (seed 000 Table 2.10)
    cdef void *px[64]
    cdef void *pw[64]
    cdef void *pb[64]
    cdef void *po[64]
    cdef void *pz[64]
    cdef cnp.npy_intp ins[64]
    cdef cnp.npy_intp outs[64]
    cdef int act
    cdef Py_ssize_t lo
    cdef float slope32 = <float>slope
    h = x
    for i in range(nl):
        W = params[2 * i]
        B = params[2 * i + 1]
        act = acts[i]
        ins[i] = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
        outs[i] = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        dims[0] = m
        dims[1] = outs[i]
        O = cnp.PyArray_EMPTY(2, dims, typenum, 0)
        Z = None
        if act != NC_ACT_IDENTITY and not _relu_like(act, slope) and keep:
            Z = cnp.PyArray_EMPTY(2, dims, typenum, 0)
        px[i] = _data(h)
        pw[i] = _data(W)
        pb[i] = NULL if B is None else _data(B)
        po[i] = _data(O)
        pz[i] = NULL if Z is None else _data(Z)
        if keep:
            inputs.append(h)
            if act == NC_ACT_IDENTITY:
                saved.append((None, O))
            elif Z is None:
                saved.append((O, O))
            else:
                saved.append((Z, O))
        lo = 0 if keep else i
        if m > 0 and (not keep or i == nl - 1):
            with nogil:
                for j in range(lo, i + 1):
                    if outs[j] == 0:
                        continue
                    if f32:
                        nc_gemm_fused_f32(0, 1, m, outs[j], ins[j], 1.0, <float *>px[j], max(ins[j], 1),
                                          <float *>pw[j], max(ins[j], 1), 0.0, <float *>po[j], outs[j],
                                          <float *>pb[j], acts[j], slope32, <float *>pz[j], outs[j])
                    else:
                        nc_gemm_fused_f64(0, 1, m, outs[j], ins[j], 1.0, <double *>px[j], max(ins[j], 1),
                                          <double *>pw[j], max(ins[j], 1), 0.0, <double *>po[j], outs[j],
                                          <double *>pb[j], acts[j], slope, <double *>pz[j], outs[j])
        h = O
    return h, inputs, saved


def _linear_chain_backward(g, inputs, params, saved, activations, double slope, needs):
    """Gradients of the chain for grad_output g: a list [grad_x, grad_W_1,
    grad_b_1, ...] (None where needs, a sequence like LinearChain's
    needs_input_grad, says no), or None when an argument is off the fast path."""
    cdef Py_ssize_t nl = len(activations), i
    if len(params) != 2 * nl or len(inputs) != nl or len(saved) != nl or len(needs) != 2 * nl + 1:
        return None
    if type(g) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>g) != 2 or nl == 0:
        return None
    X0 = inputs[0]
    if type(X0) is not cnp.ndarray:
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>X0)
    if not (typenum == cnp.NPY_FLOAT32 or typenum == cnp.NPY_FLOAT64):
        return None
    if cnp.PyArray_TYPE(<cnp.ndarray>g) != typenum or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>g):
        return None
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g):
        g = np.ascontiguousarray(g)
    cdef cnp.npy_intp m = cnp.PyArray_DIM(<cnp.ndarray>g, 0)
    cdef cnp.npy_intp nin, nout
    cdef int[64] acts
    if nl > 64:
        return None
    for i in range(nl):
        a = activations[i]
        if type(a) is not str or a not in _GEMM_ACTIVATIONS:
            return None
        acts[i] = _GEMM_ACTIVATIONS[a]
        W = params[2 * i]
        X = inputs[i]
        if not _chain_array(W, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>W) != 2:
            return None
        if not _chain_array(X, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>X) != 2:
            return None
        nout = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        nin = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
        if cnp.PyArray_DIM(<cnp.ndarray>X, 0) != m or cnp.PyArray_DIM(<cnp.ndarray>X, 1) != nin:
            return None
        if acts[i] != NC_ACT_IDENTITY:
            Z = saved[i][0]
            if (not _chain_array(Z, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>Z) != 2
                    or cnp.PyArray_DIM(<cnp.ndarray>Z, 0) != m or cnp.PyArray_DIM(<cnp.ndarray>Z, 1) != nout):
                return None
    W = params[2 * nl - 2]
    if cnp.PyArray_DIM(<cnp.ndarray>g, 1) != cnp.PyArray_DIM(<cnp.ndarray>W, 0):
        return None
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    cdef list grads = [None] * (2 * nl + 1)
    cdef cnp.npy_intp dims[2]
    cdef cnp.npy_intp total
    # every result is allocated first (pointers per layer; NULL: not needed),
    # then the layers run in ONE nogil block, as in the forward
    cdef void *pg[64]          # the layer's incoming gradient (its output's)
    cdef void *pz[64]
    cdef void *pd[64]          # delta = g * act'(z), or g itself
    cdef void *px[64]
    cdef void *pw[64]
    cdef void *pgw[64]
    cdef void *pgb[64]
    cdef void *pgx[64]         # grad of the layer input = the next g
    cdef cnp.npy_intp ins[64]
    cdef cnp.npy_intp outs[64]
    cdef Py_ssize_t first = 0  # the lowest layer that runs
    cdef bint need_x, need_w, need_b
    # the temporaries (each delta, each inner layer's grad_x) live in one
    # scratch block, placed once every result array exists: offsets in
    # elements, -1 where the layer has none
    cdef cnp.npy_intp d_off[64]
    cdef cnp.npy_intp gx_off[64]
    cdef cnp.npy_intp scratch_len = 0
    cdef size_t esize = 4 if f32 else 8
    cdef char *scratch = NULL
    g_in = g                   # pg[nl - 1] points into it (it may be a contiguous copy)
    pg[nl - 1] = _data(g_in)
    for i in range(nl - 1, -1, -1):
        W = params[2 * i]
        X = inputs[i]
        outs[i] = cnp.PyArray_DIM(<cnp.ndarray>W, 0)
        ins[i] = cnp.PyArray_DIM(<cnp.ndarray>W, 1)
        need_x = i > 0 or bool(needs[0])
        need_w = bool(needs[1 + 2 * i])
        need_b = params[2 * i + 1] is not None and bool(needs[2 + 2 * i])
        pz[i] = NULL
        d_off[i] = gx_off[i] = -1
        if acts[i] != NC_ACT_IDENTITY:
            pz[i] = _data(saved[i][0])
            d_off[i] = scratch_len
            scratch_len += m * outs[i]
        px[i] = _data(X)
        pw[i] = _data(W)
        pgw[i] = pgb[i] = pgx[i] = NULL
        if need_w:
            dims[0] = outs[i]
            dims[1] = ins[i]
            GW = cnp.PyArray_EMPTY(2, dims, typenum, 0)
            pgw[i] = _data(GW)
            grads[1 + 2 * i] = GW
        if need_b:
            dims[0] = outs[i]
            GB = cnp.PyArray_EMPTY(1, dims, typenum, 0)
            pgb[i] = _data(GB)
            grads[2 + 2 * i] = GB
        first = i
        if not need_x:
            g = None
            break
        if i > 0:
            gx_off[i] = scratch_len
            scratch_len += m * ins[i]
        else:
            dims[0] = m
            dims[1] = ins[i]
            g = cnp.PyArray_EMPTY(2, dims, typenum, 0)
            pgx[i] = _data(g)
    scratch = <char *>malloc(<size_t>(scratch_len + 1) * esize)     # never NULL on success, even if empty
    if scratch == NULL:
        raise MemoryError()
    for i in range(nl - 1, first - 1, -1):
        if gx_off[i] >= 0:
            pgx[i] = scratch + gx_off[i] * esize
            pg[i - 1] = pgx[i]
        pd[i] = pg[i] if d_off[i] < 0 else scratch + d_off[i] * esize
    cdef float slope32 = <float>slope
    with nogil:
        for i in range(nl - 1, first - 1, -1):
            total = m * outs[i]
            if pz[i] != NULL:
                # delta = g * act'(z): one pass (seed 000 §2.9)
                if f32: nc_act_grad_f32(total, acts[i], slope32, <float *>pg[i], <float *>pz[i], <float *>pd[i])
                else: nc_act_grad_f64(total, acts[i], slope, <double *>pg[i], <double *>pz[i], <double *>pd[i])
            if pgw[i] != NULL:
                # grad_weight (out, in) = delta^T (out, m) @ x (m, in)
                if f32:
                    nc_gemm_f32(1, 0, outs[i], ins[i], m, 1.0, <float *>pd[i], max(outs[i], 1), <float *>px[i],
                                max(ins[i], 1), 0.0, <float *>pgw[i], max(ins[i], 1))
                else:
                    nc_gemm_f64(1, 0, outs[i], ins[i], m, 1.0, <double *>pd[i], max(outs[i], 1), <double *>px[i],
                                max(ins[i], 1), 0.0, <double *>pgw[i], max(ins[i], 1))
            if pgb[i] != NULL:
                if m == 1:
                    # the sum over one row is the row (a batch of one: no kernel call)
                    memcpy(pgb[i], pd[i], <size_t>outs[i] * esize)
                elif f32:
                    nc_sum_rows_f32(m, outs[i], <float *>pd[i], outs[i], 0.0, <float *>pgb[i])
                else:
                    nc_sum_rows_f64(m, outs[i], <double *>pd[i], outs[i], 0.0, <double *>pgb[i])
            if pgx[i] != NULL:
                # grad_x (m, in) = delta (m, out) @ weight (out, in)
                if f32:
                    nc_gemm_f32(0, 0, m, ins[i], outs[i], 1.0, <float *>pd[i], max(outs[i], 1), <float *>pw[i],
                                max(ins[i], 1), 0.0, <float *>pgx[i], max(ins[i], 1))
                else:
                    nc_gemm_f64(0, 0, m, ins[i], outs[i], 1.0, <double *>pd[i], max(outs[i], 1), <double *>pw[i],
                                max(ins[i], 1), 0.0, <double *>pgx[i], max(ins[i], 1))
        free(scratch)
    grads[0] = g if needs[0] else None
    return grads


def _linear_chain_plain_backward(ctx, g):
    """functional._ops.LinearChain's backward without create_graph, as the
    engine's node loop calls it (see _backward_nodes): the Python method's
    fast branch without its frame; None when off the fast path."""
    grads = _linear_chain_backward(g, ctx.layer_inputs, ctx._raw[1:], ctx.saved, ctx.activations, ctx.slope,
                                   ctx.needs_input_grad)
    return None if grads is None else tuple(grads)
