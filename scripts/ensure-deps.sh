#!/usr/bin/env bash
# Installs what building and testing Sluice needs and a fresh machine lacks:
# the wasm32-wasip2 Rust target and nats-server. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# rust-toolchain.toml names the target; asking rustup for it installs it if missing.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "==> installing the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  echo "==> installing nats-server (Debian package)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi
# The benchmark's chart labels need a font.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  echo "==> installing fonts-dejavu-core (for the benchmark chart)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
# The marketplace application's run.sh talks to its webhook receiver with curl.
if ! command -v curl >/dev/null; then
  echo "==> installing curl"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
# Debian's package also starts a system service on :4222 where systemd runs; Sluice does
# not need it (tests start their own servers), and `sluice up` simply uses it if present.
