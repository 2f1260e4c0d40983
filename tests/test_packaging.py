"""What the installed package exports and ships (issue: the wheel)."""
import importlib.metadata
import pathlib
import shutil
import subprocess
import sys

import pytest

import neurocore
from neurocore import _kernels

PACKAGE_DIR = pathlib.Path(neurocore.__file__).parent


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads ELF dynamic symbols with nm -D")
def test_extension_exports_only_its_init():
    """The C core is linked in with hidden visibility: the extension's
    dynamic symbol table holds PyInit__kernels and no nc_*/nck_* symbol."""
    nm = shutil.which("nm")
    assert nm is not None, "nm (binutils) is needed to read the extension's symbols"
    result = subprocess.run([nm, "-D", "--defined-only", _kernels.__file__], capture_output=True,
                            text=True, check=True)
    names = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    assert "PyInit__kernels" in names
    leaked = [name for name in names if name.startswith(("nc_", "nck_"))]
    assert leaked == []
    assert names == ["PyInit__kernels"]


def test_no_cython_sources_installed():
    """Only what runs is installed: no .pyx/.pxi and no internal _nc.pxd."""
    shipped = [p.name for p in PACKAGE_DIR.rglob("*") if p.suffix in (".pyx", ".pxi")]
    assert shipped == []
    assert not (PACKAGE_DIR / "_nc.pxd").exists()
    assert (PACKAGE_DIR / "py.typed").exists()
    assert (PACKAGE_DIR / "_kernels.pyi").exists()


def test_license_in_metadata():
    files = importlib.metadata.distribution("neurocore").files or []
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "LICENSE missing from the installed distribution"
    assert "MIT License" in licenses[0].read_text()
