#!/usr/bin/env python3
"""Medians of bench/results.jsonl per scenario and server, as a Markdown
table on stdout and a chart in BENCHMARKS.png. Installs matplotlib from PyPI
if it is missing."""
import json
import statistics
import subprocess
import sys
from collections import defaultdict

try:
    import matplotlib
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

ALL_SERVERS = ["chat-base", "chat", "chat-disk", "websocat", "ws"]
LABELS = {
    "chat-base": "this chat, base build",
    "chat": "this chat",
    "chat-disk": "this chat, --data-dir",
    "websocat": "websocat broadcast",
    "ws": "ws (Node) recipe",
}
# (scenario, metric path, title, unit, lower is better)
METRICS = [
    ("fanout", ("server_cpu_us_per_delivery",), "1,000 subscribers, unpaced:\nserver CPU per delivered frame", "µs", True),
    ("fanout", ("deliveries_per_sec",), "1,000 subscribers, unpaced:\ndeliveries per second", "/s", False),
    ("chat", ("latency_us", "p99"), "100 + 10 senders × 100 msg/s:\np99 latency", "ms", True),
    ("light", ("latency_us", "p99"), "100 + 10 senders × 10 msg/s:\np99 latency", "ms", True),
    ("idle", ("server_kib_per_connection",), "10,000 idle connections:\nserver memory per connection", "KiB", True),
]


def value(result, path):
    for key in path:
        if not isinstance(result, dict) or result.get(key) is None:
            return None
        result = result[key]
    return result


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/results.jsonl"
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            runs[(record["scenario"], record["server"])].append(record["result"])
    chart = sys.argv[2] if len(sys.argv) > 2 else "BENCHMARKS.png"
    SERVERS = [s for s in ALL_SERVERS if any(server == s for _, server in runs)]

    def median(scenario, server, metric):
        values = [value(r, metric) for r in runs.get((scenario, server), [])]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    print("| scenario | metric | " + " | ".join(LABELS[s] for s in SERVERS) + " |")
    print("| --- | --- |" + " --- |" * len(SERVERS))
    rows = [
        ("fanout", ("server_cpu_us_per_delivery",), "server CPU per delivery (µs)"),
        ("fanout", ("deliveries_per_sec",), "deliveries per second"),
        ("fanout", ("lost",), "lost"),
        ("chat", ("latency_us", "p50"), "p50 latency (µs)"),
        ("chat", ("latency_us", "p99"), "p99 latency (µs)"),
        ("chat", ("lost",), "lost"),
        ("light", ("latency_us", "p50"), "p50 latency (µs)"),
        ("light", ("latency_us", "p99"), "p99 latency (µs)"),
        ("light", ("spread_us", "p50"), "p50 fan-out spread (µs)"),
        ("light", ("lost",), "lost"),
        ("idle", ("server_kib_per_connection",), "server KiB per connection"),
        ("idle", ("connect_secs",), "seconds to connect all"),
        ("held", ("connections",), "connections held"),
        ("held", ("latency_us", "p99"), "p99 latency while held (µs)"),
        ("held", ("lost",), "lost"),
        ("idle", ("server_cpu_connect_secs",), "server CPU to connect all (s)"),
        ("one-room", ("connect_secs",), "seconds to connect 10,000 into one room"),
        ("one-room", ("server_cpu_connect_secs",), "server CPU to connect all (s)"),
        ("one-room", ("server_kib_per_connection",), "server KiB per connection"),
        ("one-room-held", ("connections",), "connections held in one room"),
        ("one-room-held", ("latency_us", "p50"), "p50 latency, one message to all (µs)"),
        ("one-room-held", ("latency_us", "p99"), "p99 latency, one message to all (µs)"),
        ("one-room-held", ("lost",), "lost"),
    ]
    for scenario, metric, label in rows:
        # Scenarios not in this series have no row.
        if not any(s == scenario for s, _ in runs):
            continue
        cells = []
        for server in SERVERS:
            m = median(scenario, server, metric)
            n = len(runs.get((scenario, server), []))
            cells.append("–" if m is None else f"{m:,.2f}".rstrip("0").rstrip(".") + f" ({n})")
        print(f"| {scenario} | {label} | " + " | ".join(cells) + " |")

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    colors = {"chat-base": "#9ab8e6", "chat": "#3b7dd8", "chat-disk": "#1f4e8c", "websocat": "#e08a3c", "ws": "#6aa84f"}
    for ax, (scenario, metric, title, unit, lower) in zip(axes, METRICS):
        names, heights = [], []
        for server in SERVERS:
            m = median(scenario, server, metric)
            if m is None:
                continue
            if unit == "ms":
                m = m / 1000
            names.append(LABELS[server])
            heights.append(m)
        bars = ax.bar(names, heights, color=[colors[s] for s in SERVERS if median(scenario, s, metric) is not None])
        ax.set_title(title + ("  (lower is better)" if lower else "  (higher is better)"), fontsize=9)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        for bar, h in zip(bars, heights):
            ax.annotate(f"{h:,.3g}", (bar.get_x() + bar.get_width() / 2, h), ha="center", va="bottom", fontsize=8)
    fig.suptitle("Median of runs on a 2-core machine (server on core 0, load generator on core 1)", fontsize=10)
    fig.tight_layout()
    fig.savefig(chart, dpi=110)
    print(f"\nchart written to {chart}", file=sys.stderr)


if __name__ == "__main__":
    main()
