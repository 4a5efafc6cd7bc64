//! The commands queued for Redis, bounded in bytes.
//!
//! The registry queues a command (a message said, a notice, a change to the
//! people hash) without waiting, and the bridge sends what is queued in
//! pipelines. While Redis is slow or stopped, the queue would grow with
//! everything said on this server, so it holds [`OUTGOING_QUEUE_BYTES`] at
//! most, counted in one atomic add per command.
//!
//! A full queue is a lost link, because that is what it means: Redis has
//! not taken what this server said for as long as it took to say 16 MiB,
//! and the bridge would find out at the response timeout anyway. Treating it
//! so keeps one story for the people here (see the bridge's `lost`): from
//! the moment the queue is full, the handle says the link is down
//! ([`Cluster::is_up`](super::Cluster::is_up)), so what is said is delivered
//! here at once, to this server's people, as while Redis is away; the
//! command that did not fit is refused (its caller delivers it here
//! instead); the bridge ends the session at once, tells everyone that the
//! link is lost and that what they sent just now may not have gone out,
//! drops the queue, reconnects and resynchronises, which rewrites the state
//! the dropped commands carried (the people hash, the claims). Nobody is
//! shown a copy of a message that then never reaches the others without
//! being told. Rejected: refusing only the message that does not fit, with
//! an error to its sender, while the link stays up (the notices and people
//! hash updates dropped with it would leave the other servers wrong until
//! the next outage); blocking the sender (the registry's callers must not
//! wait, and the backpressure on senders already holds them back while
//! commands are pending).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::{Arg, Cmd};
use tokio::sync::{Notify, mpsc};

use crate::server::metrics::{LinkMetrics, QueueMetrics};

/// Bytes of commands queued for Redis at most, as [`cost`] counts them:
/// some 250 messages of the default 64 KiB, far more than a Redis that
/// keeps up ever has waiting (a pipeline takes everything queued at once).
/// One command larger than this goes through alone, into an empty queue,
/// so that `--max-message-bytes` above it still works; the queue then holds
/// that one command. A constant, not a flag: it only decides how soon a
/// Redis that stopped answering counts as lost, which the response timeout
/// decides anyway.
pub(crate) const OUTGOING_QUEUE_BYTES: usize = 16 << 20;

/// What a queued command costs besides its arguments' bytes: the `Cmd`
/// itself and, per argument, its end offset, twice over for the vector's
/// growth; and the slack a small command's growing buffer may hold (a large
/// one is built to size: see `Cluster::say`).
const COMMAND_OVERHEAD: usize = std::mem::size_of::<Cmd>() + 128;
const ARG_OVERHEAD: usize = 2 * std::mem::size_of::<Arg<usize>>();

/// The most the sending side holds: the queue (one command larger than it
/// alone), and besides it a pipeline packed from the queue, which the
/// connection's write buffer may hold twice more. The largest command
/// carries a message's JSON (escaping may double the text) and its keys.
pub(super) fn worst_case_bytes(max_message_bytes: usize, pipeline_bytes: usize) -> usize {
    let largest = 2 * max_message_bytes + 1024;
    OUTGOING_QUEUE_BYTES.max(largest) + 3 * (pipeline_bytes + largest)
}

/// The bytes `cmd` holds while queued.
pub(super) fn cost(cmd: &Cmd) -> usize {
    cmd.args_iter().fold(COMMAND_OVERHEAD, |total, arg| {
        total
            + ARG_OVERHEAD
            + match arg {
                Arg::Simple(bytes) => bytes.len(),
                _ => 0,
            }
    })
}

/// What the two ends share.
struct Shared {
    /// Set when a command did not fit; cleared by the bridge once it has
    /// dropped the queue.
    full: AtomicBool,
    /// Wakes the bridge when `full` is set.
    overflow: Notify,
    /// Commands queued: the backpressure on senders reads it.
    pending: prometheus_client::metrics::gauge::Gauge,
    /// Bytes queued (the counter the bound is checked against), overflows,
    /// refusals.
    queue: QueueMetrics,
}

/// The handle's end: queues commands.
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
}

/// The bridge's end: takes commands, gives their bytes back once sent.
pub(super) struct OutboxReader {
    rx: mpsc::UnboundedReceiver<Cmd>,
    shared: Arc<Shared>,
}

/// A queue for Redis that reports to `metrics`.
pub(super) fn outbox(metrics: &LinkMetrics) -> (Outbox, OutboxReader) {
    // Unbounded as a channel: the bound is in bytes, kept by `Outbox::push`.
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        full: AtomicBool::new(false),
        overflow: Notify::new(),
        pending: metrics.pending.clone(),
        queue: metrics.outgoing.clone(),
    });
    (
        Outbox {
            tx,
            shared: Arc::clone(&shared),
        },
        OutboxReader { rx, shared },
    )
}

impl Outbox {
    /// Queues `cmd`, or refuses it (`false`) while the queue is full: the
    /// caller then does what it does while the link is down.
    pub(super) fn push(&self, cmd: Cmd) -> bool {
        let shared = &*self.shared;
        if shared.full.load(Ordering::Acquire) {
            shared.queue.dropped.inc();
            return false;
        }
        let cost = cost(&cmd);
        let before = gauge_bytes(shared.queue.bytes.inc_by(gauge_value(cost)));
        if before > 0 && before + cost > OUTGOING_QUEUE_BYTES {
            shared.queue.bytes.dec_by(gauge_value(cost));
            if !shared.full.swap(true, Ordering::AcqRel) {
                shared.queue.overflows.inc();
                shared.overflow.notify_one();
            }
            shared.queue.dropped.inc();
            return false;
        }
        shared.pending.inc();
        // Fails only once the bridge has stopped, at shutdown.
        if self.tx.send(cmd).is_err() {
            shared.pending.dec();
            shared.queue.bytes.dec_by(gauge_value(cost));
        }
        true
    }

    /// Whether the queue filled up and the bridge has not reset the link yet.
    pub(super) fn is_full(&self) -> bool {
        self.shared.full.load(Ordering::Acquire)
    }

    /// Commands queued and not yet sent.
    pub(super) fn pending(&self) -> usize {
        usize::try_from(self.shared.pending.get()).unwrap_or(0)
    }
}

impl OutboxReader {
    /// Takes up to `limit` commands into `batch`, waiting for one; 0 once
    /// the handle is gone. They count as queued until [`OutboxReader::sent`].
    pub(super) async fn recv_many(&mut self, batch: &mut Vec<Cmd>, limit: usize) -> usize {
        self.rx.recv_many(batch, limit).await
    }

    /// Takes one command at once, if any, counting it as gone.
    pub(super) fn try_recv(&mut self) -> Option<Cmd> {
        let cmd = self.rx.try_recv().ok()?;
        let taken = self.taken(std::slice::from_ref(&cmd));
        self.give_back(taken);
        Some(cmd)
    }

    /// What `commands`, taken by [`OutboxReader::recv_many`], count for.
    pub(super) fn taken(&self, commands: &[Cmd]) -> Taken {
        Taken {
            commands: commands.len(),
            bytes: commands.iter().map(cost).sum(),
        }
    }

    /// Gives back what commands taken held: they are sent, or dropped.
    pub(super) fn give_back(&self, taken: Taken) {
        self.shared.queue.bytes.dec_by(gauge_value(taken.bytes));
        self.shared.pending.dec_by(gauge_value(taken.commands));
    }

    /// Drops everything queued (for a Redis that is gone: the
    /// resynchronisation rewrites this server's state), and takes commands
    /// again.
    pub(super) fn discard(&mut self) {
        while self.try_recv().is_some() {}
        self.shared.full.store(false, Ordering::Release);
    }

    /// What says that a command did not fit, to wait on while this end
    /// takes commands.
    pub(super) fn full(&self) -> OutboxFull {
        OutboxFull(Arc::clone(&self.shared))
    }
}

/// The sign that the queue is full.
pub(super) struct OutboxFull(Arc<Shared>);

impl OutboxFull {
    /// Waits until a command did not fit.
    pub(super) async fn happened(&self) {
        // `notify_one` keeps a permit when nobody waits, and the flag is
        // read first, so no overflow goes unseen.
        while !self.0.full.load(Ordering::Acquire) {
            self.0.overflow.notified().await;
        }
    }
}

/// Commands taken from the queue, and their bytes.
#[must_use = "what was taken counts until it is given back"]
pub(super) struct Taken {
    commands: usize,
    bytes: usize,
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn gauge_bytes(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> LinkMetrics {
        LinkMetrics::default()
    }

    fn publish(bytes: usize) -> Cmd {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg("chat:room:lobby").arg(vec![b'x'; bytes]);
        cmd
    }

    /// The bound holds: commands go in until the next would pass it; that
    /// one is refused, and so is everything after, however small, until
    /// the bridge has dropped the queue.
    #[test]
    fn a_full_queue_refuses_until_discarded() {
        let metrics = metrics();
        let (outbox, mut reader) = outbox(&metrics);
        let big = publish(1 << 20);
        let fits = OUTGOING_QUEUE_BYTES / cost(&big);
        for _ in 0..fits {
            assert!(outbox.push(big.clone()));
        }
        assert!(!outbox.is_full());
        assert!(!outbox.push(big.clone()), "one more does not fit");
        assert!(outbox.is_full());
        assert!(!outbox.push(publish(1)), "nothing goes in while full");
        let held = gauge_bytes(metrics.outgoing.bytes.get());
        assert_eq!(held, fits * cost(&big));
        assert!(held <= OUTGOING_QUEUE_BYTES);
        assert_eq!(metrics.outgoing.overflows.get(), 1);
        assert_eq!(metrics.outgoing.dropped.get(), 2);
        assert_eq!(outbox.pending(), fits);

        reader.discard();
        assert!(!outbox.is_full());
        assert_eq!(metrics.outgoing.bytes.get(), 0);
        assert_eq!(outbox.pending(), 0);
        assert!(outbox.push(publish(1)));
    }

    /// A command larger than the whole bound goes into an empty queue alone.
    #[test]
    fn one_command_over_the_bound_goes_alone() {
        let metrics = metrics();
        let (outbox, mut reader) = outbox(&metrics);
        assert!(outbox.push(publish(OUTGOING_QUEUE_BYTES)));
        assert!(!outbox.push(publish(1)));
        reader.discard();
        assert!(outbox.push(publish(1)));
    }

    /// What was taken counts until it is sent.
    #[tokio::test]
    async fn bytes_count_until_sent() {
        let metrics = metrics();
        let (outbox, mut reader) = outbox(&metrics);
        let cmd = publish(1000);
        assert!(outbox.push(cmd.clone()));
        assert!(outbox.push(cmd.clone()));
        let mut batch = Vec::new();
        assert_eq!(reader.recv_many(&mut batch, 10).await, 2);
        assert_eq!(gauge_bytes(metrics.outgoing.bytes.get()), 2 * cost(&cmd));
        assert!(cost(&cmd) > 1000);
        let taken = reader.taken(&batch);
        reader.give_back(taken);
        assert_eq!(metrics.outgoing.bytes.get(), 0);
        assert_eq!(outbox.pending(), 0);
    }
}
