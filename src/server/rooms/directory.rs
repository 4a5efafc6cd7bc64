//! Who is where: `/who` and `/rooms`, and finding a person for `/msg`,
//! on this server or, with Redis, on any.

use super::{Rooms, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event, RoomInfo};
use crate::server::cluster::ClusterError;

impl Rooms {
    /// The names in `room`, on every server.
    ///
    /// # Errors
    ///
    /// `cluster` if the other servers did not answer.
    pub(crate) async fn who(&self, room: &str) -> Result<Event, CommandError> {
        let everywhere = self.backend.who(room).await.map_err(unanswered)?;
        let mut names: Vec<String> = everywhere.unwrap_or_else(|| {
            self.state()
                .rooms
                .get(room)
                .map(|r| r.members.iter().cloned().collect())
                .unwrap_or_default()
        });
        // As a person reads a list: `ana` before `Bo`.
        names.sort_by_cached_key(|name| name.to_lowercase());
        Ok(Event::Who {
            room: room.to_owned(),
            names,
        })
    }

    /// The rooms that have people in them, on every server, by name.
    ///
    /// # Errors
    ///
    /// `cluster` if the other servers did not answer.
    pub(crate) async fn list(&self) -> Result<Event, CommandError> {
        let everywhere = self.backend.rooms().await.map_err(unanswered)?;
        let mut rooms: Vec<RoomInfo> = everywhere.unwrap_or_else(|| {
            self.state()
                .rooms
                .iter()
                .filter(|(_, r)| !r.members.is_empty())
                .map(|(name, r)| RoomInfo {
                    name: name.clone(),
                    people: r.members.len(),
                })
                .collect()
        });
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Event::Rooms { rooms })
    }

    /// Sends a private message, wherever the recipient is, and returns the
    /// sender's copy.
    ///
    /// # Errors
    ///
    /// `no_such_user` if nobody has that name; `recipient_busy` if the
    /// recipient has not read their last private messages yet; `cluster` if
    /// the other servers did not answer.
    pub(crate) async fn private(
        &self,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<Event, CommandError> {
        let no_such_user = || CommandError {
            code: ErrorCode::NoSuchUser,
            message: format!("nobody called '{to}' is connected (check the spelling)"),
        };
        let here = self.state().people.contains_key(&to.to_lowercase());
        if !here && let Some(cluster) = self.backend.relay() {
            return cluster
                .private(from, to, text, now_ms())
                .await
                .map_err(unanswered)?
                .ok_or_else(no_such_user);
        }
        let state = self.state();
        let recipient = state
            .people
            .get(&to.to_lowercase())
            .ok_or_else(no_such_user)?;
        let event = Event::Private {
            from: from.to_owned(),
            to: recipient.name.clone(),
            text: text.to_owned(),
            ts: now_ms(),
        };
        if recipient.name == from {
            // A note to oneself: the sender's copy is the only one needed.
            return Ok(event);
        }
        match recipient.control.deliver(event.clone(), &self.mailboxes) {
            Ok(()) => Ok(event),
            Err(_) => Err(CommandError {
                code: ErrorCode::RecipientBusy,
                message: format!(
                    "{} is not reading messages right now; try again later",
                    recipient.name
                ),
            }),
        }
    }
}

/// A question the other servers did not answer, as the person reads it.
fn unanswered(err: ClusterError) -> CommandError {
    CommandError {
        code: ErrorCode::Cluster,
        message: format!("the other servers did not answer ({err}); try again in a moment"),
    }
}
