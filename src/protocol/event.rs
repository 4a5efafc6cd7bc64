//! Events: everything the server sends, in its two renderings.
//!
//! The JSON form is the serde form of [`Event`] (one object per frame, tagged by
//! `type`); the text form is [`Event::render_text`], the exact lines of the
//! design, for people and generic tools. Our client receives JSON and renders
//! the text form itself.
//!
//! One concept, about 850 lines and its tests: every event with both its
//! renderings and its sanitising, so that a new event is one variant here
//! and the compiler names every match that must learn it.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

use crate::sanitize::{one_line, strip_controls};

/// One thing the server tells a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first frame of every connection.
    Welcome {
        motd: String,
        name: String,
        room: String,
        /// Messages the server keeps per room.
        history: usize,
        limits: LimitsInfo,
        /// How many are in the room, the newcomer included. Absent when the
        /// server cannot tell cheaply (with Redis, where the room spans
        /// servers): an additive field, so older clients ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        people: Option<usize>,
        /// The room's topic, if it has one (additive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// A message said in a room; `id` grows by one per room message.
    Message {
        id: u64,
        room: String,
        from: String,
        text: String,
        /// Unix time in milliseconds.
        ts: u64,
    },
    /// An action line (`/me`), numbered like messages.
    Action {
        id: u64,
        room: String,
        from: String,
        text: String,
        ts: u64,
    },
    Join {
        room: String,
        name: String,
        ts: u64,
    },
    Leave {
        room: String,
        name: String,
        /// `quit`, `quit: TEXT`, `disconnected` or `joined ROOM`.
        reason: String,
        ts: u64,
    },
    Nick {
        room: String,
        old: String,
        new: String,
        ts: u64,
    },
    /// A private message; the sender gets a copy as confirmation.
    Private {
        from: String,
        to: String,
        text: String,
        ts: u64,
    },
    /// One page of the names in a room: at most [`WHO_PAGE`], sorted as a
    /// person reads them (letter case aside), matching the prefix asked for
    /// and after the cursor given.
    Who {
        room: String,
        /// How many are in the room, whatever the prefix.
        count: usize,
        names: Vec<String>,
        /// Whether more names match after the last one listed: ask again
        /// with that name as the cursor.
        more: bool,
        /// The operators in the room (all of them, sorted like `names`):
        /// a separate list so that `names` keeps meaning "who is here".
        /// Additive: absent when there are none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ops: Vec<String>,
    },
    /// Arrivals and departures in a room above the presence limit, summed
    /// over an interval instead of one notice each (at most one per room per
    /// interval).
    Presence {
        room: String,
        joined: u64,
        /// The first few who joined, at most [`PRESENCE_NAMES`].
        joined_names: Vec<String>,
        left: u64,
        /// The first few who left, at most [`PRESENCE_NAMES`].
        left_names: Vec<String>,
        /// Name changes, counted only.
        renamed: u64,
        /// How many are in the room now.
        people: usize,
        ts: u64,
    },
    Rooms {
        rooms: Vec<RoomInfo>,
    },
    Help {
        commands: Vec<HelpEntry>,
    },
    /// Messages this client will never see: gone from history before a `since`
    /// resume, or skipped because the client read too slowly.
    Gap {
        missed: u64,
    },
    /// An operator closed `name`'s connection (`/kick`); `reason` may be
    /// empty. Always one notice, never counted into a `presence` summary:
    /// a room should see who was removed and why.
    Kick {
        room: String,
        name: String,
        by: String,
        reason: String,
        ts: u64,
    },
    /// A room's topic: the answer to `/topic` (without `by`), what
    /// `/join` shows after the own `join`, and, with `by`, the notice to
    /// the room that it changed. An empty `topic` means none.
    Topic {
        room: String,
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// An operator muted `name` (for `seconds`, or until unmuted): sent to
    /// the operator and to the muted person.
    Mute {
        name: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        /// For the operator alone: why the mute does not follow the
        /// address (as for a ban). Additive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// An operator unmuted `name`: sent to both.
    Unmute {
        name: String,
        by: String,
    },
    /// The answer to a right `/op SECRET`: this connection is an operator
    /// until it closes.
    Op {
        name: String,
    },
    /// An operator banned `name` (`/ban`): the notice to the room of the
    /// banned person, who hears it before the close (4003). The operator
    /// gets a copy of their own when they did not hear it there, or when
    /// `note` says that only the name is banned, and why. `room` is empty
    /// when the person was not in one (not connected).
    Ban {
        room: String,
        name: String,
        by: String,
        reason: String,
        /// When the ban ends, in Unix milliseconds; absent: until unbanned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<u64>,
        /// For the operator alone: why the address is not banned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        ts: u64,
    },
    /// An operator lifted `name`'s ban: the answer to `/unban`.
    Unban {
        name: String,
        by: String,
    },
    /// The answer to `/bans`: every ban in force, sorted by name.
    Bans {
        bans: Vec<BanInfo>,
    },
    /// The answer to `/ignore NAME`: NAME's messages, actions and private
    /// messages no longer reach this connection.
    Ignore {
        name: String,
    },
    /// The answer to `/unignore NAME`.
    Unignore {
        name: String,
    },
    /// The answer to `/register`: `name` is now registered to this
    /// connection's person (`changed`: it was already, and the password is
    /// new). `durable`: the registration outlives a restart (`--data-dir`).
    Registered {
        name: String,
        durable: bool,
        changed: bool,
    },
    /// The answer to a right `/identify` command, after the rename: this
    /// connection is `name`. (A connection held for its name learns it
    /// from its welcome instead.)
    Identified {
        name: String,
    },
    /// `/unregister`: `name` is free for anyone again, by its owner or by
    /// the operator `by`.
    Unregistered {
        name: String,
        by: String,
    },
    /// Something the client sent was refused; the connection stays up.
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Names a `who` event lists at most; the rest are paged with a cursor.
pub const WHO_PAGE: usize = 100;
/// Names a `presence` event lists per direction: enough to recognise a
/// friend arriving, few enough that the event stays one short line.
pub const PRESENCE_NAMES: usize = 5;

/// The limits a client should pace itself under, as the welcome states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsInfo {
    pub max_message_bytes: usize,
    pub per_second: u32,
    pub burst: u32,
}

/// A room and how many people are in it, as `/rooms` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub people: usize,
}

/// One ban, as `/bans` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    pub name: String,
    /// The address banned with the name (an IPv6 one stands for its /64);
    /// absent when only the name is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// When it ends, in Unix milliseconds; absent: until unbanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    pub by: String,
    pub reason: String,
}

/// One line of `/help`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpEntry {
    pub usage: String,
    pub effect: String,
}

/// Why the server refused something; the `code` of an `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NameTaken,
    InvalidName,
    InvalidRoom,
    /// A `format` or `since` in the URL that means nothing.
    InvalidQuery,
    UnknownCommand,
    /// A known command with missing or extra arguments.
    BadArguments,
    EmptyMessage,
    TooLong,
    BinaryUnsupported,
    RateLimited,
    TooManyRooms,
    NoSuchUser,
    /// The recipient of a private message is not reading fast enough.
    RecipientBusy,
    /// `/op` with a wrong secret, or on a server without operators.
    OpRefused,
    /// A command only operators may use.
    NotOperator,
    /// Said while muted (`/mute`); the message says until when.
    Muted,
    /// `/nick` to a name an operator banned (`/ban`).
    NameBanned,
    /// A command that works on a single server only, for now (not with
    /// `--redis-url`).
    SingleServer,
    /// The name is registered to someone: `/identify` first.
    NameRegistered,
    /// `/identify` with a password that is not the name's.
    WrongPassword,
    /// `/identify` or `/unregister` of a name nobody registered.
    NotRegistered,
    /// `/register` past the limit of registrations per address, or of the
    /// server.
    TooManyRegistrations,
    /// Not a refusal: a password was sent over a connection that is
    /// neither TLS nor loopback, readable on the way.
    Insecure,
    /// Not a refusal: the link to the other servers (`--redis-url`) was
    /// lost, or is back.
    Cluster,
}

impl Event {
    /// A convenience for the common `error` event.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Event::Error {
            code,
            message: message.into(),
        }
    }

    /// The JSON form: one object, no trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events hold only strings and numbers")
    }

    /// The event with every string made safe to print, for a client that
    /// does not trust its server: a field shown as part of one line (names,
    /// rooms, reasons, error messages, help entries) becomes one line
    /// ([`one_line`]); a text that may span lines (a message's, the MOTD)
    /// only loses its control characters ([`strip_controls`]), and
    /// [`Event::render_text`] indents a message's continuation lines.
    ///
    /// Every field is named below, so that a new one does not compile until
    /// someone decides which of the two it is.
    #[must_use]
    pub fn sanitized(self) -> Self {
        let line = |s: String| one_line(&s).into_owned();
        let text = |s: String| strip_controls(&s).into_owned();
        match self {
            Event::Welcome {
                motd,
                name,
                room,
                history,
                limits,
                people,
                topic,
            } => Event::Welcome {
                motd: text(motd),
                name: line(name),
                room: line(room),
                history,
                limits,
                people,
                topic: topic.map(line),
            },
            Event::Topic { room, topic, by } => Event::Topic {
                room: line(room),
                topic: line(topic),
                by: by.map(line),
            },
            Event::Message {
                id,
                room,
                from,
                text: said,
                ts,
            } => Event::Message {
                id,
                room: line(room),
                from: line(from),
                text: text(said),
                ts,
            },
            Event::Action {
                id,
                room,
                from,
                text: said,
                ts,
            } => Event::Action {
                id,
                room: line(room),
                from: line(from),
                text: text(said),
                ts,
            },
            Event::Join { room, name, ts } => Event::Join {
                room: line(room),
                name: line(name),
                ts,
            },
            Event::Leave {
                room,
                name,
                reason,
                ts,
            } => Event::Leave {
                room: line(room),
                name: line(name),
                reason: line(reason),
                ts,
            },
            Event::Nick { room, old, new, ts } => Event::Nick {
                room: line(room),
                old: line(old),
                new: line(new),
                ts,
            },
            Event::Private {
                from,
                to,
                text: said,
                ts,
            } => Event::Private {
                from: line(from),
                to: line(to),
                text: text(said),
                ts,
            },
            Event::Who {
                room,
                count,
                names,
                more,
                ops,
            } => Event::Who {
                room: line(room),
                count,
                names: names.into_iter().map(line).collect(),
                more,
                ops: ops.into_iter().map(line).collect(),
            },
            Event::Op { name } => Event::Op { name: line(name) },
            Event::Registered {
                name,
                durable,
                changed,
            } => Event::Registered {
                name: line(name),
                durable,
                changed,
            },
            Event::Identified { name } => Event::Identified { name: line(name) },
            Event::Unregistered { name, by } => Event::Unregistered {
                name: line(name),
                by: line(by),
            },
            Event::Mute {
                name,
                by,
                seconds,
                note,
            } => Event::Mute {
                name: line(name),
                by: line(by),
                seconds,
                note: note.map(line),
            },
            Event::Unmute { name, by } => Event::Unmute {
                name: line(name),
                by: line(by),
            },
            Event::Ban {
                room,
                name,
                by,
                reason,
                until,
                note,
                ts,
            } => Event::Ban {
                room: line(room),
                name: line(name),
                by: line(by),
                reason: line(reason),
                until,
                note: note.map(line),
                ts,
            },
            Event::Unban { name, by } => Event::Unban {
                name: line(name),
                by: line(by),
            },
            Event::Bans { bans } => Event::Bans {
                bans: bans
                    .into_iter()
                    .map(
                        |BanInfo {
                             name,
                             address,
                             until,
                             by,
                             reason,
                         }| BanInfo {
                            name: line(name),
                            address: address.map(line),
                            until,
                            by: line(by),
                            reason: line(reason),
                        },
                    )
                    .collect(),
            },
            Event::Ignore { name } => Event::Ignore { name: line(name) },
            Event::Unignore { name } => Event::Unignore { name: line(name) },
            Event::Kick {
                room,
                name,
                by,
                reason,
                ts,
            } => Event::Kick {
                room: line(room),
                name: line(name),
                by: line(by),
                reason: line(reason),
                ts,
            },
            Event::Presence {
                room,
                joined,
                joined_names,
                left,
                left_names,
                renamed,
                people,
                ts,
            } => Event::Presence {
                room: line(room),
                joined,
                joined_names: joined_names.into_iter().map(line).collect(),
                left,
                left_names: left_names.into_iter().map(line).collect(),
                renamed,
                people,
                ts,
            },
            Event::Rooms { rooms } => Event::Rooms {
                rooms: rooms
                    .into_iter()
                    .map(|RoomInfo { name, people }| RoomInfo {
                        name: line(name),
                        people,
                    })
                    .collect(),
            },
            Event::Help { commands } => Event::Help {
                commands: commands
                    .into_iter()
                    .map(|HelpEntry { usage, effect }| HelpEntry {
                        usage: line(usage),
                        effect: line(effect),
                    })
                    .collect(),
            },
            Event::Gap { missed } => Event::Gap { missed },
            Event::Error { code, message } => Event::Error {
                code,
                message: line(message),
            },
        }
    }

    /// The text form, as a person reads it. Continuation lines of a multi-line
    /// message are indented, so that no line of someone's text can pass for a
    /// line from someone else.
    pub fn render_text(&self) -> String {
        match self {
            Event::Welcome {
                motd,
                name,
                room,
                topic,
                ..
            } => {
                let mut out = String::new();
                if !motd.is_empty() {
                    out.push_str(motd);
                    out.push('\n');
                }
                let _ = write!(out, "you are {name} in {room}; type /help for commands");
                if let Some(topic) = topic {
                    let _ = write!(out, "\ntopic: {topic}");
                }
                out
            }
            Event::Message { from, text, .. } => format!("{from}: {}", indent(text)),
            Event::Action { from, text, .. } => format!("* {from} {}", indent(text)),
            Event::Join { room, name, .. } => format!("-> {name} joined {room}"),
            Event::Leave {
                room, name, reason, ..
            } => format!("<- {name} left {room} ({reason})"),
            Event::Nick { old, new, .. } => format!("-- {old} is now known as {new}"),
            Event::Private { from, text, .. } => format!("[private] {from}: {}", indent(text)),
            Event::Who {
                room,
                count,
                names,
                more,
                ops,
            } => {
                // Operators are marked as IRC marks them.
                let marked: Vec<std::borrow::Cow<'_, str>> = names
                    .iter()
                    .map(|name| {
                        if ops.contains(name) {
                            format!("@{name}").into()
                        } else {
                            name.as_str().into()
                        }
                    })
                    .collect();
                let list = marked.join(", ");
                if !more && names.len() == *count {
                    format!("in {room}: {list}")
                } else {
                    let etc = if *more { ", ..." } else { "" };
                    format!("in {room} ({} here): {list}{etc}", thousands(*count as u64))
                }
            }
            Event::Presence {
                joined,
                joined_names,
                left,
                left_names,
                renamed,
                people,
                ..
            } => {
                let mut parts = Vec::new();
                if *joined > 0 {
                    parts.push(format!(
                        "{} joined{}",
                        thousands(*joined),
                        some_of(joined_names, *joined)
                    ));
                }
                if *left > 0 {
                    parts.push(format!(
                        "{} left{}",
                        thousands(*left),
                        some_of(left_names, *left)
                    ));
                }
                if *renamed > 0 {
                    parts.push(format!("{} renamed", thousands(*renamed)));
                }
                format!(
                    "-- {}; {} here",
                    parts.join(", "),
                    thousands(*people as u64)
                )
            }
            Event::Rooms { rooms } => {
                let list: Vec<String> = rooms
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.people))
                    .collect();
                format!("rooms: {}", list.join(", "))
            }
            Event::Help { commands } => {
                let mut out = String::from("commands:");
                // One column for the usages, as wide as the longest.
                let width = commands.iter().map(|e| e.usage.chars().count()).max();
                let width = width.unwrap_or_default();
                for entry in commands {
                    let _ = write!(out, "\n  {:<width$} {}", entry.usage, entry.effect);
                }
                out
            }
            Event::Gap { missed: 1 } => "... 1 message missed".to_owned(),
            Event::Gap { missed } => format!("... {missed} messages missed"),
            Event::Op { .. } => "-- you are now an operator".to_owned(),
            Event::Registered {
                name,
                changed: true,
                ..
            } => format!("-- the password of {name} is changed"),
            Event::Registered {
                name,
                durable: true,
                ..
            } => format!("-- {name} is registered to you; /identify {name} PASSWORD takes it back"),
            Event::Registered { name, .. } => format!(
                "-- {name} is registered to you until the server restarts (it keeps no data); /identify {name} PASSWORD takes it back"
            ),
            Event::Identified { name } => format!("-- you are identified as {name}"),
            Event::Unregistered { name, by } if name.eq_ignore_ascii_case(by) => {
                format!("-- {name} is no longer registered")
            }
            Event::Unregistered { name, by } => {
                format!("-- {by} unregistered the name {name}")
            }
            Event::Mute {
                name,
                by,
                seconds,
                note,
            } => {
                let mut out = match seconds {
                    Some(seconds) => format!("-- {by} muted {name} for {seconds} s"),
                    None => format!("-- {by} muted {name} until unmuted"),
                };
                if let Some(note) = note {
                    let _ = write!(out, "; {note}");
                }
                out
            }
            Event::Unmute { name, by } => format!("-- {by} unmuted {name}"),
            Event::Topic {
                by: Some(by),
                topic,
                ..
            } if topic.is_empty() => format!("-- {by} cleared the topic"),
            Event::Topic {
                by: Some(by),
                topic,
                ..
            } => format!("-- {by} set the topic: {topic}"),
            Event::Topic { room, topic, .. } if topic.is_empty() => {
                format!("-- {room} has no topic")
            }
            Event::Topic { room, topic, .. } => format!("-- topic of {room}: {topic}"),
            Event::Kick {
                name, by, reason, ..
            } if reason.is_empty() => format!("-- {name} was kicked by {by}"),
            Event::Kick {
                name, by, reason, ..
            } => format!("-- {name} was kicked by {by} ({reason})"),
            Event::Ban {
                name,
                by,
                reason,
                until,
                note,
                ..
            } => {
                let mut out = format!("-- {name} was banned by {by} {}", until_text(*until));
                if !reason.is_empty() {
                    let _ = write!(out, " ({reason})");
                }
                if let Some(note) = note {
                    let _ = write!(out, "; {note}");
                }
                out
            }
            Event::Unban { name, by } => format!("-- {by} lifted the ban on {name}"),
            Event::Bans { bans } if bans.is_empty() => "-- no bans".to_owned(),
            Event::Bans { bans } => {
                let mut out = String::from("bans:");
                for ban in bans {
                    let what = match &ban.address {
                        Some(address) => format!("name and {address}"),
                        None => "name only".to_owned(),
                    };
                    let _ = write!(
                        out,
                        "\n  {} ({what}) {} by {}",
                        ban.name,
                        until_text(ban.until),
                        ban.by
                    );
                    if !ban.reason.is_empty() {
                        let _ = write!(out, ": {}", ban.reason);
                    }
                }
                out
            }
            Event::Ignore { name } => {
                format!("-- you ignore {name} now (/unignore {name} to undo)")
            }
            Event::Unignore { name } => format!("-- you no longer ignore {name}"),
            Event::Error { message, .. } => format!("! {message}"),
        }
    }

    /// The text form of a private message as its sender sees the confirmation,
    /// which must name the recipient.
    pub fn render_text_for_sender(&self) -> String {
        match self {
            Event::Private { from, to, text, .. } => {
                format!("[private to {to}] {from}: {}", indent(text))
            }
            other => other.render_text(),
        }
    }
}

/// `until 2026-12-03 10:15:00 UTC`, or `until unbanned`: when a ban
/// given in Unix milliseconds ends, as a person reads it anywhere.
pub fn until_text(until: Option<u64>) -> String {
    let at = until
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(chrono::DateTime::from_timestamp_millis);
    match at {
        Some(at) => format!("until {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "until unbanned".to_owned(),
    }
}

/// `1034` as `1,034`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// ` (ana, bo, +10)`: the names listed out of `total`.
fn some_of(names: &[String], total: u64) -> String {
    if names.is_empty() {
        return String::new();
    }
    let mut out = format!(" ({}", names.join(", "));
    let rest = total.saturating_sub(names.len() as u64);
    if rest > 0 {
        let _ = write!(out, ", +{}", thousands(rest));
    }
    out.push(')');
    out
}

fn indent(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\n') {
        text.replace('\n', "\n  ").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(event: &Event, json: &str, text: &str) {
        assert_eq!(event.to_json(), json);
        assert_eq!(&serde_json::from_str::<Event>(json).unwrap(), event);
        assert_eq!(event.render_text(), text);
    }

    #[test]
    fn every_event_kind_has_its_exact_json_and_text() {
        roundtrip(
            &Event::Welcome {
                motd: "hello".into(),
                name: "ana".into(),
                room: "lobby".into(),
                history: 100,
                limits: LimitsInfo {
                    max_message_bytes: 65536,
                    per_second: 20,
                    burst: 40,
                },
                people: Some(3),
                topic: None,
            },
            r#"{"type":"welcome","motd":"hello","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40},"people":3}"#,
            "hello\nyou are ana in lobby; type /help for commands",
        );
        roundtrip(
            &Event::Message {
                id: 42,
                room: "lobby".into(),
                from: "ana".into(),
                text: "hi".into(),
                ts: 7,
            },
            r#"{"type":"message","id":42,"room":"lobby","from":"ana","text":"hi","ts":7}"#,
            "ana: hi",
        );
        roundtrip(
            &Event::Action {
                id: 43,
                room: "lobby".into(),
                from: "ana".into(),
                text: "waves".into(),
                ts: 7,
            },
            r#"{"type":"action","id":43,"room":"lobby","from":"ana","text":"waves","ts":7}"#,
            "* ana waves",
        );
        roundtrip(
            &Event::Join {
                room: "lobby".into(),
                name: "bo".into(),
                ts: 7,
            },
            r#"{"type":"join","room":"lobby","name":"bo","ts":7}"#,
            "-> bo joined lobby",
        );
        roundtrip(
            &Event::Leave {
                room: "lobby".into(),
                name: "bo".into(),
                reason: "quit: bye".into(),
                ts: 7,
            },
            r#"{"type":"leave","room":"lobby","name":"bo","reason":"quit: bye","ts":7}"#,
            "<- bo left lobby (quit: bye)",
        );
        roundtrip(
            &Event::Nick {
                room: "lobby".into(),
                old: "guest-3".into(),
                new: "bo".into(),
                ts: 7,
            },
            r#"{"type":"nick","room":"lobby","old":"guest-3","new":"bo","ts":7}"#,
            "-- guest-3 is now known as bo",
        );
        roundtrip(
            &Event::Private {
                from: "ana".into(),
                to: "bo".into(),
                text: "psst".into(),
                ts: 7,
            },
            r#"{"type":"private","from":"ana","to":"bo","text":"psst","ts":7}"#,
            "[private] ana: psst",
        );
        roundtrip(
            &Event::Who {
                room: "lobby".into(),
                count: 2,
                names: vec!["ana".into(), "bo".into()],
                more: false,
                ops: Vec::new(),
            },
            r#"{"type":"who","room":"lobby","count":2,"names":["ana","bo"],"more":false}"#,
            "in lobby: ana, bo",
        );
        roundtrip(
            &Event::Who {
                room: "lobby".into(),
                count: 1_034,
                names: vec!["ana".into(), "anabel".into()],
                more: true,
                ops: Vec::new(),
            },
            r#"{"type":"who","room":"lobby","count":1034,"names":["ana","anabel"],"more":true}"#,
            "in lobby (1,034 here): ana, anabel, ...",
        );
        roundtrip(
            &Event::Registered {
                name: "ana".into(),
                durable: true,
                changed: false,
            },
            r#"{"type":"registered","name":"ana","durable":true,"changed":false}"#,
            "-- ana is registered to you; /identify ana PASSWORD takes it back",
        );
        roundtrip(
            &Event::Registered {
                name: "ana".into(),
                durable: false,
                changed: false,
            },
            r#"{"type":"registered","name":"ana","durable":false,"changed":false}"#,
            "-- ana is registered to you until the server restarts (it keeps no data); /identify ana PASSWORD takes it back",
        );
        roundtrip(
            &Event::Registered {
                name: "ana".into(),
                durable: true,
                changed: true,
            },
            r#"{"type":"registered","name":"ana","durable":true,"changed":true}"#,
            "-- the password of ana is changed",
        );
        roundtrip(
            &Event::Identified { name: "ana".into() },
            r#"{"type":"identified","name":"ana"}"#,
            "-- you are identified as ana",
        );
        roundtrip(
            &Event::Unregistered {
                name: "ana".into(),
                by: "ana".into(),
            },
            r#"{"type":"unregistered","name":"ana","by":"ana"}"#,
            "-- ana is no longer registered",
        );
        roundtrip(
            &Event::Unregistered {
                name: "ana".into(),
                by: "bo".into(),
            },
            r#"{"type":"unregistered","name":"ana","by":"bo"}"#,
            "-- bo unregistered the name ana",
        );
        roundtrip(
            &Event::Presence {
                room: "lobby".into(),
                joined: 12,
                joined_names: vec!["ana".into(), "bo".into()],
                left: 3,
                left_names: vec![],
                renamed: 0,
                people: 1_034,
                ts: 7,
            },
            r#"{"type":"presence","room":"lobby","joined":12,"joined_names":["ana","bo"],"left":3,"left_names":[],"renamed":0,"people":1034,"ts":7}"#,
            "-- 12 joined (ana, bo, +10), 3 left; 1,034 here",
        );
        roundtrip(
            &Event::Presence {
                room: "lobby".into(),
                joined: 0,
                joined_names: vec![],
                left: 2,
                left_names: vec!["cy".into(), "di".into()],
                renamed: 1,
                people: 101,
                ts: 7,
            },
            r#"{"type":"presence","room":"lobby","joined":0,"joined_names":[],"left":2,"left_names":["cy","di"],"renamed":1,"people":101,"ts":7}"#,
            "-- 2 left (cy, di), 1 renamed; 101 here",
        );
        roundtrip(
            &Event::Rooms {
                rooms: vec![
                    RoomInfo {
                        name: "lobby".into(),
                        people: 2,
                    },
                    RoomInfo {
                        name: "rust".into(),
                        people: 1,
                    },
                ],
            },
            r#"{"type":"rooms","rooms":[{"name":"lobby","people":2},{"name":"rust","people":1}]}"#,
            "rooms: lobby (2), rust (1)",
        );
        roundtrip(
            &Event::Gap { missed: 17 },
            r#"{"type":"gap","missed":17}"#,
            "... 17 messages missed",
        );
        roundtrip(
            &Event::error(ErrorCode::NameTaken, "the name 'bo' is taken"),
            r#"{"type":"error","code":"name_taken","message":"the name 'bo' is taken"}"#,
            "! the name 'bo' is taken",
        );
        roundtrip(
            &Event::Help {
                commands: vec![HelpEntry {
                    usage: "/who".into(),
                    effect: "the names in this room".into(),
                }],
            },
            r#"{"type":"help","commands":[{"usage":"/who","effect":"the names in this room"}]}"#,
            "commands:\n  /who the names in this room",
        );
        roundtrip(
            &Event::Ban {
                room: "lobby".into(),
                name: "bo".into(),
                by: "ana".into(),
                reason: "spamming".into(),
                until: Some(1_764_756_000_000),
                note: None,
                ts: 1_764_748_800_000,
            },
            r#"{"type":"ban","room":"lobby","name":"bo","by":"ana","reason":"spamming","until":1764756000000,"ts":1764748800000}"#,
            "-- bo was banned by ana until 2025-12-03 10:00:00 UTC (spamming)",
        );
        roundtrip(
            &Event::Ban {
                room: "lobby".into(),
                name: "bo".into(),
                by: "ana".into(),
                reason: String::new(),
                until: None,
                note: Some("only the name is affected".into()),
                ts: 1_764_748_800_000,
            },
            r#"{"type":"ban","room":"lobby","name":"bo","by":"ana","reason":"","note":"only the name is affected","ts":1764748800000}"#,
            "-- bo was banned by ana until unbanned; only the name is affected",
        );
        roundtrip(
            &Event::Unban {
                name: "bo".into(),
                by: "ana".into(),
            },
            r#"{"type":"unban","name":"bo","by":"ana"}"#,
            "-- ana lifted the ban on bo",
        );
        roundtrip(
            &Event::Bans {
                bans: vec![
                    BanInfo {
                        name: "bo".into(),
                        address: Some("203.0.113.2".into()),
                        until: Some(1_764_756_000_000),
                        by: "ana".into(),
                        reason: "spamming".into(),
                    },
                    BanInfo {
                        name: "cy".into(),
                        address: None,
                        until: None,
                        by: "ana".into(),
                        reason: String::new(),
                    },
                ],
            },
            r#"{"type":"bans","bans":[{"name":"bo","address":"203.0.113.2","until":1764756000000,"by":"ana","reason":"spamming"},{"name":"cy","by":"ana","reason":""}]}"#,
            "bans:\n  bo (name and 203.0.113.2) until 2025-12-03 10:00:00 UTC by ana: spamming\n  cy (name only) until unbanned by ana",
        );
        roundtrip(
            &Event::Bans { bans: vec![] },
            r#"{"type":"bans","bans":[]}"#,
            "-- no bans",
        );
        roundtrip(
            &Event::Mute {
                name: "bo".into(),
                by: "ana".into(),
                seconds: Some(600),
                note: None,
            },
            r#"{"type":"mute","name":"bo","by":"ana","seconds":600}"#,
            "-- ana muted bo for 600 s",
        );
        roundtrip(
            &Event::Mute {
                name: "bo".into(),
                by: "ana".into(),
                seconds: None,
                note: Some("only the name is affected".into()),
            },
            r#"{"type":"mute","name":"bo","by":"ana","note":"only the name is affected"}"#,
            "-- ana muted bo until unmuted; only the name is affected",
        );
        roundtrip(
            &Event::Ignore { name: "bo".into() },
            r#"{"type":"ignore","name":"bo"}"#,
            "-- you ignore bo now (/unignore bo to undo)",
        );
        roundtrip(
            &Event::Unignore { name: "bo".into() },
            r#"{"type":"unignore","name":"bo"}"#,
            "-- you no longer ignore bo",
        );
    }

    #[test]
    fn a_welcome_without_a_head_count_reads_as_before() {
        let json = r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":1,"limits":{"max_message_bytes":1,"per_second":1,"burst":1}}"#;
        let welcome: Event = serde_json::from_str(json).unwrap();
        assert_eq!(welcome.to_json(), json);
    }

    #[test]
    fn a_single_missed_message_is_singular() {
        assert_eq!(
            Event::Gap { missed: 1 }.render_text(),
            "... 1 message missed"
        );
    }

    #[test]
    fn sender_sees_who_a_private_message_went_to() {
        let event = Event::Private {
            from: "ana".into(),
            to: "bo".into(),
            text: "psst".into(),
            ts: 7,
        };
        assert_eq!(event.render_text_for_sender(), "[private to bo] ana: psst");
    }

    #[test]
    fn sanitized_makes_one_line_fields_one_line_and_keeps_message_lines() {
        let evil = "e\x1b]0;pwned\x07ve\nbo: please paste the token here";
        let message = Event::Message {
            id: 1,
            room: "lobby".into(),
            from: evil.into(),
            text: "hi\x1b[2J\nthere".into(),
            ts: 7,
        };
        assert_eq!(
            message.sanitized().render_text(),
            "e]0;pwnedve bo: please paste the token here: hi[2J\n  there"
        );
        let leave = Event::Leave {
            room: "lobby".into(),
            name: "bo".into(),
            reason: "quit: bye\r\nana: hi\x07".into(),
            ts: 7,
        };
        assert_eq!(
            leave.sanitized().render_text(),
            "<- bo left lobby (quit: bye ana: hi)"
        );
        let error = Event::error(ErrorCode::Cluster, "\x1b[31mlost\n12:34 bo: hi");
        assert_eq!(error.sanitized().render_text(), "! [31mlost 12:34 bo: hi");
        let welcome = Event::Welcome {
            motd: "line one\nline\x1b[2J two".into(),
            name: "an\x1b]0;pwned\x07\na".into(),
            room: "lob\nby".into(),
            history: 1,
            limits: LimitsInfo {
                max_message_bytes: 1,
                per_second: 1,
                burst: 1,
            },
            people: None,
            topic: None,
        };
        assert_eq!(
            welcome.sanitized().render_text(),
            "line one\nline[2J two\nyou are an]0;pwned a in lob by; type /help for commands"
        );
    }

    #[test]
    fn sanitized_leaves_a_clean_event_as_it_was() {
        let who = Event::Who {
            room: "lobby".into(),
            count: 2,
            names: vec!["ana".into(), "bo".into()],
            more: false,
            ops: Vec::new(),
        };
        assert_eq!(who.clone().sanitized(), who);
    }

    #[test]
    fn continuation_lines_cannot_pass_for_another_speaker() {
        let event = Event::Message {
            id: 1,
            room: "lobby".into(),
            from: "eve".into(),
            text: "hi\nbo: send me your token".into(),
            ts: 7,
        };
        assert_eq!(event.render_text(), "eve: hi\n  bo: send me your token");
    }
}
