//! What Redis publishes to this server, bounded in bytes until the bridge
//! takes it.
//!
//! The redis crate's dedicated pub/sub connection (`aio::PubSub`, split into
//! `PubSubSink` and `PubSubStream`) forwards every message into an unbounded
//! channel from its own task (redis 1.8.1, `src/aio/pubsub.rs`: the
//! `unbounded_channel()` in `PubSub::new`, fed by `PipelineSink::handle_message`),
//! and nothing outside the crate can bound it. So the bridge subscribes on a
//! multiplexed connection speaking RESP3 instead, where published messages
//! are pushes handed, one by one and synchronously, to an
//! [`AsyncPushSender`] of ours (`AsyncConnectionConfig::set_push_sender`;
//! the crate ignores what it answers). [`Inbox`] is that sender: it queues
//! what fits in [`INCOMING_QUEUE_BYTES`] and refuses the rest.
//!
//! A full inbox ends the session, as a lost link does: the bridge tells
//! everyone, reconnects, and the resynchronisation delivers from each
//! room's history stream what the room missed (a `gap` for what the stream
//! no longer holds), so nobody misses a message without being told. What a
//! stream does not keep is lost as in any outage: notices (join, leave,
//! nick) and private messages published meanwhile. The inbox of a session is
//! dropped with it, so what was still queued goes too; the streams have it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::{AsyncPushSender, SendError};
use redis::{Msg, PushInfo, PushKind, Value};
use tokio::sync::{Notify, mpsc};

use crate::server::metrics::QueueMetrics;

/// Bytes of published messages waiting for the bridge at most, as [`cost`]
/// counts them: the bridge takes a message in a lock and a broadcast, so
/// only its waits on Redis (a pipeline's answers, filling a hole in a
/// room's ids) let this fill, and then it holds some 250 messages of the
/// default 64 KiB. One message larger than this (with a
/// `--max-message-bytes` over 8 MiB) goes through alone, into an empty
/// inbox; one larger than any event of ours is dropped.
pub(crate) const INCOMING_QUEUE_BYTES: usize = 16 << 20;

/// What a queued message costs besides its bytes: the message and its
/// place in the channel.
const MESSAGE_OVERHEAD: usize = std::mem::size_of::<(Msg, usize)>() + 64;

/// The largest message a server of ours publishes, for texts of
/// `max_message_bytes` (`--max-message-bytes`): the event's JSON, where
/// escaping may double the text, the sender's name, the room and the id,
/// and the channel's name.
pub(super) fn largest_message(max_message_bytes: usize) -> usize {
    MESSAGE_OVERHEAD + 2 * max_message_bytes + 4096
}

/// The most the receiving side holds: the queue, and besides it the
/// crate's read buffer with its growth (twice the largest message), the
/// value being decoded and the message being delivered.
pub(super) fn worst_case_bytes(max_message_bytes: usize) -> usize {
    let largest = largest_message(max_message_bytes);
    INCOMING_QUEUE_BYTES.max(largest) + 4 * largest
}

/// The bytes a published message holds while queued.
fn cost(push: &PushInfo) -> usize {
    push.data.iter().fold(MESSAGE_OVERHEAD, |total, value| {
        total
            + match value {
                Value::BulkString(bytes) => bytes.len(),
                // Not a message of ours (channel, pattern and payload are
                // bulk strings); counted as one value, and refused later.
                _ => std::mem::size_of::<Value>(),
            }
    })
}

/// What the two ends share.
struct Shared {
    /// Set when a message did not fit: the session is over.
    full: AtomicBool,
    /// Set when the crate says the connection closed.
    closed: AtomicBool,
    /// Wakes the bridge when either is set.
    wake: Notify,
    queue: QueueMetrics,
    /// What one message may cost at most ([`largest_message`]): a larger
    /// one is no event of ours, and is dropped alone.
    largest: usize,
}

/// The crate's end: the push sender of the subscription connection.
pub(super) struct Inbox {
    tx: mpsc::UnboundedSender<(Msg, usize)>,
    shared: Arc<Shared>,
}

/// The bridge's end.
pub(super) struct InboxReader {
    rx: mpsc::UnboundedReceiver<(Msg, usize)>,
    shared: Arc<Shared>,
}

/// What the bridge reads next.
pub(super) enum Incoming {
    Message(Msg),
    /// Messages were dropped: the session must end.
    Overflowed,
    /// The connection closed.
    Closed,
}

/// An inbox for one session, reporting to `queue`, for messages of
/// `largest` bytes at most.
pub(super) fn inbox(queue: &QueueMetrics, largest: usize) -> (Inbox, InboxReader) {
    // Unbounded as a channel: the bound is in bytes, kept by `Inbox::send`.
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        full: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        wake: Notify::new(),
        queue: queue.clone(),
        largest,
    });
    (
        Inbox {
            tx,
            shared: Arc::clone(&shared),
        },
        InboxReader { rx, shared },
    )
}

impl AsyncPushSender for Inbox {
    /// Called by the connection's task for every push, so it never waits.
    fn send(&self, push: PushInfo) -> Result<(), SendError> {
        let shared = &*self.shared;
        match push.kind {
            PushKind::Message | PushKind::PMessage => {}
            PushKind::Disconnection => {
                shared.closed.store(true, Ordering::Release);
                shared.wake.notify_one();
                return Ok(());
            }
            // The confirmations of our own subscriptions, copied here too.
            _ => return Ok(()),
        }
        if shared.full.load(Ordering::Acquire) {
            shared.queue.dropped.inc();
            return Err(SendError);
        }
        let cost = cost(&push);
        if cost > shared.largest {
            // Not an overflow: Inbound would refuse it anyway, and queueing
            // it alone would let one publish take the bound's place.
            tracing::warn!("dropped a message of {cost} bytes from Redis: no event is that long");
            shared.queue.dropped.inc();
            return Err(SendError);
        }
        let before = usize::try_from(shared.queue.bytes.inc_by(gauge_value(cost))).unwrap_or(0);
        if before > 0 && before + cost > INCOMING_QUEUE_BYTES {
            shared.queue.bytes.dec_by(gauge_value(cost));
            if !shared.full.swap(true, Ordering::AcqRel) {
                shared.queue.overflows.inc();
                shared.wake.notify_one();
            }
            shared.queue.dropped.inc();
            return Err(SendError);
        }
        let queued = match Msg::from_push_info(push) {
            Some(msg) => self.tx.send((msg, cost)).is_ok(),
            None => false,
        };
        if !queued {
            // Not a message after all, or the session is over.
            shared.queue.bytes.dec_by(gauge_value(cost));
        }
        Ok(())
    }
}

impl InboxReader {
    /// The next message, or why there is none. An overflow is reported as
    /// soon as it happens, before the messages still queued: the session
    /// ends, and the streams give them back.
    pub(super) async fn next(&mut self) -> Incoming {
        loop {
            if self.shared.full.load(Ordering::Acquire) {
                return Incoming::Overflowed;
            }
            if self.shared.closed.load(Ordering::Acquire) {
                return Incoming::Closed;
            }
            tokio::select! {
                biased;
                () = self.shared.wake.notified() => {}
                taken = self.rx.recv() => return match taken {
                    Some((msg, cost)) => {
                        self.shared.queue.bytes.dec_by(gauge_value(cost));
                        Incoming::Message(msg)
                    }
                    None => Incoming::Closed,
                },
            }
        }
    }
}

impl InboxReader {
    /// What says that a message did not fit, to wait on while the bridge
    /// waits for something else (a pipeline's answers).
    pub(super) fn full(&self) -> InboxFull {
        InboxFull(Arc::clone(&self.shared))
    }
}

/// The sign that the inbox is full.
pub(super) struct InboxFull(Arc<Shared>);

impl InboxFull {
    /// Waits until a message did not fit.
    pub(super) async fn happened(&self) {
        // Shares the reader's wake-up, never at the same time (the bridge
        // waits on one or the other), and both read the flags first, so a
        // wake-up taken by the wrong one loses nothing.
        while !self.0.full.load(Ordering::Acquire) {
            self.0.wake.notified().await;
        }
    }
}

impl Drop for InboxReader {
    /// Gives back the bytes of what is still queued; the connection's task
    /// may still push until it sees the channel closed, and gives those
    /// back itself.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok((_, cost)) = self.rx.try_recv() {
            self.shared.queue.bytes.dec_by(gauge_value(cost));
        }
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pmessage(bytes: usize) -> PushInfo {
        PushInfo {
            kind: PushKind::PMessage,
            data: vec![
                Value::BulkString(b"chat:room:*".to_vec()),
                Value::BulkString(b"chat:room:lobby".to_vec()),
                Value::BulkString(vec![b'x'; bytes]),
            ],
        }
    }

    /// Messages are queued until the next would pass the bound; from then
    /// on the reader hears of the overflow first, and nothing more goes in.
    #[tokio::test]
    async fn a_full_inbox_ends_the_session() {
        let queue = QueueMetrics::default();
        let (inbox, mut reader) = inbox(&queue, largest_message(1 << 20));
        let fits = INCOMING_QUEUE_BYTES / cost(&pmessage(1 << 20));
        for _ in 0..fits {
            assert!(inbox.send(pmessage(1 << 20)).is_ok());
        }
        let Incoming::Message(msg) = reader.next().await else {
            panic!("a message first");
        };
        assert_eq!(msg.get_channel_name(), "chat:room:lobby");
        assert!(inbox.send(pmessage(1 << 20)).is_ok(), "room for one again");
        assert!(inbox.send(pmessage(1 << 20)).is_err(), "not for two");
        assert!(inbox.send(pmessage(1)).is_err(), "nor anything after");
        assert!(matches!(reader.next().await, Incoming::Overflowed));
        assert_eq!(queue.overflows.get(), 1);
        assert_eq!(queue.dropped.get(), 2);
        let held = usize::try_from(queue.bytes.get()).unwrap();
        assert!(held <= INCOMING_QUEUE_BYTES, "{held}");
        drop(reader);
        assert_eq!(
            queue.bytes.get(),
            0,
            "the dropped inbox gives its bytes back"
        );
    }

    /// A message longer than any event of ours is dropped alone: the next
    /// fits.
    #[tokio::test]
    async fn a_message_longer_than_any_event_is_dropped_alone() {
        let queue = QueueMetrics::default();
        let (inbox, mut reader) = inbox(&queue, largest_message(1000));
        assert!(inbox.send(pmessage(10_000)).is_err());
        assert!(inbox.send(pmessage(1000)).is_ok());
        assert!(matches!(reader.next().await, Incoming::Message(_)));
        assert_eq!(queue.overflows.get(), 0);
        assert_eq!(queue.dropped.get(), 1);
    }

    /// The crate's word that the connection closed ends the session, even
    /// with messages queued; confirmations are not messages.
    #[tokio::test]
    async fn a_disconnection_ends_the_session() {
        let queue = QueueMetrics::default();
        let (inbox, mut reader) = inbox(&queue, largest_message(1 << 20));
        let confirmation = PushInfo {
            kind: PushKind::PSubscribe,
            data: vec![Value::BulkString(b"chat:room:*".to_vec()), Value::Int(1)],
        };
        assert!(inbox.send(confirmation).is_ok());
        assert!(inbox.send(pmessage(10)).is_ok());
        let disconnection = PushInfo {
            kind: PushKind::Disconnection,
            data: Vec::new(),
        };
        assert!(inbox.send(disconnection).is_ok());
        assert!(matches!(reader.next().await, Incoming::Closed));
    }
}
