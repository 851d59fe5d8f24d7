#!/usr/bin/env bash
# The marketplace in one command: builds `notify` and `analytics` for wasm32-wasip2, deploys
# them into target/apps/marketplace/functions, starts a nats-server of its own (fresh state,
# so counts start at zero), `sluice up`, and receiver.py (the webhook and the dashboard), then
# sends listings and price drops, takes the dashboard down and up again, and prints what
# happened. Stops everything on exit.
#
# Ports (change them if taken): MARKET_PORT (receiver, 8089), MARKET_NATS_PORT (4322),
# MARKET_ADMIN_PORT (sluice's /metrics, 9471).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/ensure-deps.sh
. scripts/nats-server.sh

app=functions/marketplace
out=target/apps/marketplace
port=${MARKET_PORT:-8089}
nats_port=${MARKET_NATS_PORT:-4322}
admin=127.0.0.1:${MARKET_ADMIN_PORT:-9471}
sluice=target/debug/sluice

echo "==> building the host and the marketplace functions"
cargo build -q -p sluice-cli
cargo build -q --release --target wasm32-wasip2 -p market-notify -p market-analytics
rm -rf "$out" && mkdir -p "$out/functions"
for function in analytics notify; do
  cp "target/wasm32-wasip2/release/market_$function.wasm" "$out/functions/$function.wasm"
  sed "s/127\.0\.0\.1:8089/127.0.0.1:$port/g" "$app/$function/$function.toml" >"$out/functions/$function.toml"
done
cp "$app"/notify/*.schema.json "$app"/analytics/*.schema.json "$out/functions/"
$sluice check "$out/functions"

pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

# waits up to $1 seconds for the command after it to succeed
wait_for() {
  local seconds=$1; shift
  for _ in $(seq 1 $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
  echo "timed out after ${seconds}s waiting for: $*" >&2
  if [ -s "$out/sluice.log" ]; then echo "the last lines of sluice's log:" >&2; tail -n 40 "$out/sluice.log" >&2; fi
  exit 1
}
report() { curl -sf "http://127.0.0.1:$port/report"; }
receiver_up() { report >/dev/null; }
# report_has PYTHON-EXPRESSION: true once the expression holds for the report `r`
report_has() { report | python3 -c "import json,sys; r=json.load(sys.stdin); sys.exit(0 if ($1) else 1)" 2>/dev/null; }
dashboard_listings() { echo "sum(w['listings'] for w in r['weeks'].values()) == $1"; }

echo "==> starting nats-server (:$nats_port), the receiver (:$port) and sluice"
"$SLUICE_NATS_SERVER" -js -a 127.0.0.1 -p "$nats_port" -sd "$out/nats" >"$out/nats.log" 2>&1 &
pids+=($!)
python3 "$app/receiver.py" --port "$port" &
pids+=($!)
# `sluice up` would wait for the server (--nats-wait); it starts once the server is ready, so
# its log begins with serving, not with waiting.
wait_for 30 grep -q "Server is ready" "$out/nats.log"
nats=nats://127.0.0.1:$nats_port
NO_COLOR=1 $sluice up --functions "$out/functions" --state-dir "$out/state" --nats "$nats" --admin "$admin" 2>"$out/sluice.log" &
pids+=($!)
# true once the host is up; fails the script with the host's log if it exited
sluice_up() {
  grep -q "sluice is up" "$out/sluice.log" && return 0
  kill -0 "${pids[-1]}" 2>/dev/null && return 1
  cat "$out/sluice.log" >&2; echo "sluice exited; its log is above" >&2; exit 1
}
wait_for 30 sluice_up
wait_for 10 receiver_up

now=$(date -u +%FT%TZ)
publish() { # SUBJECT EVENT-ID JSON
  SLUICE_LOG=warn $sluice publish "$1" --nats "$nats" --header "Sluice-Event-Id=$2" --data "$3" >/dev/null
}
listing() { # ID SELLER TITLE CENTS CURRENCY
  publish market.listing.created "created-$1" \
    "{\"schema\":\"listing-created/1\",\"listing_id\":\"$1\",\"seller\":\"$2\",\"title\":\"$3\",\"price_cents\":$4,\"currency\":\"$5\",\"created_at\":\"$now\"}"
}

echo "==> three listings (one sent twice), a PriceReduced v1 and a v2, and a v3 nobody defined"
listing l-1 ana "Nike Air Jordan 1 (1985)" 25000 USD
listing l-2 ben "Adidas Samba OG" 9000 EUR
listing l-3 chloe "New Balance 550" 12000 USD
listing l-1 ana "Nike Air Jordan 1 (1985)" 25000 USD
publish market.listing.price-reduced reduced-l-1 \
  "{\"schema\":\"price-reduced/1\",\"listing_id\":\"l-1\",\"old_price\":250,\"new_price\":220,\"reduced_at\":\"$now\"}"
publish market.listing.price-reduced reduced-l-2 \
  "{\"schema\":\"price-reduced/2\",\"listing_id\":\"l-2\",\"price\":{\"from_cents\":9000,\"to_cents\":7500,\"currency\":\"EUR\"},\"reduced_at\":\"$now\"}"
publish market.listing.price-reduced reduced-l-9 \
  "{\"schema\":\"price-reduced/3\",\"listing_id\":\"l-9\",\"reduced_at\":\"$now\"}"
wait_for 20 report_has "r['webhook_calls'] == 3 and $(dashboard_listings 3) and sum(w['price_reductions'] for w in r['weeks'].values()) == 2"
echo "==> the v3 event was dead-lettered unprocessed:"
SLUICE_LOG=warn $sluice dlq list analytics --nats "$nats" --functions "$out/functions"

echo "==> the dashboard goes down; three more listings arrive"
curl -sf -X POST "http://127.0.0.1:$port/control/dashboard/down"
listing l-4 dan "Converse Chuck 70" 8500 USD
listing l-5 eva "Asics Gel-Lyte III" 11000 EUR
listing l-6 finn "Vans Old Skool" 6000 USD
wait_for 20 grep -q "circuit opened" "$out/sluice.log"
wait_for 20 grep -q "circuit opened again" "$out/sluice.log"
echo "==> the dashboard is back"
curl -sf -X POST "http://127.0.0.1:$port/control/dashboard/up"
wait_for 30 grep -q "circuit closed" "$out/sluice.log"
wait_for 20 report_has "r['webhook_calls'] == 6 and $(dashboard_listings 6)"

echo
echo "==> what the circuit breaker did (from sluice's log):"
grep -o "circuit [a-z].*" "$out/sluice.log" | sed 's/ function=.*//; s/^/    /'
echo "==> its metrics:"
curl -sf "http://$admin/metrics" | grep '^sluice_circuit.*analytics' | sed 's/^/    /'
echo "==> what the receiver saw (6 listings, l-1 sent twice):"
python3 "$app/receiver.py" --summary --port "$port"
echo "==> logs: $out/sluice.log"
