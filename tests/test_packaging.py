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
