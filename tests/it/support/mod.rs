//! Shared test helpers: start the real server on port 0 (or the library's
//! server in the test's own process, [`inprocess`]), connect WebSocket clients
//! (well-behaved ones here, hand-written ones in [`raw_ws`]), run the real
//! client binary ([`client`]), stand a TCP [`proxy`] in between, start a
//! private [`redis`], and wait on events with a timeout.
//!
//! Every wait is on an event (a line printed, a frame received) bounded by
//! [`TIMEOUT`]; nothing sleeps and hopes.

#![allow(dead_code, reason = "each test module uses a different part")]

pub mod certs;
pub mod client;
pub mod events;
pub mod inprocess;
pub mod markdown;
pub mod proxy;
pub mod raw_ws;
pub mod redis;

use std::future::Future;
use std::ops::Deref;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chat::protocol::Event;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_websockets::{ClientBuilder, Connector, MaybeTlsStream, Message, WebSocketStream};

/// The server binary under test.
pub const SERVER: &str = env!("CARGO_BIN_EXE_server");

/// The longest any single expected event may take. Generous, because the
/// machine is small and shared; a passing test never waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test with `what` if it takes longer than [`TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {TIMEOUT:?} waiting for {what}"))
}

/// A directory of its own under the system's temporary directory, removed
/// when dropped. Its paths are strings: the tests pass them as arguments and
/// quote them in the lines they expect.
pub struct TempDir {
    dir: tempfile::TempDir,
    root: String,
}

impl TempDir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chat-test-")
            .tempdir()
            .expect("creating a temporary directory");
        let root = dir
            .path()
            .to_str()
            .expect("a UTF-8 temporary path")
            .to_owned();
        Self { dir, root }
    }

    /// The directory itself.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The path of the file `name` in this directory.
    pub fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.root)
    }

    /// Writes `contents` to the file `name` in this directory.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("writing a temporary file");
        path
    }
}

/// `program`, run by `unshare -rm` in a mount namespace of its own once the
/// shell command `mount` has succeeded there (it sees `arg` as `$0`; the
/// program's own arguments follow the returned command's). What is mounted
/// stays out of the test's view of the machine. Needs util-linux, and user
/// namespaces or root.
pub fn with_private_mount(mount: &str, arg: impl AsRef<std::ffi::OsStr>, program: &str) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["-rm", "sh", "-c", &format!(r#"{mount} && exec "$@""#)])
        .arg(arg)
        .arg(program);
    command
}

/// Where a server under test listens, how to reach it, and the process it
/// runs in: what the real binary ([`TestServer`]) and the library's server in
/// the test's own process ([`inprocess::InProcess`]) have in common. Both
/// dereference to it, so a helper taking `&Endpoint` takes either.
pub struct Endpoint {
    /// `ws://127.0.0.1:PORT` (or `wss://…`).
    pub url: String,
    pub port: u16,
    /// How [`Endpoint::join`] connects: plain, or TLS trusting the server's
    /// authority (see [`TestServer::trusting`]).
    connector: Connector,
    /// The process the server runs in (the test's own, for an in-process one).
    pid: u32,
}

impl Endpoint {
    /// A plain server on 127.0.0.1:`port`, running in process `pid`.
    pub fn new(url: String, port: u16, pid: u32) -> Self {
        Self {
            url,
            port,
            connector: Connector::Plain,
            pid,
        }
    }

    /// The URL of `path_and_query` (e.g. `/rust?name=ana&format=json`) on this server.
    pub fn url_for(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url)
    }

    /// `host:port`, for raw TCP.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connects a JSON client to `path_and_query` (`format=json` is added to
    /// its query), and returns it with its first frame, which must be a
    /// welcome.
    pub async fn connect_json(&self, path_and_query: &str) -> (WsClient, Event) {
        let url = self.url_for(&with_query(path_and_query, "format=json"));
        let mut client = WsClient::try_connect_with(&url, &self.connector)
            .await
            .unwrap_or_else(|err| panic!("connecting to {url}: {err}"));
        let welcome = client.next_event().await;
        assert!(
            matches!(welcome, Event::Welcome { .. }),
            "first frame: {welcome:?}"
        );
        (client, welcome)
    }

    /// Connects a JSON client named `name` to `room`, and returns it with its
    /// welcome already read.
    pub async fn join(&self, name: &str, room: &str) -> (WsClient, Event) {
        self.connect_json(&format!("/{room}?name={name}")).await
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The resident memory of the server's process, in KiB (VmRSS from /proc).
    pub fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS:")
    }

    /// The most memory the server process has held at once since it
    /// started (`VmHWM`), in KiB: what a burst cost, even once freed.
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM:")
    }

    fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("reading the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc status"))
    }

    /// Proves the server is still healthy: a fresh pair of clients connects to
    /// a fresh room, and a message from one reaches the other promptly.
    pub async fn assert_still_serves(&self) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static PAIRS: AtomicU32 = AtomicU32::new(0);
        let n = PAIRS.fetch_add(1, Ordering::Relaxed);
        let room = format!("health-{n}");
        let (mut a, _) = self.join(&format!("health-a{n}"), &room).await;
        let (mut b, _) = self.join(&format!("health-b{n}"), &room).await;
        a.send("still there?").await;
        let text = "still there?".to_owned();
        b.event_matching(
            "the health check message",
            |e| matches!(e, Event::Message { text: t, .. } if *t == text),
        )
        .await;
    }
}

/// `path_and_query` with `param` (`key=value`) added to its query.
pub fn with_query(path_and_query: &str, param: &str) -> String {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{path_and_query}{sep}{param}")
}

/// The operator secret (`--op-token`) of the tests that make operators
/// (see [`events::op`]).
pub const OP_SECRET: &str = "s3cret-op";

/// The password the tests register names with.
pub const PASSWORD: &str = "hunter22pw";

/// Server flags trusting 127.0.0.1 as a proxy: every test client connects
/// from there, and says where it "is" with `X-Forwarded-For`
/// ([`connect_from`]), so that people's addresses differ.
pub const PROXY: [&str; 2] = ["--trusted-proxy", "127.0.0.1/32"];

/// A WebSocket client to `path_and_query` whose trusted proxy (see
/// [`PROXY`]) says it comes from `from` (no header: `None`).
pub async fn connect_from(server: &Endpoint, path_and_query: &str, from: Option<&str>) -> WsClient {
    let uri = server.url_for(path_and_query).parse().expect("a valid URL");
    let mut builder = ClientBuilder::from_uri(uri);
    if let Some(from) = from {
        builder = builder
            .add_header(
                http::HeaderName::from_static("x-forwarded-for"),
                http::HeaderValue::from_str(from).expect("an address is a header value"),
            )
            .expect("X-Forwarded-For may be set");
    }
    let (ws, _) = within("the WebSocket handshake", builder.connect())
        .await
        .expect("the upgrade");
    WsClient { ws }
}

/// The close a JSON connection to the lobby as `name`, from `from` (see
/// [`connect_from`]), gets right after its upgrade.
pub async fn refused(server: &Endpoint, name: &str, from: Option<&str>) -> (u16, String) {
    let mut client = connect_from(server, &format!("/lobby?format=json&name={name}"), from).await;
    client.expect_close().await
}

/// A running `server` binary, killed when dropped.
pub struct TestServer {
    child: Child,
    /// Its URL as the server printed it, its port and process.
    endpoint: Endpoint,
    stdout: BufReader<ChildStdout>,
    /// Everything the server writes on stderr (its log), read as it comes so
    /// that it never blocks on a full pipe; complete once the server exits.
    stderr: JoinHandle<String>,
}

impl Deref for TestServer {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl TestServer {
    /// Starts the server on port 0 with extra `args`, and waits for its
    /// `listening on ws://…` line.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_on("127.0.0.1", 0, args).await
    }

    /// Starts the server on `addr` and `port` (0 for a free one) with extra
    /// `args`, and waits for its `listening on ws://…` line.
    pub async fn start_on(addr: &str, port: u16, args: &[&str]) -> Self {
        let mut command = Command::new(SERVER);
        command.args(["--addr", addr, "--port", &port.to_string()]);
        Self::spawn(command, args).await
    }

    /// Starts the server like [`TestServer::start`], allowed only `files`
    /// open file descriptors (through `prlimit`, from util-linux).
    pub async fn start_with_file_limit(files: u32, args: &[&str]) -> Self {
        let mut prlimit = Command::new("prlimit");
        prlimit.args([&format!("--nofile={files}:{files}"), "--", SERVER]);
        Self::start_through(prlimit, args).await
    }

    /// Starts the server like [`TestServer::start`] through `wrapper`, a
    /// command that ends with the server binary and runs it with the
    /// arguments that follow (`prlimit … --`, [`with_private_mount`]).
    pub async fn start_through(mut wrapper: Command, args: &[&str]) -> Self {
        wrapper.args(["--addr", "127.0.0.1", "--port", "0"]);
        Self::spawn(wrapper, args).await
    }

    /// Runs `command` (the server with its address) with `args`.
    async fn spawn(mut command: Command, args: &[&str]) -> Self {
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary starts");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = tokio::spawn(async move {
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log).await;
            log
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first = String::new();
        within("the server's first line", stdout.read_line(&mut first))
            .await
            .expect("reading the server's stdout");
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url:?}"));
        let pid = child.id().expect("the server is running");
        Self {
            child,
            endpoint: Endpoint::new(url, port, pid),
            stdout,
            stderr,
        }
    }

    /// Makes [`Endpoint::join`] (and the health check) connect through
    /// `connector`: for a server started with `--tls-cert`.
    pub fn trusting(mut self, connector: Connector) -> Self {
        self.endpoint.connector = connector;
        self
    }

    /// Sends `signal` (e.g. "TERM", "INT") to the server process.
    pub fn signal(&self, signal: &str) {
        send_signal(&self.child, signal);
    }

    /// Waits for the server to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        within("the server to exit", self.child.wait())
            .await
            .expect("waiting for the server")
    }

    /// Everything the server wrote on stderr, once it has exited (see
    /// [`TestServer::wait`]).
    pub async fn log(&mut self) -> String {
        within("the server's stderr to close", &mut self.stderr)
            .await
            .expect("reading the server's stderr")
    }

    /// Everything the server printed on stdout after its first line, up to its exit.
    pub async fn rest_of_stdout(&mut self) -> String {
        let mut rest = String::new();
        within(
            "the server's stdout to close",
            self.stdout.read_to_string(&mut rest),
        )
        .await
        .expect("reading the server's stdout");
        rest
    }
}

/// A WebSocket client, as any program would connect.
pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `url`, failing the test if that is impossible.
    pub async fn connect(url: &str) -> Self {
        Self::try_connect(url)
            .await
            .unwrap_or_else(|err| panic!("connecting to {url}: {err}"))
    }

    /// Connects to `url`, returning the error if the handshake fails.
    pub async fn try_connect(url: &str) -> Result<Self, tokio_websockets::Error> {
        Self::try_connect_with(url, &Connector::Plain).await
    }

    /// Connects to `url` (`wss://` with a TLS `connector`), returning the
    /// error if TLS or the handshake fails.
    pub async fn try_connect_with(
        url: &str,
        connector: &Connector,
    ) -> Result<Self, tokio_websockets::Error> {
        let uri = url.parse().expect("a valid URL");
        let (ws, _response) = within(
            "the WebSocket handshake",
            ClientBuilder::from_uri(uri).connector(connector).connect(),
        )
        .await?;
        Ok(Self { ws })
    }

    /// Sends one text frame.
    pub async fn send(&mut self, text: &str) {
        within(
            "sending a frame",
            self.ws.send(Message::text(text.to_owned())),
        )
        .await
        .expect("sending a frame");
    }

    /// The next frame that is not a ping or pong.
    pub async fn next_message(&mut self) -> Message {
        loop {
            let message = within("the next frame", self.ws.next())
                .await
                .expect("the connection closed")
                .expect("a valid frame");
            if !message.is_ping() && !message.is_pong() {
                return message;
            }
        }
    }

    /// The next text frame, exactly as sent.
    pub async fn next_text(&mut self) -> String {
        let message = self.next_message().await;
        message
            .as_text()
            .unwrap_or_else(|| panic!("expected a text frame, got {message:?}"))
            .to_owned()
    }

    /// The next frame, parsed as a JSON event.
    pub async fn next_event(&mut self) -> Event {
        events::parse_event(&self.next_text().await)
    }

    /// Reads events until one matches `pred`, returning it (the others are dropped).
    pub async fn event_matching(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        within(what, async {
            loop {
                let event = self.next_event().await;
                if pred(&event) {
                    return event;
                }
            }
        })
        .await
    }

    /// Reads text frames until one matches `pred`, returning it (the others
    /// are dropped).
    pub async fn text_matching(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        within(what, async {
            loop {
                let text = self.next_text().await;
                if pred(&text) {
                    return text;
                }
            }
        })
        .await
    }

    /// Waits for the server's close frame and returns its code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        let (code, reason, _read) = self.texts_until_close().await;
        (code, reason)
    }

    /// Waits for the server's close frame: its code and reason, and the
    /// text frames read before it.
    pub async fn texts_until_close(&mut self) -> (u16, String, Vec<String>) {
        within("a close frame", async {
            let mut read = Vec::new();
            loop {
                match self.ws.next().await {
                    Some(Ok(message)) if message.is_close() => {
                        let (code, reason) = message.as_close().expect("a close frame");
                        return (u16::from(code), reason.to_owned(), read);
                    }
                    Some(Ok(message)) => read.extend(message.as_text().map(str::to_owned)),
                    Some(Err(err)) => panic!("connection failed before a close frame: {err}"),
                    None => panic!("connection ended without a close frame"),
                }
            }
        })
        .await
    }
}

/// What a run of the `client` binary printed, and how it ended.
pub struct ClientRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Fails the test unless a program's `run` exited with `code`, printed `stdout`, and
/// printed exactly the one line `stderr_line` on stderr.
pub fn assert_run(run: &ClientRun, code: i32, stdout: &str, stderr_line: &str) {
    assert_eq!(
        run.status.code(),
        Some(code),
        "stdout: {:?}, stderr: {:?}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.stderr, format!("{stderr_line}\n"));
    assert_eq!(run.stdout, stdout);
}

/// Runs the `server` binary with `args` until it exits by itself (a start-up
/// failure, say), with no settings from the environment.
pub async fn run_server(args: &[&str], env: &[(&str, &str)]) -> ClientRun {
    let mut command = Command::new(SERVER);
    command
        .args(["--addr", "127.0.0.1", "--port", "0"])
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true);
    run_command(command, "").await
}

/// Runs `command` with `stdin` as its input, to completion.
pub async fn run_command(mut command: Command, stdin: &str) -> ClientRun {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the program starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // A program that ends before reading its input (a client refused at
    // once) closes the pipe: what it printed and its status still count.
    if let Err(err) = input.write_all(stdin.as_bytes()).await {
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing the program's stdin: {err}"
        );
    }
    drop(input);
    let output = within("the program to exit", child.wait_with_output())
        .await
        .expect("waiting for the program");
    ClientRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Sends `signal` (e.g. "TERM", "STOP") to a process the test started.
pub fn send_signal(child: &Child, signal: &str) {
    let pid = child.id().expect("the process is running");
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}
