//! Durable history: each room's messages in an SQLite database in the data
//! directory (`--data-dir`), so that a restart loses nothing.
//!
//! The registry keeps serving replay and `since` from each room's in-memory
//! history; the database is the truth across restarts and room evictions.
//! Retention keeps the same `--history` messages per room in both, so a room
//! loaded from the database holds everything the database has for it.
//!
//! - Appends are queued from under the registry lock with `try_send` on a
//!   bounded queue: fan-out never waits for the disk. A full queue (a stalled
//!   disk) costs the message its place in the database, not its delivery; the
//!   loss is counted and reported.
//! - One writer thread (`writer`) commits the queue once per commit interval
//!   (group commit), in WAL mode, so `kill -9` loses at most the messages of
//!   the last interval. A clean shutdown ([`Store::close`]) commits everything.
//! - A room is loaded (its last id and its last `--history` messages) when it
//!   is created: at start for the lobby, else on first join after a start or
//!   an eviction. The writer answers loads in queue order, after the appends
//!   made before them.
//! - `schema`: the file's layout, versioned, with its migrations.
//!
//! At start, a data directory that cannot be used is one clear error: not
//! writable, in use by another server (an exclusive lock on `DIR/lock`, held
//! for the server's life), a symbolic link where one of our files goes, a
//! corrupt or foreign file, or a file written by a newer release (refused,
//! never rewritten).
//!
//! History is private: a directory the server creates is `0700`, and the
//! files it creates there `0600` (SQLite gives its `-wal` and `-shm` files
//! the database's mode). It never follows a link in the directory, so that
//! whoever can plant one there cannot make the server write elsewhere.

mod schema;
mod writer;

pub(crate) use writer::Change;

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::history::{RoomTail, StoredMessage};
use super::metrics::StoreMetrics;
use crate::protocol::{DEFAULT_ROOM, Event};
use crate::server::ban::{Ban, MAX_BANS};
use crate::server::owner::Owner;
use schema::SchemaError;
use writer::{Job, Losses, Writer};

/// The database's file name in the data directory.
pub const DATABASE_FILE: &str = "chat.db";
/// The lock file a server holds in its data directory.
pub const LOCK_FILE: &str = "lock";
/// The file created and removed at start to check that the directory is
/// writable.
const PROBE_FILE: &str = ".write-test";
/// The files SQLite keeps beside the database, by their suffix.
const SQLITE_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];
/// Appends the queue holds before a message is no longer saved: some seconds
/// of a busy server's messages, so a slow commit costs nothing.
const QUEUE_LEN: usize = 16_384;
/// Bytes of queued appends at most, so that a stalled disk bounds memory even
/// with messages of the maximum size.
pub(crate) const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Why the data directory cannot be used; each is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {dir}: {reason}")]
    CreateDir {
        dir: PathBuf,
        reason: std::io::Error,
    },
    #[error(
        "the data directory {dir} is not writable: {reason} (choose a writable --data-dir, or fix its permissions)"
    )]
    NotWritable {
        dir: PathBuf,
        reason: std::io::Error,
    },
    #[error(
        "another server is using the data directory {dir} (stop it, or choose another --data-dir)"
    )]
    InUse { dir: PathBuf },
    #[error(
        "{path} is a symbolic link, and the server follows none in its data directory (remove it, or choose another --data-dir)"
    )]
    Symlink { path: PathBuf },
    #[error(
        "{path} is not a chat database or is corrupt: {reason} (move it away to start with an empty history)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} cannot be used: {reason}")]
    Schema { path: PathBuf, reason: String },
    #[error("cannot open {path}: {reason}")]
    File {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("cannot open {path}: {reason}")]
    Sqlite {
        path: PathBuf,
        reason: rusqlite::Error,
    },
    #[error("cannot start the history writer: {0}")]
    Thread(std::io::Error),
}

/// Why a room's tail could not be read; a line for the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("the history writer has stopped")]
    Stopped,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The durable history of every room; one per server, opened by the binary
/// before it listens (see [`crate::server::run_with`]).
pub struct Store {
    jobs: mpsc::Sender<Job>,
    /// Bytes of appends in the queue (see [`MAX_QUEUED_BYTES`]).
    queued_bytes: Arc<AtomicUsize>,
    losses: Arc<Losses>,
    metrics: StoreMetrics,
    /// The lobby's tail, read at start: the lobby always exists, so it is
    /// never loaded on a join.
    lobby: Option<RoomTail>,
    /// The bans in force, read at start, until the registry takes them.
    bans: Vec<Ban>,
    /// The registered names, read at start, until the registry takes them.
    names: Option<Vec<Owner>>,
    /// Held, locked, for the server's life (released by the OS on any exit).
    _lock: File,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the history in `dir`, keeping `history_len`
    /// messages per room for `max_rooms` rooms at most and committing every
    /// `commit_interval`, and reporting its queue and its failures to
    /// `metrics`.
    ///
    /// # Errors
    ///
    /// See [`OpenError`]: each says what is wrong with `dir` and what to do.
    pub(crate) fn open(
        dir: &Path,
        history_len: usize,
        max_rooms: usize,
        commit_interval: Duration,
        metrics: StoreMetrics,
    ) -> Result<Self, OpenError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|reason| OpenError::CreateDir {
                dir: dir.to_owned(),
                reason,
            })?;
        let not_writable = |reason| OpenError::NotWritable {
            dir: dir.to_owned(),
            reason,
        };
        let lock = open_private(&dir.join(LOCK_FILE)).map_err(|err| err.or(not_writable))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::InUse {
                    dir: dir.to_owned(),
                });
            }
            Err(TryLockError::Error(reason)) => return Err(not_writable(reason)),
        }
        // The lock file may be left from a time the directory was writable;
        // SQLite needs to create files beside the database.
        probe(&dir.join(PROBE_FILE)).map_err(|err| err.or(not_writable))?;

        let path = dir.join(DATABASE_FILE);
        // SQLite's own files beside the database: it did not write through
        // a link there when tried (one for `-shm` failed the open, unnamed),
        // so this is for a clear refusal that names the link.
        for suffix in SQLITE_SUFFIXES {
            let beside = dir.join(format!("{DATABASE_FILE}{suffix}"));
            if std::fs::symlink_metadata(&beside).is_ok_and(|m| m.is_symlink()) {
                return Err(OpenError::Symlink { path: beside });
            }
        }
        // Created here rather than by SQLite, for its mode.
        open_private(&path).map_err(|err| {
            err.or(|reason| OpenError::File {
                path: path.clone(),
                reason,
            })
        })?;
        let conn = open_database(&path)?;
        let losses = Arc::new(Losses::new(path.clone()));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let (jobs, queue) = mpsc::channel(QUEUE_LEN);
        let writer = Writer {
            conn,
            jobs: queue,
            commit_interval,
            history_len,
            max_rooms,
            last_touched: 0,
            queued_bytes: Arc::clone(&queued_bytes),
            losses: Arc::clone(&losses),
            metrics: metrics.clone(),
        };
        let lobby = writer
            .load(DEFAULT_ROOM)
            .map_err(|reason| OpenError::Corrupt {
                path: path.clone(),
                reason: reason.to_string(),
            })?;
        let bans = writer
            .load_bans(MAX_BANS)
            .map_err(|reason| OpenError::Corrupt {
                path: path.clone(),
                reason: reason.to_string(),
            })?;
        let names = writer.load_names().map_err(|reason| OpenError::Corrupt {
            path: path.clone(),
            reason: reason.to_string(),
        })?;
        std::thread::Builder::new()
            .name("history-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(OpenError::Thread)?;
        tracing::info!(
            "history in {} (the lobby's last id: {})",
            path.display(),
            lobby.last_id
        );
        Ok(Self {
            jobs,
            queued_bytes,
            losses,
            metrics,
            lobby: Some(lobby),
            bans,
            names: Some(names),
            _lock: lock,
        })
    }

    /// The lobby's tail as read at start; `None` once taken.
    pub(crate) fn take_lobby(&mut self) -> Option<RoomTail> {
        self.lobby.take()
    }

    /// The bans read at start; empty once taken.
    pub(crate) fn take_bans(&mut self) -> Vec<Ban> {
        std::mem::take(&mut self.bans)
    }

    /// Queues a moderation change (a ban, its end, a topic), never
    /// waiting: if the queue is full the change holds only until the
    /// server stops, which is logged.
    pub(crate) fn moderate(&self, change: Change) {
        self.metrics.queue_depth.inc();
        if let Err(err) = self.jobs.try_send(Job::Moderate(change)) {
            self.metrics.queue_depth.dec();
            tracing::error!(
                "cannot save a moderation change ({err}): it holds until the server stops"
            );
        }
    }

    /// The registered names as read at start; empty once taken.
    pub(crate) fn take_names(&mut self) -> Vec<Owner> {
        self.names.take().unwrap_or_default()
    }

    /// Saves a registered name, or its new password, in the next commit.
    pub(crate) async fn save_name(&self, owner: Owner) {
        if self.send(Job::SaveName(owner)).await.is_err() {
            tracing::error!("the history writer has stopped; a registration is not saved");
        }
    }

    /// Forgets the registered name whose lowercase form is `key`.
    pub(crate) async fn forget_name(&self, key: String) {
        if self.send(Job::ForgetName(key)).await.is_err() {
            tracing::error!("the history writer has stopped; an unregistration is not saved");
        }
    }

    /// Queues a message or action for the database, never waiting: if the
    /// queue is full the message is counted as lost instead.
    pub(crate) fn append(&self, event: Event) {
        let Some((room, message)) = StoredMessage::from_event(event) else {
            return;
        };
        let id = message.id;
        // The strings and the job's own size, roughly.
        let bytes = room.len() + message.from.len() + message.text.len() + 128;
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let refused = if queued > MAX_QUEUED_BYTES {
            Some((room, "the disk is not keeping up"))
        } else {
            self.metrics.queue_depth.inc();
            match self.jobs.try_send(Job::Append {
                room,
                message,
                bytes,
            }) {
                Ok(()) => None,
                Err(err) => {
                    self.metrics.queue_depth.dec();
                    match err {
                        mpsc::error::TrySendError::Full(job) => {
                            Some((job_room(job), "the disk is not keeping up"))
                        }
                        mpsc::error::TrySendError::Closed(job) => {
                            Some((job_room(job), "the history writer has stopped"))
                        }
                    }
                }
            }
        };
        if let Some((room, why)) = refused {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.losses.record(&room, id, &why);
        }
    }

    /// Reads `room`'s tail, after every append queued before.
    ///
    /// # Errors
    ///
    /// See [`LoadError`].
    pub(crate) async fn load(&self, room: &str) -> Result<RoomTail, LoadError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Load {
            room: room.to_owned(),
            reply,
        };
        self.send(job).await.map_err(|_| LoadError::Stopped)?;
        Ok(answer.await.map_err(|_| LoadError::Stopped)??)
    }

    /// Commits everything queued so far and closes the database.
    pub(crate) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Job::Close { reply }).await.is_err() || done.await.is_err() {
            tracing::error!(
                "the history writer stopped before shutdown; the last messages may not be saved"
            );
        }
    }
}

impl Store {
    /// Queues `job`, waiting for room in the queue.
    async fn send(&self, job: Job) -> Result<(), mpsc::error::SendError<Job>> {
        self.metrics.queue_depth.inc();
        let sent = self.jobs.send(job).await;
        if sent.is_err() {
            self.metrics.queue_depth.dec();
        }
        sent
    }
}

fn job_room(job: Job) -> String {
    match job {
        Job::Append { room, .. } | Job::Load { room, .. } => room,
        Job::Close { .. } | Job::Moderate(_) | Job::SaveName(_) | Job::ForgetName(_) => {
            String::new()
        }
    }
}

/// Opens the database at `path`, checks it, and brings its schema up to date.
/// Why a file in the data directory could not be made: a link where it goes,
/// or an I/O error, which the caller names.
enum FileError {
    Symlink(PathBuf),
    Io(std::io::Error),
}

impl FileError {
    /// The [`OpenError`] for this, with `io` for an I/O error.
    fn or(self, io: impl FnOnce(std::io::Error) -> OpenError) -> OpenError {
        match self {
            FileError::Symlink(path) => OpenError::Symlink { path },
            FileError::Io(reason) => io(reason),
        }
    }
}

/// Opens `path` for writing, creating it with mode `0600` if absent and
/// leaving its contents, without following a link: `O_NOFOLLOW` makes a link
/// there fail with `ELOOP`, which is the refusal.
fn open_private(path: &Path) -> Result<File, FileError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ELOOP) => FileError::Symlink(path.to_owned()),
            _ => FileError::Io(err),
        })
}

/// Creates and removes `path`, to check that the directory is writable.
/// `create_new` (`O_EXCL`) refuses anything already there, a link included,
/// so nothing outside the directory is ever opened; a plain file there is a
/// probe left by a crash, removed and tried again.
fn probe(path: &Path) -> Result<(), FileError> {
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    };
    let created = match create() {
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            let metadata = std::fs::symlink_metadata(path).map_err(FileError::Io)?;
            if metadata.is_symlink() {
                return Err(FileError::Symlink(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(FileError::Io)?;
            create()
        }
        result => result,
    };
    created
        .and_then(|_| std::fs::remove_file(path))
        .map_err(FileError::Io)
}

fn open_database(path: &Path) -> Result<Connection, OpenError> {
    let sqlite = |reason| OpenError::Sqlite {
        path: path.to_owned(),
        reason,
    };
    let corrupt = |reason: String| OpenError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    // No link followed here either, should one replace the file we checked.
    let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let mut conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
    // Read-only checks first: a file we refuse must leave here untouched.
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|err| corrupt(err.to_string()))?;
    if check != "ok" {
        return Err(corrupt(check));
    }
    let schema_error = |err: SchemaError| match err {
        SchemaError::Sqlite(reason) => sqlite(reason),
        SchemaError::Foreign(_) | SchemaError::Unversioned => corrupt(err.to_string()),
        SchemaError::Newer { .. } => OpenError::Schema {
            path: path.to_owned(),
            reason: err.to_string(),
        },
    };
    let version = schema::check(&conn).map_err(schema_error)?;
    // WAL: a commit appends to the log instead of rewriting pages, readers
    // never block the writer, and `synchronous = NORMAL` keeps every commit
    // through a crash of this process (`kill -9`); only a power cut may lose
    // the last commits.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("{} is in journal mode {mode}, not WAL", path.display());
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    schema::migrate(&mut conn, version).map_err(schema_error)?;
    Ok(conn)
}

#[cfg(test)]
mod tests;
