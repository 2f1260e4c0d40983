"""nc.save / nc.load: state dicts in the safetensors format, NumPy only.

Layout (https://github.com/huggingface/safetensors, "Format"): an unsigned
64-bit little-endian header length N, N bytes of UTF-8 JSON mapping each name
to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
byte after the header, tensors packed in order), an optional "__metadata__"
entry of str -> str, then the raw little-endian C-order data.

Loading treats the file as untrusted.  The whole header is read and checked
(_read_header, _check_entries) before any tensor memory is allocated: a
bounded header size, UTF-8 JSON without duplicate names, known dtypes,
shapes whose byte counts equal their ranges, and ranges that tile the data
section exactly (in order, no overlap, no gap, ending at the end of the
file), as the reference loader requires.  Nothing in a file is executed or
unpickled; every violation is a ValueError naming the file, the tensor and
the problem.

Saving is atomic: the file is written under a temporary name in the target's
folder, flushed to disk, then renamed over the target, so a crash mid-save
leaves the previous file whole.
"""
import json
import os
import secrets
import struct
import sys

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
# dtypes of the format that NumPy has no type for
_UNSUPPORTED_DTYPES = ("BF16", "F8_E5M2", "F8_E4M3")

# the reference loader's limit (safetensors' MAX_HEADER_SIZE, 100_000_000
# bytes): a real header of even a very large model is a few MB
MAX_HEADER_SIZE = 100_000_000
_MAX_NDIM = 64                      # NumPy's limit on dimensions
_MAX_BYTES = sys.maxsize            # what one NumPy array can hold (npy_intp)
_METADATA = "__metadata__"


# ---- saving ----------------------------------------------------------------
def _as_array(value, name):
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, np.ndarray):
        raise TypeError(f"state_dict[{name!r}] must be a NumPy array or Tensor, got {type(value).__name__}")
    if value.dtype.newbyteorder("=") not in _TO_SAFETENSORS:
        raise TypeError(f"state_dict[{name!r}] has dtype {value.dtype}, which safetensors cannot store")
    # little-endian C order, as the format stores it (a copy only when needed)
    # (astype, not ascontiguousarray, which would make a 0-d array 1-d)
    return value.astype(value.dtype.newbyteorder("<"), order="C", copy=False)


def _serialise_header(arrays, metadata):
    """The padded JSON header of {name: little-endian C array}."""
    header, offset = {}, 0
    if metadata:
        header[_METADATA] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in arrays.items():
        header[name] = {"dtype": _TO_SAFETENSORS[arr.dtype.newbyteorder("=")],
                        "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % 8)   # keep the data 8-byte aligned, as the reference writer does


def _fsync_dir(folder):
    """Make a rename in `folder` durable (POSIX; Windows cannot open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomically(path, chunks):
    """Write the byte buffers `chunks` to `path` all or nothing: to a fresh
    temporary file in the same folder, fsync, rename over `path`, fsync the
    folder.  A process killed at any point leaves either the old file or the
    new one at `path`, never a mixture; at worst a hidden temporary file
    stays behind, under a name no later save reuses."""
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse another file; mode 0o666 lets the umask
    # decide the permissions, as open(path, "wb") would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def save(state_dict, path, metadata=None):
    """Write ``state_dict`` (name -> array or Tensor) to ``path`` as safetensors.

    A nested state dict (model and optimizer state_dicts, ints, floats) is
    stored flattened, see neurocore._tree.  The write is atomic: ``path``
    holds either its previous content or the complete new file, even if the
    process dies during the call.
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    state_dict, metadata = flatten(state_dict, metadata)
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict keys must be str, got {name!r}")
        if name == _METADATA:
            raise ValueError(f"state_dict key {_METADATA!r} is reserved by the safetensors format")
        arrays[name] = _as_array(value, name)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    text = _serialise_header(arrays, metadata)
    chunks = [struct.pack("<Q", len(text)), text]
    chunks += [arr.reshape(-1).view(np.uint8) for arr in arrays.values() if arr.size]
    _write_atomically(path, chunks)


# ---- loading ---------------------------------------------------------------
def _no_duplicates(pairs):
    """json object_pairs_hook: a JSON object with a name twice is an error
    (json.loads would keep the last silently, so two readers of one file
    could see different tensors)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate name {key!r} in the header")
        out[key] = value
    return out


def _read_header(f, path, file_size):
    """Read and parse the JSON header of an open safetensors file.
    Returns (header dict, byte offset of the data section)."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file ({file_size} bytes)")
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER_SIZE:
        raise ValueError(f"{path}: header length {n} exceeds the limit of {MAX_HEADER_SIZE} bytes")
    if n > file_size - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file size {file_size}")
    raw = f.read(n)
    if len(raw) != n:
        raise ValueError(f"{path}: file ended inside the header ({len(raw)} of {n} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: the safetensors header is not UTF-8 ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:   # bad JSON, duplicates, huge int literals, deep nesting
        raise ValueError(f"{path}: malformed safetensors header ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header must be a JSON object, got {type(header).__name__}")
    return header, 8 + n


def _check_metadata(header, path):
    """The optional __metadata__ entry: a JSON object of str -> str."""
    metadata = header.get(_METADATA, {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: {_METADATA} must be a JSON object of strings, got {metadata!r:.80}")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise ValueError(f"{path}: {_METADATA}[{key!r}] must be a string, got {value!r:.80}")
    return metadata


def _check_entry(name, info, path):
    """One tensor entry -> (dtype, shape, begin, end), every field checked."""
    def bad(problem):
        return ValueError(f"{path}: tensor {name!r}: {problem}")
    if not isinstance(info, dict):
        raise bad(f"entry must be a JSON object, got {info!r:.80}")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in info:
            raise bad(f"entry has no {key!r}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code in _UNSUPPORTED_DTYPES:
        raise bad(f"dtype {code} has no NumPy equivalent")
    if not isinstance(code, str) or code not in _FROM_SAFETENSORS:
        raise bad(f"unknown dtype {code!r:.40}")
    dtype = _FROM_SAFETENSORS[code]
    # exact non-negative JSON integers only: no bools, floats or strings
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"shape must be a list of non-negative integers, got {shape!r:.80}")
    if len(shape) > _MAX_NDIM:
        raise bad(f"shape has {len(shape)} dimensions, more than NumPy's {_MAX_NDIM}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(v) is int and v >= 0 for v in offsets)):
        raise bad(f"data_offsets must be two non-negative integers, got {offsets!r:.80}")
    begin, end = offsets
    if begin > end:
        raise bad(f"data_offsets {offsets} run backwards")
    # overflow-checked: Python ints are exact, and every partial product of
    # the non-zero dimensions must fit one array's byte count
    nbytes = dtype.itemsize
    for d in shape:
        if d > _MAX_BYTES:
            raise bad(f"shape {shape} has a dimension beyond {_MAX_BYTES}")
        if d:
            nbytes *= d
            if nbytes > _MAX_BYTES:
                raise bad(f"shape {shape} of {code} overflows the largest array size")
    if 0 in shape:
        nbytes = 0
    if end - begin != nbytes:
        raise bad(f"data_offsets {offsets} span {end - begin} bytes but shape {shape} "
                  f"of {code} needs {nbytes}")
    return dtype, tuple(shape), begin, end


def _check_entries(header, path, data_size):
    """Every tensor entry of the header, checked alone and together.
    Returns [(name, dtype, shape, begin, end)] in data order."""
    entries = [(name,) + _check_entry(name, info, path)
               for name, info in header.items() if name != _METADATA]
    entries.sort(key=lambda e: (e[3], e[4]))
    position = 0
    for name, _, _, begin, end in entries:
        if begin < position:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] overlap the "
                             f"previous tensor, which ends at {position}")
        if begin > position:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] leave a gap "
                             f"after byte {position} of the data")
        if end > data_size:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] run past the "
                             f"end of the data ({data_size} bytes)")
        position = end
    if position != data_size:
        raise ValueError(f"{path}: the tensors cover {position} bytes but the data section has "
                         f"{data_size}")
    return entries


def _read_tensor(f, dtype, shape, path, name):
    """Read one validated tensor at the file's position into a fresh,
    writable native-byte-order array."""
    arr = np.empty(shape, dtype=dtype.newbyteorder("<"))
    if arr.nbytes:
        got = f.readinto(arr.reshape(-1).view(np.uint8))
        if got != arr.nbytes:             # the file shrank since it was checked
            raise ValueError(f"{path}: tensor {name!r}: file ended after {got} of {arr.nbytes} bytes")
    return arr if arr.dtype.isnative else arr.astype(dtype)


def load(path):
    """Read a safetensors file into a dict of name -> NumPy array (native byte
    order), or the nested state dict that ``save`` flattened into it.

    The file may come from anywhere: its header is validated in full before
    any tensor is allocated, and a malformed file raises ValueError.
    """
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header, data_start = _read_header(f, path, file_size)
        metadata = _check_metadata(header, path)
        entries = _check_entries(header, path, file_size - data_start)
        out = {}
        for name, dtype, shape, begin, _ in entries:
            f.seek(data_start + begin)
            out[name] = _read_tensor(f, dtype, shape, path, name)
    # the header's order, as the state dict was written
    out = {name: out[name] for name in header if name != _METADATA}
    return unflatten(out, metadata if _METADATA in header else None, path)
