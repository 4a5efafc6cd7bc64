//! Events: everything the server sends, in its two renderings.
//!
//! The JSON form is the serde form of [`Event`] (one object per frame, tagged by
//! `type`); the text form is [`Event::render_text`], the exact lines of the
//! design, for people and generic tools. Our client receives JSON and renders
//! the text form itself.
//!
//! One concept, about 330 lines and its tests: every event with both its
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
            } => Event::Welcome {
                motd: text(motd),
                name: line(name),
                room: line(room),
                history,
                limits,
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
            Event::Who { room, names } => Event::Who {
                room: line(room),
                names: names.into_iter().map(line).collect(),
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
            names: vec!["ana".into(), "bo".into()],
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
