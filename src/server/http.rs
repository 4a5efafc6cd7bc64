//! The HTTP layer in front of the WebSocket handshake.
//!
//! hyper parses every request on the port, so that a browser gets the chat
//! page, a monitor the health check and the metrics, curl or garbage a plain
//! HTTP answer (never a hang), and the handshake is bounded in time and size.
//! A valid upgrade gets `101 Switching Protocols` here; the upgraded socket is
//! then handed to tokio-websockets, which speaks the protocol from there on.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::time::Instant;

use hyper::server::conn::http1;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::address::{self, TrustedProxies};
use super::connect_rate::ConnectRate;
use super::connection::{self, Context};
use super::metrics::{self, Cause};
use super::origin::{self, OriginPolicy};
use super::page;
use crate::config::ServerConfig;
use crate::protocol::JoinRequest;

/// How long a plain HTTP exchange may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// RFC 6455's constant for the `Sec-WebSocket-Accept` digest.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the layer in front of the connections shares: the HTTP and TLS
/// settings, the cap, the shutdown signal, and what connections get.
pub(crate) struct Shared {
    pub config: ServerConfig,
    /// One permit per open WebSocket connection: the connection cap.
    pub connections: Arc<Semaphore>,
    /// Cancelled when the server shuts down.
    pub cancel: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    pub http: http1::Builder,
    /// Set when the whole port speaks TLS.
    pub tls: Option<TlsAcceptor>,
    /// Which web pages may open a WebSocket here.
    pub origins: OriginPolicy,
    /// Whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    /// New connections per second per address (`--max-connects-per-second`);
    /// a std mutex: held for one map lookup, never across an await.
    pub connect_rate: Mutex<ConnectRate>,
    /// What each WebSocket connection is given.
    pub chat: Arc<Context>,
}

/// Serves HTTP on one accepted socket, from TCP peer `peer`, until it is
/// upgraded or done.
///
/// The request head must arrive by `deadline` (the handshake timeout
/// after the accept; on a TLS port the TLS handshake has spent part of it).
/// hyper's own header timeout closes the socket silently; ours answers 408
/// first, so a slow client (or a person typing a request by hand) learns why.
pub(crate) async fn serve<IO>(io: IO, peer: IpAddr, deadline: Instant, shared: Arc<Shared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let accepted = deadline - shared.config.limits.handshake_timeout;
    let head_seen = Arc::new(AtomicBool::new(false));
    let service = {
        let (shared, head_seen) = (Arc::clone(&shared), Arc::clone(&head_seen));
        service_fn(move |request| {
            head_seen.store(true, Ordering::Relaxed);
            std::future::ready(Ok::<_, Infallible>(route(request, &shared, peer, accepted)))
        })
    };
    let mut conn = shared
        .http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    // One request a connection (no keep-alive), so a socket that is not
    // upgraded is done once answered: the head gets the handshake timeout,
    // the answer as long again, and the socket (and its place among the
    // handshakes, see `memory::MAX_HANDSHAKES`) is then let go.
    let expired = async {
        tokio::time::sleep_until(deadline).await;
        if head_seen.load(Ordering::Relaxed) {
            tokio::time::sleep_until(deadline + shared.config.limits.handshake_timeout).await;
            false
        } else {
            true
        }
    };
    tokio::select! {
        result = &mut conn => {
            if let Err(err) = result {
                tracing::debug!("HTTP connection ended: {err}");
            }
        }
        head_missing = expired => {
            if !head_missing {
                tracing::debug!("the answer was not taken within the handshake timeout; closing");
                return;
            }
            tracing::debug!("no complete request head within the handshake timeout; answering 408");
            shared.chat.metrics.closed(Cause::handshake_timeout);
            if let Some(parts) = conn.into_parts() {
                let mut io = parts.io.into_inner();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, io.write_all(REQUEST_TIMEOUT)).await;
            }
        }
        () = shared.cancel.cancelled() => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

/// The whole answer to a request head that took too long.
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
    content-type: text/plain; charset=utf-8\r\n\
    connection: close\r\n\
    content-length: 41\r\n\r\n\
    the request took too long; connect again\n";

/// Answers one request from TCP peer `peer`; `accepted` is when its
/// connection was accepted.
fn route(
    request: Request<Incoming>,
    shared: &Arc<Shared>,
    peer: IpAddr,
    accepted: Instant,
) -> Response<Full<Bytes>> {
    if wants_websocket(request.headers()) {
        return upgrade(request, shared, peer, accepted);
    }
    if request.method() == Method::POST && page::is_page_path(request.uri().path()) {
        // The page's question after a refused upgrade (a browser does not
        // say why one failed): would its origin be refused? A POST, because
        // browsers send `Origin` with it even to the page's own site.
        if let Err(refusal) = check_origin(&request, shared) {
            return plain(StatusCode::FORBIDDEN, format!("{refusal}\n"));
        }
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return method_not_allowed();
    }
    // Plain HTTP. Exact paths go before the page's arm: a room may bear any
    // name, `healthz` included.
    match request.uri().path() {
        "/healthz" => health(shared),
        "/metrics" => scrape(shared),
        path if page::is_page_path(path) => {
            let host = request_host(&request);
            if page::accepts_html(request.headers().get(header::ACCEPT)) {
                page::response(host.as_deref())
            } else {
                how_to_connect(host.as_deref(), shared.tls.is_some())
            }
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: the chat is at / or /ROOM (a room name is 1 to 32 letters, digits, '_' or '-')\n"
                .to_owned(),
        ),
    }
}

/// A WebSocket upgrade from TCP peer `peer`: checked, then answered `101`
/// with the connection handed to its own task.
fn upgrade(
    mut request: Request<Incoming>,
    shared: &Arc<Shared>,
    peer: IpAddr,
    accepted: Instant,
) -> Response<Full<Bytes>> {
    let headers = request.headers();
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let (Some(key), true, &Method::GET) = (key, version_ok, request.method()) else {
        let mut response = plain(
            StatusCode::BAD_REQUEST,
            "bad WebSocket handshake: send GET with Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key\n"
                .to_owned(),
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    };

    // RFC 6455 4.2.1: the upgrade must say so in `Connection` too; a proxy
    // that dropped it would otherwise be switched to a protocol it does not
    // know it carries.
    if !header_lists(headers, header::CONNECTION, "upgrade") {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad WebSocket handshake: send Connection: Upgrade with Upgrade: websocket\n"
                .to_owned(),
        );
    }

    let client = client_address(&request, shared, peer);
    // Before the other checks: attempts with a wrong token or origin count
    // too, or they could be tried as fast as the network allows.
    let admitted = shared
        .connect_rate
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .admit(address::key(client), Instant::now());
    if !admitted {
        tracing::debug!(%client, "refused an upgrade: too many connections per second");
        shared.chat.metrics.closed(Cause::connect_rate);
        return plain(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many connections from your address: at most {} a second; slow down and connect again\n",
                shared.config.limits.max_connects_per_second
            ),
        );
    }

    if let Err(refusal) = check_origin(&request, shared) {
        tracing::info!(path = request.uri().path(), "refused an upgrade: {refusal}");
        return plain(StatusCode::FORBIDDEN, format!("{refusal}\n"));
    }

    let join = JoinRequest::parse(request.uri().path(), request.uri().query());
    if let Some(token) = &shared.config.token {
        // Missing and wrong are told apart, so that a person knows whether to
        // ask for the token or to check the one they have.
        match join.token.as_deref() {
            Some(given) if token.matches(given) => {}
            Some(_) => {
                tracing::info!(
                    path = request.uri().path(),
                    "refused a connection with a wrong token"
                );
                return plain(
                    StatusCode::FORBIDDEN,
                    "this chat server refused the token: check the ?token=SECRET in the URL (ask its operator)\n"
                        .to_owned(),
                );
            }
            None => {
                tracing::info!(
                    path = request.uri().path(),
                    "refused a connection without a token"
                );
                return plain(
                    StatusCode::UNAUTHORIZED,
                    "this chat server needs a token: add ?token=SECRET to the URL (ask its operator)\n"
                        .to_owned(),
                );
            }
        }
    }

    let on_upgrade = hyper::upgrade::on(&mut request);
    let context = Arc::clone(&shared.chat);
    match Arc::clone(&shared.connections).try_acquire_owned() {
        // The connection's whole life is this one task: its future is what a
        // connection costs, so nothing is wrapped around it.
        Ok(permit) => {
            shared.chat.metrics.connections_accepted.inc();
            shared
                .tracker
                .spawn(connection::serve(on_upgrade, join, client, context, permit))
        }
        Err(_) => shared
            .tracker
            .spawn(connection::refuse_overloaded(on_upgrade, context)),
    };

    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept_key(key.as_bytes())).expect("base64 is a valid header value"),
    );
    shared
        .chat
        .metrics
        .handshake_seconds
        .observe(accepted.elapsed().as_secs_f64());
    response
}

/// The client's address: `peer`, or what a trusted proxy forwarded.
fn client_address(request: &Request<Incoming>, shared: &Shared, peer: IpAddr) -> IpAddr {
    let forwarded: Vec<&str> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    shared.proxies.client_address(peer, &forwarded)
}

/// Whether the page that made `request` (its `Origin`) may connect.
fn check_origin(request: &Request<Incoming>, shared: &Shared) -> Result<(), origin::Refusal> {
    let headers = request.headers();
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    shared.origins.check(origin.as_deref(), host)
}

/// `GET /healthz`: whether the server takes connections.
fn health(shared: &Shared) -> Response<Full<Bytes>> {
    if shared.cancel.is_cancelled() {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_owned(),
        )
    } else {
        plain(StatusCode::OK, "ok\n".to_owned())
    }
}

/// `GET /metrics`: the counters and histograms, for Prometheus.
fn scrape(shared: &Shared) -> Response<Full<Bytes>> {
    let open = shared.config.limits.max_connections - shared.connections.available_permits();
    let text = shared.chat.metrics.render(open, shared.chat.rooms.count());
    let mut response = plain(StatusCode::OK, text);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`).
fn wants_websocket(headers: &HeaderMap) -> bool {
    header_lists(headers, header::UPGRADE, "websocket")
}

/// Whether header `name`, read as a comma-separated list of tokens over all
/// its lines (`Connection: keep-alive, Upgrade`), holds `item`, in any
/// letter case.
fn header_lists(headers: &HeaderMap, name: header::HeaderName, item: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|listed| listed.trim().eq_ignore_ascii_case(item))
}

/// The `Host` a request named, if it is a well-formed authority (so that it
/// is safe to repeat in a header or a body).
pub(super) fn request_host(request: &Request<Incoming>) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.to_string())
}

/// The answer to a plain GET that does not ask for HTML (curl, a WebSocket
/// tool by mistake): what this is and how to connect.
fn how_to_connect(host: Option<&str>, tls: bool) -> Response<Full<Bytes>> {
    let host = host.unwrap_or("HOST:PORT");
    let (ws, http) = if tls {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let body = format!(
        "This is a chat server. It speaks WebSocket, not plain HTTP.\n\
         Connect with its client:   client {ws}://{host}/ROOM\n\
         or any WebSocket tool:     websocat {ws}://{host}/ROOM\n\
         or open it in a browser:   {http}://{host}/ROOM\n\
         ROOM is optional (the default is lobby); add ?name=NAME to choose your name.\n"
    );
    let mut response = plain(StatusCode::UPGRADE_REQUIRED, body);
    response
        .headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "only GET is served here: open the page in a browser, or connect with a WebSocket\n"
            .to_owned(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// A plain-text answer, after which the connection closes.
pub(super) fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // One answer per connection: nothing keeps an idle socket open.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455, 4.2.2).
fn accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_408_answer_states_its_length() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{text:?}"
        );
    }

    #[test]
    fn upgrade_header_is_matched_as_a_token_list() {
        let mut headers = HeaderMap::new();
        assert!(!wants_websocket(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("h2c, WebSocket"));
        assert!(wants_websocket(&headers));
    }

    /// `Connection` is a token list too, over all its lines: `keep-alive,
    /// Upgrade` (Firefox's) names the upgrade, `Upgrade-Insecure` does not.
    #[test]
    fn connection_header_is_matched_as_a_token_list() {
        let mut headers = HeaderMap::new();
        assert!(!header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade-Insecure, keepupgrade"),
        );
        assert!(!header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(header_lists(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        headers.append(header::CONNECTION, HeaderValue::from_static("UPGRADE"));
        assert!(header_lists(&headers, header::CONNECTION, "upgrade"));
    }
}
