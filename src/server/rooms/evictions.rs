//! Which rooms were evicted lately. A room's tail is read from the backend
//! outside the registry's lock; if that room was evicted meanwhile, its last
//! messages may have been queued after the read, and the tail must be read
//! again. Only that room's evictions matter: counting every eviction, rooms
//! churning at the limit could starve a join for ever.

use std::collections::VecDeque;

/// Evictions remembered by name; a tail read longer ago than this many
/// evictions is read again (at thousands of evictions a second, that is a
/// read that took a good part of a second).
const REMEMBERED: usize = 1024;

/// The evictions since start, and the last ones by name.
#[derive(Debug, Default)]
pub(super) struct Evictions {
    count: u64,
    /// The last evictions, numbered, oldest first.
    recent: VecDeque<(u64, String)>,
}

impl Evictions {
    /// How many rooms were evicted since start: what a load notes before
    /// it reads.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// Records that `room` was evicted.
    pub(super) fn record(&mut self, room: String) {
        self.count += 1;
        if self.recent.len() == REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back((self.count, room));
    }

    /// Whether `room` may have been evicted after the `since`-th eviction:
    /// certainly if it is among those remembered, and, to be safe, whenever
    /// some evictions after `since` are forgotten already.
    pub(super) fn of_since(&self, room: &str, since: u64) -> bool {
        let Some((oldest, _)) = self.recent.front() else {
            return false;
        };
        *oldest > since + 1
            || self
                .recent
                .iter()
                .any(|(n, name)| *n > since && name == room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_room_s_own_eviction_invalidates_its_load() {
        let mut evictions = Evictions::default();
        let since = evictions.count();
        assert!(!evictions.of_since("a", since));
        evictions.record("b".to_owned());
        evictions.record("c".to_owned());
        assert!(
            !evictions.of_since("a", since),
            "others' evictions do not matter"
        );
        evictions.record("a".to_owned());
        assert!(evictions.of_since("a", since));
        assert!(
            !evictions.of_since("a", evictions.count()),
            "not since the last"
        );
    }

    #[test]
    fn a_load_older_than_what_is_remembered_is_read_again() {
        let mut evictions = Evictions::default();
        evictions.record("x".to_owned());
        let since = evictions.count();
        for n in 0..REMEMBERED {
            evictions.record(format!("r{n}"));
        }
        assert!(
            !evictions.of_since("a", since),
            "all after it are remembered"
        );
        evictions.record("y".to_owned());
        assert!(evictions.of_since("a", since), "one after it is forgotten");
    }
}
