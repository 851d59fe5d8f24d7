#!/usr/bin/env bash
# Builds the test-only Python and JavaScript handlers here into target/functions/, with the
# tools the example handlers' build scripts installed (run scripts/build-polyglot.sh, which
# builds those first).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
componentize_py_version="0.25.1"
venv="$root/target/py-venv/componentize-py-$componentize_py_version"

out="$root/target/functions/py-clock-check.wasm"
stage="$root/target/py-clock-check/app"
rm -rf "$stage" && mkdir -p "$stage" "$(dirname "$out")"
cp "$here/clock_check.py" "$stage/"
VIRTUAL_ENV="$venv" "$venv/bin/componentize-py" \
  --wit-path "$root/wit" --world handler \
  componentize clock_check --python-path "$stage" --output "$out.tmp"
mv "$out.tmp" "$out"
echo "==> built $out ($(stat -c %s "$out") bytes)"

node "$here/build.mjs"
