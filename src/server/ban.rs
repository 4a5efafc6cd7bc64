//! A ban as the registry and the backends keep it: a plain record, below
//! both, so that the store (and, later, Redis) keeps it without knowing the
//! registry. What a ban does is `rooms::bans`'s.

use std::net::IpAddr;

/// Bans in force at most: an operator bans a few people a day, and a ban
/// outlives the connection, so the list needs a bound (see
/// `memory::BAN_BYTES`).
pub(crate) const MAX_BANS: usize = 1024;

/// One ban; with Redis, kept there as JSON (`cluster::bans`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ban {
    /// The name as the person spelled it.
    pub name: String,
    /// The address banned with it, as `address::key` gives it (an IPv6
    /// address stands for its /64); `None`: the name only.
    pub address: Option<IpAddr>,
    /// When it ends, Unix milliseconds (wall clock, so that it means the
    /// same after a restart); `None`: when unbanned.
    pub until: Option<u64>,
    /// The operator who gave it.
    pub by: String,
    /// Why, one line of at most `MAX_REASON_BYTES`; may be empty.
    pub reason: String,
}

impl Ban {
    /// Whether it has ended at `now` (Unix milliseconds).
    pub(crate) fn ended(&self, now: u64) -> bool {
        self.until.is_some_and(|until| until <= now)
    }
}
