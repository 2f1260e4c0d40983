#!/usr/bin/env bash
# Cross-compiles the C core and links its test driver for the platforms
# this machine cannot run (zig cc, a clang with every target's libc
# headers, from PyPI), warnings as errors:
#   aarch64-linux-gnu, aarch64-macos, x86_64-macos, x86_64-windows-gnu.
# The thread runtime compiles with its pthread (Linux, macOS) and Win32
# backends.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet ziglang
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
for target in aarch64-linux-gnu aarch64-macos x86_64-macos x86_64-windows-gnu; do
  arch=${target%%-*}
  echo "cross: $target"
  # Windows: objects only; linking would first build the MinGW C runtime
  # from source (many minutes on 2 cores)
  link=1
  [ "$target" = x86_64-windows-gnu ] && link=0
  NC_NO_LINK=$((1 - link)) .ci/build_core.sh "$work/$target" "$arch" "python -m ziglang cc -target $target" -Werror
  if [ $link = 1 ]; then
    ls -l "$work/$target/nc_test_driver" | sed 's/^/  /'
  fi
done
echo "cross: done in $((SECONDS - start)) s"
