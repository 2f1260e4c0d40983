# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""neurocore._optim: fused multi-tensor optimizer steps (csrc/kernels/optim.inc).

Each wrapper takes one array or a list of arrays per role (params, grads,
state), one entry per tensor of a parameter group, validates all of them
(and every hyperparameter) before any C runs, and updates the params and
state IN PLACE with one C call for the whole list, GIL released.  Params
and state must be writable C-contiguous arrays (they cannot be copied: the
caller holds them); grads may be strided (copied once).
"""
import numpy as np
cimport numpy as cnp

from neurocore._api cimport *
from neurocore._nc_core cimport (
    _kernel_ready, _kernel_copy, _check_aligned_output, _finite_scalar)
from neurocore._shape cimport same_shape

cnp.import_array()
nc_api = kernel_table()

cdef object _F32 = np.dtype(np.float32)


from libc.stdlib cimport malloc, free
from libc.string cimport memset


cdef list _tensor_list(object x, str name):
    # a copy: the arrays must stay referenced while the GIL is released
    if type(x) is list:
        return (<list>x)[:]
    if cnp.PyArray_Check(x):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(f"{name} must be a numpy.ndarray or a list of them, got {type(x).__name__}")


cdef class _Group:
    """The pointer arrays of one multi-tensor call (freed with the object).
    Slot 0 holds the params; every further slot is one array role."""
    cdef nc_int n
    cdef int nslots
    cdef nc_int *sizes
    cdef nc_int *steps
    cdef void **ptrs
    cdef list params
    cdef list keep
    cdef object dtype
    cdef int typenum

    def __cinit__(self, object params, int nslots):
        P = _tensor_list(params, "params")
        self.n = len(P)
        self.nslots = nslots
        self.params = P
        self.keep = []
        cdef size_t count = <size_t>(self.n if self.n > 0 else 1)
        # one block: sizes, steps, then the pointer slots (all 8-byte items)
        self.sizes = <nc_int *>malloc(count * (2 * sizeof(nc_int) + nslots * sizeof(void *)))
        if self.sizes == NULL:
            raise MemoryError()
        self.steps = self.sizes + count
        self.ptrs = <void **>(self.steps + count)
        memset(self.ptrs, 0, count * nslots * sizeof(void *))
        self.dtype = None
        self.typenum = -1
        cdef nc_int i
        cdef cnp.ndarray a
        for i in range(self.n):
            p = P[i]
            if not cnp.PyArray_Check(p):
                raise TypeError(f"params[{i}] must be a numpy.ndarray, got {type(p).__name__}")
            a = <cnp.ndarray>p
            t = cnp.PyArray_TYPE(a)
            if t != self.typenum:
                if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
                    raise TypeError(f"params[{i}] must have dtype float32 or float64, got {p.dtype}")
                if self.typenum != -1:
                    raise TypeError(f"params[{i}] has dtype {p.dtype} but params[0] has dtype {self.dtype}; "
                                    f"one call takes one dtype")
                self.typenum = t
                self.dtype = p.dtype
            if not cnp.PyArray_IS_C_CONTIGUOUS(a) or not cnp.PyArray_ISWRITEABLE(a):
                raise ValueError(f"params[{i}] must be a writable C-contiguous array (updated in place)")
            if not cnp.PyArray_ISNOTSWAPPED(a):
                raise TypeError(f"params[{i}] has non-native byte order ({p.dtype.str}) and is updated "
                                f"in place; pass a native-order array")
            _check_aligned_output(p, f"params[{i}]")
            self.sizes[i] = cnp.PyArray_SIZE(a)
            self.ptrs[i] = cnp.PyArray_DATA(a)
        if self.dtype is None:
            self.dtype = _F32
            self.typenum = cnp.NPY_FLOAT32

    def __dealloc__(self):
        free(self.sizes)

    cdef set_role(self, int slot, object arrays, str name, bint inout):
        """Checks one role's arrays against the params and records them."""
        L = _tensor_list(arrays, name)
        if len(L) != self.n:
            raise ValueError(f"{name} has {len(L)} arrays but params has {self.n}")
        cdef nc_int i
        cdef cnp.ndarray a, p
        for i in range(self.n):
            x = L[i]
            p = <cnp.ndarray>self.params[i]
            if not cnp.PyArray_Check(x):
                raise TypeError(f"{name}[{i}] must be a numpy.ndarray, got {type(x).__name__}")
            a = <cnp.ndarray>x
            if cnp.PyArray_TYPE(a) != self.typenum:
                raise TypeError(f"{name}[{i}] has dtype {x.dtype} but params[{i}] has dtype {self.params[i].dtype}")
            if not same_shape(a, p):
                raise ValueError(f"{name}[{i}] has shape {x.shape} but params[{i}] has shape {self.params[i].shape}")
            if inout:
                if not cnp.PyArray_IS_C_CONTIGUOUS(a) or not cnp.PyArray_ISWRITEABLE(a):
                    raise ValueError(f"{name}[{i}] must be a writable C-contiguous array (updated in place)")
                if not cnp.PyArray_ISNOTSWAPPED(a):
                    raise TypeError(f"{name}[{i}] has non-native byte order ({x.dtype.str}) and is "
                                    f"updated in place; pass a native-order array")
                _check_aligned_output(x, f"{name}[{i}]")
            elif not _kernel_ready(a):
                # read-only role: one native, aligned C-contiguous copy
                a = <cnp.ndarray>_kernel_copy(a)
                self.keep.append(a)
            self.ptrs[slot * self.n + i] = cnp.PyArray_DATA(a)

    cdef set_steps(self, object steps):
        cdef nc_int i
        if type(steps) is int and 1 <= steps <= 2**62:
            for i in range(self.n):
                self.steps[i] = <nc_int>steps
            return
        if isinstance(steps, (int, np.integer)) and not isinstance(steps, (bool, np.bool_)):
            S = [steps] * self.n
        elif isinstance(steps, (list, tuple, np.ndarray)):
            S = list(steps)
        else:
            raise TypeError(f"steps must be an int or a sequence of ints, got {type(steps).__name__}")
        if len(S) != self.n:
            raise ValueError(f"steps has {len(S)} entries but params has {self.n}")
        for i in range(self.n):
            s = S[i]
            if type(s) is int and 1 <= s <= 2**62:
                self.steps[i] = <nc_int>s
                continue
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
                raise TypeError(f"steps[{i}] must be an int, got {type(s).__name__}")
            if s < 1:
                raise ValueError(f"steps[{i}] must be >= 1 (the count after this step), got {s}")
            if s > 2**62:
                raise ValueError(f"steps[{i}] must be < 2**62, got {s}")
            self.steps[i] = <nc_int>s

    cdef void **slot(self, int k):
        return self.ptrs + k * self.n

    cdef bint f32(self):
        return self.typenum == cnp.NPY_FLOAT32


# ---- hyperparameter checks (shared with neurocore.optim) -------------------
cdef inline double _hp_real(object value, str name) except? -1.0:
    return _finite_scalar(value, name, True)


cdef double _hp_nonneg(object value, str name) except? -1.0:
    cdef double v = _hp_real(value, name)
    if v < 0.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be >= 0)")
    return v


cdef double _hp_positive(object value, str name) except? -1.0:
    cdef double v = _hp_real(value, name)
    if v <= 0.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be > 0)")
    return v


cdef double _hp_unit(object value, str name) except? -1.0:
    """A decay rate in [0, 1)."""
    cdef double v = _hp_real(value, name)
    if v < 0.0 or v >= 1.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be in [0, 1))")
    return v


def sgd_step(params, grads, momentum_buffers=None, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, fresh=None):
    """sgd_step(params, grads, momentum_buffers=None, *, lr, momentum=0, dampening=0,
    weight_decay=0, nesterov=False, maximize=False, fresh=None) -> params

    PyTorch's SGD on a list of tensors, in place, one fused pass:
        g = -grad if maximize else grad;   g += weight_decay * p
        b = g (fresh buffer) or momentum * b + (1 - dampening) * g
        g = g + momentum * b (nesterov) or b;   p -= lr * g
    momentum_buffers: IN/OUT arrays like params (needed when momentum != 0).
    fresh: optional sequence of bools, True where the buffer is new.
    """
    return _sgd_step(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov,
                     maximize, fresh)


def _sgd_step_p(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize,
                fresh):
    """sgd_step with every argument positional, for neurocore.optim (keyword
    parsing costs ~60 ns per argument, a tenth of a small model's step)."""
    return _sgd_step(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov,
                     maximize, fresh)


cdef object _sgd_step(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov,
                      maximize, fresh):
    cdef double lr_ = _hp_nonneg(lr, "lr")
    cdef double mom = _hp_nonneg(momentum, "momentum")
    cdef double damp = _hp_real(dampening, "dampening")
    cdef double wd = _hp_nonneg(weight_decay, "weight_decay")
    if nesterov and (mom <= 0.0 or damp != 0.0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    cdef _Group G = _Group(params, 3)
    G.set_role(1, grads, "grads", False)
    cdef unsigned char *fr = NULL
    cdef nc_int i
    cdef bytearray fresh_bytes
    if mom != 0.0:
        if momentum_buffers is None:
            raise ValueError("momentum_buffers are needed when momentum != 0")
        G.set_role(2, momentum_buffers, "momentum_buffers", True)
        if fresh is not None:
            if not isinstance(fresh, (list, tuple, np.ndarray)):
                raise TypeError(f"fresh must be a sequence of bools, got {type(fresh).__name__}")
            F = list(fresh)
            if len(F) != G.n:
                raise ValueError(f"fresh has {len(F)} entries but params has {G.n}")
            fresh_bytes = bytearray(G.n if G.n > 0 else 1)
            for i in range(G.n):
                fresh_bytes[i] = 1 if F[i] else 0
            fr = <unsigned char *><char *>fresh_bytes
    cdef int flags = (NC_OPTIM_MAXIMIZE if maximize else 0) | (NC_OPTIM_NESTEROV if nesterov else 0)
    cdef void **P = G.slot(0)
    cdef void **Gr = G.slot(1)
    cdef void **B = G.slot(2) if mom != 0.0 else NULL
    cdef nc_int n = G.n
    cdef bint f32 = G.f32()
    with nogil:
        nc_sgd_step(f32, n, G.sizes, lr_, mom, damp, wd, flags, P, Gr, B, fr)
    return params


def adagrad_step(params, grads, state_sums, steps, *, lr, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, maximize=False, eps_inside_sqrt=False):
    """adagrad_step(params, grads, state_sums, steps, *, lr, lr_decay=0, weight_decay=0,
    eps=1e-10, maximize=False, eps_inside_sqrt=False) -> params

    PyTorch's Adagrad, in place: clr = lr / (1 + (step - 1) lr_decay),
    sum += g^2, p -= clr * g / (sqrt(sum) + eps)  (sqrt(sum + eps) with
    eps_inside_sqrt).  steps: the step count after this step (int or one per
    tensor).
    """
    return _adagrad_step(params, grads, state_sums, steps, lr, lr_decay, weight_decay, eps, maximize,
                         eps_inside_sqrt)


def _adagrad_step_p(params, grads, state_sums, steps, lr, lr_decay, weight_decay, eps, maximize,
                    eps_inside_sqrt):
    """adagrad_step with every argument positional, for neurocore.optim (keyword
    parsing costs ~60 ns per argument, a tenth of a small model's step)."""
    return _adagrad_step(params, grads, state_sums, steps, lr, lr_decay, weight_decay, eps, maximize,
                         eps_inside_sqrt)


cdef object _adagrad_step(params, grads, state_sums, steps, lr, lr_decay, weight_decay, eps, maximize,
                          eps_inside_sqrt):
    cdef double lr_ = _hp_nonneg(lr, "lr")
    cdef double lrd = _hp_nonneg(lr_decay, "lr_decay")
    cdef double wd = _hp_nonneg(weight_decay, "weight_decay")
    cdef double e = _hp_positive(eps, "eps")
    cdef _Group G = _Group(params, 3)
    G.set_role(1, grads, "grads", False)
    G.set_role(2, state_sums, "state_sums", True)
    G.set_steps(steps)
    cdef int flags = (NC_OPTIM_MAXIMIZE if maximize else 0) | (NC_OPTIM_EPS_IN_SQRT if eps_inside_sqrt else 0)
    cdef void **P = G.slot(0)
    cdef void **Gr = G.slot(1)
    cdef void **S = G.slot(2)
    cdef nc_int n = G.n
    cdef bint f32 = G.f32()
    with nogil:
        nc_adagrad_step(f32, n, G.sizes, G.steps, lr_, lrd, wd, e, flags, P, Gr, S)
    return params


def rmsprop_step(params, grads, square_avgs, momentum_buffers=None, grad_avgs=None, *, lr,
                 alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False, eps_inside_sqrt=False):
    """rmsprop_step(params, grads, square_avgs, momentum_buffers=None, grad_avgs=None, *, lr,
    alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False,
    eps_inside_sqrt=False) -> params

    PyTorch's RMSprop, in place: sq = alpha sq + (1 - alpha) g^2;
    centered: ga = lerp(ga, g, 1 - alpha), avg = sq - ga^2; denom =
    sqrt(avg) + eps (or sqrt(avg + eps)); with momentum b = momentum b +
    g / denom, p -= lr b; else p -= lr g / denom.
    """
    return _rmsprop_step(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps,
                         weight_decay, momentum, centered, maximize, eps_inside_sqrt)


def _rmsprop_step_p(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps, weight_decay,
                    momentum, centered, maximize, eps_inside_sqrt):
    """rmsprop_step with every argument positional, for neurocore.optim (keyword
    parsing costs ~60 ns per argument, a tenth of a small model's step)."""
    return _rmsprop_step(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps,
                         weight_decay, momentum, centered, maximize, eps_inside_sqrt)


cdef object _rmsprop_step(params, grads, square_avgs, momentum_buffers, grad_avgs, lr, alpha, eps,
                          weight_decay, momentum, centered, maximize, eps_inside_sqrt):
    cdef double lr_ = _hp_nonneg(lr, "lr")
    cdef double al = _hp_nonneg(alpha, "alpha")
    if al > 1.0:
        raise ValueError(f"Invalid alpha: {alpha!r} (must be in [0, 1])")
    cdef double e = _hp_positive(eps, "eps")
    cdef double wd = _hp_nonneg(weight_decay, "weight_decay")
    cdef double mom = _hp_nonneg(momentum, "momentum")
    cdef _Group G = _Group(params, 5)
    G.set_role(1, grads, "grads", False)
    G.set_role(2, square_avgs, "square_avgs", True)
    if mom != 0.0:
        if momentum_buffers is None:
            raise ValueError("momentum_buffers are needed when momentum != 0")
        G.set_role(3, momentum_buffers, "momentum_buffers", True)
    if centered:
        if grad_avgs is None:
            raise ValueError("grad_avgs are needed when centered=True")
        G.set_role(4, grad_avgs, "grad_avgs", True)
    cdef int flags = ((NC_OPTIM_MAXIMIZE if maximize else 0) | (NC_OPTIM_EPS_IN_SQRT if eps_inside_sqrt else 0)
                      | (NC_OPTIM_CENTERED if centered else 0))
    cdef void **P = G.slot(0)
    cdef void **Gr = G.slot(1)
    cdef void **S = G.slot(2)
    cdef void **B = G.slot(3) if mom != 0.0 else NULL
    cdef void **A = G.slot(4) if centered else NULL
    cdef nc_int n = G.n
    cdef bint f32 = G.f32()
    with nogil:
        nc_rmsprop_step(f32, n, G.sizes, lr_, al, e, wd, mom, flags, P, Gr, S, B, A)
    return params


def adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs=None, *, lr,
              beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
              decoupled=False, maximize=False, eps_inside_sqrt=False):
    """adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs=None, *, lr,
    beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0, amsgrad=False, decoupled=False,
    maximize=False, eps_inside_sqrt=False) -> params

    PyTorch's Adam (AdamW with decoupled=True), in place, one fused pass:
        g = -grad if maximize else grad; g += wd p  (AdamW: p *= 1 - lr wd)
        m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
        amsgrad: vmax = max(vmax, v), used for v below
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    (eps_inside_sqrt: denominator sqrt(v / (1 - beta2^t) + eps), the seeds').
    steps: t after this step, an int or one per tensor.
    """
    return _adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs, lr, beta1, beta2, eps,
                      weight_decay, amsgrad, decoupled, maximize, eps_inside_sqrt)


def _adam_step_p(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs, lr, beta1, beta2, eps,
                 weight_decay, amsgrad, decoupled, maximize, eps_inside_sqrt):
    """adam_step with every argument positional, for neurocore.optim (keyword
    parsing costs ~60 ns per argument, a tenth of a small model's step)."""
    return _adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs, lr, beta1, beta2, eps,
                      weight_decay, amsgrad, decoupled, maximize, eps_inside_sqrt)


cdef object _adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, max_exp_avg_sqs, lr, beta1, beta2, eps,
                       weight_decay, amsgrad, decoupled, maximize, eps_inside_sqrt):
    cdef double lr_ = _hp_nonneg(lr, "lr")
    cdef double b1 = _hp_unit(beta1, "beta1")
    cdef double b2 = _hp_unit(beta2, "beta2")
    cdef double e = _hp_positive(eps, "eps")
    cdef double wd = _hp_nonneg(weight_decay, "weight_decay")
    cdef _Group G = _Group(params, 5)
    G.set_role(1, grads, "grads", False)
    G.set_role(2, exp_avgs, "exp_avgs", True)
    G.set_role(3, exp_avg_sqs, "exp_avg_sqs", True)
    if amsgrad:
        if max_exp_avg_sqs is None:
            raise ValueError("max_exp_avg_sqs are needed when amsgrad=True")
        G.set_role(4, max_exp_avg_sqs, "max_exp_avg_sqs", True)
    G.set_steps(steps)
    cdef int flags = ((NC_OPTIM_MAXIMIZE if maximize else 0) | (NC_OPTIM_EPS_IN_SQRT if eps_inside_sqrt else 0)
                      | (NC_OPTIM_AMSGRAD if amsgrad else 0) | (NC_OPTIM_DECOUPLED if decoupled else 0))
    cdef void **P = G.slot(0)
    cdef void **Gr = G.slot(1)
    cdef void **M = G.slot(2)
    cdef void **V = G.slot(3)
    cdef void **VM = G.slot(4) if amsgrad else NULL
    cdef nc_int n = G.n
    cdef bint f32 = G.f32()
    with nogil:
        nc_adam_step(f32, n, G.sizes, G.steps, lr_, b1, b2, e, wd, flags, P, Gr, M, V, VM)
    return params


def lamb_step(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1=0.9, beta2=0.999,
              eps=1e-6, weight_decay=0.0, maximize=False, eps_inside_sqrt=False):
    """lamb_step(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1=0.9, beta2=0.999,
    eps=1e-6, weight_decay=0, maximize=False, eps_inside_sqrt=False) -> params

    LAMB (You et al. 2019), in place, per tensor:
        m, v as in Adam;  r = m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) + wd p
        p -= lr * (||p|| / ||r||) * r   (ratio 1 where a norm is 0)
    """
    return _lamb_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay,
                      maximize, eps_inside_sqrt)


def _lamb_step_p(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay, maximize,
                 eps_inside_sqrt):
    """lamb_step with every argument positional, for neurocore.optim (keyword
    parsing costs ~60 ns per argument, a tenth of a small model's step)."""
    return _lamb_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay,
                      maximize, eps_inside_sqrt)


cdef object _lamb_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay,
                       maximize, eps_inside_sqrt):
    cdef double lr_ = _hp_nonneg(lr, "lr")
    cdef double b1 = _hp_unit(beta1, "beta1")
    cdef double b2 = _hp_unit(beta2, "beta2")
    cdef double e = _hp_positive(eps, "eps")
    cdef double wd = _hp_nonneg(weight_decay, "weight_decay")
    cdef _Group G = _Group(params, 4)
    G.set_role(1, grads, "grads", False)
    G.set_role(2, exp_avgs, "exp_avgs", True)
    G.set_role(3, exp_avg_sqs, "exp_avg_sqs", True)
    G.set_steps(steps)
    cdef int flags = (NC_OPTIM_MAXIMIZE if maximize else 0) | (NC_OPTIM_EPS_IN_SQRT if eps_inside_sqrt else 0)
    cdef nc_int n = G.n
    cdef nc_int nws = nc_lamb_workspace_size(n, G.sizes)
    cdef double *ws = <double *>malloc(<size_t>(nws if nws > 0 else 1) * sizeof(double))
    if ws == NULL:
        raise MemoryError()
    cdef void **P = G.slot(0)
    cdef void **Gr = G.slot(1)
    cdef void **M = G.slot(2)
    cdef void **V = G.slot(3)
    cdef bint f32 = G.f32()
    try:
        with nogil:
            nc_lamb_step(f32, n, G.sizes, G.steps, lr_, b1, b2, e, wd, flags, P, Gr, M, V, ws)
    finally:
        free(ws)
    return params
