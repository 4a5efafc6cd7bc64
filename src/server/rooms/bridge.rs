//! The registry as the Redis bridge sees it: what arrives from the other
//! servers, and what Redis must know of this one. These are the bridge's
//! only entry points, declared by the cluster ([`Registry`]).

use crate::protocol::Event;
use crate::server::ban::Ban;
use crate::server::cluster::{Arrival, Moderation, Registry, Snapshot};
use crate::server::history::{RoomTail, StoredMessage};
use crate::server::owner::Owner;

use super::Rooms;
use super::moderation::kicked;

impl Registry for Rooms {
    fn arrived(&self, room: &str, id: u64, event: &Event, accept_gap: bool) -> Arrival {
        let mut guard = self.state();
        let state = &mut *guard;
        let Some(entry) = state.rooms.get_mut(room) else {
            return Arrival::Ignored;
        };
        if id == 0 {
            if let Event::Topic { topic, .. } = event {
                entry.set_topic(topic);
            }
            entry.broadcast(event);
            // An operator's kick or ban, on whichever server: the person
            // hears it before the close (a connection sends what its room
            // queued before obeying).
            match event {
                Event::Kick {
                    name, by, reason, ..
                } => {
                    let key = name.to_lowercase();
                    if entry.members.contains(&key)
                        && let Some(person) = state.people.get(&key)
                    {
                        person.control.close(kicked(by, reason));
                    }
                }
                Event::Ban { name, .. } if entry.members.contains(&name.to_lowercase()) => {
                    self.banned_here(state, event);
                }
                _ => {}
            }
            return Arrival::Delivered;
        }
        if entry.synced && id <= entry.last_id {
            return Arrival::Behind {
                last_id: entry.last_id,
            };
        }
        if entry.synced && id > entry.last_id + 1 && !accept_gap {
            return Arrival::Hole {
                after: entry.last_id,
            };
        }
        entry.synced = true;
        entry.last_id = id;
        entry.broadcast(event);
        if let Some((_, message)) = StoredMessage::from_event(event.clone()) {
            entry.remember(message);
        }
        Arrival::Delivered
    }

    fn restart(&self, room: &str, last_id: u64) {
        if let Some(entry) = self.state().rooms.get_mut(room)
            && entry.synced
            && entry.last_id == last_id
        {
            // The topic stays: it may be one set since the drop (its
            // notice comes before this message), which cannot be told
            // apart here from one Redis dropped with the room.
            let topic = entry.topic.take();
            entry.restart_from(RoomTail {
                topic,
                ..RoomTail::default()
            });
            tracing::info!(
                room,
                last_id,
                "Redis dropped the room's history; its ids start again from 1"
            );
        }
    }

    fn private_arrived(&self, event: Event) {
        let to = match &event {
            Event::Private { to, .. } => to.clone(),
            // Their own arrival or rename, which their room only counted.
            Event::Join { name: to, .. } | Event::Nick { new: to, .. } => to.clone(),
            _ => return,
        };
        let state = self.state();
        let Some(recipient) = state.people.get(&to.to_lowercase()) else {
            tracing::debug!("a private message for {to}, who has left");
            return;
        };
        if recipient.control.deliver(event, &self.mailboxes).is_err() {
            tracing::debug!("a private message for {to} dropped: their mailbox is full");
        }
    }

    fn moderated(&self, moderation: Moderation) {
        match moderation {
            Moderation::Event(event) => Rooms::moderated(self, &event),
            Moderation::Ban(ban) => self.hold_ban(ban),
            Moderation::Owner(owner) => self.hold_name(owner),
            // Taken by the bridge (`taken_over`).
            Moderation::Take { .. } => {}
        }
    }

    fn names_loaded(&self, names: Vec<Owner>) {
        Rooms::names_loaded(self, names);
    }

    fn taken_over(&self, name: &str) {
        self.take_over(name, None);
    }

    fn bans_loaded(&self, bans: Vec<Ban>) {
        Rooms::bans_loaded(self, bans);
    }

    fn gap(&self, room: &str, missed: u64) {
        if let Some(entry) = self.state().rooms.get_mut(room) {
            entry.broadcast(&Event::Gap { missed });
        }
    }

    fn last_id(&self, room: &str) -> Option<u64> {
        self.state()
            .rooms
            .get(room)
            .filter(|r| r.synced)
            .map(|r| r.last_id)
    }

    fn synced(&self, room: &str, tail: RoomTail) {
        if let Some(entry) = self.state().rooms.get_mut(room)
            && !entry.synced
        {
            // Redis's topic too, whatever was set here while it was away.
            entry.restart_from(tail);
            entry.synced = true;
        }
    }

    fn snapshot(&self) -> Snapshot {
        let state = self.state();
        let rooms = state
            .rooms
            .iter()
            .map(|(name, r)| (name.clone(), r.synced.then_some(r.last_id)))
            .collect();
        let people = state
            .rooms
            .iter()
            .flat_map(|(room, r)| r.members.iter().map(|name| (name.clone(), room.clone())))
            .collect();
        let ops = state
            .ops
            .iter()
            .filter_map(|key| state.people.get(key).map(|person| person.name.clone()))
            .collect();
        Snapshot { rooms, people, ops }
    }

    fn tell_everyone(&self, event: &Event) {
        let mut state = self.state();
        for entry in state.rooms.values_mut().filter(|r| !r.members.is_empty()) {
            entry.broadcast(event);
        }
    }
}
