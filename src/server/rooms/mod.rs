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
//! - `entry`: how a person enters a room (connect, `/join`), loading an
//!   absent room's tail first.
//! - `directory`: `/who`, `/rooms`, and finding a person for `/msg`.
//! - `members`: a room's names, sorted and paged for `/who`.
//! - `presence`: join, leave and nick notices, one each in a small room,
//!   summed up per interval in a big one.
//! - `evictions`: which rooms were evicted lately, for loads in flight.
//! - `moderation`: operators, and what they may do.
//! - `bans`: `/ban`, and the refusal of banned names and addresses.
//! - `registered`: names that belong to someone (`/register`, `/identify`).
//! - `topic`: each room's topic.
//! - `bridge`: what the Redis bridge calls ([`crate::server::cluster::Registry`]).

mod backend;
mod bans;
mod bridge;
mod control;
mod departures;
mod directory;
mod entry;
mod evictions;
mod members;
mod moderation;
mod names;
mod presence;
mod registered;
mod room;
mod topic;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, broadcast};

use super::encoded::{EncodedEvent, QueuedEvent};
use super::history::{RoomTail, Said, StoredMessage};
use super::unsent::{MAILBOX_POOL_BYTES, Unsent};
use crate::config::{ServerConfig, Token};
use crate::protocol::command::CommandError;
use crate::protocol::{DEFAULT_ROOM, ErrorCode, Event};
pub(crate) use backend::Backend;
use backend::Start;
pub use backend::StartError;
use bans::Bans;
pub(crate) use bans::{Ban, MAX_BANS};
pub(crate) use control::{Closing, Control, MAILBOX_BYTES, Told};
use departures::{DEPARTURE_HOLD, Departures, Hold};
use evictions::Evictions;
pub(crate) use moderation::MAX_MUTES;
pub(crate) use names::name_taken;
use presence::Announced;
use registered::Registered;
pub(crate) use registered::{REGISTERED_NAMES_BYTES, name_registered};
use room::{HistoryLimits, QueueLimits, Room};

/// Room tails read from the backend at once: each may be `--history`
/// messages of the largest size until it is installed (and cut to
/// `--history-bytes`), so a crowd joining absent rooms waits its turn
/// rather than holding one each.
pub(crate) const LOADS_AT_ONCE: usize = 4;

/// What the server keeps for every person connected.
struct Person {
    /// The name as the person spelled it (the map key is its lowercase form).
    name: String,
    /// What the person's connection can be told: private messages (left as
    /// events, because each recipient encodes its own) and orders.
    control: Arc<Control>,
    /// The address bans and mutes go by (see [`Rooms::bannable`]); `None`
    /// for a trusted proxy's.
    address: Option<IpAddr>,
}

/// A connection's place in a room, handed out on connect and on `/join`.
#[derive(Debug)]
pub(crate) struct Membership {
    pub room: String,
    pub events_rx: broadcast::Receiver<QueuedEvent>,
    /// History to send before anything from `events_rx`, in id order,
    /// encoded as it is written.
    pub replay: Vec<Arc<StoredMessage>>,
    /// Messages after the requested `since` that history no longer holds.
    pub missed: u64,
    /// The person's own `join`, when the room did not hear it (back within
    /// a held departure, or the room only counts arrivals): to send after
    /// the replay and any gap, where the broadcast would have put it, since
    /// clients take it as "you are in".
    pub own_join: Option<EncodedEvent>,
    /// How many are in the room, the newcomer included; with Redis, on
    /// every server (`None` if Redis does not answer).
    pub people: Option<usize>,
    /// The room's topic, for the welcome or after the own `join`.
    pub topic: Option<String>,
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
    queue: QueueLimits,
    backend: Backend,
    /// What long private messages waiting in mailboxes draw on.
    mailboxes: Unsent,
    /// Turns to load a room's tail (see [`LOADS_AT_ONCE`]).
    loads: Semaphore,
    /// Members above which a room's presence is summarised
    /// (`--presence-limit`; see `presence`).
    presence_limit: usize,
    /// How often those summaries go out (`--presence-interval`).
    pub(crate) presence_interval: std::time::Duration,
    /// The secret of `/op` (`--op-token`); `None`: no operators.
    op_token: Option<Token>,
    /// Whether anyone is muted: lets every message skip the lookup (and
    /// the lock) while nobody is, which is nearly always.
    anyone_muted: std::sync::atomic::AtomicBool,
    /// Whose addresses stand for others' (`--trusted-proxy`): never banned.
    proxies: crate::server::address::TrustedProxies,
    /// Hashes the passwords of registered names, one at a time.
    passwords: crate::server::passwords::Passwords,
    /// Set at shutdown, for connections not registered yet (held) to see.
    shutting_down: tokio::sync::watch::Sender<bool>,
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
    /// Rooms with presence counted for their next summary.
    presence_due: Vec<String>,
    /// The operators connected, by lowercase name: a handful at most, so
    /// `/who` finds a room's among them rather than every person carrying
    /// a flag that `/who` would have to visit.
    ops: BTreeSet<String>,
    /// Muted names, by lowercase name, with when each mute ends and the
    /// address it follows too; kept across reconnections, at most
    /// `MAX_MUTES`.
    mutes: HashMap<String, moderation::Mute>,
    /// The bans in force (see `bans`).
    bans: Bans,
    /// Names registered to someone (see `registered`).
    registered: Registered,
}

impl State {
    /// The room the person `key` (lowercase) is in, with its entry; `None`
    /// between rooms (loading one) or when not here. A scan of the rooms,
    /// for the moderation commands, never for a message.
    fn room_of(&mut self, key: &str) -> Option<(&String, &mut Room)> {
        self.rooms
            .iter_mut()
            .find(|(_, entry)| entry.members.contains(key))
    }
}

impl Rooms {
    pub(crate) fn new(config: &ServerConfig, mut backend: Backend) -> Self {
        let history = HistoryLimits {
            len: config.history.len,
            bytes: config.history.max_bytes,
        };
        // The lobby always exists, so the limit counts at least it.
        let max_rooms = config.limits.max_rooms.max(1);
        let queue = QueueLimits {
            len: config.limits.room_queue_len.max(1),
            bytes: config.limits.room_queue_bytes,
        };
        let (tail, synced) = backend.lobby();
        let bans = Bans::from_saved(backend.saved_bans());
        let registered = Registered::new(backend.take_names());
        let mut lobby = Room::new(tail, history, queue);
        lobby.synced = synced;
        Self {
            state: Mutex::new(State {
                rooms: HashMap::from([(DEFAULT_ROOM.to_owned(), lobby)]),
                people: HashMap::new(),
                next_guest: 1,
                evictions: Evictions::default(),
                closing: None,
                departures: Departures::default(),
                presence_due: Vec::new(),
                ops: BTreeSet::new(),
                mutes: HashMap::new(),
                bans,
                registered,
            }),
            history,
            max_rooms,
            queue,
            mailboxes: Unsent::new(MAILBOX_POOL_BYTES),
            loads: Semaphore::new(LOADS_AT_ONCE),
            presence_limit: config.limits.presence_limit,
            presence_interval: config.limits.presence_interval,
            op_token: config.op_token.clone(),
            anyone_muted: std::sync::atomic::AtomicBool::new(false),
            proxies: crate::server::address::TrustedProxies::new(&config.trusted_proxies),
            passwords: crate::server::passwords::Passwords::default(),
            shutting_down: tokio::sync::watch::Sender::new(false),
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
        if let Some(cluster) = self.backend.relay()
            // Redis gives the id.
            && cluster.say(room, &said(0).into_event(room.to_owned()))
        {
            return self.backlog(room);
        }
        // Without the link, or with its queue full (the link is being reset
        // and everyone told so): delivered here, as while Redis is away.
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
        let backlog = entry.backlog();
        // Under the lock, so the backend keeps messages in id order.
        self.backend.keep(event);
        backlog
    }

    /// Lets every room go of the events all its members have taken: a room
    /// does so on each send, and this is for the rooms that went quiet
    /// since, whose last events would otherwise stay until someone speaks.
    pub(crate) fn let_go_of_taken_events(&self) {
        for room in self.state().rooms.values_mut() {
            room.trim();
        }
    }

    /// How far behind the room's slowest member is, in events (see
    /// [`Room::backlog`]).
    pub(crate) fn backlog(&self, room: &str) -> usize {
        let local = self.state().rooms.get_mut(room).map_or(0, Room::backlog);
        // What waits to go to Redis counts too: a sender is held back until
        // the bridge has caught up.
        local.max(self.backend.backlog())
    }

    /// Tells every connection to close, now and whoever registers after
    /// (at shutdown).
    pub(crate) fn close_everyone(&self, closing: &Closing) {
        let mut guard = self.state();
        let state = &mut *guard;
        // Before the orders, so that everyone still hears who left.
        for (room, leave) in state.departures.drain() {
            self.announce(state, &room, &leave);
        }
        state.closing = Some(closing.clone());
        for person in state.people.values() {
            person.control.close(closing.clone());
        }
        self.shutting_down.send_replace(true);
    }

    /// Returns once everyone has been told to close (see
    /// [`Rooms::close_everyone`]): for a connection held before it
    /// registers, which that order cannot reach.
    pub(crate) async fn closing(&self) {
        let mut told = self.shutting_down.subscribe();
        let _ = told.wait_for(|closing| *closing).await;
    }

    /// Removes `name` from the server, announcing the departure with
    /// `reason`: at once, or if `held` (the connection dropped or timed
    /// out) after [`DEPARTURE_HOLD`], unless the name is back in the room by
    /// then. With Redis, always at once: the other servers would have to
    /// hold it too. Nothing at all if the name is no longer the
    /// connection's (`control`): someone identified as it, and its
    /// departure was announced then.
    pub(crate) fn disconnect(
        self: &Arc<Self>,
        name: &str,
        room: &str,
        reason: &str,
        held: bool,
        control: &Arc<Control>,
    ) {
        let mut guard = self.state();
        let state = &mut *guard;
        match state.people.get(&name.to_lowercase()) {
            Some(person) if Arc::ptr_eq(&person.control, control) => {}
            // Taken over (`registered`): gone already, from Redis's lists
            // too, and the name is its owner's.
            _ => return,
        }
        // The name is free before anyone sees the departure.
        if let Some(cluster) = self.backend.relay() {
            cluster.forget(name);
        }
        state.people.remove(&name.to_lowercase());
        state.ops.remove(&name.to_lowercase());
        // At shutdown everyone here is leaving and coming back to the next
        // server, so the room hears nothing: a leave for each of thousands,
        // read as the readers are being closed, would be noise (and lost at
        // once). With Redis the other servers' people stay, and hear it.
        if state.closing.is_some() && !self.backend.is_cluster() {
            if let Some(entry) = state.rooms.get_mut(room) {
                entry.members.remove(name);
            }
            return;
        }
        // Held only without Redis, so never at shutdown (returned above).
        let held = held && !self.backend.is_cluster();
        let Some(leave) = self.leave(state, name, room, reason, !held) else {
            return;
        };
        let id = match state.departures.hold(room, name, leave) {
            Hold::Held(id) => id,
            Hold::Full(leave) => {
                self.announce(state, room, &leave);
                return;
            }
        };
        drop(guard);
        let (rooms, room, name) = (Arc::clone(self), room.to_owned(), name.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(DEPARTURE_HOLD).await;
            let mut guard = rooms.state();
            let state = &mut *guard;
            if let Some(leave) = state.departures.release(&room, &name, id) {
                rooms.announce(state, &room, &leave);
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
            self.announce(state, room, &leave);
            return None;
        }
        Some(leave)
    }
}

/// Unix time in milliseconds, the `ts` of every event.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
