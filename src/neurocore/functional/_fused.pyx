# cython: language_level=3, boundscheck=False, wraparound=False
"""neurocore.functional._fused: the apply and backward of the fused ops
that a small network's training step runs once per step (LinearChain, the
plain cross-entropy), compiled.  Each is the op's only route: the classes
in neurocore.functional (_ops.LinearChain, _losses._PlainCrossEntropy)
take these functions as their ``apply``/``backward``.  The arithmetic is
the array-only kernel wrappers' (neurocore._kernels); what is here is the
bookkeeping around them (argument split, recording the node, reading the
saved state), which in Python costs more than the kernels of a small
model."""
from neurocore._engine_core cimport NodeCore, TensorCore, _new_tensor, _split, _grad_enabled, _record

import numpy as np
cimport numpy as cnp

# the kernel wrappers are looked up on the module at each call (a dict
# lookup), so that a profiler that wraps them (neurocore.bench.profile) sees
# these calls too
from neurocore import _kernels

cnp.import_array()


def linear_chain_apply(cls, x, tuple params, tuple activations, double slope):
    """LinearChain.apply(x, w0, b0, w1, b1, ..., activations=, slope=) with
    the params as one tuple: every layer's GEMM, bias and activation in one
    kernel-wrapper call, and one node (ctx of class cls) when grad mode is
    on and some input requires grad.  Under no_grad nothing is kept for a
    backward (seed 000 Table 2.10)."""
    if not isinstance(x, TensorCore):
        raise TypeError(f"input must be a neurocore Tensor, got {type(x).__name__}")
    cdef tuple args = (x,) + params
    raw, needs = _split(args)
    cdef bint recording = needs is not None and _grad_enabled()
    out, layer_inputs, saved = _kernels._linear_chain_forward((<tuple>raw)[0], (<tuple>raw)[1:], activations,
                                                              slope, recording)
    if not recording:
        return _new_tensor(out, None)
    cdef NodeCore ctx = NodeCore.__new__(cls)
    ctx.recording = True
    ctx.activations = activations
    ctx.slope = slope
    ctx.layer_inputs = layer_inputs
    ctx.saved = saved
    return _record(ctx, args, needs, raw, out, False)


def linear_chain_backward(ctx, g):
    """LinearChain.backward: the kernel-wrapper backward of the chain (one
    gradient per input), or with create_graph its replay as Linear nodes."""
    if ctx._graph:
        return ctx._composite_backward(g, type(ctx)._replay)
    return tuple(_kernels._linear_chain_backward(g, ctx.layer_inputs, ctx._raw[1:], ctx.saved, ctx.activations,
                                                 ctx.slope, ctx.needs_input_grad))


def plain_cross_entropy_apply(cls, input, target, ignore_index, reduction):
    """_PlainCrossEntropy.apply(input, target, ignore_index, reduction): the
    loss of 2-D logits against 1-D class indices, a mean or a sum, in one
    kernel-wrapper call, recording the node (ctx of class cls) when grad
    mode is on and the logits require grad."""
    cdef tuple args = (input, target, ignore_index, reduction)
    raw, needs = _split(args)
    loss, lse, count, t = _kernels._cross_entropy_plain((<tuple>raw)[0], (<tuple>raw)[1], ignore_index,
                                                        reduction == "mean")
    if needs is None or not _grad_enabled():
        return _new_tensor(loss, None)
    cdef NodeCore ctx = NodeCore.__new__(cls)
    ctx.recording = True
    ctx.weight = None
    ctx.ignore_index = ignore_index
    ctx.eps = 0.0
    ctx.reduction = reduction
    ctx.lse = lse
    ctx.denom = float(count)
    ctx.target = t
    return _record(ctx, args, needs, raw, loss, False)


def plain_cross_entropy_backward(ctx, g):
    """_PlainCrossEntropy.backward (a mean or sum, so g is one number):
    (grad_logits, None)."""
    if cnp.PyArray_SIZE(<cnp.ndarray?>g) != 1:
        raise ValueError(f"grad_output of a mean or sum cross-entropy must be a scalar, got shape {g.shape}")
    cdef double scale = g.item()
    if ctx.reduction == "mean":
        scale = scale / ctx.denom if ctx.denom else float("nan")
    return _kernels._cross_entropy_plain_backward(ctx._raw[0], ctx.target, ctx.lse, ctx.ignore_index, scale), None
