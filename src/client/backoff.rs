//! How long the client waits before each attempt to reconnect: a pause
//! drawn at random up to a ceiling that doubles from [`FIRST_BACKOFF`] to
//! [`MAX_BACKOFF`], afresh once a connection is made.
//!
//! Public so that the load generator's restart storm (`examples/loadgen.rs
//! --reconnect`) comes back exactly as the terminal clients would.
//!
//! Why anywhere up to the ceiling ("full jitter") rather than the ceiling
//! give or take a quarter, as before: clients closed together by a restart
//! kept in step, each attempt a quarter either side of the same schedule
//! (0.25 s, 0.75, 1.75, 3.75...), so they came back in waves of thousands
//! within half a second, more than the server's listen queue holds; the
//! connections dropped there then waited on TCP's own retries (1 s, 3 s,
//! 7 s). Measured with `scripts/restart-storm.sh` (BENCHMARKS.md, "Restart
//! storms").

use std::time::Duration;

/// The first ceiling; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The highest ceiling.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The pauses between attempts to reconnect.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The ceiling of the next pause.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A backoff whose next pause is at most `FIRST_BACKOFF` (250 ms).
    pub fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
        }
    }

    /// The pause before the next attempt, drawn up to its ceiling; the
    /// ceiling after is twice as high, up to `MAX_BACKOFF` (10 s).
    pub fn pause(&mut self) -> Duration {
        let pause = jittered(self.next);
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }

    /// The ceiling of the next pause: what a person is told ("retrying in
    /// about 2s"), the pause itself being drawn when it begins.
    pub fn upcoming(&self) -> Duration {
        self.next
    }

    /// Starts afresh: we are in, and the next drop is a new one.
    pub fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

/// A pause anywhere from a twentieth of `ceiling` to all of it: spread so
/// that clients dropped together come back apart, and never quite nothing,
/// so that a client does not retry in a tight loop.
fn jittered(ceiling: Duration) -> Duration {
    ceiling.mul_f64(fastrand::f64().mul_add(0.95, 0.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pause is within its ceiling and at least a twentieth of it.
    #[test]
    fn a_pause_is_up_to_its_ceiling() {
        for _ in 0..1000 {
            let pause = jittered(Duration::from_secs(4));
            assert!(
                pause >= Duration::from_millis(200) && pause <= Duration::from_secs(4),
                "{pause:?}"
            );
        }
    }

    /// Pauses drawn together are spread over their range, not bunched:
    /// each quarter of it gets some of 1,000 draws.
    #[test]
    fn pauses_drawn_together_spread_over_their_range() {
        let mut quarters = [0; 4];
        for _ in 0..1000 {
            let pause = Backoff::new().pause();
            let quarter = (pause.as_secs_f64() / FIRST_BACKOFF.as_secs_f64() * 4.0) as usize;
            quarters[quarter.min(3)] += 1;
        }
        assert!(quarters.iter().all(|&n| n > 150), "{quarters:?}");
    }

    /// The ceilings double up to the cap, and start afresh after a reset.
    #[test]
    fn ceilings_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new();
        let mut ceiling = FIRST_BACKOFF;
        for _ in 0..10 {
            assert_eq!(backoff.upcoming(), ceiling);
            let pause = backoff.pause();
            assert!(pause <= ceiling, "{pause:?} over {ceiling:?}");
            ceiling = (ceiling * 2).min(MAX_BACKOFF);
        }
        assert_eq!(backoff.upcoming(), MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.upcoming(), FIRST_BACKOFF);
    }
}
