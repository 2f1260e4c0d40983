"""What the installed package exports and ships (issue: the wheel)."""
import importlib
import importlib.metadata
import pathlib
import shutil
import subprocess
import sys

import pytest

import neurocore

PACKAGE_DIR = pathlib.Path(neurocore.__file__).parent


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads ELF dynamic symbols with nm -D")
@pytest.mark.parametrize("module", ["_nc_core", "_elementwise", "_activation", "_softmax", "_gemm", "_optim",
                                    "_attention", "_loss", "_mlp", "_engine_core", "functional._fused"])
def test_extension_exports_only_its_init(module):
    """Every extension is built with hidden visibility: its dynamic symbol
    table holds its PyInit_ and nothing else (no nc_*/nck_* symbol of the C
    core, which _nc_core alone links in; the other compiled modules reach it
    through the C-API capsule and each other through Python's import, not
    the dynamic linker)."""
    nm = shutil.which("nm")
    assert nm is not None, "nm (binutils) is needed to read the extension's symbols"
    path = importlib.import_module(f"neurocore.{module}").__file__
    result = subprocess.run([nm, "-D", "--defined-only", path], capture_output=True, text=True, check=True)
    names = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    assert names == [f"PyInit_{module.rpartition('.')[2]}"]


def test_no_cython_sources_installed():
    """Only what runs is installed: no .pyx/.pxi and no internal _nc.pxd."""
    shipped = [p.name for p in PACKAGE_DIR.rglob("*") if p.suffix in (".pyx", ".pxi")]
    assert shipped == []
    assert not (PACKAGE_DIR / "_nc.pxd").exists()
    assert not (PACKAGE_DIR / "_nc_core.pxd").exists()
    assert not (PACKAGE_DIR / "_api.pxd").exists()
    assert not (PACKAGE_DIR / "_engine_core.pxd").exists()
    assert not (PACKAGE_DIR / "_shape.pxd").exists()
    assert (PACKAGE_DIR / "py.typed").exists()
    assert (PACKAGE_DIR / "_kernels.pyi").exists()


def test_license_in_metadata():
    files = importlib.metadata.distribution("neurocore").files or []
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "LICENSE missing from the installed distribution"
    assert "MIT License" in licenses[0].read_text()


FAMILIES = ["_elementwise", "_activation", "_softmax", "_gemm", "_optim", "_attention", "_loss", "_mlp"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_kernel_family_module_works_imported_first(family):
    """A family module fetches the C-API table of _nc_core at its import:
    imported first in a fresh interpreter (before neurocore's own
    __init__ has run anything else), it computes what NumPy does."""
    code = (f"import numpy as np, neurocore.{family} as m, neurocore._nc_core as core\n"
            "x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)\n"
            "calls = {'_elementwise': lambda: (m.add(x, x), x + x),\n"
            "         '_activation': lambda: (m.relu(x), np.maximum(x, 0)),\n"
            "         '_softmax': lambda: (m.softmax(x), np.exp(x) / np.exp(x).sum(-1, keepdims=True)),\n"
            "         '_gemm': lambda: (m.gemm(x, x.T), x @ x.T),\n"
            "         '_optim': lambda: (m.sgd_step(x.copy(), x, None, lr=0.5), x - 0.5 * x),\n"
            "         '_attention': lambda: (m.layer_norm_forward(x)[0],\n"
            "                                (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)),\n"
            "         '_loss': lambda: (m.cross_entropy_forward(x, np.array([0, 1, 3]))[0],\n"
            "                           np.log(np.exp(x).sum(-1)) - x[[0, 1, 2], [0, 1, 3]]),\n"
            "         '_mlp': lambda: (m._linear_chain_forward(x, [x[:2], x[0, :2], x[:1, :2], None],\n"
            "                                                  ['relu', 'identity'], 0.0, False)[0],\n"
            "                          np.maximum(x @ x[:2].T + x[0, :2], 0) @ x[:1, :2].T)}\n"
            f"got, want = calls['{family}']()\n"
            "assert np.allclose(got, want, rtol=1e-5, atol=1e-6), (got, want)\n"
            "print(core.get_isa())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("generic", "avx2", "avx512", "neon")
