//! Events: everything the server sends, in its two renderings.
//!
//! The JSON form is the serde form of [`Event`] (one object per frame, tagged by
//! `type`); the text form is [`Event::render_text`], the exact lines of the
//! design, for people and generic tools. Our client receives JSON and renders
//! the text form itself.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

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
    Who {
        room: String,
        names: Vec<String>,
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
    /// Something the client sent was refused; the connection stays up.
    Error {
        code: ErrorCode,
        message: String,
    },
}

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

    /// The text form, as a person reads it. Continuation lines of a multi-line
    /// message are indented, so that no line of someone's text can pass for a
    /// line from someone else.
    pub fn render_text(&self) -> String {
        match self {
            Event::Welcome {
                motd, name, room, ..
            } => {
                let mut out = String::new();
                if !motd.is_empty() {
                    out.push_str(motd);
                    out.push('\n');
                }
                let _ = write!(out, "you are {name} in {room}; type /help for commands");
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
            Event::Who { room, names } => format!("in {room}: {}", names.join(", ")),
            Event::Rooms { rooms } => {
                let list: Vec<String> = rooms
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.people))
                    .collect();
                format!("rooms: {}", list.join(", "))
            }
            Event::Help { commands } => {
                let mut out = String::from("commands:");
                for entry in commands {
                    let _ = write!(out, "\n  {:<16} {}", entry.usage, entry.effect);
                }
                out
            }
            Event::Gap { missed: 1 } => "... 1 message missed".to_owned(),
            Event::Gap { missed } => format!("... {missed} messages missed"),
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
            },
            r#"{"type":"welcome","motd":"hello","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40}}"#,
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
                names: vec!["ana".into(), "bo".into()],
            },
            r#"{"type":"who","room":"lobby","names":["ana","bo"]}"#,
            "in lobby: ana, bo",
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
            "commands:\n  /who             the names in this room",
        );
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
