//! The one thread that writes the database: it drains the queue of appended
//! messages and commits them in one transaction per commit interval (group
//! commit), deletes what retention no longer keeps in the same transaction,
//! and answers the loads of rooms, in queue order, so a load always sees every
//! message appended before it was asked for.
//!
//! A write that fails (a full disk, an I/O error) is logged, its messages are
//! counted as lost, and the next interval tries again with new messages: the
//! chat goes on meanwhile, and the loss is reported once writes succeed again.
//!
//! One concept, some 595 lines: the one thread that owns the SQLite
//! connection, with every job it takes (appends, loads, moderation changes,
//! registered names), since only it may touch the file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension as _, params};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::DEFAULT_ROOM;
use crate::server::ban::Ban;
use crate::server::history::{RoomTail, Said, StoredMessage};
use crate::server::metrics::StoreMetrics;
use crate::server::owner::Owner;

/// Jobs taken from the queue for one transaction at most: bounds the time a
/// transaction holds messages in memory when the queue was long.
const MAX_BATCH: usize = 4_096;

/// What the writer thread is asked to do.
pub(super) enum Job {
    Append {
        room: String,
        message: StoredMessage,
        /// What this job counts towards the queue's byte budget.
        bytes: usize,
    },
    Load {
        room: String,
        reply: oneshot::Sender<rusqlite::Result<RoomTail>>,
    },
    /// Commit everything queued before, close the database, and stop.
    Close { reply: oneshot::Sender<()> },
    /// Keep a moderation change (a ban, its end, a topic).
    Moderate(Change),
    /// Save a registered name (or its new password).
    SaveName(Owner),
    /// Forget a registered name, by its lowercase form.
    ForgetName(String),
}

/// A moderation change to keep.
#[derive(Debug)]
pub(crate) enum Change {
    KeepBan(Ban),
    /// The ban on this name is lifted.
    ForgetBan(String),
    /// The room's topic; `None` clears it.
    Topic {
        room: String,
        topic: Option<String>,
    },
}

/// What the writer thread works with besides its queue.
pub(super) struct Writer {
    pub conn: Connection,
    pub jobs: mpsc::Receiver<Job>,
    pub commit_interval: Duration,
    pub history_len: usize,
    /// Rooms whose history the file keeps at most (`--max-stored-rooms`).
    pub max_rooms: usize,
    /// The `touched` of the last commit: each commit's is later, even
    /// within one millisecond, so the least recently written room is one.
    pub last_touched: i64,
    pub queued_bytes: Arc<AtomicUsize>,
    pub losses: Arc<Losses>,
    pub metrics: StoreMetrics,
}

impl Writer {
    /// Runs until a `Close` job, or until every sender is gone.
    pub(super) fn run(mut self) {
        let mut last_commit: Option<Instant> = None;
        let mut batch = Vec::new();
        while let Some(first) = self.jobs.blocking_recv() {
            // Group commit: whatever arrives until the interval since the
            // last commit is over goes into the same transaction.
            if let Some(at) = last_commit {
                std::thread::sleep(
                    (at + self.commit_interval).saturating_duration_since(Instant::now()),
                );
            }
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.metrics.queue_depth.dec_by(batch.len() as i64);
            last_commit = Some(Instant::now());
            if let Some(reply) = self.write(&mut batch) {
                // Closed before the reply, so that an append made after
                // `Store::close` returns is counted as lost, not queued for
                // a writer that is gone.
                self.jobs.close();
                while let Ok(job) = self.jobs.try_recv() {
                    self.metrics.queue_depth.dec();
                    if let Job::Append { room, message, .. } = job {
                        self.losses
                            .record(&room, message.id, &"the server is shutting down");
                    }
                }
                self.losses.report_unsaved();
                drop(self.conn);
                let _ = reply.send(());
                return;
            }
        }
    }

    /// Commits the appends of `batch` and answers its loads; returns the
    /// reply of a `Close` job if there was one.
    fn write(&mut self, batch: &mut Vec<Job>) -> Option<oneshot::Sender<()>> {
        let mut appends = Vec::new();
        let mut loads = Vec::new();
        let mut changes = Vec::new();
        let mut close = None;
        let mut names = Vec::new();
        for job in batch.drain(..) {
            match job {
                Job::Append {
                    room,
                    message,
                    bytes,
                } => {
                    self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    appends.push((room, message));
                }
                Job::Load { room, reply } => loads.push((room, reply)),
                Job::Close { reply } => close = Some(reply),
                Job::Moderate(change) => changes.push(change),
                Job::SaveName(owner) => names.push(Ok(owner)),
                Job::ForgetName(key) => names.push(Err(key)),
            }
        }
        // Each its own small transaction: they are rare, and a failure to
        // write one must not cost the messages theirs.
        for change in names {
            if let Err(err) = self.save_name(change) {
                self.metrics.failed_commits.inc();
                tracing::error!("cannot save a change of the registered names: {err}");
            }
        }
        let earlier_losses = self.losses.take();
        if !appends.is_empty() || !earlier_losses.is_empty() {
            let retention = Retention {
                history_len: self.history_len,
                max_rooms: self.max_rooms,
            };
            self.last_touched = now_ms().max(self.last_touched + 1);
            let touched = self.last_touched;
            match commit(
                &mut self.conn,
                &appends,
                &earlier_losses,
                retention,
                touched,
            ) {
                Ok(()) => self.losses.report_saved(&earlier_losses),
                Err(err) => {
                    self.metrics.failed_commits.inc();
                    self.losses.restore(earlier_losses);
                    let why = format!("writing failed: {err}");
                    for (room, message) in &appends {
                        self.losses.record(room, message.id, &why);
                    }
                }
            }
        }
        if !changes.is_empty() {
            self.last_touched = now_ms().max(self.last_touched + 1);
            if let Err(err) = moderate(&mut self.conn, &changes, self.last_touched) {
                self.metrics.failed_commits.inc();
                tracing::error!(
                    "cannot save {} moderation changes (bans, topics): {err}; they hold until the server stops",
                    changes.len()
                );
            }
        }
        // After the changes: a room loaded now has the topic just set.
        for (room, reply) in loads {
            let tail = self.load(&room);
            let _ = reply.send(tail);
        }
        close
    }

    /// Saves (`Ok`) or forgets (`Err`, by lowercase form) a registered name.
    fn save_name(&self, change: Result<Owner, String>) -> rusqlite::Result<()> {
        match change {
            Ok(owner) => self
                .conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO registered_names (key, name, hash, address)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    owner.name.to_lowercase(),
                    owner.name,
                    owner.hash.as_ref(),
                    owner.address.to_string()
                ])
                .map(drop),
            Err(key) => self
                .conn
                .prepare_cached("DELETE FROM registered_names WHERE key = ?1")?
                .execute([key])
                .map(drop),
        }
    }

    /// Every registered name, read at start.
    pub(super) fn load_names(&self) -> rusqlite::Result<Vec<Owner>> {
        self.conn
            .prepare_cached("SELECT name, hash, address FROM registered_names")?
            .query_map([], |row| {
                let address: String = row.get(2)?;
                Ok(Owner {
                    name: row.get(0)?,
                    hash: row.get::<_, String>(1)?.into(),
                    // An address that does not parse counts as nobody's.
                    address: address
                        .parse()
                        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                })
            })?
            .collect()
    }

    pub(super) fn load(&self, room: &str) -> rusqlite::Result<RoomTail> {
        let saved: Option<(u64, Option<String>)> = self
            .conn
            .prepare_cached("SELECT last_id, topic FROM rooms WHERE name = ?1")?
            .query_row([room], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (saved, topic) = saved.map_or((None, None), |(id, topic)| (Some(id), topic));
        let mut messages = self
            .conn
            .prepare_cached(
                "SELECT id, kind, sender, text, ts FROM messages
                 WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
            )?
            .query_map(params![room, self.history_len], |row| {
                Ok(StoredMessage {
                    id: row.get(0)?,
                    kind: kind_from_column(&row.get::<_, String>(1)?),
                    from: row.get(2)?,
                    text: row.get(3)?,
                    ts: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        messages.reverse();
        // Ids handed out but not saved yet (lost) are still taken.
        let last_id = saved
            .into_iter()
            .chain(messages.last().map(|m| m.id))
            .chain(self.losses.last_id(room))
            .max()
            .unwrap_or(0);
        Ok(RoomTail {
            last_id,
            messages,
            topic,
        })
    }

    /// The bans in force, at most `max` (those that ended are deleted).
    pub(super) fn load_bans(&self, max: usize) -> rusqlite::Result<Vec<Ban>> {
        self.conn.execute(
            "DELETE FROM bans WHERE until IS NOT NULL AND until <= ?1",
            [now_ms()],
        )?;
        self.conn
            .prepare("SELECT spelled, address, until, by, reason FROM bans LIMIT ?1")?
            .query_map([max], |row| {
                let address: Option<String> = row.get(1)?;
                Ok(Ban {
                    name: row.get(0)?,
                    // Written by us from an address; anything else is no address.
                    address: address.and_then(|a| a.parse().ok()),
                    until: row.get(2)?,
                    by: row.get(3)?,
                    reason: row.get(4)?,
                })
            })?
            .collect()
    }
}

/// Keeps `changes` in one transaction; a topic set gives its room a row
/// (touched now) if it had none, so that retention counts it.
fn moderate(conn: &mut Connection, changes: &[Change], touched: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for change in changes {
        match change {
            Change::KeepBan(ban) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO bans (name, spelled, address, until, by, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    ban.name.to_lowercase(),
                    ban.name,
                    ban.address.map(|a| a.to_string()),
                    ban.until,
                    ban.by,
                    ban.reason
                ])?;
            }
            Change::ForgetBan(name) => {
                tx.prepare_cached("DELETE FROM bans WHERE name = ?1")?
                    .execute([name.to_lowercase()])?;
            }
            Change::Topic { room, topic } => {
                tx.prepare_cached(
                    "INSERT INTO rooms (name, last_id, touched, topic) VALUES (?1, 0, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET topic = excluded.topic,
                                                      touched = excluded.touched",
                )?
                .execute(params![room, touched, topic])?;
            }
        }
    }
    tx.commit()
}

/// What the file keeps.
#[derive(Debug, Clone, Copy)]
struct Retention {
    /// Messages per room.
    history_len: usize,
    /// Rooms: past it, the least recently written go, history, last id and
    /// all (the lobby stays). A room dropped and used again starts again
    /// from id 1.
    max_rooms: usize,
}

/// Writes `appends` and the last ids of `lost` messages in one transaction,
/// deleting what the file no longer keeps: each touched room's oldest
/// messages, and the least recently written rooms past the bound.
fn commit(
    conn: &mut Connection,
    appends: &[(String, StoredMessage)],
    lost: &LossLog,
    retention: Retention,
    touched: i64,
) -> rusqlite::Result<()> {
    let history_len = retention.history_len;
    let tx = conn.transaction()?;
    let mut last_ids: HashMap<&str, u64> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO messages (room, id, kind, sender, text, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (room, m) in appends {
            insert.execute(params![
                room,
                m.id,
                kind_column(m.kind),
                m.from,
                m.text,
                m.ts
            ])?;
            let last = last_ids.entry(room).or_default();
            *last = (*last).max(m.id);
        }
    }
    for (room, range) in lost {
        let last = last_ids.entry(room).or_default();
        *last = (*last).max(range.last);
    }
    let mut save_last_id = tx.prepare_cached(
        "INSERT INTO rooms (name, last_id, touched) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id),
                                          touched = excluded.touched",
    )?;
    // Retention: only the touched rooms change, and each delete is a range
    // scan of the primary key, as long as what this batch added.
    let mut forget = tx.prepare_cached("DELETE FROM messages WHERE room = ?1 AND id <= ?2")?;
    for (room, last_id) in &last_ids {
        save_last_id.execute(params![room, last_id, touched])?;
        let keep_after = last_id.saturating_sub(history_len as u64);
        if keep_after > 0 {
            forget.execute(params![room, keep_after])?;
        }
    }
    drop((save_last_id, forget));
    if !last_ids.is_empty() {
        drop_least_recent_rooms(&tx, retention.max_rooms)?;
    }
    tx.commit()
}

/// Drops the least recently written rooms past `max_rooms`, never the
/// lobby, which always exists.
fn drop_least_recent_rooms(
    tx: &rusqlite::Transaction<'_>,
    max_rooms: usize,
) -> rusqlite::Result<()> {
    let stored: usize = tx.query_row("SELECT count(*) FROM rooms", [], |row| row.get(0))?;
    let excess = stored.saturating_sub(max_rooms.max(1));
    if excess == 0 {
        return Ok(());
    }
    let oldest = "SELECT name FROM rooms WHERE name != ?1 ORDER BY touched LIMIT ?2";
    tx.prepare_cached(&format!("DELETE FROM messages WHERE room IN ({oldest})"))?
        .execute(params![DEFAULT_ROOM, excess])?;
    let dropped = tx
        .prepare_cached(&format!("DELETE FROM rooms WHERE name IN ({oldest})"))?
        .execute(params![DEFAULT_ROOM, excess])?;
    tracing::debug!("dropped the history of the {dropped} least recently written rooms");
    Ok(())
}

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn kind_column(kind: Said) -> &'static str {
    match kind {
        Said::Message => "message",
        Said::Action => "action",
    }
}

fn kind_from_column(kind: &str) -> Said {
    match kind {
        "action" => Said::Action,
        _ => Said::Message,
    }
}

/// Messages that reached everyone but not the database, by room, until they
/// are reported.
pub(super) struct Losses {
    /// The database, for the log lines.
    path: PathBuf,
    state: Mutex<LossState>,
}

#[derive(Default)]
struct LossState {
    rooms: LossLog,
    /// Whether this episode of losses has been announced: one warning when it
    /// starts and one when it ends, not one per message.
    announced: bool,
}

/// Lost ids by room.
type LossLog = BTreeMap<String, Lost>;

/// A room's lost ids: the first, the last, and how many in between were lost.
#[derive(Debug, Clone, Copy)]
struct Lost {
    first: u64,
    last: u64,
    count: u64,
}

impl Lost {
    fn merge(&mut self, other: Lost) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.count += other.count;
    }
}

impl Losses {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: Mutex::new(LossState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LossState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts message `id` of `room` as not saved, announcing the start of an
    /// episode of losses.
    pub(super) fn record(&self, room: &str, id: u64, why: &dyn fmt::Display) {
        let mut state = self.state();
        if !state.announced {
            state.announced = true;
            tracing::warn!(
                "history is not being saved to {} ({why}); messages still reach everyone, and what is not saved will be reported",
                self.path.display()
            );
        }
        let lost = Lost {
            first: id,
            last: id,
            count: 1,
        };
        state
            .rooms
            .entry(room.to_owned())
            .and_modify(|known| known.merge(lost))
            .or_insert(lost);
    }

    /// The losses so far, leaving none.
    fn take(&self) -> LossLog {
        std::mem::take(&mut self.state().rooms)
    }

    /// Puts back losses that could not be saved.
    fn restore(&self, earlier: LossLog) {
        let mut state = self.state();
        for (room, lost) in earlier {
            state
                .rooms
                .entry(room)
                .and_modify(|known| known.merge(lost))
                .or_insert(lost);
        }
    }

    /// The last lost id of `room`, if it has lost any not yet saved.
    pub(super) fn last_id(&self, room: &str) -> Option<u64> {
        self.state().rooms.get(room).map(|lost| lost.last)
    }

    /// Reports, once writes succeed again, what an episode lost, and ends it:
    /// the next loss is announced again.
    fn report_saved(&self, saved: &LossLog) {
        if saved.is_empty() {
            return;
        }
        tracing::warn!(
            "history is saved to {} again; {} messages reached everyone but were not saved: {}",
            self.path.display(),
            total(saved),
            describe(saved)
        );
        let mut state = self.state();
        if state.rooms.is_empty() {
            state.announced = false;
        }
    }

    /// Reports, at shutdown, the losses that writes never caught up with.
    fn report_unsaved(&self) {
        let unsaved = self.take();
        if !unsaved.is_empty() {
            tracing::error!(
                "shutting down; {} messages reached everyone but were not saved to {}: {}",
                total(&unsaved),
                self.path.display(),
                describe(&unsaved)
            );
        }
    }

    /// Messages lost and not yet reported, over all rooms.
    #[cfg(test)]
    pub(super) fn pending(&self) -> u64 {
        self.state().rooms.values().map(|lost| lost.count).sum()
    }
}

fn total(log: &LossLog) -> u64 {
    log.values().map(|lost| lost.count).sum()
}

/// `lobby ids 120-156 (37), rust ids 3-5 (3)`.
fn describe(log: &LossLog) -> String {
    log.iter()
        .map(|(room, lost)| format!("{room} ids {}-{} ({})", lost.first, lost.last, lost.count))
        .collect::<Vec<_>>()
        .join(", ")
}
