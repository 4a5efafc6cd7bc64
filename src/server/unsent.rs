//! What the server owes its clients: bytes of frames handed to a socket
//! that the peer has not taken yet, and private messages waiting in a
//! mailbox.
//!
//! Each connection may owe [`UNSENT_ALLOWANCE_BYTES`] freely, which every
//! ordinary event fits in. A larger frame (a long paste, a replayed message,
//! a `/who` of a big room) first draws what it needs beyond that from one
//! pool shared by the whole server (`--max-unsent-bytes`), and gives it back
//! once written. So what slow readers can make the server hold is the
//! allowance times the connections plus the pool, however many large frames
//! they leave unread. Room events are shared by all their readers, but each
//! is counted against every reader that has it in hand: simple, and an
//! upper bound.
//!
//! The pool must not let readers that never read starve those that do: a
//! write holding a draw for longer than [`HOLD`] while another connection
//! waits for the pool is given up, and its reader is cut off as if its
//! write timeout had passed (it can reconnect and resume).
//!
//! Mailboxes draw on a pool of their own ([`MAILBOX_POOL_BYTES`]), without
//! waiting: a message that finds it drawn down is refused with
//! `recipient_busy`, and never holds up a write.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) use crate::config::UNSENT_ALLOWANCE_BYTES;

/// How long a write may hold a draw from the pool while others wait for it.
pub(crate) const HOLD: Duration = Duration::from_secs(2);
/// The pool that long private messages waiting in mailboxes draw on.
pub(crate) const MAILBOX_POOL_BYTES: usize = 16 * 1024 * 1024;

/// A server-wide pool of bytes owed beyond each connection's allowance.
#[derive(Debug, Clone)]
pub(crate) struct Unsent {
    pool: Arc<Semaphore>,
    size: usize,
    /// Connections waiting for the pool.
    waiting: Arc<AtomicUsize>,
}

/// Bytes drawn from the pool, given back when dropped.
pub(crate) type Drawn = Option<OwnedSemaphorePermit>;

/// Counts a waiter for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Unsent {
    /// A pool of `bytes`.
    pub(crate) fn new(bytes: usize) -> Self {
        let size = bytes.min(Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(size)),
            size,
            waiting: Arc::default(),
        }
    }

    /// What owing `bytes` beyond `allowance` draws: nothing within it. A
    /// frame larger than the whole pool waits for all of it.
    fn excess(&self, bytes: usize, allowance: usize) -> Option<u32> {
        let excess = bytes.checked_sub(allowance).filter(|&n| n > 0)?;
        Some(u32::try_from(excess.min(self.size)).unwrap_or(u32::MAX))
    }

    /// Draws what a frame of `bytes` needs beyond the allowance, waiting
    /// for the pool if it must.
    pub(crate) async fn draw(&self, bytes: usize) -> Drawn {
        let excess = self.excess(bytes, UNSENT_ALLOWANCE_BYTES)?;
        let pool = Arc::clone(&self.pool);
        if let Ok(drawn) = Arc::clone(&pool).try_acquire_many_owned(excess) {
            return Some(drawn);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        // The pool is never closed.
        pool.acquire_many_owned(excess).await.ok()
    }

    /// Whether some connection is waiting for the pool.
    pub(crate) fn contended(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Draws what `bytes` need beyond `allowance` if the pool has it now.
    ///
    /// # Errors
    ///
    /// The pool is drawn down.
    pub(crate) fn try_draw(&self, bytes: usize, allowance: usize) -> Result<Drawn, ()> {
        let Some(excess) = self.excess(bytes, allowance) else {
            return Ok(None);
        };
        Arc::clone(&self.pool)
            .try_acquire_many_owned(excess)
            .map(Some)
            .map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_what_exceeds_the_allowance_is_drawn() {
        let unsent = Unsent::new(100_000);
        assert!(unsent.draw(UNSENT_ALLOWANCE_BYTES).await.is_none());
        let drawn = unsent.draw(UNSENT_ALLOWANCE_BYTES + 1_000).await;
        assert_eq!(
            drawn.as_ref().map(OwnedSemaphorePermit::num_permits),
            Some(1_000)
        );
        assert_eq!(unsent.pool.available_permits(), 99_000);
        drop(drawn);
        assert_eq!(unsent.pool.available_permits(), 100_000);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_pool_takes_all_of_it() {
        let unsent = Unsent::new(1_000);
        let drawn = unsent.draw(UNSENT_ALLOWANCE_BYTES + 5_000).await;
        assert_eq!(
            drawn.as_ref().map(OwnedSemaphorePermit::num_permits),
            Some(1_000)
        );
        assert!(
            unsent.try_draw(2_000, 1_000).is_err(),
            "the pool is drawn down"
        );
        assert!(!unsent.contended());
        let waiter = tokio::spawn({
            let unsent = unsent.clone();
            async move { unsent.draw(UNSENT_ALLOWANCE_BYTES + 1).await.is_some() }
        });
        while !unsent.contended() {
            tokio::task::yield_now().await;
        }
        drop(drawn);
        assert!(waiter.await.unwrap());
        assert!(!unsent.contended());
        assert!(unsent.try_draw(2_000, 1_000).is_ok());
    }
}
