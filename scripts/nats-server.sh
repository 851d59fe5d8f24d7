# Sourced (from the repository root) after scripts/ensure-deps.sh by the scripts that start
# nats-server or `sluice up`: points SLUICE_NATS_SERVER at the nats-server ensure-deps
# installed, unless the caller already chose one.
export SLUICE_NATS_SERVER="${SLUICE_NATS_SERVER:-$PWD/target/nats-server-venv/bin/nats-server}"
