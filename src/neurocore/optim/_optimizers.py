"""Optimizers with PyTorch's names, signatures and update rules (seed 000 §1.3,
seed 001 §10).

Every ``step()`` is one fused C kernel call per parameter group (and dtype):
the kernel walks each element of (param, grad, state) once and updates the
param's ``.data`` and the state in place; see neurocore.kernels.*_step.
Parameters are neurocore Tensors/Parameters (anything with an ndarray
``.data`` and a ``.grad`` that is None or has ``.data``); params whose grad
is None are skipped, as in PyTorch.
"""
from collections.abc import MutableMapping
from itertools import repeat
from operator import is_not, itemgetter

import numpy as np

from neurocore import _engine_core, _kernels
from neurocore._grad_mode import enable_grad

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "LAMB"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


# ---- hyperparameter checks: ValueError naming the value --------------------
def _real(value, what):
    """value as a float: TypeError unless a real number, ValueError
    ("Invalid lr: nan (must be finite)") unless finite."""
    return _kernels._real_scalar(value, what, True)


def _check_lr(lr):
    _check_nonneg(lr, "learning rate")


def _check_nonneg(value, what):
    if _real(value, what) < 0.0:
        raise ValueError(f"Invalid {what}: {value!r} (must be >= 0)")


def _check_eps(eps):
    if _real(eps, "epsilon value") <= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps!r} (must be > 0)")


def _check_betas(betas):
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r} (must be a pair (beta1, beta2))")
    for i, b in enumerate(betas):
        if not 0.0 <= _real(b, f"beta parameter at index {i}") < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b!r} (must be in [0, 1))")


class _State(MutableMapping):
    """optimizer.state: param -> dict, keyed by identity (Tensors need not be
    hashable), iterating over the params like PyTorch's defaultdict."""

    def __init__(self):
        self._d = {}

    def __getitem__(self, p):
        entry = self._d.get(id(p))
        if entry is None:
            entry = self._d[id(p)] = (p, {})
        return entry[1]

    def __setitem__(self, p, value):
        self._d[id(p)] = (p, value)

    def __delitem__(self, p):
        del self._d[id(p)]

    def __contains__(self, p):
        return id(p) in self._d

    def __iter__(self):
        return (p for p, _ in self._d.values())

    def __len__(self):
        return len(self._d)


class Optimizer:
    """Base class: param_groups, state, zero_grad, state_dict/load_state_dict.

    Subclasses define ``_hyper`` (the names of the group's hyperparameters),
    ``_roles`` (the names of the state arrays the kernel takes),
    ``_validate(group)``, ``_state_spec(group)`` (the state arrays a param
    gets before its first step) and ``_update(hp, params, grads, states,
    roles, steps)``: one kernel call on lists of contiguous arrays, with hp
    the group's values of ``_hyper`` in order, roles one list of arrays per
    name of ``_roles`` and steps the step counts after this step.
    """

    _hyper = ()

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = _State()
        self.param_groups = []
        # per param group (by position): (group, its _hyper values when last
        # validated, whether its update keeps state), so that step()
        # validates a group only when it changed
        self._checked = []
        if isinstance(params, np.ndarray) or hasattr(params, "data") and not isinstance(params, (list, tuple, dict)):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, np.ndarray) or hasattr(params, "data"):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, not sets")
        params = list(params)
        for i, p in enumerate(params):
            data = getattr(p, "data", None)
            if not isinstance(data, np.ndarray) or isinstance(p, np.ndarray):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is {type(p).__name__}")
            if data.dtype not in (np.float32, np.float64):
                raise TypeError(f"optimizer can only optimize float32/float64 Tensors, params[{i}] has dtype "
                                f"{data.dtype}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        group = dict(param_group)
        group["params"] = params
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        self._validate(group)
        self.param_groups.append(group)
        self._record(len(self.param_groups) - 1, group)
        if self._eager:
            self._init_states([p.data for p in params], [self.state[p] for p in params], group)

    _eager = False  # whether the state is created at construction (Adagrad) or at the first step

    def _state_spec(self, group):
        """(name, initial value) of each state array a param gets."""
        return ()

    def _init_states(self, datas, states, group):
        """The states of params before their first step (datas: their arrays);
        each state array of all of them in one buffer (see _arena)."""
        if self._counted:
            for s in states:
                s["step"] = 0.0
        for name, fill in self._state_spec(group):
            for s, a in zip(states, _arena(datas, fill)):
                s[name] = a

    def zero_grad(self, set_to_none=True):
        """Reset the gradients: to None (default, as PyTorch), or to zeros."""
        for group in self.param_groups:
            _engine_core._zero_grads(group["params"], set_to_none)

    def step(self, closure=None):
        """One update of every param with a gradient.  closure: an optional
        callable that re-evaluates the model and returns the loss (run with
        gradients enabled); its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        checked = self._checked
        for i, group in enumerate(self.param_groups):
            hp = self._hyper_values(group)
            try:
                same = i < len(checked) and checked[i][0] is group and checked[i][1] == hp
            except (TypeError, ValueError):     # a value set to an array, say: validation names it
                same = False
            if same:
                stateful = checked[i][2]
            else:
                hp, stateful = self._checked_values(i, group)
            # one kernel call per dtype over the group's arrays (gathered in
            # one C loop; params without a state get one first, strided
            # params are updated through a contiguous copy)
            buckets, writeback = _engine_core._group_tensors(
                group["params"], self.state._d if stateful else None, self._roles, self._counted,
                self._new_states, group)
            for datas, grads, states, roles, steps in buckets:
                self._update(hp, datas, grads, states, roles, steps)
            if writeback is not None:
                for data, work in writeback:
                    data[...] = work
        return loss

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = tuple(cls._hyper)
        # itemgetter of two or more names returns the tuple in one C call
        cls._hyper_values = staticmethod(itemgetter(*names) if len(names) > 1 else
                                         lambda group: tuple(group[n] for n in names))

    @staticmethod
    def _hyper_values(group):
        return ()

    def _checked_values(self, i, group):
        """Validates group (param_groups[i]) and records the values: users
        and schedulers may set group["lr"] etc. at any time, so step()
        compares the values with the recorded ones, a tuple comparison.  A
        list value (betas=[...]) is recorded as a tuple, never equal to the
        list: such a group is validated on every step, as an in-place change
        of the list could not be seen otherwise."""
        self._validate(group)
        return self._record(i, group)

    def _record(self, i, group):
        hp = self._hyper_values(group)
        frozen = tuple(tuple(v) if isinstance(v, list) else v for v in hp)
        checked = self._checked
        del checked[len(self.param_groups):]
        while len(checked) <= i:
            checked.append((None, None, None))
        stateful = not self._stateless(hp)
        checked[i] = (group, frozen, stateful)
        return hp, stateful

    def _stateless(self, hp):
        """True where the update keeps no state (SGD without momentum)."""
        return False

    _roles = ()         # the state arrays _update takes, one list per name
    _counted = True     # whether the state has a "step" count

    def _new_states(self, group, indices, datas):
        """The states of group["params"][i] for i in indices, params that
        have a gradient and no state yet (datas: their arrays)."""
        params = group["params"]
        states = [self.state[params[i]] for i in indices]
        self._init_states(datas, states, group)
        return states

    # ---- state_dict ---------------------------------------------------------
    def state_dict(self):
        """{'state': {index: state}, 'param_groups': [{..., 'params': [index]}]},
        PyTorch's layout: params are numbered in group order; state arrays
        are the live arrays (copy.deepcopy the result to keep a snapshot)."""
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for p in g["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a state_dict() of an optimizer over params of the same
        shapes; arrays are copied (cast to each param's dtype)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for i, (ours, theirs) in enumerate(zip(self.param_groups, saved_groups)):
            if len(ours["params"]) != len(theirs["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) that doesn't match the "
                                 f"size of optimizer's group: {len(theirs['params'])} vs {len(ours['params'])}")
        id_map = {}
        for ours, theirs in zip(self.param_groups, saved_groups):
            id_map.update(zip(theirs["params"], ours["params"]))
        new_state = _State()
        for k, s in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            copied = {}
            for name, value in s.items():
                if name == "step":
                    value = float(np.asarray(value))
                elif isinstance(value, np.ndarray):
                    if value.shape != p.data.shape:
                        raise ValueError(f"state {name!r} of param {k} has shape {value.shape} but the param has "
                                         f"shape {p.data.shape}")
                    value = np.array(value, dtype=p.data.dtype, order="C", copy=True)
                elif value is not None and not isinstance(value, (int, float, bool)):
                    value = float(np.asarray(value))
                copied[name] = value
            new_state[p] = copied
        new_groups = []
        for ours, theirs in zip(self.param_groups, saved_groups):
            g = {k: v for k, v in theirs.items() if k != "params"}
            g["params"] = ours["params"]
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            self._validate(g)
            new_groups.append(g)
        self.state = new_state
        self.param_groups = new_groups
        self._checked = []

    # ---- subclass hooks ------------------------------------------------------
    def _validate(self, group):
        raise NotImplementedError

    def _update(self, hp, params, grads, states, roles, steps):
        raise NotImplementedError


_commit_steps = _engine_core._commit_steps


def _arena(arrays, fill=0.0, empty=False):
    """New arrays shaped like `arrays` (zeros, `fill`, or uninitialised), as
    64-byte-aligned views of one buffer per dtype.  A step kernel walks a
    group's tensors in order, so their state then streams from one region
    (and NumPy backs buffers of 4 MB and more with huge pages) instead of one
    small allocation per tensor: Adam on ViT-Tiny's 152 tensors measured
    ~15-20% faster single-threaded this way."""
    out = [None] * len(arrays)
    by_dtype = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(a.dtype, []).append(i)
    for dtype, idx in by_dtype.items():
        line = max(1, 64 // dtype.itemsize)
        offsets, total = [], 0
        for i in idx:
            offsets.append(total)
            total += -(-arrays[i].size // line) * line
        if empty:
            buf = np.empty(total + line, dtype)
        elif fill == 0:
            buf = np.zeros(total + line, dtype)
        else:
            buf = np.full(total + line, fill, dtype)
        start = (-buf.ctypes.data % 64) // dtype.itemsize
        for i, o in zip(idx, offsets):
            a = arrays[i]
            out[i] = buf[start + o:start + o + a.size].reshape(a.shape)
    return out


def _state_arrays(states, key, params):
    """state[key] of each param, created as zeros where missing (a buffer
    an option added after the state was created, e.g. amsgrad)."""
    out = []
    for p, s in zip(params, states):
        a = s.get(key)
        if a is None:
            a = s[key] = np.zeros_like(p)
        out.append(a)
    return out


class SGD(Optimizer):
    r"""SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)

    PyTorch's algorithm (seed 000 §1.3.1-2, seed 001 §10.1), per element:

        g = -∇ if maximize else ∇;  g += weight_decay · θ
        b₁ = g;  b_t = momentum · b_{t-1} + (1 - dampening) · g     (momentum ≠ 0)
        g = g + momentum · b_t  (nesterov)  or  g = b_t
        θ ← θ - lr · g

    Seed 000 §1.3.2 writes momentum as an exponential average,
    v_t = β v_{t-1} + (1 - β) ∇, θ ← θ - η v_t: that is
    ``SGD(params, lr=η, momentum=β, dampening=β)``, except that, as in
    PyTorch, the first step sets v₁ = ∇ rather than (1 - β)∇ (the average
    starts from the first gradient instead of from 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")

    def _validate(self, group):
        _check_lr(group["lr"])
        _check_nonneg(group["momentum"], "momentum value")
        _real(group["dampening"], "dampening")
        _check_nonneg(group["weight_decay"], "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _stateless(self, hp):
        return hp[1] == 0

    _roles = ("momentum_buffer",)
    _counted = False  # the momentum buffer is created by _update, at a param's first step

    def _update(self, hp, params, grads, states, roles, steps):
        lr, mom, dampening, weight_decay, nesterov, maximize = hp
        if mom == 0:
            _kernels._sgd_step_p(params, grads, None, lr, 0.0, dampening, weight_decay, nesterov, maximize, None)
            return
        bufs = roles[0]
        if all(map(is_not, bufs, repeat(None))):
            _kernels._sgd_step_p(params, grads, bufs, lr, mom, dampening, weight_decay, nesterov, maximize, None)
            return
        # a param's first step: its buffer is created here, filled by the
        # kernel with the gradient ("fresh"), and stored only once the kernel
        # has run
        fresh = [b is None for b in bufs]
        missing = [i for i, f in enumerate(fresh) if f]
        new = []
        for i, b in zip(missing, _arena([params[i] for i in missing], empty=True)):
            bufs[i] = b
            new.append((states[i], b))
        _kernels._sgd_step_p(params, grads, bufs, lr, mom, dampening, weight_decay, nesterov, maximize, fresh)
        for s, b in new:
            s["momentum_buffer"] = b


class Adagrad(Optimizer):
    r"""Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *, maximize=False, eps_inside_sqrt=False)

    PyTorch's algorithm, per element, t the step:

        g = -∇ if maximize else ∇;  g += weight_decay · θ
        η_t = lr / (1 + (t - 1) · lr_decay)
        G_t = G_{t-1} + g²          (G₀ = initial_accumulator_value)
        θ ← θ - η_t · g / (√G_t + ε)

    Seed 000 §1.3.3 puts ε inside the root, θ ← θ - η g / √(G_t + ε):
    ``Adagrad(..., eps_inside_sqrt=True)``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False, eps_inside_sqrt=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize, eps_inside_sqrt=eps_inside_sqrt))

    _hyper = ("lr", "lr_decay", "weight_decay", "eps", "maximize", "eps_inside_sqrt", "initial_accumulator_value")

    def _validate(self, group):
        _check_lr(group["lr"])
        _check_nonneg(group["lr_decay"], "lr_decay value")
        _check_nonneg(group["weight_decay"], "weight_decay value")
        _check_nonneg(group["initial_accumulator_value"], "initial_accumulator_value")
        _check_eps(group["eps"])

    _eager = True

    def _state_spec(self, group):
        return (("sum", group["initial_accumulator_value"]),)

    _roles = ("sum",)

    def _update(self, hp, params, grads, states, roles, steps):
        lr, lr_decay, weight_decay, eps, maximize, eps_inside_sqrt, _ = hp
        _kernels._adagrad_step_p(params, grads, roles[0], steps, lr, lr_decay, weight_decay, eps, maximize,
                                 eps_inside_sqrt)
        _commit_steps(states, steps)


class RMSprop(Optimizer):
    r"""RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *, maximize=False, eps_inside_sqrt=False)

    PyTorch's algorithm, per element:

        g = -∇ if maximize else ∇;  g += weight_decay · θ
        v_t = α v_{t-1} + (1 - α) g²
        centered: ḡ_t = α ḡ_{t-1} + (1 - α) g,  ṽ = v_t - ḡ_t²  (else ṽ = v_t)
        d = √ṽ + ε
        momentum > 0: b_t = momentum · b_{t-1} + g / d,  θ ← θ - lr · b_t
        otherwise:    θ ← θ - lr · g / d

    Seed 000 §1.3.4, E[g²]_t = β E[g²]_{t-1} + (1 - β) g², θ ← θ - η g / √(E[g²]_t + ε),
    is ``RMSprop(params, lr=η, alpha=β, eps=ε, eps_inside_sqrt=True)``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False, eps_inside_sqrt=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      eps_inside_sqrt=eps_inside_sqrt))

    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "eps_inside_sqrt")

    def _validate(self, group):
        _check_lr(group["lr"])
        _check_eps(group["eps"])
        _check_nonneg(group["momentum"], "momentum value")
        _check_nonneg(group["weight_decay"], "weight_decay value")
        if not 0.0 <= _real(group["alpha"], "alpha value") <= 1.0:
            raise ValueError(f"Invalid alpha value: {group['alpha']!r} (must be in [0, 1])")

    def _state_spec(self, group):
        return ((("square_avg", 0),) + ((("momentum_buffer", 0),) if group["momentum"] > 0 else ())
                + ((("grad_avg", 0),) if group["centered"] else ()))

    _roles = ("square_avg",)

    def _update(self, hp, params, grads, states, roles, steps):
        lr, alpha, eps, weight_decay, mom, centered, maximize, eps_inside_sqrt = hp
        bufs = _state_arrays(states, "momentum_buffer", params) if mom else None
        avgs = _state_arrays(states, "grad_avg", params) if centered else None
        _kernels._rmsprop_step_p(params, grads, roles[0], bufs, avgs, lr, alpha, eps, weight_decay, mom, centered,
                                 maximize, eps_inside_sqrt)
        _commit_steps(states, steps)


class Adam(Optimizer):
    r"""Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, maximize=False, eps_inside_sqrt=False)

    PyTorch's algorithm, per element, t the step (bias corrections in double,
    once per tensor and step):

        g = -∇ if maximize else ∇;  g += weight_decay · θ   (L2, coupled)
        m_t = β₁ m_{t-1} + (1 - β₁) g;   v_t = β₂ v_{t-1} + (1 - β₂) g²
        amsgrad: v̂max_t = max(v̂max_{t-1}, v_t), used in place of v_t
        θ ← θ - lr / (1 - β₁ᵗ) · m_t / (√v_t / √(1 - β₂ᵗ) + ε)

    i.e. θ ← θ - lr · m̂_t / (√v̂_t + ε).  Seed 000 §1.3.5 puts ε inside the
    root, θ ← θ - η m̂_t / √(v̂_t + ε): ``Adam(..., eps_inside_sqrt=True)``.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, eps_inside_sqrt=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, eps_inside_sqrt=eps_inside_sqrt))

    _hyper = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "eps_inside_sqrt")

    def _validate(self, group):
        _check_lr(group["lr"])
        _check_eps(group["eps"])
        _check_betas(group["betas"])
        _check_nonneg(group["weight_decay"], "weight_decay value")

    def _state_spec(self, group):
        return (("exp_avg", 0), ("exp_avg_sq", 0)) + ((("max_exp_avg_sq", 0),) if group["amsgrad"] else ())

    _roles = ("exp_avg", "exp_avg_sq")

    def _update(self, hp, params, grads, states, roles, steps):
        lr, (b1, b2), eps, weight_decay, amsgrad, maximize, eps_inside_sqrt = hp
        vmax = _state_arrays(states, "max_exp_avg_sq", params) if amsgrad else None
        _kernels._adam_step_p(params, grads, roles[0], roles[1], steps, vmax, lr, b1, b2, eps, weight_decay, amsgrad,
                              self._decoupled, maximize, eps_inside_sqrt)
        _commit_steps(states, steps)


class AdamW(Adam):
    r"""AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False, eps_inside_sqrt=False)

    Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch's AdamW):
    first θ ← θ (1 - lr · weight_decay), then Adam's step without the L2
    term.  Seed 000 §1.3.6 writes θ ← θ - η (m̂/√(v̂ + ε) + λθ):
    ``AdamW(params, lr=η, weight_decay=λ, eps_inside_sqrt=True)`` (the decay
    is applied to θ before the Adam step, as in PyTorch; both use θ_t).
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, eps_inside_sqrt=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, eps_inside_sqrt=eps_inside_sqrt)


class LAMB(Optimizer):
    r"""LAMB(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0, *, maximize=False, eps_inside_sqrt=False)

    You et al. 2019 ("Large Batch Optimization for Deep Learning"), per
    tensor, t the step:

        m_t, v_t as in Adam;  m̂ = m_t / (1 - β₁ᵗ),  v̂ = v_t / (1 - β₂ᵗ)
        r = m̂ / (√v̂ + ε) + weight_decay · θ      (decoupled decay)
        θ ← θ - lr · (‖θ‖ / ‖r‖) · r              (ratio 1 where a norm is 0)

    Seed 000 §1.3.7 writes r = m̂ / √(v̂ + ε) with no decay:
    ``LAMB(params, lr=η, eps=ε, eps_inside_sqrt=True)``.  The norms are
    summed in a fixed order, so results do not depend on the thread count.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0, *, maximize=False,
                 eps_inside_sqrt=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      eps_inside_sqrt=eps_inside_sqrt))

    _hyper = ("lr", "betas", "eps", "weight_decay", "maximize", "eps_inside_sqrt")
    _validate = Adam._validate

    def _state_spec(self, group):
        return (("exp_avg", 0), ("exp_avg_sq", 0))

    _roles = ("exp_avg", "exp_avg_sq")

    def _update(self, hp, params, grads, states, roles, steps):
        lr, (b1, b2), eps, weight_decay, maximize, eps_inside_sqrt = hp
        _kernels._lamb_step_p(params, grads, roles[0], roles[1], steps, lr, b1, b2, eps, weight_decay, maximize,
                              eps_inside_sqrt)
        _commit_steps(states, steps)
