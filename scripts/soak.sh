#!/usr/bin/env bash
# Soak test: starts a release server on a free loopback port and runs
# examples/soak.rs against it for SECONDS (default 180): well-behaved people
# chatting while others misbehave (the kinds are listed in the example's doc
# comment). Prints sent/delivered/lost, the server's memory over time against
# its worst-case bound, and what each misbehaviour got; exits non-zero if the
# well-behaved lost anything or memory went over the bound. Extra arguments
# go to the soak example (see --help).
#
# SERVER_ARGS: flags for the server, word-split (default `--max-rooms 50`, so
# that the room churn keeps the room limit evicting). Unless they name a
# --data-dir or --redis-url, history goes to a temporary data directory,
# removed on exit, so that the store's paths are under the load too.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
shift || true

read -r -a server_args <<<"${SERVER_ARGS---max-rooms 50}"
data_dir=
case " ${server_args[*]} " in
*" --data-dir"* | *" --redis-url"*) ;;
*)
    data_dir=$(mktemp -d)
    server_args+=(--data-dir "$data_dir")
    ;;
esac

cargo build --release --bin server --example soak
log=$(mktemp)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -f "$log"
    if [ -n "$data_dir" ]; then rm -rf "$data_dir"; fi
}
trap cleanup EXIT
target/release/server --port 0 "${server_args[@]}" >"$log" 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
addr=$(sed -n 's|listening on ws://||p' "$log")
[ -n "$addr" ] || { echo "the server did not start (flags: ${server_args[*]})" >&2; exit 1; }

echo "server flags: ${server_args[*]}"
target/release/examples/soak --addr "$addr" --server-pid "$server" --seconds "$seconds" "$@"
