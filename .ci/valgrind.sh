#!/usr/bin/env bash
# One training step (and a save/load) under valgrind's memcheck, on the
# regular build installed in the active environment: uninitialised reads,
# invalid reads/writes and bad frees in neurocore fail the job.
# PYTHONMALLOC=malloc lets memcheck see every Python allocation; the
# suppressions cover errors inside CPython, NumPy and ld.so only (see the
# file).  valgrind's CPU has no AVX-512, so the kernels take their AVX2 path.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
if ! command -v valgrind > /dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind > /dev/null
fi
PYTHONMALLOC=malloc valgrind --error-exitcode=1 --leak-check=no --errors-for-leak-kinds=none \
    --suppressions=.ci/valgrind-python.supp -q python .ci/valgrind_step.py
echo "valgrind.sh: done in $((SECONDS - start)) s"
