//! An event encoded once per format, shared by every recipient.
//!
//! Fan-out is the hot path: one message in, N frames out. Encoding each event
//! once into both formats and cloning the resulting `Message`s (a reference
//! count bump on their `Bytes`) means no recipient costs a serialisation or a
//! copy of the payload.

use tokio_websockets::Message;

use crate::protocol::{Event, Format};

/// One event, ready to send in either format.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    text: Message,
    json: Message,
}

impl EncodedEvent {
    /// Encodes `event` in both formats.
    pub fn new(event: &Event) -> Self {
        Self {
            text: Message::text(event.render_text()),
            json: Message::text(event.to_json()),
        }
    }

    /// The frame for a connection that asked for `format`.
    pub fn message(&self, format: Format) -> Message {
        match format {
            Format::Text => self.text.clone(),
            Format::Json => self.json.clone(),
        }
    }
}
