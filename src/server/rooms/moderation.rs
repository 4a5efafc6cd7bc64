//! Operators and what they may do: `/op`, `/kick`, `/mute`, `/unmute`.
//!
//! One server's, for now: with Redis an operator would have to be one on
//! every server, and their orders carried across, which is a later step.
//! Until then `/op` is refused there, so there are no operators at all
//! rather than operators whose orders reach only some people.
//!
//! Every action is logged at info, with who did what to whom and why, and
//! never the secret.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_websockets::CloseCode;

use super::{Closing, Rooms, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::{CLOSE_KICKED, ErrorCode, Event, MAX_REASON_BYTES};
use crate::sanitize::one_line;

impl Rooms {
    /// Makes `name` an operator if `secret` is the server's `--op-token`,
    /// for as long as the connection lasts (a rename keeps it).
    ///
    /// # Errors
    ///
    /// `op_refused`: the secret is wrong, or the server has no operators
    /// (no `--op-token`, or several servers).
    pub(crate) fn make_operator(&self, name: &str, secret: &str) -> Result<Event, CommandError> {
        let refused = |message: &str| CommandError {
            code: ErrorCode::OpRefused,
            message: message.to_owned(),
        };
        let Some(token) = &self.op_token else {
            return Err(refused(
                "this server has no operators (it runs without --op-token)",
            ));
        };
        if self.backend.is_cluster() {
            return Err(refused(
                "operators need a single server for now; this one runs with --redis-url",
            ));
        }
        if !token.matches(secret) {
            tracing::info!(who = %name, action = "op", "refused: wrong secret");
            return Err(refused("wrong secret: you are not an operator"));
        }
        self.state().ops.insert(name.to_lowercase());
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
    pub(crate) fn kick(
        &self,
        by: &str,
        by_room: &str,
        name: &str,
        reason: &str,
    ) -> Result<Option<Event>, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        if !state.ops.contains(&by.to_lowercase()) {
            return Err(not_operator(self.op_token.is_some(), "kick"));
        }
        let key = name.to_lowercase();
        let Some(person) = state.people.get(&key) else {
            return Err(no_such_user(name));
        };
        let name = person.name.clone();
        let reason = clip(&one_line(reason), MAX_REASON_BYTES).to_owned();
        let close_reason = if reason.is_empty() {
            format!("kicked by {by}")
        } else {
            format!("kicked by {by}: {reason}")
        };
        person.control.close(Closing {
            code: CloseCode::try_from(CLOSE_KICKED).expect("4001 is in the range for applications"),
            reason: close_reason,
        });
        let kick = |room: &str| Event::Kick {
            room: room.to_owned(),
            name: name.clone(),
            by: by.to_owned(),
            reason: reason.clone(),
            ts: now_ms(),
        };
        // Straight to the room, past `announce`: a summary would hide who
        // was removed and why. The kicked person hears it too, before the
        // close (a connection sends what its room queued before obeying).
        let found = state
            .rooms
            .iter_mut()
            .find(|(_, entry)| entry.members.contains(&key));
        let unheard = match found {
            Some((room, entry)) => {
                let kick = kick(room);
                entry.broadcast(&kick);
                // An operator elsewhere needs their own copy as confirmation.
                (room != by_room).then_some(kick)
            }
            // Between rooms (loading one): nobody else to tell.
            None => Some(kick("")),
        };
        tracing::info!(who = %by, action = "kick", whom = %name, why = %reason, "kicked");
        Ok(unheard)
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
    /// Mutes `name` (connected now) for `duration`, or until unmuted, on
    /// behalf of the operator `by`; returns the operator's confirmation,
    /// which the muted person gets too.
    ///
    /// # Errors
    ///
    /// `not_operator`; `no_such_user`; `bad_arguments` when [`MAX_MUTES`]
    /// names are muted already.
    pub(crate) fn mute(
        &self,
        by: &str,
        name: &str,
        duration: Option<Duration>,
    ) -> Result<Event, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        if !state.ops.contains(&by.to_lowercase()) {
            return Err(not_operator(self.op_token.is_some(), "mute"));
        }
        let key = name.to_lowercase();
        let Some(person) = state.people.get(&key) else {
            return Err(no_such_user(name));
        };
        let now = Instant::now();
        if state.mutes.len() >= MAX_MUTES && !state.mutes.contains_key(&key) {
            state.mutes.retain(|_, mute| !mute.ended(now));
            if state.mutes.len() >= MAX_MUTES {
                return Err(CommandError {
                    code: ErrorCode::BadArguments,
                    message: format!("{MAX_MUTES} names are muted already; unmute someone first"),
                });
            }
        }
        let (address, note) = super::bans::address_to_ban(state, &key, person.address);
        let person = &state.people[&key];
        let mute = Mute {
            until: duration.map(|d| now + d),
            address,
        };
        state.mutes.insert(key, mute);
        self.anyone_muted.store(true, Ordering::Relaxed);
        let event = Event::Mute {
            name: person.name.clone(),
            by: by.to_owned(),
            seconds: duration.map(|d| d.as_secs()),
            note: None,
        };
        // Their mailbox may be full (they are not reading): they will learn
        // it from the refusal of what they say next.
        if person.name != by {
            let _ = person.control.deliver(event.clone(), &self.mailboxes);
        }
        tracing::info!(who = %by, action = "mute", whom = %person.name, why = ?duration, address = ?address, "muted");
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

    /// Lifts `name`'s mute, on behalf of the operator `by`.
    ///
    /// # Errors
    ///
    /// `not_operator`; `bad_arguments` if `name` is not muted.
    pub(crate) fn unmute(&self, by: &str, name: &str) -> Result<Event, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        if !state.ops.contains(&by.to_lowercase()) {
            return Err(not_operator(self.op_token.is_some(), "unmute"));
        }
        let key = name.to_lowercase();
        let now = Instant::now();
        let was_muted = state
            .mutes
            .remove(&key)
            .is_some_and(|mute| !mute.ended(now));
        if !was_muted {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("{name} is not muted"),
            });
        }
        let spelled = state.people.get(&key).map_or(name, |p| p.name.as_str());
        let event = Event::Unmute {
            name: spelled.to_owned(),
            by: by.to_owned(),
        };
        if let Some(person) = state.people.get(&key)
            && person.name != by
        {
            let _ = person.control.deliver(event.clone(), &self.mailboxes);
        }
        tracing::info!(who = %by, action = "unmute", whom = %spelled, "unmuted");
        Ok(event)
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
