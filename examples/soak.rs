//! A soak test for the chat server: many people chatting for minutes while
//! others misbehave, with the loss of the well-behaved and the server's memory
//! over time as the result.
//!
//! Well-behaved clients chat in `--rooms` rooms at a person's pace (under the
//! rate limit) and read everything, most in JSON and one per room in text.
//! Misbehaving clients do one thing each, over and over ([`Misbehaviour`]
//! lists them all), bounded and repeated for the whole run.
//!
//! - In the well-behaved rooms, since nothing they do may cost anyone there
//!   a message: floods, never reading, oversized frames, abrupt connections,
//!   ping floods, half-sent frames, quick reconnects under the same name, and
//!   goodbyes with a forged line in them.
//! - In rooms of their own: history bombs (they spend a room's byte budgets
//!   for queue and history, which may legitimately cost a reader there a
//!   `gap`); room churn, which makes a fresh room each time, and the join
//!   victim that times it, going between two rooms of its own so that the one
//!   it left is empty and can be evicted; private messages to someone who
//!   never reads (no room traffic, so that the mailbox is all that fills).
//! - Never in a room: slow handshakes, garbage, refused upgrades.
//!
//! At the end every well-behaved client must have received every message said
//! in its room, in each sender's order; no text reader may have seen a line
//! that passes for a well-behaved person's and is not; joins must have been
//! answered within two seconds whatever the churn; and if the server publishes
//! its worst-case memory (`chat_memory_bound_bytes` on `/metrics`), its peak
//! resident memory must stay under it. Anything else exits non-zero.
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
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chat::protocol::{ErrorCode, Event, LimitsInfo};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_websockets::{ClientBuilder, CloseCode, Message, WebSocketStream};

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
    /// Messages that arrived out of their sender's order.
    disordered: AtomicU64,
    /// Lines that pass for a well-behaved person's and are not theirs (text
    /// readers), or leave reasons with a line break in them (JSON readers).
    forged: AtomicU64,
    /// Join and leave notices of the `rejoin` kind, as one reader per room
    /// saw them.
    rejoin_notices: AtomicU64,
}

/// What every misbehaver needs: where the server is, what it allows, and
/// where to count what happened.
struct Soak {
    addr: SocketAddr,
    run_id: u32,
    rooms: usize,
    limits: LimitsInfo,
    stop: CancellationToken,
    /// By kind: how each attempt (or each step of one) turned out, counted.
    outcomes: Mutex<HashMap<&'static str, HashMap<String, u64>>>,
    /// How long each of the join victim's `/join`s took to be answered.
    join_ms: Mutex<Vec<u64>>,
    /// Numbers the room churn's fresh room names, so that no name comes back.
    fresh_rooms: AtomicU64,
    /// Counts the forged goodbyes, which take turns between two ways.
    goodbyes: AtomicU64,
}

impl Soak {
    fn count(&self, kind: Misbehaviour, outcome: impl Into<String>) {
        self.count_n(kind, outcome, 1);
    }

    fn count_n(&self, kind: Misbehaviour, outcome: impl Into<String>, n: u64) {
        *self
            .outcomes
            .lock()
            .expect("no panic while counting")
            .entry(kind.name())
            .or_default()
            .entry(outcome.into())
            .or_default() += n;
    }

    fn url(&self, room: &str, name: &str, format: &str) -> String {
        format!("ws://{}{}", self.addr, Self::target(room, name, format))
    }

    /// The path and query of a connection to `room` as `name`.
    fn target(room: &str, name: &str, format: &str) -> String {
        format!("/{room}?name={name}&format={format}")
    }

    /// The well-behaved room the `i`th misbehaver of a sharing kind goes to.
    fn shared_room(&self, i: usize) -> String {
        format!("soak{}", i % self.rooms)
    }

    /// How the names of every client of `kind` begin.
    fn prefix(&self, kind: Misbehaviour) -> String {
        format!("x{}{}", self.run_id, kind.tag())
    }

    /// A name of this run for the `i`th misbehaver of `kind`, with a `role`
    /// when the kind needs two.
    fn name(&self, kind: Misbehaviour, role: &str, i: usize) -> String {
        format!("{}{role}{i}", self.prefix(kind))
    }
}

fn main() -> anyhow::Result<ExitCode> {
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

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = format!("ws://{}", args.addr);
    let tally = Arc::new(Tally::default());
    let run_id = std::process::id();
    let started = Instant::now();
    let bound_bytes = metric(args.addr, "chat_memory_bound_bytes").await;
    let soak = Arc::new(Soak {
        addr: args.addr,
        run_id,
        rooms: args.rooms,
        limits: server_limits(&base).await?,
        stop: CancellationToken::new(),
        outcomes: Mutex::default(),
        join_ms: Mutex::default(),
        fresh_rooms: AtomicU64::new(0),
        goodbyes: AtomicU64::new(0),
    });

    // Everyone joins first, so each well-behaved client is there for every
    // message of its room.
    let mut people = Vec::new();
    for room in 0..args.rooms {
        for i in 0..args.people_per_room {
            // One text reader per room: a forged line only shows in text.
            let format = if i == 1 { Format::Text } else { Format::Json };
            let url = format!(
                "{base}/soak{room}?name={}&format={}",
                person(run_id, room, i),
                format.param()
            );
            people.push((room, i, format, connect(&url).await?));
        }
    }
    // Each person sends `messages` lines; everyone in the room expects all.
    let messages = (args.seconds as f64 * args.rate) as u64;
    let mut chatting = JoinSet::new();
    for (room, i, format, ws) in people {
        let reader = Reader {
            room,
            format,
            expected: messages * args.people_per_room as u64,
            person_prefix: format!("p{run_id}r"),
            // One reader per room counts them, so the figure is per room.
            rejoin_prefix: (i == 0).then(|| soak.prefix(Misbehaviour::Rejoin)),
        };
        let (tally, stop) = (tally.clone(), soak.stop.clone());
        let period = Duration::from_secs_f64(1.0 / args.rate);
        chatting.spawn(async move { chat(ws, reader, messages, period, &tally, &stop).await });
    }

    let mut misbehaving = JoinSet::new();
    for kind in Misbehaviour::ALL {
        for i in 0..args.misbehavers {
            let soak = soak.clone();
            misbehaving.spawn(async move { kind.repeat(&soak, i).await });
        }
    }

    // Sample the server's memory and rooms every second while the chat goes on.
    let mut rss_kib = Vec::new();
    let mut most_rooms = 0.0_f64;
    let deadline = started + Duration::from_secs(args.seconds) + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !chatting.is_empty() && Instant::now() < deadline {
        tokio::select! {
            _ = tick.tick() => {
                rss_kib.push(proc_stats::rss_kib(args.server_pid).context("reading the server's memory; is --server-pid right?")?);
                if let Some(rooms) = metric(args.addr, "chat_rooms").await {
                    most_rooms = most_rooms.max(rooms);
                }
            }
            Some(result) = chatting.join_next() => result??,
        }
    }
    let timed_out = !chatting.is_empty();
    soak.stop.cancel();
    while let Some(result) = chatting.join_next().await {
        result??;
    }
    while misbehaving.join_next().await.is_some() {}
    // The kernel's high-water mark catches a peak between two samples.
    let peak_kib = proc_stats::peak_rss_kib(args.server_pid)
        .unwrap_or_else(|| rss_kib.iter().copied().max().unwrap_or(0));

    let passed = report(
        &args,
        &tally,
        &soak,
        Memory {
            rss_kib: &rss_kib,
            peak_kib,
            bound_bytes,
            most_rooms,
        },
        timed_out,
        started.elapsed(),
    );
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn person(run_id: u32, room: usize, i: usize) -> String {
    format!("p{run_id}r{room}i{i}")
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Text,
}

impl Format {
    fn param(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Text => "text",
        }
    }
}

type Ws = WebSocketStream<tokio_websockets::MaybeTlsStream<TcpStream>>;

async fn connect(url: &str) -> anyhow::Result<Ws> {
    Ok(connect_welcomed(url).await?.0)
}

/// Connects and returns the welcome's text too.
async fn connect_welcomed(url: &str) -> anyhow::Result<(Ws, String)> {
    let (mut ws, _) = ClientBuilder::from_uri(url.parse()?)
        .connect()
        .await
        .with_context(|| format!("connecting to {url}; is the server running?"))?;
    let welcome = ws.next().await.context("closed before the welcome")??;
    let welcome = welcome.as_text().unwrap_or_default().to_owned();
    if !welcome.starts_with(r#"{"type":"welcome""#) && !welcome.contains("; type /help") {
        bail!("the first frame was not a welcome");
    }
    Ok((ws, welcome))
}

/// Upgrades a bare socket to `target` (a path and query), reading the answer
/// a byte at a time so that the socket is left at the first frame: for the
/// kinds that write or read frames by hand. With `small_buffer`, its receive
/// buffer is a few KiB, so that what it leaves unread backs up onto the
/// server at once.
async fn raw_upgrade(
    addr: SocketAddr,
    target: &str,
    small_buffer: bool,
) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if small_buffer {
        socket.set_recv_buffer_size(4096)?;
    }
    let mut stream = socket.connect(addr).await?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || stream.read_u8().await.map(|b| head.push(b)).is_err() {
            bail!("no upgrade answer");
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        bail!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head[..12.min(head.len())])
        );
    }
    Ok(stream)
}

/// The limits the server states in its welcome.
async fn server_limits(base: &str) -> anyhow::Result<LimitsInfo> {
    let (mut ws, welcome) = connect_welcomed(&format!("{base}/?format=json")).await?;
    let _ = ws.close().await;
    match serde_json::from_str(&welcome)? {
        Event::Welcome { limits, .. } => Ok(limits),
        _ => bail!("the first frame was not a welcome"),
    }
}

/// One series of `/metrics`, if the server has it, by a plain HTTP GET.
async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let get = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        series_value(&answer, name)
    };
    tokio::time::timeout(Duration::from_secs(5), get)
        .await
        .ok()
        .flatten()
}

/// The value of series `name` in an OpenMetrics text, labels or not.
fn series_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !rest.starts_with([' ', '{']) {
            return None;
        }
        rest.split_whitespace().last()?.parse().ok()
    })
}

/// What one well-behaved reader expects and checks.
struct Reader {
    room: usize,
    format: Format,
    /// Messages of its room it must see.
    expected: u64,
    /// How every well-behaved person's name begins.
    person_prefix: String,
    /// The name the `rejoin` kind's clients share a start with, when this
    /// reader counts their notices.
    rejoin_prefix: Option<String>,
}

impl Reader {
    /// Looks at one frame and counts what it holds: the sender and number of
    /// a well-behaved message, if it is one.
    fn read(&self, frame: &str, tally: &Tally) -> Option<(String, u64)> {
        match self.format {
            Format::Json => self.read_json(frame, tally),
            Format::Text => self.read_text(frame, tally),
        }
    }

    fn read_json(&self, frame: &str, tally: &Tally) -> Option<(String, u64)> {
        let rejoiner = |name: &str| {
            self.rejoin_prefix
                .as_ref()
                .is_some_and(|prefix| name.starts_with(prefix.as_str()))
        };
        match serde_json::from_str(frame).ok()? {
            Event::Message { from, text, .. } => {
                let seq = self.sequence(&text)?;
                Some((from, seq))
            }
            Event::Gap { .. } => {
                tally.gaps.fetch_add(1, Ordering::Relaxed);
                None
            }
            Event::Leave { name, reason, .. } => {
                // A client shows the reason as part of one line.
                if reason.contains(['\n', '\r']) {
                    tally.forged.fetch_add(1, Ordering::Relaxed);
                }
                if rejoiner(&name) {
                    tally.rejoin_notices.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            Event::Join { name, .. } => {
                if rejoiner(&name) {
                    tally.rejoin_notices.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            _ => None,
        }
    }

    /// In text, only a message's first line starts with a name: its other
    /// lines are indented. So any line that starts with a well-behaved
    /// person's name and is not one of their lines is forged.
    fn read_text(&self, frame: &str, tally: &Tally) -> Option<(String, u64)> {
        let mut said = None;
        for line in frame.lines() {
            if line.starts_with("... ") && line.ends_with("missed") {
                tally.gaps.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if !line.starts_with(&self.person_prefix) {
                continue;
            }
            let genuine = line
                .split_once(": ")
                .and_then(|(from, text)| Some((from.to_owned(), self.sequence(text)?)));
            match genuine {
                Some(message) if said.is_none() => said = Some(message),
                _ => {
                    tally.forged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        said
    }

    /// The number in a well-behaved message of this room.
    fn sequence(&self, text: &str) -> Option<u64> {
        let rest = text.strip_prefix(&format!("soak{} ", self.room))?;
        rest.split(' ').next()?.parse().ok()
    }
}

/// One well-behaved person: says `messages` lines at `period`, and reads
/// until it has seen everyone's.
async fn chat(
    ws: Ws,
    reader: Reader,
    messages: u64,
    period: Duration,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = ws.split();
    let reading = async {
        let mut seen = 0;
        // Each sender's next number: their messages must come in their order.
        let mut next: HashMap<String, u64> = HashMap::new();
        while seen < reader.expected {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                frame = stream.next() => frame,
            };
            let Some(Ok(frame)) = frame else { break };
            let Some(text) = frame.as_text() else {
                continue;
            };
            let Some((from, seq)) = reader.read(text, tally) else {
                continue;
            };
            let expected = next.entry(from).or_insert(0);
            if seq != *expected {
                tally.disordered.fetch_add(1, Ordering::Relaxed);
            }
            *expected = seq + 1;
            seen += 1;
            tally.delivered.fetch_add(1, Ordering::Relaxed);
        }
        tally
            .lost
            .fetch_add(reader.expected.saturating_sub(seen), Ordering::Relaxed);
    };
    let writing = async {
        let mut tick = tokio::time::interval(period);
        for seq in 0..messages {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            sink.send(Message::text(format!(
                "soak{} {seq} a line of ordinary chat",
                reader.room
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
    /// Pings as fast as it can with a tiny receive buffer, never reading.
    PingFlood,
    /// Fills its own room's history with the costliest messages there are.
    HistoryBomb,
    /// `/join`s a new room every few tens of milliseconds, under the rate
    /// limit, so that the room limit evicts all the time.
    RoomChurn,
    /// `/join`s a fixed room every second while the churn goes on, and times
    /// the answer.
    JoinVictim,
    /// Drops its connection and comes back at once under the same name.
    Rejoin,
    /// Upgrades from another site's page, or without `Connection: Upgrade`.
    Origin,
    /// Sends most of a maximal frame and stalls.
    HalfFrame,
    /// Leaves with a goodbye that has a line break and a forged line in it.
    ForgedQuit,
    /// Sends large private messages to someone who never reads.
    BusyMailbox,
}

impl Misbehaviour {
    const ALL: [Self; 15] = [
        Self::Flood,
        Self::NeverRead,
        Self::Oversize,
        Self::SlowHandshake,
        Self::Garbage,
        Self::Churn,
        Self::PingFlood,
        Self::HistoryBomb,
        Self::RoomChurn,
        Self::JoinVictim,
        Self::Rejoin,
        Self::Origin,
        Self::HalfFrame,
        Self::ForgedQuit,
        Self::BusyMailbox,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::NeverRead => "never-read",
            Self::Oversize => "oversize",
            Self::SlowHandshake => "slow-handshake",
            Self::Garbage => "garbage",
            Self::Churn => "churn",
            Self::PingFlood => "ping-flood",
            Self::HistoryBomb => "history-bomb",
            Self::RoomChurn => "room-churn",
            Self::JoinVictim => "join-victim",
            Self::Rejoin => "rejoin",
            Self::Origin => "origin",
            Self::HalfFrame => "half-frame",
            Self::ForgedQuit => "forged-quit",
            Self::BusyMailbox => "busy-mailbox",
        }
    }

    /// The kind's part of its clients' names, short enough for the name limit.
    fn tag(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::NeverRead => "deaf",
            Self::Oversize => "big",
            Self::SlowHandshake => "slow",
            Self::Garbage => "junk",
            Self::Churn => "churn",
            Self::PingFlood => "ping",
            Self::HistoryBomb => "bomb",
            Self::RoomChurn => "rooms",
            Self::JoinVictim => "victim",
            Self::Rejoin => "rejoin",
            Self::Origin => "origin",
            Self::HalfFrame => "half",
            Self::ForgedQuit => "quit",
            Self::BusyMailbox => "mail",
        }
    }

    /// Misbehaves again and again until the soak ends, counting outcomes.
    async fn repeat(self, soak: &Soak, i: usize) {
        while !soak.stop.is_cancelled() {
            let outcome = tokio::select! {
                () = soak.stop.cancelled() => break,
                outcome = self.once(soak, i) => outcome,
            };
            if let Err(err) = outcome {
                soak.count(self, format!("error: {err}"));
            }
            // Bounded: at most a few attempts a second per misbehaver.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn once(self, soak: &Soak, i: usize) -> anyhow::Result<()> {
        match self {
            Self::Flood => flood(soak, i).await,
            Self::NeverRead => never_read(soak, i).await,
            Self::Oversize => oversize(soak, i).await,
            Self::SlowHandshake => slow_handshake(soak).await,
            Self::Garbage => garbage(soak).await,
            Self::Churn => churn(soak, i).await,
            Self::PingFlood => ping_flood(soak, i).await,
            Self::HistoryBomb => history_bomb(soak, i).await,
            Self::RoomChurn => room_churn(soak, i).await,
            Self::JoinVictim => join_victim(soak, i).await,
            Self::Rejoin => rejoin(soak, i).await,
            Self::Origin => origin(soak).await,
            Self::HalfFrame => half_frame(soak, i).await,
            Self::ForgedQuit => forged_quit(soak, i).await,
            Self::BusyMailbox => busy_mailbox(soak, i).await,
        }
    }
}

async fn flood(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::Flood;
    let name = soak.name(kind, "", i);
    let mut ws = connect(&soak.url(&soak.shared_room(i), &name, "json")).await?;
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
    soak.count(kind, close_code(&mut ws).await);
    Ok(())
}

async fn never_read(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::NeverRead;
    let name = soak.name(kind, "", i);
    let ws = connect(&soak.url(&soak.shared_room(i), &name, "json")).await?;
    // Hold the socket without reading until the server gives up on it.
    let mut stream = ws.into_inner();
    let mut byte = [0u8; 1];
    tokio::time::sleep(Duration::from_secs(40)).await;
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    soak.count(
        kind,
        match read {
            Ok(Ok(_)) => "held until read",
            Ok(Err(_)) => "cut off",
            Err(_) => "still open",
        },
    );
    Ok(())
}

async fn oversize(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::Oversize;
    let name = soak.name(kind, "", i);
    let mut ws = connect(&soak.url(&soak.shared_room(i), &name, "json")).await?;
    let _ = ws.send(Message::text("x".repeat(1 << 20))).await;
    soak.count(kind, close_code(&mut ws).await);
    Ok(())
}

async fn slow_handshake(soak: &Soak) -> anyhow::Result<()> {
    let kind = Misbehaviour::SlowHandshake;
    let mut stream = TcpStream::connect(soak.addr).await?;
    let request = b"GET /soak0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
    for byte in request {
        if stream.write_all(&[*byte]).await.is_err() {
            soak.count(kind, "cut off");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    soak.count(kind, "never cut off");
    Ok(())
}

async fn garbage(soak: &Soak) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(soak.addr).await?;
    stream
        .write_all(b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n")
        .await?;
    let mut answer = [0u8; 12];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await??;
    soak.count(Misbehaviour::Garbage, String::from_utf8_lossy(&answer[..n]));
    Ok(())
}

async fn churn(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::Churn;
    let stream = TcpStream::connect(soak.addr).await?;
    drop(stream);
    let name = soak.name(kind, "", i);
    let ws = connect(&soak.url(&soak.shared_room(i), &name, "json")).await?;
    drop(ws);
    soak.count(kind, "dropped");
    Ok(())
}

/// Pings a thousand times in one go (more than the server's ping limit) and
/// only then reads, to see how the server ended it.
async fn ping_flood(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::PingFlood;
    let name = soak.name(kind, "", i);
    let target = Soak::target(&soak.shared_room(i), &name, "json");
    let mut stream = raw_upgrade(soak.addr, &target, true).await?;
    // The largest control frame: 125 bytes, each owing a pong as large.
    let ping = masked_frame(0x9, &[b'p'; 125]);
    let burst = ping.repeat(50);
    for _ in 0..20 {
        let wrote = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&burst)).await;
        if !matches!(wrote, Ok(Ok(()))) {
            break;
        }
    }
    soak.count(kind, raw_close(&mut stream, Duration::from_secs(10)).await);
    Ok(())
}

/// Says messages of (just under) the largest size made of line breaks, which
/// both formats encode at their largest (text indents each line, JSON
/// escapes each break), at the rate limit, for 15 s; reads its own copies so
/// as to stay a reader.
async fn history_bomb(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::HistoryBomb;
    let name = soak.name(kind, "", i);
    let format = if i.is_multiple_of(2) { "text" } else { "json" };
    let room = format!("bomb{}-{i}", soak.run_id);
    let (mut sink, mut stream) = connect(&soak.url(&room, &name, format)).await?.split();
    let bomb = format!("b{}b", "\n".repeat(soak.limits.max_message_bytes - 8));
    let period = Duration::from_secs_f64(1.0 / f64::from(soak.limits.per_second.max(1)));
    let reading = async {
        while let Some(Ok(frame)) = stream.next().await {
            if let Some(ended) = closed(&frame) {
                return ended;
            }
            if frame.as_text().is_some_and(|t| t.contains("rate_limited")) {
                soak.count(kind, "rate_limited");
            }
        }
        "dropped".to_owned()
    };
    let bombing = async {
        let mut tick = tokio::time::interval(period);
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            tick.tick().await;
            sink.send(Message::text(bomb.clone())).await?;
            soak.count(kind, format!("said {} bytes", bomb.len()));
        }
        anyhow::Ok(())
    };
    tokio::select! {
        ended = reading => soak.count(kind, format!("cut off: {ended}")),
        bombed = bombing => bombed?,
    }
    let _ = sink.close().await;
    Ok(())
}

/// `/join`s a fresh room at three quarters of the rate limit for 15 s; each
/// room it leaves is empty, and so the room limit's next victim.
async fn room_churn(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::RoomChurn;
    let name = soak.name(kind, "", i);
    let home = format!("h{}-{i}", soak.run_id);
    let (mut sink, mut stream) = connect(&soak.url(&home, &name, "json")).await?.split();
    let period = Duration::from_secs_f64(1.0 / (f64::from(soak.limits.per_second) * 0.75));
    let reading = async {
        while let Some(Ok(frame)) = stream.next().await {
            if let Some(ended) = closed(&frame) {
                return ended;
            }
            let Some(Ok(event)) = frame.as_text().map(serde_json::from_str::<Event>) else {
                continue;
            };
            match event {
                Event::Join { name: who, .. } if who == name => soak.count(kind, "joined"),
                Event::Error { code, .. } => soak.count(kind, code_name(code)),
                _ => {}
            }
        }
        "dropped".to_owned()
    };
    let churning = async {
        let mut tick = tokio::time::interval(period);
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            tick.tick().await;
            let n = soak.fresh_rooms.fetch_add(1, Ordering::Relaxed);
            sink.send(Message::text(format!("/join r{}-{n}", soak.run_id)))
                .await?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        ended = reading => soak.count(kind, format!("cut off: {ended}")),
        churned = churning => churned?,
    }
    let _ = sink.close().await;
    Ok(())
}

/// Goes back and forth between two rooms of its own, one `/join` a second,
/// ten times, timing each from the command to its own join notice (or the
/// error). The room it just left is empty, so the churn may evict it: the
/// join then has to make (and, with `--data-dir`, load) the room again.
async fn join_victim(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::JoinVictim;
    let name = soak.name(kind, "", i);
    let rooms = [
        format!("v{}-{i}a", soak.run_id),
        format!("v{}-{i}b", soak.run_id),
    ];
    let mut ws = connect(&soak.url(&rooms[0], &name, "json")).await?;
    // Where it is: a refused join (`too_many_rooms`) leaves it there.
    let mut here = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let room = &rooms[1 - here];
        let asked = Instant::now();
        ws.send(Message::text(format!("/join {room}"))).await?;
        let answer = async {
            while let Some(frame) = ws.next().await {
                let Some(Ok(event)) = frame?.as_text().map(serde_json::from_str::<Event>) else {
                    continue;
                };
                match event {
                    Event::Join {
                        name: who, room: r, ..
                    } if who == name && r == *room => return Ok("joined".to_owned()),
                    Event::Error { code, .. } => return Ok(code_name(code)),
                    _ => {}
                }
            }
            bail!("closed by the server")
        };
        let outcome = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .unwrap_or_else(|_| Ok("no answer within 5 s".to_owned()))?;
        if outcome == "joined" {
            here = 1 - here;
        }
        let took = asked.elapsed().as_millis() as u64;
        soak.join_ms
            .lock()
            .expect("no panic while timing")
            .push(took);
        soak.count(kind, outcome);
    }
    let _ = ws.close().await;
    Ok(())
}

/// Joins a well-behaved room, drops the socket without a goodbye, and (after
/// the pause between attempts, well within the server's hold on a dropped
/// connection's departure) comes back under the same name: the room should
/// see no leave and join for it.
async fn rejoin(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::Rejoin;
    let name = soak.name(kind, "", i);
    let (ws, welcome) = connect_welcomed(&soak.url(&soak.shared_room(i), &name, "json")).await?;
    soak.count(
        kind,
        match serde_json::from_str(&welcome)? {
            Event::Welcome { name: got, .. } if got == name => "back under its name".to_owned(),
            Event::Welcome { name: got, .. } => format!("its name was taken: got {got}"),
            _ => bail!("the first frame was not a welcome"),
        },
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(ws);
    Ok(())
}

/// Two upgrades the server must refuse: from another site's page (403), and
/// without `Connection: Upgrade` (400).
async fn origin(soak: &Soak) -> anyhow::Result<()> {
    let kind = Misbehaviour::Origin;
    let addr = soak.addr;
    let upgrade = "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let tries = [
        (
            "evil Origin",
            format!(
                "GET /soak0 HTTP/1.1\r\nHost: {addr}\r\n{upgrade}Connection: Upgrade\r\nOrigin: https://evil.example\r\n\r\n"
            ),
        ),
        (
            "no Connection: Upgrade",
            format!("GET /soak0 HTTP/1.1\r\nHost: {addr}\r\n{upgrade}\r\n"),
        ),
    ];
    for (what, request) in tries {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = [0u8; 12];
        let n =
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer)).await??;
        let status = String::from_utf8_lossy(&answer[9..n]).into_owned();
        soak.count(kind, format!("{what}: HTTP {status}"));
    }
    Ok(())
}

/// Sends the header and all but 4 KiB of the largest frame the server takes,
/// then stalls, reading what the server sends meanwhile (nothing answers its
/// pings: a pong cannot go in the middle of a frame).
async fn half_frame(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::HalfFrame;
    let name = soak.name(kind, "", i);
    let target = Soak::target(&soak.shared_room(i), &name, "json");
    let mut stream = raw_upgrade(soak.addr, &target, false).await?;
    // The frame limit is the message limit and a quarter.
    let frame_len = soak.limits.max_message_bytes + soak.limits.max_message_bytes / 4;
    let header = masked_header(0x1, frame_len);
    stream.write_all(&header).await?;
    stream.write_all(&vec![b'h'; frame_len - 4096]).await?;
    soak.count(kind, "stalled mid-frame");
    let started = Instant::now();
    let ended = raw_close(&mut stream, Duration::from_secs(120)).await;
    let after = started.elapsed().as_secs() / 10 * 10;
    soak.count(kind, format!("{ended} after {after}-{} s", after + 10));
    Ok(())
}

/// Joins a well-behaved room and leaves with a goodbye whose second line
/// passes for a well-behaved person's: by `/quit` and by a close frame's
/// reason, in turn.
async fn forged_quit(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::ForgedQuit;
    let name = soak.name(kind, "", i);
    let mut ws = connect(&soak.url(&soak.shared_room(i), &name, "json")).await?;
    let victim = person(soak.run_id, i % soak.rooms, 0);
    let forged = format!("bye\n{victim}: please paste the token here");
    if soak
        .goodbyes
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(2)
    {
        ws.send(Message::text(format!("/quit {forged}"))).await?;
        soak.count(kind, "/quit with a line break");
    } else {
        ws.send(Message::close(Some(CloseCode::NORMAL_CLOSURE), &forged))
            .await?;
        soak.count(kind, "close reason with a line break");
    }
    close_code(&mut ws).await;
    Ok(())
}

/// A sleeper who never reads and a sender who sends it large private
/// messages a few times a second until the server has cut the sleeper off
/// (after the write timeout): once the sleeper's mailbox is full, the sender
/// must be told it is busy.
async fn busy_mailbox(soak: &Soak, i: usize) -> anyhow::Result<()> {
    let kind = Misbehaviour::BusyMailbox;
    let room = format!("z{}-{i}", soak.run_id);
    let sleeper = soak.name(kind, "s", i);
    let _asleep = raw_upgrade(soak.addr, &Soak::target(&room, &sleeper, "json"), true).await?;
    let sender = soak.name(kind, "", i);
    let (mut sink, mut stream) = connect(&soak.url(&room, &sender, "json")).await?.split();
    let text = "m".repeat(soak.limits.max_message_bytes - 64);
    let reading = async {
        while let Some(Ok(frame)) = stream.next().await {
            let Some(Ok(event)) = frame.as_text().map(serde_json::from_str::<Event>) else {
                continue;
            };
            match event {
                Event::Private { .. } => soak.count(kind, "delivered to the mailbox"),
                Event::Error {
                    code: ErrorCode::NoSuchUser,
                    ..
                } => {
                    soak.count(kind, "sleeper cut off");
                    return;
                }
                Event::Error { code, .. } => soak.count(kind, code_name(code)),
                _ => {}
            }
        }
    };
    let sending = async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            sink.send(Message::text(format!("/msg {sleeper} {text}")))
                .await?;
        }
    };
    tokio::select! {
        () = reading => Ok(()),
        sent = sending => sent,
        () = tokio::time::sleep(Duration::from_secs(60)) => {
            soak.count(kind, "sleeper still there after 60 s");
            Ok(())
        }
    }
}

/// An error code as the wire spells it.
fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// The header of a client frame of `len` bytes with a zero mask, so the
/// payload goes as it is (the server requires the mask bit, not a random key).
fn masked_header(opcode: u8, len: usize) -> Vec<u8> {
    let mut header = vec![0x80 | opcode];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=0xffff => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    header.extend_from_slice(&[0; 4]);
    header
}

fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = masked_header(opcode, payload.len());
    frame.extend_from_slice(payload);
    frame
}

/// Reads server frames off a raw socket until the server's close frame:
/// its code and reason, or how the socket ended without one.
async fn raw_close(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> String {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            // Server frames are unmasked: 2 bytes, the extended length, the payload.
            while buf.len() >= 2 {
                let (opcode, short) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
                let (start, len) = match short {
                    126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
                    127 if buf.len() >= 10 => {
                        let bytes: [u8; 8] = buf[2..10].try_into().expect("8 bytes");
                        (10, u64::from_be_bytes(bytes) as usize)
                    }
                    126 | 127 => break,
                    _ => (2, short),
                };
                if buf.len() < start + len {
                    break;
                }
                if opcode == 0x8 {
                    let payload = &buf[start..start + len];
                    if payload.len() < 2 {
                        return "closed without a code".to_owned();
                    }
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = String::from_utf8_lossy(&payload[2..]);
                    return format!("closed {code} ({reason})");
                }
                buf.drain(..start + len);
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return "dropped".to_owned(),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(err) => return format!("dropped ({})", err.kind()),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| "still open".to_owned())
}

/// How the server ended the connection, if `frame` is its close frame.
fn closed(frame: &Message) -> Option<String> {
    let (code, reason) = frame.as_close()?;
    Some(format!("closed {} ({reason})", u16::from(code)))
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

/// The server's memory over the run, and what it should stay under.
struct Memory<'a> {
    /// One sample a second.
    rss_kib: &'a [u64],
    peak_kib: u64,
    /// `chat_memory_bound_bytes`, if the server publishes it.
    bound_bytes: Option<f64>,
    /// The most rooms `chat_rooms` showed.
    most_rooms: f64,
}

/// Prints the figures, and whether the soak passed.
fn report(
    args: &Args,
    tally: &Tally,
    soak: &Soak,
    memory: Memory<'_>,
    timed_out: bool,
    elapsed: Duration,
) -> bool {
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let (sent, delivered, lost, gaps) = (
        load(&tally.sent),
        load(&tally.delivered),
        load(&tally.lost),
        load(&tally.gaps),
    );
    let (disordered, forged, rejoin_notices) = (
        load(&tally.disordered),
        load(&tally.forged),
        load(&tally.rejoin_notices),
    );
    let rss = memory.rss_kib;
    let quarter = |q: usize| {
        rss.get((rss.len().saturating_sub(1)) * q / 4)
            .copied()
            .unwrap_or(0)
    };
    let mut join_ms = soak.join_ms.lock().expect("no panic while timing").clone();
    join_ms.sort_unstable();
    let percentile = |p: usize| {
        join_ms
            .get((join_ms.len().saturating_sub(1)) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    let join_max_ms = join_ms.last().copied().unwrap_or(0);
    let outcomes = soak.outcomes.lock().expect("no panic while counting");
    let mut kinds: Vec<_> = outcomes.iter().collect();
    kinds.sort_by_key(|(kind, _)| *kind);

    println!(
        "soak            {:.0} s, {} rooms x {} people at {}/s, {} misbehavers of each of {} kinds",
        elapsed.as_secs_f64(),
        args.rooms,
        args.people_per_room,
        args.rate,
        args.misbehavers,
        Misbehaviour::ALL.len()
    );
    println!(
        "well-behaved    {sent} sent, {delivered} delivered, {lost} lost, {gaps} gaps, {disordered} out of order, {forged} forged lines{}",
        if timed_out { ", TIMED OUT" } else { "" }
    );
    let bound = memory.bound_bytes.map_or("unknown".to_owned(), |b| {
        format!("{} KiB", (b / 1024.0).round())
    });
    println!(
        "server memory   peak {} KiB, bound: {bound}; at 0/25/50/75/100%: {} {} {} {} {} KiB",
        memory.peak_kib,
        quarter(0),
        quarter(1),
        quarter(2),
        quarter(3),
        quarter(4)
    );
    println!(
        "rooms           at most {} at once; joins answered in p50 {} ms, p99 {} ms, max {join_max_ms} ms ({} joins)",
        memory.most_rooms,
        percentile(50),
        percentile(99),
        join_ms.len()
    );
    println!(
        "rejoin notices  {rejoin_notices} join/leave notices of rejoiners, as one reader per room saw them"
    );
    for (kind, results) in &kinds {
        let mut results: Vec<_> = results.iter().collect();
        results.sort();
        let list: Vec<String> = results.iter().map(|(r, n)| format!("{r} x{n}")).collect();
        println!("{kind:<15} {}", list.join(", "));
    }

    let mut failures = Vec::new();
    if timed_out {
        failures.push("the well-behaved did not finish in time".to_owned());
    }
    if lost > 0 || disordered > 0 {
        failures.push(format!(
            "well-behaved clients lost {lost} messages and saw {disordered} out of order"
        ));
    }
    if forged > 0 {
        failures.push(format!(
            "{forged} forged lines reached well-behaved readers"
        ));
    }
    if join_max_ms >= 2000 {
        failures.push(format!("a join took {join_max_ms} ms"));
    }
    let accepted_origin = outcomes
        .get(Misbehaviour::Origin.name())
        .is_some_and(|r| r.keys().any(|k| k.contains("HTTP 101")));
    if accepted_origin {
        failures.push("an upgrade the server must refuse was accepted".to_owned());
    }
    if let Some(bound) = memory.bound_bytes
        && (memory.peak_kib * 1024) as f64 > bound
    {
        failures.push(format!(
            "peak memory {} KiB over the bound {bound} bytes",
            memory.peak_kib
        ));
    }
    for failure in &failures {
        println!("FAILED          {failure}");
    }

    let json = serde_json::json!({
        "seconds": elapsed.as_secs_f64(), "rooms": args.rooms, "people_per_room": args.people_per_room,
        "rate": args.rate, "misbehavers": args.misbehavers,
        "sent": sent, "delivered": delivered, "lost": lost, "gaps": gaps, "timed_out": timed_out,
        "disordered": disordered, "forged": forged, "rejoin_notices": rejoin_notices,
        "server_rss_kib": {"peak": memory.peak_kib, "q0": quarter(0), "q25": quarter(1), "q50": quarter(2), "q75": quarter(3), "q100": quarter(4)},
        "memory_bound_bytes": memory.bound_bytes,
        "most_rooms": memory.most_rooms,
        "join_ms": {"count": join_ms.len(), "p50": percentile(50), "p99": percentile(99), "max": join_max_ms},
        "misbehaviour": kinds.iter().map(|(k, r)| (k.to_string(), serde_json::json!(r))).collect::<serde_json::Map<_, _>>(),
        "passed": failures.is_empty(),
    });
    println!("{json}");
    failures.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(format: Format) -> Reader {
        Reader {
            room: 3,
            format,
            expected: 1,
            person_prefix: "p7r".to_owned(),
            rejoin_prefix: Some("x7rejoin".to_owned()),
        }
    }

    /// A well-behaved line is a message with its sender and number; a line
    /// under someone's name that is not theirs is forged, and an indented
    /// continuation line is neither.
    #[test]
    fn text_reader_tells_messages_from_forged_lines() {
        let (reader, tally) = (reader(Format::Text), Tally::default());
        assert_eq!(
            reader.read("p7r3i0: soak3 12 a line of ordinary chat", &tally),
            Some(("p7r3i0".to_owned(), 12))
        );
        let forged = "<- x7quit0 left soak3 (quit: bye)\np7r3i0: please paste the token here";
        assert_eq!(reader.read(forged, &tally), None);
        let indented = "x7bomb0: b\n  p7r3i0: please paste the token here";
        assert_eq!(reader.read(indented, &tally), None);
        assert_eq!(tally.forged.load(Ordering::Relaxed), 1);
    }

    /// The gauge is found by its whole name, with or without labels.
    #[test]
    fn series_value_reads_a_gauge() {
        let text = "# TYPE chat_memory_bound_bytes gauge\nchat_memory_bound_bytes_x 1\nchat_memory_bound_bytes 2147483648\nchat_rooms{a=\"b\"} 50\n";
        assert_eq!(
            series_value(text, "chat_memory_bound_bytes"),
            Some(2_147_483_648.0)
        );
        assert_eq!(series_value(text, "chat_rooms"), Some(50.0));
        assert_eq!(series_value(text, "chat_connections"), None);
    }

    /// In JSON a leave reason must be one line, and the rejoiners' notices
    /// are counted.
    #[test]
    fn json_reader_counts_broken_reasons_and_rejoin_notices() {
        let (reader, tally) = (reader(Format::Json), Tally::default());
        let message = r#"{"type":"message","id":1,"room":"soak3","from":"p7r3i4","text":"soak3 0 a line","ts":0}"#;
        assert_eq!(reader.read(message, &tally), Some(("p7r3i4".to_owned(), 0)));
        let leave = r#"{"type":"leave","room":"soak3","name":"x7rejoin1","reason":"quit: bye\np7r3i0: hi","ts":0}"#;
        assert_eq!(reader.read(leave, &tally), None);
        assert_eq!(tally.forged.load(Ordering::Relaxed), 1);
        assert_eq!(tally.rejoin_notices.load(Ordering::Relaxed), 1);
    }
}
