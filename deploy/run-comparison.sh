#!/usr/bin/env bash
# The recall comparison, end to end: starts build/bin/trilemma-server with its
# built-in engines on free loopback ports, waits until it answers, prints the
# hosted engines, runs `trilemma recall` over them, then a short `trilemma
# sweep` (the triangle report: report.html, SVGs, CSV) and stops the server.
# When models/mqar/manifest.json exists (MQAR-trained checkpoints), the
# server also hosts them (--checkpoint_manifest) and the sweep prints the
# table "capacity@90%: trained / circuit / bound" (--trained_manifest;
# docs/trained-vs-circuit.md); the recall table stays on the built-in engines.
#
#   deploy/run-comparison.sh                      # the README's main job
#   deploy/run-comparison.sh --keep-server        # leave the server running
#   deploy/run-comparison.sh -- --pairs=16,256 --format=json   # recall flags
#
# Options:
#   --keep-server    do not stop the server; print how to reach and stop it
#   --listen=H:P     the server's gRPC address (default 127.0.0.1:0, a free
#                    port; metrics always get a free port)
#   --build-dir=DIR  where bin/trilemma-server and bin/trilemma are (build)
#   --no-sweep       skip the short `trilemma sweep` after the recall table
#   --report-dir=DIR where the sweep writes report.html (BUILD_DIR/report)
#   --manifest=FILE  the checkpoint manifest to host and compare
#                    (default models/mqar/manifest.json when it exists)
#   --no-manifest    host the built-in engines only
#   -- ARGS          passed to `trilemma recall` after the defaults
#                    (--engines=all, or builtin with a manifest,
#                    --pairs=16,64,256,1024)
# Exit status: 0 when every row was measured, non-zero otherwise; the server
# is stopped on every exit path unless --keep-server was given and the run
# succeeded.
set -euo pipefail
# oneDNN's OpenMP threads would otherwise spin between matmuls.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-10000}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${repo_root}/build"
keep_server=0
with_sweep=1
report_dir=""
listen="127.0.0.1:0"
manifest="${repo_root}/models/mqar/manifest.json"
recall_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep-server) keep_server=1 ;;
    --no-sweep) with_sweep=0 ;;
    --report-dir=*) report_dir="${1#--report-dir=}" ;;
    --build-dir=*) build_dir="${1#--build-dir=}" ;;
    --listen=*) listen="${1#--listen=}" ;;
    --manifest=*) manifest="${1#--manifest=}" ;;
    --no-manifest) manifest="" ;;
    --) shift; recall_args=("$@"); break ;;
    -h|--help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-comparison: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

[[ -n "${report_dir}" ]] || report_dir="${build_dir}/report"
server_bin="${build_dir}/bin/trilemma-server"
client_bin="${build_dir}/bin/trilemma"
for bin in "${server_bin}" "${client_bin}"; do
  if [[ ! -x "${bin}" ]]; then
    echo "run-comparison: ${bin} not found; build first:" >&2
    echo "  cmake -S ${repo_root} -B ${build_dir} && cmake --build ${build_dir} -j" >&2
    exit 1
  fi
done

# The trained checkpoints, when shipped: hosted beside the presets, compared
# with their circuits by the sweep; recall stays on the built-in engines.
server_args=()
sweep_args=()
recall_engines="all"
if [[ -n "${manifest}" && -f "${manifest}" ]]; then
  server_args=(--checkpoint_manifest="${manifest}")
  sweep_args=(--trained_manifest="${manifest}")
  recall_engines="builtin"
  echo "Trained checkpoints: ${manifest}"
elif [[ -n "${manifest}" && "${manifest}" != "${repo_root}/models/mqar/manifest.json" ]]; then
  echo "run-comparison: --manifest=${manifest} not found" >&2
  exit 2
fi

log="$(mktemp -t trilemma-server.XXXXXX.log)"
server_pid=""
client_pid=""

# Runs a client command in the background and waits for it, so INT/TERM
# traps run at once instead of after the command.
run_client() {
  "$@" &
  client_pid=$!
  local status=0
  wait "${client_pid}" || status=$?
  client_pid=""
  return "${status}"
}

stop_server() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "${server_pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  server_pid=""
}

on_exit() {
  local status=$?
  if [[ -n "${client_pid}" ]]; then
    kill -TERM "${client_pid}" 2>/dev/null || true
  fi
  if [[ ${status} -ne 0 || ${keep_server} -eq 0 ]]; then
    if [[ ${status} -ne 0 && -s "${log}" ]]; then
      echo "run-comparison: failed (exit ${status}); server log ${log}:" >&2
      tail -n 20 "${log}" >&2
    fi
    stop_server
  fi
  exit "${status}"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Port 0: the server binds free ports and names them in its ready line
#   trilemma-server ready: grpc=127.0.0.1:PORT metrics=127.0.0.1:PORT engines=...
echo "Starting ${server_bin} (log ${log})"
"${server_bin}" --listen="${listen}" --metrics_listen=127.0.0.1:0 \
  "${server_args[@]}" >"${log}" 2>&1 &
server_pid=$!

ready_line=""
for _ in $(seq 1 600); do
  ready_line="$(grep -m1 '^trilemma-server ready:' "${log}" || true)"
  [[ -n "${ready_line}" ]] && break
  if ! kill -0 "${server_pid}" 2>/dev/null; then
    echo "run-comparison: trilemma-server exited during startup" >&2
    exit 1
  fi
  sleep 0.2
done
if [[ -z "${ready_line}" ]]; then
  echo "run-comparison: trilemma-server not ready after 120 s" >&2
  exit 1
fi
target="$(sed -E 's/.* grpc=([^ ]+).*/\1/' <<<"${ready_line}")"
metrics="$(sed -E 's/.* metrics=([^ ]+).*/\1/' <<<"${ready_line}")"
echo "${ready_line}"
# The ready line comes after the listener is up; one call confirms it.
if ! "${client_bin}" --target="${target}" --timeout=10s engines >/dev/null; then
  echo "run-comparison: the server does not answer ListEngines" >&2
  exit 1
fi

echo
"${client_bin}" --target="${target}" engines
echo
echo "Recall comparison (MQAR: store N key-value pairs, then ask queries):"
start=${SECONDS}
run_client "${client_bin}" --target="${target}" recall \
  --engines="${recall_engines}" \
  --pairs=16,64,256,1024 "${recall_args[@]}"
echo "(recall run took $((SECONDS - start)) s)"

if [[ ${with_sweep} -eq 1 ]]; then
  echo
  echo "Triangle sweep (facts stored x context length, every engine):"
  start=${SECONDS}
  run_client "${client_bin}" --target="${target}" sweep --engines=all \
    --pairs=8,32,128,512 --contexts=0,2048 --queries=32 --seed=1 \
    --out="${report_dir}" "${sweep_args[@]}"
  echo "(sweep took $((SECONDS - start)) s)"
  echo "Report: ${report_dir}/report.html"
fi

if [[ ${keep_server} -eq 1 ]]; then
  echo
  echo "trilemma-server is still running (pid ${server_pid}):"
  echo "  ${client_bin} --target=${target} engines"
  echo "  curl -s ${metrics}/metrics | grep ^trilemma_"
  echo "stop it with: kill ${server_pid}    (log: ${log})"
else
  stop_server
  rm -f "${log}"
fi
