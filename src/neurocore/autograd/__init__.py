"""neurocore.autograd: Function, grad, gradcheck (filled by the autograd work)."""
