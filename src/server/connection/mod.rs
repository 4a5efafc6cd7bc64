//! One client, from the upgrade to the close frame.
//!
//! A single task per connection `select!`s between what the peer sends, what
//! its room broadcasts, what the registry tells it (private messages, and
//! orders such as "close": shutdown is one) and the keepalive timer, so a
//! connection costs one task. Writes are batched: what the room has queued
//! is fed to the socket and flushed in groups, one system call for many
//! frames (`write`). How a connection ends decides its close frame and its
//! leave notice (`ending`).
//!
//! Here, in some 470 lines: the connection's state, its loop, and what it
//! does with each frame, event and order. What each command does is
//! `commands`, a further `impl Connection`; opening (and the hold), writing
//! and ending are their own files too.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, broadcast};
use tokio::time::{Instant, timeout};
use tokio_websockets::{CloseCode, Message, WebSocketStream};

mod commands;
mod ending;
mod hold;
mod ignores;
mod open;
mod write;

use super::backpressure::Backpressure;
use super::encoded::{EncodedEvent, QueuedEvent};
use super::history::{Said, StoredMessage};
use super::metrics::{Cause, Metrics};
use super::rooms::{Control, Rooms, Told};
use super::unsent::Unsent;
use crate::config::Limits;
use crate::protocol::command::help_event;
use crate::protocol::{
    Command, ErrorCode, Event, Format, Input, JoinRequest, LimitsInfo, parse_input,
    strip_line_ending,
};
use crate::rate::{FloodGuard, Verdict};
use crate::sanitize::strip_controls;
use ending::Ending;
use hold::{Entry, prove};
use ignores::Ignores;
pub(crate) use ignores::MAX_IGNORES;
pub(crate) use open::refuse_overloaded;
use open::{insecure, is_secure, open, replayed};
use write::{WriteError, encode, queued, write_frames};

/// Room events sent in one go; bounds how long one busy connection keeps its
/// worker thread before the others get a turn.
const MAX_BATCH: usize = 256;
/// How often a held-back sender looks at its room's queue again.
const BACKLOG_POLL: Duration = Duration::from_millis(1);
/// Pings a peer may send in one second; one more closes the connection with
/// 1008. A client that checks the link pings every few seconds at most.
pub(crate) const MAX_PINGS_PER_SECOND: u32 = 10;
/// How long the closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What every connection needs from the server, and nothing more.
pub(crate) struct Context {
    pub limits: Limits,
    /// The welcome text.
    pub motd: String,
    /// Messages each room keeps, as the welcome states it.
    pub history_len: usize,
    /// Speaks WebSocket on an upgraded socket, within the frame limit.
    pub websocket: tokio_websockets::ServerBuilder,
    pub rooms: Arc<Rooms>,
    /// What slow readers may owe beyond their allowance, server-wide.
    pub unsent: Unsent,
    pub metrics: Metrics,
    /// Whether the server speaks TLS (a password sent to it is then safe
    /// on its way).
    pub tls: bool,
}

/// The socket of an upgraded connection.
type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// A registered client and its socket.
struct Connection<S> {
    ws: WebSocketStream<S>,
    context: Arc<Context>,
    format: Format,
    name: String,
    room: String,
    /// The client's address (the peer's, or what a trusted proxy forwarded):
    /// what per-address limits and bans go by.
    address: IpAddr,
    events_rx: broadcast::Receiver<QueuedEvent>,
    /// `None` when the server runs without a rate limit. Boxed, as the
    /// next field, so that a listener, which never sends, does not carry
    /// them inline (issue 17's memory per idle connection).
    flood: Option<Box<FloodGuard>>,
    /// Set while our last message left the room's queue backed up: we do not
    /// read from our peer until the room has caught up (see `backpressure`).
    held_back: Option<Box<Backpressure>>,
    /// When the current second of pings began, and the pings in it.
    pings: (Instant, u32),
    /// Whose messages this connection is not sent (`/ignore`).
    ignores: Ignores,
    /// What the registry tells this connection (the loop waits on it): a
    /// frame that arrives once it says "close" is not acted on.
    control: Arc<Control>,
}

/// Serves one connection from `address`, from its upgrade to its close,
/// holding its place under the connection cap.
///
/// The returned future is what an idle connection costs for its whole
/// life, so what only the start needs (the upgrade, the registration, the
/// history to replay) is boxed, and gone once the greeting is sent. Not an
/// `async fn`: its arguments would stay in its future, unused, for as long
/// as the connection lives (rust-lang/rust#62958), some 200 bytes in all.
pub(crate) fn serve(
    on_upgrade: OnUpgrade,
    request: JoinRequest,
    address: IpAddr,
    context: Arc<Context>,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    let control = Arc::new(Control::default());
    let start = Box::pin(open(
        on_upgrade,
        request,
        address,
        context,
        Arc::clone(&control),
    ));
    async move {
        let Some((mut conn, greeted)) = start.await else {
            return;
        };
        let ending = match greeted {
            Ok(()) => conn.run(&control).await,
            Err(ending) => ending,
        };
        // The place is free once the person has left, not after the closing
        // handshake (up to a second more), so whoever sees the leave notice
        // and connects at once gets in.
        drop(permit);
        conn.depart(&ending, &control);
        // Boxed for the same reason as `on_message`: needed once, at the end.
        Box::pin(conn.close(ending)).await;
    }
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Leaves the room and the registry, for the reason `ending` gives.
    fn depart(&self, ending: &Ending, control: &Arc<Control>) {
        self.context.rooms.disconnect(
            &self.name,
            &self.room,
            &ending.leave_reason(),
            ending.is_held(),
            control,
        );
        if let Some(cause) = ending.cause() {
            self.context.metrics.closed(cause);
        }
        tracing::debug!(name = %self.name, address = %self.address, reason = %ending.leave_reason(), "disconnected");
    }

    async fn run(&mut self, control: &Control) -> Ending {
        let ping_interval = self.context.limits.ping_interval;
        // One timer, reset at each ping: kept in the task (an `Interval`
        // would box its timer, another allocation per connection).
        let mut ping = std::pin::pin!(tokio::time::sleep(ping_interval));
        let mut awaiting_pong = false;
        // Made once and polled again on each turn of the loop: made anew, it
        // would register and unregister a waiter every time.
        let mut told = std::pin::pin!(control.wait());

        loop {
            let step = tokio::select! {
                // In an async block so that the timer is only made when polled
                // (select! builds the futures of disabled branches too), and
                // boxed so that it is not part of every connection's size.
                () = async { Box::pin(tokio::time::sleep(BACKLOG_POLL)).await }, if self.held_back.is_some() => {
                    let backlog = self.context.rooms.backlog(&self.room);
                    let capacity = self.context.limits.room_queue_len;
                    if let Some(wait) = &mut self.held_back
                        && !wait.still_waiting(backlog, capacity, Instant::now())
                    {
                        self.held_back = None;
                    }
                    Ok(())
                }
                frame = self.ws.next(), if self.held_back.is_none() => {
                    awaiting_pong = false;
                    match frame {
                        // Boxed: handling a frame from the peer (commands and
                        // all) is the largest state of this task, and a
                        // listener rarely needs it; inline, every connection
                        // would carry its room for its whole life.
                        Some(Ok(message)) => Box::pin(self.on_message(message)).await,
                        Some(Err(tokio_websockets::Error::PayloadTooLong { max_len, .. })) => {
                            Err(Ending::TooBig { max_len })
                        }
                        Some(Err(err)) => {
                            tracing::debug!(name = %self.name, "connection failed: {err}");
                            Err(Ending::Disconnected)
                        }
                        None => Err(Ending::Disconnected),
                    }
                }
                event = self.events_rx.recv() => self.deliver(event).await,
                () = &mut told => {
                    told.set(control.wait());
                    // Boxed: the largest of these states (176 bytes against
                    // a delivery's 112), and rare (private messages, orders).
                    Box::pin(self.obey(control.take())).await
                }
                () = &mut ping => {
                    if awaiting_pong {
                        Err(Ending::Unresponsive)
                    } else {
                        awaiting_pong = true;
                        ping.as_mut().reset(Instant::now() + ping_interval);
                        self.write([Message::ping(bytes::Bytes::new())]).await
                    }
                }
            };
            if let Err(ending) = step {
                return ending;
            }
        }
    }

    fn welcome(&self, people: Option<usize>, topic: Option<String>) -> Event {
        let context = &self.context;
        Event::Welcome {
            motd: context.motd.clone(),
            name: self.name.clone(),
            room: self.room.clone(),
            history: context.history_len,
            limits: LimitsInfo {
                max_message_bytes: context.limits.max_message_bytes,
                per_second: context.limits.messages_per_second,
                burst: context.limits.message_burst,
            },
            people,
            topic,
        }
    }

    /// Acts on what the registry told this connection: its private messages
    /// go out after what the room has queued, then an order to close ends it.
    async fn obey(&mut self, told: Told) -> Result<(), Ending> {
        let format = self.format;
        // Each gives back what it drew from the pool once it is a frame,
        // which draws for itself as it is written.
        let ignores = &self.ignores;
        let private = told
            .private
            .into_iter()
            .filter(|(event, _drawn)| !ignores.hides_private(event))
            .map(|(event, _drawn)| encode(format, &event));
        let metrics = &self.context.metrics;
        let batch = queued(&mut self.events_rx, 0, format, metrics, ignores).chain(private);
        let result = write_frames(&mut self.ws, batch, &self.context).await;
        self.written(result)?;
        match told.close {
            Some(closing) => Err(Ending::Ordered(closing)),
            None => Ok(()),
        }
    }

    /// Handles one frame from the peer.
    async fn on_message(&mut self, message: Message) -> Result<(), Ending> {
        // Ordered closed (taken over by `/identify`, kicked): its name or
        // its place may be someone else's already, so it says nothing more.
        if self.control.is_closing() {
            return Ok(());
        }
        if let Some((_code, reason)) = message.as_close() {
            // A close frame is a deliberate goodbye, unlike a dropped socket.
            return Err(Ending::quit(reason));
        }
        if message.is_text() || message.is_binary() {
            match self
                .flood
                .as_mut()
                .map_or(Verdict::Allowed, |f| f.check(Instant::now()))
            {
                Verdict::Allowed => {}
                Verdict::Dropped => {
                    self.context.metrics.rate_limited.inc();
                    let limits = &self.context.limits;
                    let message = format!(
                        "slow down: at most {} messages a second (bursts of {}); that one was dropped",
                        limits.messages_per_second, limits.message_burst
                    );
                    return self
                        .reply(Event::error(ErrorCode::RateLimited, message))
                        .await;
                }
                Verdict::Abusive => return Err(Ending::Flooding),
            }
        }
        if message.is_binary() {
            return self
                .reply(Event::error(
                    ErrorCode::BinaryUnsupported,
                    "binary frames are not supported; send text",
                ))
                .await;
        }
        if message.is_ping() {
            return self.pinged().await;
        }
        let Some(text) = message.as_text() else {
            // Pongs only prove life.
            return Ok(());
        };
        self.context
            .metrics
            .received_bytes
            .inc_by(text.len() as u64);
        // Before anything else reads it: websocat's `hi\n` is `hi`.
        let text = strip_line_ending(text);
        let max = self.context.limits.max_message_bytes;
        if text.len() > max {
            return self
                .reply(Event::error(
                    ErrorCode::TooLong,
                    format!("message too long: {} bytes, the limit is {max}", text.len()),
                ))
                .await;
        }
        let text = strip_controls(text);
        match parse_input(&text) {
            Ok(Input::Say(_))
                if let Err(muted) = self.context.rooms.check_muted(&self.name, self.address) =>
            {
                self.reply(muted.into()).await
            }
            Ok(Input::Say(text)) => {
                self.say(text, Said::Message);
                self.write_after_room(None).await
            }
            Ok(Input::Command(command)) => self.on_command(command).await,
            Err(err) => self.reply(err.into()).await,
        }
    }

    /// A ping, whose pong the stream has queued. The stream queues one per
    /// ping without bound, so a peer that pings and never reads would pile
    /// them up in our memory: the pong is flushed (within the write timeout)
    /// before the next frame is read, so at most one is owed at a time, and
    /// past [`MAX_PINGS_PER_SECOND`] the peer is flooding. Pings do not
    /// spend the message budget.
    async fn pinged(&mut self) -> Result<(), Ending> {
        let now = Instant::now();
        let (started, count) = &mut self.pings;
        if now.duration_since(*started) >= Duration::from_secs(1) {
            (*started, *count) = (now, 0);
        }
        *count += 1;
        if *count > MAX_PINGS_PER_SECOND {
            return Err(Ending::PingFlood);
        }
        self.write(std::iter::empty()).await
    }

    /// Sends an event meant for this connection alone.
    async fn reply(&mut self, event: Event) -> Result<(), Ending> {
        let message = encode(self.format, &event);
        self.write_after_room(Some(message)).await
    }

    /// Sends `messages` after whatever the room has already queued for us, so
    /// that a person sees the copy of their own last message before the answer
    /// to the command they typed after it. With none, it delivers the
    /// copy of what we just said before the next frame from the peer is read:
    /// if that frame is a close, the stream answers it at once, and the copy
    /// (the sender's confirmation) would never go out.
    async fn write_after_room(
        &mut self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<(), Ending> {
        let metrics = &self.context.metrics;
        let batch =
            queued(&mut self.events_rx, 0, self.format, metrics, &self.ignores).chain(messages);
        let result = write_frames(&mut self.ws, batch, &self.context).await;
        self.written(result)
    }

    /// Sends a room event and whatever else the room has queued behind it.
    async fn deliver(
        &mut self,
        first: Result<QueuedEvent, broadcast::error::RecvError>,
    ) -> Result<(), Ending> {
        let format = self.format;
        let metrics = &self.context.metrics;
        let (first, missed) = match first {
            Ok(queued) => (queued.event(), 0),
            Err(broadcast::error::RecvError::Lagged(missed)) => (None, missed),
            // The room outlives its members; nothing to do if it somehow did not.
            Err(broadcast::error::RecvError::Closed) => return Err(Ending::Disconnected),
        };
        // Gone from the room already: part of the gap that comes first.
        let missed = if first.is_none() { missed.max(1) } else { 0 };
        let created = first.as_ref().map(EncodedEvent::created);
        let ignores = &self.ignores;
        let batch = first
            .filter(|event| !ignores.hides(event))
            .map(|event| event.message(format))
            .into_iter()
            .chain(queued(
                &mut self.events_rx,
                missed,
                format,
                metrics,
                ignores,
            ))
            .take(MAX_BATCH);
        let result = write_frames(&mut self.ws, batch, &self.context).await;
        // Once per batch, for its oldest event: the latency a person feels.
        if let (Ok(()), Some(created)) = (&result, created) {
            metrics
                .fanout_seconds
                .observe(created.elapsed().as_secs_f64());
        }
        self.written(result)
    }

    /// Sends `messages`; see [`write_frames`].
    async fn write(&mut self, messages: impl IntoIterator<Item = Message>) -> Result<(), Ending> {
        let result = write_frames(&mut self.ws, messages, &self.context).await;
        self.written(result)
    }

    /// What a write's outcome means for the connection.
    fn written(&self, result: Result<(), WriteError>) -> Result<(), Ending> {
        match result {
            Ok(()) => Ok(()),
            Err(WriteError::Failed(err)) => {
                tracing::debug!(name = %self.name, "write failed: {err}");
                Err(Ending::Disconnected)
            }
            Err(WriteError::Stalled) => Err(Ending::Stalled),
        }
    }

    /// Sends the close frame that `ending` calls for and completes the closing
    /// handshake, within a bound.
    async fn close(mut self, ending: Ending) {
        let frame = ending.close_frame();
        let _ = timeout(CLOSE_TIMEOUT, async {
            if let Some(frame) = frame {
                // Fails when the stream has already queued a close of its own
                // (a protocol error); closing then sends that one.
                let _ = self.ws.send(frame).await;
            }
            self.ws.close().await
        })
        .await;
    }
}
