//! Operators and what they may do: `/op`, `/kick`, `/mute`, `/unmute`.
//!
//! With Redis, each server checks the secret of its own people, and an
//! operator's status stays with their server: their orders carry their
//! name to the others, which carry them out (nothing can reach Redis but
//! a server of ours or someone who may write there anyway). A kick is the
//! room's `kick` notice, published in the room's order: the server that
//! has the person closes their connection once it has delivered it. A
//! mute (and its lifting) goes to every server on a channel of its own
//! (`cluster::Registry::moderated`), so that it holds wherever the person
//! is, or comes back.
//!
//! Every action is logged at info, with who did what to whom and why, and
//! never the secret.
//!
//! One concept, some 500 lines: what an operator may do to someone
//! connected now, with the operator check every action shares. Bans, which
//! outlive connections and have rules of their own, are `bans`'s; mutes
//! borrow bans' address rules (`bans::address_to_ban`) rather than repeat
//! them.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_websockets::CloseCode;

use super::directory::unanswered;
use super::{Closing, Rooms, State, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::{CLOSE_KICKED, ErrorCode, Event, KICKED_BY, MAX_REASON_BYTES};
use crate::sanitize::one_line;

impl Rooms {
    /// Makes `name` an operator if `secret` is the server's `--op-token`,
    /// for as long as the connection lasts (a rename keeps it).
    ///
    /// # Errors
    ///
    /// `op_refused`: the secret is wrong, or the server has no operators
    /// (no `--op-token`).
    pub(crate) async fn make_operator(
        &self,
        name: &str,
        secret: &str,
    ) -> Result<Event, CommandError> {
        let refused = |message: &str| CommandError {
            code: ErrorCode::OpRefused,
            message: message.to_owned(),
        };
        let Some(token) = &self.op_token else {
            return Err(refused(
                "this server has no operators (it runs without --op-token)",
            ));
        };
        if !token.matches(secret) {
            tracing::info!(who = %name, action = "op", "refused: wrong secret");
            return Err(refused("wrong secret: you are not an operator"));
        }
        self.state().ops.insert(name.to_lowercase());
        // Awaited, so that once told, the operator is listed on every
        // server's `/who` (a failure leaves them one here, listed here).
        if let Some(cluster) = self.backend.relay()
            && let Err(err) = cluster.op_now(name).await
        {
            tracing::warn!(who = %name, "an operator not listed on the other servers: {err}");
        }
        tracing::info!(who = %name, action = "op", "became an operator");
        Ok(Event::Op {
            name: name.to_owned(),
        })
    }

    /// Closes `name`'s connection with [`CLOSE_KICKED`] and `reason` (made
    /// one line, and cut to [`MAX_REASON_BYTES`]), on behalf of the
    /// operator `by`, and tells their room; returns the notice if `by`,
    /// in `by_room`, did not hear it there.
    ///
    /// # Errors
    ///
    /// `not_operator` if `by` is not one; `no_such_user` if nobody here is
    /// called `name`.
    pub(crate) async fn kick(
        &self,
        by: &str,
        by_room: &str,
        name: &str,
        reason: &str,
    ) -> Result<Option<Event>, CommandError> {
        let reason = clip(&one_line(reason), MAX_REASON_BYTES).to_owned();
        let Some(cluster) = self.backend.relay() else {
            return self.kick_here(by, by_room, name, &reason);
        };
        self.check_operator(by, "kick")?;
        let (name, room) = self.locate(name).await?;
        let kick = kick_notice(&room, &name, by, &reason);
        // Closed where they are once their room has heard it (see
        // `Registry::arrived`); the operator hears it there too, or here.
        if !cluster.notice(&room, &kick) {
            return self.kick_here(by, by_room, &name, &reason);
        }
        tracing::info!(who = %by, action = "kick", whom = %name, why = %reason, "kicked");
        Ok((room != by_room).then_some(kick))
    }

    /// `not_operator` unless `by` is one, to do `what`.
    pub(super) fn check_operator(&self, by: &str, what: &str) -> Result<(), CommandError> {
        self.check_operator_in(&self.state(), by, what)
    }

    /// [`Rooms::check_operator`] under the lock already held.
    pub(super) fn check_operator_in(
        &self,
        state: &State,
        by: &str,
        what: &str,
    ) -> Result<(), CommandError> {
        if state.ops.contains(&by.to_lowercase()) {
            Ok(())
        } else {
            Err(not_operator(self.op_token.is_some(), what))
        }
    }

    /// Where `name` is, on this server or another: as its holder spells
    /// it, and its room.
    ///
    /// # Errors
    ///
    /// `no_such_user`; `cluster` if Redis does not answer.
    pub(super) async fn locate(&self, name: &str) -> Result<(String, String), CommandError> {
        let key = name.to_lowercase();
        {
            let mut state = self.state();
            if let Some(person) = state.people.get(&key) {
                let spelled = person.name.clone();
                if let Some((room, _)) = state.room_of(&key) {
                    return Ok((spelled, room.clone()));
                }
            }
        }
        let found = match self.backend.relay() {
            Some(cluster) => cluster.locate(name).await.map_err(unanswered)?,
            None => None,
        };
        found.ok_or_else(|| no_such_user(name))
    }

    /// [`Rooms::kick`] on this server alone: Redis is away.
    fn kick_here(
        &self,
        by: &str,
        by_room: &str,
        name: &str,
        reason: &str,
    ) -> Result<Option<Event>, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        self.check_operator_in(state, by, "kick")?;
        let key = name.to_lowercase();
        let Some(person) = state.people.get(&key) else {
            return Err(no_such_user(name));
        };
        let name = person.name.clone();
        person.control.close(kicked(by, reason));
        // Straight to the room, past `announce`: a summary would hide who
        // was removed and why. The kicked person hears it too, before the
        // close (a connection sends what its room queued before obeying).
        let unheard = match state.room_of(&key) {
            Some((room, entry)) => {
                let kick = kick_notice(room, &name, by, reason);
                entry.broadcast(&kick);
                // An operator elsewhere needs their own copy as confirmation.
                (room != by_room).then_some(kick)
            }
            // Between rooms (loading one): nobody else to tell.
            None => Some(kick_notice("", &name, by, reason)),
        };
        tracing::info!(who = %by, action = "kick", whom = %name, why = %reason, "kicked");
        Ok(unheard)
    }
}

/// The room's notice that the operator `by` kicked `name` for `reason`.
fn kick_notice(room: &str, name: &str, by: &str, reason: &str) -> Event {
    Event::Kick {
        room: room.to_owned(),
        name: name.to_owned(),
        by: by.to_owned(),
        reason: reason.to_owned(),
        ts: now_ms(),
    }
}

/// The close of a connection kicked by `by` for `reason`.
pub(super) fn kicked(by: &str, reason: &str) -> Closing {
    let reason = if reason.is_empty() {
        format!("{KICKED_BY}{by}")
    } else {
        format!("{KICKED_BY}{by}: {reason}")
    };
    Closing {
        code: CloseCode::try_from(CLOSE_KICKED).expect("4001 is in the range for applications"),
        reason,
    }
}

/// Names muted at once at most: an operator mutes a few people, and the
/// list outlives their connections, so it needs a bound.
pub(crate) const MAX_MUTES: usize = 1024;

/// One mute: until when, and the address it follows besides the name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mute {
    /// `None`: until unmuted.
    until: Option<Instant>,
    /// As for a ban (see `bans::address_to_ban`): `None` when the address
    /// is a trusted proxy's or others connected shared it.
    address: Option<IpAddr>,
}

impl Mute {
    fn ended(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| until <= now)
    }
}

impl Rooms {
    /// Mutes `name` (connected now, on any server) for `duration`, or
    /// until unmuted, on behalf of the operator `by`; returns the
    /// operator's confirmation, which the muted person gets too. With
    /// Redis every server holds the mute, given when it comes back from
    /// there.
    ///
    /// # Errors
    ///
    /// `not_operator`; `no_such_user`; `bad_arguments` when [`MAX_MUTES`]
    /// names are muted already; `cluster` if Redis does not answer.
    pub(crate) async fn mute(
        &self,
        by: &str,
        name: &str,
        duration: Option<Duration>,
    ) -> Result<Event, CommandError> {
        self.check_operator(by, "mute")?;
        let (spelled, _) = self.locate(name).await?;
        let key = spelled.to_lowercase();
        let mut guard = self.state();
        let state = &mut *guard;
        let now = Instant::now();
        if !has_room(&mut state.mutes, &key, MAX_MUTES, |mute| mute.ended(now)) {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("{MAX_MUTES} names are muted already; unmute someone first"),
            });
        }
        let event = Event::Mute {
            name: spelled.clone(),
            by: by.to_owned(),
            seconds: duration.map(|d| d.as_secs()),
            note: None,
        };
        let published = self
            .backend
            .relay()
            .is_some_and(|cluster| cluster.moderate(&event));
        let note = match state.people.get(&key) {
            Some(person) if published => super::bans::address_to_ban(state, &key, person.address).1,
            // Another server's person: their server knows their address.
            _ if published => None,
            _ => self.record_mute(state, &event),
        };
        tracing::info!(who = %by, action = "mute", whom = %spelled, why = ?duration, "muted");
        // The operator alone learns why the address is not muted.
        let mut told = event;
        if let Event::Mute {
            note: told_note, ..
        } = &mut told
        {
            *told_note = note;
        }
        Ok(told)
    }

    /// Holds the mute `event` gives (a [`Event::Mute`]): by name, and by
    /// the address of the person if they are here, whom it is told to;
    /// returns why the address is not muted. A mute past [`MAX_MUTES`]
    /// (given on another server meanwhile) is dropped, logged.
    fn record_mute(&self, state: &mut State, event: &Event) -> Option<String> {
        let Event::Mute {
            name, by, seconds, ..
        } = event
        else {
            return None;
        };
        let key = name.to_lowercase();
        let now = Instant::now();
        if !has_room(&mut state.mutes, &key, MAX_MUTES, |mute| mute.ended(now)) {
            tracing::warn!(whom = %name, "a mute from another server dropped: {MAX_MUTES} names are muted already");
            return None;
        }
        let (address, note) = match state.people.get(&key) {
            Some(person) => super::bans::address_to_ban(state, &key, person.address),
            None => (None, None),
        };
        let mute = Mute {
            until: seconds.map(|s| now + Duration::from_secs(s)),
            address,
        };
        state.mutes.insert(key.clone(), mute);
        self.mutes_changed(state);
        // Their mailbox may be full (they are not reading): they will learn
        // it from the refusal of what they say next.
        if let Some(person) = state.people.get(&key)
            && person.name != *by
        {
            let _ = person.control.deliver(event.clone(), &self.mailboxes);
            tracing::info!(whom = %name, address = ?address, "muted here");
        }
        note
    }

    /// Lifts `name`'s mute, on behalf of the operator `by`; with Redis on
    /// every server (each holds every mute).
    ///
    /// # Errors
    ///
    /// `not_operator`; `bad_arguments` if `name` is not muted.
    pub(crate) fn unmute(&self, by: &str, name: &str) -> Result<Event, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        self.check_operator_in(state, by, "unmute")?;
        let key = name.to_lowercase();
        let now = Instant::now();
        let was_muted = state.mutes.get(&key).is_some_and(|mute| !mute.ended(now));
        if !was_muted {
            state.mutes.remove(&key);
            self.mutes_changed(state);
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("{name} is not muted"),
            });
        }
        let spelled = state
            .people
            .get(&key)
            .map_or(name, |p| p.name.as_str())
            .to_owned();
        let event = Event::Unmute {
            name: spelled.clone(),
            by: by.to_owned(),
        };
        let published = self
            .backend
            .relay()
            .is_some_and(|cluster| cluster.moderate(&event));
        if !published {
            self.lift_mute(state, &event);
        }
        tracing::info!(who = %by, action = "unmute", whom = %spelled, "unmuted");
        Ok(event)
    }

    /// Lifts the mute `event` names (a [`Event::Unmute`]) and tells the
    /// person if they are here.
    fn lift_mute(&self, state: &mut State, event: &Event) {
        let Event::Unmute { name, by } = event else {
            return;
        };
        let key = name.to_lowercase();
        state.mutes.remove(&key);
        self.mutes_changed(state);
        if let Some(person) = state.people.get(&key)
            && person.name != *by
        {
            let _ = person.control.deliver(event.clone(), &self.mailboxes);
        }
    }

    /// Keeps `anyone_muted` true exactly while someone is, so that every
    /// message skips the lookup (and the lock) otherwise.
    fn mutes_changed(&self, state: &State) {
        self.anyone_muted
            .store(!state.mutes.is_empty(), Ordering::Relaxed);
    }

    /// Applies a mute or its lifting from Redis (given on any server).
    pub(super) fn moderated(&self, event: &Event) {
        let mut guard = self.state();
        let state = &mut *guard;
        match event {
            Event::Mute { .. } => {
                self.record_mute(state, event);
            }
            Event::Unmute { .. } => self.lift_mute(state, event),
            Event::Unban { name, .. } => Rooms::lift_ban(state, name),
            Event::Unregistered { .. } => self.unregistered_here(state, event),
            _ => {}
        }
    }

    /// Whether `name`, connected from `client`, is muted now: by name, or
    /// by the address of a mute given to someone else.
    ///
    /// # Errors
    ///
    /// `muted`, saying until when.
    pub(crate) fn check_muted(&self, name: &str, client: IpAddr) -> Result<(), CommandError> {
        if !self.anyone_muted.load(Ordering::Relaxed) {
            return Ok(());
        }
        let address = self.bannable(client);
        let mut state = self.state();
        let key = name.to_lowercase();
        let now = Instant::now();
        // By name first; then a linear scan of at most `MAX_MUTES`, only
        // while someone is muted.
        let found = state
            .mutes
            .get(&key)
            .map(|mute| (key.clone(), *mute))
            .or_else(|| {
                let address = address?;
                state
                    .mutes
                    .iter()
                    .find(|(_, mute)| mute.address == Some(address))
                    .map(|(muted, mute)| (muted.clone(), *mute))
            });
        let Some((muted, mute)) = found else {
            return Ok(());
        };
        let message = match mute.until {
            None => "you are muted until an operator unmutes you; you can still read".to_owned(),
            Some(until) => {
                let left = until.saturating_duration_since(now);
                if left.is_zero() {
                    state.mutes.remove(&muted);
                    self.mutes_changed(&state);
                    return Ok(());
                }
                // Rounded up: "0 seconds more" would read as a mistake.
                let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                format!("you are muted for {seconds} more seconds; you can still read")
            }
        };
        Err(CommandError {
            code: ErrorCode::Muted,
            message,
        })
    }
}

/// Whether `held` (bans, mutes) has room for `key` within `max`: it has
/// it already, or is under `max` once the entries that have `ended` are
/// dropped (only when full: no timer runs for them).
pub(super) fn has_room<V>(
    held: &mut std::collections::HashMap<String, V>,
    key: &str,
    max: usize,
    ended: impl Fn(&V) -> bool,
) -> bool {
    if held.len() < max || held.contains_key(key) {
        return true;
    }
    held.retain(|_, value| !ended(value));
    held.len() < max
}

fn no_such_user(name: &str) -> CommandError {
    CommandError {
        code: ErrorCode::NoSuchUser,
        message: format!("nobody called '{name}' is connected (check the spelling)"),
    }
}

/// The refusal of an operator's command to someone who is not one.
pub(super) fn not_operator(has_operators: bool, what: &str) -> CommandError {
    let message = if has_operators {
        format!("only operators may {what}; see /op")
    } else {
        format!("only operators may {what}, and this server has none (it runs without --op-token)")
    };
    CommandError {
        code: ErrorCode::NotOperator,
        message,
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(super) fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].trim_end()
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("hi", 80), "hi");
        assert_eq!(clip("a b", 2), "a");
    }
}
