//! `server`: serve the chat until Ctrl-C or SIGTERM.

// The flags' doc comments are `--help` text, read in a terminal, where an
// address in angle brackets would print as is.
#![allow(rustdoc::bare_urls)]

use std::io::IsTerminal as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chat::config::{self, HistoryConfig, Limits, ServerConfig, Storage, Token};
use chat::server::Server;
use chat::server::address::Cidr;
use clap::Parser;
use tokio::net::TcpListener;

/// A chat server over WebSocket: every message goes to everyone in the same room.
#[derive(Debug, Parser)]
// Named after the binary, not the package: `server --version` says `server 0.2.0`.
#[command(name = "server", version)]
struct Args {
    /// Address to listen on (0.0.0.0 for a LAN)
    #[arg(long, env = "CHAT_ADDR", default_value = config::DEFAULT_ADDR)]
    addr: IpAddr,
    /// Port to listen on (0 picks a free one; the first line printed says which)
    #[arg(long, env = "CHAT_PORT", default_value_t = config::DEFAULT_PORT)]
    port: u16,
    /// Welcome text sent to every client first
    #[arg(long, env = "CHAT_MOTD", default_value = config::DEFAULT_MOTD)]
    motd: String,
    /// Messages kept per room for late joiners and resume
    #[arg(long, env = "CHAT_HISTORY", default_value_t = config::DEFAULT_HISTORY_LEN)]
    history: usize,
    /// Shared secret clients must send as ?token=; without it anyone who can reach the port may join
    #[arg(long, env = "CHAT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Secret that makes a connection an operator with /op SECRET (kick, ban, mute, the topic); without it there are no operators
    #[arg(long, env = "CHAT_OP_TOKEN", hide_env_values = true)]
    op_token: Option<String>,
    /// A web page's origin allowed to connect besides the server's own page (repeatable; * for any), e.g. https://app.example
    #[arg(
        long = "allow-origin",
        env = "CHAT_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    allow_origin: Vec<String>,
    /// A reverse proxy's address block (repeatable), e.g. 127.0.0.1/32: from those peers only, the right-most X-Forwarded-For address not in them is the client's
    #[arg(
        long = "trusted-proxy",
        env = "CHAT_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    trusted_proxy: Vec<Cidr>,
    /// Largest text message accepted, in bytes (frames a quarter over this close the connection)
    #[arg(long, env = "CHAT_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Messages per second one client may send on average (0: no limit)
    #[arg(long, env = "CHAT_MESSAGES_PER_SECOND", default_value_t = Limits::default().messages_per_second)]
    messages_per_second: u32,
    /// Messages one client may send at once above that rate; a sustained flood closes the connection with 1008
    #[arg(long, env = "CHAT_MESSAGE_BURST", default_value_t = Limits::default().message_burst)]
    message_burst: u32,
    /// Open connections at most; more are closed with 1013 (try again later)
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// New connections one address (an IPv6 /64) may open per second; more get HTTP 429 (0: no limit; 10 suits a public port)
    #[arg(long, env = "CHAT_MAX_CONNECTS_PER_SECOND", default_value_t = Limits::default().max_connects_per_second)]
    max_connects_per_second: u32,
    /// Rooms at most; one more evicts the least recently active empty room
    #[arg(long, env = "CHAT_MAX_ROOMS", default_value_t = Limits::default().max_rooms)]
    max_rooms: usize,
    /// Events a room queues for a slow reader before it gets a gap
    #[arg(long, env = "CHAT_ROOM_QUEUE", default_value_t = Limits::default().room_queue_len)]
    room_queue: usize,
    /// Bytes of events a room queues for a slow reader before it gets a gap
    #[arg(long, env = "CHAT_ROOM_QUEUE_BYTES", default_value_t = Limits::default().room_queue_bytes)]
    room_queue_bytes: usize,
    /// Bytes the server may owe slow clients in all, beyond 8 KiB each
    #[arg(long, env = "CHAT_MAX_UNSENT_BYTES", default_value_t = Limits::default().unsent_pool_bytes)]
    max_unsent_bytes: usize,
    /// Seconds a write to a client may stall before the client is closed
    #[arg(long, env = "CHAT_WRITE_TIMEOUT", default_value_t = Limits::default().write_timeout.as_secs())]
    write_timeout: u64,
    /// Seconds of silence before a ping; as long again without an answer closes the connection
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value_t = Limits::default().ping_interval.as_secs())]
    ping_interval: u64,
    /// Seconds a client has to finish the TLS handshake (with TLS) and send its HTTP request head; a connection held for a registered or taken name has as long again for its /identify or /nick
    #[arg(long, env = "CHAT_HANDSHAKE_TIMEOUT", default_value_t = Limits::default().handshake_timeout.as_secs())]
    handshake_timeout: u64,
    /// Largest HTTP request head, in bytes
    #[arg(long, env = "CHAT_MAX_HEADER_BYTES", default_value_t = Limits::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Most header lines in an HTTP request
    #[arg(long, env = "CHAT_MAX_HEADERS", default_value_t = Limits::default().max_headers)]
    max_headers: usize,
    /// Members above which a room's joins, leaves and renames are summed up in one presence event per interval instead of a notice each
    #[arg(long, env = "CHAT_PRESENCE_LIMIT", default_value_t = Limits::default().presence_limit)]
    presence_limit: usize,
    /// Milliseconds between a big room's presence summaries
    #[arg(long, env = "CHAT_PRESENCE_INTERVAL", default_value_t = Limits::default().presence_interval.as_millis() as u64)]
    presence_interval: u64,
    /// PEM certificate chain (the server's certificate first): serve the whole port over TLS (wss://, https://)
    #[arg(long, env = "CHAT_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, env = "CHAT_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Directory where each room's history and topic, the bans and the registered names are kept across restarts (created if missing); without it, they live in memory
    #[arg(long, env = "CHAT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Bytes of messages kept per room in memory (senders and texts); the oldest go first, whichever of this and --history binds
    #[arg(long, env = "CHAT_HISTORY_BYTES", default_value_t = config::DEFAULT_HISTORY_BYTES)]
    history_bytes: usize,
    /// Rooms whose history --data-dir or Redis keeps; past it the least recently written room's history (and its ids) is dropped
    #[arg(long, env = "CHAT_MAX_STORED_ROOMS", default_value_t = config::DEFAULT_MAX_STORED_ROOMS)]
    max_stored_rooms: usize,
    /// Milliseconds between commits of the history to disk: what a crash may lose at most
    #[arg(long, env = "CHAT_COMMIT_INTERVAL", default_value_t = config::DEFAULT_COMMIT_INTERVAL.as_millis() as u64)]
    commit_interval: u64,
    /// Redis shared with other servers, to be one chat with them (redis://HOST:PORT or redis+unix:///PATH); history is then kept in Redis
    #[arg(
        long,
        env = "CHAT_REDIS_URL",
        value_name = "URL",
        conflicts_with = "data_dir",
        hide_env_values = true
    )]
    redis_url: Option<String>,
}

impl Args {
    /// The server's settings, with the TLS files read (so a bad one fails
    /// before anything listens).
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(chat::server::tls::load(cert, key)?),
            _ => None,
        };
        let storage = match (&self.data_dir, &self.redis_url) {
            (Some(dir), _) => Storage::Disk {
                dir: dir.clone(),
                commit_interval: Duration::from_millis(self.commit_interval),
            },
            (None, Some(url)) => Storage::Redis { url: url.clone() },
            (None, None) => Storage::Memory,
        };
        Ok(ServerConfig {
            motd: self.motd.clone(),
            history: HistoryConfig {
                len: self.history,
                max_bytes: self.history_bytes,
                storage,
                max_stored_rooms: self.max_stored_rooms,
            },
            token: self.token.clone().map(Token::new),
            op_token: self.op_token.clone().map(Token::new),
            allowed_origins: self.allow_origin.clone(),
            trusted_proxies: self.trusted_proxy.clone(),
            limits: Limits {
                max_message_bytes: self.max_message_bytes,
                messages_per_second: self.messages_per_second,
                message_burst: self.message_burst,
                max_connections: self.max_connections,
                max_connects_per_second: self.max_connects_per_second,
                max_rooms: self.max_rooms,
                room_queue_len: self.room_queue,
                room_queue_bytes: self.room_queue_bytes,
                unsent_pool_bytes: self.max_unsent_bytes,
                write_timeout: Duration::from_secs(self.write_timeout),
                ping_interval: Duration::from_secs(self.ping_interval),
                handshake_timeout: Duration::from_secs(self.handshake_timeout),
                max_header_bytes: self.max_header_bytes,
                max_headers: self.max_headers,
                presence_limit: self.presence_limit,
                // Zero would be a busy loop.
                presence_interval: Duration::from_millis(self.presence_interval.max(1)),
            },
            tls,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match serve(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    let config = args.config()?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let server = Server::open(config).await?;
    let addr = SocketAddr::new(args.addr, args.port);
    let listener = listen(addr).map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (is another server running there? choose another --port)"
            }
            std::io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need privileges; choose --port 1024 or above)"
            }
            std::io::ErrorKind::AddrNotAvailable => {
                " (this machine has no such address; try --addr 127.0.0.1 or 0.0.0.0)"
            }
            _ => "",
        };
        anyhow::anyhow!("cannot listen on {addr}: {err}{hint}")
    })?;
    let shutdown = shutdown_signal()?;
    let local = listener.local_addr().context("reading the bound address")?;
    println!("listening on {scheme}://{local}");
    println!("{}", browser_line(scheme, local));
    server.run(listener, shutdown).await;
    Ok(())
}

/// Connections the kernel holds for us before we accept them. Tokio's
/// `TcpListener::bind` asks for 1,024; when a restarted server's clients
/// all come back at once (issue 17, 19,000 of them in one room) that queue
/// overflowed, and each connection dropped there waited for TCP's own retry
/// (1 s, then 3 s, then 7 s...): most of the storm's length. The kernel
/// caps the figure at `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` and listens, as `TcpListener::bind` does (with
/// `SO_REUSEADDR`, so a restarted server gets its port back at once) but
/// with a backlog of [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The second line printed: where a person opens the chat in a browser.
/// For an address that means every interface (`0.0.0.0`, `::`), the ones
/// other machines reach this one by, and this machine's own.
fn browser_line(scheme: &str, local: SocketAddr) -> String {
    let web = if scheme == "wss" { "https" } else { "http" };
    let url = |ip: IpAddr| format!("{web}://{}/", SocketAddr::new(ip, local.port()));
    if !local.ip().is_unspecified() {
        return format!("open {} in a browser", url(local.ip()));
    }
    let loopback = if local.is_ipv4() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
    };
    let lan: Vec<String> = lan_addresses(local.is_ipv4())
        .into_iter()
        .map(url)
        .collect();
    if lan.is_empty() {
        format!("open {} in a browser (no LAN address found)", url(loopback))
    } else {
        format!(
            "open {} in a browser on the LAN ({} on this machine)",
            lan.join(" or "),
            url(loopback)
        )
    }
}

/// This machine's addresses that other machines may reach, of the family
/// the server listens on: those of the interfaces not down (a VPN's may say
/// its state is unknown), but for loopback and link-local ones (which a
/// browser cannot use without a zone).
fn lan_addresses(ipv4: bool) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| interface.oper_status != if_addrs::IfOperStatus::Down)
        .filter(|interface| !interface.is_loopback())
        .filter(|interface| !interface.is_link_local())
        .map(|interface| interface.ip())
        .filter(|ip| ip.is_ipv4() == ipv4)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, whichever comes first.
///
/// The handlers are installed at once, not when the future is first polled,
/// so that a signal arriving right after the `listening on` line is caught.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {
                // The terminal echoed `^C` where the cursor was: the log
                // line that follows starts on a line of its own.
                if std::io::stderr().is_terminal() {
                    eprintln!();
                }
            }
            _ = terminate.recv() => {}
        }
    })
}
