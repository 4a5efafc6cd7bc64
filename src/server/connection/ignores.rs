//! `/ignore`: the names whose messages, actions and private messages this
//! connection no longer receives (notices still arrive: a person should
//! know who is there and what happens). It lasts for the connection; our
//! client sends the list again on every reconnection.
//!
//! Checked at every delivery, so it costs one emptiness test while the
//! list is empty (nearly always), and a scan of a short list of names
//! otherwise, against the sender the encoded event carries: no decoding,
//! no allocation.

use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event};
use crate::server::encoded::EncodedEvent;

/// Names one connection may ignore at once: a person ignores a few, and
/// each is memory held per connection (see `memory::IGNORE_BYTES`).
pub(crate) const MAX_IGNORES: usize = 100;

/// The names ignored, as given; compared in any letter case, names being
/// unique regardless of it.
#[derive(Debug, Default)]
pub(super) struct Ignores(Vec<Box<str>>);

impl Ignores {
    /// Ignores `name` (again: no change) on behalf of `me`; the answer.
    ///
    /// # Errors
    ///
    /// `bad_arguments` for oneself, or past [`MAX_IGNORES`].
    pub(super) fn add(&mut self, me: &str, name: &str) -> Result<Event, CommandError> {
        let refuse = |message: String| CommandError {
            code: ErrorCode::BadArguments,
            message,
        };
        if name.eq_ignore_ascii_case(me) {
            return Err(refuse("you cannot ignore yourself".to_owned()));
        }
        if !self.hides_name(name) {
            if self.0.len() >= MAX_IGNORES {
                return Err(refuse(format!(
                    "you ignore {MAX_IGNORES} names already; /unignore one first"
                )));
            }
            self.0.push(name.into());
        }
        Ok(Event::Ignore {
            name: name.to_owned(),
        })
    }

    /// Stops ignoring `name`; the answer.
    ///
    /// # Errors
    ///
    /// `bad_arguments` if `name` is not ignored.
    pub(super) fn remove(&mut self, name: &str) -> Result<Event, CommandError> {
        let before = self.0.len();
        self.0.retain(|ignored| !ignored.eq_ignore_ascii_case(name));
        if self.0.len() == before {
            return Err(CommandError {
                code: ErrorCode::BadArguments,
                message: format!("you do not ignore {name}"),
            });
        }
        Ok(Event::Unignore {
            name: name.to_owned(),
        })
    }

    /// Whether `name`'s messages are hidden.
    pub(super) fn hides_name(&self, name: &str) -> bool {
        // Names are ASCII: no case folding beyond it is needed.
        self.0
            .iter()
            .any(|ignored| ignored.eq_ignore_ascii_case(name))
    }

    /// Whether a room event is hidden: a message or action of an ignored name.
    pub(super) fn hides(&self, event: &EncodedEvent) -> bool {
        !self.0.is_empty() && event.sender().is_some_and(|from| self.hides_name(from))
    }

    /// Whether an event told to this connection alone is hidden: a private
    /// message from an ignored name.
    pub(super) fn hides_private(&self, event: &Event) -> bool {
        !self.0.is_empty() && matches!(event, Event::Private { from, .. } if self.hides_name(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str) -> EncodedEvent {
        EncodedEvent::new(&Event::Message {
            id: 1,
            room: "lobby".to_owned(),
            from: from.to_owned(),
            text: "hi".to_owned(),
            ts: 0,
        })
    }

    #[test]
    fn ignored_names_are_hidden_in_any_case_and_notices_are_not() {
        let mut ignores = Ignores::default();
        assert!(!ignores.hides(&message("bo")));
        ignores.add("ana", "Bo").unwrap();
        assert!(ignores.hides(&message("bo")));
        assert!(ignores.hides(&message("BO")));
        assert!(!ignores.hides(&message("cy")));
        let join = EncodedEvent::new(&Event::Join {
            room: "lobby".to_owned(),
            name: "bo".to_owned(),
            ts: 0,
        });
        assert!(!ignores.hides(&join));
        ignores.remove("bO").unwrap();
        assert!(!ignores.hides(&message("bo")));
    }

    #[test]
    fn the_list_is_bounded_and_oneself_is_refused() {
        let mut ignores = Ignores::default();
        assert_eq!(
            ignores.add("ana", "ANA").unwrap_err().code,
            ErrorCode::BadArguments
        );
        for i in 0..MAX_IGNORES {
            ignores.add("ana", &format!("p{i}")).unwrap();
        }
        // Again: no change, no refusal.
        ignores.add("ana", "p0").unwrap();
        let err = ignores.add("ana", "one-more").unwrap_err();
        assert!(err.message.contains("/unignore"), "{}", err.message);
        assert_eq!(
            ignores.remove("nobody").unwrap_err().code,
            ErrorCode::BadArguments
        );
    }
}
