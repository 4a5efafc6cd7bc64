//! Server settings and their defaults.
//!
//! The defaults are the figures of the design's "Running it" and "Limits and bad
//! input" sections, as named constants so that the flags, the welcome event and
//! the tests all read them from one place. Flag parsing lives in the binary; this
//! module knows nothing of clap.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::server::address::Cidr;

/// Address the server listens on when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1";
/// Port the server listens on, and the client connects to, when none is given.
pub const DEFAULT_PORT: u16 = 8080;
/// The welcome text sent as the first frame of every connection.
pub const DEFAULT_MOTD: &str = "Welcome to chat! Type a message";
/// Messages kept per room for late joiners and `since` resume.
pub const DEFAULT_HISTORY_LEN: usize = 100;
/// Bytes of history kept per room in memory: 100 messages of 2.5 KiB, far
/// more than a chat's usual lines, yet 1,000 rooms of it stay under 256 MiB
/// (100 messages of the 64 KiB allowed would be 6.4 MiB a room).
pub const DEFAULT_HISTORY_BYTES: usize = 256 * 1024;
/// Rooms whose history a data directory or Redis keeps: ten times the rooms
/// in memory, so that a room evicted from memory finds its history again
/// unless many others were written since.
pub const DEFAULT_MAX_STORED_ROOMS: usize = 10_000;
/// How often the durable history commits what was said (group commit): what
/// a crash may lose at most.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_millis(50);

/// How long the room hears nothing of a person whose connection dropped or
/// timed out: back in the same room under the same name within it, neither
/// a `leave` nor a `join` is announced; otherwise the `leave` goes out when
/// it ends. A goodbye, and a departure the server ordered, are announced at
/// once.
pub const DEPARTURE_HOLD: Duration = Duration::from_secs(3);

/// Members above which a room's joins, leaves and renames are summed up
/// in one `presence` event per interval instead of one notice each. Each
/// notice is a frame to every member, so filling a room of n costs n²/2
/// frames: 5,000 at 100, which any machine sends at once and a person can
/// still read, and 50 million at 10,000. It is also where services that
/// live with this draw the line (Pusher's presence channels stop at 100).
pub const DEFAULT_PRESENCE_LIMIT: usize = 100;
/// How often a big room hears its `presence` summary: often enough that
/// the count feels live, rarely enough that a crowd arriving costs a few
/// frames a member.
pub const DEFAULT_PRESENCE_INTERVAL: Duration = Duration::from_secs(3);

/// Everything `server::run` needs to know besides the listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Welcome text, sent in the first frame.
    pub motd: String,
    /// How much history each room keeps, and where.
    pub history: HistoryConfig,
    /// Shared secret a connection must present as `?token=`; `None` lets anyone in.
    pub token: Option<Token>,
    /// The secret of `/op` (`--op-token`); `None`: nobody is an operator.
    pub op_token: Option<Token>,
    /// Web pages allowed to connect besides the server's own (`--allow-origin`):
    /// origins such as `https://app.example`, authorities such as
    /// `app.example:8443`, or `*` for any.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`):
    /// a connection from one of them counts as coming from the right-most
    /// forwarded address that is not one of them. Empty: the TCP peer is the
    /// client.
    pub trusted_proxies: Vec<Cidr>,
    /// Bounds on what one client may cost the server.
    pub limits: Limits,
    /// TLS for the whole port (`server::tls::load` reads it from PEM files);
    /// `None` serves plain `ws://` and `http://`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            motd: DEFAULT_MOTD.to_owned(),
            history: HistoryConfig::default(),
            token: None,
            op_token: None,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            tls: None,
        }
    }
}

/// How much history each room keeps, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Messages kept per room (default [`DEFAULT_HISTORY_LEN`]), in memory
    /// and in the backend alike.
    pub len: usize,
    /// Bytes of messages kept per room in memory, sender and text and a
    /// small overhead each (default [`DEFAULT_HISTORY_BYTES`]): the oldest
    /// go first, whichever of this and `len` binds.
    pub max_bytes: usize,
    /// Where history lives (default: in memory).
    pub storage: Storage,
    /// Rooms whose history a data directory or Redis keeps at most
    /// (default [`DEFAULT_MAX_STORED_ROOMS`]); past it, the least recently
    /// written room's history and last id are dropped.
    pub max_stored_rooms: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            len: DEFAULT_HISTORY_LEN,
            max_bytes: DEFAULT_HISTORY_BYTES,
            storage: Storage::Memory,
            max_stored_rooms: DEFAULT_MAX_STORED_ROOMS,
        }
    }
}

/// Where history lives: one of three, so that no server can be given two.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory: gone when the server stops.
    Memory,
    /// In an SQLite database in `dir` (`--data-dir`), committed every
    /// `commit_interval` (default [`DEFAULT_COMMIT_INTERVAL`]): what a crash
    /// may lose at most.
    Disk {
        dir: PathBuf,
        commit_interval: Duration,
    },
    /// In the Redis at `url` (`--redis-url`), shared with every server that
    /// uses it: they are then one chat.
    Redis { url: String },
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Memory => f.write_str("Memory"),
            Storage::Disk {
                dir,
                commit_interval,
            } => f
                .debug_struct("Disk")
                .field("dir", dir)
                .field("commit_interval", commit_interval)
                .finish(),
            // The URL may carry a password.
            Storage::Redis { .. } => f.write_str("Redis { url: <redacted> }"),
        }
    }
}

/// A shared secret: `--token`'s, or `--op-token`'s.
///
/// Its `Debug` form is redacted so that logging a config never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Compares in time that does not depend on where the first difference is,
    /// so the secret cannot be guessed byte by byte from response times.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Bytes of frames each connection may owe its client without drawing on
/// the server-wide pool ([`Limits::unsent_pool_bytes`]): every ordinary
/// event, and a flush's worth of them, fits.
pub const UNSENT_ALLOWANCE_BYTES: usize = 8 * 1024;

/// Bounds on what one client, or all of them together, may cost the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest text message accepted; a longer one gets a `too_long` error event
    /// (default 64 KiB). Frames a quarter over this close the connection with 1009.
    pub max_message_bytes: usize,
    /// Sustained messages per second one client may send (default 20).
    pub messages_per_second: u32,
    /// Messages one client may send in a burst above the rate (default 40).
    pub message_burst: u32,
    /// Open WebSocket connections; one more is closed with 1013 (default 10,000).
    pub max_connections: usize,
    /// New connections one address (an IPv6 /64) may open per second; one
    /// more gets HTTP 429 (default 0: no limit).
    pub max_connects_per_second: u32,
    /// Rooms that may exist at once (default 1,000).
    pub max_rooms: usize,
    /// Events a room keeps for its slowest reader before that reader gets a
    /// `gap` (default 1,024).
    pub room_queue_len: usize,
    /// Bytes of encoded events a room keeps for its slowest reader; past
    /// them the oldest go, and whoever had not read them gets a `gap`
    /// (default 256 KiB; the newest event is always kept).
    pub room_queue_bytes: usize,
    /// Bytes the server may owe slow clients, all together, beyond the
    /// first [`UNSENT_ALLOWANCE_BYTES`] each owes freely: what a large frame
    /// waits for before it is handed to a socket (default 64 MiB).
    pub unsent_pool_bytes: usize,
    /// How long a write to a client may stall before the client is closed
    /// (default 30 s).
    pub write_timeout: Duration,
    /// Silence after which the server pings a client; no answer within as long
    /// again closes it (default 30 s).
    pub ping_interval: Duration,
    /// Time a client has for its TLS handshake and its whole HTTP request
    /// head, and a held connection for its `/identify` or `/nick` (default 10 s).
    pub handshake_timeout: Duration,
    /// Largest HTTP request head, in bytes (default 8 KiB).
    pub max_header_bytes: usize,
    /// Most header lines in an HTTP request (default 100).
    pub max_headers: usize,
    /// Members above which a room's presence is summarised (default
    /// [`DEFAULT_PRESENCE_LIMIT`]).
    pub presence_limit: usize,
    /// How often a summarised room hears its summary (default
    /// [`DEFAULT_PRESENCE_INTERVAL`]).
    pub presence_interval: Duration,
}

impl Limits {
    /// Frames larger than this are a protocol violation, closed with 1009
    /// instead of answered with `too_long`: a quarter over the message limit
    /// leaves room for a person who pastes a little too much to get a
    /// friendly error. Every connection may hold one frame this large as it
    /// arrives, so this is the largest term of the server's memory
    /// (`server::memory`): twice the limit would add 48 KiB a connection.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_message_bytes
            .saturating_add(self.max_message_bytes / 4)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            messages_per_second: 20,
            message_burst: 40,
            max_connections: 10_000,
            max_connects_per_second: 0,
            max_rooms: 1_000,
            room_queue_len: 1_024,
            room_queue_bytes: 256 * 1024,
            unsent_pool_bytes: 64 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 8 * 1024,
            max_headers: 100,
            presence_limit: DEFAULT_PRESENCE_LIMIT,
            presence_interval: DEFAULT_PRESENCE_INTERVAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_itself() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3creT"));
        assert!(!token.matches(""));
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token::new("s3cret")), "Token(<redacted>)");
    }
}
