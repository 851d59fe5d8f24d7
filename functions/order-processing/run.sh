#!/usr/bin/env bash
# Order processing, end to end, with one command: builds the four functions and the driver,
# deploys them under `sluice up` (which starts a local nats-server when none answers on
# 127.0.0.1:4222), sends 10,000 orders of which 10 % twice, prints what each consumer did and
# whether every order was totalled exactly once, waits for the scheduled revenue report that
# counts them all, then stops the host.
# Arguments go to the driver, e.g. `run.sh --orders 2000`.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/ensure-deps.sh
. scripts/nats-server.sh

. scripts/start-sluice.sh
functions=(idempotent-total fulfilment-worker batch-revenue revenue-report)
echo "==> building the host, the driver and the order-processing functions"
cargo build -p sluice-cli -p orders-driver
cargo build --release --target wasm32-wasip2 $(printf -- '-p orders-%s ' "${functions[@]}")

app=target/apps/order-processing
rm -rf "$app" && mkdir -p "$app/functions"
for name in "${functions[@]}"; do
  cp "target/wasm32-wasip2/release/orders_${name//-/_}.wasm" "$app/functions/$name.wasm"
  cp "functions/order-processing/$name/$name.toml" "$app/functions/$name.toml"
done
sluice=target/debug/sluice
$sluice check "$app/functions"

echo "==> starting sluice"
log=$app/sluice.log
start_sluice "$log" --functions "$app/functions" --state-dir "$app/state" --no-watch

echo "==> sending orders (host log: $log)"
target/debug/orders-driver "$@"
