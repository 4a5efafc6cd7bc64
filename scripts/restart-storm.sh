#!/usr/bin/env bash
# A restart storm (issue 17): N connections in one room, the server restarted
# under them, and everyone back with nothing lost. The server runs on core 0
# with --data-dir (so the lines said before the restart survive it) and the
# connection cap raised; the load generator (`loadgen --reconnect N`, which
# comes back with the terminal client's own backoff) on core 1. The load
# generator sends the server SIGTERM once everyone has read the first lines;
# this script waits for that server to exit and starts the next on the same
# port at once, and samples the servers' resident memory against their
# `chat_memory_bound_bytes` (GET /metrics) every 100 ms until the storm is over.
#
#   scripts/restart-storm.sh [N]        # default 19000
#
# PORT picks the port (default 19500); OUT, a file to append the result to
# as one JSON line (the load generator's, with the server's figures added);
# SERVER and LOADGEN, other builds of the two to compare (default: this
# checkout's release build).
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-19000}
port=${PORT:-19500}
out=${OUT:-}
server=${SERVER:-target/release/server}
loadgen_bin=${LOADGEN:-target/release/examples/loadgen}

cargo build --release --bin server --example loadgen
# Each process holds N sockets, the load generator a few more while it
# reconnects.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((n + 500)) ]; then
  echo "ulimit -n is $(ulimit -n), too few for $n connections: raise the hard limit" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/data"
server_args=(--port "$port" --max-connections $((n + 1000)) --data-dir "$work/data"
  --messages-per-second 0)

now_ms() {
  echo $(($(date +%s%N) / 1000000))
}

# Starts a server on core 0, waits until it listens, and sets server_pid.
start_server() {
  taskset -c 0 "$server" "${server_args[@]}" >>"$work/server.out" 2>>"$work/server.err" &
  server_pid=$!
  echo "$server_pid" >"$work/pid"
  for _ in $(seq 500); do
    port_open && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "the server did not start on port $port:" >&2
  cat "$work/server.err" >&2
  exit 1
}

# Every 100 ms until $work/stop exists: milliseconds, the server's pid, its
# resident KiB, and its memory bound in bytes (read once per server).
sample() {
  local pid bound="" bound_pid=""
  while [ ! -e "$work/stop" ]; do
    pid=$(cat "$work/pid")
    if [ "$pid" != "$bound_pid" ] && port_open; then
      bound=$(curl -s "http://127.0.0.1:$port/metrics" |
        awk '$1 == "chat_memory_bound_bytes" {print $2}') || true
      [ -n "$bound" ] && bound_pid=$pid
    fi
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || rss=""
    [ -n "$rss" ] && echo "$(now_ms) $pid $rss ${bound:-0}"
    sleep 0.1
  done
}

# Few TIME_WAIT sockets left by the last run, so that runs compare.
time_wait_drained 5000

if port_open; then
  echo "port $port is taken: stop what listens there (ss -ltnp 'sport = :$port') or set PORT" >&2
  exit 1
fi
start_server
first_pid=$server_pid
sample >"$work/rss" &
sampler=$!

taskset -c 1 "$loadgen_bin" --port "$port" --server-pid "$first_pid" \
  --reconnect "$n" --messages 20 --after 20 --concurrency 200 --timeout 300 \
  >"$work/loadgen.out" 2>&1 &
loadgen=$!

# The load generator stops the first server; the next starts at once.
wait "$first_pid" && first_status=0 || first_status=$?
down_at=$(now_ms)
start_server
up_at=$(now_ms)
wait "$loadgen" && loadgen_status=0 || loadgen_status=$?
touch "$work/stop"
wait "$sampler" || true
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" || true

cat "$work/loadgen.out"
sigterm_at=$(grep -o '"sigterm_unix_ms":[0-9]*' "$work/loadgen.out" | cut -d: -f2)
echo "first server exited with status $first_status $((down_at - ${sigterm_at:-down_at})) ms after its SIGTERM; the next listened $((up_at - down_at)) ms later"
# Each server's peak resident memory against its bound.
awk '{ if ($3 > peak[$2]) peak[$2] = $3; bound[$2] = $4 }
  END { for (p in peak) printf "server %s: peak resident %.1f MiB, bound %.1f MiB (%s)\n",
        p, peak[p] / 1024, bound[p] / 1048576, (bound[p] > 0 && peak[p] * 1024 <= bound[p]) ? "within" : "OVER or unknown" }' \
  "$work/rss"
# A connection not closed within the shutdown's 3 s is logged as a warning.
warnings=$(grep -cE ' (WARN|ERROR) ' "$work/server.err" || true)
echo "server warnings and errors: $warnings"
grep -E ' (WARN|ERROR) ' "$work/server.err" | head -5 || true
if [ -n "$out" ]; then
  line=$(grep '^{' "$work/loadgen.out" | tail -1)
  peaks=$(awk '{ if ($3 > peak[$2]) peak[$2] = $3; bound[$2] = $4 }
    END { s = ""; for (p in peak) s = s sprintf("%s{\"peak_rss_kib\":%d,\"bound_bytes\":%d}", (s == "" ? "" : ","), peak[p], bound[p]); print s }' "$work/rss")
  echo "{\"storm\":${line:-null},\"first_server_status\":$first_status,\"exit_ms\":$((down_at - ${sigterm_at:-down_at})),\"restart_ms\":$((up_at - down_at)),\"servers\":[$peaks],\"loadgen_status\":$loadgen_status,\"server_warnings\":$warnings}" >>"$out"
fi
exit "$loadgen_status"
