#!/usr/bin/env bash
# The C core and its test driver with plain compiler commands, no CMake:
# what a cross build or another build system needs to reproduce.
#
#   .ci/build_core.sh OUTDIR ARCH CC [FLAGS...]
#
# ARCH x86_64 (generic + avx2 + avx512), aarch64 (generic + neon) or other
# (generic only).  Every csrc/kernels/<family>.inc is compiled once per
# (ISA, dtype) with NC_ISA and NC_DTYPE defined, as CMakeLists.txt's
# generated stubs do, the ISA's flags on its objects alone.  CC may be
# several words ("python -m ziglang cc -target aarch64-macos").  Links
# OUTDIR/nc_test_driver unless NC_NO_LINK=1.
set -euo pipefail
out=$1 arch=$2 cc=$3
shift 3
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
common=(-std=gnu99 -O2 -fno-math-errno -fno-trapping-math -Wall -Wextra -Wno-unused-parameter
        -Wno-unused-function -I"$root/csrc/include" -I"$root/csrc/core" -I"$root/csrc/kernels" "$@")
case "$arch" in
  x86_64) isas="GENERIC AVX2 AVX512" ;;
  aarch64) isas="GENERIC NEON" ;;
  *) isas="GENERIC"; common+=(-DNC_GENERIC_ONLY=1) ;;
esac
flags_GENERIC="" flags_NEON=""
flags_AVX2="-mavx2 -mfma -mf16c"
flags_AVX512="-mavx2 -mfma -mf16c -mavx512f -mavx512dq -mavx512bw -mavx512vl"

jobs="$out/jobs.txt"
: > "$jobs"
for src in "$root"/csrc/core/*.c; do
  echo "$cc ${common[*]} -c $src -o $out/$(basename "$src" .c).o" >> "$jobs"
done
for family in "$root"/csrc/kernels/*.inc; do
  name=$(basename "$family" .inc)
  for isa in $isas; do
    flags_var="flags_$isa"
    for bits in 32 64; do
      echo "$cc ${common[*]} ${!flags_var} -DNC_ISA=NC_$isa -DNC_DTYPE=$bits -include nc_simd.h -x c $family -c -o $out/${name}_${isa}_f$bits.o" >> "$jobs"
    done
  done
done
echo "$cc ${common[*]} -c $root/csrc/tests/test_kernels.c -o $out/test_kernels.o" >> "$jobs"
# two at a time; any failure fails the script
xargs -P "${NC_JOBS:-2}" -I{} sh -c '{}' < "$jobs"
if [ "${NC_NO_LINK:-0}" != 1 ]; then
  $cc "$@" -o "$out/nc_test_driver" "$out"/*.o -lm -lpthread
fi
