//! The load generator's restart storm (`--reconnect N`): N connections in
//! one room, each behaving as the terminal client does when its server
//! restarts. Each connects through the client library's own connect path
//! (`chat::client::Target`), and when the server closes it (1001) or its
//! socket drops, waits the client's own [`Backoff`] before each attempt and
//! resumes with `since` the last message it saw.
//!
//! Before the restart one of them says `--messages` numbered lines, which
//! everyone reads; then the load generator sends the server SIGTERM (given
//! `--server-pid`; the caller starts the next server on the same port, as
//! `scripts/restart-storm.sh` does). Once back, the same one says
//! `--after` more, which the others get live or, if they come back later,
//! in the replay after `since`. It reports when the 1001s came (after the
//! SIGTERM), any departures heard during the shutdown, how long until each
//! was back (p50, p99, max) and how the returns spread over time (one count
//! per second), and what was lost: every connection must end with every
//! numbered line exactly once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chat::client::{Backoff, ChatStream, Session, Target, Tls};
use chat::protocol::Event;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_websockets::Message;

/// What the storm is asked to do.
pub struct Storm {
    /// `ws://HOST:PORT`.
    pub base: String,
    pub connections: usize,
    /// Numbered lines said before the restart.
    pub before: usize,
    /// Numbered lines said after it, by the speaker once back.
    pub after: usize,
    pub server_pid: Option<u32>,
    /// Connection attempts in flight at once for the first connections
    /// (the returns are not gated: their spread is what is measured).
    pub concurrency: usize,
    pub timeout: Duration,
}

/// What every connection counts, shared.
#[derive(Default)]
struct Tally {
    /// When the server was told to stop (or, without `--server-pid`, when
    /// the first close came): the storm's time zero.
    stop_sent: OnceLock<Instant>,
    /// Close 1001 received, and when, in ms after `stop_sent`.
    going_away_ms: Mutex<Vec<u64>>,
    /// Closes with another code.
    other_closes: Mutex<Vec<u16>>,
    /// Sockets that ended without a close frame.
    dropped: AtomicU64,
    /// `leave` notices, and `presence` summaries with departures, read
    /// between `stop_sent` and the close.
    departures_heard: AtomicU64,
    /// The same, read after the return.
    departures_after_return: AtomicU64,
    /// Per connection, when it was back (its welcome), in ms after `stop_sent`.
    back_ms: Mutex<Vec<u64>>,
    /// Attempts to reconnect that failed (refused while the server was
    /// down, or closed before the welcome).
    failed_attempts: AtomicU64,
    /// Closes before the welcome (1013 when the cap is reached, say).
    refused_after_connect: AtomicU64,
    /// Returns greeted under another name: the old connection still held
    /// the name (an attempt the client gave up on, which the server
    /// accepted later, say).
    renamed: AtomicU64,
    /// Connections that ended without every line, and the lines missing.
    lost: AtomicU64,
    missing_lines: AtomicU64,
    /// Lines read twice.
    duplicated: AtomicU64,
    gaps: AtomicU64,
}

impl Tally {
    /// Milliseconds since the storm's time zero, which is now if it has
    /// not begun (the first close came before the stop was sent).
    fn ms_since_stop(&self) -> u64 {
        let zero = *self.stop_sent.get_or_init(Instant::now);
        u64::try_from(zero.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Runs the storm and prints its report.
pub async fn run(storm: Storm) -> anyhow::Result<()> {
    let run_id = std::process::id();
    let room = format!("storm-{run_id}");
    let tls = Arc::new(Tls::new(None).context("loading TLS roots")?);
    let tally = Arc::new(Tally::default());
    let cancel = CancellationToken::new();
    let gate = Arc::new(Semaphore::new(storm.concurrency.max(1)));
    let ready = Arc::new(Barrier::new(storm.connections + 1));
    // A permit per connection that has read every line said before the
    // restart, and one per connection that is back with every line.
    let read_before = Arc::new(Semaphore::new(0));
    let complete = Arc::new(Semaphore::new(0));
    let total = storm.before + storm.after;
    let mut tasks = JoinSet::new();
    let connect_started = Instant::now();
    for i in 0..storm.connections {
        let url = format!("{}/{room}?name=r{run_id}-{i}", storm.base);
        let target = Target::new(&url, None, None, None).context("building the URL")?;
        let person = Person {
            target,
            tls: tls.clone(),
            tally: tally.clone(),
            speaker: i == 0,
            before: storm.before,
            total,
        };
        let (gate, ready, read_before, complete, cancel) = (
            gate.clone(),
            ready.clone(),
            read_before.clone(),
            complete.clone(),
            cancel.clone(),
        );
        tasks.spawn(async move {
            person
                .live(&gate, &ready, &read_before, &complete, &cancel)
                .await
        });
    }
    tokio::select! {
        _ = ready.wait() => {}
        Some(Ok(Err(err))) = tasks.join_next() => {
            bail!("a connection failed before everyone was in: {err:#}");
        }
        () = tokio::time::sleep(storm.timeout) => bail!("not everyone connected within --timeout; is the server running?"),
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    println!(
        "{} connections in room {room} in {connect_secs:.2} s",
        storm.connections
    );
    let n = u32::try_from(storm.connections).context("too many connections")?;
    tokio::time::timeout(storm.timeout, read_before.acquire_many(n))
        .await
        .context("not everyone read the lines said before the restart within --timeout")??
        .forget();

    // The SIGTERM's time on the wall clock, for the script that restarts
    // the server to place the server's exit against.
    let mut stop_unix_ms = 0;
    match storm.server_pid {
        Some(pid) => {
            tally.stop_sent.get_or_init(Instant::now);
            stop_unix_ms = unix_ms();
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .context("running kill")?;
            if !status.success() {
                bail!("could not send SIGTERM to the server (pid {pid})");
            }
            println!("SIGTERM sent to the server (pid {pid}); waiting for everyone to come back");
        }
        None => println!("everyone has read the lines: restart the server now"),
    }
    let all_back = tokio::time::timeout(storm.timeout, complete.acquire_many(n)).await;
    let timed_out = match all_back {
        Ok(permits) => {
            permits?.forget();
            false
        }
        Err(_) => true,
    };
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    report(&storm, &tally, connect_secs, stop_unix_ms, timed_out);
    Ok(())
}

/// One connection of the storm and what it has read.
struct Person {
    target: Target,
    tls: Arc<Tls>,
    tally: Arc<Tally>,
    /// Says the numbered lines.
    speaker: bool,
    before: usize,
    total: usize,
}

/// What one connection has read, across its connections.
struct Reading {
    /// The numbers of the lines read (`storm K`).
    numbers: BTreeSet<usize>,
    /// The highest message id read: `since` for the next connection.
    last_id: Option<u64>,
    /// Whether this connection has counted itself as having read the
    /// lines said before the restart.
    told_before: bool,
    /// Whether this connection has counted itself as complete.
    complete: bool,
}

/// How one connection ended.
enum Ended {
    Cancelled,
    /// Closed by the server, or dropped.
    Lost,
}

impl Person {
    async fn live(
        self,
        gate: &Semaphore,
        ready: &Barrier,
        read_before: &Semaphore,
        complete: &Semaphore,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut reading = Reading {
            numbers: BTreeSet::new(),
            last_id: None,
            told_before: false,
            complete: false,
        };
        let mut session = self.target.first_session();
        let mut ws = {
            let _turn = gate.acquire().await.expect("the gate is never closed");
            let mut ws = self.target.connect(&session, &self.tls).await?;
            expect_welcome(&mut ws).await?;
            ws
        };
        ready.wait().await;
        if self.speaker {
            for k in 0..self.before {
                ws.send(Message::text(format!("storm {k}"))).await?;
            }
        }
        let mut returned = false;
        loop {
            let ended = self
                .read(&mut ws, &mut reading, returned, cancel, |reading| {
                    if !reading.told_before && reading.numbers.len() >= self.before {
                        reading.told_before = true;
                        read_before.add_permits(1);
                    }
                    if reading.numbers.len() == self.total && !reading.complete {
                        reading.complete = true;
                        complete.add_permits(1);
                    }
                })
                .await?;
            if matches!(ended, Ended::Cancelled) {
                self.count_missing(&reading);
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close()).await;
                return Ok(());
            }
            // As the client does: resume after the last message read, or
            // after nothing, so that a gap in between is reported.
            session.since = Some(reading.last_id.unwrap_or(0));
            let Some(back) = self.come_back(&session, cancel).await else {
                self.count_missing(&reading);
                return Ok(());
            };
            ws = back;
            if !returned {
                returned = true;
                let ms = self.tally.ms_since_stop();
                self.tally.back_ms.lock().expect("not poisoned").push(ms);
                if self.speaker {
                    for k in self.before..self.total {
                        ws.send(Message::text(format!("storm {k}"))).await?;
                    }
                }
            }
        }
    }

    /// Reads what the room says until the connection ends or `cancel`.
    async fn read(
        &self,
        ws: &mut ChatStream,
        reading: &mut Reading,
        returned: bool,
        cancel: &CancellationToken,
        mut progress: impl FnMut(&mut Reading),
    ) -> anyhow::Result<Ended> {
        progress(reading);
        loop {
            let frame = tokio::select! {
                () = cancel.cancelled() => return Ok(Ended::Cancelled),
                frame = ws.next() => frame,
            };
            let message = match frame {
                Some(Ok(message)) => message,
                Some(Err(_)) | None => {
                    self.tally.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(Ended::Lost);
                }
            };
            if let Some((code, _reason)) = message.as_close() {
                let code = u16::from(code);
                if code == 1001 {
                    let ms = self.tally.ms_since_stop();
                    self.tally
                        .going_away_ms
                        .lock()
                        .expect("not poisoned")
                        .push(ms);
                } else {
                    self.tally
                        .other_closes
                        .lock()
                        .expect("not poisoned")
                        .push(code);
                }
                return Ok(Ended::Lost);
            }
            let Some(text) = message.as_text() else {
                continue;
            };
            match serde_json::from_str::<Event>(text) {
                Ok(Event::Message { id, text, .. }) => {
                    if let Some(k) = text
                        .strip_prefix("storm ")
                        .and_then(|k| k.parse::<usize>().ok())
                        && !reading.numbers.insert(k)
                    {
                        self.tally.duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    reading.last_id = Some(reading.last_id.map_or(id, |last| last.max(id)));
                    progress(reading);
                }
                Ok(Event::Leave { .. }) => self.heard_departure(returned),
                Ok(Event::Presence { left, .. }) if left > 0 => self.heard_departure(returned),
                Ok(Event::Gap { .. }) => {
                    self.tally.gaps.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }

    /// Counts the lines this connection never read, at its end.
    fn count_missing(&self, reading: &Reading) {
        let missing = self.total - reading.numbers.len().min(self.total);
        if missing > 0 {
            self.tally.lost.fetch_add(1, Ordering::Relaxed);
            self.tally
                .missing_lines
                .fetch_add(missing as u64, Ordering::Relaxed);
        }
    }

    fn heard_departure(&self, returned: bool) {
        if returned {
            self.tally
                .departures_after_return
                .fetch_add(1, Ordering::Relaxed);
        } else if self.tally.stop_sent.get().is_some() {
            self.tally.departures_heard.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reconnects as the client does: the backoff's pause before each
    /// attempt, until one is greeted. `None` if cancelled first.
    async fn come_back(&self, session: &Session, cancel: &CancellationToken) -> Option<ChatStream> {
        let mut backoff = Backoff::new();
        loop {
            let attempt = async {
                tokio::time::sleep(backoff.pause()).await;
                let mut ws = self.target.connect(session, &self.tls).await.ok()?;
                match expect_welcome(&mut ws).await {
                    Ok(name) => {
                        if session.name.as_deref() != Some(name.as_str()) {
                            self.tally.renamed.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(ws)
                    }
                    Err(_) => {
                        self.tally
                            .refused_after_connect
                            .fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return None,
                ws = attempt => match ws {
                    Some(ws) => return Some(ws),
                    None => {
                        self.tally.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    }
                },
            }
        }
    }
}

/// Reads the welcome, and returns the name it gives.
async fn expect_welcome(ws: &mut ChatStream) -> anyhow::Result<String> {
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .context("no welcome within 30 s")?
        .context("closed before the welcome")??;
    match first.as_text().map(serde_json::from_str::<Event>) {
        Some(Ok(Event::Welcome { name, .. })) => Ok(name),
        _ => bail!("the first frame was not a welcome: {first:?}"),
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// p50, p99 and max of `ms`, or zeros when empty.
fn percentiles(ms: &[u64]) -> [u64; 3] {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).expect("valid bounds");
    for &v in ms {
        h.saturating_record(v.max(1));
    }
    if h.is_empty() {
        return [0; 3];
    }
    [
        h.value_at_percentile(50.0),
        h.value_at_percentile(99.0),
        h.max(),
    ]
}

/// Returns per interval of `width` ms after time zero: `counts[k]` came
/// back in the k-th.
fn per_interval(ms: &[u64], width: u64) -> Vec<u64> {
    let mut counts = Vec::new();
    for &v in ms {
        let s = usize::try_from(v / width).unwrap_or(usize::MAX).min(36_000);
        if counts.len() <= s {
            counts.resize(s + 1, 0);
        }
        counts[s] += 1;
    }
    counts
}

fn report(storm: &Storm, tally: &Tally, connect_secs: f64, stop_unix_ms: u64, timed_out: bool) {
    let going_away = tally.going_away_ms.lock().expect("not poisoned").clone();
    let back = tally.back_ms.lock().expect("not poisoned").clone();
    let other_closes = tally.other_closes.lock().expect("not poisoned").clone();
    let [g50, g99, gmax] = percentiles(&going_away);
    let [b50, b99, bmax] = percentiles(&back);
    let spread = per_interval(&back, 1000);
    let fine = per_interval(&back, 100);
    println!(
        "1001 received   {} of {} (ms after SIGTERM: p50 {g50}  p99 {g99}  max {gmax}); other closes {:?}; dropped without a close {}",
        going_away.len(),
        storm.connections,
        other_closes,
        tally.dropped.load(Ordering::Relaxed)
    );
    println!(
        "departures      {} heard during the shutdown, {} after the return",
        tally.departures_heard.load(Ordering::Relaxed),
        tally.departures_after_return.load(Ordering::Relaxed)
    );
    println!(
        "back            {} of {} (ms after SIGTERM: p50 {b50}  p99 {b99}  max {bmax}); {} failed attempts, {} closed before the welcome, {} under another name{}",
        back.len(),
        storm.connections,
        tally.failed_attempts.load(Ordering::Relaxed),
        tally.refused_after_connect.load(Ordering::Relaxed),
        tally.renamed.load(Ordering::Relaxed),
        if timed_out { ", TIMED OUT" } else { "" }
    );
    println!("returns/second  {spread:?}");
    println!(
        "lines           {} said; {} connections missing {} in all, {} lines read twice, {} gaps",
        storm.before + storm.after,
        tally.lost.load(Ordering::Relaxed),
        tally.missing_lines.load(Ordering::Relaxed),
        tally.duplicated.load(Ordering::Relaxed),
        tally.gaps.load(Ordering::Relaxed)
    );
    let json = serde_json::json!({
        "mode": "reconnect", "connections": storm.connections, "connect_secs": connect_secs,
        "lines": storm.before + storm.after,
        "going_away": going_away.len(),
        "going_away_ms": {"p50": g50, "p99": g99, "max": gmax},
        "other_closes": other_closes,
        "dropped": tally.dropped.load(Ordering::Relaxed),
        "departures_heard": tally.departures_heard.load(Ordering::Relaxed),
        "departures_after_return": tally.departures_after_return.load(Ordering::Relaxed),
        "back": back.len(),
        "back_ms": {"p50": b50, "p99": b99, "max": bmax},
        "returns_per_second": spread,
        "returns_per_100ms": fine,
        "sigterm_unix_ms": stop_unix_ms,
        "failed_attempts": tally.failed_attempts.load(Ordering::Relaxed),
        "closed_before_welcome": tally.refused_after_connect.load(Ordering::Relaxed),
        "renamed": tally.renamed.load(Ordering::Relaxed),
        "connections_missing_lines": tally.lost.load(Ordering::Relaxed),
        "missing_lines": tally.missing_lines.load(Ordering::Relaxed),
        "duplicated": tally.duplicated.load(Ordering::Relaxed),
        "gaps": tally.gaps.load(Ordering::Relaxed),
        "timed_out": timed_out,
    });
    println!("{json}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_counted_per_interval_after_time_zero() {
        assert_eq!(per_interval(&[], 1000), Vec::<u64>::new());
        assert_eq!(per_interval(&[0, 999, 1000, 3500], 1000), vec![2, 1, 0, 1]);
        assert_eq!(per_interval(&[150, 250], 100), vec![0, 1, 1]);
    }

    #[test]
    fn percentiles_of_nothing_are_zero() {
        assert_eq!(percentiles(&[]), [0, 0, 0]);
        assert_eq!(percentiles(&[5, 5, 5, 900]), [5, 900, 900]);
    }
}
