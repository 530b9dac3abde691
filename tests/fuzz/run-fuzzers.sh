#!/usr/bin/env bash
# Builds every fuzz target (tests/fuzz/*_fuzz.cc) with clang-14, libFuzzer,
# ASan and UBSan in build-fuzz/, then fuzzes each for SECONDS (default 20),
# starting from its committed seed corpus plus what earlier runs found.
#
#   tests/fuzz/run-fuzzers.sh          # 20 s per target (tests/run-all.sh)
#   tests/fuzz/run-fuzzers.sh 600      # a longer run: 10 min per target
#   FUZZ_JOBS=2 tests/fuzz/run-fuzzers.sh 3600   # 2 fuzzing processes each
#
# Work corpora grow in build-fuzz/corpus/<target>/ (seeds stay untouched);
# a crash, leak, sanitizer report or timeout is saved as
# build-fuzz/artifacts/<target>/crash-* (or leak-*, timeout-*) and fails the
# run. To keep one as a regression test, copy it to
# tests/fuzz/regressions/<target>/ — the ctest fuzz.replay.<target> replays
# it in every build. Prints executions and coverage per target.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-20}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then
  echo "usage: tests/fuzz/run-fuzzers.sh [SECONDS]" >&2
  exit 2
fi
jobs=$(nproc 2>/dev/null || echo 2)
export OMP_WAIT_POLICY=PASSIVE

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
echo "=== build (clang-14, libFuzzer + ASan + UBSan) ==="
# -fsanitize=fuzzer-no-link instruments the libraries for coverage; the
# targets link libFuzzer's main (tests/fuzz/CMakeLists.txt).
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -DTRILEMMA_SANITIZE=ON \
  -DTRILEMMA_FUZZ=ON -DTRILEMMA_ONLY_TEST_AREAS=fuzz \
  -DTRILEMMA_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target trilemma_fuzzers

failed=()
for source in tests/fuzz/*_fuzz.cc; do
  target=$(basename "$source" .cc)
  seeds=tests/fuzz/corpus/$target
  work=build-fuzz/corpus/$target
  artifacts=build-fuzz/artifacts/$target
  mkdir -p "$work" "$artifacts"
  echo "=== $target: ${seconds}s ==="
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  if [[ -n ${FUZZ_JOBS:-} ]]; then
    args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  fi
  log=build-fuzz/$target.log
  corpora=("$work")
  if [[ -d $seeds ]]; then corpora+=("$seeds"); fi
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "build-fuzz/bin/$target" "${args[@]}" "${corpora[@]}" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
    tail -n 40 "$log"
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
          grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  echo "$target: $status, ${execs:-?} executions, ${cov:-cov ?}," \
       "corpus $(find "$work" -type f | wc -l) files (log $log)"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in build-fuzz/artifacts/)"
  exit 1
fi
