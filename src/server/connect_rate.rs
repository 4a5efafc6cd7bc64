//! New connections per second from one address (`--max-connects-per-second`),
//! counted at the upgrade; over it, the upgrade gets `429`.
//!
//! One fixed one-second window per address key (an IPv4 address, an IPv6
//! /64: [`super::address::key`]). The map is pruned of ended windows whenever
//! it has doubled since the last pruning, and holds [`MAX_TRACKED`] keys at
//! most: past that (tens of thousands of addresses within one second, which
//! a per-address limit cannot stop anyway), a new address is let through
//! uncounted rather than grow memory. Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);
/// Addresses tracked at most.
const MAX_TRACKED: usize = 65_536;
/// The map's size below which it is never pruned.
const PRUNE_FLOOR: usize = 4_096;

/// Connections counted per address key in the current second.
#[derive(Debug)]
pub(crate) struct ConnectRate {
    /// Connections allowed per address per second; 0 turns the limit off.
    per_second: u32,
    /// Address key → (when its window began, connections in it).
    windows: HashMap<IpAddr, (Instant, u32)>,
    /// The map's size at which it is pruned next: doubling after each
    /// pruning, so that pruning costs O(1) per connection on average.
    prune_at: usize,
    /// When the map was last pruned.
    pruned: Instant,
}

impl ConnectRate {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            windows: HashMap::new(),
            prune_at: PRUNE_FLOOR,
            pruned: Instant::now(),
        }
    }

    /// Counts a connection from `key` at `now`; false if it is one too many.
    pub(crate) fn admit(&mut self, key: IpAddr, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        if !self.windows.contains_key(&key) {
            let full = self.windows.len() >= MAX_TRACKED;
            // Full, the map is pruned once a window at most: not on every
            // connection of a flood from many addresses.
            if self.windows.len() >= self.prune_at
                && (!full || now.duration_since(self.pruned) >= WINDOW)
            {
                self.windows
                    .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
                self.pruned = now;
                self.prune_at = (self.windows.len() * 2).clamp(PRUNE_FLOOR, MAX_TRACKED);
            }
            if self.windows.len() >= MAX_TRACKED {
                return true;
            }
        }
        let (start, count) = self.windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_second {
            return false;
        }
        *count += 1;
        true
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    /// A limit of 0 admits everything and tracks nothing.
    #[test]
    fn off_admits_everything() {
        let mut rate = ConnectRate::new(0);
        let now = Instant::now();
        assert!((0..1000).all(|_| rate.admit(ip(1), now)));
        assert_eq!(rate.tracked(), 0);
    }

    /// Each address gets its own N a second, again once its second is over.
    #[test]
    fn each_address_gets_its_own_per_second() {
        let mut rate = ConnectRate::new(5);
        let now = Instant::now();
        assert!((0..5).all(|_| rate.admit(ip(1), now)));
        assert!(!rate.admit(ip(1), now));
        assert!(!rate.admit(ip(1), now + Duration::from_millis(999)));
        assert!(rate.admit(ip(2), now));
        assert!(rate.admit(ip(1), now + WINDOW));
    }

    /// Ended windows are pruned, and the map never holds more than MAX_TRACKED addresses.
    #[test]
    fn memory_stays_bounded_under_many_addresses() {
        let mut rate = ConnectRate::new(5);
        let start = Instant::now();
        // Many addresses over many seconds: ended windows are pruned.
        for second in 0..20u32 {
            let now = start + WINDOW * second;
            for n in 0..3_000 {
                rate.admit(ip(second * 10_000 + n), now);
            }
        }
        assert!(rate.tracked() <= 2 * PRUNE_FLOOR, "{}", rate.tracked());
        // Too many within one second: the map stops growing.
        let now = start + WINDOW * 100;
        for n in 0..(MAX_TRACKED as u32 + 10_000) {
            assert!(rate.admit(ip(1_000_000 + n), now));
        }
        assert!(rate.tracked() <= MAX_TRACKED, "{}", rate.tracked());
    }
}
