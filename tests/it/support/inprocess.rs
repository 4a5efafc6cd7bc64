//! The library's server, [`chat::server::run`], in the test's own process:
//! for the protocol's timing tests (keepalive, handshake and write timeouts,
//! the rate limit), which run under tokio's paused clock
//! (`#[tokio::test(start_paused = true)]`, a current-thread runtime) so that
//! a timeout of seconds costs no wall-clock time at all.
//!
//! With the clock paused, tokio moves time forward whenever every task
//! waits, straight to the next timer. That is only sound while nothing is
//! waited for outside the runtime: loopback sockets between tasks of one
//! process are (their bytes are readable as soon as the write returns), the
//! SQLite thread of `--data-dir` and a Redis server are not, so an in-process
//! server runs without either. What the binary alone does (flags, exit codes,
//! signals, the terminal) stays with [`super::TestServer`].

use std::ops::Deref;

use chat::config::{Limits, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::Endpoint;

/// The library's server on a free port of 127.0.0.1, run by a task of the
/// test's runtime; told to shut down when dropped (and gone with the runtime
/// at the end of the test in any case). Dereferences to its [`Endpoint`],
/// whose process is the test's own.
pub struct InProcess {
    endpoint: Endpoint,
    /// Dropping it completes the server's shutdown future.
    _stop: oneshot::Sender<()>,
}

impl InProcess {
    /// Starts a server with the default settings but `limits`, built by the
    /// caller as `Limits { ping_interval: …, ..Limits::default() }`.
    pub async fn start(limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a free port");
        let port = listener.local_addr().expect("the bound address").port();
        let config = ServerConfig {
            limits,
            ..ServerConfig::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            // Dropped or sent, either way the end.
            let _ = stopped.await;
        };
        tokio::spawn(async move {
            chat::server::run(listener, config, shutdown)
                .await
                .expect("a server with history in memory always starts");
        });
        Self {
            endpoint: Endpoint::new(format!("ws://127.0.0.1:{port}"), port, std::process::id()),
            _stop: stop,
        }
    }
}

impl Deref for InProcess {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}
