#!/usr/bin/env bash
# Installs what building and testing Sluice needs and a fresh machine lacks:
# the wasm32-wasip2 Rust target, nats-server, and a few Debian packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# rust-toolchain.toml names the target; asking rustup for it installs it if missing.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "==> installing the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
updated=""
# Installs Debian package $1 (refreshing the package lists once per run).
apt_install() {
  echo "==> installing $1 (Debian package)"
  if [ -z "$updated" ]; then
    $sudo apt-get update -qq
    updated=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  apt_install nats-server
fi
# The benchmark's chart labels need a font.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_install fonts-dejavu-core
# The marketplace application's run.sh talks to its webhook receiver with curl.
command -v curl >/dev/null || apt_install curl
# Debian's package also starts a system service on :4222 where systemd runs; Sluice does
# not need it (tests start their own servers), and `sluice up` simply uses it if present.
