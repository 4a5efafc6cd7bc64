//! Who is where: `/who` and `/rooms`, and finding a person for `/msg`,
//! on this server or, with Redis, on any.

use super::members::{Members, Page};
use super::{Rooms, now_ms};
use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event, RoomInfo, WHO_PAGE};
use crate::server::cluster::ClusterError;

impl Rooms {
    /// A page of the names in `room`, on every server: those starting with
    /// `prefix`, after `after` (see [`Members::page`]).
    ///
    /// # Errors
    ///
    /// `cluster` if the other servers did not answer.
    pub(crate) async fn who(
        &self,
        room: &str,
        prefix: Option<&str>,
        after: Option<&str>,
    ) -> Result<Event, CommandError> {
        let page = |members: &Members, ops| {
            let Page { names, more } = members.page(prefix, after, WHO_PAGE);
            Event::Who {
                room: room.to_owned(),
                count: members.len(),
                names,
                more,
                ops,
            }
        };
        // With Redis the page comes back, read there from the room's list.
        let everywhere = self.backend.who(room, prefix, after, WHO_PAGE);
        if let Some(everywhere) = everywhere.await.map_err(unanswered)? {
            return Ok(Event::Who {
                room: room.to_owned(),
                count: everywhere.count,
                names: everywhere.names,
                more: everywhere.more,
                ops: everywhere.ops,
            });
        }
        let state = self.state();
        Ok(match state.rooms.get(room) {
            Some(entry) => page(&entry.members, entry.members.among(&state.ops)),
            None => page(&Members::default(), Vec::new()),
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
pub(super) fn unanswered(err: ClusterError) -> CommandError {
    CommandError {
        code: ErrorCode::Cluster,
        message: format!("the other servers did not answer ({err}); try again in a moment"),
    }
}
