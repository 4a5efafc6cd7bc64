//! How long the client waits before each attempt to reconnect: a pause that
//! doubles from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], jittered, and
//! starts afresh once a connection is made.
//!
//! Public so that the load generator's restart storm (`examples/loadgen.rs
//! --reconnect`) comes back exactly as the terminal clients would.

use std::time::{Duration, SystemTime};

/// First pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The pauses between attempts to reconnect.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The pause the next attempt waits, before its jitter.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A backoff whose next pause is [`FIRST_BACKOFF`].
    pub fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
        }
    }

    /// The pause before the next attempt, jittered; the one after is twice
    /// as long (before its jitter), up to [`MAX_BACKOFF`].
    pub fn pause(&mut self) -> Duration {
        let pause = jittered(self.next);
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }

    /// The pause the next attempt waits, before its jitter: what a person
    /// is told ("retrying in about 2s").
    pub fn upcoming(&self) -> Duration {
        self.next
    }

    /// Starts afresh: we are in, and the next drop is a new one.
    pub fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

/// `pause` give or take a quarter, so that clients dropped together do not
/// all come back in the same instant.
fn jittered(pause: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // 0.75 to 1.25, from the clock's low bits: plenty for spreading clients out.
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    pause.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let pause = jittered(Duration::from_secs(4));
            assert!(
                pause >= Duration::from_secs(3) && pause <= Duration::from_secs(5),
                "{pause:?}"
            );
        }
    }

    /// The pauses double up to the cap, and start afresh after a reset.
    #[test]
    fn pauses_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new();
        let mut expected = FIRST_BACKOFF;
        for _ in 0..10 {
            assert_eq!(backoff.upcoming(), expected);
            backoff.pause();
            expected = (expected * 2).min(MAX_BACKOFF);
        }
        assert_eq!(backoff.upcoming(), MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.upcoming(), FIRST_BACKOFF);
    }
}
