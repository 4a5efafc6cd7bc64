//! Presence that scales: in a room of at most `--presence-limit` members
//! every join, leave and rename is a notice to everyone, as a small room
//! wants; above it each would be one frame to each of n members, n² frames
//! to fill the room, so they are counted instead and summed up in one
//! `presence` event per room per `--presence-interval`.
//!
//! A room enters summary mode when a join takes it above the limit, and
//! leaves it at the first summary that finds it back at or under the limit:
//! its members then get one fresh `who`, since the notices they missed
//! cannot be replayed, and notices are individual again from then on.
//! Deciding at the summary (not at each leave) means a room hovering at the
//! limit costs one `who` per interval at most.
//!
//! With Redis a room's size spans servers, and so does the decision: each
//! notice goes to Redis, which publishes it to the room (in the cluster's
//! one order) while the room has at most the limit across servers, and
//! counts it above, for one summary per room per interval that Redis
//! publishes to every server, "here now" counted everywhere (see
//! `cluster::scripts::PRESENCE`). While the link is down a server decides
//! alone, for its own people, as above.

use std::collections::BTreeSet;

use super::{Room, Rooms, State, now_ms};
use crate::protocol::{Event, PRESENCE_NAMES, WHO_PAGE};

/// What a room's members have not been told of yet, in summary mode.
#[derive(Debug, Default)]
pub(super) struct Presence {
    /// Whether the room is in summary mode.
    pub summarised: bool,
    joined: u64,
    joined_names: Vec<String>,
    left: u64,
    left_names: Vec<String>,
    renamed: u64,
}

impl Presence {
    fn is_empty(&self) -> bool {
        self.joined == 0 && self.left == 0 && self.renamed == 0
    }

    /// Counts `event` if it is a presence notice; false if it is not one.
    fn count(&mut self, event: &Event) -> bool {
        let first_few = |names: &mut Vec<String>, name: &str| {
            if names.len() < PRESENCE_NAMES {
                names.push(name.to_owned());
            }
        };
        match event {
            Event::Join { name, .. } => {
                self.joined += 1;
                first_few(&mut self.joined_names, name);
            }
            Event::Leave { name, .. } => {
                self.left += 1;
                first_few(&mut self.left_names, name);
            }
            Event::Nick { .. } => self.renamed += 1,
            // Kick, ban and topic notices (to come) are always individual:
            // they are not counted here, and `announce` sends them as they are.
            _ => return false,
        }
        true
    }

    /// The summary of what was counted, which starts the count again.
    fn take(&mut self, room: &str, people: usize) -> Option<Event> {
        if self.is_empty() {
            return None;
        }
        let counted = std::mem::replace(
            self,
            Presence {
                summarised: self.summarised,
                ..Presence::default()
            },
        );
        Some(Event::Presence {
            room: room.to_owned(),
            joined: counted.joined,
            joined_names: counted.joined_names,
            left: counted.left,
            left_names: counted.left_names,
            renamed: counted.renamed,
            people,
            ts: now_ms(),
        })
    }
}

/// What became of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Announced {
    /// Sent to the room (or to Redis, which sends it to the room).
    Heard,
    /// Counted for the room's next summary: whoever it is about must be
    /// told on their own if they need to know.
    Counted,
}

impl Rooms {
    /// Announces a join, leave or nick in `room`: through Redis when the
    /// link is up (so it takes its place in the one order), counted for the
    /// next summary if the room is above the presence limit, here otherwise
    /// (and when the queue for Redis is full).
    pub(super) fn announce(&self, state: &mut State, room: &str, event: &Event) -> Announced {
        let Some(entry) = state.rooms.get_mut(room) else {
            return Announced::Heard;
        };
        // Heard, from this server's point of view: if Redis counts it, it
        // tells the person it is about on its own.
        if let Some(cluster) = self.backend.relay()
            && cluster.presence(room, event, self.presence_limit)
        {
            return Announced::Heard;
        }
        if !self.backend.is_cluster()
            && (entry.presence.summarised || entry.members.len() > self.presence_limit)
        {
            let was_due = !entry.presence.is_empty();
            if entry.presence.count(event) {
                entry.presence.summarised = true;
                if !was_due {
                    state.presence_due.push(room.to_owned());
                }
                return Announced::Counted;
            }
        }
        entry.broadcast(event);
        Announced::Heard
    }

    /// Sends each room in summary mode the summary of what changed since
    /// the last, and a fresh `who` to a room back at or under the limit.
    /// Called once per `--presence-interval`.
    pub(crate) fn summarise_presence(&self) {
        if let Some(cluster) = self.backend.relay() {
            cluster.summarise(self.presence_limit, self.presence_interval);
        }
        let mut guard = self.state();
        let state = &mut *guard;
        for room in std::mem::take(&mut state.presence_due) {
            let Some(entry) = state.rooms.get_mut(&room) else {
                continue;
            };
            let people = entry.members.len();
            if let Some(summary) = entry.presence.take(&room, people) {
                entry.broadcast(&summary);
            }
            if entry.presence.summarised && people <= self.presence_limit {
                entry.presence.summarised = false;
                let who = first_page(entry, &room, &state.ops);
                entry.broadcast(&who);
            }
        }
    }
}

/// The first page of `/who` in `room`.
fn first_page(entry: &Room, room: &str, ops: &BTreeSet<String>) -> Event {
    let page = entry.members.page(None, None, WHO_PAGE);
    Event::Who {
        room: room.to_owned(),
        count: entry.members.len(),
        names: page.names,
        more: page.more,
        ops: entry.members.among(ops),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(name: &str) -> Event {
        Event::Join {
            room: "r".to_owned(),
            name: name.to_owned(),
            ts: 0,
        }
    }

    /// A summary counts everyone but names only the first few, and starts
    /// the count again.
    #[test]
    fn a_summary_names_the_first_few_and_counts_all() {
        let mut presence = Presence::default();
        for n in 0..12 {
            assert!(presence.count(&join(&format!("p{n}"))));
        }
        assert!(!presence.count(&Event::Gap { missed: 1 }));
        let Some(Event::Presence {
            joined,
            joined_names,
            left,
            people,
            ..
        }) = presence.take("r", 40)
        else {
            panic!("no summary");
        };
        assert_eq!((joined, left, people), (12, 0, 40));
        assert_eq!(joined_names, ["p0", "p1", "p2", "p3", "p4"]);
        assert_eq!(presence.take("r", 40), None);
    }
}
