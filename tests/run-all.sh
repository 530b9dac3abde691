#!/usr/bin/env bash
# Builds and runs every test: the README's second command, and what .ci/run
# calls.
#
#   tests/run-all.sh           # install deps, Release build + all tests, then
#                              # an ASan/UBSan build + all tests but the slow
#   tests/run-all.sh --fast    # skip the sanitizer pass and the fuzzers
#
# Warnings are errors in both builds. Exit status is non-zero if any test
# fails. Build trees: build/, build-asan/ and build-fuzz/ (git-ignored).
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
phase_start=$start
# Prints how long the phase that just ended took, so a slow suite shows
# where its time goes.
phase_done() {
  local now
  now=$(date +%s)
  echo "--- $1: $((now - phase_start)) s"
  phase_start=$now
}

deploy/install-deps.sh --with-tests
phase_done "install-deps"

# Both builds are RelWithDebInfo but with -g1 (line tables) instead of -g:
# sanitizer reports and gdb backtraces still show function, file and line, while
# the template-heavy gRPC/protobuf/GoogleTest TUs compile ~20% faster and their
# ~4x smaller objects link much faster. Full -g is CMake's default for a
# hand-configured build dir.
config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DTRILEMMA_WERROR=ON)

echo "=== build (RelWithDebInfo, -Werror) ==="
cmake -S . -B build "${config[@]}" >/dev/null
cmake --build build -j"$jobs"
phase_done "build"
echo "=== tests ==="
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
phase_done "tests"

if [[ $fast -eq 0 ]]; then
  echo "=== build (ASan + UBSan, -Werror) ==="
  # The benchmarks are not tests, and the -Werror pass above already compiled
  # them. Precompiled headers are safe here because that pass, built without
  # them, already proved every file includes what it uses.
  # -O1 is what the sanitizers' own docs recommend (good stack traces,
  # reasonable speed) and compiles a third faster than -O2; the engines keep
  # their -O3, and the -Werror pass above already saw the -O2 warnings.
  cmake -S . -B build-asan "${config[@]}" -DTRILEMMA_SANITIZE=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DTRILEMMA_BUILD_BENCHMARKS=OFF -DTRILEMMA_PCH=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  phase_done "ASan build"
  echo "=== tests under ASan + UBSan (label 'slow' excluded) ==="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900 \
      -LE slow
  phase_done "ASan tests"
  echo "=== overload soak under ASan + UBSan (60 s at 2x, tests/soak) ==="
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    tests/soak/run-soak.sh build-asan 60s 2 -- --soak_settle=5s
  phase_done "ASan soak"
  echo "=== fuzzers (clang, libFuzzer + ASan + UBSan, 20 s per target) ==="
  # tests/fuzz/run-fuzzers.sh 600 is the longer run (README, Security).
  tests/fuzz/run-fuzzers.sh 20
  phase_done "fuzz build and runs"
fi
echo "=== all tests passed in $(( $(date +%s) - start ))s ==="
