#!/usr/bin/env bash
# The C test driver (csrc/tests/test_kernels.c: every ISA path against the
# generic one) built twice without Python (NC_BUILD_PYTHON=OFF):
#  1. GCC with AddressSanitizer and UndefinedBehaviorSanitizer, run for
#     every ISA path this CPU has;
#  2. clang, warnings as errors, run for the same paths.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang > /dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

isas="generic"
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && isas="$isas avx2"
grep -qw avx512f /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && isas="$isas avx512"

run_all() { # build dir, label
  for isa in $isas; do
    echo "c_driver ($2): NEUROCORE_ISA=$isa"
    NEUROCORE_ISA=$isa "$1/nc_test_driver" | tail -n 1
  done
}

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S . -B "$work/asan" -DNC_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS="$sanitize -O1" \
  -DCMAKE_EXE_LINKER_FLAGS="$sanitize" > "$work/asan.log"
cmake --build "$work/asan" -j2 >> "$work/asan.log"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_all "$work/asan" "gcc asan+ubsan"

cmake -S . -B "$work/clang" -DNC_BUILD_PYTHON=OFF -DCMAKE_C_COMPILER=clang \
  -DCMAKE_C_FLAGS="-Werror" > "$work/clang.log"
cmake --build "$work/clang" -j2 >> "$work/clang.log"
run_all "$work/clang" "clang"
echo "c_driver: done in $((SECONDS - start)) s"
