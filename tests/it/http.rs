//! The HTTP layer in front of the WebSocket handshake: what plain HTTP,
//! garbage and bad handshakes get, and the `--token` check.

use std::io::ErrorKind;
use std::process::Stdio;

use chat::protocol::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::shutdown::{port_of_first_line, server_command, spawn_and_read_first_line};
use crate::support::raw_ws::upgrade_request_with;
use crate::support::send_signal;
use crate::support::{TestServer, WsClient, within};

/// The body of the 401 answer to a connection without a token.
const TOKEN_BODY: &str =
    "this chat server needs a token: add ?token=SECRET to the URL (ask its operator)\n";
/// The body of the 403 answer to a connection with a wrong token.
const WRONG_TOKEN_BODY: &str =
    "this chat server refused the token: check the ?token=SECRET in the URL (ask its operator)\n";

/// An HTTP answer, split into its parts.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status_line: String,
    /// Header names lowercased, values as sent.
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {text:?}"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {line:?}"));
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Self {
            status_line,
            headers,
            body: body.to_owned(),
        }
    }

    /// The one value of header `name`; fails the test if absent or repeated.
    pub(crate) fn header(&self, name: &str) -> &str {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "one {name} header in {self:?}");
        values[0]
    }
}

/// Writes `request` on a fresh connection to `addr` and reads everything the
/// server answers until it closes the connection (a reset counts as a close).
pub(crate) async fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    within("the server's answer and close", async {
        let mut stream = TcpStream::connect(addr).await.expect("connecting");
        stream
            .write_all(request)
            .await
            .expect("writing the request");
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == ErrorKind::ConnectionReset => return answer,
                Err(err) => panic!("reading the answer: {err}"),
            }
        }
    })
    .await
}

/// A WebSocket upgrade request for `path`, asking for `version`, as raw bytes.
fn upgrade_request(path: &str, version: &str) -> Vec<u8> {
    upgrade_request_with("127.0.0.1", path, version).into_bytes()
}

/// Whether `result` is the handshake failure of an HTTP `status` answer.
fn is_status(result: &Result<WsClient, tokio_websockets::Error>, status: u16) -> bool {
    matches!(
        result,
        Err(tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(got)
        )) if *got == status
    )
}

fn describe(result: &Result<WsClient, tokio_websockets::Error>) -> String {
    match result {
        Ok(_) => "the handshake succeeded".to_owned(),
        Err(err) => format!("{err:?}"),
    }
}

/// A plain `GET /` that does not ask for HTML (curl) gets 426 and a text body
/// on how to connect to the Host it named.
#[tokio::test]
async fn plain_get_gets_426_and_how_to_connect_to_the_host_it_named() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(
        &server.addr(),
        b"GET / HTTP/1.1\r\nHost: chat.example.org:4242\r\n\r\n",
    )
    .await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 426 Upgrade Required");
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(answer.header("upgrade"), "websocket");
    let lines: Vec<&str> = answer.body.lines().collect();
    assert_eq!(
        lines,
        [
            "This is a chat server. It speaks WebSocket, not plain HTTP.",
            "Connect with its client:   client ws://chat.example.org:4242/ROOM",
            "or any WebSocket tool:     websocat ws://chat.example.org:4242/ROOM",
            "or open it in a browser:   http://chat.example.org:4242/ROOM",
            "ROOM is optional (the default is lobby); add ?name=NAME to choose your name.",
        ]
    );
}

/// A POST gets 405 with `allow: GET, HEAD`.
#[tokio::test]
async fn post_gets_405_allowing_get() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(
        &server.addr(),
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(answer.header("allow"), "GET, HEAD");
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
}

/// What a browser sends when it navigates to a page.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";

/// A browser's `GET /` and `GET /ROOM` get the chat page, with a policy that
/// allows only its own inline script and style and connections to this host.
#[tokio::test]
async fn a_browser_gets_the_page_at_the_root_and_at_a_room() {
    let server = TestServer::start(&[]).await;
    for path in ["/", "/rust"] {
        let raw = exchange(
            &server.addr(),
            format!(
                "GET {path} HTTP/1.1\r\nHost: chat.example.org:4242\r\nAccept: {BROWSER_ACCEPT}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        let answer = Answer::parse(&raw);
        assert_eq!(answer.status_line, "HTTP/1.1 200 OK", "{path}");
        assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        assert_eq!(answer.header("cache-control"), "no-cache");
        assert_eq!(
            answer.header("content-length"),
            answer.body.len().to_string()
        );
        let policy: Vec<&str> = answer
            .header("content-security-policy")
            .split("; ")
            .collect();
        assert_eq!(policy[0], "default-src 'none'");
        assert!(policy[1].starts_with("script-src 'sha256-"), "{policy:?}");
        assert!(policy[2].starts_with("style-src 'sha256-"), "{policy:?}");
        assert_eq!(
            policy[3],
            "connect-src 'self' ws://chat.example.org:4242 wss://chat.example.org:4242"
        );
        assert!(answer.body.starts_with("<!doctype html>"), "{path}");
        assert!(answer.body.contains("format: 'json'"), "not the chat page");
    }
}

/// HEAD gets the page's headers and no body.
#[tokio::test]
async fn head_gets_the_page_headers_without_a_body() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(
        &server.addr(),
        format!("HEAD /rust HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {BROWSER_ACCEPT}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
    assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(answer.body, "");
}

/// A path that is not a room name gets 404, in plain text, whatever it asks for.
#[tokio::test]
async fn a_path_that_is_not_a_room_gets_404() {
    let server = TestServer::start(&[]).await;
    for path in ["/a/b", "/favicon.ico", "/rust/", "/%3Cb%3E"] {
        for accept in ["*/*", BROWSER_ACCEPT] {
            let raw = exchange(
                &server.addr(),
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n")
                    .as_bytes(),
            )
            .await;
            let answer = Answer::parse(&raw);
            assert_eq!(answer.status_line, "HTTP/1.1 404 Not Found", "{path}");
            assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
            assert_eq!(
                answer.body,
                "not found: the chat is at / or /ROOM (a room name is 1 to 32 letters, digits, '_' or '-')\n"
            );
        }
    }
}

/// With `--token`, the page itself is served to anyone (it holds no secret);
/// its WebSocket is what needs the token.
#[tokio::test]
async fn with_a_token_set_the_page_is_still_served() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let raw = exchange(
        &server.addr(),
        format!("GET /lobby HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {BROWSER_ACCEPT}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(
        raw.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

/// Non-HTTP bytes get a 4xx or a close, never a hang, and the server keeps serving.
#[tokio::test]
async fn garbage_gets_a_4xx_or_a_close_and_the_server_keeps_serving() {
    let server = TestServer::start(&[]).await;
    for garbage in [
        &b"\x16\x03\x01 hello\r\n\r\n"[..],
        b"NOT HTTP AT ALL\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
    ] {
        let raw = exchange(&server.addr(), garbage).await;
        assert!(
            raw.is_empty() || raw.starts_with(b"HTTP/1.1 4"),
            "answer to {garbage:?}: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }

    let (_client, welcome) = server.join("ana", "lobby").await;
    assert!(
        matches!(&welcome, Event::Welcome { name, .. } if name == "ana"),
        "{welcome:?}"
    );
}

/// An upgrade with a Sec-WebSocket-Version other than 13 gets 400 naming version 13.
#[tokio::test]
async fn wrong_websocket_version_gets_400_naming_version_13() {
    let server = TestServer::start(&[]).await;
    let raw = exchange(&server.addr(), &upgrade_request("/", "8")).await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 400 Bad Request");
    assert_eq!(answer.header("sec-websocket-version"), "13");
}

/// With `--token`, a WebSocket connection without a token fails the handshake with 401.
#[tokio::test]
async fn with_a_token_set_a_connection_without_one_gets_401() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let result = WsClient::try_connect(&server.url_for("/?name=ana&format=json")).await;
    assert!(is_status(&result, 401), "{}", describe(&result));
}

/// Issue 16, item 13: with `--token`, a WebSocket connection with a wrong
/// token (an empty one too) fails the handshake with 403, not the 401 of a
/// missing one.
#[tokio::test]
async fn issue_16_with_a_token_set_a_wrong_token_gets_403() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    for wrong in ["nope", "s3cre", "s3cret2", "S3CRET", ""] {
        let result = WsClient::try_connect(&server.url_for(&format!("/?token={wrong}"))).await;
        assert!(
            is_status(&result, 403),
            "token {wrong:?}: {}",
            describe(&result)
        );
    }
}

/// Issue 16, item 13: the raw 403 answer says the token was refused and to
/// check it.
#[tokio::test]
async fn issue_16_the_403_answer_says_the_token_was_refused() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let raw = exchange(&server.addr(), &upgrade_request("/lobby?token=nope", "13")).await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 403 Forbidden");
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(answer.body, WRONG_TOKEN_BODY);
}

/// Issue 16, item 13: an upgrade without `Connection: Upgrade` (none, or one
/// without that token) gets 400 and a one-line body saying what to send.
#[tokio::test]
async fn issue_16_an_upgrade_without_connection_upgrade_gets_400() {
    let server = TestServer::start(&[]).await;
    let request = String::from_utf8(upgrade_request("/", "13")).unwrap();
    for connection in ["", "Connection: keep-alive\r\n", "Connection: Upgrades\r\n"] {
        let raw = exchange(
            &server.addr(),
            request
                .replace("Connection: Upgrade\r\n", connection)
                .as_bytes(),
        )
        .await;
        let answer = Answer::parse(&raw);
        assert_eq!(
            answer.status_line, "HTTP/1.1 400 Bad Request",
            "{connection:?}"
        );
        assert_eq!(
            answer.body,
            "bad WebSocket handshake: send Connection: Upgrade with Upgrade: websocket\n"
        );
    }
}

/// Issue 16, item 13: `Connection` is read as a token list in any letter
/// case, so Firefox's `keep-alive, Upgrade` (and a second header line)
/// upgrades.
#[tokio::test]
async fn issue_16_connection_keep_alive_upgrade_is_an_upgrade() {
    let server = TestServer::start(&[]).await;
    let request = String::from_utf8(upgrade_request("/", "13")).unwrap();
    for connection in [
        "Connection: keep-alive, Upgrade\r\n",
        "Connection: keep-alive\r\nConnection: upgrade\r\n",
    ] {
        let request = request.replace("Connection: Upgrade\r\n", connection);
        let status_line = within("the 101 answer", async {
            let mut stream = TcpStream::connect(server.addr()).await.expect("connecting");
            stream.write_all(request.as_bytes()).await.expect("writing");
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.expect("reading the answer");
                assert_ne!(n, 0, "closed after {:?}", String::from_utf8_lossy(&head));
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            head.lines().next().unwrap_or_default().to_owned()
        })
        .await;
        assert_eq!(
            status_line, "HTTP/1.1 101 Switching Protocols",
            "{connection:?}"
        );
    }
}

/// The raw 401 answer tells the person to add `?token=` to the URL.
#[tokio::test]
async fn the_401_answer_says_to_add_a_token_to_the_url() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let raw = exchange(&server.addr(), &upgrade_request("/lobby", "13")).await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 401 Unauthorized");
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(answer.body, TOKEN_BODY);
}

/// With `--token`, a connection with `?token=` and the right secret gets the welcome.
#[tokio::test]
async fn with_the_right_token_a_connection_gets_the_welcome() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let mut client =
        WsClient::connect(&server.url_for("/rust?name=ana&format=json&token=s3cret")).await;
    let welcome = client.next_event().await;
    assert!(
        matches!(&welcome, Event::Welcome { name, room, .. } if name == "ana" && room == "rust"),
        "{welcome:?}"
    );
}

/// Even at debug level, neither the token nor a near miss of it appears in the server's output.
#[tokio::test]
async fn the_token_never_appears_in_the_server_logs() {
    const SECRET: &str = "s3cret";
    const NEAR_MISS: &str = "s3creT";
    let mut command = server_command();
    command
        .args(["--addr", "127.0.0.1", "--port", "0", "--token", SECRET])
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped());
    let (child, mut stdout, first) = spawn_and_read_first_line(command).await;
    let port = port_of_first_line(&first);
    let base = format!("ws://127.0.0.1:{port}");

    let mut ana =
        WsClient::connect(&format!("{base}/rust?name=ana&format=json&token={SECRET}")).await;
    assert!(matches!(ana.next_event().await, Event::Welcome { .. }));
    ana.send("hello").await;
    let said = ana
        .event_matching("ana's message", |e| matches!(e, Event::Message { .. }))
        .await;
    assert!(
        matches!(&said, Event::Message { text, .. } if text == "hello"),
        "{said:?}"
    );
    for (url, status) in [
        (format!("{base}/rust?name=bo&token={NEAR_MISS}"), 403),
        (format!("{base}/rust?name=bo"), 401),
    ] {
        let result = WsClient::try_connect(&url).await;
        assert!(is_status(&result, status), "{url}: {}", describe(&result));
    }
    let raw = exchange(
        &format!("127.0.0.1:{port}"),
        format!("GET /?token={SECRET} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        raw.starts_with(b"HTTP/1.1 426 "),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );

    send_signal(&child, "TERM");
    let output = within("the server to exit", child.wait_with_output())
        .await
        .expect("waiting for the server");
    let mut rest = String::new();
    within(
        "the server's stdout to close",
        stdout.read_to_string(&mut rest),
    )
    .await
    .expect("reading the server's stdout");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEBUG"), "no debug log on stderr: {stderr}");
    for (what, text) in [
        ("stdout", format!("{first}{rest}")),
        ("stderr", stderr.into_owned()),
    ] {
        assert!(
            !text.contains(SECRET),
            "the token is in the server's {what}:\n{text}"
        );
        assert!(
            !text.contains(NEAR_MISS),
            "a near miss of the token is in the server's {what}:\n{text}"
        );
    }
}

/// An upgrade request from a page of `origin`, naming `host`.
fn upgrade_from(origin: &str, host: &str) -> Vec<u8> {
    let request = upgrade_request_with(host, "/lobby?name=web&format=json", "13");
    request
        .replacen("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"), 1)
        .into_bytes()
}

/// The status line the server answers `request` with, read up to the end
/// of the head (a 101 keeps the connection open).
pub(crate) async fn status_of(addr: &str, request: &[u8]) -> String {
    within("the answer's head", async {
        let mut stream = TcpStream::connect(addr).await.expect("connecting");
        stream.write_all(request).await.expect("writing");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await.expect("reading") {
                0 => break,
                _ => head.push(byte[0]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        head.lines().next().unwrap_or_default().to_owned()
    })
    .await
}

pub(crate) const SWITCHING: &str = "HTTP/1.1 101 Switching Protocols";

/// A page of another site may not open a WebSocket here (403, saying why and
/// what to do); the chat's own page and clients that send no `Origin` may.
#[tokio::test]
async fn an_upgrade_from_another_site_s_page_gets_403_saying_why() {
    let server = TestServer::start(&[]).await;
    let addr = server.addr();
    let raw = exchange(&addr, &upgrade_from("https://evil.example", &addr)).await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 403 Forbidden");
    assert_eq!(
        answer.body,
        "this chat server does not accept connections from pages of https://evil.example: \
         open the chat's own page, or ask its operator to allow that site \
         (--allow-origin https://evil.example)\n"
    );
    let own = format!("http://{addr}");
    assert_eq!(
        status_of(&addr, &upgrade_from(&own, &addr)).await,
        SWITCHING
    );
    let no_origin = upgrade_request_with(&addr, "/lobby", "13");
    assert_eq!(status_of(&addr, no_origin.as_bytes()).await, SWITCHING);
    server.assert_still_serves().await;
}

/// `--allow-origin` (or `CHAT_ALLOW_ORIGIN`, comma-separated) lets named
/// sites' pages in, and `*` any.
#[tokio::test]
async fn allow_origin_lets_the_named_sites_in() {
    let server = TestServer::start(&[
        "--allow-origin",
        "https://app.example",
        "--allow-origin",
        "tool.example:8443",
    ])
    .await;
    let addr = server.addr();
    for origin in ["https://app.example", "https://tool.example:8443"] {
        assert_eq!(
            status_of(&addr, &upgrade_from(origin, &addr)).await,
            SWITCHING,
            "{origin}"
        );
    }
    assert_eq!(
        status_of(&addr, &upgrade_from("https://evil.example", &addr)).await,
        "HTTP/1.1 403 Forbidden"
    );

    let mut command = server_command();
    command.args(["--port", "0"]).env(
        "CHAT_ALLOW_ORIGIN",
        "https://one.example,https://two.example",
    );
    let (_child, _stdout, first) = spawn_and_read_first_line(command).await;
    let port = port_of_first_line(&first);
    let addr = format!("127.0.0.1:{port}");
    for origin in ["https://one.example", "https://two.example"] {
        assert_eq!(
            status_of(&addr, &upgrade_from(origin, &addr)).await,
            SWITCHING,
            "{origin}"
        );
    }

    let any = TestServer::start(&["--allow-origin", "*"]).await;
    let addr = any.addr();
    assert_eq!(
        status_of(&addr, &upgrade_from("https://evil.example", &addr)).await,
        SWITCHING
    );
}

/// DNS rebinding: a page of a name that resolves to 127.0.0.1 has the same
/// Origin and Host, so a loopback server without a token takes pages of
/// loopback names only; with a token the token protects it.
#[tokio::test]
async fn a_loopback_server_without_a_token_refuses_a_rebound_name() {
    let server = TestServer::start(&[]).await;
    let port = server.port;
    let host = format!("rebind.example:{port}");
    let origin = format!("http://{host}");
    let raw = exchange(&server.addr(), &upgrade_from(&origin, &host)).await;
    let answer = Answer::parse(&raw);
    assert_eq!(answer.status_line, "HTTP/1.1 403 Forbidden");
    assert_eq!(
        answer.body,
        format!(
            "this chat server listens on this machine only and accepts pages from \
             localhost, 127.0.0.1 or [::1], not {origin}: open it at one of those, \
             or ask its operator to allow that site (--allow-origin {origin})\n"
        )
    );
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let origin = format!("http://{host}");
        assert_eq!(
            status_of(&server.addr(), &upgrade_from(&origin, &host)).await,
            SWITCHING,
            "{origin}"
        );
    }

    let guarded = TestServer::start(&["--token", "s3cret"]).await;
    let port = guarded.port;
    let host = format!("rebind.example:{port}");
    let request = upgrade_request_with(&host, "/lobby?token=s3cret", "13").replacen(
        "\r\n\r\n",
        &format!("\r\nOrigin: http://{host}\r\n\r\n"),
        1,
    );
    assert_eq!(
        status_of(&guarded.addr(), request.as_bytes()).await,
        SWITCHING
    );
}

/// The page, whose failed upgrade a browser does not explain, asks with a
/// POST (which carries its Origin): 403 with the reason if its site is
/// refused, else the usual 405.
#[tokio::test]
async fn a_post_from_a_refused_page_gets_the_reason() {
    let server = TestServer::start(&[]).await;
    let addr = server.addr();
    let post = |origin: &str| {
        format!(
            "POST /lobby HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    let refused = Answer::parse(&exchange(&addr, &post("https://evil.example")).await);
    assert_eq!(refused.status_line, "HTTP/1.1 403 Forbidden");
    assert!(
        refused.body.starts_with(
            "this chat server does not accept connections from pages of https://evil.example"
        ),
        "{refused:?}"
    );
    let own = Answer::parse(&exchange(&addr, &post(&format!("http://{addr}"))).await);
    assert_eq!(own.status_line, "HTTP/1.1 405 Method Not Allowed");
}
