//! The bridge between this server and Redis: one task that sends what the
//! registry queued (in order, in pipelines), fans out what Redis publishes to
//! the local rooms, refreshes this server's claims, and when Redis is lost,
//! tells everyone, reconnects with backoff and resynchronises.
//!
//! It subscribes to every room's channel with one pattern (`chat:room:*`)
//! rather than to the rooms it has members in: a server then never misses a
//! message between a person's arrival and a subscription, at the price of
//! receiving (and dropping, after one map lookup) the traffic of rooms it
//! has nobody in. See the README for when that stops being the right choice.
//!
//! The pub/sub connection buffers what arrives without bound, so this task
//! never waits on anything slow between two messages: delivering is a lock
//! and a broadcast send. The exception is a hole in a room's ids, filled from
//! the room's history stream, which happens only around reconnections.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CLAIM_TTL, Cluster, ROOM_CHANNEL_PREFIX, history_key, scripts, server_channel};
use crate::protocol::{ErrorCode, Event};
use crate::server::rooms::{Arrival, Rooms};

/// Commands sent in one pipeline at most.
const MAX_PIPELINE: usize = 1024;
/// Backoff between reconnection attempts: doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How long the goodbye to Redis may take at shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a session with Redis ended.
enum Ended {
    Stopped,
    Lost(String),
}

/// Runs the bridge until `stop` is cancelled (after the last connection has
/// left, so that its departure reaches the other servers).
pub(crate) async fn run(rooms: Arc<Rooms>, stop: CancellationToken) {
    let cluster = rooms
        .cluster()
        .expect("the bridge runs only with a cluster");
    let mut outgoing = cluster
        .outgoing_rx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .expect("one bridge per cluster");
    let mut lost_before = false;
    let mut retry = FIRST_RETRY;
    loop {
        let session = tokio::select! {
            () = stop.cancelled() => return,
            session = Session::open(cluster) => session,
        };
        let ended = match session {
            Ok(mut session) => {
                retry = FIRST_RETRY;
                session.run(&rooms, &mut outgoing, &stop, lost_before).await
            }
            Err(err) => Ended::Lost(err.to_string()),
        };
        match ended {
            Ended::Stopped => return,
            Ended::Lost(reason) => {
                if cluster.up.swap(false, std::sync::atomic::Ordering::AcqRel) || !lost_before {
                    lost(cluster, &rooms, &reason);
                }
                lost_before = true;
                discard(cluster, &mut outgoing);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Says that Redis is lost, in the log and to every local client.
fn lost(cluster: &Cluster, rooms: &Rooms, reason: &str) {
    *cluster
        .connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    tracing::error!(
        "lost Redis at {}: {reason}; serving this server's people alone, reconnecting",
        cluster.url
    );
    rooms.tell_everyone(&Event::error(
        ErrorCode::Cluster,
        "the link to the other servers is lost: until it is back, only people on this server \
         see what is said, and what you sent just now may not have gone out",
    ));
}

/// Drops what was queued for a Redis that is gone: a resynchronisation
/// rewrites this server's whole state once it is back.
fn discard(cluster: &Cluster, outgoing: &mut mpsc::UnboundedReceiver<redis::Cmd>) {
    while outgoing.try_recv().is_ok() {
        cluster
            .pending
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

struct Session<'a> {
    cluster: &'a Cluster,
    connection: MultiplexedConnection,
    /// Kept: dropping it would end the subscriptions.
    _subscriptions: PubSubSink,
    messages: PubSubStream,
}

impl<'a> Session<'a> {
    /// Connects, loads the scripts and subscribes.
    async fn open(cluster: &'a Cluster) -> redis::RedisResult<Self> {
        let mut connection = cluster.client.get_multiplexed_async_connection().await?;
        for script in [
            &scripts::SAY,
            &scripts::RAISE_COUNTER,
            &scripts::CLAIM,
            &scripts::RELEASE,
            &scripts::PEOPLE,
        ] {
            script.load_async(&mut connection).await?;
        }
        let (mut subscriptions, messages) = cluster.client.get_async_pubsub().await?.split();
        subscriptions
            .psubscribe(format!("{ROOM_CHANNEL_PREFIX}*"))
            .await?;
        subscriptions.subscribe(server_channel(&cluster.id)).await?;
        Ok(Self {
            cluster,
            connection,
            _subscriptions: subscriptions,
            messages,
        })
    }

    async fn run(
        &mut self,
        rooms: &Rooms,
        outgoing: &mut mpsc::UnboundedReceiver<redis::Cmd>,
        stop: &CancellationToken,
        lost_before: bool,
    ) -> Ended {
        if let Err(err) = self.resync(rooms).await {
            return Ended::Lost(err.to_string());
        }
        if lost_before {
            tracing::info!("Redis at {} is back; resynchronised", self.cluster.url);
            rooms.tell_everyone(&Event::error(
                ErrorCode::Cluster,
                "the link to the other servers is back: everyone sees what is said again",
            ));
        } else {
            tracing::info!(server = %self.cluster.id, "joined the servers on Redis at {}", self.cluster.url);
        }
        let mut refresh = tokio::time::interval(CLAIM_TTL / 3);
        refresh.reset();
        let mut batch = Vec::with_capacity(MAX_PIPELINE);
        loop {
            let step = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.goodbye(outgoing).await;
                    return Ended::Stopped;
                }
                message = self.messages.next() => match message {
                    Some(message) => self.arrived(rooms, &message).await,
                    None => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the subscription connection closed",
                    ))),
                },
                count = outgoing.recv_many(&mut batch, MAX_PIPELINE) => {
                    if count == 0 {
                        return Ended::Stopped;
                    }
                    self.send(&mut batch).await
                }
                _ = refresh.tick() => self.refresh(rooms).await,
            };
            if let Err(err) = step {
                return Ended::Lost(err.to_string());
            }
        }
    }

    /// Sends queued commands in one pipeline, in the order they were made.
    async fn send(&mut self, batch: &mut Vec<redis::Cmd>) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for cmd in batch.iter() {
            pipe.add_command(cmd.clone()).ignore();
        }
        let count = batch.len();
        batch.clear();
        let result = pipe.query_async::<()>(&mut self.connection).await;
        self.cluster
            .pending
            .fetch_sub(count, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Writes this server's whole state into Redis (after a start or an
    /// outage, Redis may have nothing of it), then catches up on what each
    /// local room missed.
    async fn resync(&mut self, rooms: &Rooms) -> redis::RedisResult<()> {
        let cluster = self.cluster;
        let snapshot = rooms.snapshot();
        let mut pipe = redis::pipe();
        cluster.announce(&mut pipe);
        pipe.cmd("DEL").arg(cluster.people_key()).ignore();
        for (name, room) in &snapshot.people {
            pipe.cmd("HSET")
                .arg(cluster.people_key())
                .arg(name)
                .arg(room)
                .ignore();
        }
        for (room, last_id) in &snapshot.rooms {
            if let Some(last_id) = last_id {
                let mut raise = super::evalsha(&scripts::RAISE_COUNTER);
                raise.arg(1).arg(super::counter_key(room)).arg(*last_id);
                pipe.add_command(raise).ignore();
            }
        }
        for (name, _) in &snapshot.people {
            pipe.add_command(cluster.claim_cmd(name));
        }
        let claims: Vec<i64> = pipe.query_async(&mut self.connection).await?;
        for ((name, _), claimed) in snapshot.people.iter().zip(claims) {
            if claimed == 0 {
                tracing::warn!(
                    "the name {name} was taken on another server while Redis was unreachable; \
                     both keep it until one leaves"
                );
            }
        }
        *cluster
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.connection.clone());
        cluster.up.store(true, std::sync::atomic::Ordering::Release);
        for (room, last_id) in snapshot.rooms {
            match last_id {
                Some(_) => self.fill(rooms, &room, None).await?,
                None => match cluster.load(&room).await {
                    Ok(tail) => rooms.synced(&room, tail),
                    Err(err) => tracing::warn!("cannot load the history of room {room}: {err}"),
                },
            }
        }
        cluster.ready.send_replace(true);
        Ok(())
    }

    /// Delivers one message from Redis.
    async fn arrived(&mut self, rooms: &Rooms, message: &redis::Msg) -> redis::RedisResult<()> {
        let channel = message.get_channel_name();
        let payload = String::from_utf8_lossy(message.get_payload_bytes());
        let Some(room) = channel.strip_prefix(ROOM_CHANNEL_PREFIX) else {
            // Our own channel: a private message for someone here.
            match serde_json::from_str::<Event>(&payload) {
                Ok(event) => rooms.private_arrived(event),
                Err(err) => tracing::warn!("unreadable private message from Redis: {err}"),
            }
            return Ok(());
        };
        let Some((id, event)) = payload.split_once(' ').and_then(|(id, json)| {
            Some((
                id.parse::<u64>().ok()?,
                serde_json::from_str::<Event>(json).ok()?,
            ))
        }) else {
            tracing::warn!(room, "unreadable event from Redis");
            return Ok(());
        };
        let event = super::numbered(event, id);
        if let Arrival::Hole { after } = rooms.arrived(room, id, &event, false) {
            self.fill(rooms, room, Some(id)).await?;
            tracing::debug!(
                room,
                after,
                id,
                "filled a hole in the ids from the history stream"
            );
            rooms.arrived(room, id, &event, true);
        }
        Ok(())
    }

    /// Delivers what `room`'s history stream holds after the last id
    /// delivered here, up to (not including) `until`; what the stream no
    /// longer holds becomes a `gap`.
    async fn fill(
        &mut self,
        rooms: &Rooms,
        room: &str,
        until: Option<u64>,
    ) -> redis::RedisResult<()> {
        let Some(after) = rooms.last_id(room) else {
            return Ok(());
        };
        let end = until.map_or_else(|| "+".to_owned(), |until| format!("(0-{until}"));
        let entries: Vec<super::StreamEntry> = redis::cmd("XRANGE")
            .arg(history_key(room))
            .arg(format!("(0-{after}"))
            .arg(end)
            .query_async(&mut self.connection)
            .await?;
        let mut expected = after + 1;
        for entry in entries {
            let Some(event) = entry.event() else { continue };
            if entry.id > expected {
                rooms.gap(room, entry.id - expected);
            }
            rooms.arrived(room, entry.id, &event, true);
            expected = entry.id + 1;
        }
        if let Some(until) = until
            && until > expected
        {
            rooms.gap(room, until - expected);
        }
        Ok(())
    }

    /// Keeps this server alive and its people's names claimed.
    async fn refresh(&mut self, rooms: &Rooms) -> redis::RedisResult<()> {
        let cluster = self.cluster;
        let people = rooms.snapshot().people;
        let mut pipe = redis::pipe();
        cluster.announce(&mut pipe);
        for (name, _) in &people {
            pipe.add_command(cluster.claim_cmd(name));
        }
        let claims: Vec<i64> = pipe.query_async(&mut self.connection).await?;
        for ((name, _), claimed) in people.iter().zip(claims) {
            if claimed == 0 {
                tracing::warn!("the name {name} is claimed by another server too");
            }
        }
        Ok(())
    }

    /// Sends what is still queued (the last departures) and takes this
    /// server off the lists, within a bound.
    async fn goodbye(&mut self, outgoing: &mut mpsc::UnboundedReceiver<redis::Cmd>) {
        let cluster = self.cluster;
        let mut pipe = redis::pipe();
        while let Ok(cmd) = outgoing.try_recv() {
            pipe.add_command(cmd).ignore();
        }
        pipe.cmd("SREM")
            .arg(super::SERVERS_KEY)
            .arg(&cluster.id)
            .ignore();
        pipe.cmd("DEL")
            .arg(cluster.alive_key())
            .arg(cluster.people_key())
            .ignore();
        let sent = tokio::time::timeout(
            GOODBYE_TIMEOUT,
            pipe.query_async::<()>(&mut self.connection),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            tracing::warn!(
                "could not say goodbye to Redis; this server's entries expire by themselves"
            );
        }
    }
}
