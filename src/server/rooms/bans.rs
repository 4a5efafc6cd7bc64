//! Bans: `/ban`, `/unban`, `/bans`, and the refusal of a banned name or
//! address on connect (close 4003 after the upgrade) and on `/nick`.
//!
//! A ban holds a name and, when it can be told apart from other people's,
//! the address the person connected from (as `--trusted-proxy` gives it;
//! an IPv6 address stands for its /64, which one subscriber usually holds
//! whole). An address is not banned when it is a trusted proxy's (every
//! client behind it would be refused) or when someone else connected now
//! shares it (a household, an office behind one NAT, two terminals on one
//! machine): the name is, and the operator is told why.
//!
//! Bans end by themselves when their time is up: they are checked when
//! someone connects or lists them, and one that has ended is dropped then,
//! so no timer runs for them. Their number is bounded ([`MAX_BANS`]). The
//! backend keeps them (`--data-dir`: across restarts); the registry holds
//! them all in memory, so that a connect never waits on the disk.
//!
//! One concept, some 420 lines and its tests: the bans and every check of
//! them (connect, `/nick`, the address rules), since a ban given, kept,
//! looked up and ended must agree on what it covers; mutes, which share
//! the address rules, are `moderation`'s.

use std::collections::HashMap;
use std::net::IpAddr;

use tokio_websockets::CloseCode;

use super::directory::unanswered;
use super::moderation::{clip, has_room};
use super::{Closing, Rooms, State, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::event::until_text;
use crate::protocol::{BANNED_BY, BanInfo, CLOSE_BANNED, ErrorCode, Event, MAX_REASON_BYTES};
use crate::sanitize::one_line;
use crate::server::address;
pub(crate) use crate::server::ban::{Ban, MAX_BANS};

/// The most a close frame's reason may hold (RFC 6455: 125 bytes of
/// payload, two of which are the code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// The close frame of a connection `ban` refuses: who, until when, why.
pub(crate) fn closing(ban: &Ban) -> Closing {
    let mut reason = format!("{BANNED_BY}{} {}", ban.by, until_text(ban.until));
    if !ban.reason.is_empty() {
        reason.push_str(": ");
        reason.push_str(&ban.reason);
    }
    Closing {
        code: CloseCode::try_from(CLOSE_BANNED).expect("4003 is in the range for applications"),
        reason: clip(&reason, MAX_CLOSE_REASON_BYTES).to_owned(),
    }
}

/// `ban` as `/bans` lists it.
fn info(ban: &Ban) -> BanInfo {
    BanInfo {
        name: ban.name.clone(),
        address: ban.address.map(|a| match a {
            IpAddr::V4(_) => a.to_string(),
            IpAddr::V6(_) => format!("{a}/64"),
        }),
        until: ban.until,
        by: ban.by.clone(),
        reason: ban.reason.clone(),
    }
}

/// The bans in force, by lowercase name.
#[derive(Debug, Default)]
pub(crate) struct Bans(HashMap<String, Ban>);

impl Bans {
    /// The bans kept by the backend, as read at start (those that have
    /// ended are dropped, and at most [`MAX_BANS`] kept).
    pub(crate) fn from_saved(saved: Vec<Ban>) -> Self {
        let now = now_ms();
        Self(
            saved
                .into_iter()
                .filter(|ban| !ban.ended(now))
                .take(MAX_BANS)
                .map(|ban| (ban.name.to_lowercase(), ban))
                .collect(),
        )
    }

    /// The ban that refuses `name` (if given) or `address` (the
    /// connection's, as [`address::key`] gives it) at `now`, dropping
    /// those found ended.
    fn find(&mut self, name: Option<&str>, address: Option<IpAddr>, now: u64) -> Option<&Ban> {
        if self.0.is_empty() {
            return None;
        }
        self.0.retain(|_, ban| !ban.ended(now));
        let by_name = name.and_then(|name| self.0.get(&name.to_lowercase()));
        // A linear scan of at most `MAX_BANS`, on a connect only.
        by_name.or_else(|| {
            let address = address?;
            self.0.values().find(|ban| ban.address == Some(address))
        })
    }
}

impl Rooms {
    /// The address bans and mutes go by for a connection from `client`:
    /// its key, or `None` for a trusted proxy (it stands for everyone
    /// behind it).
    pub(super) fn bannable(&self, client: IpAddr) -> Option<IpAddr> {
        (!self.proxies.trusts(client)).then(|| address::key(client))
    }

    /// The close for a connection from `client` asking for `name`, if a
    /// ban refuses it; logged.
    pub(crate) fn banned(&self, name: Option<&str>, client: IpAddr) -> Option<Closing> {
        let address = self.bannable(client);
        let mut state = self.state();
        let ban = state.bans.find(name, address, now_ms())?;
        tracing::info!(name = ?name, address = %client, banned = %ban.name, "refused a banned connection");
        Some(closing(ban))
    }

    /// Whether `name` may be taken with `/nick`.
    ///
    /// # Errors
    ///
    /// `name_banned`, saying until when.
    pub(crate) fn check_name_banned(&self, name: &str) -> Result<(), CommandError> {
        let mut state = self.state();
        match state.bans.find(Some(name), None, now_ms()) {
            None => Ok(()),
            Some(ban) => Err(CommandError {
                code: ErrorCode::NameBanned,
                message: format!(
                    "the name '{name}' is banned {}; choose another",
                    until_text(ban.until)
                ),
            }),
        }
    }

    /// Bans `name` for `duration` (or until unbanned) on behalf of the
    /// operator `by`, in `by_room`: closes their connection with 4003
    /// after telling their room, and keeps the ban. Returns what `by`
    /// should be told besides what their room hears.
    ///
    /// With Redis the ban is kept there and every server holds it; the
    /// room's `ban` notice goes through Redis, and the server that has
    /// the person closes them once it has delivered it, adding their
    /// address to the ban (`banned_here`).
    ///
    /// # Errors
    ///
    /// `not_operator`; `bad_arguments` for oneself, or when [`MAX_BANS`]
    /// bans are in force; `cluster` if Redis does not answer where the
    /// person is.
    pub(crate) async fn ban(
        &self,
        by: &str,
        by_room: &str,
        name: &str,
        duration: Option<std::time::Duration>,
        reason: &str,
    ) -> Result<Option<Event>, CommandError> {
        self.check_operator(by, "ban")?;
        let key = name.to_lowercase();
        if key == by.to_lowercase() {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: "you cannot ban yourself".to_owned(),
            });
        }
        // Where they are, on any server; `None`: not connected.
        let place = match self.backend.relay() {
            Some(_) => match self.locate(name).await {
                Ok(place) => Some(place),
                Err(err) if err.code == ErrorCode::NoSuchUser => None,
                Err(err) => return Err(err),
            },
            None => None,
        };
        let mut guard = self.state();
        let state = &mut *guard;
        let now = now_ms();
        if !has_room(&mut state.bans.0, &key, MAX_BANS, |ban| ban.ended(now)) {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("{MAX_BANS} bans are in force already; lift one first"),
            });
        }
        let (spelled, address, note) = match (state.people.get(&key), &place) {
            (Some(person), _) => {
                let (address, note) = address_to_ban(state, &key, person.address);
                (person.name.clone(), address, note)
            }
            // On another server, which adds the address.
            (None, Some((spelled, _))) => (spelled.clone(), None, None),
            (None, None) => (
                name.to_owned(),
                None,
                Some(format!("{name} is not connected: only the name is banned")),
            ),
        };
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let ban = Ban {
            name: spelled.clone(),
            address,
            until: duration.map(|d| now.saturating_add(millis(d))),
            by: by.to_owned(),
            reason: clip(&one_line(reason), MAX_REASON_BYTES).to_owned(),
        };
        let notice = |room: &str, note: Option<String>| Event::Ban {
            room: room.to_owned(),
            name: spelled.clone(),
            by: by.to_owned(),
            reason: ban.reason.clone(),
            until: ban.until,
            note,
            ts: now,
        };
        // With Redis, the person's server closes them once their room has
        // heard the notice (`banned_here`); without it, or when the notice
        // cannot be published (Redis away, or they are here between rooms),
        // this server closes them if they are its own.
        let published = match (self.backend.keep_ban(&ban), &place) {
            (true, Some((_, room))) => self
                .backend
                .relay()
                .is_some_and(|cluster| cluster.notice(room, &notice(room, None)))
                .then(|| room.clone()),
            _ => None,
        };
        let heard_in = published.or_else(|| {
            let person = state.people.get(&key)?;
            person.control.close(closing(&ban));
            // Like a kick: straight to the room, which the banned person
            // hears before the close.
            let (room, entry) = state.room_of(&key)?;
            entry.broadcast(&notice(room, None));
            Some(room.clone())
        });
        let unheard = match heard_in {
            // The operator heard it in the room, and there is nothing to add.
            Some(room) if room == by_room && note.is_none() => None,
            Some(room) => Some(notice(&room, note)),
            None => Some(notice("", note)),
        };
        tracing::info!(
            who = %by,
            action = "ban",
            whom = %spelled,
            address = ?ban.address,
            until = %until_text(ban.until),
            why = %ban.reason,
            "banned"
        );
        state.bans.0.insert(key, ban);
        Ok(unheard)
    }

    /// Closes the person the `ban` notice `event` names, one of this
    /// server's and in its room, with 4003 (they have heard it), and adds
    /// the address they connected from to the ban if it has none and may
    /// have one: the ban was given on another server, which does not
    /// know it. With Redis only.
    pub(super) fn banned_here(&self, state: &mut State, event: &Event) {
        let Event::Ban {
            name,
            by,
            reason,
            until,
            ..
        } = event
        else {
            return;
        };
        let key = name.to_lowercase();
        let Some(person) = state.people.get(&key) else {
            return;
        };
        let mut ban = state.bans.0.get(&key).cloned().unwrap_or_else(|| Ban {
            name: name.clone(),
            address: None,
            until: *until,
            by: by.clone(),
            reason: reason.clone(),
        });
        person.control.close(closing(&ban));
        if ban.address.is_some() {
            return;
        }
        let (address, _) = address_to_ban(state, &key, person.address);
        if address.is_none() {
            return;
        }
        ban.address = address;
        tracing::info!(whom = %ban.name, address = ?address, "banned the address here too");
        if let Some(cluster) = self.backend.relay() {
            cluster.amend_ban(&ban);
        }
        state.bans.0.insert(key, ban);
    }

    /// Holds a ban given on any server (from Redis), within [`MAX_BANS`].
    pub(super) fn hold_ban(&self, ban: Ban) {
        let mut state = self.state();
        let key = ban.name.to_lowercase();
        let now = now_ms();
        if !has_room(&mut state.bans.0, &key, MAX_BANS, |ban| ban.ended(now)) {
            tracing::warn!(whom = %ban.name, "a ban from another server dropped: {MAX_BANS} bans are held already");
            return;
        }
        state.bans.0.insert(key, ban);
    }

    /// Holds `bans` (all Redis keeps) instead of those held here.
    pub(super) fn bans_loaded(&self, bans: Vec<Ban>) {
        self.state().bans = Bans::from_saved(bans);
    }

    /// Lifts `name`'s ban, on behalf of the operator `by`; with Redis on
    /// every server.
    ///
    /// # Errors
    ///
    /// `not_operator`; `bad_arguments` if `name` is not banned.
    pub(crate) fn unban(&self, by: &str, name: &str) -> Result<Event, CommandError> {
        let mut state = self.state();
        self.check_operator_in(&state, by, "unban")?;
        let now = now_ms();
        let Some(ban) = state
            .bans
            .0
            .remove(&name.to_lowercase())
            .filter(|ban| !ban.ended(now))
        else {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("{name} is not banned (see /bans)"),
            });
        };
        let event = Event::Unban {
            name: ban.name.clone(),
            by: by.to_owned(),
        };
        // Lifted here already; with Redis, every server lifts it.
        let _ = self.backend.forget_ban(&ban.name, &event);
        tracing::info!(who = %by, action = "unban", whom = %ban.name, "lifted a ban");
        Ok(event)
    }

    /// Lifts a ban lifted on any server (from Redis).
    pub(super) fn lift_ban(state: &mut State, name: &str) {
        state.bans.0.remove(&name.to_lowercase());
    }

    /// The bans in force, sorted by name, for the operator `by`; with
    /// Redis, as Redis keeps them (and held here from then on).
    ///
    /// # Errors
    ///
    /// `not_operator`: the list holds addresses; `cluster` if Redis does
    /// not answer.
    pub(crate) async fn bans(&self, by: &str) -> Result<Event, CommandError> {
        self.check_operator(by, "list the bans")?;
        if let Some(cluster) = self.backend.relay() {
            let kept = cluster.bans().await.map_err(unanswered)?;
            self.bans_loaded(kept);
        }
        let mut state = self.state();
        let now = now_ms();
        state.bans.0.retain(|_, ban| !ban.ended(now));
        let mut bans: Vec<BanInfo> = state.bans.0.values().map(info).collect();
        bans.sort_by_key(|ban| ban.name.to_lowercase());
        Ok(Event::Bans { bans })
    }
}

/// The address to ban (or mute) with the person connected as `key` from
/// `address` (`None`: a trusted proxy's), and, when there is none, why, for
/// the operator.
pub(super) fn address_to_ban(
    state: &State,
    key: &str,
    address: Option<IpAddr>,
) -> (Option<IpAddr>, Option<String>) {
    let Some(address) = address else {
        return (
            None,
            Some(
                "their address is a trusted proxy's, which stands for everyone behind it: only the name is affected"
                    .to_owned(),
            ),
        );
    };
    let others = state
        .people
        .iter()
        .filter(|(other, person)| *other != key && person.address == Some(address))
        .count();
    if others > 0 {
        let (people, share) = if others == 1 {
            ("person", "shares")
        } else {
            ("people", "share")
        };
        return (
            None,
            Some(format!(
                "{others} other {people} connected now {share} their address: only the name is affected"
            )),
        );
    }
    (Some(address), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(name: &str, address: Option<&str>, until: Option<u64>) -> Ban {
        Ban {
            name: name.to_owned(),
            address: address.map(|a| address::key(a.parse().unwrap())),
            until,
            by: "ana".to_owned(),
            reason: String::new(),
        }
    }

    fn key(a: &str) -> Option<IpAddr> {
        Some(address::key(a.parse().unwrap()))
    }

    #[test]
    fn an_ipv6_ban_covers_the_whole_64() {
        let mut bans = Bans::from_saved(vec![ban("bo", Some("2001:db8:1:2:aaaa::1"), None)]);
        let found = |bans: &mut Bans, a| bans.find(None, key(a), 0).map(|b| b.name.clone());
        assert_eq!(found(&mut bans, "2001:db8:1:2::9"), Some("bo".to_owned()));
        assert_eq!(
            found(&mut bans, "2001:db8:1:2:ffff:ffff:ffff:ffff"),
            Some("bo".to_owned())
        );
        assert_eq!(found(&mut bans, "2001:db8:1:3::1"), None);
        assert_eq!(found(&mut bans, "10.0.0.1"), None);
        assert_eq!(
            info(&bans.0["bo"]).address.as_deref(),
            Some("2001:db8:1:2::/64")
        );
    }

    #[test]
    fn an_ipv4_ban_covers_that_address_alone() {
        let mut bans = Bans::from_saved(vec![ban("bo", Some("192.0.2.7"), None)]);
        assert!(bans.find(None, key("192.0.2.7"), 0).is_some());
        assert!(bans.find(None, key("::ffff:192.0.2.7"), 0).is_some());
        assert!(bans.find(None, key("192.0.2.8"), 0).is_none());
    }

    #[test]
    fn names_match_in_any_case_and_ended_bans_are_dropped() {
        let end = now_ms() + 3_600_000;
        let mut bans = Bans::from_saved(vec![
            ban("Bo", None, Some(end)),
            ban("cy", None, None),
            ban("dee", None, Some(1_000)),
        ]);
        assert_eq!(bans.0.len(), 2, "one had ended before the start");
        assert!(bans.find(Some("bO"), None, end - 1).is_some());
        assert!(bans.find(Some("bo"), None, end).is_none());
        assert_eq!(bans.0.len(), 1, "the ended ban is gone");
        assert!(bans.find(Some("CY"), None, u64::MAX).is_some());
    }

    #[test]
    fn the_close_reason_says_who_until_when_and_why_within_the_frame() {
        let mut long = ban("bo", None, Some(1_764_756_000_000));
        long.reason = "x".repeat(MAX_REASON_BYTES);
        let closed = closing(&long);
        assert_eq!(u16::from(closed.code), CLOSE_BANNED);
        assert!(
            closed
                .reason
                .starts_with("banned by ana until 2025-12-03 10:00:00 UTC: xxx"),
            "{}",
            closed.reason
        );
        assert!(closed.reason.len() <= MAX_CLOSE_REASON_BYTES);
        assert_eq!(
            closing(&ban("bo", None, None)).reason,
            "banned by ana until unbanned"
        );
    }
}
