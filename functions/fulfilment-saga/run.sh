#!/usr/bin/env bash
# The fulfilment saga in one command: builds the four functions and the driver, deploys them
# on `sluice up` (which starts a local nats-server when none answers on 127.0.0.1:4222),
# places 1,000 orders, waits until each ended (the payment timeout cancels those whose payment
# was dead-lettered), replays the dead letters as late answers, and prints the stock table,
# the outcomes, the timings and three orders' traces. Stops the host at the end.
#
#   functions/fulfilment-saga/run.sh [--orders N] [--nats URL]
set -euo pipefail
cd "$(dirname "$0")/../.."

orders=1000
nats=""
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) orders="$2"; shift 2 ;;
    --nats) nats="$2"; shift 2 ;;
    *) echo "usage: $0 [--orders N] [--nats URL]" >&2; exit 2 ;;
  esac
done
scripts/ensure-deps.sh
. scripts/nats-server.sh

. scripts/start-sluice.sh
functions=(saga-inventory saga-payment saga-shipping saga-email)
echo "==> building the host, the driver and the saga's functions"
cargo build -q -p sluice-cli -p saga-driver
cargo build -q --release --target wasm32-wasip2 $(printf -- '-p %s ' "${functions[@]}")

app=target/apps/fulfilment-saga
rm -rf "$app" && mkdir -p "$app/functions"
for name in "${functions[@]}"; do
  cp "target/wasm32-wasip2/release/${name//-/_}.wasm" "$app/functions/$name.wasm"
  cp "functions/fulfilment-saga/${name#saga-}/$name.toml" "$app/functions/$name.toml"
done
sluice=target/debug/sluice
$sluice check "$app/functions"

echo "==> starting sluice (log: $app/sluice.log)"
log="$app/sluice.log"
start_sluice "$log" --functions "$app/functions" --state-dir "$app/state" ${nats:+--nats "$nats"}
url=$(sed -n 's/.*NATS at \([^ ]*\)\. Ctrl-C.*/\1/p' "$log" | head -1)

echo "==> placing $orders orders"
target/debug/saga-driver --nats "${url:-nats://127.0.0.1:4222}" --orders "$orders" \
  --sluice "$sluice" --functions "$app/functions"
