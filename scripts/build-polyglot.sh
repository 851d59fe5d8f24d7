#!/usr/bin/env bash
# Builds the Python and JavaScript example handlers into target/functions/ with
# componentize-py (from PyPI) and ComponentizeJS (from npm); each build script installs its
# pinned tool on first use. Then the test-only handlers of tests/polyglot/, with those tools.
set -euo pipefail
cd "$(dirname "$0")/.."
functions/py-order-total/build.sh
functions/js-order-total/build.sh
tests/polyglot/build.sh
