//! A room's history in Redis: a capped stream whose entry ids are the
//! message ids (`0-ID`), each entry the event's JSON with id 0 (Redis gives
//! the id). Reading it back is the same for a room created here and for a
//! hole the bridge fills.

use redis::aio::MultiplexedConnection;

use super::inbound::{self, Inbound};
use super::{ClusterError, keys};
use crate::protocol::Event;
use crate::server::history::{RoomTail, StoredMessage};

/// One entry of a room's history stream as Redis holds it: its id (`0-ID`
/// if a server of ours wrote it) and its field `e`, unchecked, so that one
/// entry that is neither is dropped alone rather than failing the read.
#[derive(Debug)]
pub(super) struct StreamEntry {
    id: String,
    json: Option<String>,
}

impl redis::FromRedisValue for StreamEntry {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        let (id, fields): (String, Vec<Vec<u8>>) = redis::FromRedisValue::from_redis_value(value)?;
        let json = fields
            .chunks(2)
            .find(|pair| pair[0] == b"e")
            .and_then(|pair| String::from_utf8(pair.get(1)?.clone()).ok());
        Ok(Self { id, json })
    }
}

impl StreamEntry {
    /// The event this entry holds, with its id, if it is one a server of
    /// ours could have kept in `room` with the room's counter at `counter`
    /// (see [`Inbound::history_entry`]); what is not is logged and dropped.
    fn checked(&self, inbound: &Inbound, room: &str, counter: u64) -> Option<(u64, Event)> {
        inbound
            .history_entry(room, &self.id, self.json.as_deref(), counter)
            .inspect_err(|reason| {
                tracing::warn!(
                    room,
                    id = self.id,
                    "dropped an entry of the history stream: {reason}"
                );
            })
            .ok()
    }
}

/// The last id `room`'s counter gave (0 if it has none).
pub(super) async fn counter(
    connection: &mut MultiplexedConnection,
    room: &str,
) -> redis::RedisResult<u64> {
    let counter: Option<u64> = redis::cmd("GET")
        .arg(keys::counter(room))
        .query_async(connection)
        .await?;
    Ok(counter.unwrap_or(0))
}

/// A room's last `history_len` messages and its last id.
pub(super) async fn tail(
    connection: &mut MultiplexedConnection,
    inbound: &Inbound,
    room: &str,
    history_len: usize,
) -> Result<RoomTail, ClusterError> {
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(keys::counter(room));
    pipe.cmd("GET").arg(keys::topic(room));
    pipe.cmd("XREVRANGE")
        .arg(keys::history(room))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(history_len.max(1));
    let (last_id, topic, entries): (Option<u64>, Option<String>, Vec<StreamEntry>) =
        pipe.query_async(connection).await?;
    let last_id = last_id.unwrap_or(0);
    let topic = topic.and_then(|topic| {
        inbound::topic(topic)
            .inspect_err(|reason| tracing::warn!(room, "dropped the room's topic: {reason}"))
            .ok()
    });
    let messages = if history_len == 0 {
        Vec::new()
    } else {
        entries
            .iter()
            .rev()
            .filter_map(|entry| StoredMessage::from_event(entry.checked(inbound, room, last_id)?.1))
            .map(|(_, message)| message)
            .collect()
    };
    Ok(RoomTail {
        last_id,
        messages,
        topic: topic.filter(|topic| !topic.is_empty()),
    })
}

/// The messages of `room`'s stream after id `after`, up to (not including)
/// `until` if given, with their ids; the room's counter is read with them,
/// so that an entry past it is known for what it is.
pub(super) async fn after(
    connection: &mut MultiplexedConnection,
    inbound: &Inbound,
    room: &str,
    after: u64,
    until: Option<u64>,
) -> redis::RedisResult<Vec<(u64, Event)>> {
    let end = until.map_or_else(|| "+".to_owned(), |until| format!("(0-{until}"));
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(keys::counter(room));
    pipe.cmd("XRANGE")
        .arg(keys::history(room))
        .arg(format!("(0-{after}"))
        .arg(end);
    let (counter, entries): (Option<u64>, Vec<StreamEntry>) = pipe.query_async(connection).await?;
    let counter = counter.unwrap_or(0);
    Ok(entries
        .iter()
        .filter_map(|entry| entry.checked(inbound, room, counter))
        .collect())
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
        let entry = |id: &str| StreamEntry {
            id: id.into(),
            json: Some(json.clone()),
        };
        let inbound = Inbound {
            max_message_bytes: 64,
        };
        assert!(matches!(
            entry("0-42").checked(&inbound, "lobby", 42),
            Some((42, Event::Message { id: 42, .. }))
        ));
        assert_eq!(entry("0-42").checked(&inbound, "lobby", 41), None);
        assert_eq!(entry("0-42").checked(&inbound, "rust", 42), None);
        assert_eq!(entry("42-0").checked(&inbound, "lobby", 42), None);
    }
}
