//! Every name this server uses in Redis, keys and channels alike, and the
//! ones that carry this server's id. The Lua scripts take the same names
//! from here.

use std::time::Duration;

use redis::Cmd;

/// How long a name claim and a server's liveness key last unless refreshed;
/// also how long a crashed server's people stay listed at most.
pub(super) const CLAIM_TTL: Duration = Duration::from_secs(30);

/// The set of the servers' ids.
pub(super) const SERVERS: &str = "chat:servers";
/// Before a server's id: its liveness key, which expires if it stops
/// refreshing it.
pub(super) const ALIVE_PREFIX: &str = "chat:alive:";
/// Before a server's id: the hash of its people and their rooms. The
/// truth of who is on which server, from which the two lists below are
/// mended when a server dies.
pub(super) const PEOPLE_PREFIX: &str = "chat:people:";
/// Before a room's name: the sorted set of the people in it on every
/// server, each `LOWERCASE NAME` with score 0, so that lexical order is
/// reading order and `/who` is one range read. The space sorts before
/// every character a name may hold, so `ana` comes before `anabel`, as in
/// one server's list.
pub(super) const MEMBERS_PREFIX: &str = "chat:members:";
/// The hash of the rooms with people in them on any server: room → how
/// many, so that `/rooms` reads only the rooms it lists.
pub(super) const HEAD_COUNTS: &str = "chat:heads";
/// The set of the rooms whose presence is summarised across servers.
pub(super) const SUMMARISED: &str = "chat:summarised";
/// The set of the rooms with presence counted for their next summary.
pub(super) const PRESENCE_DUE: &str = "chat:presence-due";
/// Before a room's name: the hash of what its next summary counts
/// (`joined`, `left`, `renamed`, and when the last went out, `last`);
/// with `:joined` or `:left` after it, the list of the first few names.
pub(super) const PRESENCE_PREFIX: &str = "chat:presence:";
/// Before a room's name: the channel its events are published on.
pub(super) const ROOM_CHANNEL_PREFIX: &str = "chat:room:";
/// Before a server's id: the channel of what is for its people alone.
pub(super) const SERVER_CHANNEL_PREFIX: &str = "chat:server:";
/// The channel of moderation that holds on every server whoever gave it:
/// mutes and their lifting and the lifting of bans, each event's JSON,
/// and bans, `ban` and the ban's JSON.
pub(super) const MODERATION_CHANNEL: &str = "chat:moderation";
/// The hash of the operators connected on every server: lowercase name →
/// the server they are an operator on, for `/who`'s `ops`. An entry
/// counts while that server is alive, and goes with the person.
pub(super) const OPS: &str = "chat:ops";
/// The hash of the registered names: lowercase name → the registration's
/// JSON (name, Argon2id PHC string, address).
pub(super) const REGISTERED: &str = "chat:registered";
/// The hash of the bans in force: lowercase name → the ban's JSON.
pub(super) const BANS: &str = "chat:bans";
/// Before `name:NAME` (lowercase) or `address:KEY` (an address, IPv6 as
/// its /64): the wrong passwords given for it on every server in the
/// current window, a counter that expires with the window.
pub(super) const FAILURES_PREFIX: &str = "chat:failures:";
/// The sorted set of the bans that end: lowercase name → when (Unix
/// milliseconds), so that ended bans leave the hash.
pub(super) const BAN_ENDS: &str = "chat:ban-ends";
/// Before a room's name: its message counter.
pub(super) const COUNTER_PREFIX: &str = "chat:id:";
/// Before a room's name: its topic (a string; absent: none), dropped with
/// the room's counter and stream.
pub(super) const TOPIC_PREFIX: &str = "chat:topic:";
/// Before a room's name: its history stream.
pub(super) const HISTORY_PREFIX: &str = "chat:history:";
/// The sorted set of the rooms kept in Redis but the lobby: room → when it
/// was last written (Redis's `TIME`, in microseconds), so that the least
/// recently written goes first past `--max-stored-rooms`.
pub(super) const STORED_ROOMS: &str = "chat:rooms";

/// A room's message counter: the last id it gave.
pub(super) fn counter(room: &str) -> String {
    format!("{COUNTER_PREFIX}{room}")
}

/// A room's history stream; entry `0-ID` is message ID.
pub(super) fn history(room: &str) -> String {
    format!("{HISTORY_PREFIX}{room}")
}

/// The sorted set of a room's people on every server (see
/// [`MEMBERS_PREFIX`]), and one person's member in it.
pub(super) fn members(room: &str, name: &str) -> (String, String) {
    (
        format!("{MEMBERS_PREFIX}{room}"),
        format!("{} {name}", name.to_lowercase()),
    )
}

/// A room's topic.
pub(super) fn topic(room: &str) -> String {
    format!("{TOPIC_PREFIX}{room}")
}

/// The channel a room's events are published on.
pub(super) fn room_channel(room: &str) -> String {
    format!("{ROOM_CHANNEL_PREFIX}{room}")
}

/// The pattern of every room's channel.
pub(super) fn room_channels() -> String {
    format!("{ROOM_CHANNEL_PREFIX}*")
}

/// The claim on a name, whatever its letter case.
pub(super) fn name(name: &str) -> String {
    format!("chat:name:{}", name.to_lowercase())
}

/// One server in Redis: its id and the keys and commands that carry it.
#[derive(Debug, Clone)]
pub(super) struct ServerId(String);

impl ServerId {
    /// A new server: 16 random hex digits.
    pub(super) fn random() -> Self {
        use ring::rand::{SecureRandom as _, SystemRandom};
        let mut bytes = [0u8; 8];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The channel this server's private messages are published on.
    pub(super) fn channel(&self) -> String {
        Self::channel_of(&self.0)
    }

    /// The channel of the server `id`.
    pub(super) fn channel_of(id: &str) -> String {
        format!("{SERVER_CHANNEL_PREFIX}{id}")
    }

    pub(super) fn alive_key(&self) -> String {
        format!("{ALIVE_PREFIX}{}", self.0)
    }

    /// What a claim of ours on `name` holds: `SERVER NAME`.
    pub(super) fn claim_value(&self, name: &str) -> String {
        format!("{} {name}", self.0)
    }

    /// What says this server is alive for another claim period: its place
    /// in the set of servers and its liveness key.
    pub(super) fn announce(&self) -> [Cmd; 2] {
        let mut add = redis::cmd("SADD");
        add.arg(SERVERS).arg(&self.0);
        let mut alive = redis::cmd("SET");
        alive
            .arg(self.alive_key())
            .arg(1)
            .arg("EX")
            .arg(CLAIM_TTL.as_secs());
        [add, alive]
    }

    /// What takes this server off the lists: its liveness key goes, and
    /// the next `/who`, `/rooms` or refresh of another server takes its
    /// people (none, if they all left first) out of the rooms' lists and
    /// then the server out of the set. Not done here: if this server's
    /// goodbye is cut short, a server gone from the set with people still
    /// listed would stay listed for good.
    pub(super) fn retire(&self) -> [Cmd; 1] {
        let mut delete = redis::cmd("DEL");
        delete.arg(self.alive_key());
        [delete]
    }
}
