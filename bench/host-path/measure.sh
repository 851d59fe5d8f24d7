#!/usr/bin/env bash
# Measures what one event costs the host process alone: a release `sluice up` with
# order-total, a nats-server, and orders published from a separate Python process
# (drive.py), so the publisher and collector are not counted.
#
#   bench/host-path/measure.sh SLUICE_BINARY EVENTS_PER_INSTANCE EVENTS [callgrind|allocs|stat|record]
#
# callgrind (default): instructions of the host process while EVENTS events go through,
#   after a warm-up with instrumentation off; reruns stay within about ±0.8 %. Valgrind cannot
#   reserve the pooling allocator's address space, so fresh instances are allocated on
#   demand there. Kernel time (syscalls, context switches) is not counted.
# allocs: heap allocations of the host process per event while EVENTS events go through
#   (after the warm-up); SLUICE_BINARY must be built with the counting allocator:
#   cargo build --release -p sluice-cli --features count-allocations
# stat: CPU time of the host process (perf stat task-clock); noisy on a shared machine.
# record: a flat perf profile (cpu-clock) of the host process; FREQ sets the sampling rate
#   (default 2000 Hz), PERF_RECORD_ARGS adds perf options (e.g. -g for call graphs), and with
#   SLUICE_PROFILE=perfmap the handler's compiled functions are named too.
#
# Environment: GUEST (the order-total component), WARM (warm-up events, default 500),
# TRIGGER (core, the default, or jetstream: orders go into a stream ORDERS and the function
# pulls them from it, acking each),
# LOG (the host's SLUICE_LOG; default warn,sluice::commands=info; LOG=info is the shipped
# level, LOG=off,sluice::commands=info logs nothing but the readiness line),
# LOG_LINES (the function's limits.log_lines_per_second; under callgrind the host runs about
# 50 times slower, so the default budget of 1000 covers every line there: scale it down to
# measure what the budget saves at full speed),
# FUNCTIONS (core only: N copies of order-total, order-total-1..N on orders.placed.0..N-1, with
# the orders spread evenly over their subjects: what the fifty-function scenario costs),
# MAX_CONCURRENCY (each function's limits.max_concurrency; default 32),
# EXTRA_TOML (manifest sections appended to each function's manifest, after [limits]; e.g.
# $'[dead_letter]\ntranscript = false'),
# SLUICE_NATS_SERVER (the nats-server binary; default nats-server on PATH),
# PYTHON (with nats-py; default target/bench-venv/bin/python, else python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1 reuse=$2 events=$3 mode=${4:-callgrind}
guest=${GUEST:-$root/target/guests/wasm32-wasip2/release/order_total.wasm}
python=${PYTHON:-$root/target/bench-venv/bin/python}
[ -x "$python" ] || python=python3
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
url=nats://127.0.0.1:$port
mkdir -p "$work/fn"
trigger=${TRIGGER:-core}
case $trigger in
  core) trigger_toml='' ;;
  jetstream) trigger_toml=$'mode = "jetstream"\nstream = "ORDERS"' ;;
  *) echo "TRIGGER must be core or jetstream, not $trigger" >&2; exit 2 ;;
esac
functions=${FUNCTIONS:-1}
if [ "$functions" -gt 1 ] && [ "$trigger" != core ]; then
  echo "FUNCTIONS > 1 is measured with the core trigger only" >&2; exit 2
fi
export SUBJECTS=$functions
for i in $(seq 1 "$functions"); do
  name=order-total subject=orders.placed
  [ "$functions" -gt 1 ] && name=order-total-$i subject=orders.placed.$((i - 1))
  cp "$guest" "$work/fn/$name.wasm"
  cat > "$work/fn/$name.toml" <<TOML
[trigger]
subjects = ["$subject"]
$trigger_toml
[permissions]
publish = ["orders.totalled"]
[limits]
max_pending = 1000000
max_concurrency = ${MAX_CONCURRENCY:-32}
events_per_instance = $reuse
${LOG_LINES:+log_lines_per_second = $LOG_LINES}
${EXTRA_TOML:-}
TOML
done
"${SLUICE_NATS_SERVER:-nats-server}" -p "$port" -a 127.0.0.1 -js -sd "$work/js" >"$work/nats.log" 2>&1 &
nats=$!
# Stops what was started however the script ends (a reader that closes the report early
# ends it too).
cleanup() { kill -INT "${sluice:-}" 2>/dev/null || true; kill "$nats" 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5
[ "$trigger" = jetstream ] && "$python" "$root/bench/host-path/drive.py" "$url" --create-stream
host=(env SLUICE_LOG="${LOG:-warn,sluice::commands=info}")
[ "$mode" = callgrind ] && host+=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out")
"${host[@]}" "$bin" up --functions "$work/fn" --no-watch --nats "$url" --state-dir "$work/state" >"$work/sluice.log" 2>&1 &
sluice=$!
for _ in $(seq 1 600); do grep -q "sluice is up" "$work/sluice.log" && break; sleep 0.5; done
drive() { "$python" "$root/bench/host-path/drive.py" "$url" "$1" 300; }
drive "${WARM:-500}"
case $mode in
  callgrind)
    callgrind_control -i on "$sluice" >/dev/null
    drive "$events"
    callgrind_control -i off "$sluice" >/dev/null
    callgrind_control -d "$sluice" >/dev/null
    sleep 1
    total=$(callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ && $1 ~ /[0-9]/ {gsub(",", "", $1); print $1}')
    echo "instructions per event: $((total / events))" ;;
  allocs)
    count() { kill -USR1 "$sluice"; sleep 0.5; grep '^allocations: ' "$work/sluice.log" | tail -n 1; }
    before=$(count)
    [ -n "$before" ] || { echo "$bin does not report allocations: build it with --features count-allocations" >&2; exit 2; }
    drive "$events"
    sleep 0.5
    after=$(count)
    read -r _ a0 _ r0 <<<"$before"
    read -r _ a1 _ r1 <<<"$after"
    echo "allocations per event: $(( (a1 - a0) / events )).$(( (a1 - a0) * 10 / events % 10 )), reallocations per event: $(( (r1 - r0) / events )).$(( (r1 - r0) * 10 / events % 10 ))" ;;
  stat) perf stat -e ${PERF_STAT_EVENTS:-task-clock,context-switches} -p "$sluice" -- "$python" "$root/bench/host-path/drive.py" "$url" "$events" 300 ;;
  record)
    perf record -e cpu-clock -F ${FREQ:-2000} ${PERF_RECORD_ARGS:-} -o "$work/perf.data" -p "$sluice" -- "$python" "$root/bench/host-path/drive.py" "$url" "$events" 300
    echo "profile: $work/perf.data"
    perf report -i "$work/perf.data" --stdio --no-children --sort symbol 2>/dev/null | grep -v '^#' | head -60 || true ;;
esac
echo "host $(grep VmRSS "/proc/$sluice/status" | tr -s ' ') after the run"
echo "files in $work"
kill -INT "$sluice"; wait "$sluice" || true
