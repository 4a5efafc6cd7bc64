//! Publisher backpressure: when to stop reading from a sender whose room
//! cannot keep up.
//!
//! A sender faster than its room's readers (a bot, a load generator; a person
//! is far below the rate limit) would push the room's queue past its slowest
//! reader, who would get a gap. So once a message leaves the queue more than
//! half full, the sender's connection stops reading from it (TCP then slows
//! the sender down) until the room has caught up. A reader that makes
//! progress keeps the sender waiting, up to [`MAX_WAIT`]; a reader that has
//! stopped altogether holds the sender for [`STALL`] at most, and then gets
//! the gap it would have had anyway, so it never holds up the room for long.

use std::time::Duration;

use tokio::time::Instant;

/// The longest a sender waits without the room's queue going down.
const STALL: Duration = Duration::from_millis(100);
/// The longest a sender waits after one message, progress or not.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// A sender's wait for its room to catch up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backpressure {
    /// The room's queue when last looked at.
    backlog: usize,
    /// When to stop waiting unless the queue goes down before.
    stall_at: Instant,
    give_up_at: Instant,
}

impl Backpressure {
    /// A wait to start after a message that left `backlog` events queued in
    /// a room queue of `capacity`; `None` if the room is keeping up.
    pub(crate) fn after_send(backlog: usize, capacity: usize, now: Instant) -> Option<Self> {
        (backlog > capacity / 2).then_some(Self {
            backlog,
            stall_at: now + STALL,
            give_up_at: now + MAX_WAIT,
        })
    }

    /// Looks at the queue again; `false` once the sender may go on.
    pub(crate) fn still_waiting(&mut self, backlog: usize, capacity: usize, now: Instant) -> bool {
        if backlog <= capacity / 4 || now >= self.give_up_at {
            return false;
        }
        if backlog < self.backlog {
            self.backlog = backlog;
            self.stall_at = now + STALL;
        }
        now < self.stall_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: usize = 1024;

    #[test]
    fn a_room_that_keeps_up_never_waits() {
        assert_eq!(
            Backpressure::after_send(512, CAPACITY, Instant::now()),
            None
        );
    }

    #[test]
    fn the_wait_ends_once_the_room_has_caught_up() {
        let now = Instant::now();
        let mut wait = Backpressure::after_send(600, CAPACITY, now).unwrap();
        assert!(wait.still_waiting(400, CAPACITY, now + Duration::from_millis(1)));
        assert!(!wait.still_waiting(256, CAPACITY, now + Duration::from_millis(2)));
    }

    #[test]
    fn a_stopped_reader_holds_the_sender_briefly() {
        let now = Instant::now();
        let mut wait = Backpressure::after_send(1024, CAPACITY, now).unwrap();
        assert!(wait.still_waiting(1024, CAPACITY, now + STALL / 2));
        assert!(!wait.still_waiting(1024, CAPACITY, now + STALL));
    }

    #[test]
    fn a_slow_reader_making_progress_holds_the_sender_up_to_the_maximum() {
        let start = Instant::now();
        let mut wait = Backpressure::after_send(1000, CAPACITY, start).unwrap();
        let mut backlog = 1000;
        let mut now = start;
        while now < start + MAX_WAIT - STALL {
            now += STALL / 2;
            backlog -= 1;
            assert!(
                wait.still_waiting(backlog, CAPACITY, now),
                "at {:?}",
                now - start
            );
        }
        assert!(!wait.still_waiting(backlog - 1, CAPACITY, start + MAX_WAIT));
    }
}
