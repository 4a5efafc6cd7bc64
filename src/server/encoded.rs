//! An event encoded once per format, shared by every recipient.
//!
//! Fan-out is the hot path: one message in, N frames out. Encoding each event
//! once into both formats and cloning the resulting `Message`s (a reference
//! count bump on their `Bytes`) means no recipient costs a serialisation or a
//! copy of the payload.
//!
//! A room's queue carries [`QueuedEvent`]s, which do not own the event: the
//! room does, for as long as some member has not taken it and the room's byte
//! budget allows (see `rooms::room`). A member that reaches an event the room
//! has let go of has fallen too far behind, and gets a `gap` for it, as for
//! one the queue itself has overwritten. So the bytes a room's queue holds are
//! bounded by the room, whatever its slowest member does.

use std::sync::{Arc, Weak};
use std::time::Instant;

use tokio_websockets::Message;

use crate::protocol::{Event, Format};

/// One event, ready to send in either format. Cloning it is one reference
/// count.
#[derive(Debug, Clone)]
pub struct EncodedEvent(Arc<Frames>);

/// What a room's queue carries: the event, while its room still holds it.
///
/// The queue's copy is a weak reference; the copy a member receives is
/// strong. The queue makes that copy under the slot's lock, before it counts
/// the event as taken by that member, and the room lets go of an event only
/// once every member has taken it (or past its byte budget): so a member can
/// never find gone an event the room gave up only because it was taken.
#[derive(Debug)]
pub struct QueuedEvent(Held);

#[derive(Debug)]
enum Held {
    InQueue(Weak<Frames>),
    Taken(Option<Arc<Frames>>),
}

impl Clone for QueuedEvent {
    fn clone(&self) -> Self {
        Self(Held::Taken(match &self.0 {
            Held::InQueue(queued) => queued.upgrade(),
            Held::Taken(taken) => taken.clone(),
        }))
    }
}

#[derive(Debug)]
struct Frames {
    text: Message,
    json: Message,
    /// For the fan-out latency metric.
    created: Instant,
    /// Who said it, for a message or an action: what `/ignore` filters on
    /// at each delivery without decoding the frame.
    sender: Option<Box<str>>,
}

impl EncodedEvent {
    /// Encodes `event` in both formats.
    pub fn new(event: &Event) -> Self {
        Self(Arc::new(Frames {
            text: Message::text(event.render_text()),
            json: Message::text(event.to_json()),
            created: Instant::now(),
            sender: match event {
                Event::Message { from, .. } | Event::Action { from, .. } => {
                    Some(from.as_str().into())
                }
                _ => None,
            },
        }))
    }

    /// Who said it, for a message or an action.
    pub fn sender(&self) -> Option<&str> {
        self.0.sender.as_deref()
    }

    /// When the event was encoded, which is when the server took it in.
    pub fn created(&self) -> Instant {
        self.0.created
    }

    /// The frame for a connection that asked for `format`.
    pub fn message(&self, format: Format) -> Message {
        match format {
            Format::Text => self.0.text.clone(),
            Format::Json => self.0.json.clone(),
        }
    }

    /// The bytes both encodings hold.
    pub fn bytes(&self) -> usize {
        self.0.text.as_payload().len() + self.0.json.as_payload().len()
    }

    /// A reference for a room's queue, valid while this event lives.
    pub fn queued(&self) -> QueuedEvent {
        QueuedEvent(Held::InQueue(Arc::downgrade(&self.0)))
    }
}

impl QueuedEvent {
    /// The event, unless its room has let go of it.
    pub fn event(&self) -> Option<EncodedEvent> {
        match &self.0 {
            Held::InQueue(queued) => queued.upgrade(),
            Held::Taken(taken) => taken.clone(),
        }
        .map(EncodedEvent)
    }
}
