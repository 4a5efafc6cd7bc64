//! Where history lives and what is said goes: in memory, on disk
//! (`--data-dir`), or in Redis, shared with other servers (`--redis-url`).
//! One of three, so that no server can be given two.
//!
//! Each question the registry asks has its answer here, so the registry
//! reads without a branch per backend. Redis's "link down, work locally"
//! rule lives here too: while the link is down, a Redis backend answers as
//! a server alone would, except that ids stay the cluster's to give.

use crate::config::{HistoryConfig, Storage};
use crate::protocol::{Event, RoomInfo};
use crate::server::cluster::{Bridge, Cluster, ClusterError, ConnectError, WhoPage};
use crate::server::history::RoomTail;
use crate::server::metrics::Metrics;
use crate::server::owner::Owner;
use crate::server::store::{Change, OpenError, Store};

use super::Ban;

/// Where history lives.
#[derive(Debug)]
pub(crate) enum Backend {
    Memory,
    Disk(Store),
    Redis(Cluster),
}

/// Why the server cannot start with the history it was given.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Cluster(#[from] ConnectError),
}

/// How a room that is not here comes to be.
pub(super) enum Start {
    /// From nothing; `synced` is whether that is the cluster's view too.
    Empty { synced: bool },
    /// From its tail, read outside the registry's lock first.
    Load,
}

impl Backend {
    /// Opens what `history` names, reporting to `metrics`; with Redis, the
    /// bridge that must run once the registry exists comes too, taking no
    /// text longer than `max_message_bytes` from the other servers.
    ///
    /// # Errors
    ///
    /// A data directory or a Redis that cannot be used, in one line.
    pub(crate) async fn open(
        history: &HistoryConfig,
        max_message_bytes: usize,
        metrics: &mut Metrics,
    ) -> Result<(Backend, Option<Bridge>), StartError> {
        Ok(match &history.storage {
            Storage::Memory => (Backend::Memory, None),
            Storage::Disk {
                dir,
                commit_interval,
            } => {
                let store = Store::open(
                    dir,
                    history.len,
                    history.max_stored_rooms,
                    *commit_interval,
                    metrics.register_store(),
                )?;
                (Backend::Disk(store), None)
            }
            Storage::Redis { url } => {
                let (cluster, bridge) = Cluster::connect(
                    url,
                    history.len,
                    history.max_stored_rooms,
                    max_message_bytes,
                    metrics.register_link(),
                )
                .await?;
                (Backend::Redis(cluster), Some(bridge))
            }
        })
    }

    /// The other servers, while the link to them is up: what is said goes
    /// there and comes back to be delivered. `None`: this server delivers
    /// what is said itself.
    pub(super) fn relay(&self) -> Option<&Cluster> {
        match self {
            Backend::Redis(cluster) if cluster.is_up() => Some(cluster),
            _ => None,
        }
    }

    /// Whether this server is one of several sharing a Redis.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Redis(_))
    }

    /// Whether this server gives ids to what is said in its rooms; with
    /// Redis they are the cluster's to give, even while the link is down.
    pub(super) fn numbers_messages(&self) -> bool {
        !matches!(self, Backend::Redis(_))
    }

    /// Keeps a message this server numbered and delivered.
    pub(super) fn keep(&self, event: Event) {
        if let Backend::Disk(store) = self {
            store.append(event);
        }
    }

    /// The bans kept from before a restart (`--data-dir`); taken once, at
    /// start. With Redis the bridge loads them at each resynchronisation
    /// instead (`Registry::bans_loaded`).
    pub(super) fn saved_bans(&mut self) -> Vec<Ban> {
        match self {
            Backend::Disk(store) => store.take_bans(),
            Backend::Memory | Backend::Redis(_) => Vec::new(),
        }
    }

    // The moderation changes below return whether Redis took the change
    // (`true`: every server, this one included, applies it when it comes
    // back from there), so that the registry applies it here only
    // otherwise: without Redis, or while the link is down.

    /// Keeps a ban given (or given again).
    #[must_use = "a ban Redis did not take is held here alone"]
    pub(super) fn keep_ban(&self, ban: &Ban) -> bool {
        if let Backend::Disk(store) = self {
            store.moderate(Change::KeepBan(ban.clone()));
        }
        self.relay().is_some_and(|cluster| cluster.keep_ban(ban))
    }

    /// Forgets the ban on `name`, lifted by `unban` (its event).
    #[must_use = "a lifting Redis did not take holds here alone"]
    pub(super) fn forget_ban(&self, name: &str, unban: &Event) -> bool {
        if let Backend::Disk(store) = self {
            store.moderate(Change::ForgetBan(name.to_owned()));
        }
        self.relay()
            .is_some_and(|cluster| cluster.forget_ban(name, unban))
    }

    /// Keeps `room`'s topic (empty: cleared), set by `notice` (its event).
    #[must_use = "a topic Redis did not take is set here alone"]
    pub(super) fn keep_topic(&self, room: &str, topic: &str, notice: &Event) -> bool {
        if let Backend::Disk(store) = self {
            store.moderate(Change::Topic {
                room: room.to_owned(),
                topic: (!topic.is_empty()).then(|| topic.to_owned()),
            });
        }
        self.relay()
            .is_some_and(|cluster| cluster.topic(room, topic, notice))
    }

    /// How a room that is not here starts.
    pub(super) fn start(&self) -> Start {
        match self {
            Backend::Memory => Start::Empty { synced: true },
            Backend::Disk(_) => Start::Load,
            // It catches up when Redis is back.
            Backend::Redis(cluster) if !cluster.is_up() => Start::Empty { synced: false },
            Backend::Redis(_) => Start::Load,
        }
    }

    /// The lobby's tail, which exists from the start, and whether it is the
    /// cluster's (with Redis it is loaded like any room once the link is up).
    pub(super) fn lobby(&mut self) -> (RoomTail, bool) {
        match self {
            Backend::Memory => (RoomTail::default(), true),
            Backend::Disk(store) => (store.take_lobby().unwrap_or_default(), true),
            Backend::Redis(_) => (RoomTail::default(), false),
        }
    }

    /// A room's tail, and whether it is the cluster's; a tail that cannot
    /// be read is logged and the room starts empty.
    pub(super) async fn load(&self, room: &str) -> (RoomTail, bool) {
        match self {
            Backend::Memory => (RoomTail::default(), true),
            Backend::Disk(store) => match store.load(room).await {
                Ok(tail) => (tail, true),
                Err(err) => {
                    tracing::error!(
                        "cannot read the history of room {room}: {err}; its ids start again"
                    );
                    (RoomTail::default(), true)
                }
            },
            Backend::Redis(cluster) => match cluster.load(room).await {
                Ok(tail) => (tail, true),
                Err(err) => {
                    tracing::warn!("cannot read the history of room {room} from Redis: {err}");
                    (RoomTail::default(), false)
                }
            },
        }
    }

    /// The registered names saved before the start (`--data-dir`).
    pub(super) fn take_names(&mut self) -> Vec<Owner> {
        match self {
            Backend::Disk(store) => store.take_names(),
            _ => Vec::new(),
        }
    }

    /// Whether registered names outlive a restart (of this server: with
    /// Redis they are kept there).
    pub(super) fn keeps_names(&self) -> bool {
        matches!(self, Backend::Disk(_) | Backend::Redis(_))
    }

    /// Saves a registered name, or its new password.
    #[must_use = "a registration Redis did not take holds here alone"]
    pub(super) async fn save_name(&self, owner: Owner) -> bool {
        if let Backend::Disk(store) = self {
            store.save_name(owner).await;
            return false;
        }
        self.relay().is_some_and(|cluster| cluster.register(&owner))
    }

    /// Forgets the registered `name`, freed by `event` (its
    /// `unregistered`).
    #[must_use = "a name Redis did not free stays registered elsewhere"]
    pub(super) async fn forget_name(&self, name: &str, event: &Event) -> bool {
        if let Backend::Disk(store) = self {
            store.forget_name(name.to_lowercase()).await;
            return false;
        }
        self.relay()
            .is_some_and(|cluster| cluster.unregister(name, event))
    }

    /// Commands waiting to go out: a sender is held back until they have.
    pub(super) fn backlog(&self) -> usize {
        match self {
            Backend::Redis(cluster) => cluster.pending(),
            _ => 0,
        }
    }

    /// A page of the names in `room` on every server (see
    /// [`Cluster::who`]); `None` if this server's are all there is (one
    /// server, or the link is down).
    pub(super) async fn who(
        &self,
        room: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        len: usize,
    ) -> Result<Option<WhoPage>, ClusterError> {
        match self.relay() {
            Some(cluster) => cluster.who(room, prefix, after, len).await.map(Some),
            None => Ok(None),
        }
    }

    /// The rooms with people on every server; `None` as for [`Backend::who`].
    pub(super) async fn rooms(&self) -> Result<Option<Vec<RoomInfo>>, ClusterError> {
        match self.relay() {
            Some(cluster) => cluster.rooms().await.map(Some),
            None => Ok(None),
        }
    }

    /// Commits what is queued and closes, at shutdown.
    pub(crate) async fn close(&self) {
        if let Backend::Disk(store) = self {
            store.close().await;
        }
    }
}
