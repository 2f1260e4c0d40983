"""neurocore.autograd: Function, backward, grad, grad modes and gradcheck.

The engine lives in ``neurocore._engine`` (grad mode in
``neurocore._grad_mode``); this package is its public face
(``torch.autograd``'s names).

Writing an op (the rules every engineer follows)
================================================

Built-in ops subclass ``neurocore._engine.Op``.  ``forward`` and ``backward``
get raw NumPy arrays, so a normal training step never builds a Tensor inside a
backward and runs at NumPy/kernel speed::

    class Exp(Op):
        save_output = True                  # keep the result for backward

        @staticmethod
        def forward(ctx, x):                # arrays in, array out
            return np.exp(x)

        def backward(ctx, g):               # d eˣ/dx = eˣ
            return g * ctx.output

    y = Exp.apply(x)                        # Tensors in, Tensor out

``backward`` returns one gradient (or None) per positional argument of
``apply``; keyword arguments are settings (axis, dtype, ...) and get no
gradient.  ``ctx.needs_input_grad[i]`` says which gradients are wanted.  The
gradient of a broadcast input is summed back to its shape with
``_unbroadcast(g, shape)``.  Never modify ``g`` or a saved array in place: the
engine hands the same array to several consumers.  Returning views (reshape,
broadcast_to) is fine.

Double backward (``create_graph=True``).  The engine then calls the same
``backward`` with Tensors: ``g`` is a Tensor, ``ctx.inputs`` are the op's
input Tensors and ``ctx.output`` is a Tensor whose grad_fn is this op.  So a
backward written only with operators and methods that NumPy arrays and Tensors
share (``+ - * / @ **``, ``.sum(axis=, keepdims=)``, ``.reshape``, ``.mT``,
indexing) and the helpers ``_unbroadcast``, ``_broadcast``, ``_exp``,
``_log`` is differentiable for free: read inputs through ``ctx.inputs`` and
outputs through ``ctx.output`` (not through arrays stashed on ``ctx``), and
use stashed arrays only for constants such as masks.

Fused ops.  When the backward calls a raw kernel (``kernels.softmax_backward``,
``kernels.linear_backward``, an attention or loss kernel), it cannot run on
Tensors.  Such an op also defines ``composite(ctx, *inputs)``, the same
function written with differentiable Tensor ops (unfused, slower)::

    class Softmax(Op):
        save_output = True

        @staticmethod
        def forward(ctx, x, axis):
            ctx.axis = axis
            return K.softmax(x)                              # fused, raw

        def backward(ctx, g):                                # raw, fast
            return K.softmax_backward(ctx.output, g)

        def composite(ctx, x, *_):                           # only for create_graph
            e = (x - x.max(ctx.axis, keepdims=True).detach()).exp()
            return e / e.sum(ctx.axis, keepdims=True)

With ``create_graph=True`` the engine ignores ``backward`` and differentiates
``composite`` (recomputed from the inputs, graph recorded), so gradients of
gradients are exact while the normal path keeps the fused kernel.  An op that
can do better for some settings keeps ``composite`` unset, checks
``ctx._graph`` in its backward and calls ``ctx._composite_backward(g, fn)``
only where needed (``functional.Linear`` records piecewise-linear
activations directly and differentiates the composite for GELU/σ/tanh).
Under ``no_grad`` nothing is recorded; ``ctx.recording`` tells a forward
whether to keep what only the backward needs (``LinearChain`` keeps no
activations then: seed 000 Table 2.10).  Test every
new op with ``gradcheck`` and, for second order, ``gradgradcheck``-style
comparisons (``nc.grad`` of a ``create_graph=True`` gradient against finite
differences of the gradient).

Custom functions (``nc.autograd.Function``) follow PyTorch: forward/backward
see Tensors, ``ctx.save_for_backward`` / ``ctx.saved_tensors``; with
``create_graph=True`` their backward is recorded like any Tensor code.
"""
from neurocore._engine import Function, backward, grad  # noqa: F401
from neurocore._grad_mode import (  # noqa: F401
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from neurocore.autograd._gradcheck import gradcheck  # noqa: F401
from neurocore.autograd import functional  # noqa: F401

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck", "functional"]
