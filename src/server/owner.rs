//! A registered name as the registry and the backends keep it: a plain
//! record, below them all as `ban` is, so that the store and Redis keep it
//! without knowing the registry. What a registration does is
//! `rooms::registered`'s.

use std::net::IpAddr;
use std::sync::Arc;

/// A registered name and what proves it; with Redis, kept there as JSON
/// and checked when read (`cluster::inbound::owner`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Owner {
    /// As it was registered.
    pub name: String,
    /// The password's Argon2id PHC string; shared, so that a check takes it
    /// out of the registry's lock without a copy.
    pub hash: Arc<str>,
    /// Where it was registered from (registrations per address).
    pub address: IpAddr,
}
