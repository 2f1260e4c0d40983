"""The README's embedding examples run as written: the Python blocks of
"Exchange with other libraries (DLPack)", "Pretrained ViT weights" and
"scikit-learn estimators", and the Cython and C blocks of "Use from C or
Cython", built against the installed package and called."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import neurocore as nc
from test_capi import _assert_not_linked, _build, _load

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "README.md")


def _blocks(heading, language):
    """The fenced `language` blocks of the README section `## heading`."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else None]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    assert blocks, f"no {language} block under {heading!r}"
    return blocks


@pytest.mark.parametrize("heading", ["Exchange with other libraries (DLPack)", "Pretrained ViT weights",
                                     "scikit-learn estimators"])
def test_python_examples_run(heading, tmp_path, monkeypatch, capsys):
    if heading.startswith("scikit-learn"):
        pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    for code in _blocks(heading, "python"):
        exec(compile(code, f"README.md: {heading}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    if heading == "Pretrained ViT weights":
        assert "avg 192 2" in out and "(1, 10)" in out
    if heading.startswith("scikit-learn"):
        assert float(re.search(r"test accuracy ([0-9.]+)", out).group(1)) > 0.95


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the build uses the ELF tools of Linux")
def test_c_and_cython_examples_build_and_run(tmp_path):
    pytest.importorskip("Cython")
    (cython_src,) = _blocks("Use from C or Cython", "cython")
    (c_src,) = _blocks("Use from C or Cython", "c")
    pyx = tmp_path / "fastops.pyx"
    pyx.write_text(cython_src)
    subprocess.run([sys.executable, "-m", "cython", "-3", "-I", nc.get_include(), str(pyx), "-o",
                    str(tmp_path / "fastops.c")], check=True, capture_output=True, text=True, cwd=tmp_path)
    fastops_path = _build(tmp_path, "fastops", tmp_path / "fastops.c")
    (tmp_path / "rowsoftmax.c").write_text(c_src)
    rowsoftmax_path = _build(tmp_path, "rowsoftmax", tmp_path / "rowsoftmax.c")
    for path in (fastops_path, rowsoftmax_path):
        _assert_not_linked(path)
    fastops, rowsoftmax = _load("fastops", fastops_path), _load("rowsoftmax", rowsoftmax_path)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    w_t = rng.standard_normal((7, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    out = np.empty((5, 3), np.float32)
    fastops.dense_relu(x, w_t, b, out)
    np.testing.assert_allclose(out, np.maximum(x.astype(np.float64) @ w_t + b, 0), rtol=1e-5, atol=1e-5)

    z = rng.standard_normal((4, 6))
    p = np.empty_like(z)
    rowsoftmax.softmax(z, p, 4, 6)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-13)
