"""nc.save / nc.load: state dicts in the safetensors format, NumPy only.

Layout (https://github.com/huggingface/safetensors, "Format"): an unsigned
64-bit little-endian header length N, N bytes of UTF-8 JSON mapping each name
to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
byte after the header, tensors packed in order), an optional "__metadata__"
entry of str -> str, then the raw little-endian C-order data.
"""
import json
import struct

import numpy as np

from neurocore._tensor import Tensor
from neurocore._tree import flatten, unflatten

__all__ = ["save", "load"]

_TO_SAFETENSORS = {
    np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.uint16): "U16",
    np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64", np.dtype(np.bool_): "BOOL",
}
_FROM_SAFETENSORS = {v: k for k, v in _TO_SAFETENSORS.items()}


def _as_array(value, name):
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, np.ndarray):
        raise TypeError(f"state_dict[{name!r}] must be a NumPy array or Tensor, got {type(value).__name__}")
    if value.dtype not in _TO_SAFETENSORS:
        raise TypeError(f"state_dict[{name!r}] has dtype {value.dtype}, which safetensors cannot store")
    return value


def save(state_dict, path, metadata=None):
    """Write ``state_dict`` (name -> array or Tensor) to ``path`` as safetensors.

    A nested state dict (model and optimizer state_dicts, ints, floats) is
    stored flattened, see neurocore._tree."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    state_dict, metadata = flatten(state_dict, metadata)
    header, blobs, offset = {}, [], 0
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict keys must be str, got {name!r}")
        arr = _as_array(value, name)
        blob = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _TO_SAFETENSORS[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)       # keep the data 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load(path):
    """Read a safetensors file into a dict of name -> NumPy array (native byte
    order), or the nested state dict that ``save`` flattened into it."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(raw)}")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (ValueError, RecursionError) as e:   # bad UTF-8 or JSON, huge int literals, deep nesting
        raise ValueError(f"{path}: malformed safetensors header ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header must be a JSON object, got {type(header).__name__}")
    if not isinstance(header.get("__metadata__", {}), dict):
        raise ValueError(f"{path}: __metadata__ must be a JSON object, got {header['__metadata__']!r}")
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _FROM_SAFETENSORS[info["dtype"]]
            shape, offsets = info["shape"], info["data_offsets"]
            # exact non-negative JSON integers only: no bools, floats or strings
            if not isinstance(shape, list) or not isinstance(offsets, list) or not all(
                    type(v) is int and v >= 0 for v in shape + offsets):
                raise ValueError
            shape = tuple(shape)
            begin, end = offsets
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: bad header entry for {name!r}: {info!r}") from None
        count = 1
        for d in shape:                 # Python ints: no int64 wrap-around
            count *= d
        if not 0 <= begin <= end <= len(data) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{path}: data_offsets {[begin, end]} of {name!r} do not match "
                             f"shape {shape} and dtype {info['dtype']} (data size {len(data)})")
        arr = np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<"), count=count)
        out[name] = arr.astype(dtype).reshape(shape)
    return unflatten(out, header.get("__metadata__"), path)
