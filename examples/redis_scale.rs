//! What big rooms cost across servers on one Redis (issue 17, part 5), in
//! three steps anyone can run against a `redis-server` and `server`s of
//! their own (loopback only):
//!
//! - `seed`: lists `--people` people directly in Redis, as `--servers` fake
//!   servers with liveness keys (an hour long), spread over `--rooms` rooms
//!   `room-0`, `room-1`, ...: each server's people hash, the rooms' member
//!   sets and head counts, as live servers keep them.
//! - `ask`: a real WebSocket client in `--room` sends `/who` and then
//!   `/rooms` `--calls` times each, waiting for each answer, and reads
//!   Redis's `INFO commandstats` over each series (reset before it): the
//!   Redis time per call of the scripts, and that time over the calls
//!   (the background work of the servers in the window counted in, so an
//!   upper bound).
//! - `storm`: fills one room with `--fill` listeners spread over two
//!   servers (`--port`, `--port2`), then makes `--joins` joins into it,
//!   alternating between the servers (each connects, reads its welcome and
//!   its own `join`, and quits), and says how long each took. The servers'
//!   logs say whether the link to Redis held.
//!
//! ```sh
//! redis-server --port 6390 --save '' &
//! cargo run --example redis_scale -- seed --redis-url redis://127.0.0.1:6390
//! target/debug/server --port 9000 --redis-url redis://127.0.0.1:6390 &
//! cargo run --example redis_scale -- ask --redis-url redis://127.0.0.1:6390 --port 9000
//! ```
//!
//! BENCHMARKS.md ("Big rooms across servers") has the runs and the storm.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_websockets::{ClientBuilder, Message};

#[derive(Debug, Parser)]
#[command(about = "Big rooms across servers: seed Redis, time /who and /rooms, a join storm")]
struct Args {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Lists fake servers' people directly in Redis
    Seed {
        #[arg(long, default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        #[arg(long, default_value_t = 10)]
        servers: usize,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
    },
    /// Times `/who` and `/rooms` from a real client, in Redis's time
    Ask {
        #[arg(long, default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
        /// The server's port (on 127.0.0.1)
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "room-0")]
        room: String,
        /// Calls of each command
        #[arg(long, default_value_t = 200)]
        calls: usize,
    },
    /// Fills one room over two servers, then joins it from both
    Storm {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long)]
        port2: u16,
        #[arg(long, default_value_t = 5000)]
        fill: usize,
        #[arg(long, default_value_t = 1000)]
        joins: usize,
        /// Connections opened at once
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Seconds the whole storm may take
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

type Ws = tokio_websockets::WebSocketStream<tokio::net::TcpStream>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().step {
        Step::Seed {
            redis_url,
            people,
            servers,
            rooms,
        } => seed(&redis_url, people, servers.max(1), rooms.max(1)).await,
        Step::Ask {
            redis_url,
            port,
            room,
            calls,
        } => ask(&redis_url, port, &room, calls).await,
        Step::Storm {
            port,
            port2,
            fill,
            joins,
            concurrency,
            timeout,
        } => {
            let storm = storm(port, port2, fill, joins, concurrency.max(1));
            tokio::time::timeout(Duration::from_secs(timeout), storm)
                .await
                .context("the storm did not end within --timeout")?
        }
    }
}

async fn redis(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).context("--redis-url")?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to Redis at {url}"))
}

/// Writes what live servers would: per fake server its place in the set
/// of servers, its liveness key and its people hash; per room its member
/// set (`LOWERCASE NAME`, score 0) and head count.
async fn seed(url: &str, people: usize, servers: usize, rooms: usize) -> anyhow::Result<()> {
    let mut redis = redis(url).await?;
    let started = Instant::now();
    for server in 0..servers {
        let id = format!("fake{server:04}");
        redis::pipe()
            .cmd("SADD")
            .arg("chat:servers")
            .arg(&id)
            .cmd("SET")
            .arg(format!("chat:alive:{id}"))
            .arg(1)
            .arg("EX")
            .arg(3600)
            .exec_async(&mut redis)
            .await?;
    }
    let mut pipe = redis::pipe();
    for n in 0..people {
        let id = format!("fake{:04}", n % servers);
        let name = format!("s{}-p{n}", n % servers);
        let room = format!("room-{}", n % rooms);
        pipe.cmd("HSET")
            .arg(format!("chat:people:{id}"))
            .arg(&name)
            .arg(&room)
            .cmd("ZADD")
            .arg(format!("chat:members:{room}"))
            .arg(0)
            .arg(format!("{} {name}", name.to_lowercase()))
            .cmd("HINCRBY")
            .arg("chat:heads")
            .arg(&room)
            .arg(1);
        if pipe.len() >= 3000 {
            pipe.exec_async(&mut redis).await?;
            pipe = redis::pipe();
        }
    }
    if !pipe.is_empty() {
        pipe.exec_async(&mut redis).await?;
    }
    println!(
        "seeded {people} people on {servers} fake servers in {rooms} rooms in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Redis's time per call for each command `INFO commandstats` lists with
/// calls in the window: (command, calls, usec in all).
async fn commandstats(
    redis: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await?;
    let mut stats = Vec::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let field = |key: &str| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        stats.push((name.to_owned(), field("calls"), field("usec")));
    }
    Ok(stats)
}

/// Sends `command` `calls` times, each after the answer (a frame starting
/// `{"type":"KIND"`) to the last, and reports the client's and Redis's time.
async fn series(
    ws: &mut Ws,
    redis: &mut redis::aio::MultiplexedConnection,
    command: &str,
    kind: &str,
    calls: usize,
) -> anyhow::Result<()> {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(redis)
        .await?;
    let answer = format!(r#"{{"type":"{kind}""#);
    let mut times = Vec::with_capacity(calls);
    let mut bytes = 0;
    for _ in 0..calls {
        // Paced under the server's default rate limit (20 a second), which
        // drops what goes over it.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let sent = Instant::now();
        ws.send(Message::text(command.to_owned())).await?;
        loop {
            let frame = ws.next().await.context("the server closed")??;
            if let Some(text) = frame.as_text()
                && text.starts_with(&answer)
            {
                bytes = text.len();
                break;
            }
        }
        times.push(sent.elapsed());
    }
    times.sort();
    let stats = commandstats(redis).await?;
    println!(
        "{command}: {calls} calls, answer {bytes} bytes, client round trip median {:.2} ms, p99 {:.2} ms",
        times[calls / 2].as_secs_f64() * 1e3,
        times[calls * 99 / 100].as_secs_f64() * 1e3,
    );
    for (name, n, usec) in stats {
        if n == 0 || name == "config" || name == "info" {
            continue;
        }
        println!(
            "  redis {name}: {n} calls, {:.1} usec per call; {:.1} usec per {command}",
            usec as f64 / n as f64,
            usec as f64 / calls as f64,
        );
    }
    Ok(())
}

async fn ask(url: &str, port: u16, room: &str, calls: usize) -> anyhow::Result<()> {
    let calls = calls.max(1);
    let mut redis = redis(url).await?;
    let url = format!(
        "ws://127.0.0.1:{port}/{room}?name=asker{}&format=json",
        std::process::id()
    );
    let mut ws = connect(&url).await?;
    series(&mut ws, &mut redis, "/who", "who", calls).await?;
    series(&mut ws, &mut redis, "/rooms", "rooms", calls).await?;
    let _ = ws.close().await;
    Ok(())
}

/// Connects to `url` and reads the welcome.
async fn connect(url: &str) -> anyhow::Result<Ws> {
    let uri: http::Uri = url.parse().context("building the URL")?;
    let addr = uri.authority().context("the URL has a host")?.as_str();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = ClientBuilder::from_uri(uri)
        .connect_on(stream)
        .await
        .with_context(|| format!("the handshake with {url}"))?;
    let welcome = ws.next().await.context("closed before the welcome")??;
    if !welcome
        .as_text()
        .is_some_and(|t| t.starts_with(r#"{"type":"welcome""#))
    {
        bail!("the first frame was not a welcome; is this the chat server?");
    }
    Ok(ws)
}

/// Reads frames until our own `join` (named `name`).
async fn until_own_join(ws: &mut Ws, name: &str) -> anyhow::Result<()> {
    let own = format!(r#""name":"{name}""#);
    loop {
        let frame = ws.next().await.context("closed before our join")??;
        if frame
            .as_text()
            .is_some_and(|t| t.starts_with(r#"{"type":"join""#) && t.contains(&own))
        {
            return Ok(());
        }
    }
}

async fn storm(
    port: u16,
    port2: u16,
    fill: usize,
    joins: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let run = std::process::id();
    let room = format!("storm-{run}");
    let url = |i: usize, who: &str| {
        let port = if i.is_multiple_of(2) { port } else { port2 };
        format!("ws://127.0.0.1:{port}/{room}?name={who}{run}-{i}&format=json")
    };
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut reading = Vec::with_capacity(fill);
    let mut filling = JoinSet::new();
    for i in 0..fill {
        let (url, gate) = (url(i, "f"), gate.clone());
        filling.spawn(async move {
            let mut ws = {
                let _permit = gate.acquire().await.expect("never closed");
                connect(&url).await?
            };
            // Each listener reads what the room says from the start, as
            // people do, so that no server waits on it.
            anyhow::Ok(tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {}
            }))
        });
    }
    while let Some(reader) = filling.join_next().await {
        reading.push(reader??);
    }
    let fill_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut joining = JoinSet::new();
    for i in 0..joins {
        let (url, gate, name) = (url(i, "j"), gate.clone(), format!("j{run}-{i}"));
        joining.spawn(async move {
            let _permit = gate.acquire().await.expect("never closed");
            let mut ws = connect(&url).await?;
            until_own_join(&mut ws, &name).await?;
            ws.send(Message::text("/quit")).await?;
            while let Some(Ok(_)) = ws.next().await {}
            anyhow::Ok(())
        });
    }
    while let Some(joined) = joining.join_next().await {
        joined??;
    }
    let joins_secs = started.elapsed().as_secs_f64();
    for reader in reading {
        reader.abort();
    }
    println!(
        "room of {fill} over two servers filled in {fill_secs:.2} s; {joins} joins in {joins_secs:.2} s"
    );
    Ok(())
}
