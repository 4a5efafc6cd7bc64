//! The chat server: [`Server::open`] opens where history lives, and
//! [`Server::run`] accepts connections until told to stop, spawning a task
//! per connection, then closes every client with 1001 and waits for the
//! tasks to finish. [`run`] does both.
//!
//! - [`address`]: whose connection this is (the TCP peer, or what a trusted
//!   proxy forwarded), and the key per-address limits count under.
//! - `connect_rate`: new connections per second from one address.
//! - `http`: the HTTP layer in front of the WebSocket handshake.
//! - `page`: the chat page for browsers, served on the same port.
//! - `origin`: which web pages may open a WebSocket here.
//! - `connection`: one client, from the upgrade to the close frame.
//! - `backpressure`: when to stop reading from a sender its room cannot keep up with.
//! - `rooms`: the registry of rooms and people, and where history lives.
//! - `history`: what was said, as every backend keeps it.
//! - `ban`: a ban, as the registry and the backends keep it.
//! - `encoded`: an event encoded once per format, shared by all recipients.
//! - `unsent`: what the server owes its clients, bounded per connection
//!   and server-wide.
//! - [`memory`]: the server's worst-case memory, as a formula of its flags.
//! - `metrics`: what the server counts, for `GET /metrics`.
//! - [`tls`]: the certificate and key, and the TLS handshake of each socket.
//! - `store`: durable history in SQLite, with `--data-dir`.
//! - `cluster`: several servers as one chat through Redis, with `--redis-url`.

pub mod address;
mod backpressure;
mod ban;
mod cluster;
mod connect_rate;
mod connection;
mod encoded;
mod history;
mod http;
pub mod memory;
mod metrics;
mod origin;
mod owner;
mod page;
mod passwords;
mod rooms;
mod store;
pub mod tls;
mod unsent;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_websockets::CloseCode;

use crate::config::ServerConfig;
use address::TrustedProxies;
use cluster::Bridge;
pub use cluster::ConnectError;
use connect_rate::ConnectRate;
use connection::Context;
pub use encoded::{EncodedEvent, QueuedEvent};
use http::Shared;
use metrics::Metrics;
use origin::OriginPolicy;
pub use rooms::StartError;
use rooms::{Backend, Closing, Rooms};
pub use store::OpenError;
use unsent::Unsent;

/// How long connections get to close after shutdown begins.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the first synchronisation with Redis may hold up the first
/// connections.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors, say) before the next,
/// so that a persistent failure does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A server with its history open, ready to serve.
pub struct Server {
    config: ServerConfig,
    context: Context,
    /// With Redis: the link, to run once the registry exists.
    bridge: Option<Bridge>,
}

impl Server {
    /// Opens what the server needs before it listens: its metrics, then
    /// where its history lives (`config.history`), with what each reports.
    ///
    /// # Errors
    ///
    /// A data directory or a Redis that cannot be used, in one line that
    /// says what to do.
    pub async fn open(config: ServerConfig) -> Result<Self, StartError> {
        let mut metrics = Metrics::new();
        let bound = memory::bound(&config);
        metrics
            .memory_bound
            .set(i64::try_from(bound).unwrap_or(i64::MAX));
        tracing::debug!("worst-case memory at these flags: {} MiB", bound >> 20);
        let (backend, bridge) = Backend::open(
            &config.history,
            config.limits.max_message_bytes,
            &mut metrics,
        )
        .await?;
        let limits = &config.limits;
        let context = Context {
            limits: limits.clone(),
            motd: config.motd.clone(),
            history_len: config.history.len,
            websocket: tokio_websockets::ServerBuilder::new().limits(
                tokio_websockets::Limits::default().max_payload_len(Some(limits.max_frame_bytes())),
            ),
            rooms: Arc::new(Rooms::new(&config, backend)),
            unsent: Unsent::new(limits.unsent_pool_bytes),
            metrics,
            tls: config.tls.is_some(),
        };
        Ok(Self {
            config,
            context,
            bridge,
        })
    }

    /// Serves chat on `listener` until `shutdown` completes, then closes
    /// every connection (WebSocket clients get close 1001) and returns once
    /// they are done, or after a few seconds at most; then the backend
    /// (history on disk is committed and closed).
    ///
    /// Errors on single connections are logged and never stop the server.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let Server {
            config,
            context,
            bridge,
        } = self;
        let limits = &config.limits;
        let mut http = http1::Builder::new();
        // The handshake timeout is ours (http::serve), so that it can answer 408.
        http.timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(false)
            .max_headers(limits.max_headers)
            .max_header_size(limits.max_header_bytes);
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        let on_loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
        let origins = OriginPolicy::new(
            &config.allowed_origins,
            on_loopback && config.token.is_none(),
        );
        let shared = Arc::new(Shared {
            origins,
            proxies: TrustedProxies::new(&config.trusted_proxies),
            connect_rate: Mutex::new(ConnectRate::new(limits.max_connects_per_second)),
            tls: config.tls.clone().map(TlsAcceptor::from),
            config,
            connections,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            http,
            chat: Arc::new(context),
        });

        let bridge_stop = CancellationToken::new();
        let bridge = bridge.map(|bridge| {
            let (ready_tx, ready) = oneshot::channel();
            let rooms = Arc::clone(&shared.chat.rooms);
            let task = tokio::spawn(bridge.run(rooms, bridge_stop.clone(), ready_tx));
            (task, ready)
        });
        let bridge = match bridge {
            Some((task, ready)) => {
                // Connections wait in the listen queue meanwhile; Redis may
                // have gone since the check: the server then starts on its
                // own and joins when it can.
                let _ = tokio::time::timeout(CLUSTER_READY_TIMEOUT, ready).await;
                Some(task)
            }
            None => None,
        };

        // Ends with the accept loop: summaries are for people still here.
        tokio::spawn(summarise_presence(
            Arc::clone(&shared.chat.rooms),
            shared.cancel.clone(),
        ));

        tokio::select! {
            () = accept_loop(&listener, &shared) => {}
            () = tidy_rooms(&shared.chat.rooms) => {}
            () = shutdown => tracing::info!("shutting down"),
        }
        drop(listener);
        shared.cancel.cancel();
        shared.chat.rooms.close_everyone(&Closing {
            code: CloseCode::GOING_AWAY,
            reason: "server shutting down".to_owned(),
        });
        shared.tracker.close();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} connections did not close in time; dropping them",
                shared.tracker.len()
            );
        }
        // After the connections, so that their departures reach the others.
        if let Some(bridge) = bridge {
            bridge_stop.cancel();
            let _ = bridge.await;
        }
        // After the connections: nothing said before this point is lost.
        shared.chat.rooms.backend().close().await;
    }
}

/// Opens the server's history as `config` says ([`Server::open`]) and
/// serves chat on `listener` until `shutdown` completes ([`Server::run`]).
///
/// # Errors
///
/// As [`Server::open`]; once it listens, nothing stops the server but
/// `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    Server::open(config).await?.run(listener, shutdown).await;
    Ok(())
}

/// How often quiet rooms let go of the events all their members have taken.
const TIDY_INTERVAL: Duration = Duration::from_secs(1);

/// Runs [`Rooms::let_go_of_taken_events`] every [`TIDY_INTERVAL`], forever.
async fn tidy_rooms(rooms: &Rooms) {
    let mut tick = tokio::time::interval(TIDY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        rooms.let_go_of_taken_events();
    }
}

/// Accepts sockets, at most [`memory::MAX_HANDSHAKES`] of them in their
/// handshake at once: past that, the next waits in the kernel's backlog
/// until one is done, so slow handshakes bound the memory they hold.
/// Sends big rooms their presence summaries, once per interval, until `stop`.
async fn summarise_presence(rooms: Arc<Rooms>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(rooms.presence_interval);
    // A late tick is not made up for: one summary per interval at most.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => rooms.summarise_presence(),
            () = stop.cancelled() => return,
        }
    }
}

async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let handshakes = Arc::new(Semaphore::new(memory::MAX_HANDSHAKES));
    loop {
        // Never closed.
        let Ok(turn) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Chat frames are small and latency matters more than packing.
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, "cannot set TCP_NODELAY: {err}");
                }
                let task_shared = Arc::clone(shared);
                match shared.tls.clone() {
                    // The TLS handshake runs in the connection's task, so a
                    // slow one holds up nobody else.
                    Some(acceptor) => shared.tracker.spawn(async move {
                        tls::serve(stream, peer.ip(), acceptor, task_shared).await;
                        drop(turn);
                    }),
                    None => {
                        let deadline = Instant::now() + shared.config.limits.handshake_timeout;
                        shared.tracker.spawn(async move {
                            http::serve(stream, peer.ip(), deadline, task_shared).await;
                            drop(turn);
                        })
                    }
                };
            }
            Err(err) => {
                log_accept_error(&err);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn log_accept_error(err: &io::Error) {
    if err.raw_os_error() == Some(24) {
        tracing::error!("cannot accept: out of file descriptors (raise `ulimit -n`); retrying");
    } else {
        tracing::warn!("cannot accept a connection: {err}; retrying");
    }
}
