//! A room's history in Redis: a capped stream whose entry ids are the
//! message ids (`0-ID`), each entry the event's JSON with id 0 (Redis gives
//! the id). Reading it back is the same for a room created here and for a
//! hole the bridge fills.

use redis::aio::MultiplexedConnection;

use super::{ClusterError, keys};
use crate::protocol::Event;
use crate::server::history::{RoomTail, StoredMessage};

/// One entry of a room's history stream: `0-ID` and its fields.
#[derive(Debug)]
pub(super) struct StreamEntry {
    pub id: u64,
    json: Option<String>,
}

impl redis::FromRedisValue for StreamEntry {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        let (id, fields): (String, Vec<String>) = redis::FromRedisValue::from_redis_value(value)?;
        let id = id
            .strip_prefix("0-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| redis::ParsingError::from(format!("not a chat history id: {id}")))?;
        let json = fields
            .chunks(2)
            .find(|pair| pair[0] == "e")
            .and_then(|pair| pair.get(1).cloned());
        Ok(Self { id, json })
    }
}

impl StreamEntry {
    /// The event this entry holds, with its id.
    pub(super) fn event(&self) -> Option<Event> {
        let event: Event = serde_json::from_str(self.json.as_deref()?).ok()?;
        Some(with_id(event, self.id))
    }
}

/// `event` with the id Redis gave it.
pub(super) fn with_id(mut event: Event, new_id: u64) -> Event {
    if let Event::Message { id, .. } | Event::Action { id, .. } = &mut event {
        *id = new_id;
    }
    event
}

/// A room's last `history_len` messages and its last id.
pub(super) async fn tail(
    connection: &mut MultiplexedConnection,
    room: &str,
    history_len: usize,
) -> Result<RoomTail, ClusterError> {
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(keys::counter(room));
    pipe.cmd("XREVRANGE")
        .arg(keys::history(room))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(history_len.max(1));
    let (last_id, entries): (Option<u64>, Vec<StreamEntry>) = pipe.query_async(connection).await?;
    let messages = if history_len == 0 {
        Vec::new()
    } else {
        entries
            .iter()
            .rev()
            .filter_map(|entry| StoredMessage::from_event(entry.event()?))
            .map(|(_, message)| message)
            .collect()
    };
    Ok(RoomTail {
        last_id: last_id.unwrap_or(0),
        messages,
    })
}

/// The entries of `room`'s stream after id `after`, up to (not including)
/// `until` if given.
pub(super) async fn after(
    connection: &mut MultiplexedConnection,
    room: &str,
    after: u64,
    until: Option<u64>,
) -> redis::RedisResult<Vec<StreamEntry>> {
    let end = until.map_or_else(|| "+".to_owned(), |until| format!("(0-{until}"));
    redis::cmd("XRANGE")
        .arg(keys::history(room))
        .arg(format!("(0-{after}"))
        .arg(end)
        .query_async(connection)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_entries_take_their_id_from_the_stream() {
        let json = Event::Message {
            id: 0,
            room: "lobby".into(),
            from: "ana".into(),
            text: "hi".into(),
            ts: 5,
        }
        .to_json();
        let entry = StreamEntry {
            id: 42,
            json: Some(json),
        };
        assert!(matches!(entry.event(), Some(Event::Message { id: 42, .. })));
    }
}
