//! A load generator for the chat server: fan-out throughput, latency, and the
//! server's cost per delivery and per connection.
//!
//! It opens `--subscribers` listeners and `--senders` talkers in one fresh room
//! (plus `--idle` connections spread over rooms of 100), has each sender send
//! `--messages` messages of `--bytes` bytes (paced by `--rate`, or as fast as
//! the server takes them), and reports what arrived and how late. Each message
//! carries its send time, so latency is measured end to end on one clock.
//! Given `--server-pid`, it reads the server's CPU time and memory from /proc.
//!
//! With `--joins K` it measures instead what a join costs the server in a
//! big room: it fills one room with `--fill N` listeners, then makes K joins
//! (each connects, reads its welcome and its own `join`, and quits), and
//! reports the server's CPU time per join (needs `--server-pid`):
//!
//! ```sh
//! cargo run --release --bin server -- --port 9000 --max-connections 20000 &
//! cargo run --release --example loadgen -- --port 9000 --server-pid $! \
//!     --fill 10000 --joins 5000
//! ```
//!
//! With `--reconnect N` it makes a restart storm instead: N connections in
//! one room that, when the server restarts, come back with the terminal
//! client's own backoff and resume with `since`; it sends the server SIGTERM
//! itself (`--server-pid`) and reports the 1001s, the returns and what was
//! lost (`examples/common/storm.rs`; `scripts/restart-storm.sh` runs it).
//!
//! Loopback only, bounded by `--timeout`. Run the server with
//! `--messages-per-second 0` (a load generator is not a person typing):
//!
//! ```sh
//! cargo run --release --bin server -- --port 9000 --messages-per-second 0 &
//! cargo run --release --example loadgen -- --port 9000 --server-pid $! \
//!     --subscribers 1000 --senders 1 --messages 2000 --bytes 64
//! ```

#[path = "common/proc_stats.rs"]
mod proc_stats;
#[path = "common/storm.rs"]
mod storm;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_websockets::{ClientBuilder, Message};

#[derive(Debug, Parser)]
#[command(about = "Load generator for the chat server (loopback only)")]
struct Args {
    /// Server address (must be a loopback address)
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A second server's port (one joined to the first through Redis):
    /// connections alternate between the two, so every message crosses Redis
    #[arg(long)]
    port2: Option<u16>,
    /// Connections that only listen in the measured room
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Connections that send into the measured room (they do not count as receivers)
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Messages each sender sends
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Size of each message's text, in bytes (at least 40, for the timestamp)
    #[arg(long, default_value_t = 64)]
    bytes: usize,
    /// Messages per second per sender; 0 sends as fast as the server takes them
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Extra connections that stay idle, in rooms of 100, to measure memory per connection
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// People per room of the idle connections: 10000 with `--idle 10000`
    /// puts them all in one room
    #[arg(long, default_value_t = 100)]
    idle_room_size: usize,
    /// Connection attempts in flight at once
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// The server's process id, to read its CPU time and memory from /proc
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds to keep all connections open after the run (memory readings settle)
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Seconds to wait once everyone is connected before sending, so that the
    /// join notices of a big room are delivered before the measurement starts
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Give up after this many seconds; what has not arrived by then is lost
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Worker threads for the load generator's own runtime
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Join-cost mode: listeners to fill one room with before the joins
    #[arg(long, default_value_t = 0)]
    fill: usize,
    /// Join-cost mode: joins (connect, welcome, own join, quit) into the
    /// filled room, whose server CPU time is measured
    #[arg(long, default_value_t = 0)]
    joins: usize,
    /// Restart-storm mode: this many connections in one room, which come
    /// back with the client's own backoff when the server restarts (see
    /// scripts/restart-storm.sh); `--messages` lines are said before the
    /// restart and `--after` after it (together within the server's
    /// `--history`, 100 by default)
    #[arg(long, default_value_t = 0)]
    reconnect: usize,
    /// Restart-storm mode: lines said once back, read live or in the replay
    #[arg(long, default_value_t = 20)]
    after: usize,
    /// The server is a plain broadcast server (websocat's broadcast mode, the
    /// `ws` library's recipe): no welcome, every frame echoed as it came
    #[arg(long)]
    peer: bool,
}

type Ws = tokio_websockets::WebSocketStream<tokio::net::TcpStream>;

/// Every timestamp is nanoseconds since this instant, one clock for all tasks.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ns() -> u64 {
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What the receivers count, shared.
#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    /// What `gap` events said was skipped; join and leave notices count
    /// there too, so loss is reckoned from deliveries, not from this.
    missed_in_gaps: AtomicU64,
    last_delivery_ns: AtomicU64,
    /// Senders that have sent their last message.
    senders_done: AtomicU64,
}

/// A receiver stops waiting once every sender is done and nothing has
/// arrived for this long (longer than the server holds a sender back): what
/// has not come by then was lost.
const QUIET: Duration = Duration::from_secs(3);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.host.is_loopback() {
        bail!(
            "loadgen only targets loopback addresses (127.0.0.0/8 or ::1), not {}",
            args.host
        );
    }
    if args.bytes < 40 {
        bail!("--bytes must be at least 40, to hold the sender, sequence number and send time");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?
        .block_on(async {
            if args.reconnect > 0 {
                storm::run(storm::Storm {
                    base: format!("ws://{}", std::net::SocketAddr::new(args.host, args.port)),
                    connections: args.reconnect,
                    before: args.messages,
                    after: args.after,
                    server_pid: args.server_pid,
                    concurrency: args.concurrency,
                    timeout: Duration::from_secs_f64(args.timeout),
                })
                .await
            } else if args.joins > 0 {
                join_cost(args).await
            } else {
                run(args).await
            }
        })
}

/// Fills one room with `--fill` listeners, then measures the server's CPU
/// time over `--joins` joins into it.
async fn join_cost(args: Args) -> anyhow::Result<()> {
    let Some(pid) = args.server_pid else {
        bail!("--joins measures the server's CPU time: give --server-pid");
    };
    let base = format!("ws://{}", std::net::SocketAddr::new(args.host, args.port));
    let run_id = std::process::id();
    let room = format!("big-{run_id}");
    let cancel = CancellationToken::new();
    let deadline = Duration::from_secs_f64(args.timeout);
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let ready = Arc::new(Barrier::new(args.fill + 1));
    let mut listeners = JoinSet::new();
    for i in 0..args.fill {
        let url = format!("{base}/{room}?name=f{run_id}-{i}&format=json");
        let (gate, ready, cancel) = (gate.clone(), ready.clone(), cancel.clone());
        listeners.spawn(async move { sit_in(&url, &gate, &ready, false, &cancel).await });
    }
    let fill_started = Instant::now();
    tokio::select! {
        _ = ready.wait() => {}
        () = tokio::time::sleep(deadline) => bail!("the room was not filled within --timeout"),
    }
    let fill_secs = fill_started.elapsed().as_secs_f64();
    // Whatever the filling left queued is delivered before the measurement.
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let cpu_before = proc_stats::cpu_ticks(pid).context("reading the server's CPU time")?;
    let joins_started = Instant::now();
    let mut joins = JoinSet::new();
    let nobody = Arc::new(Barrier::new(1));
    for i in 0..args.joins {
        let url = format!("{base}/{room}?name=j{run_id}-{i}&format=json");
        let (gate, nobody) = (gate.clone(), nobody.clone());
        joins.spawn(async move {
            let mut ws = connect(&url, &gate, &nobody, false).await?;
            let _permit = gate.acquire().await.expect("the gate is never closed");
            // Our own `join` says we are in; what the room said before it
            // is not ours to count.
            loop {
                let frame = ws.next().await.context("closed before our join")??;
                if frame.as_text().is_some_and(|t| {
                    t.starts_with(r#"{"type":"join""#)
                        && t.contains(&format!(r#""name":"j{run_id}-{i}""#))
                }) {
                    break;
                }
            }
            ws.send(Message::text("/quit")).await?;
            // The server's close frame: the departure is done.
            while let Some(frame) = ws.next().await {
                if frame.is_err() {
                    break;
                }
            }
            anyhow::Ok(())
        });
    }
    let all = async {
        while let Some(result) = joins.join_next().await {
            result??;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(deadline, all)
        .await
        .context("the joins did not finish within --timeout")??;
    let joins_secs = joins_started.elapsed().as_secs_f64();
    let cpu_after = proc_stats::cpu_ticks(pid).context("reading the server's CPU time")?;
    cancel.cancel();
    while listeners.join_next().await.is_some() {}

    let cpu_secs = proc_stats::cpu_secs(cpu_before, cpu_after);
    println!(
        "room of {} filled in {fill_secs:.2} s; {} joins in {joins_secs:.2} s; server CPU {:.1} us per join ({cpu_secs:.2} s in all)",
        args.fill,
        args.joins,
        cpu_secs * 1e6 / args.joins as f64,
    );
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    EPOCH.get_or_init(Instant::now);
    let base_of = |port| format!("ws://{}", std::net::SocketAddr::new(args.host, port));
    let bases = [base_of(args.port), base_of(args.port2.unwrap_or(args.port))];
    // Connection `i` goes to the first server if `i` is even, else the second.
    let base = |i: usize| &bases[i % 2];
    let run_id = std::process::id();
    let room = format!("load-{run_id}");
    let cancel = CancellationToken::new();
    let deadline = Duration::from_secs_f64(args.timeout);
    let counters = Arc::new(Counters::default());
    let expected_per_subscriber = (args.senders * args.messages) as u64;
    let senders = args.senders as u64;

    let peer = args.peer;
    // Per message, when paced: how long the server took to reach everyone.
    let track_spread = args.rate > 0.0;
    let rss_before = args.server_pid.and_then(proc_stats::rss_kib);
    let cpu_connect_before = args.server_pid.and_then(proc_stats::cpu_ticks);
    let connect_started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    // Everyone waits here once connected, so sending starts with all in place.
    let ready = Arc::new(Barrier::new(
        args.subscribers + args.senders + args.idle + 1,
    ));
    let mut receivers = JoinSet::new();
    let mut others = JoinSet::new();

    for i in 0..args.subscribers {
        let url = format!("{}/{room}?name=s{run_id}-{i}&format=json", base(i));
        let (gate, ready, cancel, counters) = (
            gate.clone(),
            ready.clone(),
            cancel.clone(),
            counters.clone(),
        );
        receivers.spawn(async move {
            let ws = connect(&url, &gate, &ready, peer).await?;
            let expected = Expected {
                messages: expected_per_subscriber,
                senders,
                peer,
                track_spread,
            };
            receive(ws, expected, &counters, &cancel).await
        });
    }
    for i in 0..args.idle {
        let url = format!(
            "{}/idle-{run_id}-{}?name=i{run_id}-{i}&format=json",
            base(i),
            i / args.idle_room_size.max(1)
        );
        let (gate, ready, cancel) = (gate.clone(), ready.clone(), cancel.clone());
        others.spawn(async move { sit_in(&url, &gate, &ready, peer, &cancel).await });
    }
    let start_sending = Arc::new(Barrier::new(args.senders + 1));
    for i in 0..args.senders {
        let url = format!("{}/{room}?name=t{run_id}-{i}&format=json", base(i));
        let (gate, ready, cancel, start, counters) = (
            gate.clone(),
            ready.clone(),
            cancel.clone(),
            start_sending.clone(),
            counters.clone(),
        );
        let sending = Sending {
            sender: i,
            senders: args.senders,
            messages: args.messages,
            bytes: args.bytes,
            rate: args.rate,
        };
        others.spawn(async move {
            let ws = connect(&url, &gate, &ready, peer).await?;
            start.wait().await;
            send(ws, sending, &counters.senders_done, &cancel).await
        });
    }

    tokio::select! {
        _ = ready.wait() => {}
        () = tokio::time::sleep(deadline) => bail!("not every connection was made within --timeout; is the server running on port {}?", args.port),
    }
    let connect_time = connect_started.elapsed();
    let cpu_connected = args.server_pid.and_then(proc_stats::cpu_ticks);
    let connections = args.subscribers + args.senders + args.idle;
    // For whoever watches the room meanwhile (the page's big-room test).
    eprintln!(
        "all {connections} connected to room {room} in {:.2} s",
        connect_time.as_secs_f64()
    );
    let rss_connected = args.server_pid.and_then(proc_stats::rss_kib);

    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let cpu_before = args.server_pid.and_then(proc_stats::cpu_ticks);
    let send_started_ns = now_ns();
    start_sending.wait().await;

    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    // Finished receivers stay connected until every one is done: their leave
    // notices would otherwise flood the room while the slowest still read.
    let mut finished = Vec::new();
    // Send time -> earliest and latest delivery latency of that message.
    let mut reach = HashMap::<u64, (u64, u64)>::new();
    let collect = async {
        while let Some(result) = receivers.join_next().await {
            let (received, ws) = result??;
            latency
                .add(received.latency)
                .expect("same histogram bounds");
            for (sent_ns, us) in received.arrivals {
                let (first, last) = reach.entry(sent_ns).or_insert((us, us));
                *first = (*first).min(us);
                *last = (*last).max(us);
            }
            finished.push(ws);
        }
        anyhow::Ok(())
    };
    let timed_out = match tokio::time::timeout(deadline, collect).await {
        Ok(result) => {
            result?;
            false
        }
        Err(_) => true,
    };
    let cpu_after = args.server_pid.and_then(proc_stats::cpu_ticks);
    if args.hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    }
    let rss_held = args.server_pid.and_then(proc_stats::rss_kib);
    cancel.cancel();
    // Partial histograms of receivers cut off by the timeout are dropped; their
    // deliveries still count in the totals.
    receivers.abort_all();
    while others.join_next().await.is_some() {}

    let delivered = counters.delivered.load(Ordering::Relaxed);
    let expected = expected_per_subscriber * args.subscribers as u64;
    let sending_secs = (counters
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .saturating_sub(send_started_ns)) as f64
        / 1e9;
    let report = Report {
        connections,
        connect_secs: connect_time.as_secs_f64(),
        expected,
        delivered,
        missed_in_gaps: counters.missed_in_gaps.load(Ordering::Relaxed),
        timed_out,
        deliveries_per_sec: if sending_secs > 0.0 {
            delivered as f64 / sending_secs
        } else {
            0.0
        },
        latency_us: [50.0, 90.0, 99.0, 99.9, 100.0].map(|q| latency.value_at_percentile(q)),
        spread_us: spread_percentiles(reach.values()),
        cpu_us_per_delivery: match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if delivered > 0 => {
                Some(proc_stats::cpu_secs(before, after) * 1e6 / delivered as f64)
            }
            _ => None,
        },
        cpu_connect_secs: match (cpu_connect_before, cpu_connected) {
            (Some(before), Some(after)) => Some(proc_stats::cpu_secs(before, after)),
            _ => None,
        },
        kib_per_connection: match (rss_before, rss_connected.max(rss_held)) {
            (Some(before), Some(after)) if connections > 0 => {
                Some(after.saturating_sub(before) as f64 / connections as f64)
            }
            _ => None,
        },
        server_rss_kib: rss_connected.max(rss_held),
    };
    report.print(&args);
    Ok(())
}

/// Connects, reads the welcome, and waits for everyone else to be connected.
/// Connects to `url` and reads (and drops) whatever the room says until
/// `cancel`, then closes: a listener that only adds to the room.
async fn sit_in(
    url: &str,
    gate: &Semaphore,
    ready: &Barrier,
    peer: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut ws = connect(url, gate, ready, peer).await?;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            frame = ws.next() => if frame.is_none() { break },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close()).await;
    Ok(())
}

async fn connect(url: &str, gate: &Semaphore, ready: &Barrier, peer: bool) -> anyhow::Result<Ws> {
    let ws = {
        let _permit = gate.acquire().await.expect("the gate is never closed");
        let uri: http::Uri = url.parse().context("building the URL")?;
        let addr = uri.authority().context("the URL has a host")?.as_str();
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        // Small frames, sent at once, as the server does.
        stream.set_nodelay(true)?;
        let (mut ws, _) = ClientBuilder::from_uri(uri)
            .connect_on(stream)
            .await
            .with_context(|| format!("the handshake with {url}"))?;
        if !peer {
            let welcome = ws.next().await.context("closed before the welcome")??;
            if !welcome
                .as_text()
                .is_some_and(|t| t.starts_with(r#"{"type":"welcome""#))
            {
                bail!("the first frame was not a welcome; is this the chat server?");
            }
        }
        ws
    };
    ready.wait().await;
    Ok(ws)
}

/// What one subscriber waits for.
#[derive(Debug, Clone, Copy)]
struct Expected {
    /// Messages of the measured room, from all senders.
    messages: u64,
    senders: u64,
    peer: bool,
    /// Keep each message's arrival, for the fan-out spread.
    track_spread: bool,
}

/// What one subscriber saw.
struct Received {
    latency: Histogram<u64>,
    /// Each message's send time and latency in microseconds, if tracked.
    arrivals: Vec<(u64, u64)>,
}

/// Counts the messages of the measured room and records their latency.
async fn receive(
    mut ws: Ws,
    expected: Expected,
    counters: &Counters,
    cancel: &CancellationToken,
) -> anyhow::Result<(Received, Ws)> {
    let Expected {
        messages: expected,
        senders,
        peer,
        track_spread,
    } = expected;
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let mut arrivals = Vec::new();
    let mut seen = 0;
    while seen < expected {
        let all_sent = counters.senders_done.load(Ordering::Relaxed) == senders;
        let frame = tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(QUIET), if all_sent => break,
            frame = ws.next() => frame,
        };
        let Some(frame) = frame else { break };
        let frame = frame?;
        let Some(text) = frame.as_text() else {
            continue;
        };
        if let Some(sent_ns) = send_time(text, peer) {
            let now = now_ns();
            let us = now.saturating_sub(sent_ns) / 1_000;
            latency.saturating_record(us);
            if track_spread {
                arrivals.push((sent_ns, us));
            }
            seen += 1;
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            counters.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
        } else if let Some(missed) = gap(text) {
            counters.missed_in_gaps.fetch_add(missed, Ordering::Relaxed);
        }
    }
    Ok((Received { latency, arrivals }, ws))
}

/// p50 and p99 of the fan-out spread: per message, the time from its first
/// delivery to its last, which is how long the server took to write it to
/// every subscriber. `None` when no arrival was tracked.
fn spread_percentiles<'a>(reach: impl Iterator<Item = &'a (u64, u64)>) -> Option<[u64; 2]> {
    let mut spread =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    for (first, last) in reach {
        spread.saturating_record(last - first);
    }
    (!spread.is_empty()).then(|| [50.0, 99.0].map(|q| spread.value_at_percentile(q)))
}

/// What one sender sends.
#[derive(Debug, Clone, Copy)]
struct Sending {
    /// This sender's number, and how many there are.
    sender: usize,
    senders: usize,
    messages: usize,
    bytes: usize,
    rate: f64,
}

/// Sends the messages, each stamped with its send time, and drops what comes back.
async fn send(
    ws: Ws,
    sending: Sending,
    done: &AtomicU64,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let Sending {
        sender,
        senders,
        messages,
        bytes,
        rate,
    } = sending;
    let (mut sink, mut stream) = ws.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    let mut pace = (rate > 0.0).then(|| {
        // Senders start a fraction of a period apart, as people do: in step,
        // they would all send in the same instant, and measure the bursts.
        let period = Duration::from_secs_f64(1.0 / rate);
        let offset = period.mul_f64(sender as f64 / senders as f64);
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        interval
    });
    for seq in 0..messages {
        if let Some(pace) = pace.as_mut() {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = pace.tick() => {}
            }
        } else if cancel.is_cancelled() {
            break;
        }
        let mut text = format!("lg {} {sender} {seq} ", now_ns());
        text.extend(std::iter::repeat_n('x', bytes.saturating_sub(text.len())));
        sink.send(Message::text(text)).await?;
    }
    done.fetch_add(1, Ordering::Relaxed);
    cancel.cancelled().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    drain.abort();
    Ok(())
}

/// The send time embedded in a loadgen message event, without parsing the JSON.
fn send_time(frame: &str, peer: bool) -> Option<u64> {
    let rest = if peer {
        frame.strip_prefix("lg ")?
    } else if frame.starts_with(r#"{"type":"message""#) {
        &frame[frame.find(r#""text":"lg "#)? + 11..]
    } else {
        return None;
    };
    rest[..rest.find(' ')?].parse().ok()
}

fn gap(frame: &str) -> Option<u64> {
    let rest = frame.strip_prefix(r#"{"type":"gap","missed":"#)?;
    rest.trim_end_matches('}').parse().ok()
}

struct Report {
    connections: usize,
    connect_secs: f64,
    expected: u64,
    delivered: u64,
    missed_in_gaps: u64,
    timed_out: bool,
    deliveries_per_sec: f64,
    /// p50, p90, p99, p99.9, max.
    latency_us: [u64; 5],
    /// p50, p99 of the fan-out spread, in paced runs.
    spread_us: Option<[u64; 2]>,
    cpu_us_per_delivery: Option<f64>,
    /// The server's CPU time while the connections were made, in seconds.
    cpu_connect_secs: Option<f64>,
    kib_per_connection: Option<f64>,
    server_rss_kib: Option<u64>,
}

impl Report {
    fn print(&self, args: &Args) {
        let [p50, p90, p99, p999, max] = self.latency_us;
        let lost = self.expected.saturating_sub(self.delivered);
        let opt = |v: Option<f64>, unit: &str| {
            v.map_or_else(
                || "n/a (no --server-pid)".to_owned(),
                |v| format!("{v:.2} {unit}"),
            )
        };
        println!(
            "scenario        {} subscribers, {} senders x {} msgs x {} B, rate {}, {} idle",
            args.subscribers,
            args.senders,
            args.messages,
            args.bytes,
            if args.rate > 0.0 {
                format!("{}/s", args.rate)
            } else {
                "unpaced".to_owned()
            },
            args.idle
        );
        println!(
            "connections     {} in {:.2} s (server cpu {})",
            self.connections,
            self.connect_secs,
            self.cpu_connect_secs
                .map_or("n/a".to_owned(), |s| format!("{s:.2} s"))
        );
        println!(
            "deliveries      {} of {} expected, {} lost ({} reported in gaps){}",
            self.delivered,
            self.expected,
            lost,
            self.missed_in_gaps,
            if self.timed_out { ", TIMED OUT" } else { "" }
        );
        println!(
            "throughput      {:.0} deliveries/s",
            self.deliveries_per_sec
        );
        println!("latency (us)    p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}");
        if let Some([p50, p99]) = self.spread_us {
            println!("spread (us)     p50 {p50}  p99 {p99}  (per message, first to last delivery)");
        }
        println!(
            "server cpu      {}",
            opt(self.cpu_us_per_delivery, "us per delivery")
        );
        println!(
            "server memory   {} ({})",
            opt(self.kib_per_connection, "KiB per connection"),
            self.server_rss_kib
                .map_or("n/a".to_owned(), |k| format!("{k} KiB resident"))
        );
        let json = serde_json::json!({
            "subscribers": args.subscribers, "senders": args.senders, "messages": args.messages,
            "bytes": args.bytes, "rate": args.rate, "idle": args.idle,
            "idle_room_size": args.idle_room_size,
            "connections": self.connections, "connect_secs": self.connect_secs,
            "expected": self.expected, "delivered": self.delivered, "lost": lost,
            "missed_in_gaps": self.missed_in_gaps, "timed_out": self.timed_out,
            "deliveries_per_sec": self.deliveries_per_sec,
            "latency_us": {"p50": p50, "p90": p90, "p99": p99, "p99_9": p999, "max": max},
            "spread_us": self.spread_us.map(|[p50, p99]| serde_json::json!({"p50": p50, "p99": p99})),
            "server_cpu_us_per_delivery": self.cpu_us_per_delivery,
            "server_cpu_connect_secs": self.cpu_connect_secs,
            "server_kib_per_connection": self.kib_per_connection,
            "server_rss_kib": self.server_rss_kib,
        });
        println!("{json}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_send_time_from_a_message_event() {
        let frame = r#"{"type":"message","id":1,"room":"r","from":"t1","text":"lg 123456 0 7 xxxx","ts":1}"#;
        assert_eq!(send_time(frame, false), Some(123_456));
        assert_eq!(
            send_time(r#"{"type":"join","room":"r","name":"x","ts":1}"#, false),
            None
        );
        assert_eq!(send_time("lg 123456 0 7 xxxx", true), Some(123_456));
        assert_eq!(gap(r#"{"type":"gap","missed":17}"#), Some(17));
    }

    #[test]
    fn the_spread_of_a_message_is_its_first_to_last_delivery() {
        assert_eq!(spread_percentiles([].iter()), None);
        let reach = [(100, 1_100), (200, 400)];
        // Histogram values are exact to 3 significant digits.
        assert_eq!(spread_percentiles(reach.iter()), Some([200, 1_000]));
    }
}
