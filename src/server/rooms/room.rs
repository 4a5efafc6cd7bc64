//! One room: its members, the broadcast channel that carries its
//! pre-encoded events to them, and its history.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use tokio::sync::broadcast;

use crate::protocol::Event;
use crate::server::encoded::EncodedEvent;
use crate::server::history::RoomTail;

pub(super) struct Room {
    /// Pre-encoded events for every member; a member that falls more than the
    /// channel's capacity behind gets `Lagged`, which becomes a `gap` event.
    pub events_tx: broadcast::Sender<EncodedEvent>,
    /// The last messages and actions said here, oldest first, with their ids.
    history: VecDeque<(u64, EncodedEvent)>,
    /// Messages kept at most.
    history_len: usize,
    pub last_id: u64,
    /// Display names, for `/who`.
    pub members: BTreeSet<String>,
    /// When this room last saw a message or a member change; the least recently
    /// active empty room is evicted when the room limit is reached.
    pub last_active: Instant,
    /// Whether `history` and `last_id` are the cluster's; false for a room
    /// created while Redis was unreachable, until it is back. Always true
    /// without a cluster.
    pub synced: bool,
}

impl Room {
    /// A room named `name` that starts from `tail`, keeping `history_len`
    /// messages and queueing `queue_len` events for its slowest member.
    pub fn new(name: &str, tail: RoomTail, history_len: usize, queue_len: usize) -> Self {
        let mut room = Room {
            events_tx: broadcast::channel(queue_len).0,
            history: VecDeque::new(),
            history_len,
            last_id: 0,
            members: BTreeSet::new(),
            last_active: Instant::now(),
            synced: true,
        };
        room.restart_from(name, tail);
        room
    }

    /// Replaces history and the last id with `tail`'s.
    pub fn restart_from(&mut self, name: &str, tail: RoomTail) {
        let skip = tail.messages.len().saturating_sub(self.history_len);
        self.history = tail
            .messages
            .into_iter()
            .skip(skip)
            .map(|m| (m.id, EncodedEvent::new(&m.into_event(name.to_owned()))))
            .collect();
        self.last_id = tail.last_id;
    }

    /// Encodes `event` once and sends it to every member.
    pub fn broadcast(&mut self, event: &Event) -> EncodedEvent {
        let encoded = EncodedEvent::new(event);
        self.last_active = Instant::now();
        // An error only means nobody is subscribed, which is fine.
        let _ = self.events_tx.send(encoded.clone());
        encoded
    }

    /// Keeps message `id` in the room's history, which holds `history_len`
    /// messages at most.
    pub fn remember(&mut self, id: u64, encoded: EncodedEvent) {
        if self.history_len == 0 {
            return;
        }
        if self.history.len() == self.history_len {
            self.history.pop_front();
        }
        self.history.push_back((id, encoded));
    }

    /// History after `since` (all of it without one), and how many messages
    /// after `since` are gone from it.
    pub fn replay(&self, since: Option<u64>) -> (Vec<EncodedEvent>, u64) {
        let all = || self.history.iter().map(|(_, e)| e.clone()).collect();
        let Some(since) = since else {
            return (all(), 0);
        };
        if since > self.last_id {
            // An id this room never gave (its history began again, as after a
            // restart): what the client saw is another stream, so start over.
            return (all(), 0);
        }
        let oldest_kept = self.history.front().map_or(self.last_id + 1, |(id, _)| *id);
        let missed = oldest_kept.saturating_sub(since + 1);
        let replay = self
            .history
            .iter()
            .filter(|(id, _)| *id > since)
            .map(|(_, e)| e.clone())
            .collect();
        (replay, missed)
    }
}
