"""Nested state dicts <-> the flat name -> array mapping of a safetensors file.

A training checkpoint is a tree: ``{"model": model.state_dict(), "optimizer":
opt.state_dict(), "epoch": 3}``, where an optimizer's state_dict holds
``{"state": {0: {"step": 10.0, "exp_avg": array, ...}}, "param_groups":
[{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]}``.  safetensors
stores only named arrays plus a str -> str ``__metadata__`` map, so:

* every array (or Tensor) becomes a tensor entry named by its path, the keys
  joined with dots: ``optimizer.state.0.exp_avg``;
* every other leaf (int, float, bool, str, None) becomes a ``__metadata__``
  entry under its path, its value JSON-encoded: ``"optimizer.param_groups.0.lr":
  "0.001"`` (so other readers see the hyperparameters as text);
* one more entry, ``neurocore.tree``, records the shape of the tree (dict,
  list or tuple, and whether each key is an int or a str) so that ``load``
  rebuilds it exactly, int keys and tuples included.

A flat dict of str -> array is stored as before, without ``neurocore.tree``,
so such files stay plain safetensors.  This module knows nothing of the file
format; neurocore._io calls ``flatten`` before writing and ``unflatten``
after reading.
"""
import json
import math

import numpy as np

from neurocore._tensor import Tensor

__all__ = ["flatten", "unflatten", "TREE_KEY"]

TREE_KEY = "neurocore.tree"


def _is_array(value):
    return isinstance(value, (np.ndarray, Tensor))


def _is_flat(state):
    return all(isinstance(k, str) and _is_array(v) for k, v in state.items())


def _encode_scalar(value, path):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value)
    if isinstance(value, float):
        # JSON has no inf/nan: keep them as the strings float() reads back
        return json.dumps(value if math.isfinite(value) else {"float": repr(value)})
    raise TypeError(f"state_dict entry {path!r} has type {type(value).__name__}: nc.save stores arrays, "
                    f"Tensors, ints, floats, bools, strs, None, and dicts, lists and tuples of them")


def _decode_scalar(text, path):
    if not isinstance(text, str):
        raise ValueError(f"metadata entry {path!r} must be a string, got {type(text).__name__}")
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"metadata entry {path!r} is not valid JSON: {text[:80]!r}") from None
    if isinstance(value, dict):
        if set(value) != {"float"} or not isinstance(value["float"], str):
            raise ValueError(f"metadata entry {path!r} holds an unknown value {value!r}")
        return float(value["float"])
    if isinstance(value, list):
        raise ValueError(f"metadata entry {path!r} holds a list; lists are stored element by element")
    return value


def flatten(state, metadata=None):
    """(arrays, metadata): ``state`` (a possibly nested dict) as a flat
    name -> array dict and the str -> str metadata to store with it.

    ``metadata`` (str -> str) is the caller's own; its keys must not clash
    with the paths of the tree."""
    if not isinstance(state, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state).__name__}")
    user = {} if metadata is None else {str(k): str(v) for k, v in dict(metadata).items()}
    if _is_flat(state):
        return dict(state), user
    if TREE_KEY in user:
        raise ValueError(f"metadata key {TREE_KEY!r} is reserved for nested state dicts")
    arrays, meta = {}, {}

    def walk(node, path):
        if _is_array(node):
            if path in arrays or path in meta:
                raise ValueError(f"two entries of the state dict flatten to the same name {path!r}")
            arrays[path] = node
            return {"a": 1}
        if isinstance(node, dict):
            items = []
            for k, v in node.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"state_dict keys must be str or int, got {k!r} in {path or 'the top level'!r}")
                items.append([k, walk(v, f"{path}.{k}" if path else str(k))])
            return {"d": items}
        if isinstance(node, (list, tuple)):
            children = [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(node)]
            return {"t" if isinstance(node, tuple) else "l": children}
        if path in arrays or path in meta:
            raise ValueError(f"two entries of the state dict flatten to the same name {path!r}")
        meta[path] = _encode_scalar(node, path)
        return {"m": 1}

    tree = walk(state, "")
    clash = set(user) & set(meta)
    if clash:
        raise ValueError(f"metadata keys {sorted(clash)} clash with entries of the state dict")
    meta.update(user)
    meta[TREE_KEY] = json.dumps(tree, separators=(",", ":"))
    return arrays, meta


def unflatten(arrays, metadata, source="the file"):
    """The state dict that ``flatten`` turned into (arrays, metadata); a file
    without ``neurocore.tree`` is returned as its flat dict of arrays."""
    if not metadata or TREE_KEY not in metadata:
        return arrays
    try:
        tree = json.loads(metadata[TREE_KEY])
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{source}: metadata {TREE_KEY!r} is not valid JSON") from None
    used = set()

    def build(node, path):
        if not isinstance(node, dict) or len(node) != 1:
            raise ValueError(f"{source}: bad {TREE_KEY!r} entry at {path!r}: {node!r}")
        ((kind, body),) = node.items()
        if kind == "a":
            if path not in arrays:
                raise ValueError(f"{source}: {TREE_KEY!r} names the tensor {path!r}, which the file lacks")
            used.add(path)
            return arrays[path]
        if kind == "m":
            if path not in metadata:
                raise ValueError(f"{source}: {TREE_KEY!r} names the metadata entry {path!r}, which the file lacks")
            return _decode_scalar(metadata[path], path)
        if kind == "d" and isinstance(body, list):
            out = {}
            for item in body:
                if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))):
                    raise ValueError(f"{source}: bad {TREE_KEY!r} dict item at {path!r}: {item!r}")
                k, child = item
                out[k] = build(child, f"{path}.{k}" if path else str(k))
            return out
        if kind in ("l", "t") and isinstance(body, list):
            items = [build(child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(body)]
            return tuple(items) if kind == "t" else items
        raise ValueError(f"{source}: bad {TREE_KEY!r} entry at {path!r}: {node!r}")

    try:
        state = build(tree, "")
    except RecursionError:
        raise ValueError(f"{source}: {TREE_KEY!r} is nested too deeply") from None
    extra = set(arrays) - used
    if extra:
        raise ValueError(f"{source}: tensors {sorted(extra)[:5]} are not part of the tree in {TREE_KEY!r}")
    if not isinstance(state, dict):
        raise ValueError(f"{source}: the tree in {TREE_KEY!r} is not a dict")
    return state
