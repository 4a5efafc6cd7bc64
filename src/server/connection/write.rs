//! What goes out to the peer: frames fed to the socket and flushed in
//! groups, within the write timeout, and counted.

use std::pin::Pin;

use futures_util::SinkExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio::time::timeout;
use tokio_websockets::{Message, WebSocketStream};

use super::Context;
use crate::protocol::{Event, Format};
use crate::server::encoded::EncodedEvent;
use crate::server::metrics::Metrics;

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

/// Feeds `messages` to the socket, flushing after every [`FRAMES_PER_FLUSH`]
/// and at the end, and counts them. A peer that does not take them within
/// the write timeout is cut off, so that it holds up nobody: its room's queue
/// moves on without it, and it would get a `gap`.
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
            for message in messages {
                bytes += message.as_payload().len();
                ws.feed(message).await?;
                frames += 1;
                if frames % FRAMES_PER_FLUSH == 0 {
                    ws.flush().await?;
                }
            }
            ws.flush().await
        })
        .await;
        match result {
            Ok(Ok(())) => {
                let metrics = &context.metrics;
                metrics.events_delivered.inc_by(frames as u64);
                metrics.delivered_bytes.inc_by(bytes as u64);
                Ok(())
            }
            Ok(Err(err)) => Err(WriteError::Failed(err)),
            Err(_elapsed) => Err(WriteError::Stalled),
        }
    })
}

/// The room events already queued for a receiver, as frames, without waiting;
/// a receiver that fell behind gets a `gap` in place of what it missed.
pub(super) fn queued<'a>(
    events_rx: &'a mut broadcast::Receiver<EncodedEvent>,
    format: Format,
    metrics: &'a Metrics,
) -> impl Iterator<Item = Message> + 'a {
    use broadcast::error::TryRecvError;
    std::iter::from_fn(move || match events_rx.try_recv() {
        Ok(event) => Some(event.message(format)),
        Err(TryRecvError::Lagged(missed)) => Some(gap(format, missed, metrics)),
        Err(TryRecvError::Empty | TryRecvError::Closed) => None,
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
