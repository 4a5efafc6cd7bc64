//! Message rates: the server's per-client flood control, and the client's
//! pacing under the limits the server announces.
//!
//! Written against `tokio::time::Instant` rather than with a rate-limiting
//! crate so that tests can drive it with tokio's paused clock; the algorithm
//! (GCRA, a token bucket kept as one timestamp) is a few lines.

use std::time::Duration;

use tokio::time::Instant;

/// Allows `per_second` events a second on average, with bursts of `burst`.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// Time one event uses up.
    interval: Duration,
    /// How far ahead of now the budget may be spent: the burst.
    tolerance: Duration,
    /// When the budget is next fully spent ("theoretical arrival time").
    spent_until: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        let interval = Duration::from_secs(1) / per_second.max(1);
        Self {
            interval,
            tolerance: interval * burst.saturating_sub(1),
            spent_until: now,
        }
    }

    /// Takes one event's share of the budget if there is one.
    pub(crate) fn check(&mut self, now: Instant) -> bool {
        if self.wait(now).is_zero() {
            self.spent_until = self.spent_until.max(now) + self.interval;
            true
        } else {
            false
        }
    }

    /// How long until the next event is allowed.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.spent_until
            .saturating_duration_since(now)
            .saturating_sub(self.tolerance)
    }
}

/// What to do with one message from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// Over the rate: drop it and tell the sender.
    Dropped,
    /// Over the rate for too long: close the connection.
    Abusive,
}

/// One client's flood control.
#[derive(Debug)]
pub(crate) struct FloodGuard {
    messages: RateLimit,
    /// Dropped messages are tolerated at the same rate, with a deeper burst,
    /// so that a pasted block through a tool that does not pace itself costs
    /// some messages, and only a sustained flood costs the connection.
    drops: RateLimit,
}

/// How many bursts' worth of dropped messages make a flood.
const DROP_BURSTS: u32 = 4;

impl FloodGuard {
    /// A guard for `per_second` messages with bursts of `burst`; `None` when
    /// `per_second` is 0, which means no limit.
    pub(crate) fn new(per_second: u32, burst: u32, now: Instant) -> Option<Self> {
        (per_second > 0).then(|| Self {
            messages: RateLimit::new(per_second, burst.max(1), now),
            drops: RateLimit::new(per_second, burst.max(1).saturating_mul(DROP_BURSTS), now),
        })
    }

    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        if self.messages.check(now) {
            Verdict::Allowed
        } else if self.drops.check(now) {
            Verdict::Dropped
        } else {
            Verdict::Abusive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(guard: &mut FloodGuard, now: Instant, n: usize) -> Vec<Verdict> {
        (0..n).map(|_| guard.check(now)).collect()
    }

    #[test]
    fn a_burst_passes_then_messages_are_dropped_then_the_flood_is_cut() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(20, 40, start).unwrap();
        let seen = verdicts(&mut guard, start, 40 + 160 + 1);
        assert!(seen[..40].iter().all(|v| *v == Verdict::Allowed));
        assert!(seen[40..200].iter().all(|v| *v == Verdict::Dropped));
        assert_eq!(seen[200], Verdict::Abusive);
    }

    #[test]
    fn the_rate_refills_over_time() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(20, 40, start).unwrap();
        assert!(
            verdicts(&mut guard, start, 40)
                .iter()
                .all(|v| *v == Verdict::Allowed)
        );
        assert_eq!(guard.check(start), Verdict::Dropped);
        // 20 a second: one more every 50 ms.
        let later = start + Duration::from_millis(100);
        assert_eq!(
            verdicts(&mut guard, later, 3),
            [Verdict::Allowed, Verdict::Allowed, Verdict::Dropped]
        );
        // A second of quiet buys a second's worth, not more than a burst.
        let much_later = later + Duration::from_secs(60);
        let seen = verdicts(&mut guard, much_later, 41);
        assert!(seen[..40].iter().all(|v| *v == Verdict::Allowed));
        assert_eq!(seen[40], Verdict::Dropped);
    }

    #[test]
    fn a_steady_sender_at_the_rate_is_never_dropped() {
        let start = Instant::now();
        let mut guard = FloodGuard::new(20, 40, start).unwrap();
        for i in 0..1_000 {
            let now = start + Duration::from_millis(50) * i;
            assert_eq!(guard.check(now), Verdict::Allowed, "message {i}");
        }
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(FloodGuard::new(0, 40, Instant::now()).is_none());
    }
}
