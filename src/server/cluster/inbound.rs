//! What arrives from Redis, checked as client input is, in one place: a
//! room's channel, this server's channel and a room's history stream all
//! come through [`Inbound`], which turns a raw payload into an event fit to
//! deliver, or says why it is not one; the names and rooms of the answers
//! to `/who`, `/rooms` and a name's claim come through [`names`],
//! [`rooms`] and [`claim_holder`].
//!
//! Anyone who can write to the Redis (another server with a bug, a person
//! with `redis-cli`) can publish anything; without these checks one payload
//! could put escapes on every screen, pass for the server (a `welcome`, a
//! `cluster` error), or install an id no counter will reach, after which the
//! room would drop every real message as already delivered.
//!
//! One concept, about 580 lines and its tests: one set of checks for every
//! way a byte comes in from Redis, so that none can be skipped by a path
//! that forgot it.

use std::borrow::Cow;

use crate::protocol::{
    Event, MAX_REASON_BYTES, MAX_TOPIC_BYTES, PRESENCE_NAMES, RoomInfo, WHO_PAGE, is_valid_name,
    is_valid_room,
};
use crate::sanitize::{one_line, strip_controls};
use crate::server::ban::Ban;
use crate::server::owner::Owner;

/// What the moderation channel carries: an event every server applies
/// (`mute`, `unmute`, `unban`, `unregistered`), a ban or a registered name
/// to hold, or a name taken by its owner (on server `taker`) from
/// `holder`'s person.
#[derive(Debug)]
pub(crate) enum Moderation {
    Event(Event),
    Ban(Ban),
    Owner(Owner),
    Take {
        holder: String,
        taker: String,
        name: String,
    },
}

/// The longest PHC string taken from Redis: ours are about 100 bytes.
const MAX_HASH_BYTES: usize = 512;

/// How far past a room's last id a message on its channel may be: a server
/// that misses more than that loses its subscription connection (Redis cuts
/// slow subscribers) and resynchronises from the stream instead.
pub(super) const MAX_IDS_AHEAD: u64 = 1_000_000;
/// The highest id Redis can give: its counters are signed 64-bit.
const MAX_ID: u64 = i64::MAX as u64;

/// Why something from Redis was dropped; the message goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refused {
    #[error("not an event: {0}")]
    Unreadable(String),
    #[error("a `{0}` event has no place on this channel")]
    WrongKind(&'static str),
    #[error("an event of room {0}")]
    WrongRoom(String),
    #[error("an invalid name: {0:?}")]
    InvalidName(String),
    #[error("a text of {0} bytes, over the limit")]
    TooLong(usize),
    #[error("an empty text")]
    Empty,
    #[error("a notice with id {0}")]
    NoticeWithId(u64),
    #[error("a message without an id")]
    NoId,
    #[error("an impossible id {id} (the highest possible here is {highest})")]
    ImpossibleId { id: u64, highest: u64 },
    #[error("a duration of {0} seconds, over a year")]
    OverAYear(u64),
}

/// The longest mute or ban an operator can give (`/mute NAME 365d`).
const MAX_SECONDS: u64 = 365 * 86_400;

/// The checks on what arrives from Redis, with the limits they need.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inbound {
    /// `--max-message-bytes`: no text from Redis may be longer than what a
    /// client may send here.
    pub max_message_bytes: usize,
}

impl Inbound {
    /// A payload from `room`'s channel (`ID JSON`): a message or action with
    /// an id no further than [`MAX_IDS_AHEAD`] past `last_id` (the room's
    /// last id here, if it is here and in step), or a join, leave or nick
    /// with id 0, all of `room`.
    pub(super) fn room_event(
        &self,
        room: &str,
        payload: &[u8],
        last_id: Option<u64>,
    ) -> Result<(u64, Event), Refused> {
        let payload = std::str::from_utf8(payload).map_err(|err| unreadable(&err))?;
        let (id, json) = payload
            .split_once(' ')
            .ok_or_else(|| Refused::Unreadable("no id before the event".into()))?;
        let id: u64 = id.parse().map_err(|err| unreadable(&err))?;
        let event = serde_json::from_str(json).map_err(|err| unreadable(&err))?;
        let highest = last_id.map_or(MAX_ID, |last| last.saturating_add(MAX_IDS_AHEAD));
        let event = self.room_event_of(room, id, event, highest)?;
        Ok((id, event))
    }

    /// An event for one person of this server's, from its channel (the
    /// event's JSON): a private message, or a join or nick that their room
    /// only counted, for the person it is about.
    pub(super) fn private(&self, payload: &[u8]) -> Result<Event, Refused> {
        let payload = std::str::from_utf8(payload).map_err(|err| unreadable(&err))?;
        let event: Event = serde_json::from_str(payload).map_err(|err| unreadable(&err))?;
        let room = match &event {
            Event::Join { room, .. } | Event::Nick { room, .. } => room.clone(),
            Event::Private { .. } => {
                let Event::Private { from, to, text, ts } = event else {
                    unreachable!("matched as private")
                };
                return Ok(Event::Private {
                    from: name(from)?,
                    to: name(to)?,
                    text: self.text(text)?,
                    ts,
                });
            }
            other => return Err(Refused::WrongKind(kind(other))),
        };
        if !is_valid_room(&room) {
            return Err(Refused::WrongRoom(room));
        }
        self.room_event_of(&room, 0, event, 0)
    }

    /// An event of the moderation channel (the event's JSON): a mute or
    /// its lifting, given by an operator of one server for every server,
    /// with valid names and a mute no longer than a year.
    pub(super) fn moderation(&self, payload: &[u8]) -> Result<Moderation, Refused> {
        if let Some(json) = payload.strip_prefix(b"ban ") {
            return ban(json).map(Moderation::Ban);
        }
        if let Some(json) = payload.strip_prefix(b"owner ") {
            return owner(json).map(Moderation::Owner);
        }
        if let Some(taken) = payload.strip_prefix(b"take ") {
            let taken = std::str::from_utf8(taken).map_err(|err| unreadable(&err))?;
            let mut parts = taken.splitn(3, ' ');
            let (Some(holder), Some(taker), Some(who)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(Refused::Unreadable("no name taken".into()));
            };
            return Ok(Moderation::Take {
                holder: holder.to_owned(),
                taker: taker.to_owned(),
                name: name(who.to_owned())?,
            });
        }
        let payload = std::str::from_utf8(payload).map_err(|err| unreadable(&err))?;
        let event: Event = serde_json::from_str(payload).map_err(|err| unreadable(&err))?;
        Ok(Moderation::Event(match event {
            Event::Mute {
                name: who,
                by,
                seconds,
                ..
            } => {
                if let Some(seconds) = seconds.filter(|&s| s > MAX_SECONDS) {
                    return Err(Refused::OverAYear(seconds));
                }
                Event::Mute {
                    name: name(who)?,
                    by: name(by)?,
                    seconds,
                    note: None,
                }
            }
            Event::Unmute { name: who, by } => Event::Unmute {
                name: name(who)?,
                by: name(by)?,
            },
            Event::Unban { name: who, by } => Event::Unban {
                name: name(who)?,
                by: name(by)?,
            },
            Event::Unregistered { name: who, by } => Event::Unregistered {
                name: name(who)?,
                by: name(by)?,
            },
            other => return Err(Refused::WrongKind(kind(&other))),
        }))
    }

    /// Entry `id` of `room`'s history stream (`0-ID`, and the event's JSON
    /// with id 0): a message or action of `room`, with an id the room's
    /// counter has given (`counter`, read with the entries).
    pub(super) fn history_entry(
        &self,
        room: &str,
        id: &str,
        json: Option<&str>,
        counter: u64,
    ) -> Result<(u64, Event), Refused> {
        let id = id
            .strip_prefix("0-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Refused::Unreadable(format!("not a chat history id: {id}")))?;
        let json = json.ok_or_else(|| Refused::Unreadable("no event in the entry".into()))?;
        let event = serde_json::from_str(json).map_err(|err| unreadable(&err))?;
        if !matches!(event, Event::Message { .. } | Event::Action { .. }) {
            return Err(Refused::WrongKind(kind(&event)));
        }
        Ok((id, self.room_event_of(room, id, event, counter)?))
    }

    /// `event`, published or kept as number `id` in `room`, if it belongs
    /// there: numbered up to `highest` if it is said, unnumbered if it is a
    /// notice; its names valid and its texts clean.
    fn room_event_of(
        &self,
        room: &str,
        id: u64,
        event: Event,
        highest: u64,
    ) -> Result<Event, Refused> {
        let in_room = |of: String| {
            if of == room {
                Ok(of)
            } else {
                Err(Refused::WrongRoom(of))
            }
        };
        let said = |id: u64| match id {
            0 => Err(Refused::NoId),
            id if id > highest.min(MAX_ID) => Err(Refused::ImpossibleId {
                id,
                highest: highest.min(MAX_ID),
            }),
            id => Ok(id),
        };
        let notice = || match id {
            0 => Ok(()),
            id => Err(Refused::NoticeWithId(id)),
        };
        Ok(match event {
            Event::Message {
                room,
                from,
                text,
                ts,
                ..
            } => Event::Message {
                id: said(id)?,
                room: in_room(room)?,
                from: name(from)?,
                text: self.text(text)?,
                ts,
            },
            Event::Action {
                room,
                from,
                text,
                ts,
                ..
            } => Event::Action {
                id: said(id)?,
                room: in_room(room)?,
                from: name(from)?,
                text: self.text(text)?,
                ts,
            },
            Event::Join {
                room,
                name: who,
                ts,
            } => {
                notice()?;
                Event::Join {
                    room: in_room(room)?,
                    name: name(who)?,
                    ts,
                }
            }
            Event::Leave {
                room,
                name: who,
                reason,
                ts,
            } => {
                notice()?;
                Event::Leave {
                    room: in_room(room)?,
                    name: name(who)?,
                    reason: self.text(reason)?,
                    ts,
                }
            }
            Event::Nick { room, old, new, ts } => {
                notice()?;
                Event::Nick {
                    room: in_room(room)?,
                    old: name(old)?,
                    new: name(new)?,
                    ts,
                }
            }
            // An operator's, on any server: the server that has `name`
            // closes their connection once the room has heard it.
            Event::Kick {
                room,
                name: who,
                by,
                reason,
                ts,
            } => {
                notice()?;
                Event::Kick {
                    room: in_room(room)?,
                    name: name(who)?,
                    by: name(by)?,
                    reason: reason_of(reason)?,
                    ts,
                }
            }
            // An operator's, on any server: as a kick, and the server that
            // has `name` adds their address to the ban.
            Event::Ban {
                room,
                name: who,
                by,
                reason,
                until,
                ts,
                ..
            } => {
                notice()?;
                Event::Ban {
                    room: in_room(room)?,
                    name: name(who)?,
                    by: name(by)?,
                    reason: reason_of(reason)?,
                    until,
                    note: None,
                    ts,
                }
            }
            // Set by someone on any server ([`TOPIC`](super::scripts::TOPIC)).
            Event::Topic {
                room,
                topic: text,
                by: Some(by),
            } => {
                notice()?;
                Event::Topic {
                    room: in_room(room)?,
                    topic: topic(text)?,
                    by: Some(name(by)?),
                }
            }
            // Published by Redis itself ([`SUMMARISE`](super::scripts::SUMMARISE)),
            // with lists no longer than a server would make them.
            Event::Presence {
                room,
                joined,
                joined_names,
                left,
                left_names,
                renamed,
                people,
                ts,
            } => {
                notice()?;
                Event::Presence {
                    room: in_room(room)?,
                    joined,
                    joined_names: names_within(joined_names, PRESENCE_NAMES)?,
                    left,
                    left_names: names_within(left_names, PRESENCE_NAMES)?,
                    renamed,
                    people,
                    ts,
                }
            }
            Event::Who {
                room,
                count,
                names,
                more,
                ..
            } => {
                notice()?;
                Event::Who {
                    room: in_room(room)?,
                    count,
                    names: names_within(names, WHO_PAGE)?,
                    more,
                    // A summary's page has none (`WHO` answers `/who`'s).
                    ops: Vec::new(),
                }
            }
            other => return Err(Refused::WrongKind(kind(&other))),
        })
    }

    /// `text` without control characters, if it is within the limit and
    /// something is left.
    fn text(&self, text: String) -> Result<String, Refused> {
        if text.len() > self.max_message_bytes {
            return Err(Refused::TooLong(text.len()));
        }
        let text = match strip_controls(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(stripped) => stripped,
        };
        if text.trim().is_empty() {
            return Err(Refused::Empty);
        }
        Ok(text)
    }
}

/// The names of an answer to `/who` that are names; any other is logged
/// and dropped.
pub(super) fn names(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|name| {
            let valid = is_valid_name(name);
            if !valid {
                tracing::warn!("dropped an invalid name from Redis: {name:?}");
            }
            valid
        })
        .collect()
}

/// The rooms of an answer to `/rooms` whose names are room names; any other
/// is logged and dropped.
pub(super) fn rooms(rooms: Vec<(String, usize)>) -> Vec<RoomInfo> {
    rooms
        .into_iter()
        .filter_map(|(name, people)| {
            if is_valid_room(&name) {
                Some(RoomInfo { name, people })
            } else {
                tracing::warn!("dropped an invalid room name from Redis: {name:?}");
                None
            }
        })
        .collect()
}

/// A person's name and room as [`LOCATE`](super::scripts::LOCATE) reads
/// them, if they are a name and a room.
pub(super) fn place(found: String, room: String) -> Option<(String, String)> {
    if is_valid_name(&found) && is_valid_room(&room) {
        Some((found, room))
    } else {
        tracing::warn!("dropped an invalid place from Redis: {found:?} in {room:?}");
        None
    }
}

/// The server and the name of a claim's value (`SERVER NAME`), if the name
/// is one.
pub(super) fn claim_holder(held: &str) -> Option<(&str, &str)> {
    let (server, name) = held.split_once(' ')?;
    if is_valid_name(name) {
        Some((server, name))
    } else {
        tracing::warn!("dropped an invalid claim from Redis: {held:?}");
        None
    }
}

/// `names` if they are all names, and at most `len` of them.
fn names_within(names: Vec<String>, len: usize) -> Result<Vec<String>, Refused> {
    if names.len() > len {
        return Err(Refused::Unreadable(format!(
            "a list of {} names, over {len}",
            names.len()
        )));
    }
    names.into_iter().map(name).collect()
}

fn name(name: String) -> Result<String, Refused> {
    if is_valid_name(&name) {
        Ok(name)
    } else {
        Err(Refused::InvalidName(name))
    }
}

/// A ban as Redis keeps it and the moderation channel carries it (its
/// JSON): valid names, a reason within its limit; the address taken as
/// the key bans go by (an IPv6 address stands for its /64).
pub(super) fn ban(json: &[u8]) -> Result<Ban, Refused> {
    let ban: Ban = serde_json::from_slice(json).map_err(|err| unreadable(&err))?;
    Ok(Ban {
        name: name(ban.name)?,
        address: ban.address.map(crate::server::address::key),
        until: ban.until,
        by: name(ban.by)?,
        reason: reason_of(ban.reason)?,
    })
}

/// A registered name as Redis keeps it and the moderation channel carries
/// it (its JSON): a valid name, an Argon2id PHC string of a sane length.
pub(super) fn owner(json: &[u8]) -> Result<Owner, Refused> {
    let owner: Owner = serde_json::from_slice(json).map_err(|err| unreadable(&err))?;
    if !owner.hash.starts_with("$argon2id$") || owner.hash.len() > MAX_HASH_BYTES {
        return Err(Refused::Unreadable("not an Argon2id hash".into()));
    }
    Ok(Owner {
        name: name(owner.name)?,
        ..owner
    })
}

/// A room's topic: one line of at most [`MAX_TOPIC_BYTES`]; empty for none.
pub(super) fn topic(topic: String) -> Result<String, Refused> {
    line_within(topic, MAX_TOPIC_BYTES)
}

/// An operator's reason: one line of at most [`MAX_REASON_BYTES`], which
/// may be empty.
fn reason_of(reason: String) -> Result<String, Refused> {
    line_within(reason, MAX_REASON_BYTES)
}

/// `text` made one line, if it is at most `max` bytes.
fn line_within(text: String, max: usize) -> Result<String, Refused> {
    if text.len() > max {
        return Err(Refused::TooLong(text.len()));
    }
    Ok(one_line(&text).into_owned())
}

fn unreadable(err: &dyn std::error::Error) -> Refused {
    Refused::Unreadable(err.to_string())
}

/// The `type` of `event`, for the log.
fn kind(event: &Event) -> &'static str {
    match event {
        Event::Welcome { .. } => "welcome",
        Event::Message { .. } => "message",
        Event::Action { .. } => "action",
        Event::Join { .. } => "join",
        Event::Leave { .. } => "leave",
        Event::Nick { .. } => "nick",
        Event::Private { .. } => "private",
        Event::Who { .. } => "who",
        Event::Presence { .. } => "presence",
        Event::Rooms { .. } => "rooms",
        Event::Help { .. } => "help",
        Event::Gap { .. } => "gap",
        Event::Op { .. } => "op",
        Event::Kick { .. } => "kick",
        Event::Topic { .. } => "topic",
        Event::Mute { .. } => "mute",
        Event::Unmute { .. } => "unmute",
        Event::Ban { .. } => "ban",
        Event::Unban { .. } => "unban",
        Event::Bans { .. } => "bans",
        Event::Ignore { .. } => "ignore",
        Event::Unignore { .. } => "unignore",
        Event::Registered { .. } => "registered",
        Event::Identified { .. } => "identified",
        Event::Unregistered { .. } => "unregistered",
        Event::Error { .. } => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    const INBOUND: Inbound = Inbound {
        max_message_bytes: 16,
    };

    fn said(room: &str, from: &str, text: &str) -> Event {
        Event::Message {
            id: 0,
            room: room.into(),
            from: from.into(),
            text: text.into(),
            ts: 7,
        }
    }

    fn join(room: &str, name: &str) -> Event {
        Event::Join {
            room: room.into(),
            name: name.into(),
            ts: 7,
        }
    }

    fn on_channel(id: u64, event: &Event, last_id: Option<u64>) -> Result<(u64, Event), Refused> {
        let payload = format!("{id} {}", event.to_json());
        INBOUND.room_event("lobby", payload.as_bytes(), last_id)
    }

    #[test]
    fn a_message_and_a_notice_of_the_room_pass() {
        let (id, event) = on_channel(5, &said("lobby", "ana", "hi"), Some(4)).unwrap();
        assert_eq!(id, 5);
        assert!(matches!(event, Event::Message { id: 5, ref text, .. } if text == "hi"));
        let notice = on_channel(0, &join("lobby", "ana"), Some(4)).unwrap();
        assert_eq!(notice, (0, join("lobby", "ana")));
        let leave = Event::Leave {
            room: "lobby".into(),
            name: "ana".into(),
            reason: "quit: \u{1b}[2Jbye".into(),
            ts: 7,
        };
        let Ok((0, Event::Leave { reason, .. })) = on_channel(0, &leave, None) else {
            panic!("a leave is a notice");
        };
        assert_eq!(reason, "quit: [2Jbye");
    }

    #[test]
    fn texts_lose_their_escapes() {
        let (_, event) = on_channel(1, &said("lobby", "ana", "\u{1b}]0;x\u{7}hi"), None).unwrap();
        assert!(matches!(event, Event::Message { ref text, .. } if text == "]0;xhi"));
        assert_eq!(
            on_channel(1, &said("lobby", "ana", "\u{1b}\u{7}"), None),
            Err(Refused::Empty)
        );
    }

    #[test]
    fn only_room_events_of_this_room_with_valid_names_pass() {
        let welcome = Event::error(ErrorCode::Cluster, "the link is lost");
        assert_eq!(
            on_channel(0, &welcome, None),
            Err(Refused::WrongKind("error"))
        );
        assert_eq!(
            on_channel(0, &Event::Gap { missed: 3 }, None),
            Err(Refused::WrongKind("gap"))
        );
        assert_eq!(
            on_channel(1, &said("rust", "ana", "hi"), None),
            Err(Refused::WrongRoom("rust".into()))
        );
        assert_eq!(
            on_channel(0, &join("lobby", "a\u{1b}na"), None),
            Err(Refused::InvalidName("a\u{1b}na".into()))
        );
        assert_eq!(
            on_channel(1, &said("lobby", "ana", &"x".repeat(17)), None),
            Err(Refused::TooLong(17))
        );
        assert!(matches!(
            INBOUND.room_event("lobby", b"\x1b[2J", None),
            Err(Refused::Unreadable(_))
        ));
        assert!(matches!(
            INBOUND.room_event("lobby", b"1 {\"type\":\"message\"", None),
            Err(Refused::Unreadable(_))
        ));
    }

    #[test]
    fn messages_have_ids_and_notices_none() {
        assert_eq!(
            on_channel(0, &said("lobby", "ana", "hi"), None),
            Err(Refused::NoId)
        );
        assert_eq!(
            on_channel(3, &join("lobby", "ana"), None),
            Err(Refused::NoticeWithId(3))
        );
    }

    #[test]
    fn an_impossible_id_is_refused() {
        let hi = said("lobby", "ana", "hi");
        assert_eq!(
            on_channel(u64::MAX, &hi, None),
            Err(Refused::ImpossibleId {
                id: u64::MAX,
                highest: MAX_ID
            })
        );
        assert!(on_channel(10 + MAX_IDS_AHEAD, &hi, Some(10)).is_ok());
        assert_eq!(
            on_channel(11 + MAX_IDS_AHEAD, &hi, Some(10)),
            Err(Refused::ImpossibleId {
                id: 11 + MAX_IDS_AHEAD,
                highest: 10 + MAX_IDS_AHEAD
            })
        );
        assert!(on_channel(MAX_ID, &hi, Some(u64::MAX - 1)).is_ok());
    }

    #[test]
    fn private_messages_are_checked_too() {
        let private = |from: &str, text: &str| {
            Event::Private {
                from: from.into(),
                to: "bo".into(),
                text: text.into(),
                ts: 7,
            }
            .to_json()
        };
        let Ok(Event::Private { text, .. }) =
            INBOUND.private(private("ana", "\u{1b}[2Jpsst").as_bytes())
        else {
            panic!("a private message passes");
        };
        assert_eq!(text, "[2Jpsst");
        assert_eq!(
            INBOUND.private(private("a na", "psst").as_bytes()),
            Err(Refused::InvalidName("a na".into()))
        );
        assert_eq!(
            INBOUND.private(said("lobby", "ana", "hi").to_json().as_bytes()),
            Err(Refused::WrongKind("message"))
        );
    }

    /// A person's own join, counted in a summarised room, comes on the
    /// server's channel, checked like a notice of its room.
    #[test]
    fn an_own_join_on_the_servers_channel_is_checked_too() {
        assert_eq!(
            INBOUND.private(join("big", "ana").to_json().as_bytes()),
            Ok(join("big", "ana"))
        );
        assert_eq!(
            INBOUND.private(join("b ig", "ana").to_json().as_bytes()),
            Err(Refused::WrongRoom("b ig".into()))
        );
        assert_eq!(
            INBOUND.private(join("big", "a\u{1b}na").to_json().as_bytes()),
            Err(Refused::InvalidName("a\u{1b}na".into()))
        );
    }

    /// Redis's summaries and fresh `who` pass with names and lists no
    /// server would refuse, and no operators.
    #[test]
    fn summaries_and_who_from_redis_are_bounded() {
        let presence = |names: Vec<String>| Event::Presence {
            room: "lobby".into(),
            joined: 9,
            joined_names: names,
            left: 0,
            left_names: Vec::new(),
            renamed: 0,
            people: 120,
            ts: 7,
        };
        let five: Vec<String> = (0..5).map(|n| format!("p{n}")).collect();
        assert_eq!(
            on_channel(0, &presence(five.clone()), None),
            Ok((0, presence(five)))
        );
        let six: Vec<String> = (0..6).map(|n| format!("p{n}")).collect();
        assert!(on_channel(0, &presence(six), None).is_err());
        assert_eq!(
            on_channel(1, &presence(Vec::new()), None),
            Err(Refused::NoticeWithId(1))
        );
        let who = |ops: Vec<String>| Event::Who {
            room: "lobby".into(),
            count: 3,
            names: vec!["ana".into()],
            more: true,
            ops,
        };
        assert_eq!(
            on_channel(0, &who(vec!["ana".into()]), None),
            Ok((0, who(Vec::new())))
        );
    }

    #[test]
    fn lists_keep_only_valid_names() {
        assert_eq!(
            names(vec!["ana".into(), "e\u{1b}[2Jve".into(), "bo".into()]),
            ["ana", "bo"]
        );
        assert_eq!(
            rooms(vec![("lobby".into(), 2), ("a/b".into(), 1)]),
            [RoomInfo {
                name: "lobby".into(),
                people: 2
            }]
        );
        assert_eq!(claim_holder("0123 Ana"), Some(("0123", "Ana")));
        assert_eq!(claim_holder("0123 A\u{1b}na"), None);
        assert_eq!(claim_holder("0123"), None);
    }

    #[test]
    fn history_entries_are_messages_of_the_room_the_counter_gave() {
        let json = said("lobby", "ana", "hi").to_json();
        let entry = INBOUND
            .history_entry("lobby", "0-4", Some(&json), 4)
            .unwrap();
        assert!(matches!(entry, (4, Event::Message { id: 4, .. })));
        assert_eq!(
            INBOUND.history_entry("lobby", "0-5", Some(&json), 4),
            Err(Refused::ImpossibleId { id: 5, highest: 4 })
        );
        let join = join("lobby", "ana").to_json();
        assert_eq!(
            INBOUND.history_entry("lobby", "0-3", Some(&join), 4),
            Err(Refused::WrongKind("join"))
        );
        for (id, json) in [("0-3", None), ("1733-0", Some(json.as_str()))] {
            assert!(matches!(
                INBOUND.history_entry("lobby", id, json, 4),
                Err(Refused::Unreadable(_))
            ));
        }
    }

    /// A kick and a topic are notices of their room, their texts one
    /// line within their limits and their names valid; a topic without
    /// `by` (an answer to `/topic`) never comes from another server.
    #[test]
    fn kicks_and_topics_pass_as_notices_within_their_limits() {
        let kick = |by: &str, reason: &str| Event::Kick {
            room: "lobby".into(),
            name: "bo".into(),
            by: by.into(),
            reason: reason.into(),
            ts: 7,
        };
        let (_, event) = on_channel(0, &kick("ana", "a\nb"), None).unwrap();
        assert!(matches!(event, Event::Kick { ref reason, .. } if reason == "a b"));
        assert!(on_channel(0, &kick("ana", ""), None).is_ok());
        assert!(on_channel(3, &kick("ana", ""), None).is_err());
        assert!(on_channel(0, &kick("a na", ""), None).is_err());
        assert!(on_channel(0, &kick("ana", &"x".repeat(81)), None).is_err());

        let topic = |text: &str, by: Option<&str>| Event::Topic {
            room: "lobby".into(),
            topic: text.into(),
            by: by.map(str::to_owned),
        };
        assert!(on_channel(0, &topic("Rust", Some("ana")), None).is_ok());
        assert!(on_channel(0, &topic("", Some("ana")), None).is_ok());
        assert!(on_channel(0, &topic("Rust", None), None).is_err());
        assert!(on_channel(0, &topic(&"x".repeat(201), Some("ana")), None).is_err());
    }

    /// The moderation channel carries mutes of at most a year and
    /// unmutes, with valid names; the operator's `note` never crosses.
    #[test]
    fn the_moderation_channel_takes_mutes_and_unmutes() {
        let mute = |seconds: Option<u64>| Event::Mute {
            name: "bo".into(),
            by: "ana".into(),
            seconds,
            note: Some("x".into()),
        };
        let read = |event: &Event| INBOUND.moderation(event.to_json().as_bytes());
        assert!(matches!(
            read(&mute(Some(60))),
            Ok(Moderation::Event(Event::Mute {
                seconds: Some(60),
                note: None,
                ..
            }))
        ));
        assert!(read(&mute(None)).is_ok());
        assert!(read(&mute(Some(365 * 86_400 + 1))).is_err());
        let unmute = Event::Unmute {
            name: "bo".into(),
            by: "ana".into(),
        };
        assert!(read(&unmute).is_ok());
        let ban = Ban {
            name: "bo".into(),
            address: Some("2001:db8::1".parse().unwrap()),
            until: Some(5),
            by: "ana".into(),
            reason: "spam".into(),
        };
        let payload = format!("ban {}", serde_json::to_string(&ban).unwrap());
        let Ok(Moderation::Ban(read_ban)) = INBOUND.moderation(payload.as_bytes()) else {
            panic!("not a ban");
        };
        assert_eq!(read_ban.address, Some("2001:db8::".parse().unwrap()));
        let bad = payload.replace("ana", "a na");
        assert!(INBOUND.moderation(bad.as_bytes()).is_err());
        assert!(read(&join("lobby", "bo")).is_err());
    }

    /// A registration must hold an Argon2id hash and a valid name; a take
    /// names its holder's server, its taker's and a valid name.
    #[test]
    fn registrations_and_takes_are_checked() {
        let owner = |name: &str, hash: &str| {
            let owner = Owner {
                name: name.into(),
                hash: hash.into(),
                address: "203.0.113.1".parse().unwrap(),
            };
            format!("owner {}", serde_json::to_string(&owner).unwrap())
        };
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        assert!(matches!(
            INBOUND.moderation(owner("ana", hash).as_bytes()),
            Ok(Moderation::Owner(Owner { ref name, .. })) if name == "ana"
        ));
        assert!(
            INBOUND
                .moderation(owner("ana", "plain").as_bytes())
                .is_err()
        );
        assert!(INBOUND.moderation(owner("a na", hash).as_bytes()).is_err());
        assert!(matches!(
            INBOUND.moderation(b"take s1 s2 ana"),
            Ok(Moderation::Take { ref holder, ref taker, ref name })
                if holder == "s1" && taker == "s2" && name == "ana"
        ));
        assert!(INBOUND.moderation(b"take s1 ana").is_err());
        assert!(INBOUND.moderation(b"take s1 s2 a\x1bna").is_err());
    }
}
