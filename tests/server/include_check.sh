#!/usr/bin/env bash
# The server's layering, checked at build level (ctest server.include_check):
# server/ sees the engines only through engines/engine.h (sessions, steps, the
# read-only StateBudget view, and the Tokenizer interface engine.h hands out).
# engines/registry.h, which builds engines from
# their specs, is allowed in server/engine_host.{h,cc} alone, the one place
# that creates engines. Any other engines/ header (a concrete pool, ops,
# a family) in server/ fails, naming the file and line. Shared math both
# sides need lives in common/ (e.g. common/argmax.h).
#
#   tests/server/include_check.sh [SOURCE_DIR]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
shopt -s nullglob
files=("$root"/server/*.h "$root"/server/*.cc "$root"/server/*/*.h "$root"/server/*/*.cc)
if (( ${#files[@]} == 0 )); then
  echo "include_check: no sources under $root/server"; exit 1
fi
bad=0
for f in "${files[@]}"; do
  name=$(basename "$f")
  while IFS=: read -r line header; do
    case "$header" in
      engines/engine.h) continue ;;
      engines/registry.h)
        [[ "$name" == engine_host.h || "$name" == engine_host.cc ]] && continue ;;
    esac
    echo "include_check: server/$name:$line includes \"$header\"; the server may" \
         "include engines/engine.h only (engines/registry.h in engine_host)"
    bad=1
  done < <(grep -noE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"engines/[^"]+"' "$f" |
           sed -E 's/^([0-9]+):.*"(engines\/[^"]+)".*/\1:\2/')
done
if (( bad )); then exit 1; fi
echo "include_check: ${#files[@]} server files include no engine internals"
