"""nc.save / nc.load: the safetensors layout, round trips and bad files."""
import json
import struct

import numpy as np
import pytest

import neurocore as nc


def test_round_trip_of_a_model(tmp_path):
    nc.manual_seed(0)
    a = nc.nn.MLP([5, 4, 3])
    nc.manual_seed(1)
    b = nc.nn.MLP([5, 4, 3])
    path = tmp_path / "model.safetensors"
    nc.save(a.state_dict(), path)
    b.load_state_dict(nc.load(path))
    x = nc.tensor(np.ones((2, 5), np.float32))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_layout_matches_the_format(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    v = np.array([1.5, -2.0])
    path = tmp_path / "t.safetensors"
    nc.save({"w": w, "v": nc.tensor(v)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["v"] == {"dtype": "F64", "shape": [2], "data_offsets": [24, 40]}
    data = raw[8 + n:]
    assert len(data) == 40
    np.testing.assert_array_equal(np.frombuffer(data[:24], "<f4").reshape(2, 3), w)
    np.testing.assert_array_equal(np.frombuffer(data[24:], "<f8"), v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_])
def test_dtypes_shapes_and_non_contiguous(tmp_path, dtype):
    base = (np.arange(24).reshape(4, 6) % 3).astype(dtype)
    arrays = {"t": base.T, "scalar": np.array(3, dtype), "empty": np.zeros((0, 3), dtype)}
    nc.save(arrays, tmp_path / "x.safetensors")
    back = nc.load(tmp_path / "x.safetensors")
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
        assert back[k].flags.writeable


def test_bad_inputs(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        nc.save([np.ones(2)], tmp_path / "a")
    with pytest.raises(TypeError, match="complex"):
        nc.save({"c": np.ones(2, np.complex64)}, tmp_path / "a")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="too short"):
        nc.load(bad)
    bad.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        nc.load(bad)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ValueError, match="data_offsets"):
        nc.load(bad)
