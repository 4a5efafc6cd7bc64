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
//! they leave unread: a reader that never reads holds what it drew until the
//! write timeout cuts it off, and the others wait for the pool rather than
//! grow the server. Room events are shared by all their readers, but each is
//! counted against every reader that has it in hand: simple, and an upper
//! bound.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) use crate::config::UNSENT_ALLOWANCE_BYTES;

/// The server-wide pool of bytes owed beyond each connection's allowance.
#[derive(Debug, Clone)]
pub(crate) struct Unsent {
    pool: Arc<Semaphore>,
    size: usize,
}

/// Bytes drawn from the pool, given back when dropped.
pub(crate) type Drawn = Option<OwnedSemaphorePermit>;

impl Unsent {
    /// A pool of `bytes`.
    pub(crate) fn new(bytes: usize) -> Self {
        let size = bytes.min(Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(size)),
            size,
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
        // The pool is never closed.
        Arc::clone(&self.pool).acquire_many_owned(excess).await.ok()
    }

    /// Draws what `bytes` need beyond `allowance` if the pool has it now.
    ///
    /// # Errors
    ///
    /// The pool is drawn down: slow readers owe all of it.
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
        drop(drawn);
        assert!(unsent.try_draw(2_000, 1_000).is_ok());
    }
}
