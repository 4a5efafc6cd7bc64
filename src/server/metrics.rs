//! What the server counts, served as `GET /metrics` for Prometheus.
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
    /// Did not answer a ping (close 1008).
    unresponsive,
    /// Stopped reading: a write stalled for the write timeout.
    stalled,
    /// Arrived while the server was full (close 1013).
    overloaded,
    /// Did not finish its HTTP request head in time (408).
    handshake_timeout,
}

impl Cause {
    const ALL: [Cause; 6] = [
        Cause::flooding,
        Cause::too_big,
        Cause::unresponsive,
        Cause::stalled,
        Cause::overloaded,
        Cause::handshake_timeout,
    ];
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: Cause,
}

/// Every metric the server keeps, and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
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
    }
}
