#!/usr/bin/env bash
# Runs the benchmark scenarios of BENCHMARKS.md against our server and the
# peers, side by side, RUNS times each (default 3), on loopback. The server
# runs on core 0 and the load generator on core 1 (taskset), so they do not
# take each other's core. Each run appends one JSON line (the load
# generator's, plus the server and scenario) to bench/results.jsonl; then
# bench/chart.py draws BENCHMARKS.png and prints the medians.
#
#   bench/install-peers.sh   # once: websocat and the ws library
#   bench/run.sh [RUNS] [SCENARIO...]
#
# The scenarios by default: fanout chat light idle held; issue 17's one-room
# and one-room-held are asked for by name (bench/run.sh 3 idle one-room
# one-room-held puts them side by side with the rooms of 100).
#
# LOADGEN and CHAT_SERVER name other builds of the load generator and of our
# server than this checkout's. SERVERS picks the servers (default "chat websocat ws"); `chat-disk` is our
# server with durable history (--data-dir in a fresh temporary directory);
# `chat-base` is the server binary named by BASE_SERVER (another build of
# ours, as bench/compare.sh sets it).
# OUT and CHART change where the results and the chart go, e.g. to compare
# chat with chat-disk without touching the main results:
#
#   SERVERS="chat chat-disk" OUT=bench/results-disk.jsonl CHART=/tmp/disk.png bench/run.sh 3 fanout chat
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
shift || true
scenarios=("${@:-fanout chat light idle held}")
read -r -a scenarios <<<"${scenarios[*]}"
peers=$PWD/target/peers
out=${OUT:-bench/results.jsonl}
read -r -a servers <<<"${SERVERS:-chat websocat ws}"
port=19080

cargo build --release --bin server --example loadgen
loadgen=${LOADGEN:-target/release/examples/loadgen}
chat_server=${CHAT_SERVER:-target/release/server}

# Scenario name -> load generator arguments.
declare -A args=(
  [fanout]="--subscribers 1000 --senders 1 --messages 2000 --bytes 64"
  [chat]="--subscribers 100 --senders 10 --messages 1000 --rate 100 --bytes 64"
  [light]="--subscribers 100 --senders 10 --messages 100 --rate 10 --bytes 64"
  [idle]="--subscribers 0 --senders 0 --idle 10000 --hold 1"
  [held]="--subscribers 10 --senders 1 --messages 100 --rate 10 --bytes 64 --idle 19000 --hold 1"
  # Issue 17: 10,000 idle connections in ONE room (the peers have no rooms:
  # for them it is the idle scenario again, run in the same series).
  [one-room]="--subscribers 0 --senders 0 --idle 10000 --idle-room-size 10000 --hold 1"
  # Issue 17: 19,000 in one room, then 5 messages a second apart to all of
  # them; the settling lets the arrivals' presence summary pass first.
  [one-room-held]="--subscribers 19000 --senders 1 --messages 5 --rate 1 --bytes 64 --settle 4 --hold 1"
)

# Extra flags for our server in a scenario: holding 19,000 connections needs
# the connection cap (10,000 by default) raised; nothing else changes.
declare -A server_args=([held]="--max-connections 19500" [one-room-held]="--max-connections 19500")

# Starts SERVER on core 0 and sets server_pid.
start_server() {
  case $1 in
    # shellcheck disable=SC2086
    chat) taskset -c 0 "$chat_server" --port $port --messages-per-second 0 \
            ${server_args[$scenario]:-} >/dev/null 2>&1 & ;;
    # shellcheck disable=SC2086
    chat-base) taskset -c 0 "${BASE_SERVER:?BASE_SERVER names the server binary to compare}" --port $port \
            --messages-per-second 0 ${server_args[$scenario]:-} >/dev/null 2>&1 & ;;
    # shellcheck disable=SC2086
    chat-disk) data_dir=$(mktemp -d)
            taskset -c 0 "$chat_server" --port $port --messages-per-second 0 \
            --data-dir "$data_dir" ${server_args[$scenario]:-} >/dev/null 2>&1 & ;;
    websocat) taskset -c 0 "$peers/bin/websocat" -t "ws-l:127.0.0.1:$port" broadcast:mirror: >/dev/null 2>&1 & ;;
    ws) NODE_PATH="$peers/node/node_modules" taskset -c 0 node bench/ws-broadcast.js $port >/dev/null 2>&1 & ;;
  esac
  server_pid=$!
}

# A program left listening on the port would be measured in the server's
# place, silently; so the port must be free before and the server alive after.
wait_for_port() {
  for _ in $(seq 100); do
    if port_open; then
      kill -0 "$server_pid" 2>/dev/null && return 0
      echo "port $port answers, but not the server just started: another program listens there" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the server did not start on port $port" >&2
  return 1
}

for scenario in "${scenarios[@]}"; do
  for server in "${servers[@]}"; do
    # 19,000 connections through one process is our claim; the peers'
    # broadcast has no rooms, so their idle connections would be flooded.
    [ "$scenario" = held ] && [ "${server%-*}" != chat ] && continue
    for run in $(seq "$runs"); do
      if port_open; then
        echo "port $port is taken: stop what listens there (ss -ltnp 'sport = :$port') and run again" >&2
        exit 1
      fi
      # Over 20,000 TIME_WAIT sockets, the ports would run out.
      time_wait_drained 20000
      start_server $server
      wait_for_port
      peer_flag=""; [ "${server%-*}" != chat ] && peer_flag="--peer"
      # shellcheck disable=SC2086
      line=$(taskset -c 1 $loadgen --port $port --server-pid "$server_pid" $peer_flag \
        ${args[$scenario]} --timeout 60 | tail -1) || line='{"failed":true}'
      echo "{\"scenario\":\"$scenario\",\"server\":\"$server\",\"run\":$run,\"result\":$line}" >> "$out"
      echo "$scenario $server run $run: $line" | cut -c1-160
      kill "$server_pid" 2>/dev/null || true
      wait "$server_pid" 2>/dev/null || true
      [ "$server" = chat-disk ] && rm -rf "$data_dir"
      port=$((port + 1))
    done
  done
done
python3 bench/chart.py "$out" "${CHART:-BENCHMARKS.png}"
