"""Arrays in non-native byte order: inputs give the native result (converted
once at the boundary), arrays updated in place are refused with a TypeError.

The kernels read raw native floats, so a byte-swapped buffer passed through
would be read as garbage (values up to 1e36, NaN) without any error.
"""
import numpy as np
import pytest

import neurocore as nc
from neurocore import kernels as K

DTYPES = [np.float32, np.float64]


def swapped(a):
    """The same values in the other byte order."""
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder("S"))


def data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_family_reads_swapped_inputs(rng, dtype):
    a, b, c = data(rng, (5, 7), dtype), data(rng, (7, 3), dtype), data(rng, (5, 3), dtype)
    assert not swapped(a).dtype.isnative
    np.testing.assert_array_equal(K.matmul(swapped(a), b), K.matmul(a, b))
    np.testing.assert_array_equal(K.matmul(a, swapped(b)), K.matmul(a, b))
    np.testing.assert_array_equal(K.gemm(swapped(a), swapped(b), swapped(c), beta=0.5),
                                  K.gemm(a, b, c, beta=0.5))
    np.testing.assert_allclose(K.matmul(swapped(a), b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matvec_and_outer_read_swapped_inputs(rng, dtype):
    w, x = data(rng, (6, 4), dtype), data(rng, (4,), dtype)
    np.testing.assert_array_equal(K.matvec(swapped(w), swapped(x)), K.matvec(w, x))
    d, a = data(rng, (6,), dtype), data(rng, (4,), dtype)
    g1, g2 = np.zeros((6, 4), dtype), np.zeros((6, 4), dtype)
    K.outer_acc(g1, swapped(d), swapped(a))
    K.outer_acc(g2, d, a)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_outputs_in_swapped_order_are_refused(rng, dtype):
    g = swapped(np.zeros((6, 4), dtype))
    before = g.copy()
    with pytest.raises(TypeError, match="g has non-native byte order"):
        K.outer_acc(g, data(rng, (6,), dtype), data(rng, (4,), dtype))
    np.testing.assert_array_equal(g, before)
    with pytest.raises(TypeError, match="y"):
        K.matvec(data(rng, (6, 4), dtype), data(rng, (4,), dtype), y=swapped(np.zeros(6, dtype)))
    with pytest.raises(TypeError, match="out"):
        K.matmul(data(rng, (2, 3), dtype), data(rng, (3, 2), dtype), out=swapped(np.zeros((2, 2), dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_and_backward_read_swapped_inputs(rng, dtype):
    x, w, bias = data(rng, (4, 5), dtype), data(rng, (3, 5), dtype), data(rng, (3,), dtype)
    y_ref = K.linear_forward(x, w, bias, activation="relu")
    np.testing.assert_array_equal(K.linear_forward(x, swapped(w), bias, activation="relu"), y_ref)
    np.testing.assert_array_equal(K.linear_forward(swapped(x), w, swapped(bias), activation="relu"), y_ref)
    g = data(rng, (4, 3), dtype)
    ref = K.linear_backward(g, x, w)
    got = K.linear_backward(swapped(g), swapped(x), swapped(w))
    for r, o in zip(ref, got):
        np.testing.assert_array_equal(o, r)


def _step_args(name, p, g, dtype):
    z = np.zeros_like(p[0])
    if name == "sgd_step":
        return (p, g, [z]), dict(lr=0.1, momentum=0.9)
    if name == "adagrad_step":
        return (p, g, [z], 1), dict(lr=0.1)
    if name == "rmsprop_step":
        return (p, g, [z]), dict(lr=0.1)
    if name == "adam_step":
        return (p, g, [z], [z.copy()], 1), dict(lr=0.1)
    if name == "lamb_step":
        return (p, g, [z], [z.copy()], 1), dict(lr=0.1)
    raise AssertionError(name)


STEPS = ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "lamb_step"]


@pytest.mark.parametrize("name", STEPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_steps_read_swapped_grads(name, dtype):
    step = getattr(K, name)
    p_ref = [np.ones(5, dtype)]
    p_got = [np.ones(5, dtype)]
    g = np.ones(5, dtype)
    args, kw = _step_args(name, p_ref, [g], dtype)
    step(*args, **kw)
    args, kw = _step_args(name, p_got, [swapped(g)], dtype)
    step(*args, **kw)
    np.testing.assert_array_equal(p_got[0], p_ref[0])
    assert np.all(p_ref[0] < 1.0)     # the step moved the params (p = 1, g = 1)


@pytest.mark.parametrize("name", STEPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_steps_refuse_swapped_params(name, dtype):
    step = getattr(K, name)
    p = swapped(np.ones(5, dtype))
    args, kw = _step_args(name, [p], [np.ones(5, dtype)], dtype)
    with pytest.raises(TypeError, match=r"params\[0\] has non-native byte order"):
        step(*args, **kw)
    np.testing.assert_array_equal(p, np.ones(5))


def test_optimizer_steps_refuse_swapped_state():
    p = [np.ones(5, np.float32)]
    with pytest.raises(TypeError, match=r"momentum_buffers\[0\] has non-native byte order"):
        K.sgd_step(p, [np.ones(5, np.float32)], [swapped(np.zeros(5, np.float32))], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensors_from_swapped_arrays_are_native(rng, dtype):
    x = data(rng, (2, 4), dtype)
    layer = nc.nn.Linear(4, 5, dtype=dtype)
    ref = layer(nc.tensor(x)).numpy()
    for t in (nc.tensor(swapped(x)), nc.Tensor(swapped(x))):
        assert t.dtype.isnative and t.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(layer(t).numpy(), ref)


def _misaligned(a):
    """The same values at an address that is not a multiple of the item size."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_inputs_give_the_aligned_result(rng, dtype):
    # the C kernels' scalar loads need aligned elements (UBSan flagged the
    # attention backward's grad_out); the boundary copies such arrays once
    q, k, v = (data(rng, (1, 2, 5, 4), dtype) for _ in range(3))
    out, lse = K.attention_forward(q, k, v)
    g = data(rng, (1, 2, 5, 4), dtype)
    assert not _misaligned(g).flags.aligned
    ref = K.attention_backward(g, q, k, v, out, lse)
    got = K.attention_backward(_misaligned(g), _misaligned(q), k, v, _misaligned(out), lse)
    for r, o in zip(ref, got):
        np.testing.assert_array_equal(o, r)
    x = data(rng, (3, 7), dtype)
    np.testing.assert_array_equal(K.softmax(_misaligned(x)), K.softmax(x))
    np.testing.assert_array_equal(K.gelu(_misaligned(x)), K.gelu(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_gemm_family_inputs_give_the_aligned_result(rng, dtype):
    a, b, c = data(rng, (5, 7), dtype), data(rng, (7, 3), dtype), data(rng, (5, 3), dtype)
    np.testing.assert_array_equal(K.matmul(_misaligned(a), _misaligned(b)), K.matmul(a, b))
    np.testing.assert_array_equal(K.gemm(_misaligned(a), _misaligned(b), _misaligned(c), beta=1.0),
                                  K.gemm(a, b, c, beta=1.0))
    # a transposed view of a misaligned buffer
    np.testing.assert_array_equal(K.matmul(_misaligned(a.T.copy()).T, b), K.matmul(a, b))
    w, x = data(rng, (6, 4), dtype), data(rng, (4,), dtype)
    np.testing.assert_array_equal(K.matvec(_misaligned(w), _misaligned(x)), K.matvec(w, x))
    d, v = data(rng, (6,), dtype), data(rng, (4,), dtype)
    g1, g2 = np.zeros((6, 4), dtype), np.zeros((6, 4), dtype)
    K.outer_acc(g1, _misaligned(d), _misaligned(v))
    K.outer_acc(g2, d, v)
    np.testing.assert_array_equal(g1, g2)
    x, w, bias = data(rng, (4, 5), dtype), data(rng, (3, 5), dtype), data(rng, (3,), dtype)
    np.testing.assert_array_equal(
        K.linear_forward(_misaligned(x), _misaligned(w), _misaligned(bias), activation="gelu"),
        K.linear_forward(x, w, bias, activation="gelu"))
    g = data(rng, (4, 3), dtype)
    for r, o in zip(K.linear_backward(g, x, w), K.linear_backward(_misaligned(g), _misaligned(x), _misaligned(w))):
        np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_loss_and_optimizer_inputs_give_the_aligned_result(rng, dtype):
    logits, target = data(rng, (4, 6), dtype), np.array([0, 5, 2, 3], np.int64)
    ref = K.cross_entropy_forward(logits, target)
    got = K.cross_entropy_forward(_misaligned(logits), _misaligned(target))
    for r, o in zip(ref, got):
        np.testing.assert_array_equal(o, r)
    np.testing.assert_array_equal(K.cross_entropy_backward(_misaligned(logits), _misaligned(target), _misaligned(ref[1])),
                                  K.cross_entropy_backward(logits, target, ref[1]))
    p_ref, p_got = [np.ones(5, dtype)], [np.ones(5, dtype)]
    g = data(rng, (5,), dtype)
    K.adam_step(p_ref, [g], [np.zeros(5, dtype)], [np.zeros(5, dtype)], 1, lr=0.1)
    K.adam_step(p_got, [_misaligned(g)], [np.zeros(5, dtype)], [np.zeros(5, dtype)], 1, lr=0.1)
    np.testing.assert_array_equal(p_got[0], p_ref[0])
    # the autograd layer: a tensor over a misaligned buffer
    layer = nc.nn.Linear(5, 3, dtype=dtype)
    x = data(rng, (2, 5), dtype)
    np.testing.assert_array_equal(layer(nc.tensor(_misaligned(x))).numpy(), layer(nc.tensor(x)).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_outputs_are_refused(rng, dtype):
    """An array the kernel writes cannot be copied: refused, left unchanged."""
    a, b = data(rng, (2, 3), dtype), data(rng, (3, 2), dtype)
    x = data(rng, (3, 4), dtype)
    cases = [
        ("out", lambda o: K.matmul(a, b, out=o), (2, 2)),
        ("out", lambda o: K.gemm(a, b, out=o), (2, 2)),
        ("y", lambda o: K.matvec(data(rng, (6, 4), dtype), data(rng, (4,), dtype), y=o), (6,)),
        ("g", lambda o: K.outer_acc(o, data(rng, (6,), dtype), data(rng, (4,), dtype)), (6, 4)),
        ("out", lambda o: K.gelu(x, out=o), (3, 4)),
        ("out", lambda o: K.softmax(x, out=o), (3, 4)),
        ("out", lambda o: K.add(x, x, out=o), (3, 4)),
        (r"params\[0\]", lambda o: K.adam_step([o], [np.ones(5, dtype)], [np.zeros(5, dtype)],
                                                [np.zeros(5, dtype)], 1, lr=0.1), (5,)),
        (r"exp_avgs\[0\]", lambda o: K.adam_step([np.ones(5, dtype)], [np.ones(5, dtype)], [o],
                                                 [np.zeros(5, dtype)], 1, lr=0.1), (5,)),
    ]
    for name, call, shape in cases:
        o = _misaligned(np.full(shape, 7, dtype))
        with pytest.raises(ValueError, match=f"{name} is not aligned"):
            call(o)
        np.testing.assert_array_equal(o, np.full(shape, 7, dtype))


@pytest.mark.parametrize("opt", ["SGD", "Adam", "RMSprop"])
def test_optimizer_classes_update_misaligned_params_in_place(opt):
    """A Parameter over a misaligned buffer is updated through an aligned
    copy written back, as a strided one is; the buffer itself changes."""
    cls = getattr(nc.optim, opt)
    w = nc.nn.Parameter(_misaligned(np.ones((3, 4), np.float32)))
    ref = nc.nn.Parameter(np.ones((3, 4), np.float32))
    assert not w.data.flags.aligned
    buf = w.data
    o1, o2 = cls([w], lr=0.1), cls([ref], lr=0.1)
    for _ in range(2):
        for p in (w, ref):
            p.grad = nc.tensor(np.full((3, 4), 0.5, np.float32))
        o1.step()
        o2.step()
    np.testing.assert_array_equal(w.data, ref.data)
    np.testing.assert_array_equal(buf, ref.data)
    assert np.all(ref.data < 1.0)
