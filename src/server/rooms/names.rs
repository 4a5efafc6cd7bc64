//! Who may be called what: names are unique on the server, whatever their
//! letter case, and with Redis across every server (a claim each).

use super::{Announced, Rooms, State, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event};
use crate::server::cluster::Cluster;

impl Rooms {
    /// Claims `wanted`, or else a guest name, across the cluster: the name
    /// claimed (`None` if Redis did not answer: the local rules apply) and
    /// the name refused because another server's person has it.
    pub(super) async fn claim_for(
        &self,
        cluster: &Cluster,
        wanted: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        /// Guest names tried before giving up on a claim (each is one round
        /// trip; a clash means another server gave the same number).
        const GUEST_TRIES: usize = 100;
        let mut candidate = wanted.map(str::to_owned);
        let mut refused = None;
        for _ in 0..GUEST_TRIES {
            let name = match candidate.take() {
                Some(name) if !self.state().people.contains_key(&name.to_lowercase()) => name,
                // Taken here: the local rules name the guest and say so.
                Some(_) => return (None, None),
                None => self.state().guest_name(),
            };
            match cluster.claim(&name).await {
                Ok(true) => return (Some(name), refused),
                Ok(false) if refused.is_none() && wanted.is_some() => refused = Some(name),
                Ok(false) => {}
                Err(_) => return (None, refused),
            }
        }
        (None, refused)
    }

    /// Whether someone has `name` (in any letter case): here, or with
    /// Redis on another server. A name nobody has is then claimed for us,
    /// as the connection that asked is about to take it (see
    /// `connection::hold`); a claim left unused expires.
    pub(crate) async fn is_taken(&self, name: &str) -> bool {
        if self.state().people.contains_key(&name.to_lowercase()) {
            return true;
        }
        match self.backend.relay() {
            Some(cluster) => matches!(cluster.claim(name).await, Ok(false)),
            None => false,
        }
    }

    /// Renames `old` to `new`, announcing it in `room`; the `nick` notice
    /// is returned if the room only counted it (see `presence`), for the
    /// person renamed to be told on their own.
    ///
    /// # Errors
    ///
    /// `name_banned` if an operator banned `new`; `name_registered` if it is
    /// someone else's registered name; `name_taken` if someone else has
    /// `new` (in any letter case).
    pub(crate) async fn rename(
        &self,
        old: &str,
        room: &str,
        new: &str,
    ) -> Result<Option<Event>, CommandError> {
        self.check_name_banned(new)?;
        // Someone else's registered name needs `/identify`; a change of
        // letter case of one's own does not.
        if old.to_lowercase() != new.to_lowercase() && self.is_registered(new) {
            return Err(super::name_registered(
                new,
                &format!("/identify {new} PASSWORD if it is yours, or pick another"),
            ));
        }
        let Some(cluster) = self.backend.relay().filter(|_| old != new) else {
            return self.rename_here(old, room, new);
        };
        let taken_here = self.state().people.contains_key(&new.to_lowercase())
            && old.to_lowercase() != new.to_lowercase();
        if !taken_here && matches!(cluster.claim(new).await, Ok(false)) {
            return Err(name_taken(new, "pick another"));
        }
        let renamed = self.rename_here(old, room, new);
        match &renamed {
            Ok(_) => {
                let is_op = self.state().ops.contains(&new.to_lowercase());
                renamed_in_cluster(cluster, old, new, room, is_op);
            }
            Err(_) if old.to_lowercase() != new.to_lowercase() => cluster.release(new),
            Err(_) => {}
        }
        renamed
    }

    fn rename_here(&self, old: &str, room: &str, new: &str) -> Result<Option<Event>, CommandError> {
        self.rename_locked(&mut self.state(), old, room, new)
    }

    /// [`Rooms::rename_here`] under the lock already held.
    pub(super) fn rename_locked(
        &self,
        state: &mut State,
        old: &str,
        room: &str,
        new: &str,
    ) -> Result<Option<Event>, CommandError> {
        if old == new {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("you are already called {new}"),
            });
        }
        let (old_key, new_key) = (old.to_lowercase(), new.to_lowercase());
        if new_key != old_key && state.people.contains_key(&new_key) {
            return Err(name_taken(new, "pick another"));
        }
        let mut person = state
            .people
            .remove(&old_key)
            .expect("a connected person is registered");
        person.name = new.to_owned();
        if state.ops.remove(&old_key) {
            state.ops.insert(new_key.clone());
        }
        state.people.insert(new_key, person);
        // Someone else's held departure under the new name goes out first:
        // after the nick it would read as this person leaving.
        if let Some(leave) = state.departures.take(room, new) {
            self.announce(state, room, &leave);
        }
        let Some(entry) = state.rooms.get_mut(room) else {
            return Ok(None);
        };
        entry.members.remove(old);
        entry.members.insert(new);
        let nick = Event::Nick {
            room: room.to_owned(),
            old: old.to_owned(),
            new: new.to_owned(),
            ts: now_ms(),
        };
        let heard = self.announce(state, room, &nick) == Announced::Heard;
        Ok((!heard).then_some(nick))
    }
}

impl State {
    pub(super) fn guest_name(&mut self) -> String {
        loop {
            let name = format!("guest-{}", self.next_guest);
            self.next_guest += 1;
            // A registered guest name (from before guests could not
            // register) would hold its newcomer.
            if !self.people.contains_key(&name) && !self.is_registered(&name) {
                return name;
            }
        }
    }
}

pub(crate) fn name_taken(name: &str, what_next: &str) -> CommandError {
    CommandError {
        code: ErrorCode::NameTaken,
        message: format!("the name '{name}' is taken; {what_next}"),
    }
}

/// Tells the other servers of a rename done here (`/nick`, `/identify`),
/// once the new spelling's claim is ours: the old name off the lists (its
/// claim, being the old spelling's, is not freed by a change of letter
/// case), the new one on, and an operator still one under it.
pub(super) fn renamed_in_cluster(cluster: &Cluster, old: &str, new: &str, room: &str, is_op: bool) {
    cluster.forget(old);
    cluster.place(new, room);
    if is_op {
        cluster.op(new);
    }
}
