//! What operators and registered names ask of Redis: the operators listed
//! for `/who`, finding someone on any server, mutes and bans every server
//! holds, registrations, and the wrong passwords counted across servers.
//! The rest of [`Cluster`]'s commands (rooms, names, presence) are in
//! `mod.rs`; these are apart because they came later and change together.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::inbound::Refused;
use super::{Cluster, ClusterError, ServerId, inbound, keys, scripts};
use crate::protocol::Event;
use crate::server::ban::Ban;
use crate::server::owner::Owner;

impl Cluster {
    /// Records that `name` is an operator here, for `/who` on every server
    /// (until they leave: `forget`), in order with what is queued.
    pub(crate) fn op(&self, name: &str) {
        self.queue(op_command(&self.id, name));
    }

    /// [`Cluster::op`], answered: a new operator is told once every server
    /// can list them.
    pub(crate) async fn op_now(&self, name: &str) -> Result<(), ClusterError> {
        self.query(&mut op_command(&self.id, name)).await
    }

    /// Where `name` is on any live server: the name as its holder spells
    /// it, and its room ([`scripts::LOCATE`]); `None` if nobody has it.
    pub(crate) async fn locate(
        &self,
        name: &str,
    ) -> Result<Option<(String, String)>, ClusterError> {
        let mut cmd = scripts::call(&scripts::LOCATE);
        cmd.arg(1).arg(keys::name(name));
        let found: Option<(String, String)> = self.query(&mut cmd).await?;
        Ok(found.and_then(|(name, room)| inbound::place(name, room)))
    }

    /// Publishes a moderation event (a mute, its lifting) for every server
    /// to apply, this one included when it comes back. `false` as for
    /// [`Cluster::say`].
    #[must_use = "an order Redis did not take is applied here"]
    pub(crate) fn moderate(&self, event: &Event) -> bool {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(keys::MODERATION_CHANNEL).arg(event.to_json());
        self.queue(cmd)
    }

    /// Keeps `ban` in Redis, and has every server hold it
    /// ([`scripts::BAN`]). `false` as for [`Cluster::say`].
    #[must_use = "a ban Redis did not take holds here alone"]
    pub(crate) fn keep_ban(&self, ban: &Ban) -> bool {
        let mut cmd = by_name(&scripts::BAN, &ban.name, ban);
        cmd.arg(ban.until.map(|until| until.to_string()).unwrap_or_default());
        self.queue(cmd)
    }

    /// Adds the address its person connected here from to a ban given
    /// on another server, unless it was lifted meanwhile
    /// ([`scripts::AMEND_BAN`]).
    pub(crate) fn amend_ban(&self, ban: &Ban) {
        self.queue(by_name(&scripts::AMEND_BAN, &ban.name, ban));
    }

    /// Lifts the ban on `name` everywhere, with `unban`, the event every
    /// server applies ([`scripts::UNBAN`]). `false` as for
    /// [`Cluster::say`].
    #[must_use = "a lifting Redis did not take holds here alone"]
    pub(crate) fn forget_ban(&self, name: &str, unban: &Event) -> bool {
        self.queue(by_name(&scripts::UNBAN, name, unban))
    }

    /// Keeps a registered name (or its new password) in Redis, and has
    /// every server hold it ([`scripts::REGISTER`]). `false` as for
    /// [`Cluster::say`].
    #[must_use = "a registration Redis did not take holds here alone"]
    pub(crate) fn register(&self, owner: &Owner) -> bool {
        self.queue(by_name(&scripts::REGISTER, &owner.name, owner))
    }

    /// Frees the registered `name` everywhere, with `event`, the
    /// `unregistered` every server applies ([`scripts::UNREGISTER`]).
    /// `false` as for [`Cluster::say`].
    #[must_use = "a name Redis did not free stays registered elsewhere"]
    pub(crate) fn unregister(&self, name: &str, event: &Event) -> bool {
        self.queue(by_name(&scripts::UNREGISTER, name, event))
    }

    /// Takes `name` for one of our people who proved it is theirs: its
    /// older holder, on any server, is taken off the lists, their room
    /// told they left, and their server told to close them
    /// ([`scripts::TAKE`]).
    pub(crate) async fn take(&self, name: &str) -> Result<(), ClusterError> {
        let mut cmd = scripts::call(&scripts::TAKE);
        cmd.arg(1)
            .arg(keys::name(name))
            .arg(self.id.claim_value(name))
            .arg(keys::CLAIM_TTL.as_secs())
            .arg(self.id.as_str());
        let _: i64 = self.query(&mut cmd).await?;
        Ok(())
    }

    /// The wrong passwords every server counted for each of `keys` (see
    /// [`keys::FAILURES_PREFIX`]) in the current window; 0 for a key
    /// none has.
    pub(crate) async fn failures(&self, keys: &[String]) -> Result<Vec<u32>, ClusterError> {
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(format!("{}{key}", keys::FAILURES_PREFIX));
        }
        let counts: Vec<Option<u32>> = self.query(&mut cmd).await?;
        Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Counts a wrong password against each of `keys` for every server;
    /// a key's count starts a `window` that ends it. Awaited, so that the
    /// next check on any server sees it.
    pub(crate) async fn failed(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<(), ClusterError> {
        let mut connection = self.connection().ok_or(ClusterError::Down)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in keys {
            let key = format!("{}{key}", keys::FAILURES_PREFIX);
            pipe.cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("EX")
                .arg(window.as_secs())
                .arg("NX")
                .ignore();
            pipe.cmd("INCR").arg(&key).ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    /// The bans Redis keeps, those in force or not.
    pub(crate) async fn bans(&self) -> Result<Vec<Ban>, ClusterError> {
        let mut connection = self.connection().ok_or(ClusterError::Down)?;
        Ok(read_bans(&mut connection).await?)
    }
}

/// Lists `name` in [`keys::OPS`] as an operator on server `id`.
pub(super) fn op_command(id: &ServerId, name: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(keys::OPS).arg(name.to_lowercase()).arg(id.as_str());
    cmd
}

/// The entries of the hash `key` kept in Redis, each checked by `check`:
/// one that fails is logged (as a `what`) and dropped.
async fn read_checked<T>(
    connection: &mut MultiplexedConnection,
    key: &str,
    what: &str,
    check: impl Fn(&[u8]) -> Result<T, Refused>,
) -> redis::RedisResult<Vec<T>> {
    let kept: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(connection)
        .await?;
    Ok(kept
        .into_iter()
        .filter_map(|(field, json)| {
            check(json.as_bytes())
                .inspect_err(|reason| {
                    tracing::warn!(field, "dropped a {what} kept in Redis: {reason}")
                })
                .ok()
        })
        .collect())
}

/// The bans kept in Redis, each checked ([`inbound::ban`]).
pub(super) async fn read_bans(
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<Vec<Ban>> {
    read_checked(connection, keys::BANS, "ban", inbound::ban).await
}

/// The registered names kept in Redis, each checked ([`inbound::owner`]).
pub(super) async fn read_names(
    connection: &mut MultiplexedConnection,
) -> redis::RedisResult<Vec<Owner>> {
    read_checked(connection, keys::REGISTERED, "registration", inbound::owner).await
}

/// A call of `script`, which takes no keys, for the lowercase `name` and
/// `record` (a ban, a registration, or the event every server applies), in
/// JSON.
fn by_name(script: &redis::Script, name: &str, record: &impl serde::Serialize) -> redis::Cmd {
    let mut cmd = scripts::call(script);
    cmd.arg(0)
        .arg(name.to_lowercase())
        .arg(serde_json::to_string(record).expect("bans, registrations and events are JSON"));
    cmd
}
