"""DLPack exchange: Tensor.__dlpack__ / __dlpack_device__ and nc.from_dlpack,
zero-copy both ways with NumPy (and PyTorch when installed), and the
read-only, strided and copy= cases that must never alias silently."""
import numpy as np
import pytest

import neurocore as nc


def test_device_is_cpu():
    assert nc.tensor(np.zeros(3, np.float32)).__dlpack_device__() == (1, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_numpy_from_tensor_shares_memory(dtype):
    t = nc.tensor(np.arange(12).reshape(3, 4).astype(dtype))
    a = np.from_dlpack(t)
    assert a.dtype == dtype and a.shape == (3, 4)
    assert np.shares_memory(a, t.data)
    a[1, 2] = 99
    assert t.data[1, 2] == 99            # the same memory, both ways
    t.data[0, 0] = -5
    assert a[0, 0] == -5


def test_tensor_from_numpy_shares_memory():
    x = np.linspace(0, 1, 10, dtype=np.float32).reshape(2, 5)
    t = nc.from_dlpack(x)
    assert isinstance(t, nc.Tensor) and t.dtype == np.float32 and t.shape == (2, 5)
    assert np.shares_memory(t.data, x)
    assert not t.requires_grad and t.is_leaf
    x[1, 1] = 7.0
    assert t.data[1, 1] == 7.0
    # usable by the engine like any tensor
    y = (t * 2.0).sum()
    assert y.item() == pytest.approx(2 * x.astype(np.float64).sum(), rel=1e-6)


def test_round_trip_keeps_identity_of_memory():
    x = np.random.default_rng(0).standard_normal((4, 3))
    back = np.from_dlpack(nc.from_dlpack(x))
    assert np.shares_memory(back, x)
    np.testing.assert_array_equal(back, x)


def test_copy_true_copies_and_copy_false_shares():
    x = np.ones((3, 3), np.float32)
    t = nc.from_dlpack(x, copy=True)
    assert not np.shares_memory(t.data, x)
    t.data[0, 0] = 5
    assert x[0, 0] == 1
    u = nc.from_dlpack(x, copy=False)
    assert np.shares_memory(u.data, x)
    # the export side too
    src = nc.tensor(np.zeros(4, np.float32))
    assert not np.shares_memory(np.from_dlpack(src, copy=True), src.data)
    assert np.shares_memory(np.from_dlpack(src, copy=False), src.data)


def test_read_only_source_stays_read_only():
    x = np.arange(6, dtype=np.float64)
    x.flags.writeable = False
    t = nc.from_dlpack(x)
    assert np.shares_memory(t.data, x)
    assert not t.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        t.data[0] = 1.0
    # a kernel cannot write into it either
    with pytest.raises(ValueError, match="writable"):
        nc.kernels.add(t.data, t.data, out=t.data)
    # a writable copy on request
    w = nc.from_dlpack(x, copy=True)
    w.data[0] = 42.0
    assert x[0] == 0.0


def test_read_only_tensor_exports_read_only():
    x = np.arange(4, dtype=np.float32)
    x.flags.writeable = False
    a = np.from_dlpack(nc.Tensor(x))
    assert np.shares_memory(a, x) and not a.flags.writeable
    # a consumer of the legacy (pre-1.0) protocol cannot be told: refused
    with pytest.raises(BufferError):
        nc.Tensor(x).__dlpack__()


def test_strided_views_keep_their_strides():
    base = np.arange(40, dtype=np.float32).reshape(5, 8)
    view = base[::2, 1::3]                  # non-contiguous
    t = nc.from_dlpack(view)
    assert np.shares_memory(t.data, base)
    np.testing.assert_array_equal(t.data, view)
    # kernels read it through one copy and give the right answer
    np.testing.assert_array_equal(nc.kernels.add(t.data, t.data), 2 * view)
    # ... but refuse it as an output rather than writing a packed result into it
    with pytest.raises(ValueError, match="C-contiguous"):
        nc.kernels.add(t.data, t.data, out=t.data)
    back = np.from_dlpack(t)
    assert back.strides == view.strides and np.shares_memory(back, base)
    # transposed
    tt = nc.from_dlpack(base.T)
    np.testing.assert_array_equal(tt.data, base.T)


def test_requires_grad_is_refused_and_detach_works():
    p = nc.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(BufferError, match="detach"):
        np.from_dlpack(p)
    with pytest.raises(BufferError, match="detach"):
        nc.from_dlpack(p)
    a = np.from_dlpack(p.detach())
    assert np.shares_memory(a, p.data)


def test_from_dlpack_of_a_tensor_shares_memory():
    t = nc.tensor(np.ones(5))
    u = nc.from_dlpack(t)
    assert u is not t and np.shares_memory(u.data, t.data)


def test_bad_input():
    with pytest.raises(TypeError, match="__dlpack__"):
        nc.from_dlpack([1.0, 2.0])
    with pytest.raises(ValueError, match="device"):
        nc.from_dlpack(np.ones(2), device="cuda")
    with pytest.raises(ValueError, match="copy"):
        nc.from_dlpack(np.ones(2), copy="yes")
    swapped = np.ones(3, dtype=">f8")
    with pytest.raises(BufferError):
        nc.from_dlpack(swapped)


def test_torch_round_trip():
    torch = pytest.importorskip("torch")
    t = nc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    pt = torch.from_dlpack(t)
    assert pt.data_ptr() == t.data.ctypes.data
    pt[0, 0] = 11.0
    assert t.data[0, 0] == 11.0
    src = torch.arange(8, dtype=torch.float64).reshape(2, 4)
    back = nc.from_dlpack(src)
    assert back.data.ctypes.data == src.data_ptr()
    src[1, 1] = -3.0
    assert back.data[1, 1] == -3.0
    # a strided torch view keeps its strides
    view = src.t()
    bv = nc.from_dlpack(view)
    np.testing.assert_array_equal(bv.data, view.numpy())
