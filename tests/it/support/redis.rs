//! A private Redis for a test: its own `redis-server` on a unix socket in a
//! temporary directory (and on a loopback port too, where a proxy must stand
//! between a server and Redis), nothing saved, killed when dropped.
//!
//! Any test that needs Redis starts it with `let Some(redis) = Redis::start().await
//! else { return };`: without `redis-server` installed (Debian:
//! `redis-server`) the test says it is skipped and returns, unless
//! `CHAT_REQUIRE_REDIS=1` (set by `.ci/run`), which makes that a failure.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::{TempDir, TestServer, send_signal, within};

/// Where Debian's `redis-server` package puts the server.
pub const REDIS: &str = "/usr/bin/redis-server";

/// A private Redis, killed when dropped.
pub struct Redis {
    child: Child,
    _dir: TempDir,
    socket: String,
    /// Its loopback port, if it listens on one.
    pub port: Option<u16>,
}

impl Redis {
    /// Starts one, or returns `None` (after saying so) if Redis is not
    /// installed and not required.
    pub async fn start() -> Option<Self> {
        Self::start_on(None).await
    }

    /// Starts one that also listens on a free loopback port.
    pub async fn start_with_port() -> Option<Self> {
        // Picked by the system, then freed for Redis: a clash would need
        // another process to take it in between.
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = free.local_addr().expect("its address").port();
        drop(free);
        Self::start_on(Some(port)).await
    }

    async fn start_on(port: Option<u16>) -> Option<Self> {
        if !std::path::Path::new(REDIS).exists() {
            assert!(
                std::env::var("CHAT_REQUIRE_REDIS").as_deref() != Ok("1"),
                "CHAT_REQUIRE_REDIS=1 but {REDIS} is missing (apt-get install redis-server)"
            );
            eprintln!(
                "SKIPPED: this test needs {REDIS} (apt-get install redis-server); \
                 CHAT_REQUIRE_REDIS=1 makes this a failure"
            );
            return None;
        }
        let dir = TempDir::new();
        let socket = dir.path("redis.sock");
        let child = spawn(&socket, port).await;
        Some(Self {
            child,
            _dir: dir,
            socket,
            port,
        })
    }

    /// `redis+unix://…`, for `--redis-url`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket)
    }

    /// A connection of the test's own to this Redis, to write into it what
    /// no server of ours would (as another server with a bug, or an
    /// intruder, could).
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("a valid Redis URL");
        within(
            "a connection to Redis",
            client.get_multiplexed_async_connection(),
        )
        .await
        .expect("connecting to Redis")
    }

    /// A server joined to this Redis.
    pub async fn server(&self, args: &[&str]) -> TestServer {
        let url = self.url();
        let mut all = vec!["--redis-url", &url];
        all.extend_from_slice(args);
        TestServer::start(&all).await
    }

    /// Kills Redis (losing everything it held: nothing is saved).
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("redis-server is running");
        within("redis-server to exit", self.child.wait())
            .await
            .expect("waiting for redis-server");
    }

    /// Stops Redis without closing anything (SIGSTOP): its sockets stay
    /// open and nothing it is asked is answered, until [`Redis::resume`].
    pub fn pause(&self) {
        send_signal(&self.child, "STOP");
    }

    /// Lets a paused Redis go on (SIGCONT).
    pub fn resume(&self) {
        send_signal(&self.child, "CONT");
    }

    /// Starts Redis again on the same socket, empty.
    pub async fn restart(&mut self) {
        self.child = spawn(&self.socket, self.port).await;
    }
}

/// Runs `redis-server` on `socket` (and on loopback `port`, if any) and
/// waits until it accepts connections.
async fn spawn(socket: &str, port: Option<u16>) -> Child {
    let port = port.unwrap_or(0).to_string();
    let mut child = Command::new(REDIS)
        .args(["--bind", "127.0.0.1", "--port", &port])
        .args(["--unixsocket", socket])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    within("redis-server to be ready", async {
        while let Some(line) = lines.next_line().await.expect("reading redis-server") {
            // "Ready to accept connections tcp", or "The server is now ready to
            // accept connections at PATH" with no TCP port.
            if line.to_lowercase().contains("ready to accept connections") {
                break;
            }
        }
    })
    .await;
    // Keep draining its output, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Runs one command on `redis`, as `redis-cli` would.
pub async fn redis_cli<T: redis::FromRedisValue>(
    redis: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(redis)
        .await
        .unwrap_or_else(|err| panic!("{args:?}: {err}"))
}
