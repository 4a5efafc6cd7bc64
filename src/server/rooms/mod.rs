//! The registry of rooms and people: who is where, under which name, what
//! each room has said, and what each connection can be told.
//!
//! One `std::sync::Mutex` guards it all. It is held only for short, non-async
//! sections (never across an `.await`), and message ids are assigned and the
//! event broadcast under it, so every member sees one order and history never
//! disagrees with what was delivered.
//!
//! Where history lives is the [`Backend`]'s business. A room that is absent
//! may have to be loaded from it (its saved tail, on disk or in Redis): the
//! registry never waits under the lock, so a connection that finds its room
//! absent loads the tail first (`connect` and `switch` are async for that)
//! and installs it if the room is still absent and no room was evicted
//! meanwhile. With Redis, what is said goes there and comes back through the
//! bridge (`bridge`, the registry as the bridge sees it), which numbers,
//! keeps and broadcasts it here like the local path does.
//!
//! - `room`: one room.
//! - `backend`: where history lives, and where what is said goes.
//! - `control`: what a connection can be told besides its room's events.
//! - `names`: who may be called what, here and across servers.
//! - `departures`: the `leave` of a dropped connection, held a few seconds
//!   in case it comes straight back.
//! - `directory`: `/who`, `/rooms`, and finding a person for `/msg`.
//! - `evictions`: which rooms were evicted lately, for loads in flight.
//! - `bridge`: what the Redis bridge calls ([`crate::server::cluster::Registry`]).

mod backend;
mod bridge;
mod control;
mod departures;
mod directory;
mod evictions;
mod names;
mod room;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::encoded::EncodedEvent;
use super::history::{RoomTail, Said, StoredMessage};
use crate::config::ServerConfig;
use crate::protocol::command::CommandError;
use crate::protocol::{DEFAULT_ROOM, ErrorCode, Event};
pub(crate) use backend::Backend;
use backend::Start;
pub use backend::StartError;
pub(crate) use control::{Closing, Control, Told};
use departures::{DEPARTURE_HOLD, Departures, Hold};
use evictions::Evictions;
use names::name_taken;
use room::{HistoryLimits, Room};

/// What the server keeps for every person connected.
struct Person {
    /// The name as the person spelled it (the map key is its lowercase form).
    name: String,
    /// What the person's connection can be told: private messages (left as
    /// events, because each recipient encodes its own) and orders.
    control: Arc<Control>,
}

/// A connection's place in a room, handed out on connect and on `/join`.
#[derive(Debug)]
pub(crate) struct Membership {
    pub room: String,
    pub events_rx: broadcast::Receiver<EncodedEvent>,
    /// History to send before anything from `events_rx`, in id order,
    /// encoded as it is written.
    pub replay: Vec<Arc<StoredMessage>>,
    /// Messages after the requested `since` that history no longer holds.
    pub missed: u64,
    /// The person's own `join`, when the room did not hear it (back within
    /// a held departure): to send after the replay and any gap, where the
    /// broadcast would have put it, since clients take it as "you are in".
    pub own_join: Option<EncodedEvent>,
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
    history: HistoryLimits,
    max_rooms: usize,
    queue_len: usize,
    backend: Backend,
}

/// A room's tail read from the backend while the room was absent, after
/// `evictions` evictions: valid only while that room has not been evicted
/// since, as an evicted incarnation's last messages may have been queued
/// after the read. (Evictions of other rooms do not matter: with them
/// counted, rooms churning at the limit could starve a join for ever.)
struct Loaded {
    room: String,
    evictions: u64,
    tail: RoomTail,
    /// False if the tail is not the cluster's (Redis could not be read).
    synced: bool,
}

/// Whether a room is there to enter, or must be loaded first.
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
    evictions: Evictions,
    /// Set once everyone is told to close (shutdown): whoever registers
    /// after is told the same at once.
    closing: Option<Closing>,
    /// Departures not announced yet (see `departures`).
    departures: Departures,
}

impl Rooms {
    pub(crate) fn new(config: &ServerConfig, mut backend: Backend) -> Self {
        let history = HistoryLimits {
            len: config.history.len,
            bytes: config.history.max_bytes,
        };
        // The lobby always exists, so the limit counts at least it.
        let max_rooms = config.limits.max_rooms.max(1);
        let queue_len = config.limits.room_queue_len.max(1);
        let (tail, synced) = backend.lobby();
        let mut lobby = Room::new(tail, history, queue_len);
        lobby.synced = synced;
        Self {
            state: Mutex::new(State {
                rooms: HashMap::from([(DEFAULT_ROOM.to_owned(), lobby)]),
                people: HashMap::new(),
                next_guest: 1,
                evictions: Evictions::default(),
                closing: None,
                departures: Departures::default(),
            }),
            history,
            max_rooms,
            queue_len,
            backend,
        }
    }

    /// How many rooms exist.
    pub(crate) fn count(&self) -> usize {
        self.state().rooms.len()
    }

    /// Where history lives.
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug elsewhere; the registry's
        // invariants hold between statements, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection under `wanted` (or a `guest-N` name if that
    /// is missing or taken) and puts it in `room` (or the lobby if that cannot
    /// be created), announcing the arrival.
    pub(crate) async fn connect(
        &self,
        wanted: Option<&str>,
        room: &str,
        since: Option<u64>,
        control: Arc<Control>,
    ) -> Registration {
        let (mut claimed, mut refused) = (None, None);
        if let Some(cluster) = self.backend.relay() {
            (claimed, refused) = self.claim_for(cluster, wanted).await;
        }
        let asked = claimed.as_deref().or(wanted);
        let mut loaded = None;
        loop {
            match self.try_connect(
                asked,
                refused.as_deref(),
                room,
                since,
                &control,
                &mut loaded,
            ) {
                Ok(registration) => {
                    if let (Some(cluster), Some(claimed)) = (self.backend.relay(), &claimed)
                        && *claimed != registration.name
                    {
                        // Someone here took it meanwhile: a rare race.
                        cluster.release(claimed);
                        let _ = cluster.claim(&registration.name).await;
                    }
                    return registration;
                }
                Err(evictions) => loaded = Some(self.load(room, evictions).await),
            }
        }
    }

    /// [`Rooms::connect`], or `Err` with the eviction count if `room` must be
    /// loaded first.
    fn try_connect(
        &self,
        wanted: Option<&str>,
        refused: Option<&str>,
        room: &str,
        since: Option<u64>,
        control: &Arc<Control>,
        loaded: &mut Option<Loaded>,
    ) -> Result<Registration, u64> {
        let mut problems = Vec::new();
        let mut state = self.state();
        let (room, room_problem) = match self.room_entry(&mut state, room, loaded) {
            Ok(RoomEntry::Ready) => (room, None),
            Ok(RoomEntry::MustLoad { evictions }) => return Err(evictions),
            Err(err) => (DEFAULT_ROOM, Some(err)),
        };
        let (name, taken_here) = match wanted {
            Some(wanted) if !state.people.contains_key(&wanted.to_lowercase()) => {
                (wanted.to_owned(), None)
            }
            _ => (state.guest_name(), wanted),
        };
        for taken in taken_here.into_iter().chain(refused) {
            problems.push(name_taken(
                taken,
                &format!("you are {name} (/nick NAME to pick another)"),
            ));
        }
        problems.extend(room_problem);
        if let Some(closing) = &state.closing {
            control.close(closing.clone());
        }
        state.people.insert(
            name.to_lowercase(),
            Person {
                name: name.clone(),
                control: Arc::clone(control),
            },
        );
        let membership = self.enter(&mut state, &name, room, since);
        Ok(Registration {
            name,
            membership,
            problems,
        })
    }

    /// Reads `room`'s tail from the backend, outside the lock.
    async fn load(&self, room: &str, evictions: u64) -> Loaded {
        let (tail, synced) = self.backend.load(room).await;
        Loaded {
            room: room.to_owned(),
            evictions,
            tail,
            synced,
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
            state.departures.forget_room(&evicted);
            state.evictions.record(evicted.clone());
            tracing::debug!(room = %evicted, "evicted the least recently active empty room");
        }
        let (tail, synced) = match (self.backend.start(), loaded.take()) {
            (Start::Empty { synced }, _) => (RoomTail::default(), synced),
            (Start::Load, Some(l))
                if l.room == room && !state.evictions.of_since(room, l.evictions) =>
            {
                (l.tail, l.synced)
            }
            (Start::Load, _) => {
                return Ok(RoomEntry::MustLoad {
                    evictions: state.evictions.count(),
                });
            }
        };
        let mut entry = Room::new(tail, self.history, self.queue_len);
        entry.synced = synced;
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
        if let Some(cluster) = self.backend.relay() {
            cluster.place(name, room);
        }
        let join = Event::Join {
            room: room.to_owned(),
            name: name.to_owned(),
            ts: now_ms(),
        };
        // Back within the hold: the room hears of neither the departure
        // nor the return.
        let own_join = if state.departures.take(room, name).is_some() {
            Some(EncodedEvent::new(&join))
        } else {
            self.announce(entry, room, &join);
            None
        };
        Membership {
            room: room.to_owned(),
            events_rx,
            replay,
            missed,
            own_join,
        }
    }

    /// Says `text` in `room` on behalf of `from`, and returns the room's
    /// backlog (see [`Rooms::backlog`]).
    ///
    /// With Redis, the message goes there and is delivered when it comes
    /// back. While Redis is unreachable it is delivered here at once, to this
    /// server's people only, with the id of the room's last message (ids are
    /// the cluster's to give), and is not kept in history: a client resuming
    /// after it misses nothing the cluster has.
    pub(crate) fn say(&self, from: &str, room: &str, text: &str, kind: Said) -> usize {
        let said = |id| StoredMessage {
            id,
            kind,
            from: from.to_owned(),
            text: text.to_owned(),
            ts: now_ms(),
        };
        if let Some(cluster) = self.backend.relay() {
            // Redis gives the id.
            cluster.say(room, &said(0).into_event(room.to_owned()));
            return self.backlog(room);
        }
        let numbered = self.backend.numbers_messages();
        let mut state = self.state();
        let Some(entry) = state.rooms.get_mut(room) else {
            return 0;
        };
        if numbered {
            entry.last_id += 1;
        }
        let message = said(entry.last_id);
        let event = message.clone().into_event(room.to_owned());
        entry.broadcast(&event);
        if numbered {
            entry.remember(message);
        }
        let backlog = entry.events_tx.len();
        // Under the lock, so the backend keeps messages in id order.
        self.backend.keep(event);
        backlog
    }

    /// Events the room holds that its slowest member has not taken yet.
    pub(crate) fn backlog(&self, room: &str) -> usize {
        let local = self
            .state()
            .rooms
            .get(room)
            .map_or(0, |entry| entry.events_tx.len());
        // What waits to go to Redis counts too: a sender is held back until
        // the bridge has caught up.
        local.max(self.backend.backlog())
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
    /// be loaded first.
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
        self.leave(&mut state, name, from, &format!("joined {to}"), true);
        Ok(Ok(self.enter(&mut state, name, to, None)))
    }

    /// Tells every connection to close, now and whoever registers after
    /// (at shutdown).
    pub(crate) fn close_everyone(&self, closing: &Closing) {
        let mut guard = self.state();
        let state = &mut *guard;
        // Before the orders, so that everyone still hears who left.
        for (room, leave) in state.departures.drain() {
            if let Some(entry) = state.rooms.get_mut(&room) {
                self.announce(entry, &room, &leave);
            }
        }
        state.closing = Some(closing.clone());
        for person in state.people.values() {
            person.control.close(closing.clone());
        }
    }

    /// Removes `name` from the server, announcing the departure with
    /// `reason`: at once, or if `held` (the connection dropped or timed
    /// out) after [`DEPARTURE_HOLD`], unless the name is back in the room by
    /// then. With Redis, always at once: the other servers would have to
    /// hold it too.
    pub(crate) fn disconnect(self: &Arc<Self>, name: &str, room: &str, reason: &str, held: bool) {
        // The name is free before anyone sees the departure.
        if let Some(cluster) = self.backend.relay() {
            cluster.forget(name);
        }
        let mut guard = self.state();
        let state = &mut *guard;
        state.people.remove(&name.to_lowercase());
        let held = held && !self.backend.is_cluster() && state.closing.is_none();
        let Some(leave) = self.leave(state, name, room, reason, !held) else {
            return;
        };
        let id = match state.departures.hold(room, name, leave) {
            Hold::Held(id) => id,
            Hold::Full(leave) => {
                if let Some(entry) = state.rooms.get_mut(room) {
                    self.announce(entry, room, &leave);
                }
                return;
            }
        };
        drop(guard);
        let (rooms, room, name) = (Arc::clone(self), room.to_owned(), name.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(DEPARTURE_HOLD).await;
            let mut guard = rooms.state();
            let state = &mut *guard;
            if let Some(leave) = state.departures.release(&room, &name, id)
                && let Some(entry) = state.rooms.get_mut(&room)
            {
                rooms.announce(entry, &room, &leave);
            }
        });
    }

    /// Takes `name` out of `room`, and announces it unless `now` is false:
    /// the `leave` is then returned, to be announced later.
    fn leave(
        &self,
        state: &mut State,
        name: &str,
        room: &str,
        reason: &str,
        now: bool,
    ) -> Option<Event> {
        let entry = state.rooms.get_mut(room)?;
        entry.members.remove(name);
        entry.last_active = std::time::Instant::now();
        let leave = Event::Leave {
            room: room.to_owned(),
            name: name.to_owned(),
            reason: reason.to_owned(),
            ts: now_ms(),
        };
        if now {
            self.announce(entry, room, &leave);
            return None;
        }
        Some(leave)
    }

    /// Announces a join, leave or nick in `room`: through Redis when the
    /// link is up (so it takes its place in the one order), here otherwise.
    fn announce(&self, entry: &mut Room, room: &str, event: &Event) {
        match self.backend.relay() {
            Some(cluster) => cluster.notice(room, event),
            None => {
                entry.broadcast(event);
            }
        }
    }
}

/// Unix time in milliseconds, the `ts` of every event.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
