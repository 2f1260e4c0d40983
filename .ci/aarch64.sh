#!/usr/bin/env bash
# The NEON path, run: the C core and its test driver cross-built for
# aarch64 Linux (CMake, NC_BUILD_PYTHON=OFF, cmake/aarch64-linux-gnu.cmake)
# and run under qemu-aarch64.  The driver asserts that the active ISA is
# neon, then compares every NEON kernel with the generic one.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc > /dev/null || ! command -v qemu-aarch64 > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
    qemu-user > /dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
cmake -S . -B "$work/build" -DNC_BUILD_PYTHON=OFF \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" > "$work/configure.log"
grep "ISA paths" "$work/configure.log"
cmake --build "$work/build" -j2 > "$work/build.log"
readelf -h "$work/build/nc_test_driver" | grep -q AArch64
NEUROCORE_ISA=neon qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/build/nc_test_driver"
echo "aarch64: done in $((SECONDS - start)) s"
