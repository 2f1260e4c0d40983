"""neurocore.autograd.functional: vjp, jvp, jacobian, hessian, hvp (filled by the second-order work)."""
__all__ = []
