# Shell functions shared by bench/run.sh and scripts/restart-storm.sh,
# sourced from the repository's root; both set $port first.

# Whether something listens on 127.0.0.1:$port.
port_open() {
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null
}

# Waits (65 s at most) while the loopback holds $1 TIME_WAIT sockets or
# more: every run leaves up to one per connection, sharing the ephemeral
# ports (28,000 here) with the next run's connects.
time_wait_drained() {
  for _ in $(seq 65); do
    [ "$(ss -Htan state time-wait | wc -l)" -lt "$1" ] && return 0
    sleep 1
  done
}
