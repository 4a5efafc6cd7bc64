//! The history vocabulary every backend shares: what was said ([`Said`]), a
//! message as history keeps it ([`StoredMessage`]), and what a room starts
//! from ([`RoomTail`]), with the one conversion between them and [`Event`].
//!
//! It sits below the registry, the store and the cluster and imports only
//! the protocol, so each of them can speak of history without importing
//! another.

use crate::protocol::Event;

/// Whether a line said in a room is plain text or a `/me` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Said {
    Message,
    Action,
}

/// A message or action as history keeps it: enough to rebuild its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    pub id: u64,
    pub kind: Said,
    pub from: String,
    pub text: String,
    pub ts: u64,
}

impl StoredMessage {
    /// The event this message is, in `room`.
    pub(crate) fn into_event(self, room: String) -> Event {
        let StoredMessage {
            id,
            kind,
            from,
            text,
            ts,
        } = self;
        match kind {
            Said::Message => Event::Message {
                id,
                room,
                from,
                text,
                ts,
            },
            Said::Action => Event::Action {
                id,
                room,
                from,
                text,
                ts,
            },
        }
    }

    /// The event this message is, in `room`, leaving the message as it is.
    pub(crate) fn to_event(&self, room: &str) -> Event {
        self.clone().into_event(room.to_owned())
    }

    /// The message an event is, with its room; `None` for events that are
    /// not kept in history (notices, answers).
    pub(crate) fn from_event(event: Event) -> Option<(String, StoredMessage)> {
        let (kind, id, room, from, text, ts) = match event {
            Event::Message {
                id,
                room,
                from,
                text,
                ts,
            } => (Said::Message, id, room, from, text, ts),
            Event::Action {
                id,
                room,
                from,
                text,
                ts,
            } => (Said::Action, id, room, from, text, ts),
            _ => return None,
        };
        Some((
            room,
            StoredMessage {
                id,
                kind,
                from,
                text,
                ts,
            },
        ))
    }
}

/// What a room starts from: its last id and its last messages, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RoomTail {
    pub last_id: u64,
    pub messages: Vec<StoredMessage>,
    /// The room's topic, where the backend keeps one (`--data-dir`).
    pub topic: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_and_an_action_survive_the_round_trip() {
        for kind in [Said::Message, Said::Action] {
            let stored = StoredMessage {
                id: 7,
                kind,
                from: "ana".into(),
                text: "hi".into(),
                ts: 5,
            };
            let event = stored.clone().into_event("lobby".into());
            assert_eq!(
                StoredMessage::from_event(event),
                Some(("lobby".to_owned(), stored))
            );
        }
    }

    #[test]
    fn notices_are_not_history() {
        let join = Event::Join {
            room: "lobby".into(),
            name: "ana".into(),
            ts: 1,
        };
        assert_eq!(StoredMessage::from_event(join), None);
    }
}
