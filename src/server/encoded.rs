//! An event encoded once per format, shared by every recipient.
//!
//! Fan-out is the hot path: one message in, N frames out. Encoding each event
//! once into both formats and cloning the resulting `Message`s (a reference
//! count bump on their `Bytes`) means no recipient costs a serialisation or a
//! copy of the payload.

use std::sync::Arc;
use std::time::Instant;

use tokio_websockets::Message;

use crate::protocol::{Event, Format};

/// One event, ready to send in either format. Cloning it is one reference
/// count, which is what a room's queue does once per recipient.
#[derive(Debug, Clone)]
pub struct EncodedEvent(Arc<Frames>);

#[derive(Debug)]
struct Frames {
    text: Message,
    json: Message,
    /// For the fan-out latency metric.
    created: Instant,
}

impl EncodedEvent {
    /// Encodes `event` in both formats.
    pub fn new(event: &Event) -> Self {
        Self(Arc::new(Frames {
            text: Message::text(event.render_text()),
            json: Message::text(event.to_json()),
            created: Instant::now(),
        }))
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
}
