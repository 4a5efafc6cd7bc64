#!/usr/bin/env bash
# Soak test: starts a release server on a free loopback port and runs
# examples/soak.rs against it for SECONDS (default 180): well-behaved people
# chatting while others flood, stop reading, send oversized frames, handshake
# slowly, send garbage and churn. Prints sent/delivered/lost and the server's
# memory over time. Extra arguments go to the soak example (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
shift || true

cargo build --release --bin server --example soak
log=$(mktemp)
target/release/server --port 0 >"$log" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
addr=$(sed -n 's|listening on ws://||p' "$log")
[ -n "$addr" ] || { echo "the server did not start" >&2; exit 1; }

target/release/examples/soak --addr "$addr" --server-pid "$server" --seconds "$seconds" "$@"
