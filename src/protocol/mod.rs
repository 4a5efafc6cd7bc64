//! The wire protocol, v1: what travels in the URL and in each text frame.
//!
//! Pure functions and plain data only (no sockets, no clock), so that parsing,
//! validation and rendering can be unit- and property-tested and shared by the
//! server and the client.
//!
//! - [`event`]: what the server sends ([`Event`]), as JSON and as a text line.
//! - [`command`]: what a client's frame means ([`Input`], [`Command`]).
//! - [`query`]: what a connection asks for in its URL ([`JoinRequest`]).

pub mod command;
pub mod event;
pub mod query;

pub use command::{Command, Input, parse_input, strip_line_ending};
pub use event::{
    BanInfo, ErrorCode, Event, HelpEntry, LimitsInfo, PRESENCE_NAMES, RoomInfo, WHO_PAGE,
};
pub use query::JoinRequest;

/// The room a connection enters when its URL names none.
pub const DEFAULT_ROOM: &str = "lobby";
/// Longest valid name, in characters.
pub const MAX_NAME_LEN: usize = 24;
/// Longest valid room name, in characters.
pub const MAX_ROOM_LEN: usize = 32;
/// Close code `unresponsive`: the peer did not answer pings in time. A
/// network condition, not misbehaviour, so clients reconnect and resume.
pub const CLOSE_UNRESPONSIVE: u16 = 4000;
/// Close code `kicked`: an operator closed the connection (`/kick`), with
/// the reason in the close frame. Clients stop and say why.
pub const CLOSE_KICKED: u16 = 4001;
/// Close code `banned`: an operator banned this name or address (`/ban`),
/// on connect or while connected, with the reason and the end in the close
/// frame. Clients stop and say why and until when.
pub const CLOSE_BANNED: u16 = 4003;
/// How the reason of a kick's close, and of the `leave` that follows the
/// room's `kick` notice, begins: `kicked by NAME`.
pub const KICKED_BY: &str = "kicked by ";
/// How the reason of a ban's close and `leave` begins: `banned by NAME`.
pub const BANNED_BY: &str = "banned by ";

/// Whether a `leave` with `reason` follows a `kick` or `ban` notice, which
/// told the room already: a client need not show it again.
pub fn leave_told_by_notice(reason: &str) -> bool {
    reason.starts_with(KICKED_BY) || reason.starts_with(BANNED_BY)
}

/// Close code `signed in elsewhere`: another connection identified as this
/// one's registered name (`/identify`). Clients stop: reconnecting would
/// take the name back, and the two would close each other in turn.
pub const CLOSE_SIGNED_IN_ELSEWHERE: u16 = 4004;
/// Longest reason kept for `/kick`, in bytes: one line that still fits the
/// close frame's 123 bytes after `kicked by NAME: `.
pub const MAX_REASON_BYTES: usize = 80;
/// Longest room topic, in bytes: one line a person reads at a glance.
pub const MAX_TOPIC_BYTES: usize = 200;

/// How a connection wants its events: `text` lines for people and generic tools,
/// `json` objects for programs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Whether `name` is a valid person name: `[A-Za-z0-9_-]{1,24}`.
pub fn is_valid_name(name: &str) -> bool {
    is_token(name, MAX_NAME_LEN)
}

/// Whether `room` is a valid room name: `[A-Za-z0-9_-]{1,32}`.
pub fn is_valid_room(room: &str) -> bool {
    is_token(room, MAX_ROOM_LEN)
}

fn is_token(s: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_design_pattern() {
        assert!(is_valid_name("ana"));
        assert!(is_valid_name("Bo_2-x"));
        assert!(is_valid_name(&"a".repeat(24)));
        assert!(!is_valid_name(&"a".repeat(25)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("ana bo"));
        assert!(!is_valid_name("anä"));
        assert!(!is_valid_name("ana\u{1b}"));
    }

    #[test]
    fn rooms_follow_the_design_pattern() {
        assert!(is_valid_room("lobby"));
        assert!(is_valid_room(&"r".repeat(32)));
        assert!(!is_valid_room(&"r".repeat(33)));
        assert!(!is_valid_room("a/b"));
        assert!(!is_valid_room(""));
    }
}
