//! A soak test for the chat server: many people chatting for minutes while
//! others misbehave, with the loss of the well-behaved and the server's memory
//! over time as the result.
//!
//! Well-behaved clients chat in `--rooms` rooms at a person's pace (under the
//! rate limit) and read everything; misbehaving ones, in the same rooms, flood,
//! stop reading, send oversized frames, handshake one byte a second, send
//! garbage, or connect and vanish, over and over. At the end every
//! well-behaved client must have received every message said in its room.
//!
//! Loopback only, bounded by `--seconds`. `scripts/soak.sh` builds and starts a
//! server and runs this against it:
//!
//! ```sh
//! scripts/soak.sh 180
//! ```

#[path = "common/proc_stats.rs"]
mod proc_stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_websockets::{ClientBuilder, Message};

#[derive(Debug, Parser)]
#[command(about = "Soak test for the chat server (loopback only)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The server's process id, to sample its memory from /proc
    #[arg(long)]
    server_pid: u32,
    /// How long the chat goes on
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Well-behaved clients per room
    #[arg(long, default_value_t = 20)]
    people_per_room: usize,
    /// Messages per second each well-behaved client sends
    #[arg(long, default_value_t = 0.5)]
    rate: f64,
    /// Misbehaving clients of each kind
    #[arg(long, default_value_t = 3)]
    misbehavers: usize,
}

/// What the well-behaved clients did, shared.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    delivered: AtomicU64,
    /// Messages a well-behaved client should have seen and did not.
    lost: AtomicU64,
    gaps: AtomicU64,
}

/// What happened to the misbehaving ones, by kind: attempts, and how they ended.
type Outcomes = Arc<std::sync::Mutex<HashMap<&'static str, HashMap<String, u64>>>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("soak only targets loopback addresses, not {}", args.addr);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let base = format!("ws://{}", args.addr);
    let tally = Arc::new(Tally::default());
    let outcomes: Outcomes = Arc::default();
    let stop = CancellationToken::new();
    let run_id = std::process::id();
    let started = Instant::now();

    // Everyone joins first, so each well-behaved client is there for every
    // message of its room.
    let mut people = Vec::new();
    for room in 0..args.rooms {
        for i in 0..args.people_per_room {
            let url = format!("{base}/soak{room}?name=p{run_id}r{room}i{i}&format=json");
            people.push((room, connect(&url).await?));
        }
    }
    // Each person sends `messages` lines; everyone in the room expects all.
    let messages = (args.seconds as f64 * args.rate) as u64;
    let expected_per_person = messages * args.people_per_room as u64;
    let mut chatting = JoinSet::new();
    for (room, ws) in people {
        let (tally, stop) = (tally.clone(), stop.clone());
        let period = Duration::from_secs_f64(1.0 / args.rate);
        chatting.spawn(async move {
            chat(
                ws,
                room,
                messages,
                expected_per_person,
                period,
                &tally,
                &stop,
            )
            .await
        });
    }

    let mut misbehaving = JoinSet::new();
    for kind in Misbehaviour::ALL {
        for i in 0..args.misbehavers {
            let (outcomes, stop) = (outcomes.clone(), stop.clone());
            let url = format!(
                "{base}/soak{}?name=x{run_id}{}{i}&format=json",
                i % args.rooms,
                kind.name()
            );
            let addr = args.addr;
            misbehaving.spawn(async move { kind.repeat(&url, addr, &outcomes, &stop).await });
        }
    }

    // Sample the server's memory every second while the chat goes on.
    let mut rss_kib = Vec::new();
    let deadline = started + Duration::from_secs(args.seconds) + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !chatting.is_empty() && Instant::now() < deadline {
        tokio::select! {
            _ = tick.tick() => rss_kib.push(proc_stats::rss_kib(args.server_pid).context("reading the server's memory; is --server-pid right?")?),
            Some(result) = chatting.join_next() => result??,
        }
    }
    let timed_out = !chatting.is_empty();
    stop.cancel();
    while let Some(result) = chatting.join_next().await {
        result??;
    }
    while misbehaving.join_next().await.is_some() {}

    report(
        &args,
        &tally,
        &outcomes,
        &rss_kib,
        timed_out,
        started.elapsed(),
    );
    Ok(())
}

type Ws = tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>;

async fn connect(url: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = ClientBuilder::from_uri(url.parse()?)
        .connect()
        .await
        .with_context(|| format!("connecting to {url}; is the server running?"))?;
    let welcome = ws.next().await.context("closed before the welcome")??;
    if !welcome
        .as_text()
        .is_some_and(|t| t.starts_with(r#"{"type":"welcome""#))
    {
        bail!("the first frame was not a welcome");
    }
    Ok(ws)
}

/// One well-behaved person: says `messages` lines at `period`, and reads
/// until it has seen everyone's.
async fn chat(
    ws: Ws,
    room: usize,
    messages: u64,
    expected: u64,
    period: Duration,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = ws.split();
    let marker = format!("soak{room} ");
    let reading = async {
        let mut seen = 0;
        while seen < expected {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                frame = stream.next() => frame,
            };
            let Some(Ok(frame)) = frame else { break };
            let Some(text) = frame.as_text() else {
                continue;
            };
            if text.starts_with(r#"{"type":"message""#) && text.contains(&marker) {
                seen += 1;
                tally.delivered.fetch_add(1, Ordering::Relaxed);
            } else if text.starts_with(r#"{"type":"gap""#) {
                tally.gaps.fetch_add(1, Ordering::Relaxed);
            }
        }
        tally.lost.fetch_add(expected - seen, Ordering::Relaxed);
    };
    let writing = async {
        let mut tick = tokio::time::interval(period);
        for seq in 0..messages {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            sink.send(Message::text(format!(
                "{marker}{seq} a line of ordinary chat"
            )))
            .await?;
            tally.sent.fetch_add(1, Ordering::Relaxed);
        }
        anyhow::Ok(())
    };
    let (_, written) = tokio::join!(reading, writing);
    written?;
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// Sends as fast as it can until it is cut off.
    Flood,
    /// Joins and never reads a byte.
    NeverRead,
    /// Sends one frame far over the size limit.
    Oversize,
    /// Sends its handshake one byte a second.
    SlowHandshake,
    /// Sends bytes that are not HTTP.
    Garbage,
    /// Connects and drops the socket at once, over and over.
    Churn,
}

impl Misbehaviour {
    const ALL: [Self; 6] = [
        Self::Flood,
        Self::NeverRead,
        Self::Oversize,
        Self::SlowHandshake,
        Self::Garbage,
        Self::Churn,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::NeverRead => "never-read",
            Self::Oversize => "oversize",
            Self::SlowHandshake => "slow-handshake",
            Self::Garbage => "garbage",
            Self::Churn => "churn",
        }
    }

    /// Misbehaves again and again until the soak ends, counting outcomes.
    async fn repeat(
        self,
        url: &str,
        addr: SocketAddr,
        outcomes: &Outcomes,
        stop: &CancellationToken,
    ) {
        while !stop.is_cancelled() {
            let outcome = tokio::select! {
                () = stop.cancelled() => break,
                outcome = self.once(url, addr) => outcome,
            };
            let outcome = outcome.unwrap_or_else(|err| format!("error: {err}"));
            *outcomes
                .lock()
                .expect("no panic while counting")
                .entry(self.name())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
            // Bounded: at most a few attempts a second per misbehaver.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn once(self, url: &str, addr: SocketAddr) -> anyhow::Result<String> {
        match self {
            Self::Flood => {
                let mut ws = connect(url).await?;
                let flood = async {
                    for i in 0..100_000 {
                        ws.feed(Message::text(format!("flood {i}"))).await?;
                        if i % 100 == 0 {
                            ws.flush().await?;
                        }
                    }
                    anyhow::Ok(())
                };
                // Sending fails once the server has closed; its close frame says why.
                let _ = flood.await;
                Ok(close_code(&mut ws).await)
            }
            Self::NeverRead => {
                let ws = connect(url).await?;
                // Hold the socket without reading until the server gives up on it.
                let mut stream = ws.into_inner();
                let mut byte = [0u8; 1];
                tokio::time::sleep(Duration::from_secs(40)).await;
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
                Ok(match read {
                    Ok(Ok(_)) => "held until read".to_owned(),
                    Ok(Err(_)) => "cut off".to_owned(),
                    Err(_) => "still open".to_owned(),
                })
            }
            Self::Oversize => {
                let mut ws = connect(url).await?;
                let _ = ws.send(Message::text("x".repeat(1 << 20))).await;
                Ok(close_code(&mut ws).await)
            }
            Self::SlowHandshake => {
                let mut stream = TcpStream::connect(addr).await?;
                let request = b"GET /soak0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
                for byte in request {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return Ok("cut off".to_owned());
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok("never cut off".to_owned())
            }
            Self::Garbage => {
                let mut stream = TcpStream::connect(addr).await?;
                stream
                    .write_all(b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n")
                    .await?;
                let mut answer = [0u8; 12];
                let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
                    .await??;
                Ok(String::from_utf8_lossy(&answer[..n]).into_owned())
            }
            Self::Churn => {
                let stream = TcpStream::connect(addr).await?;
                drop(stream);
                let ws = connect(url).await?;
                drop(ws);
                Ok("dropped".to_owned())
            }
        }
    }
}

/// The close code the server sent, after draining what came before it.
async fn close_code(ws: &mut Ws) -> String {
    let read = async {
        while let Some(Ok(message)) = ws.next().await {
            if let Some((code, _)) = message.as_close() {
                return format!("closed {}", u16::from(code));
            }
        }
        "dropped".to_owned()
    };
    tokio::time::timeout(Duration::from_secs(35), read)
        .await
        .unwrap_or_else(|_| "no close".to_owned())
}

fn report(
    args: &Args,
    tally: &Tally,
    outcomes: &Outcomes,
    rss_kib: &[u64],
    timed_out: bool,
    elapsed: Duration,
) {
    let sent = tally.sent.load(Ordering::Relaxed);
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let lost = tally.lost.load(Ordering::Relaxed);
    let gaps = tally.gaps.load(Ordering::Relaxed);
    let peak = rss_kib.iter().copied().max().unwrap_or(0);
    let quarter = |q: usize| {
        rss_kib
            .get((rss_kib.len().saturating_sub(1)) * q / 4)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "soak            {:.0} s, {} rooms x {} people at {}/s, {} misbehavers of each of 6 kinds",
        elapsed.as_secs_f64(),
        args.rooms,
        args.people_per_room,
        args.rate,
        args.misbehavers
    );
    println!(
        "well-behaved    {sent} sent, {delivered} delivered, {lost} lost, {gaps} gaps{}",
        if timed_out { ", TIMED OUT" } else { "" }
    );
    println!(
        "server memory   peak {peak} KiB; at 0/25/50/75/100%: {} {} {} {} {} KiB",
        quarter(0),
        quarter(1),
        quarter(2),
        quarter(3),
        quarter(4)
    );
    let outcomes = outcomes.lock().expect("no panic while counting");
    let mut kinds: Vec<_> = outcomes.iter().collect();
    kinds.sort_by_key(|(kind, _)| *kind);
    for (kind, results) in &kinds {
        let mut results: Vec<_> = results.iter().collect();
        results.sort();
        let list: Vec<String> = results.iter().map(|(r, n)| format!("{r} x{n}")).collect();
        println!("{kind:<15} {}", list.join(", "));
    }
    let json = serde_json::json!({
        "seconds": elapsed.as_secs_f64(), "rooms": args.rooms, "people_per_room": args.people_per_room,
        "rate": args.rate, "misbehavers": args.misbehavers,
        "sent": sent, "delivered": delivered, "lost": lost, "gaps": gaps, "timed_out": timed_out,
        "server_rss_kib": {"peak": peak, "q0": quarter(0), "q25": quarter(1), "q50": quarter(2), "q75": quarter(3), "q100": quarter(4)},
        "misbehaviour": kinds.iter().map(|(k, r)| (k.to_string(), serde_json::json!(r))).collect::<serde_json::Map<_, _>>(),
    });
    println!("{json}");
}
