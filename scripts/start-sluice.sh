# Sourced by scripts/demo.sh and the example applications' run.sh (from the repository root).
#
# start_sluice [--tee] LOG ARGS...: runs `target/debug/sluice up ARGS...` in the background
# with its log in LOG (and on stderr too with --tee), sets `host` to its pid, stops it when
# the calling script exits, and returns once the host logs that it is up. If the host exits
# first, or is not up within 30 s, the script fails with the log.
start_sluice() {
  local tee=""
  if [ "$1" = "--tee" ]; then tee=1; shift; fi
  local log=$1
  shift
  if [ -n "$tee" ]; then
    target/debug/sluice up "$@" 2> >(tee "$log" >&2) &
  else
    target/debug/sluice up "$@" 2>"$log" &
  fi
  host=$!
  trap 'kill -TERM $host 2>/dev/null; wait $host 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    grep -q "sluice is up" "$log" 2>/dev/null && return 0
    if ! kill -0 "$host" 2>/dev/null; then
      [ -n "$tee" ] || cat "$log" >&2
      echo "sluice exited; its log is above" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$tee" ] || cat "$log" >&2
  echo "sluice did not come up within 30 s; its log is above" >&2
  exit 1
}
