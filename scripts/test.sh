#!/usr/bin/env bash
# Runs the whole test suite: unit tests, SDK doctests and the integration tests, which start
# their own nats-server on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
. scripts/nats-server.sh
# The Python and JavaScript handlers the integration tests deploy.
scripts/build-polyglot.sh
# A trap in a handler must not pay for a host backtrace (see README, "Performance notes").
export RUST_LIB_BACKTRACE=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# nextest does not run doctests.
cargo test --workspace --doc
