//! TLS on the server's port: [`load`] reads the certificate and key files
//! once at start, and each accepted socket then goes through the TLS
//! handshake in its own task before HTTP sees it.
//!
//! The handshake timeout covers the TLS handshake and the HTTP request head
//! together, so a client that opens the socket and never speaks, or stops
//! half-way through its hello, is cut off like a slow HTTP client. A plain
//! HTTP request (a `ws://` URL aimed at this port, say) gets a plain `400`
//! that says to use `wss://`, rather than a closed socket and a puzzle.

use std::convert::Infallible;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::http::{self as chat_http, Shared};
use super::metrics::Cause;

/// The first byte of every TLS connection: a record of content type
/// "handshake" (RFC 8446, 5.1), carrying the ClientHello.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why the certificate or key given to the server cannot be used. Each names
/// the file and says what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {role} file {path}: {reason}")]
    Unreadable {
        role: &'static str,
        path: String,
        reason: String,
    },
    #[error("the TLS {role} file {path} is not valid PEM: {reason}")]
    BadPem {
        role: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "the TLS certificate file {path} holds no certificate \
         (expected a PEM block -----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate { path: String },
    #[error(
        "the TLS key file {path} holds no private key \
         (expected a PEM block such as -----BEGIN PRIVATE KEY-----)"
    )]
    NoKey { path: String },
    #[error(
        "the TLS key file {key} does not match the certificate in {cert} \
         (give the key the certificate was made for)"
    )]
    Mismatch { cert: String, key: String },
    #[error("the TLS {role} file {path} cannot be used: {reason}")]
    Refused {
        role: &'static str,
        path: String,
        reason: String,
    },
}

/// Loads the PEM certificate chain in `cert` (the server's certificate
/// first) and the private key in `key` into the server's TLS settings.
///
/// # Errors
///
/// A [`TlsError`] naming the file that is missing, unreadable, holds nothing
/// usable, or whose key is not the certificate's.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_path, key_path) = (cert.display().to_string(), key.display().to_string());

    let pem = read("certificate", cert)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::BadPem {
            role: "certificate",
            path: cert_path.clone(),
            reason: err.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_path });
    }

    let pem = read("key", key)?;
    let private_key = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(private_key) => private_key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey { path: key_path });
        }
        Err(err) => {
            return Err(TlsError::BadPem {
                role: "key",
                path: key_path,
                reason: err.to_string(),
            });
        }
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        // Checks that the key is the certificate's (`CertifiedKey::keys_match`).
        .with_single_cert(chain, private_key)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    cert: cert_path.clone(),
                    key: key_path.clone(),
                }
            }
            rustls::Error::InvalidCertificate(err) => TlsError::Refused {
                role: "certificate",
                path: cert_path.clone(),
                reason: err.to_string(),
            },
            // The rest come from parsing the key.
            rustls::Error::General(reason) => TlsError::Refused {
                role: "key",
                path: key_path.clone(),
                reason,
            },
            other => TlsError::Refused {
                role: "key",
                path: key_path.clone(),
                reason: other.to_string(),
            },
        })?;
    // WebSocket over TLS is HTTP/1.1; announcing it lets a browser skip h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(role: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| TlsError::Unreadable {
        role,
        path: path.display().to_string(),
        reason: match err.kind() {
            io::ErrorKind::NotFound => "no such file".to_owned(),
            io::ErrorKind::PermissionDenied => {
                "permission denied (the server's user must be able to read it)".to_owned()
            }
            _ => err.to_string(),
        },
    })
}

/// How an accepted socket opened.
enum Opening {
    /// A finished TLS handshake.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Something other than TLS, probably plain HTTP.
    Plain(TcpStream),
}

/// Serves one accepted socket of a TLS port: the TLS handshake, then HTTP
/// over it, all of it before the handshake deadline; or, if the client speaks
/// plain HTTP, a `400` saying to use TLS.
///
/// A failed handshake is the client's problem, logged at debug level.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: IpAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let deadline = Instant::now() + shared.config.limits.handshake_timeout;
    let opening = async {
        if speaks_tls(&tcp).await? {
            let stream = acceptor.accept(tcp).await?;
            Ok::<_, io::Error>(Opening::Tls(Box::new(stream)))
        } else {
            Ok(Opening::Plain(tcp))
        }
    };
    let opening = tokio::select! {
        opening = tokio::time::timeout_at(deadline, opening) => opening,
        () = shared.cancel.cancelled() => return,
    };
    match opening {
        Ok(Ok(Opening::Tls(stream))) => chat_http::serve(stream, peer, deadline, shared).await,
        Ok(Ok(Opening::Plain(tcp))) => refuse_plain(tcp, deadline, &shared).await,
        Ok(Err(err)) => tracing::debug!("TLS handshake failed: {err}"),
        Err(_elapsed) => {
            tracing::debug!("no TLS handshake within the handshake timeout; closing");
            shared.chat.metrics.closed(Cause::handshake_timeout);
        }
    }
}

/// Whether the client's first byte opens a TLS handshake; waits for it.
async fn speaks_tls(tcp: &TcpStream) -> io::Result<bool> {
    let mut first = [0; 1];
    match tcp.peek(&mut first).await? {
        0 => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before the TLS handshake",
        )),
        _ => Ok(first[0] == TLS_HANDSHAKE_RECORD),
    }
}

/// Answers plain HTTP on the TLS port with a `400` that says what to use
/// instead (hyper reads the request, so the answer is not lost to a reset).
async fn refuse_plain(tcp: TcpStream, deadline: Instant, shared: &Shared) {
    tracing::debug!("plain HTTP on the TLS port; answering 400");
    let service =
        service_fn(|request| std::future::ready(Ok::<_, Infallible>(tls_required(&request))));
    let conn = shared.http.serve_connection(TokioIo::new(tcp), service);
    tokio::select! {
        _ = tokio::time::timeout_at(deadline, conn) => {}
        () = shared.cancel.cancelled() => {}
    }
}

/// The answer to a plain HTTP request on the TLS port.
fn tls_required(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host = chat_http::request_host(request).unwrap_or_else(|| "HOST:PORT".to_owned());
    chat_http::plain(
        StatusCode::BAD_REQUEST,
        format!(
            "This chat server speaks TLS on this port: connect with wss://{host}/ROOM \
             (or open https://{host}/).\n"
        ),
    )
}
