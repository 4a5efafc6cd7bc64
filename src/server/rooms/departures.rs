//! Departures held back for a while ([`DEPARTURE_HOLD`]): a connection that
//! dropped or timed out usually comes straight back (a phone between
//! networks, a client reconnecting), and a room should not read a `leave`
//! and a `join` for each such blink. The person is gone at once (the name is
//! free, `/who` leaves them out); only the notice waits. If the same name
//! comes back to the same room within the hold, neither notice is sent;
//! otherwise the `leave` goes out when the hold ends.
//!
//! One entry per held departure, gone when it is sent or taken back, and
//! [`MAX_HELD`] at most: past that, a departure is announced at once.

use std::collections::HashMap;

pub(crate) use crate::config::DEPARTURE_HOLD;
use crate::protocol::Event;

/// Departures held at most; a connect/close loop of thousands a second
/// reaches it, and its departures are then announced at once.
const MAX_HELD: usize = 10_000;

/// The held departures, by room and name.
#[derive(Default)]
pub(super) struct Departures {
    /// Room → name (as spelled) → (the hold's id, the `leave` to send).
    held: HashMap<String, HashMap<String, (u64, Event)>>,
    len: usize,
    next_id: u64,
}

/// What became of a departure to hold.
pub(super) enum Hold {
    /// Held: the timer that ends it must name this id.
    Held(u64),
    /// Not held (too many are): announce it now.
    Full(Event),
}

impl Departures {
    /// Holds `leave`, the departure of `name` from `room`.
    pub(super) fn hold(&mut self, room: &str, name: &str, leave: Event) -> Hold {
        if self.len >= MAX_HELD {
            return Hold::Full(leave);
        }
        self.next_id += 1;
        let id = self.next_id;
        let previous = self
            .held
            .entry(room.to_owned())
            .or_default()
            .insert(name.to_owned(), (id, leave));
        // Cannot happen (a name back in its room takes its departure back),
        // but one entry per key keeps the count true whatever happens.
        if previous.is_none() {
            self.len += 1;
        }
        Hold::Held(id)
    }

    /// Takes back the held departure of `name` from `room`, if any: they are
    /// back (or someone else now bears the name there).
    pub(super) fn take(&mut self, room: &str, name: &str) -> Option<Event> {
        let in_room = self.held.get_mut(room)?;
        let (_, leave) = in_room.remove(name)?;
        if in_room.is_empty() {
            self.held.remove(room);
        }
        self.len -= 1;
        Some(leave)
    }

    /// The departure hold `id` was for, if it is still held: its hold is over.
    pub(super) fn release(&mut self, room: &str, name: &str, id: u64) -> Option<Event> {
        let still_held = self
            .held
            .get(room)
            .and_then(|in_room| in_room.get(name))
            .is_some_and(|(held, _)| *held == id);
        if still_held {
            self.take(room, name)
        } else {
            None
        }
    }

    /// Forgets the departures from `room`, which is gone (evicted): nobody
    /// saw them there, and whoever enters it anew never will.
    pub(super) fn forget_room(&mut self, room: &str) {
        if let Some(in_room) = self.held.remove(room) {
            self.len -= in_room.len();
        }
    }

    /// Every held departure, with its room, ending every hold (shutdown).
    pub(super) fn drain(&mut self) -> Vec<(String, Event)> {
        self.len = 0;
        self.held
            .drain()
            .flat_map(|(room, in_room)| {
                in_room
                    .into_values()
                    .map(move |(_, leave)| (room.clone(), leave))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leave(name: &str) -> Event {
        Event::Leave {
            room: "lobby".to_owned(),
            name: name.to_owned(),
            reason: "disconnected".to_owned(),
            ts: 0,
        }
    }

    /// A departure taken back is not released when its hold ends; one that
    /// is not taken back is released once, by its own hold only.
    #[test]
    fn a_departure_is_released_once_unless_taken_back() {
        let mut departures = Departures::default();
        let Hold::Held(first) = departures.hold("lobby", "ana", leave("ana")) else {
            panic!("not held");
        };
        assert_eq!(departures.take("lobby", "ana"), Some(leave("ana")));
        assert_eq!(departures.release("lobby", "ana", first), None);

        let Hold::Held(second) = departures.hold("lobby", "ana", leave("ana")) else {
            panic!("not held");
        };
        assert_eq!(departures.release("lobby", "ana", first), None);
        assert_eq!(
            departures.release("lobby", "ana", second),
            Some(leave("ana"))
        );
        assert_eq!(departures.release("lobby", "ana", second), None);
        assert_eq!(departures.len, 0);
        assert!(departures.held.is_empty());
    }

    /// Past MAX_HELD a departure is not held; forgetting a room and draining
    /// keep the count true.
    #[test]
    fn held_departures_are_bounded() {
        let mut departures = Departures::default();
        for n in 0..MAX_HELD {
            let room = format!("r{}", n % 10);
            assert!(matches!(
                departures.hold(&room, &format!("p{n}"), leave("x")),
                Hold::Held(_)
            ));
        }
        assert!(matches!(
            departures.hold("lobby", "one-more", leave("one-more")),
            Hold::Full(_)
        ));
        departures.forget_room("r0");
        assert_eq!(departures.len, MAX_HELD - MAX_HELD / 10);
        assert_eq!(departures.drain().len(), MAX_HELD - MAX_HELD / 10);
        assert_eq!(departures.len, 0);
    }
}
