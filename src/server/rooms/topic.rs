//! Each room's topic: anyone reads it; with `--op-token` only operators
//! set it, without it anyone. Kept with the room, and by the backend like
//! history: with `--data-dir` it survives a restart and an eviction (it
//! comes back with the room's tail); in memory alone, either forgets it.
//! With Redis the topic is kept there with the room (and dropped with it,
//! past `--max-stored-rooms`), and its notice reaches the room through
//! Redis, which sets it on every server holding the room; while Redis is
//! away it is set here alone.

use super::Rooms;
use super::moderation::not_operator;
use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event, MAX_TOPIC_BYTES};
use crate::sanitize::one_line;

/// What `/topic` sets to clear the topic.
const CLEAR: &str = "-";

impl Rooms {
    /// Reads `room`'s topic (`text` is `None`), or sets it on behalf of
    /// `name` and tells the room (`-` clears it). Returns the answer for
    /// `name` alone; a change reaches them through the room.
    ///
    /// # Errors
    ///
    /// `not_operator` if operators exist and `name` is not one;
    /// `too_long` past [`MAX_TOPIC_BYTES`] once made one line.
    pub(crate) fn topic(
        &self,
        name: &str,
        room: &str,
        text: Option<&str>,
    ) -> Result<Option<Event>, CommandError> {
        let mut guard = self.state();
        let state = &mut *guard;
        let Some(text) = text else {
            let topic = state.rooms.get(room).and_then(|r| r.topic.clone());
            return Ok(Some(Event::Topic {
                room: room.to_owned(),
                topic: topic.unwrap_or_default(),
                by: None,
            }));
        };
        if self.op_token.is_some() && !state.ops.contains(&name.to_lowercase()) {
            return Err(not_operator(true, "set the topic"));
        }
        let topic = if text == CLEAR {
            String::new()
        } else {
            one_line(text).into_owned()
        };
        if topic.len() > MAX_TOPIC_BYTES {
            return Err(CommandError {
                code: ErrorCode::TooLong,
                message: format!(
                    "topic too long: {} bytes, the limit is {MAX_TOPIC_BYTES}",
                    topic.len()
                ),
            });
        }
        let Some(entry) = state.rooms.get_mut(room) else {
            return Ok(None);
        };
        // Not through `announce`: a summary would hide what the topic is.
        let notice = Event::Topic {
            room: room.to_owned(),
            topic: topic.clone(),
            by: Some(name.to_owned()),
        };
        if !self.backend.keep_topic(room, &topic, &notice) {
            entry.set_topic(&topic);
            entry.broadcast(&notice);
        }
        if self.op_token.is_some() {
            tracing::info!(who = %name, action = "topic", whom = %room, why = %topic, "set the topic");
        }
        Ok(None)
    }
}
