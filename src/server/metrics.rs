//! What the server counts, served as `GET /metrics` for Prometheus.
//!
//! The registry exists before the backends, which register their own series
//! ([`Metrics::register_store`], [`Metrics::register_link`]) and keep the
//! handles, so a backend reports on its own work without knowing the rest.
//!
//! Counters are bumped once per batch of frames, not once per frame, and the
//! fan-out histogram is fed once per batch (with its oldest event), so that
//! counting costs the hot path next to nothing. Gauges that other parts of
//! the server already know (open connections, rooms) are read at scrape time
//! instead of being kept up to date.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the server closed (or refused) a connection on its own initiative.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as Prometheus users write them
pub(crate) enum Cause {
    /// Kept sending over the rate limit (close 1008).
    flooding,
    /// Sent a message over the frame limit (close 1009).
    too_big,
    /// Did not answer a ping (close 4000 `unresponsive`).
    unresponsive,
    /// Stopped reading: a write stalled for the write timeout.
    stalled,
    /// Arrived while the server was full (close 1013).
    overloaded,
    /// Did not finish its HTTP request head in time (408).
    handshake_timeout,
    /// Connected too often from one address (429, `--max-connects-per-second`).
    connect_rate,
}

impl Cause {
    const ALL: [Cause; 7] = [
        Cause::flooding,
        Cause::too_big,
        Cause::unresponsive,
        Cause::stalled,
        Cause::overloaded,
        Cause::handshake_timeout,
        Cause::connect_rate,
    ];
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: Cause,
}

/// What the durable history reports (`--data-dir`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreMetrics {
    /// Appends and loads waiting for the writer thread.
    pub queue_depth: Gauge,
    /// Transactions that failed (a full disk, an I/O error).
    pub failed_commits: Counter,
}

/// What the link to Redis reports (`--redis-url`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkMetrics {
    /// 1 while the link is up, 0 while the server works alone.
    pub up: Gauge,
    /// Times the link came back after it was lost.
    pub reconnects: Counter,
    /// Commands queued for Redis and not yet sent; senders are held back
    /// while it is high, so it is also the link's backpressure.
    pub pending: Gauge,
    /// The commands queued for Redis.
    pub outgoing: QueueMetrics,
    /// What Redis published to this server and the bridge has not taken yet.
    pub incoming: QueueMetrics,
}

/// One of the link's two byte-bounded queues.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueMetrics {
    /// Bytes held, as the queue counts them: it is also the counter the
    /// bound is checked against, so reading it costs nothing extra.
    pub bytes: Gauge,
    /// Times the queue was full: each time, the link was reset.
    pub overflows: Counter,
    /// Commands or messages refused because the queue was full (or, from
    /// Redis, longer than any event of ours).
    pub dropped: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

/// Every metric the server keeps, and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
    /// The worst-case memory formula at the server's flags (`memory`).
    pub memory_bound: Gauge,
    pub connections_accepted: Counter,
    pub messages_received: Counter,
    pub received_bytes: Counter,
    pub events_delivered: Counter,
    pub delivered_bytes: Counter,
    pub gaps: Counter,
    pub missed_events: Counter,
    pub rate_limited: Counter,
    closed: Family<CauseLabel, Counter>,
    pub handshake_seconds: Histogram,
    pub fanout_seconds: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut metrics = Self {
            connections: Gauge::default(),
            rooms: Gauge::default(),
            memory_bound: Gauge::default(),
            connections_accepted: Counter::default(),
            messages_received: Counter::default(),
            received_bytes: Counter::default(),
            events_delivered: Counter::default(),
            delivered_bytes: Counter::default(),
            gaps: Counter::default(),
            missed_events: Counter::default(),
            rate_limited: Counter::default(),
            closed: Family::default(),
            // 50 µs to about 1.6 s: a loopback handshake to a slow phone.
            handshake_seconds: Histogram::new(exponential_buckets(50e-6, 2.0, 16)),
            // 10 µs to about 0.3 s: one event's way from creation to a socket.
            fanout_seconds: Histogram::new(exponential_buckets(10e-6, 2.0, 16)),
            registry: Registry::with_prefix("chat"),
        };
        let r = &mut metrics.registry;
        r.register(
            "connections",
            "Open WebSocket connections",
            metrics.connections.clone(),
        );
        r.register("rooms", "Rooms that exist", metrics.rooms.clone());
        r.register(
            "memory_bound_bytes",
            "The most memory the server can hold at its flags (docs/operating.md, Memory)",
            metrics.memory_bound.clone(),
        );
        r.register(
            "connections_accepted",
            "WebSocket connections accepted",
            metrics.connections_accepted.clone(),
        );
        r.register(
            "messages_received",
            "Messages and actions said in a room",
            metrics.messages_received.clone(),
        );
        r.register(
            "received_bytes",
            "Bytes of text received from clients",
            metrics.received_bytes.clone(),
        );
        r.register(
            "events_delivered",
            "Frames written to clients (a message counts once per recipient)",
            metrics.events_delivered.clone(),
        );
        r.register(
            "delivered_bytes",
            "Payload bytes written to clients",
            metrics.delivered_bytes.clone(),
        );
        r.register(
            "gaps",
            "Gap events sent to clients that fell behind their room",
            metrics.gaps.clone(),
        );
        r.register(
            "missed_events",
            "Room events skipped by clients that fell behind (the sum of the gaps)",
            metrics.missed_events.clone(),
        );
        r.register(
            "rate_limited",
            "Messages dropped by the per-client rate limit",
            metrics.rate_limited.clone(),
        );
        r.register(
            "closed_for_cause",
            "Connections the server closed or refused, by cause",
            metrics.closed.clone(),
        );
        r.register(
            "handshake_seconds",
            "Time from accepting a TCP connection to answering its WebSocket upgrade",
            metrics.handshake_seconds.clone(),
        );
        r.register(
            "fanout_seconds",
            "Time from an event's creation to its write to a recipient's socket",
            metrics.fanout_seconds.clone(),
        );
        // Every cause from the start, at 0: a series that appears only on
        // its first event makes `rate()` and alerts miss that event.
        for cause in Cause::ALL {
            let _ = metrics.closed.get_or_create(&CauseLabel { cause });
        }
        metrics
    }

    /// Registers the durable history's series and returns their handles.
    pub(crate) fn register_store(&mut self) -> StoreMetrics {
        let store = StoreMetrics::default();
        let r = &mut self.registry;
        r.register(
            "history_queue_depth",
            "Appends and loads waiting for the history writer",
            store.queue_depth.clone(),
        );
        r.register(
            "history_failed_commits",
            "History transactions that failed (their messages were delivered but not saved)",
            store.failed_commits.clone(),
        );
        store
    }

    /// Registers the Redis link's series and returns their handles.
    pub(crate) fn register_link(&mut self) -> LinkMetrics {
        let mut link = LinkMetrics::default();
        let r = &mut self.registry;
        r.register(
            "redis_link_up",
            "Whether the link to Redis is up (1) or this server works alone (0)",
            link.up.clone(),
        );
        r.register(
            "redis_reconnects",
            "Times the link to Redis came back after it was lost",
            link.reconnects.clone(),
        );
        r.register(
            "redis_commands_pending",
            "Commands queued for Redis and not yet sent",
            link.pending.clone(),
        );
        let bytes = Family::<QueueLabel, Gauge>::default();
        let overflows = Family::<QueueLabel, Counter>::default();
        let dropped = Family::<QueueLabel, Counter>::default();
        // The handles are taken once here: the hot path bumps them without
        // a lookup in the families.
        for (queue, metrics) in [
            ("outgoing", &mut link.outgoing),
            ("incoming", &mut link.incoming),
        ] {
            let label = QueueLabel { queue };
            *metrics = QueueMetrics {
                bytes: bytes.get_or_create(&label).clone(),
                overflows: overflows.get_or_create(&label).clone(),
                dropped: dropped.get_or_create(&label).clone(),
            };
        }
        r.register(
            "redis_queue_bytes",
            "Bytes held in the queues to Redis (outgoing) and from it (incoming)",
            bytes,
        );
        r.register(
            "redis_queue_overflows",
            "Times a queue to or from Redis was full, and the link was reset",
            overflows,
        );
        r.register(
            "redis_queue_dropped",
            "Commands (outgoing) or published messages (incoming) dropped because their queue was full (incoming: or longer than any event)",
            dropped,
        );
        link
    }

    /// Counts a connection the server closed or refused for `cause`.
    pub(crate) fn closed(&self, cause: Cause) {
        self.closed.get_or_create(&CauseLabel { cause }).inc();
    }

    /// The metrics in the OpenMetrics text format, with the gauges set to
    /// the given readings.
    pub(crate) fn render(&self, connections: usize, rooms: usize) -> String {
        self.connections.set(gauge_value(connections));
        self.rooms.set(gauge_value(rooms));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_help_and_type() {
        let metrics = Metrics::new();
        metrics.messages_received.inc();
        metrics.closed(Cause::flooding);
        metrics.fanout_seconds.observe(0.001);
        let text = metrics.render(3, 2);
        for line in [
            "# TYPE chat_connections gauge",
            "chat_connections 3",
            "chat_rooms 2",
            "# HELP chat_messages_received Messages and actions said in a room.",
            "chat_messages_received_total 1",
            "chat_closed_for_cause_total{cause=\"flooding\"} 1",
            "# TYPE chat_fanout_seconds histogram",
            "chat_fanout_seconds_count 1",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("redis"), "no link, no link series:\n{text}");
    }

    #[test]
    fn a_backend_s_series_are_there_once_registered() {
        let mut metrics = Metrics::new();
        let store = metrics.register_store();
        let link = metrics.register_link();
        store.queue_depth.set(3);
        store.failed_commits.inc();
        link.up.set(1);
        link.reconnects.inc();
        link.pending.set(7);
        link.outgoing.bytes.set(300);
        link.incoming.overflows.inc();
        let text = metrics.render(0, 1);
        for line in [
            "chat_history_queue_depth 3",
            "chat_history_failed_commits_total 1",
            "chat_redis_link_up 1",
            "chat_redis_reconnects_total 1",
            "chat_redis_commands_pending 7",
            "chat_redis_queue_bytes{queue=\"outgoing\"} 300",
            "chat_redis_queue_bytes{queue=\"incoming\"} 0",
            "chat_redis_queue_overflows_total{queue=\"incoming\"} 1",
            "chat_redis_queue_dropped_total{queue=\"outgoing\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
    }
}
