//! Several servers as one chat, through Redis (`--redis-url`).
//!
//! Redis is the only coordinator: no server talks to another directly.
//! - A room's messages take their ids from one counter in Redis, and a Lua
//!   script ([`scripts::SAY`]) numbers, keeps and publishes each message in
//!   one step, so every server sees one order. A server delivers to its own
//!   people only what comes back from Redis (the sender's copy too), encoded
//!   once per event on arrival: each message crosses Redis once, not once
//!   per recipient.
//! - Names are claims (`chat:name:NAME`) with an expiry each server refreshes
//!   for its own people; who is where is one hash per server
//!   (`chat:people:SERVER`), read for `/who` and `/rooms` together with each
//!   server's liveness key, so a crashed server's people disappear.
//! - History is a capped stream per room whose entry ids are the message ids.
//!
//! This module is the handle the registry ([`super::rooms`]) uses: commands
//! that need no answer are queued and sent in order, in pipelines, by the
//! bridge ([`bridge`]), which also receives what Redis publishes and
//! reconnects when Redis is lost.

pub(crate) mod bridge;
mod scripts;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, Script};
use tokio::sync::{mpsc, watch};

use super::rooms::Said;
use super::store::{RoomTail, StoredMessage};
use crate::protocol::{Event, RoomInfo};

/// How long a name claim and a server's liveness key last unless refreshed;
/// also how long a crashed server's people stay listed at most.
const CLAIM_TTL: Duration = Duration::from_secs(30);
/// The set of the servers' ids (the Lua scripts name it too).
const SERVERS_KEY: &str = "chat:servers";
/// How long a question to Redis may take before the server answers from
/// what it knows locally.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the start-up check may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server cannot start with `--redis-url`.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach Redis at {url}: {reason} (is redis-server running?)")]
pub struct ConnectError {
    url: String,
    reason: String,
}

/// This server's link to the others, through one Redis.
pub struct Cluster {
    client: redis::Client,
    /// Random, chosen at start: names this server's claims and channel.
    id: String,
    /// The URL without its password, for messages.
    url: String,
    /// Commands that need no answer, in the order they were made.
    outgoing: mpsc::UnboundedSender<Cmd>,
    outgoing_rx: Mutex<Option<mpsc::UnboundedReceiver<Cmd>>>,
    /// Commands queued and not yet sent, for backpressure on senders.
    pending: AtomicUsize,
    /// Whether the link is up; while it is down, rooms work locally.
    up: AtomicBool,
    /// Becomes true once the first resynchronisation is done.
    ready: watch::Sender<bool>,
    /// For questions that need an answer; `None` while the link is down.
    connection: Mutex<Option<MultiplexedConnection>>,
    history_len: usize,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to Redis at `url` and checks that it answers, so that a wrong
    /// URL or a Redis that is not running fails before the server listens.
    ///
    /// # Errors
    ///
    /// An invalid URL, or a Redis that cannot be reached or does not answer.
    pub async fn connect(url: &str, history_len: usize) -> Result<Self, ConnectError> {
        let shown = redact(url);
        let fail = |reason: String| ConnectError {
            url: shown.clone(),
            reason,
        };
        let client = redis::Client::open(url).map_err(|err| fail(err.to_string()))?;
        let check = async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, check).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => return Err(fail(err.to_string())),
            Err(_) => return Err(fail(format!("no answer within {CONNECT_TIMEOUT:?}"))),
        };
        drop(connection);
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        Ok(Self {
            client,
            id: server_id(),
            url: shown,
            outgoing,
            outgoing_rx: Mutex::new(Some(outgoing_rx)),
            pending: AtomicUsize::new(0),
            up: AtomicBool::new(false),
            ready: watch::Sender::new(false),
            connection: Mutex::new(None),
            history_len,
        })
    }

    /// Whether the link to the other servers is up.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Waits until the bridge has joined this server to the others for the
    /// first time, or for `limit` at most (Redis may have gone meanwhile:
    /// the server then starts on its own and joins when it can).
    pub(crate) async fn ready(&self, limit: Duration) {
        let mut ready = self.ready.subscribe();
        let _ = tokio::time::timeout(limit, ready.wait_for(|ready| *ready)).await;
    }

    /// Commands queued for Redis and not yet sent.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn queue(&self, cmd: Cmd) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        // Fails only once the bridge has stopped, at shutdown.
        let _ = self.outgoing.send(cmd);
    }

    /// Says `text` in `room`: numbered, kept and published by Redis, and
    /// delivered here when it comes back.
    pub(crate) fn say(&self, room: &str, from: &str, text: &str, kind: Said, ts: u64) {
        // Redis gives the id.
        let event = kind.event(0, room.to_owned(), from.to_owned(), text.to_owned(), ts);
        let mut cmd = evalsha(&scripts::SAY);
        cmd.arg(2)
            .arg(counter_key(room))
            .arg(history_key(room))
            .arg(room_channel(room))
            .arg(self.history_len)
            .arg(event.to_json());
        self.queue(cmd);
    }

    /// Publishes a join, leave or nick notice in `event`'s room; notices have
    /// no id and are not kept.
    pub(crate) fn notice(&self, room: &str, event: &Event) {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(room_channel(room))
            .arg(format!("0 {}", event.to_json()));
        self.queue(cmd);
    }

    /// Records that `name` is in `room` on this server, for `/who` and `/rooms`.
    pub(crate) fn place(&self, name: &str, room: &str) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.people_key()).arg(name).arg(room);
        self.queue(cmd);
    }

    /// Forgets `name`: out of the lists, and the name free for anyone.
    pub(crate) fn forget(&self, name: &str) {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(self.people_key()).arg(name);
        self.queue(cmd);
        self.release(name);
    }

    /// Frees the claim on `name` if it is still ours.
    pub(crate) fn release(&self, name: &str) {
        let mut cmd = evalsha(&scripts::RELEASE);
        cmd.arg(1).arg(name_key(name)).arg(self.claim_value(name));
        self.queue(cmd);
    }

    /// Claims `name` for one of our people.
    ///
    /// Returns `Ok(false)` if another server's person has it.
    ///
    /// # Errors
    ///
    /// Redis did not answer; the caller goes on as if it were down.
    pub(crate) async fn claim(&self, name: &str) -> Result<bool, ()> {
        let mut cmd = self.claim_cmd(name);
        let claimed: i64 = self.query(&mut cmd).await?;
        Ok(claimed == 1)
    }

    fn claim_cmd(&self, name: &str) -> Cmd {
        let mut cmd = evalsha(&scripts::CLAIM);
        cmd.arg(1)
            .arg(name_key(name))
            .arg(self.claim_value(name))
            .arg(CLAIM_TTL.as_secs())
            .arg(&self.id);
        cmd
    }

    /// The names in `room` on every live server, or `None` if Redis does not
    /// answer.
    pub(crate) async fn who(&self, room: &str) -> Option<Vec<String>> {
        let mut cmd = evalsha(&scripts::PEOPLE);
        cmd.arg(0).arg("who").arg(room);
        self.query(&mut cmd).await.ok()
    }

    /// The rooms with people in them on any live server.
    pub(crate) async fn rooms(&self) -> Option<Vec<RoomInfo>> {
        let mut cmd = evalsha(&scripts::PEOPLE);
        cmd.arg(0).arg("rooms");
        let flat: Vec<(String, usize)> = self.query(&mut cmd).await.ok()?;
        Some(
            flat.into_iter()
                .map(|(name, people)| RoomInfo { name, people })
                .collect(),
        )
    }

    /// Sends a private message to `to` if another server has that person:
    /// returns the name as its owner spells it, or `None` if nobody has it.
    pub(crate) async fn private(&self, from: &str, to: &str, text: &str, ts: u64) -> Option<Event> {
        let mut get = redis::cmd("GET");
        get.arg(name_key(to));
        let held: Option<String> = self.query(&mut get).await.ok()?;
        let (server, name) = held?
            .split_once(' ')
            .map(|(s, n)| (s.to_owned(), n.to_owned()))?;
        let event = Event::Private {
            from: from.to_owned(),
            to: name,
            text: text.to_owned(),
            ts,
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(server_channel(&server)).arg(event.to_json());
        let receivers: i64 = self.query(&mut publish).await.ok()?;
        (receivers > 0).then_some(event)
    }

    /// A room's last messages and last id, as Redis keeps them.
    pub(crate) async fn load(&self, room: &str) -> Result<RoomTail, String> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(counter_key(room));
        pipe.cmd("XREVRANGE")
            .arg(history_key(room))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(self.history_len.max(1));
        let mut connection = self.connection().ok_or("Redis is unreachable")?;
        let (last_id, entries): (Option<u64>, Vec<StreamEntry>) =
            tokio::time::timeout(QUERY_TIMEOUT, pipe.query_async(&mut connection))
                .await
                .map_err(|_| "Redis did not answer in time".to_owned())?
                .map_err(|err| err.to_string())?;
        let mut messages: Vec<StoredMessage> = entries
            .iter()
            .rev()
            .filter_map(|entry| stored(&entry.event()?))
            .collect();
        if self.history_len == 0 {
            messages.clear();
        }
        Ok(RoomTail {
            last_id: last_id.unwrap_or(0),
            messages,
        })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &mut Cmd) -> Result<T, ()> {
        let mut connection = self.connection().ok_or(())?;
        match tokio::time::timeout(QUERY_TIMEOUT, cmd.query_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                tracing::warn!("a question to Redis failed: {err}");
                Err(())
            }
            Err(_) => {
                tracing::warn!("Redis did not answer within {QUERY_TIMEOUT:?}");
                Err(())
            }
        }
    }

    fn connection(&self) -> Option<MultiplexedConnection> {
        if !self.is_up() {
            return None;
        }
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn people_key(&self) -> String {
        format!("chat:people:{}", self.id)
    }

    fn alive_key(&self) -> String {
        format!("chat:alive:{}", self.id)
    }

    /// Adds to `pipe` what says this server is alive for another claim
    /// period: its place in the set of servers and its liveness key.
    fn announce(&self, pipe: &mut redis::Pipeline) {
        pipe.cmd("SADD").arg(SERVERS_KEY).arg(&self.id).ignore();
        pipe.cmd("SET")
            .arg(self.alive_key())
            .arg(1)
            .arg("EX")
            .arg(CLAIM_TTL.as_secs())
            .ignore();
    }

    fn claim_value(&self, name: &str) -> String {
        format!("{} {name}", self.id)
    }
}

/// One entry of a room's history stream: `0-ID` and its fields.
#[derive(Debug)]
struct StreamEntry {
    id: u64,
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
    fn event(&self) -> Option<Event> {
        let event: Event = serde_json::from_str(self.json.as_deref()?).ok()?;
        Some(numbered(event, self.id))
    }
}

/// `event` with the id Redis gave it.
fn numbered(mut event: Event, new_id: u64) -> Event {
    if let Event::Message { id, .. } | Event::Action { id, .. } = &mut event {
        *id = new_id;
    }
    event
}

fn stored(event: &Event) -> Option<StoredMessage> {
    let (id, kind, from, text, ts) = match event {
        Event::Message {
            id, from, text, ts, ..
        } => (id, Said::Message, from, text, ts),
        Event::Action {
            id, from, text, ts, ..
        } => (id, Said::Action, from, text, ts),
        _ => return None,
    };
    Some(StoredMessage {
        id: *id,
        kind,
        from: from.clone(),
        text: text.clone(),
        ts: *ts,
    })
}

fn evalsha(script: &Script) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash());
    cmd
}

fn counter_key(room: &str) -> String {
    format!("chat:id:{room}")
}

fn history_key(room: &str) -> String {
    format!("chat:history:{room}")
}

/// The channel a room's events are published on.
fn room_channel(room: &str) -> String {
    format!("{ROOM_CHANNEL_PREFIX}{room}")
}

const ROOM_CHANNEL_PREFIX: &str = "chat:room:";

/// The channel a server's private messages are published on.
fn server_channel(server: &str) -> String {
    format!("chat:server:{server}")
}

fn name_key(name: &str) -> String {
    format!("chat:name:{}", name.to_lowercase())
}

/// 16 random hex digits.
fn server_id() -> String {
    use ring::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `url` with its password (if any) replaced by `***`, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = rest[..at].split(':').next().unwrap_or("");
    format!("{scheme}://{user}:***{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact("redis://:s3cret@db:6379/0"),
            "redis://:***@db:6379/0"
        );
        assert_eq!(redact("redis://ana:s3cret@db"), "redis://ana:***@db");
        assert_eq!(redact("redis://db:6379"), "redis://db:6379");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock"),
            "redis+unix:///tmp/r.sock"
        );
    }

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
