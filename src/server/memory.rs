//! The server's worst-case memory, as a formula of its flags.
//!
//! Everything a client can make the server hold is bounded, and the bound of
//! the whole is the sum of the bounds of the holders, one term each.
//! `docs/operating.md` ("Memory") states the same formula in words, the
//! server reports its value on `/metrics` (`chat_memory_bound_bytes`), and
//! `tests/it/memory.rs` fills every holder at small flags and checks that the
//! process stays under it. The per-item constants are measured (see the
//! test) and rounded up; the defaults' total stays under 2 GiB (a unit test
//! below).

use crate::config::{ServerConfig, Storage, UNSENT_ALLOWANCE_BYTES};
use crate::server::cluster::link_bytes;
use crate::server::connection::MAX_IGNORES;
use crate::server::passwords::HASH_MEMORY_BYTES;
use crate::server::rooms::{
    LOADS_AT_ONCE, MAILBOX_BYTES, MAX_BANS, MAX_MUTES, REGISTERED_NAMES_BYTES,
};
use crate::server::store::MAX_QUEUED_BYTES;
use crate::server::unsent::MAILBOX_POOL_BYTES;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The process itself: code, runtime, worker threads, metrics.
pub const PROCESS_BYTES: u64 = 16 * MIB;
/// One connection besides what it receives and owes: its task, socket,
/// WebSocket state and registry entry (an idle one measures about 8 KiB).
pub const CONNECTION_BYTES: u64 = 12 * KIB;
/// What a connection's read buffer holds besides the frame being read.
pub const READ_BUFFER_BYTES: u64 = 8 * KIB;
/// Sockets that may be in their handshake at once; the next is accepted
/// when one is done (upgraded, answered, or timed out).
pub const MAX_HANDSHAKES: usize = 1024;
/// A socket in its HTTP handshake, besides its request head.
const HANDSHAKE_BYTES: u64 = 12 * KIB;
/// A TLS session's buffers and state, for a socket in its handshake.
const TLS_BYTES: u64 = 48 * KIB;
/// A room besides its queue's events and its history.
const ROOM_BYTES: u64 = 4 * KIB;
/// One slot of a room's queue (the events are counted apart).
const QUEUE_SLOT_BYTES: u64 = 64;
/// A message's sender, room, id and event around its text, encoded.
const EVENT_OVERHEAD_BYTES: u64 = KIB;
/// SQLite's page cache and statements.
const SQLITE_BYTES: u64 = 4 * MIB;
/// One name a connection ignores: its lowercase copy (at most 24 bytes,
/// a 32-byte allocation), its 16 bytes in the list, and the list's slack.
const IGNORE_BYTES: u64 = 64;
/// One ban: its name twice (the key and as spelled), the operator's name,
/// a reason of at most 80 bytes, an address and an end, in a hash map.
const BAN_BYTES: u64 = 512;
/// One mute: its name, an address and an end, in a hash map.
const MUTE_BYTES: u64 = 128;

/// One holder of memory and the most it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub holder: &'static str,
    pub bytes: u64,
}

/// The most memory a server with `config` holds, term by term.
pub fn worst_case(config: &ServerConfig) -> Vec<Term> {
    let limits = &config.limits;
    let n = |value: usize| value as u64;
    let message = n(limits.max_message_bytes);
    // Both encodings of the largest message: the text rendering indents
    // each line break (3 bytes for 1), JSON escapes it (2 for 1).
    let largest_event = 5 * message + EVENT_OVERHEAD_BYTES;
    let per_connection = CONNECTION_BYTES
        + n(limits.max_frame_bytes())
        + READ_BUFFER_BYTES
        + n(UNSENT_ALLOWANCE_BYTES)
        + n(MAILBOX_BYTES);
    let per_handshake = n(limits.max_header_bytes)
        + HANDSHAKE_BYTES
        + if config.tls.is_some() { TLS_BYTES } else { 0 };
    // The newest event is kept whatever its size.
    let per_queue = n(limits.room_queue_bytes).max(largest_event)
        + n(limits.room_queue_len) * QUEUE_SLOT_BYTES
        + ROOM_BYTES;
    let history = if config.history.len == 0 {
        0
    } else {
        n(config.history.max_bytes)
    };
    let rooms = n(limits.max_rooms.max(1));
    let mut terms = vec![
        Term {
            holder: "the process",
            bytes: PROCESS_BYTES,
        },
        Term {
            holder: "connections: state, one frame arriving, what each owes by itself",
            bytes: n(limits.max_connections) * per_connection,
        },
        Term {
            holder: "sockets in their handshake",
            bytes: n(MAX_HANDSHAKES) * per_handshake,
        },
        Term {
            holder: "the unsent pool (--max-unsent-bytes)",
            bytes: n(limits.unsent_pool_bytes),
        },
        Term {
            holder: "long private messages waiting in mailboxes",
            bytes: n(MAILBOX_POOL_BYTES),
        },
        Term {
            holder: "room queues",
            bytes: rooms * per_queue,
        },
        Term {
            holder: "history in memory",
            bytes: rooms * history,
        },
        Term {
            holder: "ignore lists (/ignore), per connection",
            bytes: n(limits.max_connections) * n(MAX_IGNORES) * IGNORE_BYTES,
        },
        Term {
            holder: "bans and mutes",
            bytes: n(MAX_BANS) * BAN_BYTES + n(MAX_MUTES) * MUTE_BYTES,
        },
        Term {
            holder: "password hashing: one hash at a time, Argon2id's memory cost",
            bytes: n(HASH_MEMORY_BYTES),
        },
        Term {
            holder: "registered names, and the wrong passwords counted",
            bytes: n(REGISTERED_NAMES_BYTES),
        },
    ];
    let loads = Term {
        holder: "room tails being loaded",
        bytes: n(LOADS_AT_ONCE) * n(config.history.len) * (message + EVENT_OVERHEAD_BYTES),
    };
    match &config.history.storage {
        Storage::Memory => {}
        Storage::Disk { .. } => terms.extend([
            loads,
            Term {
                holder: "the store's queue and SQLite",
                bytes: n(MAX_QUEUED_BYTES) + SQLITE_BYTES,
            },
        ]),
        Storage::Redis { .. } => terms.extend([
            loads,
            Term {
                holder: "the link to Redis: what waits to go out, and what arrived",
                bytes: n(link_bytes(limits.max_message_bytes)),
            },
        ]),
    }
    terms
}

/// The sum of [`worst_case`].
pub fn bound(config: &ServerConfig) -> u64 {
    worst_case(config).iter().map(|term| term.bytes).sum()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_defaults_fit_in_two_gib_with_any_storage() {
        let disk = Storage::Disk {
            dir: PathBuf::from("data"),
            commit_interval: Duration::from_millis(50),
        };
        let redis = Storage::Redis {
            url: "redis://127.0.0.1".to_owned(),
        };
        for storage in [Storage::Memory, disk, redis] {
            let mut config = ServerConfig::default();
            config.history.storage = storage;
            let total = bound(&config);
            assert!(
                total <= 2 * 1024 * MIB,
                "{:.2} GiB: {:#?}",
                total as f64 / (1024 * MIB) as f64,
                worst_case(&config)
            );
        }
    }

    #[test]
    fn each_flag_moves_its_term() {
        let base = ServerConfig::default();
        let mut more = base.clone();
        more.limits.max_connections += 1;
        more.limits.unsent_pool_bytes += 1;
        let per_connection = CONNECTION_BYTES
            + (base.limits.max_frame_bytes() + UNSENT_ALLOWANCE_BYTES + MAILBOX_BYTES) as u64
            + READ_BUFFER_BYTES
            + MAX_IGNORES as u64 * IGNORE_BYTES;
        assert_eq!(bound(&more) - bound(&base), per_connection + 1);
    }
}
