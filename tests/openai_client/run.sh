#!/usr/bin/env bash
# Runs openai_client.test.mjs (the official `openai` npm client against
# trilemma-server's HTTP endpoint). Installs the locked client with `npm ci`
# into WORK_DIR (the build tree), so the source tree stays clean; npm reads
# its registry only here, never at server run time.
#
#   tests/openai_client/run.sh build/bin/trilemma-server build/tests/http/openai_client \
#       build/tests/test_checkpoints/llama_text
set -euo pipefail
server=$(realpath "$1")
work=${2:-$(mktemp -d)}
text_checkpoint=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/openai_client.test.mjs" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.package-lock.stamp 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.stamp
fi
export OMP_WAIT_POLICY=PASSIVE
TRILEMMA_SERVER="$server" TRILEMMA_TEXT_CHECKPOINT="$text_checkpoint" node --test --test-reporter=spec openai_client.test.mjs
