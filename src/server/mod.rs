//! The chat server: [`run`] accepts connections until told to stop, spawning
//! a task per connection, then closes every client with 1001 and waits for
//! the tasks to finish.
//!
//! - `http`: the HTTP layer in front of the WebSocket handshake.
//! - `page`: the chat page for browsers, served on the same port.
//! - `connection`: one client, from the upgrade to the close frame.
//! - `backpressure`: when to stop reading from a sender its room cannot keep up with.
//! - `rooms`: the registry of rooms, people and history.
//! - `encoded`: an event encoded once per format, shared by all recipients.
//! - `mailbox`: private messages waiting for one connection.
//! - `metrics`: what the server counts, for `GET /metrics`.
//! - [`tls`]: the certificate and key, and the TLS handshake of each socket.
//! - `store`: durable history in SQLite, with `--data-dir`.
//! - `cluster`: several servers as one chat through Redis, with `--redis-url`.

mod backpressure;
mod cluster;
mod connection;
mod encoded;
mod http;
mod mailbox;
mod metrics;
mod page;
mod rooms;
mod store;
pub mod tls;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
pub use cluster::{Cluster, ConnectError};
pub use encoded::EncodedEvent;
use metrics::Metrics;
use rooms::Rooms;
pub use store::{OpenError, Store};

/// How long connections get to close after shutdown begins.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the first synchronisation with Redis may hold up the first
/// connections.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (out of file descriptors, say) before the next,
/// so that a persistent failure does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection task shares.
pub(crate) struct Shared {
    config: ServerConfig,
    rooms: Arc<Rooms>,
    metrics: Metrics,
    /// One permit per open WebSocket connection: the connection cap.
    connections: Arc<Semaphore>,
    /// Cancelled when the server shuts down.
    cancel: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    tracker: TaskTracker,
    http: http1::Builder,
    websocket: tokio_websockets::ServerBuilder,
    /// Set when the whole port speaks TLS.
    tls: Option<TlsAcceptor>,
}

/// Serves chat on `listener` until `shutdown` completes, then closes every
/// connection (WebSocket clients get close 1001) and returns once they are
/// done, or after a few seconds at most.
///
/// Errors on single connections are logged and never stop the server.
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: impl Future<Output = ()>) {
    run_with(listener, config, None, None, shutdown).await;
}

/// [`run`], keeping history in `store` (opened from `--data-dir`; it is
/// committed and closed before this returns) and joined to the other servers
/// of `cluster` (connected and checked with [`Cluster::connect`]), for each
/// that is given.
pub async fn run_with(
    listener: TcpListener,
    config: ServerConfig,
    store: Option<Store>,
    cluster: Option<Cluster>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = &config.limits;
    let mut http = http1::Builder::new();
    // The handshake timeout is ours (http::serve), so that it can answer 408.
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    let websocket = tokio_websockets::ServerBuilder::new().limits(
        tokio_websockets::Limits::default().max_payload_len(Some(limits.max_frame_bytes())),
    );
    let tls = config.tls.clone().map(TlsAcceptor::from);
    let shared = Arc::new(Shared {
        rooms: Arc::new(Rooms::new(&config, store, cluster)),
        metrics: Metrics::new(),
        connections: Arc::new(Semaphore::new(limits.max_connections)),
        cancel: CancellationToken::new(),
        tracker: TaskTracker::new(),
        http,
        websocket,
        tls,
        config,
    });

    let bridge_stop = CancellationToken::new();
    let bridge = shared.rooms.cluster().is_some().then(|| {
        tokio::spawn(cluster::bridge::run(
            Arc::clone(&shared.rooms),
            bridge_stop.clone(),
        ))
    });

    if let Some(cluster) = shared.rooms.cluster() {
        // Connections wait in the listen queue meanwhile.
        cluster.ready(CLUSTER_READY_TIMEOUT).await;
    }

    tokio::select! {
        () = accept_loop(&listener, &shared) => {}
        () = shutdown => tracing::info!("shutting down"),
    }
    drop(listener);
    shared.cancel.cancel();
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
    if let Some(store) = shared.rooms.store() {
        store.close().await;
    }
}

async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
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
                    Some(acceptor) => {
                        shared
                            .tracker
                            .spawn(tls::serve(stream, acceptor, task_shared))
                    }
                    None => {
                        let deadline = Instant::now() + shared.config.limits.handshake_timeout;
                        shared
                            .tracker
                            .spawn(http::serve(stream, deadline, task_shared))
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
