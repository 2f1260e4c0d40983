"""nc.load on files it did not write: every rule of the header check with a
crafted file that breaks exactly that rule, and a seeded fuzz of a valid
file's bytes.  A malformed file must raise ValueError naming the problem
(and the tensor, where one is at fault); nothing else may escape."""
import json
import random
import struct

import numpy as np
import pytest

import neurocore as nc
from neurocore import _io

FUZZ_MUTATIONS = 400


def _file(path, header, data=b"", raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def _load_error(path):
    with pytest.raises(ValueError) as info:
        nc.load(path)
    return str(info.value)


def test_a_valid_crafted_file_loads(tmp_path):
    """The crafted files below differ from this one by one rule each."""
    data = np.arange(2, dtype="<f4").tobytes() + np.arange(3, dtype="<i8").tobytes()
    path = _file(tmp_path / "ok", {"__metadata__": {"format": "np"}, "a": _entry(),
                                   "b": _entry("I64", (3,), (8, 32))}, data)
    out = nc.load(path)
    np.testing.assert_array_equal(out["a"], [0, 1])
    np.testing.assert_array_equal(out["b"], [0, 1, 2])
    assert list(out) == ["a", "b"]


def test_header_size_cap(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(struct.pack("<Q", _io.MAX_HEADER_SIZE + 1) + b"{}")
    assert "exceeds the limit of 100000000 bytes" in _load_error(path)
    path.write_bytes(struct.pack("<Q", 2**64 - 1) + b"{}")
    assert "exceeds the limit" in _load_error(path)


def test_header_must_be_utf8_json_object(tmp_path):
    assert "not UTF-8" in _load_error(_file(tmp_path / "f", None, raw_header=b'{"\xff": 1}'))
    assert "malformed" in _load_error(_file(tmp_path / "f", None, raw_header=b'{"a": '))
    assert "JSON object" in _load_error(_file(tmp_path / "f", [1, 2]))
    # a 5000-digit integer literal and deep nesting are ValueErrors, not crashes
    assert "malformed" in _load_error(_file(tmp_path / "f", None,
                                            raw_header=b'{"a": ' + b"9" * 5000 + b"}"))
    assert "malformed" in _load_error(_file(tmp_path / "f", None,
                                            raw_header=b"[" * 100000 + b"]" * 100000))


def test_duplicate_names(tmp_path):
    text = b'{"w": ' + json.dumps(_entry()).encode() + b', "w": ' + json.dumps(_entry()).encode() + b"}"
    assert "duplicate name 'w'" in _load_error(_file(tmp_path / "f", None, b"\0" * 8, raw_header=text))
    # inside an entry too: two dtypes would make the entry ambiguous
    text = b'{"w": {"dtype": "F32", "dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}'
    assert "duplicate name 'dtype'" in _load_error(_file(tmp_path / "f", None, b"\0" * 8, raw_header=text))


@pytest.mark.parametrize("metadata, problem", [
    ([1, 2], "__metadata__ must be a JSON object"),
    ({"k": 3}, "__metadata__['k'] must be a string"),
    ({"k": {"nested": "x"}}, "__metadata__['k'] must be a string"),
    ({"k": None}, "__metadata__['k'] must be a string"),
])
def test_metadata_is_str_to_str(tmp_path, metadata, problem):
    path = _file(tmp_path / "f", {"__metadata__": metadata, "w": _entry()}, b"\0" * 8)
    assert problem in _load_error(path)


@pytest.mark.parametrize("entry, problem", [
    ([1, 2], "entry must be a JSON object"),
    ({"shape": [2], "data_offsets": [0, 8]}, "no 'dtype'"),
    ({"dtype": "F32", "data_offsets": [0, 8]}, "no 'shape'"),
    ({"dtype": "F32", "shape": [2]}, "no 'data_offsets'"),
    (_entry(dtype="F128"), "unknown dtype 'F128'"),
    (_entry(dtype=["F32"]), "unknown dtype"),
    (_entry(dtype="BF16", offsets=(0, 4)), "BF16 has no NumPy equivalent"),
    (_entry(shape=(-2,)), "non-negative integers"),
    (_entry(shape=(2.0,)), "non-negative integers"),
    (_entry(shape=(True, 2)), "non-negative integers"),
    ({"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}, "non-negative integers"),
    (_entry(shape=(1,) * 65, offsets=(0, 4)), "65 dimensions"),
    (_entry(offsets=(0,)), "two non-negative integers"),
    (_entry(offsets=(0, 8, 16)), "two non-negative integers"),
    (_entry(offsets=(-8, 0)), "two non-negative integers"),
    (_entry(offsets=("0", "8")), "two non-negative integers"),
    (_entry(offsets=(8, 0)), "run backwards"),
    (_entry(shape=(3,)), "span 8 bytes but shape [3] of F32 needs 12"),
    # products beyond any array, checked before they could wrap an int64
    (_entry(shape=(2**32, 2**32, 2**32), offsets=(0, 8)), "overflows the largest array size"),
    (_entry(shape=(0, 2**63), offsets=(0, 0)), "dimension beyond"),
    (_entry(dtype="F64", shape=(0, 2**60), offsets=(0, 0)), "overflows the largest array size"),
])
def test_bad_entry(tmp_path, entry, problem):
    path = _file(tmp_path / "f", {"w": entry}, b"\0" * 8)
    message = _load_error(path)
    assert "tensor 'w'" in message and problem in message, message


def test_zero_size_shape_with_huge_dimension_that_fits_loads(tmp_path):
    path = _file(tmp_path / "f", {"w": _entry(dtype="U8", shape=(0, 2**62), offsets=(0, 0))})
    assert nc.load(path)["w"].shape == (0, 2**62)


@pytest.mark.parametrize("entries, problem", [
    ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))}, "tensor 'b'.*overlap"),
    ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(0, 8))}, "tensor '[ab]'.*overlap"),
    ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(12, 20))}, "tensor 'b'.*gap after byte 8"),
    ({"a": _entry(offsets=(4, 12))}, "tensor 'a'.*gap after byte 0"),
    ({"a": _entry(offsets=(16, 24))}, "tensor 'a'.*gap"),
    ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(8, 16))}, "tensor 'b'.*run past the end"),
    ({"a": _entry(shape=(1,), offsets=(0, 4))}, "cover 4 bytes but the data section has 12"),
    ({}, "cover 0 bytes but the data section has 12"),
])
def test_ranges_tile_the_data(tmp_path, entries, problem):
    path = _file(tmp_path / "f", entries, b"\0" * 12)
    with pytest.raises(ValueError, match=problem):
        nc.load(path)


def test_ranges_in_any_header_order(tmp_path):
    """The format does not order the header's entries; the data does."""
    data = np.array([1, 2], "<f4").tobytes() + np.array([3, 4], "<f4").tobytes()
    path = _file(tmp_path / "f", {"late": _entry(offsets=(8, 16)), "early": _entry(offsets=(0, 8))}, data)
    out = nc.load(path)
    assert list(out) == ["late", "early"]
    np.testing.assert_array_equal(out["early"], [1, 2])
    np.testing.assert_array_equal(out["late"], [3, 4])


def test_file_ending_inside_header(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(struct.pack("<Q", 10) + b"{}")
    assert "exceeds the file size" in _load_error(path)


def test_load_never_unpickles(tmp_path):
    """A pickle payload in the data section or the metadata is inert bytes:
    it loads as numbers or strings and runs nothing."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))
    payload = pickle.dumps(Boom())
    payload += b"\0" * (-len(payload) % 4)
    path = _file(tmp_path / "f", {"__metadata__": {"p": payload.decode("latin-1")},
                                  "w": _entry(dtype="U8", shape=(len(payload),), offsets=(0, len(payload)))},
                 payload)
    out = nc.load(path)
    assert out["w"].tobytes() == payload


def test_big_endian_and_non_native_arrays_save_as_little_endian(tmp_path):
    a = np.arange(6, dtype=">f4").reshape(2, 3)
    nc.save({"a": a, "b": np.arange(3, dtype=">i8")[::-1]}, tmp_path / "be")
    out = nc.load(tmp_path / "be")
    assert out["a"].dtype == np.float32 and out["a"].dtype.isnative
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], [2, 1, 0])


def test_reserved_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="__metadata__"):
        nc.save({"__metadata__": np.ones(2)}, tmp_path / "f")


def _valid_file(tmp_path, nested):
    rng = np.random.default_rng(7)
    state = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5, dtype=np.float64),
             "n": np.array(7, np.int64), "e": np.zeros((0, 3), np.float16), "m": np.array([True, False])}
    path = tmp_path / "valid.safetensors"
    if nested:
        # a training checkpoint: the tree's shape and the scalars live in
        # __metadata__, which the loader parses too
        model = nc.nn.Linear(3, 2)
        opt = nc.optim.Adam(model.parameters(), lr=1e-3)
        model(nc.tensor(np.ones((1, 3), np.float32))).sum().backward()
        opt.step()
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}
        nc.save(state, path)
    else:
        nc.save(state, path, metadata={"format": "neurocore"})
    return path, state


def _arrays(tree):
    if isinstance(tree, np.ndarray):
        return [tree]
    if isinstance(tree, dict):
        return [a for v in tree.values() for a in _arrays(v)]
    if isinstance(tree, (list, tuple)):
        return [a for v in tree for a in _arrays(v)]
    return []


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_fuzzed_bytes_of_a_valid_file(tmp_path, nested):
    """FUZZ_MUTATIONS seeded mutations of a valid file (flipped bits, random
    bytes, digits, JSON punctuation, truncation, insertion): each raises
    ValueError or loads arrays consistent with the file; any other
    exception fails."""
    path, state = _valid_file(tmp_path, nested)
    original = path.read_bytes()
    (n,) = struct.unpack("<Q", original[:8])
    rng = random.Random(20261207 + nested)
    target = tmp_path / "mutant.safetensors"
    outcomes = {"ValueError": 0, "loaded": 0}
    expected = sorted((a.nbytes, a.itemsize) for a in _arrays(state))
    for i in range(FUZZ_MUTATIONS):
        data = bytearray(original)
        kind = i % 6
        # mostly the header (its 8-byte length included): the data bytes
        # are numbers, any value of which is valid
        pos = rng.randrange(0, 8 + n) if rng.random() < 0.9 else rng.randrange(len(data))
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[pos] = rng.randrange(256)
        elif kind == 2:
            data[pos] = rng.choice(b"0123456789")
        elif kind == 3:
            data[pos] = rng.choice(b"{}[]\",:-. e")
        elif kind == 4:
            del data[rng.randrange(len(data)):]
        else:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        target.write_bytes(bytes(data))
        try:
            out = nc.load(target)
        except ValueError:
            outcomes["ValueError"] += 1
            continue
        outcomes["loaded"] += 1
        assert isinstance(out, dict), i
        arrays = _arrays(out)
        # a load that succeeds returns well-formed arrays covering the data
        # section exactly; a single mutation can rename a tensor or swap a
        # dtype of one width for another (F32 -> I32) or a shape for an
        # equal-sized one ([] -> [1], [0, 3] -> [0, 9]), never change sizes
        (n_mut,) = struct.unpack("<Q", bytes(data[:8]))
        assert sum(a.nbytes for a in arrays) == len(data) - 8 - n_mut, i
        if not nested:      # (a mutated tree may leave tensors out of the result)
            assert sorted((a.nbytes, a.itemsize) for a in arrays) == expected, (i, out)
        for a in arrays:
            assert a.dtype.isnative and a.flags.writeable
    # both outcomes occur, so the fuzz neither only breaks nor only skips
    assert outcomes["ValueError"] > FUZZ_MUTATIONS // 2 and outcomes["loaded"] > 0, outcomes
