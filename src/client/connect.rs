//! Where the client connects, how (plain or TLS, every address of the host in
//! turn), and why it could not, in words that say what to try next.
//!
//! One concept over some 590 lines and its tests: each way of failing to
//! connect is read where it happens (resolve, TCP, TLS, the upgrade), and
//! each gets its sentence here (every TLS error included), so the error types
//! and the steps that raise them stay together.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt as _;
use http::Uri;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

use crate::config::DEFAULT_PORT;
use crate::sanitize::one_line;

/// The URL the client connects to when given none.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080";
/// How long connecting, TLS and the handshake may take together, by default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection to a chat server.
pub type ChatStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where to connect: a URL, adjusted by the client's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ws://HOST:PORT/ROOM`, as shown to the person (no query, so no token).
    pub shown: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The room of the URL's path, if it names one.
    pub room: Option<String>,
    /// The name asked for, from `--name` or the URL's `name=`.
    pub name: Option<String>,
    /// The URL's other query parts (the token, say), passed on unchanged.
    extra_query: Vec<(String, String)>,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// Sent as `/identify PASSWORD`, the first frame of every connection
    /// that asks for a name.
    pub password: Option<Password>,
}

/// A password, which no `Debug` output shows.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: &str) -> Self {
        Self(password.to_owned())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Who to be and what to resume, for one connection attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub name: Option<String>,
    pub room: Option<String>,
    /// Resume after this message id.
    pub since: Option<u64>,
    /// Ask the server not to replay the room's history (`--no-history`),
    /// unless resuming, whose replay is what was missed.
    pub skip_history: bool,
}

/// Why the client could not reach the server, each with what to try next.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid URL '{url}': {reason} (expected something like ws://127.0.0.1:8080/lobby)")]
    BadUrl { url: String, reason: String },
    #[error("cannot read --ca {path}: {reason}")]
    BadCa { path: String, reason: String },
    #[error(
        "cannot connect to {url}: connection refused (is the server running, and on port {port}? \
         otherwise pass --port)"
    )]
    Refused { url: String, port: u16 },
    #[error(
        "cannot connect to {url}: the host name does not resolve (check the spelling, or use an IP address)"
    )]
    Dns { url: String },
    #[error(
        "cannot connect to {url}: no answer within {}s (is the host reachable, and is it a chat server?)",
        after.as_secs_f64()
    )]
    Timeout { url: String, after: Duration },
    #[error("cannot connect to {url}: TLS failed for {host}: {reason}")]
    Tls {
        url: String,
        host: String,
        reason: String,
    },
    #[error(
        "cannot connect to {url}: it answered HTTP 400 to a plain WebSocket handshake, \
         so it probably speaks TLS on this port (try {tls_url})"
    )]
    WantsTls { url: String, tls_url: String },
    #[error(
        "cannot connect to {url}: the server needs a token (add ?token=SECRET to the URL; ask its operator)"
    )]
    Unauthorized { url: String },
    #[error(
        "cannot connect to {url}: the server refused the token (check the ?token=SECRET in the URL; ask its operator)"
    )]
    TokenRefused { url: String },
    #[error(
        "cannot connect to {url}: it answered HTTP {status} instead of a WebSocket upgrade \
         (is this a chat server, and is the path a room name?)"
    )]
    NotChat { url: String, status: u16 },
    #[error(
        "cannot connect to {url}: it answered with something that is not HTTP \
         (is it a chat server, and on this port?)"
    )]
    NotHttp { url: String },
    #[error("cannot connect to {url}: {reason}")]
    Other { url: String, reason: String },
}

impl Target {
    /// Builds the target from the URL argument and the flags that adjust it:
    /// `--port` replaces only the port, `--room` the path, `--name` the name.
    ///
    /// # Errors
    ///
    /// `BadUrl` if `url` is not a `ws://` or `wss://` URL (a bare `host:port`
    /// is taken as `ws://host:port`).
    pub fn new(
        url: &str,
        port: Option<u16>,
        room: Option<&str>,
        name: Option<&str>,
    ) -> Result<Self, ConnectError> {
        let bad = |reason: &str| ConnectError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("ws://{url}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            _ => return Err(bad("the scheme must be ws:// or wss://")),
        };
        // Kept without the brackets of an IPv6 literal, as resolvers want it.
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = port
            .or(uri.port_u16())
            .unwrap_or(if tls { 443 } else { DEFAULT_PORT });
        let path_room = Some(uri.path().trim_matches('/')).filter(|p| !p.is_empty());
        let mut query: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let url_name = query
            .iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.clone());
        query.retain(|(k, _)| !matches!(k.as_str(), "name" | "format" | "since"));
        let mut target = Self {
            shown: String::new(),
            host,
            port,
            tls,
            room: room.or(path_room).map(str::to_owned),
            name: name.map(str::to_owned).or(url_name),
            extra_query: query,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            password: None,
        };
        target.shown = format!(
            "{}://{}:{}{}",
            if tls { "wss" } else { "ws" },
            target.authority_host(),
            target.port,
            target
                .room
                .as_deref()
                .map(|r| format!("/{r}"))
                .unwrap_or_default()
        );
        // Checked now, so that a bad room or name in the flags is a usage
        // error rather than a failure at every connection attempt.
        target
            .uri(&target.first_session())
            .map_err(|_| bad("not a URL once the flags are applied"))?;
        Ok(target)
    }

    /// The host as a URL writes it: an IPv6 literal in brackets.
    fn authority_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The session of the first connection: the name and room asked for.
    pub fn first_session(&self) -> Session {
        Session {
            name: self.name.clone(),
            room: self.room.clone(),
            since: None,
            skip_history: false,
        }
    }

    /// The full URL for `session`, always asking for the JSON format.
    fn uri(&self, session: &Session) -> Result<Uri, http::uri::InvalidUri> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.extra_query {
            query.append_pair(key, value);
        }
        if let Some(name) = &session.name {
            query.append_pair("name", name);
        }
        match session.since {
            Some(since) => {
                query.append_pair("since", &since.to_string());
            }
            None if session.skip_history => {
                query.append_pair("history", "0");
            }
            None => {}
        }
        query.append_pair("format", "json");
        format!(
            "{}://{}:{}/{}?{}",
            if self.tls { "wss" } else { "ws" },
            self.authority_host(),
            self.port,
            session.room.as_deref().unwrap_or(""),
            query.finish()
        )
        .parse()
    }

    /// Opens the WebSocket connection for `session`, trying each address of
    /// the host in turn; `localhost` is `::1` then `127.0.0.1`, whatever
    /// `/etc/hosts` says, so it works whichever of them the server listens on.
    ///
    /// # Errors
    ///
    /// A [`ConnectError`] that names the URL and what to try.
    pub async fn connect(&self, session: &Session, tls: &Tls) -> Result<ChatStream, ConnectError> {
        match tokio::time::timeout(self.connect_timeout, self.try_connect(session, tls)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ConnectError::Timeout {
                url: self.shown.clone(),
                after: self.connect_timeout,
            }),
        }
    }

    async fn try_connect(&self, session: &Session, tls: &Tls) -> Result<ChatStream, ConnectError> {
        let url = || self.shown.clone();
        let addrs: Vec<SocketAddr> = if self.host.eq_ignore_ascii_case("localhost") {
            // Both loopback addresses, whatever the resolver says (as curl
            // does): many a container's /etc/hosts names 127.0.0.1 alone,
            // and a server on ::1 would be out of reach.
            vec![
                SocketAddr::from((Ipv6Addr::LOCALHOST, self.port)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            ]
        } else {
            tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|_| ConnectError::Dns { url: url() })?
                .collect()
        };
        let mut last_err = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(err) => last_err = Some(err),
            }
        }
        let Some(stream) = stream else {
            return Err(match last_err {
                Some(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    ConnectError::Refused {
                        url: url(),
                        port: self.port,
                    }
                }
                Some(err) => ConnectError::Other {
                    url: url(),
                    reason: err.to_string(),
                },
                None => ConnectError::Dns { url: url() },
            });
        };
        // Chat lines are small; send each at once.
        let _ = stream.set_nodelay(true);
        let connector = if self.tls {
            &tls.connector
        } else {
            &tokio_websockets::Connector::Plain
        };
        let stream = connector
            .wrap(&self.host, stream)
            .await
            .map_err(|err| self.tls_error(&err))?;
        let uri = self.uri(session).map_err(|err| ConnectError::Other {
            url: url(),
            reason: err.to_string(),
        })?;
        let (mut ws, _response) = ClientBuilder::from_uri(uri)
            .connect_on(stream)
            .await
            .map_err(|err| self.explain(err))?;
        // First, so that a server holding a registered name (it waits for
        // this before it lets us in) lets us in under it at once.
        if let (Some(Password(password)), Some(_)) = (&self.password, &session.name) {
            ws.send(Message::text(format!("/identify {password}")))
                .await
                .map_err(|err| ConnectError::Other {
                    url: url(),
                    reason: err.to_string(),
                })?;
        }
        Ok(ws)
    }

    fn tls_error(&self, err: &tokio_websockets::Error) -> ConnectError {
        let reason = match err {
            tokio_websockets::Error::Io(io) => {
                match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                    Some(tls) => describe_tls_error(tls),
                    None => io.to_string(),
                }
            }
            other => other.to_string(),
        };
        ConnectError::Tls {
            url: self.shown.clone(),
            host: self.host.clone(),
            reason,
        }
    }

    /// Whether the URL carries a `token`.
    fn has_token(&self) -> bool {
        self.extra_query.iter().any(|(key, _)| key == "token")
    }

    fn explain(&self, err: tokio_websockets::Error) -> ConnectError {
        use tokio_websockets::Error;
        use tokio_websockets::upgrade::Error as Upgrade;
        let url = self.shown.clone();
        match err {
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(401)) => {
                ConnectError::Unauthorized { url }
            }
            // Our server's answer to a wrong token; without a token of ours
            // in the URL a 403 is about something else.
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(403)) if self.has_token() => {
                ConnectError::TokenRefused { url }
            }
            // Our handshake is valid, so a 400 to it is most likely a TLS
            // port refusing plain HTTP (our server does, and so does nginx).
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(400)) if !self.tls => {
                ConnectError::WantsTls {
                    tls_url: url.replacen("ws://", "wss://", 1),
                    url,
                }
            }
            Error::Upgrade(Upgrade::DidNotSwitchProtocols(status)) => {
                ConnectError::NotChat { url, status }
            }
            // The answer's head did not parse as HTTP (it has no status to
            // report).
            Error::Upgrade(Upgrade::Parsing(_)) => ConnectError::NotHttp { url },
            Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => ConnectError::Other {
                url,
                reason: "the server closed the connection during the handshake \
                         (is it a chat server? if it uses TLS, try wss://)"
                    .to_owned(),
            },
            other => ConnectError::Other {
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// One sentence for a failed TLS handshake, saying what to try. Never the
/// error's own text: rustls writes several of its errors as internal
/// structures (`UnsupportedSignatureAlgorithmForPublicKeyContext { … }`),
/// which tell a person nothing.
fn describe_tls_error(err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert) => describe_certificate_error(cert),
        // What a plain HTTP or WebSocket server answers to a ClientHello.
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerSentOversizedRecord => {
            "the answer is not TLS (is the server serving TLS on this port? try ws://)".to_owned()
        }
        E::PeerIncompatible(_) => {
            "the server and this client have no TLS version or cipher in common".to_owned()
        }
        E::NoCertificatesPresented => "the server presented no certificate".to_owned(),
        // An alert says little a person can act on (its names are
        // protocol terms); these are the usual reasons behind one.
        E::AlertReceived(_) => "the server refused the TLS handshake (it may want another host \
                                name, another TLS version, or a client certificate, which this \
                                client does not have)"
            .to_owned(),
        E::FailedToGetCurrentTime | E::FailedToGetRandomBytes => {
            "this machine could not provide the time or random numbers TLS needs".to_owned()
        }
        // Anything else (a peer that broke the protocol, a bad record):
        // nothing more useful to say than where to look.
        _ => "the TLS handshake failed (is it a TLS server, and if its certificate is from a \
              private authority, did you pass --ca FILE?)"
            .to_owned(),
    }
}

/// One sentence for a refused server certificate; see [`describe_tls_error`].
fn describe_certificate_error(err: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match err {
        E::Expired | E::ExpiredContext { .. } => "the server's certificate has expired".to_owned(),
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check this machine's clock)".to_owned()
        }
        E::NotValidForNameContext { presented, .. }
            if presented.iter().any(|n| certificate_name(n).is_some()) =>
        {
            let names: Vec<&str> = presented.iter().filter_map(|n| certificate_name(n)).collect();
            // The names come from the server: stripped before they are printed.
            let names = one_line(&names.join(", ")).into_owned();
            format!(
                "the server's certificate is for {names}, not this name (connect with one of those)"
            )
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the server's certificate is for another name (connect with the name it was issued for)"
                .to_owned()
        }
        E::UnknownIssuer => {
            "the server's certificate is from an unknown issuer (for a private authority, pass --ca FILE)"
                .to_owned()
        }
        // A trusted certificate has the name of the server's issuer but
        // another key (Debian's snakeoil certificate is `CN=localhost`, as
        // many a self-made one is): the signature cannot be checked with it.
        E::BadSignature | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the server's certificate does not verify against the trusted authority of the same \
             name (another certificate with its issuer's name is trusted here; pass --ca FILE \
             with the server's own authority)"
                .to_owned()
        }
        E::UnsupportedSignatureAlgorithmContext { .. } => {
            "the server's certificate is signed with an algorithm this client does not support"
                .to_owned()
        }
        E::Revoked => "the server's certificate has been revoked".to_owned(),
        E::UnknownRevocationStatus
        | E::ExpiredRevocationList
        | E::ExpiredRevocationListContext { .. }
        | E::InvalidOcspResponse => {
            "the revocation status of the server's certificate could not be checked".to_owned()
        }
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
            "the server's certificate is not meant for a TLS server (its extended key usage \
             lacks serverAuth)"
                .to_owned()
        }
        E::BadEncoding => "the server's certificate is malformed".to_owned(),
        E::UnhandledCriticalExtension => {
            "the server's certificate has a critical extension this client does not know".to_owned()
        }
        // webpki's own errors arrive only as text, its variant's name.
        E::Other(other) if other.to_string() == "CaUsedAsEndEntity" => {
            "the server's certificate is an authority's, not a server's \
             (a self-signed one needs basicConstraints CA:FALSE)"
                .to_owned()
        }
        _ => "the server's certificate was refused (if it is from a private authority, \
              pass --ca FILE)"
            .to_owned(),
    }
}

/// A DNS name or IP address from the list rustls gives of the names a
/// certificate is for, which webpki writes as `DnsName("chat.example.org")`
/// and `IpAddress(192.168.1.20)`; other kinds of name are of no use to a
/// person choosing a URL.
fn certificate_name(presented: &str) -> Option<&str> {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
}

/// The TLS settings for `wss://`: the system's trusted roots, plus a private
/// authority's certificate when `--ca` names one.
pub struct Tls {
    connector: tokio_websockets::Connector,
}

impl Tls {
    /// Loads the trusted roots.
    ///
    /// # Errors
    ///
    /// `BadCa` if the `--ca` file cannot be read or holds no certificate.
    pub fn new(ca: Option<&Path>) -> Result<Self, ConnectError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;

        let mut roots = rustls::RootCertStore::empty();
        // A machine without system roots can still reach a server whose
        // authority is given with --ca; others fail at the TLS handshake,
        // with a line that suggests --ca.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = ca {
            let bad = |reason: String| ConnectError::BadCa {
                path: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| bad(err.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| bad(err.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".to_owned()));
            }
            for cert in certs {
                roots.add(cert).map_err(|err| bad(err.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            connector: tokio_websockets::Connector::Rustls(tokio_rustls::TlsConnector::from(
                Arc::new(config),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rustls error a handshake can end with reads as a sentence:
    /// no variant's name, no field, no byte list.
    #[test]
    fn every_tls_error_is_one_readable_sentence() {
        use rustls::{CertificateError as C, Error as E, OtherError};
        let certificate_errors = [
            C::BadEncoding,
            C::Expired,
            C::NotValidYet,
            C::Revoked,
            C::UnhandledCriticalExtension,
            C::UnknownIssuer,
            C::UnknownRevocationStatus,
            C::ExpiredRevocationList,
            C::BadSignature,
            C::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: vec![1, 2, 3],
                supported_algorithms: vec![],
            },
            C::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: vec![6, 8, 42],
                public_key_algorithm_id: vec![6, 3, 43],
            },
            C::NotValidForName,
            C::InvalidPurpose,
            C::InvalidOcspResponse,
            C::ApplicationVerificationFailure,
            C::Other(OtherError(Arc::new(io::Error::other("SomeWebpkiError")))),
        ];
        let errors = certificate_errors
            .into_iter()
            .map(E::InvalidCertificate)
            .chain([
                E::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                E::NoCertificatesPresented,
                E::UnsupportedNameType,
                E::DecryptError,
                E::EncryptError,
                E::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
                E::PeerMisbehaved(rustls::PeerMisbehaved::IncorrectBinder),
                E::AlertReceived(rustls::AlertDescription::HandshakeFailure),
                E::General("some internal failure".to_owned()),
                E::FailedToGetCurrentTime,
                E::FailedToGetRandomBytes,
                E::HandshakeNotComplete,
                E::PeerSentOversizedRecord,
                E::NoApplicationProtocol,
                E::BadMaxFragmentSize,
                E::Other(OtherError(Arc::new(io::Error::other("SomeError")))),
            ]);
        for err in errors {
            let sentence = describe_tls_error(&err);
            assert!(
                sentence.starts_with("the ") || sentence.starts_with("this "),
                "{err:?}: {sentence}"
            );
            for raw in [
                "{",
                "[",
                "::",
                "Context",
                "Some",
                "Error",
                "Tls12",
                "Handshake",
            ] {
                assert!(!sentence.contains(raw), "{err:?}: {sentence}");
            }
        }
    }

    #[test]
    fn certificate_names_are_read_from_webpki_descriptions() {
        assert_eq!(
            certificate_name("DnsName(\"chat.example.org\")"),
            Some("chat.example.org")
        );
        assert_eq!(
            certificate_name("IpAddress(192.168.1.20)"),
            Some("192.168.1.20")
        );
        assert_eq!(certificate_name("DirectoryName"), None);
        assert_eq!(certificate_name("UniformResourceIdentifier(\"x\")"), None);
    }

    fn target(
        url: &str,
        port: Option<u16>,
        room: Option<&str>,
        name: Option<&str>,
    ) -> (String, String) {
        let t = Target::new(url, port, room, name).unwrap();
        let uri = t.uri(&t.first_session()).unwrap();
        (t.shown, uri.to_string())
    }

    #[test]
    fn defaults_to_the_local_server() {
        assert_eq!(
            target(DEFAULT_URL, None, None, None),
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
                "ws://10.0.0.2:9000/rust?token=t",
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
            target("localhost:9000/rust?name=bo&format=text", None, None, None),
            (
                "ws://localhost:9000/rust".into(),
                "ws://localhost:9000/rust?name=bo&format=json".into()
            )
        );
        assert_eq!(
            target("wss://chat.example.org", None, None, None),
            (
                "wss://chat.example.org:443".into(),
                "wss://chat.example.org:443/?format=json".into()
            )
        );
    }

    #[test]
    fn a_resumed_session_names_its_room_name_and_since() {
        let t = Target::new("ws://[::1]:9000/?token=t", None, None, Some("ana")).unwrap();
        let session = Session {
            name: Some("bo".into()),
            room: Some("rust".into()),
            since: Some(42),
            skip_history: true,
        };
        assert_eq!(
            t.uri(&session).unwrap().to_string(),
            "ws://[::1]:9000/rust?token=t&name=bo&since=42&format=json"
        );
    }

    #[test]
    fn rejects_other_schemes() {
        let err = Target::new("ftp://x", None, None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid URL 'ftp://x': the scheme must be ws:// or wss:// (expected something like ws://127.0.0.1:8080/lobby)"
        );
    }
}
