//! Private messages waiting for one connection.
//!
//! A bounded queue with a wake-up, as small as it can be: every connection
//! has one, and most never receive a private message, so it costs about a
//! hundred bytes until it is used (a tokio `mpsc` channel allocates its first
//! block of slots up front, several times that).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::protocol::Event;

/// Private messages a recipient may have waiting before senders are told it
/// is busy; a person does not get more than a few at once.
const CAPACITY: usize = 16;

/// One connection's private messages.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    waiting: Mutex<VecDeque<Event>>,
    /// Signalled on each delivery; a permit is kept when nobody waits, so a
    /// delivery between two waits is never missed.
    arrived: Notify,
}

impl Mailbox {
    /// Leaves `event` for the owner.
    ///
    /// # Errors
    ///
    /// The mailbox is full: its owner is not reading.
    pub(crate) fn deliver(&self, event: Event) -> Result<(), Event> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() >= CAPACITY {
            return Err(event);
        }
        waiting.push_back(event);
        drop(waiting);
        self.arrived.notify_one();
        Ok(())
    }

    /// Waits until something has arrived (cancel-safe).
    pub(crate) async fn wait(&self) {
        self.arrived.notified().await;
    }

    /// Takes everything that has arrived, oldest first.
    pub(crate) fn take(&self) -> VecDeque<Event> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    fn note(n: usize) -> Event {
        Event::error(ErrorCode::TooLong, n.to_string())
    }

    #[tokio::test]
    async fn delivers_in_order_and_wakes_a_later_wait() {
        let mailbox = Mailbox::default();
        mailbox.deliver(note(1)).unwrap();
        mailbox.deliver(note(2)).unwrap();
        // The permit left by the deliveries makes this return at once.
        mailbox.wait().await;
        assert_eq!(mailbox.take(), [note(1), note(2)]);
        assert!(mailbox.take().is_empty());
    }

    #[test]
    fn refuses_past_its_capacity() {
        let mailbox = Mailbox::default();
        for n in 0..CAPACITY {
            mailbox.deliver(note(n)).unwrap();
        }
        assert_eq!(mailbox.deliver(note(99)), Err(note(99)));
        mailbox.take();
        assert!(mailbox.deliver(note(100)).is_ok());
    }
}
