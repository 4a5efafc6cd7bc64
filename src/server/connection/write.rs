//! What goes out to the peer: frames fed to the socket and flushed in
//! groups, within the write timeout, and counted.

use std::pin::Pin;

use futures_util::SinkExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio::time::timeout;
use tokio_websockets::{Message, WebSocketStream};

use super::Context;
use super::ignores::Ignores;
use crate::protocol::{Event, Format};
use crate::server::encoded::QueuedEvent;
use crate::server::metrics::Metrics;
use crate::server::unsent::{HOLD, UNSENT_ALLOWANCE_BYTES, Unsent};

/// Frames fed to the socket before each flush. A flush writes them all in one
/// system call; the stream's frame queue grows to the most frames queued at
/// once and never shrinks, so this also bounds its memory (about 56 bytes a
/// frame, per connection, for the connection's lifetime).
const FRAMES_PER_FLUSH: usize = 16;

/// Why frames could not be written.
pub(super) enum WriteError {
    Failed(tokio_websockets::Error),
    /// The peer did not take them within the write timeout.
    Stalled,
}

/// Feeds `messages` to the socket and counts them, flushing after every
/// [`FRAMES_PER_FLUSH`], before what is fed would owe the peer more than
/// the connection's allowance, and at the end. A frame larger than the
/// allowance draws the rest from the server's pool first and is flushed
/// alone (see `unsent`). A peer that does not take them within the write
/// timeout is cut off, so that it holds up nobody: its room's queue moves
/// on without it, and it would get a `gap`.
///
/// Boxed: with its timer, a write is the largest state a connection passes
/// through, and inline every idle connection would carry it for its whole
/// life. One allocation per batch is nothing next to its system call.
pub(super) fn write_frames<'a, S>(
    ws: &'a mut WebSocketStream<S>,
    messages: impl IntoIterator<Item = Message> + 'a,
    context: &'a Context,
) -> Pin<Box<impl Future<Output = Result<(), WriteError>> + 'a>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(async move {
        let (mut frames, mut bytes) = (0, 0);
        let result = timeout(context.limits.write_timeout, async {
            let mut owed = 0;
            for message in messages {
                let len = message.as_payload().len();
                if owed > 0 && owed + len > UNSENT_ALLOWANCE_BYTES {
                    ws.flush().await.map_err(WriteError::Failed)?;
                    owed = 0;
                }
                let drawn = context.unsent.draw(len).await;
                ws.feed(message).await.map_err(WriteError::Failed)?;
                owed += len;
                bytes += len;
                frames += 1;
                if drawn.is_some() {
                    flush_drawn(ws, &context.unsent).await?;
                    owed = 0;
                } else if frames % FRAMES_PER_FLUSH == 0 {
                    ws.flush().await.map_err(WriteError::Failed)?;
                    owed = 0;
                }
            }
            ws.flush().await.map_err(WriteError::Failed)
        })
        .await;
        match result {
            Ok(Ok(())) => {
                let metrics = &context.metrics;
                metrics.events_delivered.inc_by(frames as u64);
                metrics.delivered_bytes.inc_by(bytes as u64);
                Ok(())
            }
            Ok(Err(err)) => Err(err),
            Err(_elapsed) => Err(WriteError::Stalled),
        }
    })
}

/// Flushes a frame that drew on the pool. A peer that has not taken it
/// within [`HOLD`] while another connection waits for the pool is cut off
/// as stalled: one that never reads must not keep the others from theirs.
async fn flush_drawn<S>(ws: &mut WebSocketStream<S>, unsent: &Unsent) -> Result<(), WriteError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut flush = std::pin::pin!(ws.flush());
    loop {
        match timeout(HOLD, &mut flush).await {
            Ok(flushed) => return flushed.map_err(WriteError::Failed),
            Err(_held) if unsent.contended() => return Err(WriteError::Stalled),
            Err(_held) => {}
        }
    }
}

/// The room events already queued for a receiver, as frames, without waiting,
/// after `missed` events it has already found gone. A receiver that fell
/// behind (events overwritten in the queue, or let go of by the room) gets
/// one `gap` in place of each run of what it missed. What `hidden` hides
/// (`/ignore`) is skipped, and is not missed.
pub(super) fn queued<'a>(
    events_rx: &'a mut broadcast::Receiver<QueuedEvent>,
    mut missed: u64,
    format: Format,
    metrics: &'a Metrics,
    hidden: &'a Ignores,
) -> impl Iterator<Item = Message> + 'a {
    use broadcast::error::TryRecvError;
    // The event found after a run of missed ones, sent after its gap.
    let mut next = None;
    std::iter::from_fn(move || {
        if let Some(message) = next.take() {
            return Some(message);
        }
        loop {
            let event = match events_rx.try_recv() {
                Ok(queued) => queued.event(),
                Err(TryRecvError::Lagged(n)) => {
                    missed += n;
                    continue;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => {
                    let gap = (missed > 0).then(|| gap(format, missed, metrics));
                    missed = 0;
                    return gap;
                }
            };
            match event {
                None => missed += 1,
                Some(event) if hidden.hides(&event) => {}
                Some(event) if missed == 0 => return Some(event.message(format)),
                Some(event) => {
                    next = Some(event.message(format));
                    let gap = gap(format, missed, metrics);
                    missed = 0;
                    return Some(gap);
                }
            }
        }
    })
}

/// The `gap` event for a receiver that fell `missed` events behind its room.
pub(super) fn gap(format: Format, missed: u64, metrics: &Metrics) -> Message {
    metrics.gaps.inc();
    metrics.missed_events.inc_by(missed);
    encode(format, &Event::Gap { missed })
}

/// An event for one connection alone, in its format.
pub(super) fn encode(format: Format, event: &Event) -> Message {
    match format {
        Format::Text => Message::text(event.render_text()),
        Format::Json => Message::text(event.to_json()),
    }
}
