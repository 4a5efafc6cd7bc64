//! Where the client connects, and why it could not.

use std::io;
use std::time::Duration;

use http::Uri;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, WebSocketStream};

use crate::config::DEFAULT_PORT;

/// The URL the client connects to when given none.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080";
/// How long connecting and the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection to a chat server.
pub type ChatStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where to connect: a URL, adjusted by the client's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ws://HOST:PORT/ROOM`, as shown to the person (no query, so no token).
    pub shown: String,
    pub port: u16,
    /// The full URL, with `name`, `format` and the URL's own query parts.
    uri: Uri,
}

/// Why the client could not reach the server, each with what to try next.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid URL '{url}': {reason} (expected something like ws://127.0.0.1:8080/lobby)")]
    BadUrl { url: String, reason: String },
    #[error(
        "cannot connect to {url}: connection refused (is the server running, and on port {port}? \
         otherwise pass --port)"
    )]
    Refused { url: String, port: u16 },
    #[error(
        "cannot connect to {url}: the host name does not resolve (check the spelling, or use an IP address)"
    )]
    Dns { url: String },
    #[error("cannot connect to {url}: no answer within {}s (is the host reachable, and the port open?)", CONNECT_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error(
        "cannot connect to {url}: the server wants a token (add ?token=SECRET to the URL; ask its operator)"
    )]
    Unauthorized { url: String },
    #[error(
        "cannot connect to {url}: it answered HTTP {status} instead of a WebSocket upgrade \
         (is this a chat server, and is the path a room name?)"
    )]
    NotChat { url: String, status: u16 },
    #[error("cannot connect to {url}: {reason}")]
    Other { url: String, reason: String },
}

impl Target {
    /// Builds the target from the URL argument and the flags that adjust it:
    /// `--port` replaces only the port, `--room` the path, `--name` adds `name=`.
    ///
    /// # Errors
    ///
    /// `BadUrl` if `url` is not a `ws://` or `wss://` URL (a bare `host:port`
    /// is taken as `ws://host:port`).
    pub fn new(
        url: Option<&str>,
        port: Option<u16>,
        room: Option<&str>,
        name: Option<&str>,
    ) -> Result<Self, ConnectError> {
        let raw = url.unwrap_or(DEFAULT_URL);
        let bad = |reason: &str| ConnectError::BadUrl {
            url: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("ws://{raw}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some("ws" | "http") => "ws",
            Some("wss" | "https") => "wss",
            _ => return Err(bad("the scheme must be ws:// or wss://")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let default_port = if scheme == "wss" { 443 } else { DEFAULT_PORT };
        let port = port.or(uri.port_u16()).unwrap_or(default_port);
        let path = match room {
            Some(room) => format!("/{room}"),
            None => uri.path().to_owned(),
        };
        let path = if path == "/" { String::new() } else { path };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if key != "name" && key != "format" {
                query.append_pair(&key, &value);
            }
        }
        if let Some(name) = name
            .map(str::to_owned)
            .or_else(|| query_value(&uri, "name"))
        {
            query.append_pair("name", &name);
        }
        query.append_pair("format", "json");
        let shown = format!("{scheme}://{host}:{port}{path}");
        let uri = format!("{shown}?{}", query.finish())
            .parse()
            .map_err(|_| bad("not a URL once the flags are applied"))?;
        Ok(Self { shown, port, uri })
    }

    /// Opens the WebSocket connection.
    ///
    /// # Errors
    ///
    /// A [`ConnectError`] that names the URL and what to try.
    pub async fn connect(&self) -> Result<ChatStream, ConnectError> {
        let builder = ClientBuilder::from_uri(self.uri.clone());
        match tokio::time::timeout(CONNECT_TIMEOUT, builder.connect()).await {
            Ok(Ok((stream, _response))) => Ok(stream),
            Ok(Err(err)) => Err(self.explain(err)),
            Err(_elapsed) => Err(ConnectError::Timeout {
                url: self.shown.clone(),
            }),
        }
    }

    fn explain(&self, err: tokio_websockets::Error) -> ConnectError {
        use tokio_websockets::Error;
        use tokio_websockets::upgrade::Error as Upgrade;
        let url = self.shown.clone();
        match err {
            Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
                ConnectError::Refused {
                    url,
                    port: self.port,
                }
            }
            Error::CannotResolveHost => ConnectError::Dns { url },
            Error::Io(io) if io.to_string().contains("lookup") => ConnectError::Dns { url },
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(401)) => {
                ConnectError::Unauthorized { url }
            }
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(status)) => {
                ConnectError::NotChat { url, status }
            }
            other => ConnectError::Other {
                url,
                reason: other.to_string(),
            },
        }
    }
}

fn query_value(uri: &Uri, wanted: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == wanted)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(
        url: Option<&str>,
        port: Option<u16>,
        room: Option<&str>,
        name: Option<&str>,
    ) -> (String, String) {
        let t = Target::new(url, port, room, name).unwrap();
        (t.shown, t.uri.to_string())
    }

    #[test]
    fn defaults_to_the_local_server() {
        assert_eq!(
            target(None, None, None, None),
            (
                "ws://127.0.0.1:8080".into(),
                "ws://127.0.0.1:8080/?format=json".into()
            )
        );
    }

    #[test]
    fn flags_adjust_the_url() {
        assert_eq!(
            target(
                Some("ws://10.0.0.2:9000/rust?token=t"),
                Some(9001),
                Some("go"),
                Some("ana")
            ),
            (
                "ws://10.0.0.2:9001/go".into(),
                "ws://10.0.0.2:9001/go?token=t&name=ana&format=json".into()
            )
        );
        assert_eq!(
            target(Some("localhost:9000/rust?name=bo"), None, None, None),
            (
                "ws://localhost:9000/rust".into(),
                "ws://localhost:9000/rust?name=bo&format=json".into()
            )
        );
    }

    #[test]
    fn rejects_other_schemes() {
        let err = Target::new(Some("ftp://x"), None, None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid URL 'ftp://x': the scheme must be ws:// or wss:// (expected something like ws://127.0.0.1:8080/lobby)"
        );
    }
}
