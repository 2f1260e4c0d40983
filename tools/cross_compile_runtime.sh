#!/usr/bin/env bash
# Compiles the thread runtime (csrc/core/nc_thread.c, with nc_cache.c and dispatch.c) for
# other targets with zig's C compiler, warnings as errors, to check the
# backends this machine cannot run: Win32 (x86_64-windows-gnu), the
# condition-variable fallback of pthreads (macOS) and the aarch64 FP-state
# code.  Compile only, nothing is linked or run.
#
#   tools/cross_compile_runtime.sh            # needs `pip install ziglang`
set -euo pipefail

cross_compile_thread_runtime() {
    local root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
    local zig=(python -m ziglang cc)
    local out
    out="$(mktemp -d)"
    local target
    for target in x86_64-windows-gnu aarch64-windows-gnu x86_64-macos aarch64-macos aarch64-linux-gnu \
                  x86_64-linux-musl; do
        for src in core/nc_thread.c core/nc_cache.c core/dispatch.c; do
            "${zig[@]}" -target "$target" -std=gnu99 -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
                -I"$root/csrc/include" -I"$root/csrc/core" -c "$root/csrc/$src" \
                -o "$out/$(basename "$src" .c)-$target.o"
        done
        echo "thread runtime compiles for $target"
    done
    rm -rf "$out"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    cross_compile_thread_runtime "$@"
fi
