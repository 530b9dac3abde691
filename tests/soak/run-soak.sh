#!/usr/bin/env bash
# Overload soak against a freshly started server: `trilemma soak` measures
# the sustainable rate, drives mixed Generate/Session load at a multiple of
# it with cancels, short deadlines, slow readers and killed clients, then
# checks every call ended (hung 0), the protocol held and the gauges are back
# to 0. Exit status is the soak's (0 = passed), or 1 if the server misbehaved.
#
#   tests/soak/run-soak.sh [BUILD_DIR] [DURATION] [MULTIPLE] [-- soak flags]
#   tests/soak/run-soak.sh build-asan 60s 2            # what run-all.sh runs
#   tests/soak/run-soak.sh build 10m 2 -- --soak_settle=30s --soak_max_rss_ratio=1.5
set -euo pipefail
cd "$(dirname "$0")/../.."

build=${1:-build}
duration=${2:-60s}
multiple=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

export OMP_WAIT_POLICY=PASSIVE
log=$(mktemp -d)/server.log
"$build/bin/trilemma-server" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "ready: grpc=" "$log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
ready=$(grep -m1 "ready: grpc=" "$log" || true)
grpc=$(sed -E 's/.*grpc=([^ ]+).*/\1/' <<<"$ready")
metrics=$(sed -E 's/.*metrics=([^ ]+).*/\1/' <<<"$ready")
if [[ -z "$grpc" || "$grpc" == "$ready" ]]; then
  echo "run-soak: no ready line from the server:"; cat "$log"; exit 1
fi
echo "run-soak: server $server on $grpc (metrics $metrics), $duration at ${multiple}x"

status=0
"$build/bin/trilemma" --target="$grpc" soak --duration="$duration" \
  --soak_multiple="$multiple" --server_pid="$server" \
  --metrics_target="$metrics" "${extra[@]}" || status=$?

kill -TERM "$server"
if ! wait "$server"; then
  echo "run-soak: the server did not exit cleanly:"; tail -50 "$log"; status=1
fi
trap - EXIT
exit "$status"
