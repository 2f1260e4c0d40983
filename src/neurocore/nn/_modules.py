"""Module, Parameter and the basic layers (PyTorch's names and defaults)."""
import math
from collections import OrderedDict, namedtuple
from itertools import chain
from operator import attrgetter

import numpy as np

from neurocore import _tensor
from neurocore import functional as F
from neurocore._grad_mode import no_grad
from neurocore._tensor import Tensor
from neurocore._tensor_ops import _check_negative_slope

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "Identity", "Linear", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "Dropout", "Residual", "MLP",
           "mc_dropout_predict"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LinearChain = F._ops.LinearChain
_CHAIN_RUN = _LinearChain.run
_WEIGHT_BIAS = attrgetter("weight", "bias")
# counts every attribute assignment and deletion on any Module: what was read
# from modules' attributes (nn.MLP's tuple of its layers' params) is current
# while the count is unchanged
_ATTR_EPOCH = [0]


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class Parameter(Tensor):
    """A Tensor that a Module registers as one of its parameters (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer.

    Assigning a Parameter or a Module to an attribute registers it, so
    ``parameters()``, ``state_dict()``, ``train()``/``eval()`` and
    ``zero_grad()`` reach it.  Subclasses define ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call Module.__init__() before assigning attributes")
        _ATTR_EPOCH[0] += 1
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        _ATTR_EPOCH[0] += 1
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is None:
            _ATTR_EPOCH[0] += 1
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name, array):
        """A non-trainable array saved in the state_dict (NumPy array or None)."""
        setattr(self, name, array)
        self._buffers[name] = array

    def add_module(self, name, module):
        setattr(self, name, module)

    # ---- calling -----------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- traversal -----------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def children(self):
        return iter(m for m in self._modules.values() if m is not None)

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_prefix}.{name}" if module_prefix else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    # ---- modes and gradients -----------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, dtype):
        """Cast every parameter and buffer to ``dtype`` in place (returns self)."""
        dtype = _check_dtype(dtype)
        for m in self.modules():
            for name, p in list(m._parameters.items()):
                if p is not None and p.dtype != dtype:
                    setattr(m, name, Parameter(p.data.astype(dtype), p.requires_grad))
        return self

    # ---- state ---------------------------------------------------------------
    def state_dict(self):
        """Names ("0.weight", "fc1.bias", ...) to the parameters' NumPy arrays."""
        out = OrderedDict()
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        key = f"{prefix}.{name}" if prefix else name
                        out[key] = value.data if isinstance(value, Tensor) else value
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters; with ``strict`` the names must match exactly.

        Nothing is loaded when a check fails (RuntimeError naming the missing,
        unexpected or mis-shaped entries)."""
        targets = OrderedDict()
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        targets[f"{prefix}.{name}" if prefix else name] = value
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        errors = []
        if strict and missing:
            errors.append(f"missing keys: {missing}")
        if strict and unexpected:
            errors.append(f"unexpected keys: {unexpected}")
        arrays = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            want = target.data.shape if isinstance(target, Tensor) else np.shape(target)
            if value.shape != want:
                errors.append(f"size mismatch for {key}: checkpoint shape {value.shape}, model shape {want}")
            arrays[key] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(errors))
        for key, value in arrays.items():
            target = targets[key]
            dest = target.data if isinstance(target, Tensor) else target
            dest[...] = value                   # in place: optimizers keep their references
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("
        return head + "\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ..."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential takes Modules, got {type(m).__name__} at position {i}")
                self.add_module(str(i), m)

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return Sequential(*mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x Wᵀ + b.

    Args: in_features, out_features, bias=True, dtype=np.float32.
    Shape: input (..., in_features) -> output (..., out_features); weight
    (out_features, in_features), bias (out_features,).
    Init (PyTorch's): kaiming_uniform(a=√5) for W, i.e. U(-1/√in, 1/√in),
    and the same bound for b; drawn from nc.manual_seed's generator.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = _check_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        gen = _tensor._generator
        self.weight.data[...] = gen.uniform(-bound, bound, self.weight.shape)
        if self.bias is not None:
            self.bias.data[...] = gen.uniform(-bound, bound, self.bias.shape)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _check_negative_slope(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Dropout(Module):
    """Inverted dropout with probability ``p`` while training; identity in eval()."""

    def __init__(self, p=0.5):
        super().__init__()
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Residual(Module):
    """x + module(x) (seed 001 §13): the identity path carries the gradient unchanged."""

    def __init__(self, module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual wraps a Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x):
        return x + self.module(x)


_ACTIVATION_MODULES = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh,
    "gelu": GELU, "gelu_tanh": lambda: GELU("tanh"), "identity": Identity,
}


class MLP(Sequential):
    """Linear layers of the given ``sizes`` with ``activation`` (and dropout) between them.

    ``MLP([784, 256, 10])`` is Sequential(Linear(784, 256), ReLU(),
    Linear(256, 10)); with ``dropout > 0`` a Dropout follows every hidden
    activation.  The output layer has no activation (logits).  Each
    Linear+activation pair runs as one fused op.
    """

    def __init__(self, sizes, activation="relu", dropout=0.0, dtype=np.float32, bias=True):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least two sizes (input and output), got {sizes}")
        if activation not in _ACTIVATION_MODULES:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(_ACTIVATION_MODULES)}")
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout probability must be in [0, 1), got {dropout!r}")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATION_MODULES[activation]())
                if dropout > 0:
                    layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.activation = activation

    def __setattr__(self, name, value):
        object.__setattr__(self, "_plan", None)       # children may change: rebuild the fused plan
        super().__setattr__(name, value)

    def forward(self, x):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._fused_plan()
            object.__setattr__(self, "_plan", plan)
        linears, activations, slope, dropouts, params = plan
        if linears is not None and (not dropouts or not any(d.training and d.p > 0 for d in dropouts)):
            # the whole stack as one LinearChain op, over the layers' params
            # as they are now (read again after any module attribute changed)
            if params[1] != _ATTR_EPOCH[0]:
                params[0] = tuple(chain.from_iterable(map(_WEIGHT_BIAS, linears)))
                params[1] = _ATTR_EPOCH[0]
            return _CHAIN_RUN(x, params[0], activations, slope)
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(m, Linear) and isinstance(nxt, _FUSABLE):
                act, slope = _fused_name(nxt)
                x = F.linear(x, m.weight, m.bias, activation=act, negative_slope=slope)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def _fused_plan(self):
        """(linears, activations, slope, dropouts, params): the whole stack as one
        LinearChain whenever none of ``dropouts`` is active; linears is None if
        it cannot be fused; params: [the layers' params, _ATTR_EPOCH when read]."""
        mods = list(self._modules.values())
        linears, activations, dropouts, slope = [], [], [], None
        unfusable = (None, None, None, (), None)
        i = 0
        while i < len(mods):
            if type(mods[i]) is not Linear:
                return unfusable
            linears.append(mods[i])
            act = "identity"
            i += 1
            while i < len(mods) and type(mods[i]) is not Linear:
                m = mods[i]
                i += 1
                if type(m) is Identity:
                    continue
                if type(m) is Dropout:
                    dropouts.append(m)
                    continue
                if act != "identity" or not isinstance(m, _FUSABLE):
                    return unfusable
                act, s = _fused_name(m)
                if act == "leaky_relu":
                    if slope is not None and slope != s:
                        return unfusable
                    slope = s
            activations.append(act)
        return tuple(linears), tuple(activations), 0.01 if slope is None else slope, tuple(dropouts), [None, -1]


_FUSABLE = (ReLU, LeakyReLU, Sigmoid, Tanh, GELU)


def _fused_name(module):
    if isinstance(module, LeakyReLU):
        return "leaky_relu", module.negative_slope
    if isinstance(module, GELU):
        return ("gelu" if module.approximate == "none" else "gelu_tanh"), 0.01
    return {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}[type(module)], 0.01


def mc_dropout_predict(model, x, samples=30):
    """Monte Carlo dropout (seed 001 §12): ``samples`` stochastic forward passes.

    Dropout layers stay active (the rest of the model is in eval mode), no
    graph is recorded; returns (mean, std) over the samples as Tensors with
    the model output's shape (std with ddof=0).
    """
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, Dropout):
            object.__setattr__(m, "training", True)
    try:
        with no_grad():
            outs = np.stack([model(x).data for _ in range(samples)])
    finally:
        for m, mode in modes.items():
            object.__setattr__(m, "training", mode)
    return Tensor(outs.mean(axis=0)), Tensor(outs.std(axis=0))
