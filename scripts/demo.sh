#!/usr/bin/env bash
# Builds the example functions and the host, runs `sluice up` with them (starting a local
# nats-server if none answers on 127.0.0.1:4222), and sends one order through:
#   orders.submitted -> validate-order -> orders.placed -> order-total -> orders.totalled
#                    -> email-receipt (email.outbox) and order-analytics (analytics.orders)
# Then keeps the host running until Ctrl-C. With --once it stops after the demo event.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
. scripts/nats-server.sh

. scripts/start-sluice.sh
functions=(validate-order order-total email-receipt order-analytics)
echo "==> building the host and the example functions (the first build compiles wasmtime: ~10 minutes)"
cargo build -p sluice-cli
cargo build --release --target wasm32-wasip2 $(printf -- '-p %s ' "${functions[@]}")

deploy=target/demo/functions
rm -rf "$deploy" && mkdir -p "$deploy"
for name in "${functions[@]}"; do
  cp "target/wasm32-wasip2/release/${name//-/_}.wasm" "$deploy/$name.wasm"
  cp "functions/$name/$name.toml" "$deploy/$name.toml"
done
sluice=target/debug/sluice
$sluice check "$deploy"

echo "==> starting sluice"
log=target/demo/sluice.log
start_sluice --tee "$log" --functions "$deploy" --state-dir target/demo/state

order='{"id":"o-1001","customer":"ada@example.com","items":[{"sku":"book","qty":2,"price":1999},{"sku":"pen","qty":3,"price":250}]}'
echo "==> sending an order"
$sluice publish orders.submitted --data "$order" --header Sluice-Correlation-Id=demo-1 \
  --wait-for orders.totalled --wait-for email.outbox --wait-for analytics.orders --timeout 10

if [ "${1:-}" = "--once" ]; then
  exit 0
fi
echo "==> sluice is running; try: $sluice publish orders.submitted --data '$order' --wait-for email.outbox"
echo "    Ctrl-C stops it."
wait $host
