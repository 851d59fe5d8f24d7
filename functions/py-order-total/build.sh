#!/usr/bin/env bash
# Builds target/functions/py-order-total.wasm from app.py with componentize-py.
# The tool lives in a virtualenv under target/ (created on first use); nothing is generated
# into the source tree (componentize-py generates its bindings in a temporary folder).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
componentize_py_version="0.25.1"

venv="$root/target/py-venv/componentize-py-$componentize_py_version"
if [ ! -x "$venv/bin/componentize-py" ]; then
  echo "==> installing componentize-py $componentize_py_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$componentize_py_version"
fi

out="$root/target/functions/py-order-total.wasm"
# componentize-py runs the app once at build time (pre-initialisation) with its python path
# mounted, and Python writes __pycache__ there; it also mounts the site-packages of
# $VIRTUAL_ENV (or of the system Python when that is unset). So build from a copy of app.py
# under target/, against our own virtualenv, and the source tree and the machine's Python
# packages stay out of it.
stage="$root/target/py-order-total/app"
rm -rf "$stage" && mkdir -p "$stage" "$(dirname "$out")"
cp "$here/app.py" "$stage/"
VIRTUAL_ENV="$venv" "$venv/bin/componentize-py" \
  --wit-path "$root/wit" --world handler \
  componentize app --python-path "$stage" --output "$out.tmp"
mv "$out.tmp" "$out"   # write-then-rename: a watching `sluice up` never sees half a file
echo "==> built $out ($(stat -c %s "$out") bytes)"
