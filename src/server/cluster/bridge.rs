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
//! What arrives is checked like client input ([`Inbound`]) before anyone
//! sees it: an event that is not one a server of ours could have published
//! is logged and dropped. And one command Redis refuses fails alone (logged);
//! only the link failing (I/O, a timeout) ends the session.
//!
//! Both ways, what waits is bounded in bytes: the commands queued for Redis
//! ([`outbox`](super::outbox)) and what Redis published that this task has
//! not taken yet ([`inbox`](super::inbox)). Either one full ends the session
//! as a lost link does, and the resynchronisation that follows mends what
//! was dropped. This task waits on nothing slow between two messages:
//! delivering is a lock and a broadcast send; the exceptions (a hole in a
//! room's ids filled from its history stream, a room's counter read, a
//! pipeline sent) are one round trip to Redis each, within the response
//! timeout.
//!
//! One concept in some 680 lines: the session's loop, its resynchronisation
//! and the filling of holes share the one connection and the link state, so
//! they stay in the one type that owns them.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, RedisResult, Value};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::inbound::Inbound;
use super::inbox::{self, INCOMING_QUEUE_BYTES, InboxFull, InboxReader, Incoming};
use super::keys::{self, CLAIM_TTL, ROOM_CHANNEL_PREFIX, ServerId};
use super::outbox::{self, OUTGOING_QUEUE_BYTES, OutboxFull, OutboxReader};
use super::stream;
use super::{Arrival, Moderation, Registry, Snapshot, connection_config, is_link_failure, scripts};
use crate::protocol::{ErrorCode, Event};
use crate::server::metrics::LinkMetrics;

/// Commands sent in one pipeline at most.
const MAX_PIPELINE: usize = 1024;
/// Bytes of commands (as the queue counts them) in one pipeline, past
/// which the rest of a batch goes in the next: a pipeline is copied twice
/// on its way out (packed, then into the connection's write buffer, which
/// keeps its size), so this, not the queue's bound, sets what sending
/// costs besides the queue. Only a batch of large messages is cut, at the
/// price of one more round trip per MiB.
pub(super) const MAX_PIPELINE_BYTES: usize = 1 << 20;
/// Steps of taking a crashed server's people off the lists per refresh:
/// 100,000 people per refresh at most, each step about a millisecond.
const MAX_REAP_STEPS: usize = 100;
/// Backoff between reconnection attempts: doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How long the goodbye to Redis may take at shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// The link to Redis, waiting to run.
pub(crate) struct Bridge {
    pub(super) client: redis::Client,
    /// The same Redis, spoken to in RESP3: the subscriptions' connection.
    pub(super) subscriber: redis::Client,
    pub(super) id: ServerId,
    /// The URL without its password, for the log.
    pub(super) url: String,
    /// What the handle queued, in order.
    pub(super) outgoing: OutboxReader,
    /// The link's connection while it is up: written here alone.
    pub(super) link: watch::Sender<Option<MultiplexedConnection>>,
    pub(super) metrics: LinkMetrics,
    pub(super) history_len: usize,
    /// `--max-stored-rooms`, for the counters raised at a resynchronisation.
    pub(super) max_stored_rooms: usize,
    /// The checks on everything that arrives from Redis.
    pub(super) inbound: Inbound,
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
                session = Session::open(&self) => session,
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
        self.outgoing.discard();
    }
}

/// The connections of one session with Redis.
struct Session {
    connection: MultiplexedConnection,
    /// Kept: dropping it would end the subscriptions.
    _subscriptions: MultiplexedConnection,
    /// What the subscriptions bring, bounded.
    messages: InboxReader,
}

impl Session {
    /// Connects, loads the scripts and subscribes.
    async fn open(bridge: &Bridge) -> redis::RedisResult<Self> {
        let mut connection = bridge
            .client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await?;
        scripts::load(&mut connection).await?;
        let largest = inbox::largest_message(bridge.inbound.max_message_bytes);
        let (inbox, messages) = inbox::inbox(&bridge.metrics.incoming, largest);
        let config = connection_config().set_push_sender(inbox);
        let mut subscriptions = bridge
            .subscriber
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        subscriptions.psubscribe(keys::room_channels()).await?;
        subscriptions.subscribe(bridge.id.channel()).await?;
        subscriptions.subscribe(keys::MODERATION_CHANNEL).await?;
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
        let full = (self.bridge.outgoing.full(), self.session.messages.full());
        loop {
            let step = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.goodbye().await;
                    return Ended::Stopped;
                }
                () = full.0.happened() => {
                    return Ended::Lost(format!(
                        "it did not take what this server said as fast as it was said \
                         ({} MiB were waiting)",
                        OUTGOING_QUEUE_BYTES >> 20
                    ));
                }
                message = self.session.messages.next() => match message {
                    Incoming::Message(message) => self.arrived(&message).await,
                    Incoming::Overflowed => {
                        return Ended::Lost(format!(
                            "it published faster than this server could take \
                             ({} MiB were waiting); catching up from the history streams",
                            INCOMING_QUEUE_BYTES >> 20
                        ));
                    }
                    Incoming::Closed => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the subscription connection closed",
                    ))),
                },
                count = self.bridge.outgoing.recv_many(&mut batch, MAX_PIPELINE) => {
                    if count == 0 {
                        return Ended::Stopped;
                    }
                    self.send(&mut batch, &full).await
                }
                _ = refresh.tick() => self.refresh().await,
            };
            if let Err(err) = step {
                return Ended::Lost(err.to_string());
            }
        }
    }

    /// Sends queued commands in one pipeline, in the order they were made;
    /// one that Redis refuses is logged and lost, alone. A queue (either
    /// way) that fills meanwhile cuts the wait short: the session is over,
    /// and the loop says why next.
    async fn send(
        &mut self,
        batch: &mut Vec<Cmd>,
        (outbox, inbox): &(OutboxFull, InboxFull),
    ) -> RedisResult<()> {
        let outgoing = &self.bridge.outgoing;
        // They count as queued until Redis has answered: they are held
        // until then.
        let taken = outgoing.taken(batch);
        let sending = send_in_pipelines(&mut self.session.connection, batch.drain(..));
        let result = tokio::select! {
            biased;
            () = outbox.happened() => Ok(()),
            () = inbox.happened() => Ok(()),
            result = sending => result,
        };
        outgoing.give_back(taken);
        result
    }

    /// Writes this server's whole state into Redis (after a start or an
    /// outage, Redis may have nothing of it), puts the link up, then catches
    /// up on what each local room missed.
    async fn resync(&mut self) -> redis::RedisResult<()> {
        let id = &self.bridge.id;
        let snapshot = self.registry.snapshot();
        execute(&mut self.session.connection, id.announce()).await?;
        // What Redis still lists of ours goes first, in bounded steps: it
        // may be from before an outage, and people have come and gone.
        loop {
            let mut clear = scripts::call(&scripts::CLEAR);
            clear.arg(0).arg(id.as_str()).arg(scripts::STEP);
            let left = count_of(&mut self.session.connection, clear).await?;
            if left.is_none_or(|left| left == 0) {
                break;
            }
        }
        let mut commands: Vec<Cmd> = snapshot
            .people
            .iter()
            .map(|(name, room)| scripts::place(id, name, room))
            .collect();
        for (room, last_id) in &snapshot.rooms {
            if let Some(last_id) = last_id {
                commands.push(scripts::raise_counter(
                    room,
                    *last_id,
                    self.bridge.max_stored_rooms,
                ));
            }
        }
        commands.push(scripts::touch(
            snapshot.rooms.iter().map(|(room, _)| room.as_str()),
        ));
        commands.extend(
            snapshot
                .ops
                .iter()
                .map(|op| super::moderation::op_command(id, op)),
        );
        let claims_from = commands.len();
        commands.extend(
            snapshot
                .people
                .iter()
                .map(|(name, _)| scripts::claim(id, name)),
        );
        let answers = execute(&mut self.session.connection, commands).await?;
        for ((name, _), claimed) in snapshot.people.iter().zip(&answers[claims_from..]) {
            if is_refused_claim(claimed) {
                tracing::warn!(
                    "the name {name} was taken on another server while Redis was unreachable; \
                     both keep it until one leaves"
                );
            }
        }
        // Redis's bans are the truth, those given and lifted meanwhile
        // elsewhere included (a ban given here while it was away is lost).
        let bans = super::moderation::read_bans(&mut self.session.connection).await;
        if let Some(bans) = unless_refused(bans, "the bans")? {
            self.registry.bans_loaded(bans);
        }
        // The registered names too: a name registered here while Redis
        // was away is lost, as a ban is.
        let names = super::moderation::read_names(&mut self.session.connection).await;
        if let Some(names) = unless_refused(names, "the registered names")? {
            self.registry.names_loaded(names);
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
            let tail = stream::tail(
                &mut self.session.connection,
                &self.bridge.inbound,
                &room,
                self.bridge.history_len,
            )
            .await;
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
        let payload = message.get_payload_bytes();
        let inbound = &self.bridge.inbound;
        if channel == keys::MODERATION_CHANNEL {
            match inbound.moderation(payload) {
                Ok(Moderation::Take {
                    holder,
                    taker,
                    name,
                }) => {
                    // Its holder is here, and the taker is not (a take
                    // here closed them already).
                    let id = self.bridge.id.as_str();
                    if holder == id && taker != id {
                        self.registry.taken_over(&name);
                    }
                }
                Ok(moderation) => self.registry.moderated(moderation),
                Err(reason) => tracing::warn!("dropped a moderation event from Redis: {reason}"),
            }
            return Ok(());
        }
        let Some(room) = channel.strip_prefix(ROOM_CHANNEL_PREFIX) else {
            // Our own channel: a private message for someone here.
            match inbound.private(payload) {
                Ok(event) => self.registry.private_arrived(event),
                Err(reason) => tracing::warn!("dropped a private message from Redis: {reason}"),
            }
            return Ok(());
        };
        let (id, event) = match inbound.room_event(room, payload, self.registry.last_id(room)) {
            Ok(arrived) => arrived,
            Err(reason) => {
                tracing::warn!(room, "dropped an event from Redis: {reason}");
                return Ok(());
            }
        };
        let arrival = match self.registry.arrived(room, id, &event, false) {
            Arrival::Behind { last_id } if self.started_again(room, id, last_id).await? => {
                self.registry.restart(room, last_id);
                self.registry.arrived(room, id, &event, false)
            }
            arrival => arrival,
        };
        if let Arrival::Hole { after } = arrival {
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

    /// Whether `room`'s ids started again in Redis: `id` has just arrived,
    /// at or below `last_id`, the room's last id here.
    ///
    /// Counters only go up, but for a room Redis dropped (past
    /// `--max-stored-rooms`) and someone wrote again: its counter starts
    /// from 1. So such an id is a late copy of a message delivered already
    /// (it came both from the stream and from the channel, around a load or
    /// a fill) while the counter is at or past `last_id`; once the counter
    /// is below it, the room started again, and `id` is one of its new ids
    /// if the counter has given it (an old id past the new counter is a late
    /// copy still). The room here then starts again too and delivers it (id
    /// 1, or a hole filled from the new stream). Taking every such id for a
    /// copy would leave the room silent here until its new ids passed the
    /// old last id. Not chosen: id 1 alone as the sign (a late copy of
    /// message 1 after a load would be delivered twice), or a notice
    /// published at the drop (a room being loaded at that moment would miss
    /// it). What this misses: a restarted room whose counter is already
    /// back at `last_id` when its first id arrives here (this server behind
    /// by as many messages as the room had): those up to `last_id` are
    /// dropped here as copies, and the room goes on from the next.
    async fn started_again(&mut self, room: &str, id: u64, last_id: u64) -> RedisResult<bool> {
        match stream::counter(&mut self.session.connection, room).await {
            Ok(counter) => Ok(id <= counter && counter < last_id),
            Err(err) if is_link_failure(&err) => Err(err),
            Err(err) => {
                tracing::warn!("cannot read the counter of room {room}: {err}");
                Ok(false)
            }
        }
    }

    /// Delivers what `room`'s history stream holds after the last id
    /// delivered here, up to (not including) `until`; what the stream no
    /// longer holds becomes a `gap`.
    async fn fill(&mut self, room: &str, until: Option<u64>) -> RedisResult<()> {
        let Some(after) = self.registry.last_id(room) else {
            return Ok(());
        };
        let connection = &mut self.session.connection;
        let entries =
            match stream::after(connection, &self.bridge.inbound, room, after, until).await {
                Ok(entries) => entries,
                Err(err) if is_link_failure(&err) => return Err(err),
                Err(err) => {
                    tracing::warn!("cannot read the history stream of room {room}: {err}");
                    Vec::new()
                }
            };
        let mut expected = after + 1;
        for (id, event) in entries {
            if id > expected {
                self.registry.gap(room, id - expected);
            }
            self.registry.arrived(room, id, &event, true);
            expected = id + 1;
        }
        if let Some(until) = until
            && until > expected
        {
            self.registry.gap(room, until - expected);
        }
        Ok(())
    }

    /// Keeps this server alive, its people's names claimed, and the rooms
    /// it holds among the most recently written, so that Redis drops them
    /// last.
    async fn refresh(&mut self) -> RedisResult<()> {
        self.reap().await?;
        let id = &self.bridge.id;
        let Snapshot { rooms, people, .. } = self.registry.snapshot();
        let mut commands = Vec::from(id.announce());
        commands.push(scripts::touch(rooms.iter().map(|(room, _)| room.as_str())));
        let claims_from = commands.len();
        commands.extend(people.iter().map(|(name, _)| scripts::claim(id, name)));
        let answers = execute(&mut self.session.connection, commands).await?;
        for ((name, _), claimed) in people.iter().zip(&answers[claims_from..]) {
            if is_refused_claim(claimed) {
                tracing::warn!("the name {name} is claimed by another server too");
            }
        }
        Ok(())
    }

    /// Takes the people of crashed servers off the lists, in bounded
    /// steps with other work between them, until none is left or
    /// [`MAX_REAP_STEPS`] steps are done (the next refresh goes on).
    async fn reap(&mut self) -> RedisResult<()> {
        for _ in 0..MAX_REAP_STEPS {
            let mut reap = scripts::call(&scripts::REAP);
            reap.arg(0).arg(scripts::STEP);
            let dead = count_of(&mut self.session.connection, reap).await?;
            if dead.is_none_or(|dead| dead == 0) {
                break;
            }
        }
        Ok(())
    }

    /// Sends what is still queued (the last departures) and takes this
    /// server off the lists, within a bound.
    async fn goodbye(&mut self) {
        let mut commands = Vec::new();
        while let Some(cmd) = self.bridge.outgoing.try_recv() {
            commands.push(cmd);
        }
        commands.extend(self.bridge.id.retire());
        let sent = tokio::time::timeout(
            GOODBYE_TIMEOUT,
            send_in_pipelines(&mut self.session.connection, commands),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            tracing::warn!(
                "could not say goodbye to Redis; this server's entries expire by themselves"
            );
        }
    }
}

/// Runs `commands` in order, in pipelines of [`MAX_PIPELINE_BYTES`] (one
/// command at least each); one that Redis refuses is logged, alone.
///
/// # Errors
///
/// Only the link failing, as for [`execute`].
async fn send_in_pipelines(
    connection: &mut MultiplexedConnection,
    commands: impl IntoIterator<Item = Cmd>,
) -> RedisResult<()> {
    let mut commands = commands.into_iter().peekable();
    while commands.peek().is_some() {
        let mut pipeline = Vec::new();
        let mut bytes = 0;
        while bytes < MAX_PIPELINE_BYTES
            && let Some(cmd) = commands.next()
        {
            bytes += outbox::cost(&cmd);
            pipeline.push(cmd);
        }
        execute(connection, pipeline).await?;
    }
    Ok(())
}

/// Runs `commands` in one pipeline, in order, and gives each one's answer.
///
/// # Errors
///
/// Only the link failing (see [`is_link_failure`]), which ends the session.
/// A command Redis refuses fails alone: its answer is the `Err`, logged
/// here; one refused because Redis no longer has our scripts is retried
/// once, after they are loaded again. (A retried call then runs after the
/// commands that followed it in the pipeline: a notice may overtake a
/// message, once, after Redis forgot the scripts.)
async fn execute(
    connection: &mut MultiplexedConnection,
    commands: impl IntoIterator<Item = Cmd>,
) -> RedisResult<Vec<RedisResult<Value>>> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for cmd in commands {
        pipe.add_command(cmd);
    }
    if pipe.is_empty() {
        return Ok(Vec::new());
    }
    let mut answers: Vec<RedisResult<Value>> = pipe.query_async(connection).await?;
    let missing: Vec<usize> = (0..answers.len())
        .filter(|&n| matches!(&answers[n], Err(err) if scripts::is_missing(err)))
        .collect();
    if !missing.is_empty() {
        tracing::info!("Redis no longer had our scripts; loading them again");
        match scripts::load(connection).await {
            Ok(()) => {
                let mut again = redis::pipe();
                again.ignore_errors();
                let cmds: Vec<&Cmd> = pipe.cmd_iter().collect();
                for &n in &missing {
                    again.add_command(cmds[n].clone());
                }
                let retried: Vec<RedisResult<Value>> = again.query_async(connection).await?;
                for (n, answer) in missing.into_iter().zip(retried) {
                    answers[n] = answer;
                }
            }
            Err(err) if is_link_failure(&err) => return Err(err),
            Err(err) => tracing::warn!("cannot load the scripts into Redis: {err}"),
        }
    }
    for (cmd, answer) in pipe.cmd_iter().zip(&answers) {
        if let Err(err) = answer {
            tracing::warn!(
                "Redis refused a command ({}): {err}",
                scripts::describe(cmd)
            );
        }
    }
    Ok(answers)
}

/// Runs `cmd`, whose answer is a count, as [`execute`] does; `None` if
/// Redis refused it (logged there).
async fn count_of(connection: &mut MultiplexedConnection, cmd: Cmd) -> RedisResult<Option<u64>> {
    let answers = execute(connection, [cmd]).await?;
    Ok(match answers.into_iter().next() {
        Some(Ok(value)) => redis::from_redis_value(value).ok(),
        _ => None,
    })
}

/// Whether the answer to a claim says another server has the name (a claim
/// Redis refused is logged where it failed).
fn is_refused_claim(answer: &RedisResult<Value>) -> bool {
    matches!(answer, Ok(Value::Int(0)))
}

/// What a read of `what` gave, `None` if Redis refused it (logged: the
/// session goes on without it); an error only if the link failed.
fn unless_refused<T>(read: redis::RedisResult<T>, what: &str) -> redis::RedisResult<Option<T>> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(err) if is_link_failure(&err) => Err(err),
        Err(err) => {
            tracing::warn!("cannot read {what} from Redis: {err}");
            Ok(None)
        }
    }
}
