"""The C API for other extensions: neurocore.get_include(), the capsule
neurocore._kernels._C_API and its table (nc_api.h / nc_api.pxd).

Builds a tiny C extension and a tiny Cython extension against the installed
package in a temporary folder, with the compiler and flags of this Python
(sysconfig) and Cython, calls GEMM and softmax through them with the GIL
released, and checks that neither links neurocore's module: no NEEDED entry
on it and no undefined nc_* symbol, so only the capsule can have served them.
"""
import importlib.machinery
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import neurocore as nc
from neurocore import _kernels

HEADERS = ("nc.h", "nc_api.h", "nc_api.pxd")


def _read(name):
    with open(os.path.join(nc.get_include(), "neurocore", name)) as f:
        return f.read()


def test_get_include_holds_headers_and_pxd():
    root = nc.get_include()
    assert os.path.isabs(root)
    for name in HEADERS:
        assert os.path.isfile(os.path.join(root, "neurocore", name)), name


def test_capsule_and_table_version():
    import ctypes
    cap = _kernels._C_API
    assert type(cap).__name__ == "PyCapsule"
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype = ctypes.c_void_p
    get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
    address = get_ptr(cap, b"neurocore._kernels._C_API")
    assert address
    version, size = _kernels._c_api_version()
    header = _read("nc_api.h")
    assert version == int(re.search(r"#define NC_API_VERSION (\d+)", header).group(1))
    # the table as raw memory: version first, then the size
    assert ctypes.c_uint.from_address(address).value == version
    size_offset = ctypes.sizeof(ctypes.c_size_t)    # after the padded unsigned int
    assert ctypes.c_size_t.from_address(address + size_offset).value == size
    # version + size + 5 runtime entries + 2 x 40 kernels of revision 1 and
    # 2 x 1 of revision 2 (activation_forward_grad), one pointer each
    assert size == 2 * ctypes.sizeof(ctypes.c_size_t) + (5 + 80 + 2) * ctypes.sizeof(ctypes.c_void_p)


def _members_of_header():
    src = _read("nc_api.h")
    block = src[src.index("#define NC_API_KERNELS"):src.index("typedef struct nc_api")]
    kernels = re.findall(r"\(\*(\w+)_##S\)", block)
    runtime = re.findall(r"\(\*(\w+)\)\(", src[src.index("typedef struct nc_api"):src.index("} nc_api_t;")])
    return set(runtime) | {f"{k}_{s}" for k in kernels for s in ("f32", "f64")}


def test_pxd_declares_every_member_of_the_header():
    pxd = _read("nc_api.pxd")
    declared = set(re.findall(r"\(\*(\w+)\)\(", pxd))
    assert declared == _members_of_header()


# ---- building extensions against the installed package ---------------------

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "neurocore/nc_api.h"

/* gemm(a, b, c, m, n, k): c = a @ b, float32 buffers, the GIL released */
static PyObject *gemm(PyObject *self, PyObject *args)
{
    Py_buffer a, b, c;
    Py_ssize_t m, n, k;
    if (!PyArg_ParseTuple(args, "y*y*w*nnn", &a, &b, &c, &m, &n, &k))
        return NULL;
    if (a.len != m * k * 4 || b.len != k * n * 4 || c.len != m * n * 4) {
        PyBuffer_Release(&a); PyBuffer_Release(&b); PyBuffer_Release(&c);
        PyErr_SetString(PyExc_ValueError, "sizes");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    nc_api->gemm_f32(0, 0, m, n, k, 1.0f, (const float *)a.buf, k,
                     (const float *)b.buf, n, 0.0f, (float *)c.buf, n);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&a); PyBuffer_Release(&b); PyBuffer_Release(&c);
    Py_RETURN_NONE;
}

/* softmax(x, y, m, n): rows of float64, the GIL released */
static PyObject *softmax(PyObject *self, PyObject *args)
{
    Py_buffer x, y;
    Py_ssize_t m, n;
    if (!PyArg_ParseTuple(args, "y*w*nn", &x, &y, &m, &n))
        return NULL;
    if (x.len != m * n * 8 || y.len != m * n * 8) {
        PyBuffer_Release(&x); PyBuffer_Release(&y);
        PyErr_SetString(PyExc_ValueError, "sizes");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    nc_api->softmax_f64(m, n, (const double *)x.buf, n, (double *)y.buf, n);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x); PyBuffer_Release(&y);
    Py_RETURN_NONE;
}

/* what a header newer than the installed table sees */
static PyObject *import_newer(PyObject *self, PyObject *unused)
{
    if (nc_import_api_version(NC_API_VERSION + 1, sizeof(nc_api_t)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"gemm", gemm, METH_VARARGS, NULL},
    {"softmax", softmax, METH_VARARGS, NULL},
    {"import_newer", import_newer, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "nc_c_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_nc_c_ext(void)
{
    if (nc_import_api() < 0)
        return NULL;
    return PyModule_Create(&moduledef);
}
"""

CYTHON_SOURCE = r"""
# cython: language_level=3, boundscheck=False, wraparound=False
from neurocore.nc_api cimport nc_api, nc_import_api, NC_ACT_RELU

nc_import_api()


def gemm_relu(float[:, ::1] a, float[:, ::1] b, float[::1] bias, float[:, ::1] c):
    # c = relu(a @ b + bias) through the fused epilogue, the GIL released
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    assert b.shape[0] == k and c.shape[0] == m and c.shape[1] == n and bias.shape[0] == n
    with nogil:
        nc_api.gemm_fused_f32(0, 0, m, n, k, 1.0, &a[0, 0], k, &b[0, 0], n, 0.0, &c[0, 0], n,
                              &bias[0], NC_ACT_RELU, 0.0, NULL, 0)


def softmax(double[:, ::1] x, double[:, ::1] y):
    cdef Py_ssize_t m = x.shape[0], n = x.shape[1]
    with nogil:
        nc_api.softmax_f64(m, n, &x[0, 0], n, &y[0, 0], n)


def add(float[::1] a, float[::1] b, float[::1] out):
    with nogil:
        nc_api.add_f32(a.shape[0], &a[0], &b[0], &out[0])


def table_version():
    return nc_api.version, nc_api.size
"""


def _compiler():
    cc = sysconfig.get_config_var("CC") or "cc"
    cmd = shlex.split(cc)
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"no C compiler ({cc!r}) to build a test extension")
    return cmd


def _build(tmp_path, name, c_file):
    """Compile c_file into the extension module `name` in tmp_path, with this
    Python's headers and neurocore's, linking nothing of neurocore."""
    out = tmp_path / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = _compiler() + [
        "-shared", "-fPIC", "-O0", "-Wall", "-Werror=incompatible-pointer-types",
        f"-I{sysconfig.get_paths()['include']}", f"-I{nc.get_include()}",
        str(c_file), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def _load(name, path):
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _assert_not_linked(path):
    """No NEEDED entry on neurocore's module and no undefined nc_* symbol."""
    if shutil.which("readelf") is None or shutil.which("nm") is None:
        pytest.skip("binutils (readelf, nm) not installed")
    dynamic = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True,
                             text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", dynamic)
    assert not [n for n in needed if "neurocore" in n or "_kernels" in n], needed
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(path)], check=True,
                               capture_output=True, text=True).stdout.split()
    assert not [s for s in undefined if s.startswith("nc_")], undefined
    # the extension did reference something undefined (Python's C API), so
    # the listing above is of the right thing
    assert any(s.startswith("Py") for s in undefined)


@pytest.fixture(scope="module")
def c_ext(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("the extension build test uses the ELF tools of Linux")
    tmp = tmp_path_factory.mktemp("nc_c_ext")
    src = tmp / "nc_c_ext.c"
    src.write_text(C_SOURCE)
    path = _build(tmp, "nc_c_ext", src)
    return path, _load("nc_c_ext", path)


@pytest.fixture(scope="module")
def cython_ext(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("the extension build test uses the ELF tools of Linux")
    pytest.importorskip("Cython")
    tmp = tmp_path_factory.mktemp("nc_cy_ext")
    pyx = tmp / "nc_cy_ext.pyx"
    pyx.write_text(CYTHON_SOURCE)
    c_file = tmp / "nc_cy_ext.c"
    # from an unrelated working directory, so that only the include path
    # (get_include()) can resolve the cimport, not a checkout's src/
    subprocess.run([sys.executable, "-m", "cython", "-3", "-I", nc.get_include(), str(pyx),
                    "-o", str(c_file)], check=True, capture_output=True, text=True, cwd=tmp)
    path = _build(tmp, "nc_cy_ext", c_file)
    return path, _load("nc_cy_ext", path)


def test_c_extension_gemm_and_softmax(c_ext):
    path, ext = c_ext
    _assert_not_linked(path)
    rng = np.random.default_rng(0)
    m, n, k = 37, 29, 45
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    ext.gemm(a, b, c, m, n, k)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)

    x = rng.standard_normal((6, 11)) * 30
    y = np.empty_like(x)
    ext.softmax(x, y, 6, 11)
    ref = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, ref / ref.sum(axis=1, keepdims=True), rtol=1e-13, atol=1e-300)


def test_c_extension_calls_from_threads(c_ext):
    """The extension drops the GIL around the kernel; four threads at once
    give each its own exact result."""
    _, ext = c_ext
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((64, 64)).astype(np.float32) for _ in range(8)]

    def run(a):
        c = np.empty((64, 64), np.float32)
        for _ in range(20):
            ext.gemm(a, a, c, 64, 64, 64)
        return c

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, inputs))
    for a, c in zip(inputs, results):
        np.testing.assert_array_equal(c, nc.kernels.gemm(a, a))


def test_c_extension_rejects_an_older_table(c_ext):
    _, ext = c_ext
    with pytest.raises(ImportError, match=r"C-API table \(version \d+, \d+ bytes\) is older than"):
        ext.import_newer()


def test_cython_extension_gemm_epilogue_and_softmax(cython_ext):
    path, ext = cython_ext
    _assert_not_linked(path)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20, 33)).astype(np.float32)
    b = rng.standard_normal((33, 17)).astype(np.float32)
    bias = rng.standard_normal(17).astype(np.float32)
    c = np.empty((20, 17), np.float32)
    ext.gemm_relu(a, b, bias, c)
    np.testing.assert_allclose(c, np.maximum(a.astype(np.float64) @ b + bias, 0), rtol=1e-4, atol=1e-4)

    x = rng.standard_normal((5, 9))
    y = np.empty_like(x)
    ext.softmax(x, y)
    ref = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, ref / ref.sum(axis=1, keepdims=True), rtol=1e-13)

    u, v = rng.standard_normal((2, 64)).astype(np.float32)
    out = np.empty(64, np.float32)
    ext.add(u, v, out)
    np.testing.assert_array_equal(out, u + v)
    assert ext.table_version() == _kernels._c_api_version()
