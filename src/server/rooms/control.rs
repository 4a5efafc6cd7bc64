//! What a connection can be told besides its room's events: private
//! messages, and orders from the registry (for now one: close with this code
//! and reason).
//!
//! A bounded queue with a wake-up, as small as it can be: every connection
//! has one, and most never receive anything, so it costs about a hundred
//! bytes until it is used (a tokio `mpsc` channel allocates its first block
//! of slots up front, several times that). Orders have slots of their own,
//! which private messages cannot fill: a full mailbox never stops a close.
//!
//! A mailbox holds [`MAILBOX_CAPACITY`] messages and [`MAILBOX_BYTES`]
//! freely; a longer message draws what it needs beyond that from the
//! server's pool for mailboxes (see `unsent`), and holds it until its
//! recipient has encoded it, so that recipients who never read cannot make
//! the server keep a long message for each of them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio_websockets::CloseCode;

use crate::protocol::Event;
use crate::server::unsent::{Drawn, Unsent};

/// Private messages a recipient may have waiting before senders are told it
/// is busy; a person does not get more than a few at once.
const MAILBOX_CAPACITY: usize = 16;
/// Bytes of private messages a mailbox holds without drawing on the pool:
/// a few lines' worth.
pub(crate) const MAILBOX_BYTES: usize = 4 * 1024;

/// An order to close a connection: the close frame's code and reason, which
/// is also what the room is told in the leave notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closing {
    pub code: CloseCode,
    pub reason: String,
}

/// Everything a connection has been told since it last looked.
#[derive(Debug, Default)]
pub(crate) struct Told {
    /// Private messages, oldest first, each with what it drew from the pool
    /// (to give back once it is encoded).
    pub private: VecDeque<(Event, Drawn)>,
    /// What `private` weighs, in bytes as [`weight`] counts them.
    bytes: usize,
    /// Close the connection (the first order to close wins).
    pub close: Option<Closing>,
}

/// What a private message costs in a mailbox: its texts and the event.
fn weight(event: &Event) -> usize {
    const EVENT_BYTES: usize = 128;
    match event {
        Event::Private { from, to, text, .. } => from.len() + to.len() + text.len() + EVENT_BYTES,
        _ => EVENT_BYTES,
    }
}

/// One connection's control handle: the registry keeps one clone, the
/// connection's loop the other.
#[derive(Debug, Default)]
pub(crate) struct Control {
    told: Mutex<Told>,
    /// Signalled on each delivery; a permit is kept when nobody waits, so a
    /// delivery between two waits is never missed.
    arrived: Notify,
}

impl Control {
    fn told(&self) -> MutexGuard<'_, Told> {
        self.told.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves a private message for the owner.
    ///
    /// # Errors
    ///
    /// The mailbox is full (its owner is not reading), or it would need the
    /// pool, which slow readers have drawn down.
    pub(crate) fn deliver(&self, event: Event, unsent: &Unsent) -> Result<(), Box<Event>> {
        let mut told = self.told();
        if told.private.len() >= MAILBOX_CAPACITY {
            // Boxed: refusals are rare, and an `Event` is large.
            return Err(Box::new(event));
        }
        let bytes = weight(&event);
        let free = MAILBOX_BYTES.saturating_sub(told.bytes);
        let Ok(drawn) = unsent.try_draw(bytes, free) else {
            return Err(Box::new(event));
        };
        told.bytes += bytes;
        told.private.push_back((event, drawn));
        drop(told);
        self.arrived.notify_one();
        Ok(())
    }

    /// Orders the connection closed; never refused.
    pub(crate) fn close(&self, closing: Closing) {
        self.told().close.get_or_insert(closing);
        self.arrived.notify_one();
    }

    /// Whether the connection has been ordered closed and has not looked
    /// yet: what its peer sends meanwhile is no longer its to act on.
    pub(crate) fn is_closing(&self) -> bool {
        self.told().close.is_some()
    }

    /// Waits until something has arrived (cancel-safe).
    pub(crate) async fn wait(&self) {
        self.arrived.notified().await;
    }

    /// Takes everything that has arrived.
    pub(crate) fn take(&self) -> Told {
        std::mem::take(&mut *self.told())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    fn note(n: usize) -> Event {
        Event::error(ErrorCode::TooLong, n.to_string())
    }

    fn unsent() -> Unsent {
        Unsent::new(1 << 20)
    }

    fn private(text_bytes: usize) -> Event {
        Event::Private {
            from: "ana".to_owned(),
            to: "bo".to_owned(),
            text: "x".repeat(text_bytes),
            ts: 0,
        }
    }

    fn events(told: Told) -> Vec<Event> {
        told.private.into_iter().map(|(event, _)| event).collect()
    }

    fn closing(reason: &str) -> Closing {
        Closing {
            code: CloseCode::GOING_AWAY,
            reason: reason.to_owned(),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_wakes_a_later_wait() {
        let control = Control::default();
        control.deliver(note(1), &unsent()).unwrap();
        control.deliver(note(2), &unsent()).unwrap();
        // The permit left by the deliveries makes this return at once.
        control.wait().await;
        assert_eq!(events(control.take()), [note(1), note(2)]);
        assert!(control.take().private.is_empty());
    }

    #[test]
    fn refuses_private_messages_past_its_capacity() {
        let control = Control::default();
        for n in 0..MAILBOX_CAPACITY {
            control.deliver(note(n), &unsent()).unwrap();
        }
        assert_eq!(
            control.deliver(note(99), &unsent()),
            Err(Box::new(note(99)))
        );
        control.take();
        assert!(control.deliver(note(100), &unsent()).is_ok());
    }

    #[test]
    fn long_messages_wait_in_the_pool_and_are_refused_once_it_is_drawn_down() {
        let control = Control::default();
        let unsent = Unsent::new(100_000);
        // Within the mailbox's own bytes.
        control.deliver(private(1_000), &unsent).unwrap();
        // Beyond them: drawn from the pool, until it has no more.
        control.deliver(private(60_000), &unsent).unwrap();
        let refused = private(60_000);
        assert_eq!(
            control.deliver(refused.clone(), &unsent),
            Err(Box::new(refused))
        );
        // Taken and encoded, it gives the pool back.
        drop(control.take());
        control.deliver(private(60_000), &unsent).unwrap();
    }

    #[tokio::test]
    async fn a_full_mailbox_never_stops_an_order_to_close() {
        let control = Control::default();
        for n in 0..MAILBOX_CAPACITY {
            control.deliver(note(n), &unsent()).unwrap();
        }
        control.close(closing("first"));
        control.close(closing("second"));
        control.wait().await;
        let told = control.take();
        assert_eq!(told.private.len(), MAILBOX_CAPACITY);
        assert_eq!(told.close, Some(closing("first")));
    }
}
