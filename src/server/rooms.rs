//! The registry of rooms and people: who is where, under which name, and what
//! each room has said.
//!
//! One `std::sync::Mutex` guards it all. It is held only for short, non-async
//! sections (never across an `.await`), and message ids are assigned and the
//! event broadcast under it, so every member sees one order and history never
//! disagrees with what was delivered.
//!
//! With a [`Store`], each message is also queued for the database under the
//! lock (never waiting), and a room is created from its saved tail: the
//! registry never waits for the disk under the lock, so a connection that
//! finds its room absent loads the tail first (`connect` and `switch` are
//! async for that) and installs it if the room is still absent and no room was
//! evicted meanwhile.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::encoded::EncodedEvent;
use super::mailbox::Mailbox;
use super::store::{RoomTail, Store};
use crate::config::ServerConfig;
use crate::protocol::command::CommandError;
use crate::protocol::{DEFAULT_ROOM, ErrorCode, Event, RoomInfo};

/// What the server keeps for every person connected.
struct Person {
    /// The name as the person spelled it (the map key is its lowercase form).
    name: String,
    /// Private messages, left as events because each recipient encodes its own.
    mailbox: Arc<Mailbox>,
}

struct Room {
    /// Pre-encoded events for every member; a member that falls more than the
    /// channel's capacity behind gets `Lagged`, which becomes a `gap` event.
    events_tx: broadcast::Sender<EncodedEvent>,
    /// The last messages and actions said here, oldest first, with their ids.
    history: VecDeque<(u64, EncodedEvent)>,
    last_id: u64,
    /// Display names, for `/who`.
    members: BTreeSet<String>,
    /// When this room last saw a message or a member change; the least recently
    /// active empty room is evicted when the room limit is reached.
    last_active: Instant,
}

/// Whether a line said in a room is plain text or a `/me` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Said {
    Message,
    Action,
}

impl Said {
    /// The event of a line said: a `message` or an `action`.
    pub(crate) fn event(self, id: u64, room: String, from: String, text: String, ts: u64) -> Event {
        match self {
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
}

/// A connection's place in a room, handed out on connect and on `/join`.
pub(crate) struct Membership {
    pub room: String,
    pub events_rx: broadcast::Receiver<EncodedEvent>,
    /// History to send before anything from `events_rx`, in id order.
    pub replay: Vec<EncodedEvent>,
    /// Messages after the requested `since` that history no longer holds.
    pub missed: u64,
}

/// A connection as registered: its final name, its room, and anything to report
/// about what it asked for.
pub(crate) struct Registration {
    pub name: String,
    pub membership: Membership,
    pub problems: Vec<CommandError>,
}

/// The registry; one per server.
pub(crate) struct Rooms {
    state: Mutex<State>,
    history_len: usize,
    max_rooms: usize,
    queue_len: usize,
    /// The durable history, with `--data-dir`.
    store: Option<Store>,
}

/// A room's tail read from the store while the room was absent, after
/// `evictions` evictions: valid only while no room has been evicted since, as
/// an evicted incarnation's last messages may have been queued after the read.
struct Loaded {
    room: String,
    evictions: u64,
    tail: RoomTail,
}

/// Whether a room is there to enter, or must be loaded from the store first.
enum RoomEntry {
    Ready,
    MustLoad { evictions: u64 },
}

struct State {
    rooms: HashMap<String, Room>,
    /// Keyed by lowercase name: names are unique regardless of case, so nobody
    /// can pass for `Ana` by calling themselves `ana`.
    people: HashMap<String, Person>,
    next_guest: u64,
    /// Rooms evicted since start (see [`Loaded`]).
    evictions: u64,
}

impl Rooms {
    pub(crate) fn new(config: &ServerConfig, mut store: Option<Store>) -> Self {
        let lobby = store
            .as_mut()
            .and_then(Store::take_lobby)
            .unwrap_or_default();
        let rooms = Self {
            state: Mutex::new(State {
                rooms: HashMap::new(),
                people: HashMap::new(),
                next_guest: 1,
                evictions: 0,
            }),
            history_len: config.history_len,
            // The lobby always exists, so the limit counts at least it.
            max_rooms: config.limits.max_rooms.max(1),
            queue_len: config.limits.room_queue_len.max(1),
            store,
        };
        let lobby = rooms.new_room(DEFAULT_ROOM, lobby);
        rooms.state().rooms.insert(DEFAULT_ROOM.to_owned(), lobby);
        rooms
    }

    /// How many rooms exist.
    pub(crate) fn count(&self) -> usize {
        self.state().rooms.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug elsewhere; the registry's
        // invariants hold between statements, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The durable history, if the server has one.
    pub(crate) fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// A room named `name` that starts from `tail`.
    fn new_room(&self, name: &str, tail: RoomTail) -> Room {
        let skip = tail.messages.len().saturating_sub(self.history_len);
        let history = tail.messages[skip..]
            .iter()
            .map(|m| (m.id, EncodedEvent::new(&m.to_event(name))))
            .collect();
        Room {
            events_tx: broadcast::channel(self.queue_len).0,
            history,
            last_id: tail.last_id,
            members: BTreeSet::new(),
            last_active: Instant::now(),
        }
    }

    /// Registers a new connection under `wanted` (or a `guest-N` name if that
    /// is missing or taken) and puts it in `room` (or the lobby if that cannot
    /// be created), announcing the arrival.
    pub(crate) async fn connect(
        &self,
        wanted: Option<&str>,
        room: &str,
        since: Option<u64>,
        mailbox: Arc<Mailbox>,
    ) -> Registration {
        let mut loaded = None;
        loop {
            match self.try_connect(wanted, room, since, &mailbox, &mut loaded) {
                Ok(registration) => return registration,
                Err(evictions) => loaded = Some(self.load(room, evictions).await),
            }
        }
    }

    /// [`Rooms::connect`], or `Err` with the eviction count if `room` must be
    /// loaded from the store first.
    fn try_connect(
        &self,
        wanted: Option<&str>,
        room: &str,
        since: Option<u64>,
        mailbox: &Arc<Mailbox>,
        loaded: &mut Option<Loaded>,
    ) -> Result<Registration, u64> {
        let mut problems = Vec::new();
        let mut state = self.state();
        let (room, room_problem) = match self.room_entry(&mut state, room, loaded) {
            Ok(RoomEntry::Ready) => (room, None),
            Ok(RoomEntry::MustLoad { evictions }) => return Err(evictions),
            Err(err) => (DEFAULT_ROOM, Some(err)),
        };
        let name = match wanted {
            Some(wanted) if !state.people.contains_key(&wanted.to_lowercase()) => wanted.to_owned(),
            _ => {
                let guest = state.guest_name();
                if let Some(wanted) = wanted {
                    problems.push(name_taken(
                        wanted,
                        &format!("you are {guest} (/nick NAME to pick another)"),
                    ));
                }
                guest
            }
        };
        problems.extend(room_problem);
        state.people.insert(
            name.to_lowercase(),
            Person {
                name: name.clone(),
                mailbox: Arc::clone(mailbox),
            },
        );
        let membership = self.enter(&mut state, &name, room, since);
        Ok(Registration {
            name,
            membership,
            problems,
        })
    }

    /// Reads `room`'s tail from the store, outside the lock.
    async fn load(&self, room: &str, evictions: u64) -> Loaded {
        let store = self
            .store
            .as_ref()
            .expect("only rooms of a store are loaded");
        let tail = store.load(room).await.unwrap_or_else(|err| {
            tracing::error!("cannot read the history of room {room}: {err}; its ids start again");
            RoomTail::default()
        });
        Loaded {
            room: room.to_owned(),
            evictions,
            tail,
        }
    }

    /// Makes sure `room` exists, creating it (and evicting the least recently
    /// active empty room if the limit is reached) from its `loaded` tail, or
    /// says that it must be loaded first.
    fn room_entry(
        &self,
        state: &mut State,
        room: &str,
        loaded: &mut Option<Loaded>,
    ) -> Result<RoomEntry, CommandError> {
        if state.rooms.contains_key(room) {
            return Ok(RoomEntry::Ready);
        }
        if state.rooms.len() >= self.max_rooms {
            let evictable = state
                .rooms
                .iter()
                .filter(|(name, r)| r.members.is_empty() && name.as_str() != DEFAULT_ROOM)
                .min_by_key(|(_, r)| r.last_active)
                .map(|(name, _)| name.clone());
            let Some(evicted) = evictable else {
                return Err(CommandError {
                    code: ErrorCode::TooManyRooms,
                    message: format!(
                        "cannot create room '{room}': the server's {} rooms are all in use",
                        self.max_rooms
                    ),
                });
            };
            state.rooms.remove(&evicted);
            state.evictions += 1;
            tracing::debug!(room = %evicted, "evicted the least recently active empty room");
        }
        let tail = match (&self.store, loaded.take()) {
            (None, _) => RoomTail::default(),
            (Some(_), Some(l)) if l.room == room && l.evictions == state.evictions => l.tail,
            (Some(_), _) => {
                return Ok(RoomEntry::MustLoad {
                    evictions: state.evictions,
                });
            }
        };
        let entry = self.new_room(room, tail);
        state.rooms.insert(room.to_owned(), entry);
        Ok(RoomEntry::Ready)
    }

    /// Adds `name` to an existing `room`, announces it, and returns what the
    /// newcomer needs to catch up.
    fn enter(&self, state: &mut State, name: &str, room: &str, since: Option<u64>) -> Membership {
        let entry = state
            .rooms
            .get_mut(room)
            .expect("room_entry created the room under the same lock");
        // Subscribing and copying history under one lock: nothing is in both,
        // and nothing falls between them.
        let events_rx = entry.events_tx.subscribe();
        let (replay, missed) = entry.replay(since);
        entry.members.insert(name.to_owned());
        entry.broadcast(&Event::Join {
            room: room.to_owned(),
            name: name.to_owned(),
            ts: now_ms(),
        });
        Membership {
            room: room.to_owned(),
            events_rx,
            replay,
            missed,
        }
    }

    /// Says `text` in `room` on behalf of `from`, and returns the room's
    /// backlog (see [`Rooms::backlog`]).
    pub(crate) fn say(&self, from: &str, room: &str, text: &str, kind: Said) -> usize {
        let mut state = self.state();
        let Some(entry) = state.rooms.get_mut(room) else {
            return 0;
        };
        entry.last_id += 1;
        let id = entry.last_id;
        let event = kind.event(
            id,
            room.to_owned(),
            from.to_owned(),
            text.to_owned(),
            now_ms(),
        );
        let encoded = entry.broadcast(&event);
        if self.history_len > 0 {
            if entry.history.len() == self.history_len {
                entry.history.pop_front();
            }
            entry.history.push_back((id, encoded));
        }
        let backlog = entry.events_tx.len();
        if let Some(store) = &self.store {
            store.append(event);
        }
        backlog
    }

    /// Events the room holds that its slowest member has not taken yet.
    pub(crate) fn backlog(&self, room: &str) -> usize {
        self.state()
            .rooms
            .get(room)
            .map_or(0, |entry| entry.events_tx.len())
    }

    /// Renames `old` to `new`, announcing it in `room`.
    ///
    /// # Errors
    ///
    /// `name_taken` if someone else has `new` (in any letter case).
    pub(crate) fn rename(&self, old: &str, room: &str, new: &str) -> Result<(), CommandError> {
        let mut state = self.state();
        if old == new {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("you are already called {new}"),
            });
        }
        let (old_key, new_key) = (old.to_lowercase(), new.to_lowercase());
        if new_key != old_key && state.people.contains_key(&new_key) {
            return Err(name_taken(new, "pick another"));
        }
        let mut person = state
            .people
            .remove(&old_key)
            .expect("a connected person is registered");
        person.name = new.to_owned();
        state.people.insert(new_key, person);
        if let Some(entry) = state.rooms.get_mut(room) {
            entry.members.remove(old);
            entry.members.insert(new.to_owned());
            entry.broadcast(&Event::Nick {
                room: room.to_owned(),
                old: old.to_owned(),
                new: new.to_owned(),
                ts: now_ms(),
            });
        }
        Ok(())
    }

    /// Moves `name` from room `from` to room `to` (created on first use).
    ///
    /// # Errors
    ///
    /// `bad_arguments` if already there; `too_many_rooms` if `to` cannot be
    /// created. In both cases the person stays where they were.
    pub(crate) async fn switch(
        &self,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<Membership, CommandError> {
        if from == to {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("you are already in {to}"),
            });
        }
        let mut loaded = None;
        loop {
            match self.try_switch(name, from, to, &mut loaded)? {
                Ok(membership) => return Ok(membership),
                Err(evictions) => loaded = Some(self.load(to, evictions).await),
            }
        }
    }

    /// [`Rooms::switch`], or `Ok(Err)` with the eviction count if `to` must
    /// be loaded from the store first.
    fn try_switch(
        &self,
        name: &str,
        from: &str,
        to: &str,
        loaded: &mut Option<Loaded>,
    ) -> Result<Result<Membership, u64>, CommandError> {
        let mut state = self.state();
        if let RoomEntry::MustLoad { evictions } = self.room_entry(&mut state, to, loaded)? {
            return Ok(Err(evictions));
        }
        state.leave(name, from, &format!("joined {to}"));
        Ok(Ok(self.enter(&mut state, name, to, None)))
    }

    /// The names in `room`.
    pub(crate) fn who(&self, room: &str) -> Event {
        let state = self.state();
        let mut names: Vec<String> = state
            .rooms
            .get(room)
            .map(|r| r.members.iter().cloned().collect())
            .unwrap_or_default();
        // As a person reads a list: `ana` before `Bo`.
        names.sort_by_cached_key(|name| name.to_lowercase());
        Event::Who {
            room: room.to_owned(),
            names,
        }
    }

    /// The rooms that have people in them, by name.
    pub(crate) fn list(&self) -> Event {
        let state = self.state();
        let mut rooms: Vec<RoomInfo> = state
            .rooms
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(name, r)| RoomInfo {
                name: name.clone(),
                people: r.members.len(),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Event::Rooms { rooms }
    }

    /// Sends a private message, wherever the recipient is, and returns the
    /// sender's copy.
    ///
    /// # Errors
    ///
    /// `no_such_user` if nobody has that name; `recipient_busy` if the
    /// recipient has not read their last private messages yet.
    pub(crate) fn private(&self, from: &str, to: &str, text: &str) -> Result<Event, CommandError> {
        let state = self.state();
        let no_such_user = || CommandError {
            code: ErrorCode::NoSuchUser,
            message: format!("nobody called '{to}' is connected (check the spelling)"),
        };
        let recipient = state
            .people
            .get(&to.to_lowercase())
            .ok_or_else(no_such_user)?;
        let event = Event::Private {
            from: from.to_owned(),
            to: recipient.name.clone(),
            text: text.to_owned(),
            ts: now_ms(),
        };
        if recipient.name == from {
            // A note to oneself: the sender's copy is the only one needed.
            return Ok(event);
        }
        match recipient.mailbox.deliver(event.clone()) {
            Ok(()) => Ok(event),
            Err(_) => Err(CommandError {
                code: ErrorCode::RecipientBusy,
                message: format!(
                    "{} is not reading messages right now; try again later",
                    recipient.name
                ),
            }),
        }
    }

    /// Removes `name` from the server, announcing the departure with `reason`.
    pub(crate) fn disconnect(&self, name: &str, room: &str, reason: &str) {
        let mut state = self.state();
        state.people.remove(&name.to_lowercase());
        state.leave(name, room, reason);
    }
}

impl State {
    fn guest_name(&mut self) -> String {
        loop {
            let name = format!("guest-{}", self.next_guest);
            self.next_guest += 1;
            if !self.people.contains_key(&name) {
                return name;
            }
        }
    }

    fn leave(&mut self, name: &str, room: &str, reason: &str) {
        if let Some(entry) = self.rooms.get_mut(room) {
            entry.members.remove(name);
            entry.last_active = Instant::now();
            entry.broadcast(&Event::Leave {
                room: room.to_owned(),
                name: name.to_owned(),
                reason: reason.to_owned(),
                ts: now_ms(),
            });
        }
    }
}

impl Room {
    /// Encodes `event` once and sends it to every member.
    fn broadcast(&mut self, event: &Event) -> EncodedEvent {
        let encoded = EncodedEvent::new(event);
        self.last_active = Instant::now();
        // An error only means nobody is subscribed, which is fine.
        let _ = self.events_tx.send(encoded.clone());
        encoded
    }

    /// History after `since` (all of it without one), and how many messages
    /// after `since` are gone from it.
    fn replay(&self, since: Option<u64>) -> (Vec<EncodedEvent>, u64) {
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

fn name_taken(name: &str, what_next: &str) -> CommandError {
    CommandError {
        code: ErrorCode::NameTaken,
        message: format!("the name '{name}' is taken; {what_next}"),
    }
}

/// Unix time in milliseconds, the `ts` of every event.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
