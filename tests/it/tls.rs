//! The server with `--tls-cert` and `--tls-key`: the real client with `--ca`,
//! a foreign WebSocket client with its own rustls settings, plain HTTPS, the
//! certificate errors a client prints, plain `ws://` aimed at the TLS port,
//! slow TLS handshakes, and certificate files the server cannot use.
//!
//! Every certificate is made at test time by a private authority (rcgen).

use chat::protocol::Event;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Duration, Instant};
use tokio_rustls::TlsConnector;

use crate::support::certs::{Authority, Issued, Validity, self_signed};
use crate::support::client::run_client;
use crate::support::{ClientRun, TempDir, TestServer, WsClient, assert_run, run_server, within};

/// A server on 127.0.0.1 with a certificate from a fresh authority, valid for
/// `names`, and `args` besides. Its [`TestServer::join`] trusts the authority.
struct TlsServer {
    server: TestServer,
    authority: Authority,
    /// Holds the certificate files, and `ca.pem` for the client's `--ca`.
    dir: TempDir,
}

impl TlsServer {
    async fn start(names: &[&str], validity: Validity, args: &[&str]) -> Self {
        let authority = Authority::new();
        let dir = TempDir::new();
        let (cert, key) = authority.issue(names, validity).write_to(&dir);
        dir.write("ca.pem", &authority.pem);
        let mut all = vec!["--tls-cert", &cert, "--tls-key", &key];
        all.extend_from_slice(args);
        let server = TestServer::start(&all)
            .await
            .trusting(authority.connector());
        Self {
            server,
            authority,
            dir,
        }
    }

    /// A server whose certificate is valid for `localhost` and `127.0.0.1`.
    async fn localhost(args: &[&str]) -> Self {
        Self::start(&["localhost", "127.0.0.1"], Validity::Current, args).await
    }

    /// The path of the authority's certificate, for `--ca`.
    fn ca(&self) -> String {
        self.dir.path("ca.pem")
    }

    /// `wss://localhost:PORT`.
    fn localhost_url(&self) -> String {
        format!("wss://localhost:{}", self.server.port)
    }
}

/// With TLS on, the first line says `wss://`.
#[tokio::test]
async fn the_first_line_says_wss() {
    let tls = TlsServer::localhost(&[]).await;
    assert_eq!(
        tls.server.url,
        format!("wss://127.0.0.1:{}", tls.server.port)
    );
}

/// The real client with `--ca` chats over TLS: its message reaches another
/// client and comes back to it.
#[tokio::test]
async fn the_client_with_ca_chats_over_tls() {
    let tls = TlsServer::localhost(&[]).await;
    let (mut observer, _) = tls.server.join("obs", "lobby").await;

    let run = run_client(
        &[&tls.localhost_url(), "--ca", &tls.ca(), "--name", "ana"],
        "over tls\n",
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "Welcome to chat! Type a message\n\
         you are ana in lobby; type /help for commands\n\
         -> ana joined lobby\n\
         ana: over tls\n"
    );
    let said = observer
        .event_matching("ana's message", |e| matches!(e, Event::Message { .. }))
        .await;
    assert!(
        matches!(&said, Event::Message { from, text, .. } if from == "ana" && text == "over tls"),
        "{said:?}"
    );
}

/// A WebSocket client that is not ours (tokio-websockets with its own rustls
/// settings, trusting only the authority) speaks the text format over TLS.
#[tokio::test]
async fn a_foreign_websocket_client_with_its_own_rustls_config_chats() {
    let tls = TlsServer::localhost(&[]).await;
    let connector =
        tokio_websockets::Connector::Rustls(TlsConnector::from(tls.authority.client_config()));
    let url = format!("{}/rust?name=bot", tls.localhost_url());
    let mut bot = WsClient::try_connect_with(&url, &connector)
        .await
        .unwrap_or_else(|err| panic!("connecting to {url}: {err}"));
    assert_eq!(
        bot.next_text().await,
        "Welcome to chat! Type a message\nyou are bot in rust; type /help for commands"
    );
    assert_eq!(bot.next_text().await, "-> bot joined rust");
    bot.send("hello over tls").await;
    assert_eq!(bot.next_text().await, "bot: hello over tls");
}

/// Sends `request` over TLS (trusting `tls`'s authority, for the name
/// `localhost`) and returns the whole answer.
async fn https_exchange(tls: &TlsServer, request: &str) -> String {
    let connector = TlsConnector::from(tls.authority.client_config());
    let tcp = TcpStream::connect(tls.server.addr())
        .await
        .expect("connecting");
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut stream = within("the TLS handshake", connector.connect(name, tcp))
        .await
        .expect("the TLS handshake");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("sending the request");
    let mut answer = Vec::new();
    within("the answer", stream.read_to_end(&mut answer))
        .await
        .expect("reading the answer");
    String::from_utf8(answer).expect("a UTF-8 answer")
}

/// Plain HTTPS (rustls and a hand-written request): the health check answers.
#[tokio::test]
async fn an_https_health_check_answers_ok() {
    let tls = TlsServer::localhost(&[]).await;
    let port = tls.server.port;
    let answer = https_exchange(
        &tls,
        &format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "{answer}");
}

/// A plain HTTPS request elsewhere gets the explanation, with URLs that say
/// `wss://`.
#[tokio::test]
async fn an_https_request_gets_a_plain_answer_with_wss_urls() {
    let tls = TlsServer::localhost(&[]).await;
    let port = tls.server.port;
    let answer = https_exchange(
        &tls,
        &format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!(
            "\r\n\r\nThis is a chat server. It speaks WebSocket, not plain HTTP.\n\
             Connect with its client:   client wss://localhost:{port}/ROOM\n\
             or any WebSocket tool:     websocat wss://localhost:{port}/ROOM\n\
             or open it in a browser:   https://localhost:{port}/ROOM\n\
             ROOM is optional (the default is lobby); add ?name=NAME to choose your name.\n"
        )),
        "{answer}"
    );
}

/// The client without `--ca`: the unknown-issuer line, exit 5.
#[tokio::test]
async fn the_client_without_ca_prints_the_unknown_issuer_line_and_exits_5() {
    let tls = TlsServer::localhost(&[]).await;
    let url = tls.localhost_url();
    let run = run_client(&[&url, "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for localhost: the server's certificate \
             is from an unknown issuer (for a private authority, pass --ca FILE)"
        ),
    );
}

/// A certificate for another name: the wrong-name line, exit 5.
#[tokio::test]
async fn a_certificate_for_another_name_prints_its_line_and_exits_5() {
    let tls = TlsServer::start(&["chat.example.org"], Validity::Current, &[]).await;
    let url = tls.localhost_url();
    let run = run_client(&[&url, "--ca", &tls.ca(), "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for localhost: the server's certificate \
             is for chat.example.org, not this name (connect with one of those)"
        ),
    );
}

/// An expired certificate: the expired line, exit 5.
#[tokio::test]
async fn an_expired_certificate_prints_its_line_and_exits_5() {
    let tls = TlsServer::start(&["localhost"], Validity::Expired, &[]).await;
    let url = tls.localhost_url();
    let run = run_client(&[&url, "--ca", &tls.ca(), "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for localhost: the server's certificate \
             has expired"
        ),
    );
}

/// A trusted authority with the name of the server's issuer but another key (Ed25519 or ECDSA) gets one readable line, exit 5.
#[tokio::test]
async fn issue_18_a_trusted_authority_with_the_issuers_name_but_another_key_is_one_line_and_exit_5()
{
    // Issue 18 ("The terminal client in daily use"), bug 5: the Ed25519 case
    // printed rustls's `UnsupportedSignatureAlgorithmForPublicKeyContext {
    // signature_algorithm_id: [...], ... }`.
    let tls = TlsServer::localhost(&[]).await;
    let url = tls.localhost_url();
    for alg in [&rcgen::PKCS_ED25519, &rcgen::PKCS_ECDSA_P256_SHA256] {
        let impostor = Authority::impostor(alg);
        let ca = tls.dir.write("impostor.pem", &impostor.pem);
        let run = run_client(&[&url, "--ca", &ca, "--name", "ana"], "hi\n").await;
        assert_run(
            &run,
            5,
            "",
            &format!(
                "error: cannot connect to {url}: TLS failed for localhost: the server's \
                 certificate does not verify against the trusted authority of the same name \
                 (another certificate with its issuer's name is trusted here; pass --ca FILE \
                 with the server's own authority)"
            ),
        );
    }
}

/// Starts a server with the self-signed certificate `issued`, and returns it
/// with the certificate's path (the client's `--ca`).
async fn start_self_signed(issued: &Issued, dir: &TempDir) -> (TestServer, String) {
    let (cert, key) = issued.write_to(dir);
    let server = TestServer::start(&["--tls-cert", &cert, "--tls-key", &key]).await;
    (server, cert)
}

/// The LAN recipe of docs/operating.md: a self-signed certificate (CA:FALSE) is its own
/// `--ca`.
#[tokio::test]
async fn a_self_signed_certificate_is_its_own_ca() {
    let dir = TempDir::new();
    let issued = self_signed(&["localhost", "127.0.0.1"], false);
    let (server, cert) = start_self_signed(&issued, &dir).await;
    let url = format!("wss://127.0.0.1:{}", server.port);
    let run = run_client(&[&url, "--ca", &cert, "--name", "ana"], "on the lan\n").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert!(
        run.stdout.ends_with("ana: on the lan\n"),
        "{:?}",
        run.stdout
    );
}

/// A self-signed certificate marked as an authority (openssl's default)
/// cannot be a server's: the line says what to change, exit 5.
#[tokio::test]
async fn a_self_signed_authority_certificate_prints_what_to_change() {
    let dir = TempDir::new();
    let issued = self_signed(&["localhost"], true);
    let (server, cert) = start_self_signed(&issued, &dir).await;
    let url = format!("wss://localhost:{}", server.port);
    let run = run_client(&[&url, "--ca", &cert, "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for localhost: the server's certificate \
             is an authority's, not a server's (a self-signed one needs basicConstraints CA:FALSE)"
        ),
    );
}

/// The client with `ws://` aimed at the TLS port fails at once, saying to
/// try `wss://`, exit 5.
#[tokio::test]
async fn plain_ws_to_the_tls_port_fails_fast_suggesting_wss() {
    // A long handshake timeout, so that an answer only by timeout would show.
    let tls = TlsServer::localhost(&["--handshake-timeout", "30"]).await;
    let port = tls.server.port;
    let started = Instant::now();
    let run = run_client(
        &[&format!("ws://localhost:{port}"), "--name", "ana"],
        "hi\n",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to ws://localhost:{port}: it answered HTTP 400 to a plain \
             WebSocket handshake, so it probably speaks TLS on this port \
             (try wss://localhost:{port})"
        ),
    );
}

/// Plain HTTP on the TLS port (curl with http://) gets a 400 that says to use TLS.
#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_400_saying_to_use_tls() {
    let tls = TlsServer::localhost(&["--handshake-timeout", "30"]).await;
    let port = tls.server.port;
    let mut tcp = TcpStream::connect(tls.server.addr())
        .await
        .expect("connecting");
    tcp.write_all(format!("GET / HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").as_bytes())
        .await
        .expect("sending the request");
    let mut answer = String::new();
    within("the answer", tcp.read_to_string(&mut answer))
        .await
        .expect("reading the answer");
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!(
            "\r\n\r\nThis chat server speaks TLS on this port: connect with \
             wss://localhost:{port}/ROOM (or open https://localhost:{port}/).\n"
        )),
        "{answer}"
    );
}

/// The first flight of a real TLS client to `localhost`: its ClientHello.
fn client_hello(tls: &TlsServer) -> Vec<u8> {
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut client =
        rustls::ClientConnection::new(tls.authority.client_config(), name).expect("a TLS client");
    let mut hello = Vec::new();
    client
        .write_tls(&mut hello)
        .expect("writing the ClientHello");
    hello
}

/// Waits for the server to close `tcp`, and returns how long after `since`.
async fn closed_after(tcp: &mut TcpStream, since: Instant) -> Duration {
    let mut buf = [0; 64];
    let n = within("the server to close the socket", tcp.read(&mut buf))
        .await
        .expect("a clean close");
    assert_eq!(n, 0, "the server sent {:?}", &buf[..n]);
    since.elapsed()
}

/// A client that opens the socket and never speaks TLS, and one that stops
/// half-way through its ClientHello, are cut off by the handshake timeout;
/// meanwhile others chat as usual.
#[tokio::test]
async fn slow_tls_handshakes_are_cut_off_by_the_handshake_timeout() {
    let tls = TlsServer::localhost(&["--handshake-timeout", "1"]).await;
    let hello = client_hello(&tls);
    assert!(hello.len() > 100, "a ClientHello of {} bytes", hello.len());

    let started = Instant::now();
    let mut silent = TcpStream::connect(tls.server.addr())
        .await
        .expect("connecting");
    let mut half = TcpStream::connect(tls.server.addr())
        .await
        .expect("connecting");
    half.write_all(&hello[..hello.len() / 2])
        .await
        .expect("sending half a ClientHello");

    tls.server.assert_still_serves().await;
    for (what, tcp) in [("silent", &mut silent), ("half hello", &mut half)] {
        let after = closed_after(tcp, started).await;
        assert!(
            after >= Duration::from_millis(900),
            "{what}: closed after {after:?}"
        );
    }
    tls.server.assert_still_serves().await;
}

/// Shutdown does not wait for a TLS handshake that is still pending.
#[tokio::test]
async fn shutdown_cuts_pending_tls_handshakes() {
    let mut tls = TlsServer::localhost(&["--handshake-timeout", "30"]).await;
    let mut silent = TcpStream::connect(tls.server.addr())
        .await
        .expect("connecting");
    // The accept has happened once a full handshake behind it has.
    tls.server.assert_still_serves().await;
    let started = Instant::now();
    tls.server.signal("TERM");
    let status = tls.server.wait().await;
    assert!(status.success(), "{status:?}");
    // Well under the server's 3 s grace for connections that do not close.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut buf = [0; 16];
    assert_eq!(silent.read(&mut buf).await.expect("a clean close"), 0);
}

/// Certificate files the server cannot use: one line that names the file
/// and says why, nothing on stdout, exit 1.
mod unusable_files {
    use super::*;

    fn assert_start_failure(run: &ClientRun, line: &str) {
        assert_run(run, 1, "", line);
    }

    /// Runs the server with `cert` and `key`.
    async fn serve_with(cert: &str, key: &str) -> ClientRun {
        run_server(&["--tls-cert", cert, "--tls-key", key], &[]).await
    }

    #[tokio::test]
    async fn a_missing_certificate_file_through_the_environment() {
        let dir = TempDir::new();
        let issued = Authority::new().issue(&["localhost"], Validity::Current);
        let (_, key) = issued.write_to(&dir);
        let missing = dir.path("missing.pem");
        let run = run_server(&[], &[("CHAT_TLS_CERT", &missing), ("CHAT_TLS_KEY", &key)]).await;
        assert_start_failure(
            &run,
            &format!("error: cannot read the TLS certificate file {missing}: no such file"),
        );
    }

    #[tokio::test]
    async fn an_unreadable_key_file() {
        let dir = TempDir::new();
        let issued = Authority::new().issue(&["localhost"], Validity::Current);
        let (cert, key) = issued.write_to(&dir);
        std::process::Command::new("chmod")
            .args(["000", &key])
            .status()
            .expect("chmod runs");
        // Root reads any file; the server then runs as nobody, who can
        // still read the certificate (and its directory) but not the key.
        let run = if is_root() {
            let mut command = tokio::process::Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(env!("CARGO_BIN_EXE_server"))
                .args(["--port", "0", "--tls-cert", &cert, "--tls-key", &key]);
            crate::support::run_command(command, "").await
        } else {
            serve_with(&cert, &key).await
        };
        assert_start_failure(
            &run,
            &format!(
                "error: cannot read the TLS key file {key}: permission denied \
                 (the server's user must be able to read it)"
            ),
        );
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .expect("reading /proc/self/status")
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    }

    #[tokio::test]
    async fn a_key_that_is_not_the_certificates() {
        let dir = TempDir::new();
        let authority = Authority::new();
        let (cert, _) = authority
            .issue(&["localhost"], Validity::Current)
            .write_to(&dir);
        let other = authority.issue(&["localhost"], Validity::Current);
        let other_key = dir.write("other-key.pem", &other.key_pem);
        let run = serve_with(&cert, &other_key).await;
        assert_start_failure(
            &run,
            &format!(
                "error: the TLS key file {other_key} does not match the certificate in {cert} \
                 (give the key the certificate was made for)"
            ),
        );
    }

    #[tokio::test]
    async fn a_key_file_with_no_key_in_it() {
        let dir = TempDir::new();
        let (cert, _) = Authority::new()
            .issue(&["localhost"], Validity::Current)
            .write_to(&dir);
        // The certificate given twice, a slip anyone can make.
        let run = serve_with(&cert, &cert).await;
        assert_start_failure(
            &run,
            &format!(
                "error: the TLS key file {cert} holds no private key \
                 (expected a PEM block such as -----BEGIN PRIVATE KEY-----)"
            ),
        );
    }

    #[tokio::test]
    async fn a_key_file_with_a_broken_key() {
        let dir = TempDir::new();
        let (cert, _) = Authority::new()
            .issue(&["localhost"], Validity::Current)
            .write_to(&dir);
        let key = dir.write(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let run = serve_with(&cert, &key).await;
        assert_start_failure(
            &run,
            &format!(
                "error: the TLS key file {key} cannot be used: \
                 failed to parse private key as RSA, ECDSA, or EdDSA"
            ),
        );
    }

    #[tokio::test]
    async fn a_certificate_file_with_no_certificate_in_it() {
        let dir = TempDir::new();
        let (_, key) = Authority::new()
            .issue(&["localhost"], Validity::Current)
            .write_to(&dir);
        let run = serve_with(&key, &key).await;
        assert_start_failure(
            &run,
            &format!(
                "error: the TLS certificate file {key} holds no certificate \
                 (expected a PEM block -----BEGIN CERTIFICATE-----)"
            ),
        );
    }

    /// `--tls-cert` alone is a usage error (exit 2), naming the missing flag.
    #[tokio::test]
    async fn a_certificate_without_a_key_is_a_usage_error() {
        let run = run_server(&["--tls-cert", "cert.pem"], &[]).await;
        assert_eq!(run.status.code(), Some(2), "stderr: {:?}", run.stderr);
        assert!(
            run.stderr.starts_with(
                "error: the following required arguments were not provided:\n  --tls-key <FILE>\n"
            ),
            "{:?}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
}
