#!/usr/bin/env bash
# Builds target/functions/js-order-total.wasm from handler.js with ComponentizeJS.
# Installs the pinned tools from package-lock.json into node_modules/ here (ignored by git).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -d node_modules/@bytecodealliance/componentize-js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
fi
node build.mjs "$@"
