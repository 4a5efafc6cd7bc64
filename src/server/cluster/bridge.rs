//! The bridge between this server and Redis: the one task that owns the
//! link. It sends what the registry queued (in order, in pipelines), fans
//! out what Redis publishes to the local rooms, refreshes this server's
//! claims, and when Redis is lost, tells everyone, reconnects with backoff
//! and resynchronises. It alone says whether the link is up (the `watch`
//! the [`Cluster`](super::Cluster) handle reads).
//!
//! It subscribes to every room's channel with one pattern (`chat:room:*`)
//! rather than to the rooms it has members in: a server then never misses a
//! message between a person's arrival and a subscription, at the price of
//! receiving (and dropping, after one map lookup) the traffic of rooms it
//! has nobody in. See docs/internals.md for when that stops being the right
//! choice.
//!
//! The pub/sub connection buffers what arrives without bound, so this task
//! never waits on anything slow between two messages: delivering is a lock
//! and a broadcast send. The exception is a hole in a room's ids, filled from
//! the room's history stream, which happens only around reconnections.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::keys::{self, CLAIM_TTL, ROOM_CHANNEL_PREFIX, ServerId};
use super::stream::{self, with_id};
use super::{Arrival, Registry, connection_config, scripts};
use crate::protocol::{ErrorCode, Event};
use crate::server::metrics::LinkMetrics;

/// Commands sent in one pipeline at most.
const MAX_PIPELINE: usize = 1024;
/// Backoff between reconnection attempts: doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How long the goodbye to Redis may take at shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// The link to Redis, waiting to run.
pub(crate) struct Bridge {
    pub(super) client: redis::Client,
    pub(super) id: ServerId,
    /// The URL without its password, for the log.
    pub(super) url: String,
    /// What the handle queued, in order.
    pub(super) outgoing: mpsc::UnboundedReceiver<redis::Cmd>,
    /// The link's connection while it is up: written here alone.
    pub(super) link: watch::Sender<Option<MultiplexedConnection>>,
    pub(super) metrics: LinkMetrics,
    pub(super) history_len: usize,
}

/// Why a session with Redis ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Bridge {
    /// Runs until `stop` is cancelled (after the last connection has left,
    /// so that its departure reaches the other servers). `ready` is told
    /// once this server has joined the others for the first time.
    pub(crate) async fn run<R: Registry>(
        mut self,
        registry: Arc<R>,
        stop: CancellationToken,
        ready: oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        let mut lost_before = false;
        let mut retry = FIRST_RETRY;
        loop {
            let session = tokio::select! {
                () = stop.cancelled() => return,
                session = Session::open(&self.client, &self.id) => session,
            };
            let ended = match session {
                Ok(session) => {
                    retry = FIRST_RETRY;
                    let mut session = Running {
                        bridge: &mut self,
                        session,
                        registry: &*registry,
                    };
                    session.run(&stop, lost_before, &mut ready).await
                }
                Err(err) => Ended::Lost(err.to_string()),
            };
            match ended {
                Ended::Stopped => return,
                Ended::Lost(reason) => {
                    let was_up = self.link.send_replace(None).is_some();
                    self.metrics.up.set(0);
                    if was_up || !lost_before {
                        self.lost(&*registry, &reason);
                    }
                    lost_before = true;
                    self.discard();
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
    fn lost(&self, registry: &impl Registry, reason: &str) {
        tracing::error!(
            "lost Redis at {}: {reason}; serving this server's people alone, reconnecting",
            self.url
        );
        registry.tell_everyone(&Event::error(
            ErrorCode::Cluster,
            "the link to the other servers is lost: until it is back, only people on this server \
             see what is said, and what you sent just now may not have gone out",
        ));
    }

    /// Drops what was queued for a Redis that is gone: a resynchronisation
    /// rewrites this server's whole state once it is back.
    fn discard(&mut self) {
        while self.outgoing.try_recv().is_ok() {
            self.metrics.pending.dec();
        }
    }
}

/// The connections of one session with Redis.
struct Session {
    connection: MultiplexedConnection,
    /// Kept: dropping it would end the subscriptions.
    _subscriptions: PubSubSink,
    messages: PubSubStream,
}

impl Session {
    /// Connects, loads the scripts and subscribes.
    async fn open(client: &redis::Client, id: &ServerId) -> redis::RedisResult<Self> {
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await?;
        for script in scripts::ALL {
            script.load_async(&mut connection).await?;
        }
        let (mut subscriptions, messages) = client.get_async_pubsub().await?.split();
        subscriptions.psubscribe(keys::room_channels()).await?;
        subscriptions.subscribe(id.channel()).await?;
        Ok(Self {
            connection,
            _subscriptions: subscriptions,
            messages,
        })
    }
}

/// A session at work: the bridge, its connections, and the registry it
/// delivers to.
struct Running<'a, R> {
    bridge: &'a mut Bridge,
    session: Session,
    registry: &'a R,
}

impl<R: Registry> Running<'_, R> {
    async fn run(
        &mut self,
        stop: &CancellationToken,
        lost_before: bool,
        ready: &mut Option<oneshot::Sender<()>>,
    ) -> Ended {
        if let Err(err) = self.resync().await {
            return Ended::Lost(err.to_string());
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        let url = &self.bridge.url;
        if lost_before {
            self.bridge.metrics.reconnects.inc();
            tracing::info!("Redis at {url} is back; resynchronised");
            self.registry.tell_everyone(&Event::error(
                ErrorCode::Cluster,
                "the link to the other servers is back: everyone sees what is said again",
            ));
        } else {
            tracing::info!(server = %self.bridge.id.as_str(), "joined the servers on Redis at {url}");
        }
        let mut refresh = tokio::time::interval(CLAIM_TTL / 3);
        refresh.reset();
        let mut batch = Vec::with_capacity(MAX_PIPELINE);
        loop {
            let step = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.goodbye().await;
                    return Ended::Stopped;
                }
                message = self.session.messages.next() => match message {
                    Some(message) => self.arrived(&message).await,
                    None => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the subscription connection closed",
                    ))),
                },
                count = self.bridge.outgoing.recv_many(&mut batch, MAX_PIPELINE) => {
                    if count == 0 {
                        return Ended::Stopped;
                    }
                    self.send(&mut batch).await
                }
                _ = refresh.tick() => self.refresh().await,
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
        let result = pipe.query_async::<()>(&mut self.session.connection).await;
        self.bridge.metrics.pending.dec_by(count as i64);
        result
    }

    /// Writes this server's whole state into Redis (after a start or an
    /// outage, Redis may have nothing of it), puts the link up, then catches
    /// up on what each local room missed.
    async fn resync(&mut self) -> redis::RedisResult<()> {
        let id = &self.bridge.id;
        let snapshot = self.registry.snapshot();
        let mut pipe = redis::pipe();
        id.announce(&mut pipe);
        pipe.cmd("DEL").arg(id.people_key()).ignore();
        for (name, room) in &snapshot.people {
            pipe.cmd("HSET")
                .arg(id.people_key())
                .arg(name)
                .arg(room)
                .ignore();
        }
        for (room, last_id) in &snapshot.rooms {
            if let Some(last_id) = last_id {
                let mut raise = scripts::call(&scripts::RAISE_COUNTER);
                raise.arg(1).arg(keys::counter(room)).arg(*last_id);
                pipe.add_command(raise).ignore();
            }
        }
        for (name, _) in &snapshot.people {
            pipe.add_command(scripts::claim(id, name));
        }
        let claims: Vec<i64> = pipe.query_async(&mut self.session.connection).await?;
        for ((name, _), claimed) in snapshot.people.iter().zip(claims) {
            if claimed == 0 {
                tracing::warn!(
                    "the name {name} was taken on another server while Redis was unreachable; \
                     both keep it until one leaves"
                );
            }
        }
        self.bridge
            .link
            .send_replace(Some(self.session.connection.clone()));
        self.bridge.metrics.up.set(1);
        for (room, last_id) in snapshot.rooms {
            if last_id.is_some() {
                self.fill(&room, None).await?;
                continue;
            }
            let tail =
                stream::tail(&mut self.session.connection, &room, self.bridge.history_len).await;
            match tail {
                Ok(tail) => self.registry.synced(&room, tail),
                Err(err) => tracing::warn!("cannot load the history of room {room}: {err}"),
            }
        }
        Ok(())
    }

    /// Delivers one message from Redis.
    async fn arrived(&mut self, message: &redis::Msg) -> redis::RedisResult<()> {
        let channel = message.get_channel_name();
        let payload = String::from_utf8_lossy(message.get_payload_bytes());
        let Some(room) = channel.strip_prefix(ROOM_CHANNEL_PREFIX) else {
            // Our own channel: a private message for someone here.
            match serde_json::from_str::<Event>(&payload) {
                Ok(event) => self.registry.private_arrived(event),
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
        let event = with_id(event, id);
        if let Arrival::Hole { after } = self.registry.arrived(room, id, &event, false) {
            self.fill(room, Some(id)).await?;
            tracing::debug!(
                room,
                after,
                id,
                "filled a hole in the ids from the history stream"
            );
            self.registry.arrived(room, id, &event, true);
        }
        Ok(())
    }

    /// Delivers what `room`'s history stream holds after the last id
    /// delivered here, up to (not including) `until`; what the stream no
    /// longer holds becomes a `gap`.
    async fn fill(&mut self, room: &str, until: Option<u64>) -> redis::RedisResult<()> {
        let Some(after) = self.registry.last_id(room) else {
            return Ok(());
        };
        let entries = stream::after(&mut self.session.connection, room, after, until).await?;
        let mut expected = after + 1;
        for entry in entries {
            let Some(event) = entry.event() else { continue };
            if entry.id > expected {
                self.registry.gap(room, entry.id - expected);
            }
            self.registry.arrived(room, entry.id, &event, true);
            expected = entry.id + 1;
        }
        if let Some(until) = until
            && until > expected
        {
            self.registry.gap(room, until - expected);
        }
        Ok(())
    }

    /// Keeps this server alive and its people's names claimed.
    async fn refresh(&mut self) -> redis::RedisResult<()> {
        let id = &self.bridge.id;
        let people = self.registry.snapshot().people;
        let mut pipe = redis::pipe();
        id.announce(&mut pipe);
        for (name, _) in &people {
            pipe.add_command(scripts::claim(id, name));
        }
        let claims: Vec<i64> = pipe.query_async(&mut self.session.connection).await?;
        for ((name, _), claimed) in people.iter().zip(claims) {
            if claimed == 0 {
                tracing::warn!("the name {name} is claimed by another server too");
            }
        }
        Ok(())
    }

    /// Sends what is still queued (the last departures) and takes this
    /// server off the lists, within a bound.
    async fn goodbye(&mut self) {
        let mut pipe = redis::pipe();
        while let Ok(cmd) = self.bridge.outgoing.try_recv() {
            self.bridge.metrics.pending.dec();
            pipe.add_command(cmd).ignore();
        }
        self.bridge.id.retire(&mut pipe);
        let sent = tokio::time::timeout(
            GOODBYE_TIMEOUT,
            pipe.query_async::<()>(&mut self.session.connection),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            tracing::warn!(
                "could not say goodbye to Redis; this server's entries expire by themselves"
            );
        }
    }
}
