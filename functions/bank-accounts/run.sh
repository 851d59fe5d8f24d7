#!/usr/bin/env bash
# The bank accounts example in one command: builds the four functions and the driver, starts
# `sluice up` on them (with a local nats-server when none answers on 127.0.0.1:4222), sends
# a burst of concurrent commands, prints the balances and the latest transactions as the
# query function answers them, and stops the host.
#   functions/bank-accounts/run.sh [--commands N] [--concurrency N] [--nats URL]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/ensure-deps.sh
. scripts/nats-server.sh

nats_args=()
driver_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nats) nats_args=(--nats "$2"); driver_args+=(--nats "$2"); shift 2 ;;
    *) driver_args+=("$1"); shift ;;
  esac
done

. scripts/start-sluice.sh
functions=(account transfer projection query)
echo "==> building the host, the driver and the bank functions"
cargo build -q -p sluice-cli -p bank-driver
cargo build -q --release --target wasm32-wasip2 $(printf -- '-p bank-%s ' "${functions[@]}")

app=target/apps/bank-accounts
deploy=$app/functions
rm -rf "$deploy" "$app/state/nats" && mkdir -p "$deploy"
for name in "${functions[@]}"; do
  cp "target/wasm32-wasip2/release/bank_$name.wasm" "$deploy/bank-$name.wasm"
  cp "functions/bank-accounts/$name/bank-$name.toml" "$deploy/"
done
sluice=target/debug/sluice
$sluice check "$deploy"

echo "==> starting sluice (log: $app/sluice.log)"
log=$app/sluice.log
start_sluice "$log" --functions "$deploy" --state-dir "$app/state" --no-watch "${nats_args[@]}"

target/debug/bank-driver "${driver_args[@]}"
echo "==> stopping sluice"
