#!/usr/bin/env bash
# Old against new: the server built from REV and this checkout's, run
# alternately (base, new, base, new, ...) RUNS times per scenario (default 3
# runs of fanout and chat), with the same load generator and the same
# pinning as bench/run.sh, so that a refactor can show it kept the hot path.
# Prints every run, then per scenario and metric both sides' values, their
# medians, and whether the new median falls inside the base runs' range.
#
#   bench/compare.sh REV [RUNS] [SCENARIO...]
#   bench/compare.sh HEAD~3 3 fanout chat
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/compare.sh REV [RUNS] [SCENARIO...]}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
scenarios=("${@:-fanout chat}")
read -r -a scenarios <<<"${scenarios[*]}"
out=${OUT:-$(mktemp --suffix .jsonl)}

base=$(mktemp -d)/base
git worktree add --detach "$base" "$rev" >/dev/null
trap 'git worktree remove --force "$base"' EXIT
# Its own target directory: the base build must not replace this checkout's.
cargo build --release --bin server --manifest-path "$base/Cargo.toml" --target-dir target/base
export BASE_SERVER=$PWD/target/base/release/server

for _ in $(seq "$runs"); do
  SERVERS="chat-base chat" OUT="$out" CHART="${CHART:-/tmp/compare.png}" bench/run.sh 1 "${scenarios[@]}" >/dev/null
done

python3 - "$out" <<'PY'
import json, statistics, sys
# (title, path in the load generator's JSON, lower is better)
LATENCY = [("p50 latency (µs)", ("latency_us", "p50"), True), ("p99 latency (µs)", ("latency_us", "p99"), True)]
METRICS = {
    "fanout": [("server CPU per delivery (µs)", ("server_cpu_us_per_delivery",), True),
               ("deliveries per second", ("deliveries_per_sec",), False)],
    "chat": LATENCY,
    "light": LATENCY,
    "idle": [("KiB per connection", ("server_kib_per_connection",), True),
             ("connect seconds", ("connect_secs",), True)],
}
runs = [json.loads(line) for line in open(sys.argv[1])]
def get(result, path):
    for key in path:
        result = result.get(key) if isinstance(result, dict) else None
    return result
print("| scenario | metric | base runs | base median | new runs | new median | new median in base range |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for scenario in dict.fromkeys(r["scenario"] for r in runs):
    for title, path, lower_is_better in METRICS.get(scenario, []):
        side = {s: [v for r in runs if r["scenario"] == scenario and r["server"] == s
                    and (v := get(r["result"], path)) is not None] for s in ("chat-base", "chat")}
        if not side["chat-base"] or not side["chat"]:
            continue
        b, n = side["chat-base"], side["chat"]
        fmt = lambda xs: ", ".join(f"{x:,.2f}" if isinstance(x, float) else f"{x:,}" for x in xs)
        mb, mn = statistics.median(b), statistics.median(n)
        inside = "yes" if min(b) <= mn <= max(b) else ("better" if (mn < min(b)) == lower_is_better else "no")
        print(f"| {scenario} | {title} | {fmt(b)} | {mb:,.2f} | {fmt(n)} | {mn:,.2f} | {inside} |")
PY
