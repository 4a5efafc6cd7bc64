//! Operators and what they may do: `/op`.
//!
//! One server's, for now: with Redis an operator would have to be one on
//! every server, and their orders carried across, which is a later step.
//! Until then `/op` is refused there, so there are no operators at all
//! rather than operators whose orders reach only some people.
//!
//! Every action is logged at info, with who did what to whom and why, and
//! never the secret.

use super::Rooms;
use crate::protocol::command::CommandError;
use crate::protocol::{ErrorCode, Event};

impl Rooms {
    /// Makes `name` an operator if `secret` is the server's `--op-token`,
    /// for as long as the connection lasts (a rename keeps it).
    ///
    /// # Errors
    ///
    /// `op_refused`: the secret is wrong, or the server has no operators
    /// (no `--op-token`, or several servers).
    pub(crate) fn make_operator(&self, name: &str, secret: &str) -> Result<Event, CommandError> {
        let refused = |message: &str| CommandError {
            code: ErrorCode::OpRefused,
            message: message.to_owned(),
        };
        let Some(token) = &self.op_token else {
            return Err(refused(
                "this server has no operators (it runs without --op-token)",
            ));
        };
        if self.backend.is_cluster() {
            return Err(refused(
                "operators need a single server for now; this one runs with --redis-url",
            ));
        }
        if !token.matches(secret) {
            tracing::info!(who = %name, action = "op", "refused: wrong secret");
            return Err(refused("wrong secret: you are not an operator"));
        }
        self.state().ops.insert(name.to_lowercase());
        tracing::info!(who = %name, action = "op", "became an operator");
        Ok(Event::Op {
            name: name.to_owned(),
        })
    }
}
