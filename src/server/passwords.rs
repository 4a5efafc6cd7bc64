//! Password hashing for registered names: Argon2id (the `argon2` crate's
//! defaults, the RFC 9106 second recommendation: 19 MiB, 2 passes), in PHC
//! strings that carry their own salt and parameters.
//!
//! Hashing is deliberately slow and memory-hard, so it runs off the async
//! threads (`spawn_blocking`), one hash at a time behind a one-permit
//! semaphore: a crowd identifying at once waits its turn instead of holding
//! 19 MiB each, and the memory formula counts one ([`HASH_MEMORY_BYTES`]).
//! Passwords are never logged; they live in this module's futures only for
//! the time of a hash.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};
use tokio::sync::Semaphore;

/// What one hash holds while it runs: Argon2's memory cost, in bytes.
pub const HASH_MEMORY_BYTES: usize = Params::DEFAULT_M_COST as usize * 1024;

/// The one turn to hash.
#[derive(Debug)]
pub(crate) struct Passwords {
    turn: Semaphore,
}

impl Default for Passwords {
    fn default() -> Self {
        Self {
            turn: Semaphore::new(1),
        }
    }
}

impl Passwords {
    /// `password` hashed with a fresh salt, as a PHC string; `None` if
    /// hashing failed (no randomness: logged).
    pub(crate) async fn hash(&self, password: &str) -> Option<String> {
        let password = password.to_owned();
        self.blocking(
            move || match Argon2::default().hash_password(password.as_bytes()) {
                Ok(hash) => Some(hash.to_string()),
                Err(err) => {
                    tracing::error!("cannot hash a password: {err}");
                    None
                }
            },
        )
        .await
        .flatten()
    }

    /// Whether `password` is the one `hash` (a PHC string) was made from;
    /// the comparison takes the same time whatever the password.
    pub(crate) async fn verify(&self, password: &str, hash: &str) -> bool {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    /// Runs `work` on the blocking pool in the one turn; `None` if it
    /// panicked.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        // Never closed.
        let _turn = self.turn.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(passwords.verify("correct horse", &hash).await);
        assert!(!passwords.verify("correct horsf", &hash).await);
        assert!(!passwords.verify("x", "not a hash").await);
    }
}
