"""ISA dispatch, threads and import behaviour."""
import os
import subprocess
import sys

import numpy as np
import pytest

import neurocore
from neurocore import _kernels


def _run(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, cwd="/", timeout=120)


def test_isa_names():
    assert neurocore.get_isa() in _kernels.supported_isas()
    assert _kernels.supported_isas()[0] == "generic"


@pytest.mark.parametrize("name", ["generic", "avx2", "avx512", "neon"])
def test_env_var_forces_isa(name):
    result = _run("import neurocore; print(neurocore.get_isa())", NEUROCORE_ISA=name)
    assert result.returncode == 0, result.stderr
    supported = _kernels.supported_isas()
    if name in supported:
        assert result.stdout.strip() == name
        assert "Warning" not in result.stderr
    else:
        assert result.stdout.strip() == supported[-1]
        assert "not supported by this CPU" in result.stderr


def test_env_var_unknown_name_warns():
    result = _run("import neurocore; print(neurocore.get_isa())", NEUROCORE_ISA="sse9")
    assert result.returncode == 0
    assert "not one of" in result.stderr
    assert result.stdout.strip() == _kernels.supported_isas()[-1]


def test_omp_num_threads_respected():
    result = _run("import neurocore; print(neurocore.get_num_threads())", OMP_NUM_THREADS="3")
    assert result.stdout.strip() == "3", result.stderr


def test_set_num_threads(threads):
    threads(1)
    assert neurocore.get_num_threads() == 1
    threads(2)
    assert neurocore.get_num_threads() == 2
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        neurocore.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        neurocore.set_num_threads(2.5)


def test_set_isa_rejects_unknown():
    with pytest.raises(ValueError, match="isa must be one of"):
        _kernels._set_isa("sse9")


def test_set_isa_rejects_other_architecture():
    """An ISA of another architecture (neon on x86-64, avx2 on aarch64) is
    known but unavailable: a ValueError, and the active path is unchanged."""
    foreign = next(name for name in ("avx512", "avx2", "neon") if name not in _kernels.supported_isas())
    before = _kernels.get_isa()
    with pytest.raises(ValueError, match="not supported by this CPU"):
        _kernels._set_isa(foreign)
    assert _kernels.get_isa() == before


def test_imports_from_any_directory(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import neurocore, numpy as np; "
                             "print(neurocore.kernels.add(np.ones(3), np.ones(3)).sum())"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.stdout.strip() == "6.0", result.stderr


def test_main_module_self_check():
    result = _run("import runpy, sys; sys.argv = ['neurocore']; runpy.run_module('neurocore', run_name='__main__')")
    assert result.returncode == 0, result.stderr
    assert "neurocore" in result.stdout and "isa" in result.stdout
    assert "FAIL" not in result.stdout
