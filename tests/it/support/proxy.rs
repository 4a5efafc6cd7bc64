//! A TCP proxy between a client and a server (the chat client and server, or
//! a chat server and Redis) that can cut every connection on command while
//! both ends stay up, hold new connections (accepted, not yet forwarded)
//! so that a test decides when a reconnection gets through, and mute clients
//! (what they send is held back, as by a stalled network, while what the
//! server sends still reaches them). It reports the
//! first line of every connection it accepts (for HTTP, the request line), so
//! a test sees what each reconnection asked for.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::within;

/// What the proxy does to the connections open when it is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Close both sides: the client and the server each see the connection end.
    Both,
    /// Close the client's side only; the server's side stays open (as when
    /// the server has not noticed a drop yet) until [`Cut::Release`].
    ClientSide,
    /// Close the server's sides that [`Cut::ClientSide`] kept open.
    Release,
}

/// A TCP proxy on a free loopback port, in front of a server on another;
/// stopped when dropped.
pub struct Proxy {
    pub port: u16,
    /// The first line (request line) of every connection accepted, in order.
    accepted_rx: mpsc::UnboundedReceiver<String>,
    cuts_tx: broadcast::Sender<Cut>,
    /// `false` while new connections are held.
    forward_tx: watch::Sender<bool>,
    /// `true` while what clients send is held back.
    muted_tx: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port and forwards to the server on `upstream_port`.
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        let (accepted_tx, accepted_rx) = mpsc::unbounded_channel();
        let (cuts_tx, _) = broadcast::channel(16);
        let (forward_tx, forward_rx) = watch::channel(true);
        let (muted_tx, muted_rx) = watch::channel(false);
        let accept_task = tokio::spawn({
            let cuts_tx = cuts_tx.clone();
            async move {
                // Dropped with the task, which aborts every relay.
                let mut relays = JoinSet::new();
                loop {
                    let (client, _) = listener.accept().await.expect("accepting a connection");
                    // Subscribed at the accept, so that a cut ordered after it
                    // reaches this connection and one ordered before does not.
                    let cuts = cuts_tx.subscribe();
                    relays.spawn(relay(
                        client,
                        upstream,
                        cuts,
                        forward_rx.clone(),
                        muted_rx.clone(),
                        accepted_tx.clone(),
                    ));
                }
            }
        });
        Self {
            port,
            accepted_rx,
            cuts_tx,
            forward_tx,
            muted_tx,
            accept_task,
        }
    }

    /// The request line of the next connection accepted, e.g.
    /// `GET /?name=ana&format=json HTTP/1.1`.
    pub async fn next_connection(&mut self) -> String {
        within("a connection to the proxy", self.accepted_rx.recv())
            .await
            .expect("the proxy is running")
    }

    /// The request lines of connections accepted and not yet taken.
    pub fn accepted_since(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.accepted_rx.try_recv().ok()).collect()
    }

    /// Closes every open connection, on both sides.
    pub fn cut(&self) {
        // An error only means no connection is open.
        let _ = self.cuts_tx.send(Cut::Both);
    }

    /// Closes the client's side of every open connection and keeps the
    /// server's side open.
    pub fn cut_client_side(&self) {
        let _ = self.cuts_tx.send(Cut::ClientSide);
    }

    /// Closes the server's sides kept open by [`Proxy::cut_client_side`].
    pub fn release_server_sides(&self) {
        let _ = self.cuts_tx.send(Cut::Release);
    }

    /// From now on, new connections are accepted (and reported) but not
    /// forwarded until [`Proxy::forward_new`].
    pub fn hold_new(&self) {
        self.forward_tx.send_replace(false);
    }

    /// Forwards the held connections and every new one.
    pub fn forward_new(&self) {
        self.forward_tx.send_replace(true);
    }

    /// From now on, what clients send (on open connections and new ones) is
    /// held back until [`Proxy::unmute`]; what the server sends still goes
    /// through. To the server, the clients fall silent: no pongs.
    pub fn mute(&self) {
        self.muted_tx.send_replace(true);
    }

    /// Passes on what clients sent while muted, and all they send from now on.
    pub fn unmute(&self) {
        self.muted_tx.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// One connection through the proxy, until it ends or is cut.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cuts: broadcast::Receiver<Cut>,
    mut forward: watch::Receiver<bool>,
    muted: watch::Receiver<bool>,
    accepted_tx: mpsc::UnboundedSender<String>,
) {
    let server = tokio::select! {
        server = open_upstream(&mut client, upstream, &mut forward, &accepted_tx) => server,
        _ = next_cut(&mut cuts) => None,
    };
    let Some(mut server) = server else { return };
    let cut = tokio::select! {
        () = copy_both_ways(&mut client, &mut server, muted) => return,
        cut = next_cut(&mut cuts) => cut,
    };
    drop(client);
    if cut == Cut::ClientSide {
        hold_open(&mut server, &mut cuts).await;
    }
}

/// Copies both ways until both sides have ended, each end passed on as a
/// shutdown (as `copy_bidirectional` does), holding back what the client
/// sends while `muted`.
async fn copy_both_ways(
    client: &mut TcpStream,
    server: &mut TcpStream,
    mut muted: watch::Receiver<bool>,
) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let up = async {
        let mut held = Vec::new();
        let mut buf = [0; 16 * 1024];
        loop {
            tokio::select! {
                read = client_read.read(&mut buf) => match read {
                    Ok(n) if n > 0 => held.extend_from_slice(&buf[..n]),
                    _ => break,
                },
                changed = muted.changed() => if changed.is_err() { break },
            }
            if !*muted.borrow() && !held.is_empty() {
                if server_write.write_all(&held).await.is_err() {
                    return;
                }
                held.clear();
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Reads the client's request line, reports it, waits until new connections
/// are forwarded, then connects to the server and passes on what was read.
async fn open_upstream(
    client: &mut TcpStream,
    upstream: SocketAddr,
    forward: &mut watch::Receiver<bool>,
    accepted_tx: &mpsc::UnboundedSender<String>,
) -> Option<TcpStream> {
    let mut head = Vec::new();
    let line_end = loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            break end;
        }
        if client.read_buf(&mut head).await.ok()? == 0 {
            return None;
        }
    };
    let _ = accepted_tx.send(String::from_utf8_lossy(&head[..line_end]).into_owned());
    forward.wait_for(|open| *open).await.ok()?;
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(&head).await.ok()?;
    Some(server)
}

/// The next cut that closes an open connection.
async fn next_cut(cuts: &mut broadcast::Receiver<Cut>) -> Cut {
    loop {
        match cuts.recv().await {
            Ok(Cut::Release) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Ok(cut) => return cut,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Keeps the server's side open, reading and dropping what the server sends
/// to the departed client, until released (or the server closes it).
async fn hold_open(server: &mut TcpStream, cuts: &mut broadcast::Receiver<Cut>) {
    let mut sink = [0; 4096];
    loop {
        tokio::select! {
            read = server.read(&mut sink) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            cut = cuts.recv() => {
                let released = !matches!(
                    cut,
                    Ok(Cut::ClientSide) | Err(broadcast::error::RecvError::Lagged(_))
                );
                if released {
                    return;
                }
            }
        }
    }
}
