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
//!
//! With a [`Cluster`] (`--redis-url`), what is said goes to Redis instead and
//! comes back through the bridge ([`Rooms::arrived`]), which numbers, keeps
//! and broadcasts it here like the local path does; a room is created from
//! its tail in Redis. While Redis is unreachable, each room works locally
//! (see [`Rooms::say`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::cluster::Cluster;
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
    /// Whether `history` and `last_id` are the cluster's; false for a room
    /// created while Redis was unreachable, until it is back. Always true
    /// without a cluster.
    synced: bool,
}

/// What became of an event from Redis (see [`Rooms::arrived`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    Delivered,
    /// Not for us: no such room here, or already delivered.
    Ignored,
    /// Ids after `after` and before this one are missing here.
    Hole {
        after: u64,
    },
}

/// What this server holds, as Redis must know it after a reconnection.
pub(crate) struct Snapshot {
    /// Each room, with its last id if it is in step with the cluster.
    pub rooms: Vec<(String, Option<u64>)>,
    /// Each person, with their room.
    pub people: Vec<(String, String)>,
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
    /// The other servers, with `--redis-url`.
    cluster: Option<Cluster>,
}

/// A room's tail read from the store while the room was absent, after
/// `evictions` evictions: valid only while no room has been evicted since, as
/// an evicted incarnation's last messages may have been queued after the read.
struct Loaded {
    room: String,
    evictions: u64,
    tail: RoomTail,
    /// False if the tail could not be read from Redis.
    synced: bool,
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
    pub(crate) fn new(
        config: &ServerConfig,
        mut store: Option<Store>,
        cluster: Option<Cluster>,
    ) -> Self {
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
            cluster,
        };
        // With a cluster the lobby's tail is loaded from Redis like any room's.
        let mut lobby = rooms.new_room(DEFAULT_ROOM, lobby);
        lobby.synced = rooms.cluster.is_none();
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

    /// The other servers, if this one has any.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// The cluster while its link is up: where rooms' events go.
    fn cluster_up(&self) -> Option<&Cluster> {
        self.cluster.as_ref().filter(|c| c.is_up())
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
            synced: true,
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
        let mut claimed = None;
        let mut refused = None;
        if let Some(cluster) = self.cluster_up() {
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
                &mailbox,
                &mut loaded,
            ) {
                Ok(registration) => {
                    if let (Some(cluster), Some(claimed)) = (&self.cluster, &claimed)
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

    /// Claims `wanted`, or else a guest name, across the cluster: the name
    /// claimed (`None` if Redis did not answer: the local rules apply) and
    /// the name refused because another server's person has it.
    async fn claim_for(
        &self,
        cluster: &Cluster,
        wanted: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        /// Guest names tried before giving up on a claim (each is one round
        /// trip; a clash means another server gave the same number).
        const GUEST_TRIES: usize = 100;
        let mut candidate = wanted.map(str::to_owned);
        let mut refused = None;
        for _ in 0..GUEST_TRIES {
            let name = match candidate.take() {
                Some(name) if !self.state().people.contains_key(&name.to_lowercase()) => name,
                // Taken here: the local rules name the guest and say so.
                Some(_) => return (None, None),
                None => self.state().guest_name(),
            };
            match cluster.claim(&name).await {
                Ok(true) => return (Some(name), refused),
                Ok(false) if refused.is_none() && wanted.is_some() => refused = Some(name),
                Ok(false) => {}
                Err(()) => return (None, refused),
            }
        }
        (None, refused)
    }

    /// [`Rooms::connect`], or `Err` with the eviction count if `room` must be
    /// loaded from the store first.
    fn try_connect(
        &self,
        wanted: Option<&str>,
        refused: Option<&str>,
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
        let loaded = |tail, synced| Loaded {
            room: room.to_owned(),
            evictions,
            tail,
            synced,
        };
        if let Some(cluster) = &self.cluster {
            return match cluster.load(room).await {
                Ok(tail) => loaded(tail, true),
                Err(err) => {
                    tracing::warn!("cannot read the history of room {room} from Redis: {err}");
                    loaded(RoomTail::default(), false)
                }
            };
        }
        let store = self
            .store
            .as_ref()
            .expect("only rooms of a store are loaded");
        let tail = store.load(room).await.unwrap_or_else(|err| {
            tracing::error!("cannot read the history of room {room}: {err}; its ids start again");
            RoomTail::default()
        });
        loaded(tail, true)
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
        // With a cluster that is down, the room starts empty and catches up
        // when Redis is back.
        let must_load = self.store.is_some() || self.cluster_up().is_some();
        let (tail, synced) = match loaded.take() {
            _ if !must_load => (RoomTail::default(), self.cluster.is_none()),
            Some(l) if l.room == room && l.evictions == state.evictions => (l.tail, l.synced),
            _ => {
                return Ok(RoomEntry::MustLoad {
                    evictions: state.evictions,
                });
            }
        };
        let mut entry = self.new_room(room, tail);
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
        if let Some(cluster) = self.cluster_up() {
            cluster.place(name, room);
        }
        let join = Event::Join {
            room: room.to_owned(),
            name: name.to_owned(),
            ts: now_ms(),
        };
        self.announce(entry, room, &join);
        Membership {
            room: room.to_owned(),
            events_rx,
            replay,
            missed,
        }
    }

    /// Says `text` in `room` on behalf of `from`, and returns the room's
    /// backlog (see [`Rooms::backlog`]).
    ///
    /// With a cluster, the message goes to Redis and is delivered when it
    /// comes back. While Redis is unreachable it is delivered here at once,
    /// to this server's people only, with the id of the room's last message
    /// (ids are the cluster's to give), and is not kept in history: a client
    /// resuming after it misses nothing the cluster has.
    pub(crate) fn say(&self, from: &str, room: &str, text: &str, kind: Said) -> usize {
        if let Some(cluster) = self.cluster_up() {
            cluster.say(room, from, text, kind, now_ms());
            return self.backlog(room);
        }
        let local = self.cluster.is_none();
        let mut state = self.state();
        let Some(entry) = state.rooms.get_mut(room) else {
            return 0;
        };
        if local {
            entry.last_id += 1;
        }
        let id = entry.last_id;
        let event = kind.event(
            id,
            room.to_owned(),
            from.to_owned(),
            text.to_owned(),
            now_ms(),
        );
        let encoded = entry.broadcast(&event);
        if local {
            entry.remember(id, encoded, self.history_len);
        }
        let backlog = entry.events_tx.len();
        if let Some(store) = &self.store {
            store.append(event);
        }
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
        local.max(self.cluster.as_ref().map_or(0, Cluster::pending))
    }

    /// Renames `old` to `new`, announcing it in `room`.
    ///
    /// # Errors
    ///
    /// `name_taken` if someone else has `new` (in any letter case).
    pub(crate) async fn rename(
        &self,
        old: &str,
        room: &str,
        new: &str,
    ) -> Result<(), CommandError> {
        let Some(cluster) = self.cluster_up().filter(|_| old != new) else {
            return self.rename_here(old, room, new);
        };
        let taken_here = self.state().people.contains_key(&new.to_lowercase())
            && old.to_lowercase() != new.to_lowercase();
        if !taken_here && cluster.claim(new).await == Ok(false) {
            return Err(name_taken(new, "pick another"));
        }
        let renamed = self.rename_here(old, room, new);
        match &renamed {
            Ok(()) => {
                // After the claim of the new spelling, so that a change of
                // letter case does not free the name.
                cluster.forget(old);
                cluster.place(new, room);
            }
            Err(_) if old.to_lowercase() != new.to_lowercase() => cluster.release(new),
            Err(_) => {}
        }
        renamed
    }

    fn rename_here(&self, old: &str, room: &str, new: &str) -> Result<(), CommandError> {
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
            let nick = Event::Nick {
                room: room.to_owned(),
                old: old.to_owned(),
                new: new.to_owned(),
                ts: now_ms(),
            };
            self.announce(entry, room, &nick);
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
        self.leave(&mut state, name, from, &format!("joined {to}"));
        Ok(Ok(self.enter(&mut state, name, to, None)))
    }

    /// The names in `room`.
    pub(crate) async fn who(&self, room: &str) -> Event {
        let everywhere = match self.cluster_up() {
            Some(cluster) => cluster.who(room).await,
            None => None,
        };
        let mut names: Vec<String> = everywhere.unwrap_or_else(|| {
            self.state()
                .rooms
                .get(room)
                .map(|r| r.members.iter().cloned().collect())
                .unwrap_or_default()
        });
        // As a person reads a list: `ana` before `Bo`.
        names.sort_by_cached_key(|name| name.to_lowercase());
        Event::Who {
            room: room.to_owned(),
            names,
        }
    }

    /// The rooms that have people in them, by name.
    pub(crate) async fn list(&self) -> Event {
        let everywhere = match self.cluster_up() {
            Some(cluster) => cluster.rooms().await,
            None => None,
        };
        let mut rooms: Vec<RoomInfo> = everywhere.unwrap_or_else(|| {
            self.state()
                .rooms
                .iter()
                .filter(|(_, r)| !r.members.is_empty())
                .map(|(name, r)| RoomInfo {
                    name: name.clone(),
                    people: r.members.len(),
                })
                .collect()
        });
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
    pub(crate) async fn private(
        &self,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<Event, CommandError> {
        let no_such_user = || CommandError {
            code: ErrorCode::NoSuchUser,
            message: format!("nobody called '{to}' is connected (check the spelling)"),
        };
        let here = self.state().people.contains_key(&to.to_lowercase());
        if !here && let Some(cluster) = self.cluster_up() {
            return cluster
                .private(from, to, text, now_ms())
                .await
                .ok_or_else(no_such_user);
        }
        let state = self.state();
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
        // The name is free before anyone sees the departure.
        if let Some(cluster) = self.cluster_up() {
            cluster.forget(name);
        }
        let mut state = self.state();
        state.people.remove(&name.to_lowercase());
        self.leave(&mut state, name, room, reason);
    }

    fn leave(&self, state: &mut State, name: &str, room: &str, reason: &str) {
        if let Some(entry) = state.rooms.get_mut(room) {
            entry.members.remove(name);
            entry.last_active = Instant::now();
            let leave = Event::Leave {
                room: room.to_owned(),
                name: name.to_owned(),
                reason: reason.to_owned(),
                ts: now_ms(),
            };
            self.announce(entry, room, &leave);
        }
    }

    /// Announces a join, leave or nick in `room`: through Redis when the
    /// cluster is up (so it takes its place in the one order), here otherwise.
    fn announce(&self, entry: &mut Room, room: &str, event: &Event) {
        match self.cluster_up() {
            Some(cluster) => cluster.notice(room, event),
            None => {
                entry.broadcast(event);
            }
        }
    }

    /// Delivers an event that came back from Redis to this server's members
    /// of `room`: a notice (`id` 0) as it is, a message if it is the next id
    /// (or, with `accept_gap`, any later one), keeping it in history.
    pub(crate) fn arrived(&self, room: &str, id: u64, event: &Event, accept_gap: bool) -> Arrival {
        let mut state = self.state();
        let Some(entry) = state.rooms.get_mut(room) else {
            return Arrival::Ignored;
        };
        if id == 0 {
            entry.broadcast(event);
            return Arrival::Delivered;
        }
        if entry.synced && id <= entry.last_id {
            return Arrival::Ignored;
        }
        if entry.synced && id > entry.last_id + 1 && !accept_gap {
            return Arrival::Hole {
                after: entry.last_id,
            };
        }
        entry.synced = true;
        entry.last_id = id;
        let encoded = entry.broadcast(event);
        entry.remember(id, encoded, self.history_len);
        Arrival::Delivered
    }

    /// The last id `room` delivered, if the room is here and in step.
    pub(crate) fn last_id(&self, room: &str) -> Option<u64> {
        self.state()
            .rooms
            .get(room)
            .filter(|r| r.synced)
            .map(|r| r.last_id)
    }

    /// Tells `room`'s members that `missed` messages will never reach them.
    pub(crate) fn gap(&self, room: &str, missed: u64) {
        if let Some(entry) = self.state().rooms.get_mut(room) {
            entry.broadcast(&Event::Gap { missed });
        }
    }

    /// Puts a room created while Redis was unreachable in step with it.
    pub(crate) fn synced(&self, room: &str, tail: RoomTail) {
        let fresh = self.new_room(room, tail);
        if let Some(entry) = self.state().rooms.get_mut(room)
            && !entry.synced
        {
            entry.history = fresh.history;
            entry.last_id = fresh.last_id;
            entry.synced = true;
        }
    }

    /// Leaves a private message from another server in its recipient's
    /// mailbox.
    pub(crate) fn private_arrived(&self, event: Event) {
        let Event::Private { to, .. } = &event else {
            return;
        };
        let to = to.clone();
        let state = self.state();
        let Some(recipient) = state.people.get(&to.to_lowercase()) else {
            tracing::debug!("a private message for {to}, who has left");
            return;
        };
        if recipient.mailbox.deliver(event).is_err() {
            tracing::debug!("a private message for {to} dropped: their mailbox is full");
        }
    }

    /// Sends `event` to everyone on this server.
    pub(crate) fn tell_everyone(&self, event: &Event) {
        let mut state = self.state();
        for entry in state.rooms.values_mut().filter(|r| !r.members.is_empty()) {
            entry.broadcast(event);
        }
    }

    /// What Redis must know of this server.
    pub(crate) fn snapshot(&self) -> Snapshot {
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
        Snapshot { rooms, people }
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

    /// Keeps message `id` in the room's history, which holds `history_len`
    /// messages at most.
    fn remember(&mut self, id: u64, encoded: EncodedEvent, history_len: usize) {
        if history_len == 0 {
            return;
        }
        if self.history.len() == history_len {
            self.history.pop_front();
        }
        self.history.push_back((id, encoded));
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
