#!/usr/bin/env bash
# Installs the peers the benchmarks compare against, from the package
# registries, into target/peers (nothing of theirs is committed):
# - websocat (crates.io), run as `websocat -t ws-l:ADDR broadcast:mirror:`
# - the `ws` Node library (npm), run with bench/ws-broadcast.js
set -euo pipefail
cd "$(dirname "$0")/.."
peers=$PWD/target/peers
mkdir -p "$peers/node"
if [ ! -x "$peers/bin/websocat" ]; then
  cargo install --quiet --locked --root "$peers" websocat
fi
if [ ! -d "$peers/node/node_modules/ws" ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
  npm install --silent --prefix "$peers/node" ws
fi
echo "peers installed in $peers"
