//! What the cluster needs of the registry, declared here and implemented by
//! `rooms`, so that the bridge can deliver to this server's rooms and people
//! without this module importing `rooms`.

use super::Moderation;
use crate::protocol::Event;
use crate::server::ban::Ban;
use crate::server::history::RoomTail;
use crate::server::owner::Owner;

/// What the bridge needs of the registry: the rooms and people of this
/// server, as Redis delivers to them and must know them.
pub(crate) trait Registry: Send + Sync + 'static {
    /// Delivers an event from Redis to this server's members of `room`: a
    /// notice (`id` 0) as it is, a message if it is the next id (or, with
    /// `accept_gap`, any later one), keeping it in history. A `kick` or
    /// `ban` of one of this server's people closes their connection once
    /// they have it.
    ///
    /// An id at or below the room's last id here is a late copy of a message
    /// delivered already ([`Arrival::Behind`]), unless the room's ids started
    /// again in Redis, which the bridge then asks Redis ([`Registry::restart`]).
    fn arrived(&self, room: &str, id: u64, event: &Event, accept_gap: bool) -> Arrival;
    /// Starts `room` again from nothing (no history, last id 0) if its last
    /// id here is still `last_id`: Redis dropped the room and its ids
    /// started again.
    fn restart(&self, room: &str, last_id: u64);
    /// Leaves a private message from another server with its recipient,
    /// or a join or nick that Redis only counted for its room's summary
    /// with the person it is about.
    fn private_arrived(&self, event: Event);
    /// Applies a mute, a ban or their lifting that an operator gave on
    /// some server (this one included), for every server to hold.
    fn moderated(&self, moderation: Moderation);
    /// Holds `bans`, all those Redis keeps, instead of those held here
    /// (at each resynchronisation).
    fn bans_loaded(&self, bans: Vec<Ban>);
    /// Holds `names`, all the registered names Redis keeps, instead of
    /// those held here (at each resynchronisation).
    fn names_loaded(&self, names: Vec<Owner>);
    /// Closes this server's person called `name` (4004): its owner
    /// identified on another server, and their room has read their leave.
    fn taken_over(&self, name: &str);
    /// Tells `room`'s members that `missed` messages will never reach them.
    fn gap(&self, room: &str, missed: u64);
    /// The last id `room` delivered, if the room is here and in step.
    fn last_id(&self, room: &str) -> Option<u64>;
    /// Puts a room created while Redis was unreachable in step with it.
    fn synced(&self, room: &str, tail: RoomTail);
    /// What this server holds, as Redis must know it.
    fn snapshot(&self) -> Snapshot;
    /// Sends `event` to everyone on this server (the link's state changed).
    fn tell_everyone(&self, event: &Event);
}

/// What became of an event from Redis (see [`Registry::arrived`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    Delivered,
    /// Not for us: no such room here.
    Ignored,
    /// An id at or below `last_id`, the room's last id here: already
    /// delivered, or the room's ids started again in Redis.
    Behind {
        last_id: u64,
    },
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
    /// The operators among them.
    pub ops: Vec<String>,
}
