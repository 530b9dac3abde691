#!/usr/bin/env bash
# Builds and runs every test: the README's second command, and what .ci/run
# calls.
#
#   tests/run-all.sh           # install deps, Release build + all tests, then
#                              # an ASan/UBSan build + all tests but the slow
#   tests/run-all.sh --fast    # skip the sanitizer pass
#
# Warnings are errors in both builds. Exit status is non-zero if any test
# fails. Build trees: build/ and build-asan/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
for arg in "$@"; do
  case "$arg" in
    --fast) fast=1 ;;
    *) echo "usage: tests/run-all.sh [--fast]" >&2; exit 2 ;;
  esac
done

jobs=$(nproc 2>/dev/null || echo 2)
# oneDNN's OpenMP runtime otherwise spin-waits between matmuls, stealing the
# core the engine's own loops (and other tests) need.
export OMP_WAIT_POLICY=PASSIVE
start=$(date +%s)

deploy/install-deps.sh --with-tests

echo "=== build (RelWithDebInfo, -Werror) ==="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRILEMMA_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "=== tests ==="
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

if [[ $fast -eq 0 ]]; then
  echo "=== build (ASan + UBSan, -Werror) ==="
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRILEMMA_WERROR=ON \
    -DTRILEMMA_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  echo "=== tests under ASan + UBSan (label 'slow' excluded) ==="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900 \
      -LE slow
fi
echo "=== all tests passed in $(( $(date +%s) - start ))s ==="
