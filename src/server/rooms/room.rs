//! One room: its members, the broadcast channel that carries its
//! pre-encoded events to them, and its history.
//!
//! History keeps each message once, as it was said ([`StoredMessage`]), not
//! its encodings: a late joiner's replay shares the messages and encodes
//! each as it is written to that joiner (a few frames at a time), which costs
//! a join a little and saves every room four copies of each message (the
//! text rendering indents a line break, JSON escapes it). It is bounded by
//! count (`--history`) and by bytes (`--history-bytes`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

use super::members::Members;
use super::presence::Presence;
use crate::protocol::Event;
use crate::server::encoded::{EncodedEvent, QueuedEvent};
use crate::server::history::{RoomTail, StoredMessage};

/// What a message in history costs besides its sender's name and its text:
/// the struct and two allocations, roughly.
const MESSAGE_OVERHEAD_BYTES: usize = 96;

pub(super) struct Room {
    /// Pre-encoded events for every member; a member that falls more than the
    /// channel's capacity behind gets `Lagged`, which becomes a `gap` event.
    pub events_tx: broadcast::Sender<QueuedEvent>,
    /// The events in the queue that some member has not taken, oldest first:
    /// what keeps them alive.
    unread: VecDeque<EncodedEvent>,
    /// What `unread` holds, in bytes (both encodings).
    unread_bytes: usize,
    queue: QueueLimits,
    /// The last messages and actions said here, oldest first; shared with
    /// the replays under way.
    history: VecDeque<Arc<StoredMessage>>,
    /// What `history` holds, in bytes as [`weight`] counts them.
    history_bytes: usize,
    /// Messages kept at most, and bytes.
    limits: HistoryLimits,
    pub last_id: u64,
    /// Display names, for `/who`.
    pub members: Members,
    /// Presence counted for the next summary, in a big room.
    pub presence: Presence,
    /// When this room last saw a message or a member change; the least recently
    /// active empty room is evicted when the room limit is reached.
    pub last_active: Instant,
    /// Whether `history` and `last_id` are the cluster's; false for a room
    /// created while Redis was unreachable, until it is back. Always true
    /// without a cluster.
    pub synced: bool,
    /// What `/topic` set, one line of at most `MAX_TOPIC_BYTES`; kept in
    /// memory only, and lost with the room when it is evicted.
    pub topic: Option<String>,
}

/// How much history a room keeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct HistoryLimits {
    /// Messages (`--history`).
    pub len: usize,
    /// Bytes, as [`weight`] counts them (`--history-bytes`).
    pub bytes: usize,
}

/// How much a room's queue holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueLimits {
    /// Events (`--room-queue`).
    pub len: usize,
    /// Bytes of encoded events (`--room-queue-bytes`).
    pub bytes: usize,
}

/// What `message` costs in history.
fn weight(message: &StoredMessage) -> usize {
    message.from.len() + message.text.len() + MESSAGE_OVERHEAD_BYTES
}

impl Room {
    /// A room that starts from `tail`, keeping what `limits` allow and
    /// queueing what `queue` allows for its slowest member.
    pub fn new(tail: RoomTail, limits: HistoryLimits, queue: QueueLimits) -> Self {
        let mut room = Room {
            events_tx: broadcast::channel(queue.len).0,
            unread: VecDeque::new(),
            unread_bytes: 0,
            queue,
            history: VecDeque::new(),
            history_bytes: 0,
            limits,
            last_id: 0,
            members: Members::default(),
            presence: Presence::default(),
            last_active: Instant::now(),
            synced: true,
            topic: None,
        };
        room.restart_from(tail);
        room
    }

    /// Replaces history, the last id and the topic with `tail`'s.
    pub fn restart_from(&mut self, tail: RoomTail) {
        self.topic = tail.topic;
        self.history.clear();
        self.history_bytes = 0;
        for message in tail.messages {
            self.remember(message);
        }
        self.last_id = tail.last_id;
    }

    /// Sets the topic `/topic` gave (empty: none).
    pub fn set_topic(&mut self, topic: &str) {
        self.topic = (!topic.is_empty()).then(|| topic.to_owned());
    }

    /// Encodes `event` once and sends it to every member.
    pub fn broadcast(&mut self, event: &Event) {
        self.last_active = Instant::now();
        let encoded = EncodedEvent::new(event);
        // An error only means nobody is subscribed: nobody needs it kept.
        if self.events_tx.send(encoded.queued()).is_ok() {
            self.unread_bytes += encoded.bytes();
            self.unread.push_back(encoded);
        }
        self.trim();
    }

    /// Lets go of the events every member has taken, then of the oldest
    /// past the byte budget (always keeping the newest, whatever its size).
    /// Done on each send; [`super::Rooms::let_go_of_taken_events`] does it
    /// for the rooms that went quiet.
    pub fn trim(&mut self) {
        if self.unread.is_empty() {
            return;
        }
        let queued = self.events_tx.len();
        while self.unread.len() > queued
            || (self.unread_bytes > self.queue.bytes && self.unread.len() > 1)
        {
            let Some(gone) = self.unread.pop_front() else {
                break;
            };
            self.unread_bytes -= gone.bytes();
        }
    }

    /// How far behind the room's slowest member is, in events: the events it
    /// has not taken, or their bytes as a share of the budget in events,
    /// whichever is further along (see `backpressure`).
    pub fn backlog(&mut self) -> usize {
        self.trim();
        let by_bytes = self.unread_bytes.saturating_mul(self.queue.len) / self.queue.bytes.max(1);
        self.events_tx.len().max(by_bytes)
    }

    /// Keeps `message` in the room's history, dropping the oldest past the
    /// count or the bytes allowed (a message heavier than all the bytes
    /// allowed is not kept).
    pub fn remember(&mut self, message: StoredMessage) {
        let added = weight(&message);
        if self.limits.len == 0 || added > self.limits.bytes {
            return;
        }
        self.history_bytes += added;
        self.history.push_back(Arc::new(message));
        while self.history.len() > self.limits.len || self.history_bytes > self.limits.bytes {
            let Some(dropped) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= weight(&dropped);
        }
    }

    /// History after `since` (all of it without one), and how many messages
    /// after `since` are gone from it.
    pub fn replay(&self, since: Option<u64>) -> (Vec<Arc<StoredMessage>>, u64) {
        let all = || self.history.iter().cloned().collect();
        let Some(since) = since else {
            return (all(), 0);
        };
        if since > self.last_id {
            // An id this room never gave (its history began again, as after a
            // restart): what the client saw is another stream, so start over.
            return (all(), 0);
        }
        let oldest_kept = self.history.front().map_or(self.last_id + 1, |m| m.id);
        let missed = oldest_kept.saturating_sub(since + 1);
        let replay = self
            .history
            .iter()
            .filter(|m| m.id > since)
            .cloned()
            .collect();
        (replay, missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::history::Said;

    fn said(id: u64, text_bytes: usize) -> StoredMessage {
        StoredMessage {
            id,
            kind: Said::Message,
            from: "ana".to_owned(),
            text: "x".repeat(text_bytes),
            ts: id,
        }
    }

    const QUEUE: QueueLimits = QueueLimits {
        len: 8,
        bytes: 1 << 20,
    };

    fn ids(room: &Room) -> Vec<u64> {
        room.history.iter().map(|m| m.id).collect()
    }

    #[test]
    fn history_is_bounded_by_count_and_by_bytes_whichever_binds() {
        let one = weight(&said(0, 100));
        let limits = HistoryLimits {
            len: 5,
            bytes: 3 * one,
        };
        let mut room = Room::new(RoomTail::default(), limits, QUEUE);
        for id in 1..=4 {
            room.remember(said(id, 100));
        }
        assert_eq!(ids(&room), [2, 3, 4], "three fit in the bytes");
        assert_eq!(room.history_bytes, 3 * one);
        for id in 5..=10 {
            room.remember(said(id, 0));
        }
        assert_eq!(ids(&room), [6, 7, 8, 9, 10], "small ones: the count binds");
        room.remember(said(11, 4 * one));
        assert_eq!(
            ids(&room),
            [6, 7, 8, 9, 10],
            "one over all the bytes is not kept"
        );
    }

    #[test]
    fn a_replay_counts_what_the_byte_bound_dropped_as_missed() {
        let limits = HistoryLimits {
            len: 100,
            bytes: 2 * weight(&said(0, 10)),
        };
        let mut room = Room::new(RoomTail::default(), limits, QUEUE);
        for id in 1..=5 {
            room.remember(said(id, 10));
            room.last_id = id;
        }
        let (replay, missed) = room.replay(Some(1));
        assert_eq!(missed, 2, "ids 2 and 3 are gone");
        let ids: Vec<u64> = replay.iter().map(|m| m.id).collect();
        assert_eq!(ids, [4, 5]);
    }

    fn say(room: &mut Room, id: u64, text_bytes: usize) {
        room.broadcast(&said(id, text_bytes).into_event("r".to_owned()));
    }

    #[test]
    fn the_queue_holds_an_event_until_every_member_has_taken_it() {
        let mut room = Room::new(
            RoomTail::default(),
            HistoryLimits { len: 0, bytes: 0 },
            QUEUE,
        );
        say(&mut room, 1, 10);
        assert_eq!(room.unread.len(), 0, "nobody to hold it for");
        let (mut fast, mut slow) = (room.events_tx.subscribe(), room.events_tx.subscribe());
        say(&mut room, 2, 10);
        say(&mut room, 3, 10);
        let taken = fast.try_recv().unwrap();
        fast.try_recv().unwrap();
        room.backlog();
        assert_eq!(room.unread.len(), 2, "the slow member has taken neither");
        slow.try_recv().unwrap();
        room.backlog();
        assert_eq!(room.unread.len(), 1);
        assert!(taken.event().is_some(), "a taken copy outlives the room's");
    }

    #[test]
    fn past_its_bytes_the_queue_lets_go_of_the_oldest_and_the_laggard_finds_them_gone() {
        let one = {
            let mut probe = Room::new(
                RoomTail::default(),
                HistoryLimits { len: 0, bytes: 0 },
                QUEUE,
            );
            let _rx = probe.events_tx.subscribe();
            say(&mut probe, 1, 1_000);
            probe.unread_bytes
        };
        let queue = QueueLimits {
            len: 8,
            bytes: 2 * one,
        };
        let mut room = Room::new(
            RoomTail::default(),
            HistoryLimits { len: 0, bytes: 0 },
            queue,
        );
        let mut laggard = room.events_tx.subscribe();
        for id in 1..=5 {
            say(&mut room, id, 1_000);
        }
        assert_eq!(room.unread.len(), 2);
        assert_eq!(room.unread_bytes, 2 * one);
        assert_eq!(room.backlog(), 8, "full by its bytes");
        let found: Vec<bool> = (0..5)
            .map(|_| laggard.try_recv().unwrap().event().is_some())
            .collect();
        assert_eq!(found, [false, false, false, true, true]);
        // One event heavier than the budget is still delivered.
        say(&mut room, 6, 10 * one);
        assert!(laggard.try_recv().unwrap().event().is_some());
    }
}
