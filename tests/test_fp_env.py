"""neurocore never changes the caller's floating-point control state: the
rounding mode, the exception masks, flush-to-zero and denormals-are-zero
(the traps of -ffast-math builds, whose startup code sets FTZ/DAZ for the
whole process).  Read before and after a call of every kernel family, with
libm's fegetenv (x86-64 glibc: the SSE control/status register MXCSR and
the x87 control word), with fegetround, and by what arithmetic does with a
denormal afterwards.  The worker threads of the pool are checked by their
results: denormal outputs computed on several threads equal NumPy's."""
import ctypes
import ctypes.util
import platform
import sys

import numpy as np
import pytest

import neurocore as nc
from neurocore import kernels as K

_X86_GLIBC = (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
              and platform.libc_ver()[0] == "glibc")
_libm = ctypes.CDLL(ctypes.util.find_library("m")) if sys.platform.startswith("linux") else None

# x86-64 glibc fenv_t (bits/fenv.h): 28 bytes of x87 state (control word at
# offset 0), then the 32-bit MXCSR at offset 28
_FENV_BYTES = 32
_MXCSR_FLAGS = 0x3F            # the sticky exception flags: raised by arithmetic, not control state
_FE_TOWARDZERO = 0xC00


def _control_state():
    """(x87 control word, MXCSR without its sticky flags, rounding mode)."""
    env = ctypes.create_string_buffer(_FENV_BYTES)
    assert _libm.fegetenv(env) == 0
    x87_control = int.from_bytes(env.raw[0:2], "little")
    mxcsr = int.from_bytes(env.raw[28:32], "little")
    return x87_control, mxcsr & ~_MXCSR_FLAGS, _libm.fegetround()


def _denormal_arithmetic_works():
    tiny32 = np.array([1e-40], np.float32)        # a float32 denormal
    tiny64 = np.array([1e-310])                   # a float64 denormal
    return (tiny32 * np.float32(1.0))[0] != 0 and (tiny64 * 1.0)[0] != 0 and (tiny32 * 0.5)[0] != 0


def _families(dtype):
    """One call of each kernel family, on sizes large enough to be split
    across threads."""
    rng = np.random.default_rng(5)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)
    x, w = r(64, 48), r(40, 48)
    g = [r(300)]
    ln = K.layer_norm_forward(x, r(48), r(48))
    q, k, v = r(2, 2, 17, 8), r(2, 2, 19, 8), r(2, 2, 19, 8)
    out, lse = K.attention_forward(q, k, v)
    targets = rng.integers(0, 48, 64)
    return {
        "elementwise": lambda: (K.add(x, x), K.axpy(0.5, x, x.copy()), K.sum_rows(x)),
        "activation": lambda: [K.activation_forward(x, a) for a in ("relu", "gelu", "gelu_tanh", "sigmoid", "tanh")],
        "math": lambda: (K.exp(x), K.log(np.abs(x)), K.erf(x), K.erfc(x)),
        "softmax": lambda: (K.softmax(x), K.log_softmax(x)),
        "gemm": lambda: (K.matmul(x, w.T), K.matvec(w, x[0]), K.linear_forward(x, w, r(40), activation="gelu")),
        "optim": lambda: (K.sgd_step([r(300)], g, lr=0.1), K.adam_step([r(300)], g, [r(300)], [np.abs(r(300))],
                                                                          steps=[1], lr=0.01)),
        "layer_norm": lambda: K.layer_norm_backward(r(64, 48), x, ln[1], ln[2], r(48)),
        "attention": lambda: K.attention_backward(r(2, 2, 17, 8), q, k, v, out, lse),
        "loss": lambda: (K.cross_entropy_forward(x, targets), K.bce_with_logits_forward(x, (x > 0).astype(dtype))),
        "engine": lambda: _train_step(dtype),
    }


def _train_step(dtype):
    nc.manual_seed(0)
    model = nc.nn.MLP([48, 32, 10], dtype=dtype)
    opt = nc.optim.AdamW(model.parameters(), lr=1e-3)
    x = nc.tensor(np.ones((64, 48), dtype))
    nc.functional.cross_entropy(model(x), np.arange(64) % 10).backward()
    opt.step()


FAMILIES = list(_families(np.float32))


@pytest.mark.skipif(not _X86_GLIBC, reason="reads fenv_t's x86-64 glibc layout")
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_kernels_leave_fp_control_state(isa, threads, family, dtype):
    threads(2)
    call = _families(dtype)[family]
    before = _control_state()
    call()
    assert _control_state() == before
    assert _denormal_arithmetic_works()


@pytest.mark.skipif(not _X86_GLIBC, reason="reads fenv_t's x86-64 glibc layout")
def test_non_default_caller_state_is_kept():
    """A caller running with round-toward-zero keeps it across every family
    (the results then round that way on this thread, but nothing resets it)."""
    calls = _families(np.float32)
    old = _libm.fegetround()
    assert _libm.fesetround(_FE_TOWARDZERO) == 0
    try:
        before = _control_state()
        assert before[2] == _FE_TOWARDZERO
        for family, call in calls.items():
            call()
            assert _control_state() == before, family
    finally:
        _libm.fesetround(old)
    assert _libm.fegetround() == old


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_worker_threads_keep_denormals(isa, threads, dtype):
    """Outputs in the denormal range, from a product and element-wise
    kernels split across threads, are NumPy's (a worker with FTZ/DAZ set
    would flush them to zero)."""
    threads(2)
    tiny = np.finfo(dtype).smallest_normal
    rng = np.random.default_rng(9)
    x = (rng.uniform(0.25, 0.5, (256, 128)) * tiny).astype(dtype)     # denormal inputs
    assert np.all(x < tiny) and np.all(x > 0)
    np.testing.assert_array_equal(K.scale(1.0, x), x)
    np.testing.assert_array_equal(K.add(x, x), x + x)
    np.testing.assert_array_equal(K.relu(x), x)
    ones = np.ones((128, 64), dtype) / 128
    got = K.matmul(x, ones)
    ref = x.astype(np.float64) @ ones.astype(np.float64)
    assert np.all(got > 0)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=0)
