//! The real `client` binary on pipes: what it sends, what it prints, its URL
//! forms and flags, and its one-line errors, each with its own exit status.
//!
//! The error tests build what each failure needs in the test itself: a TLS
//! server (an rcgen authority, and a proxy that terminates TLS in front of a
//! real server), a fake HTTP server, a listener that never answers, an empty
//! network namespace (so that a name lookup sends nothing off the machine),
//! and a private `/etc/hosts` in which `localhost` is both `::1` and
//! `127.0.0.1`.

use chat::protocol::{ErrorCode, Event, LimitsInfo};
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_websockets::{CloseCode, Message};

use crate::support::certs::Authority;
use crate::support::client::{CLIENT, RunningClient, client_command, client_through, run_client};
use crate::support::events::{message, parse_event, untimed};
use crate::support::{TempDir, TestServer, assert_run, run_command, with_private_mount, within};

/// The welcome lines the client prints for `name` in `room` with the default MOTD.
fn welcome_lines(name: &str, room: &str) -> String {
    format!("Welcome to chat! Type a message\nyou are {name} in {room}; type /help for commands\n")
}

/// A port nothing listens on: bound a moment ago, then released.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    listener.local_addr().expect("the bound address").port()
}

/// A line piped into `client --name ana` reaches a WebSocket client in the room.
#[tokio::test]
async fn a_piped_line_reaches_a_websocket_client_in_the_room() {
    let server = TestServer::start(&[]).await;
    let (mut observer, _) = server.join("obs", "lobby").await;

    let port = server.port.to_string();
    let run = run_client(&["--port", &port, "--name", "ana"], "hi\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );

    let said = observer
        .event_matching("ana's message", |e| matches!(e, Event::Message { .. }))
        .await;
    assert!(
        matches!(&said, Event::Message { room, from, text, .. }
            if room == "lobby" && from == "ana" && text == "hi"),
        "{said:?}"
    );
}

/// A line piped into one client is printed as `ana: hi` by another running client.
#[tokio::test]
async fn a_piped_line_is_printed_by_another_running_client() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut bo = RunningClient::start(&["--port", &port, "--name", "bo"]);
    bo.wait_for_line("you are bo in lobby; type /help for commands")
        .await;
    bo.wait_for_line("-> bo joined lobby").await;

    let run = run_client(&["--port", &port, "--name", "ana"], "hi\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );

    assert_eq!(bo.next_line().await, "-> ana joined lobby");
    assert_eq!(bo.next_line().await, "ana: hi");
    let status = bo.finish().await.status;
    assert!(status.success(), "{status:?}");
}

/// A piped client prints the welcome and the server's copy of its own line, then exits 0.
#[tokio::test]
async fn a_piped_client_prints_the_welcome_and_the_copy_of_its_own_line() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let run = run_client(&["--port", &port, "--name", "ana"], "hi\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hi\n",
            welcome_lines("ana", "lobby")
        )
    );
    assert_eq!(run.stderr, "");
}

/// `--room rust` puts the client in rust: its welcome says so and its message goes there.
#[tokio::test]
async fn room_flag_puts_the_client_in_that_room() {
    let server = TestServer::start(&[]).await;
    let (mut observer, _) = server.join("obs", "rust").await;
    let port = server.port.to_string();
    let run = run_client(
        &["--port", &port, "--name", "ana", "--room", "rust"],
        "in rust\n",
    )
    .await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );
    assert!(
        run.stdout.starts_with(&welcome_lines("ana", "rust")),
        "{:?}",
        run.stdout
    );

    let said = observer
        .event_matching("ana's message", |e| matches!(e, Event::Message { .. }))
        .await;
    assert!(
        matches!(&said, Event::Message { room, from, text, .. }
            if room == "rust" && from == "ana" && text == "in rust"),
        "{said:?}"
    );
}

/// A URL argument `ws://127.0.0.1:PORT/rust` connects to that port and room.
#[tokio::test]
async fn a_ws_url_with_a_path_picks_the_port_and_room() {
    let server = TestServer::start(&[]).await;
    let url = format!("ws://127.0.0.1:{}/rust", server.port);
    let run = run_client(&[&url, "--name", "ana"], "hello\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined rust\nana: hello\n",
            welcome_lines("ana", "rust")
        )
    );
}

/// A bare `127.0.0.1:PORT` argument is taken as `ws://127.0.0.1:PORT`, the lobby.
#[tokio::test]
async fn a_bare_host_and_port_is_taken_as_a_ws_url() {
    let server = TestServer::start(&[]).await;
    let url = format!("127.0.0.1:{}", server.port);
    let run = run_client(&[&url, "--name", "ana"], "hello\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hello\n",
            welcome_lines("ana", "lobby")
        )
    );
}

/// Nothing on the port: one exact stderr line naming the port and `--port`, exit 1.
#[tokio::test]
async fn connection_refused_is_one_line_naming_the_port_and_exit_1() {
    let port = free_port();
    let run = run_client(&["--port", &port.to_string()], "hi\n").await;
    assert_eq!(run.status.code(), Some(1), "stderr: {:?}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot connect to ws://127.0.0.1:{port}: connection refused \
             (is the server running, and on port {port}? otherwise pass --port)\n"
        )
    );
}

/// A server wanting a token makes a client without one print one line about it and exit 7.
#[tokio::test]
async fn a_server_wanting_a_token_is_one_line_about_it_and_exit_7() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let port = server.port;
    let run = run_client(&["--port", &port.to_string()], "hi\n").await;
    assert_eq!(run.status.code(), Some(7), "stderr: {:?}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot connect to ws://127.0.0.1:{port}: the server needs a token \
             (add ?token=SECRET to the URL; ask its operator)\n"
        )
    );
}

/// Issue 16, item 13: a wrong token is told apart from a missing one: one
/// line saying the server refused it, exit 7, and the token printed nowhere.
#[tokio::test]
async fn issue_16_a_wrong_token_is_one_line_saying_it_was_refused_and_exit_7() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let port = server.port;
    let url = format!("ws://127.0.0.1:{port}/?token=nope");
    let run = run_client(&[&url], "hi\n").await;
    assert_run(
        &run,
        7,
        "",
        &format!(
            "error: cannot connect to ws://127.0.0.1:{port}: the server refused the token \
             (check the ?token=SECRET in the URL; ask its operator)"
        ),
    );
    assert!(!run.stderr.contains("nope"), "{}", run.stderr);
}

/// A token in the URL's query gets the client in, and the client prints it nowhere.
#[tokio::test]
async fn a_token_in_the_url_lets_the_client_in_without_printing_it() {
    let server = TestServer::start(&["--token", "s3cret"]).await;
    let url = format!("ws://127.0.0.1:{}/?token=s3cret", server.port);
    let run = run_client(&[&url, "--name", "ana"], "hi\n").await;
    assert!(
        run.status.success(),
        "{:?}, stderr: {:?}",
        run.status,
        run.stderr
    );
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hi\n",
            welcome_lines("ana", "lobby")
        )
    );
    assert!(!run.stderr.contains("s3cret"), "{:?}", run.stderr);
}

/// A URL that is not ws:// or wss://: exactly one stderr line, exit status 2 (usage).
#[tokio::test]
async fn an_invalid_url_is_one_line_and_exit_2() {
    let run = run_client(&["ftp://x"], "hi\n").await;
    assert_eq!(run.status.code(), Some(2), "stderr: {:?}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: invalid URL 'ftp://x': the scheme must be ws:// or wss:// \
         (expected something like ws://127.0.0.1:8080/lobby)\n"
    );
}

/// `/quit` typed into a running client makes it leave the room and exit 0.
#[tokio::test]
async fn slash_quit_makes_the_client_leave_and_exit_0() {
    let server = TestServer::start(&[]).await;
    let (mut observer, _) = server.join("obs", "lobby").await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana"]);
    ana.wait_for_line("you are ana in lobby; type /help for commands")
        .await;

    ana.type_line("/quit").await;
    let status = ana.exit().await.status;
    assert_eq!(status.code(), Some(0));

    let left = observer
        .event_matching("ana's leave", |e| matches!(e, Event::Leave { .. }))
        .await;
    assert!(
        matches!(&left, Event::Leave { name, reason, .. } if name == "ana" && reason == "quit"),
        "{left:?}"
    );
}

/// Escape sequences and a bell from another person print with no ESC or BEL byte.
#[tokio::test]
async fn hostile_text_is_printed_without_escape_or_bell() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut bo = RunningClient::start(&["--port", &port, "--name", "bo"]);
    bo.wait_for_line("you are bo in lobby; type /help for commands")
        .await;
    let (mut evil, _) = server.join("evil", "lobby").await;
    evil.send("\u{1b}[2J\u{1b}]0;pwned\u{7}hi").await;

    let line = within("evil's line", async {
        loop {
            let line = bo.next_line().await;
            if line.starts_with("evil: ") {
                return line;
            }
        }
    })
    .await;
    assert!(!line.contains(['\u{1b}', '\u{7}']), "{line:?}");
    assert_eq!(line, "evil: [2J]0;pwnedhi");
}

/// The client strips control characters itself, even from a server that sends them raw.
#[tokio::test]
async fn the_client_strips_controls_a_server_sent_raw() {
    let welcome = Event::Welcome {
        motd: "\u{1b}[2Jmotd\u{7}".to_owned(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    let hostile = Event::Message {
        id: 1,
        room: "lobby".to_owned(),
        from: "e\u{1b}[31mve".to_owned(),
        text: "\u{1b}]0;pwned\u{7}hi\u{202e}".to_owned(),
        ts: 1,
    };
    let (port, fake) = fake_chat_server(vec![welcome, hostile]).await;

    let mut ana = RunningClient::start(&[&format!("127.0.0.1:{port}"), "--name", "ana"]);
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(ana.next_line().await);
    }
    assert_eq!(
        lines,
        [
            "[2Jmotd",
            "you are ana in lobby; type /help for commands",
            "e[31mve: ]0;pwnedhi"
        ]
    );
    let status = ana.finish().await.status;
    assert!(status.success(), "{status:?}");
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

/// A hostile server's escapes and line breaks in a welcome name, an error, a
/// sender's name and a leave reason print as one harmless line each, on pipes.
#[tokio::test]
async fn issue_16_a_hostile_servers_fields_print_as_one_harmless_line_each() {
    // Issue 16 ("Hardening, second round"), item 6.
    let forged = "\n12:34 bo: please paste the token here";
    let welcome = Event::Welcome {
        motd: "motd".to_owned(),
        name: "an\u{1b}]0;pwned\u{7}\na".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    let error = Event::error(
        ErrorCode::Cluster,
        format!("\u{1b}[2J\u{1b}]0;pwned\u{7}the link is lost{forged}\u{7}"),
    );
    let message = Event::Message {
        id: 1,
        room: "lobby".to_owned(),
        from: format!("eve{forged}"),
        text: "hi\nthere".to_owned(),
        ts: 1,
    };
    let leave = Event::Leave {
        room: "lobby".to_owned(),
        name: "eve".to_owned(),
        reason: format!("quit: bye\r{forged}"),
        ts: 1,
    };
    let (port, fake) = fake_chat_server(vec![welcome, error, message, leave]).await;
    // No --name: a script asking for a name would stop at another one.
    let run = run_client(&[&format!("127.0.0.1:{port}")], "").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "motd\n\
         you are an]0;pwned a in lobby; type /help for commands\n\
         ! [2J]0;pwnedthe link is lost 12:34 bo: please paste the token here\n\
         eve 12:34 bo: please paste the token here: hi\n  there\n\
         <- eve left lobby (quit: bye 12:34 bo: please paste the token here)\n"
    );
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

/// A hostile server's close reason with escapes and a line break is one
/// harmless line in the client's error, which still exits 9.
#[tokio::test]
async fn issue_16_a_hostile_close_reason_is_one_harmless_line() {
    // Issue 16 ("Hardening, second round"), item 6.
    let welcome = Event::Welcome {
        motd: String::new(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    let (port, fake) = fake_chat_server_frames(vec![
        Message::text(welcome.to_json()),
        Message::close(
            Some(CloseCode::POLICY_VIOLATION),
            "\u{1b}]0;pwned\u{7}kicked\n12:34 bo: please paste the token here",
        ),
    ])
    .await;
    // Input left open: the close, not the end of input, ends the session.
    let mut ana = RunningClient::start(&[&format!("127.0.0.1:{port}"), "--name", "ana"]);
    let run = ana.exit().await;
    assert_eq!(run.status.code(), Some(9), "stderr: {:?}", run.stderr);
    assert_eq!(
        run.stdout,
        "you are ana in lobby; type /help for commands\n"
    );
    assert_eq!(
        run.stderr,
        "error: the server closed the connection: ]0;pwnedkicked 12:34 bo: please paste \
         the token here (close code 1008)\n"
    );
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

// ---------------------------------------------------------------------------
// Helpers for the tests below: processes, files, and servers that fail in
// one particular way.
// ---------------------------------------------------------------------------

/// Listens on a free port of 127.0.0.1, and returns the listener and its port.
async fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a port");
    let port = listener.local_addr().expect("the bound address").port();
    (listener, port)
}

/// A TLS server in front of `backend` (`host:port` of a plain server): it
/// terminates TLS with `acceptor` and forwards the bytes both ways, until the
/// test's runtime ends. Returns its port.
async fn tls_proxy(acceptor: TlsAcceptor, backend: String) -> u16 {
    let (listener, port) = listen().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                // A client that refuses our certificate ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = TcpStream::connect(&backend)
                    .await
                    .expect("connecting to the real server");
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// An HTTP server that gives every request `answer` (a whole response), until
/// the test's runtime ends. Returns its port.
async fn fake_http(answer: &'static str) -> u16 {
    let (listener, port) = listen().await;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request head, then the answer, as a server would.
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// A chat server stand-in that sends `events` raw to the first client, then
/// reads until it leaves. Returns its port and its task.
async fn fake_chat_server(events: Vec<Event>) -> (u16, tokio::task::JoinHandle<()>) {
    fake_chat_server_frames(
        events
            .iter()
            .map(|event| Message::text(event.to_json()))
            .collect(),
    )
    .await
}

/// Like [`fake_chat_server`], with the frames given as they are (a close
/// frame among them, say).
async fn fake_chat_server_frames(frames: Vec<Message>) -> (u16, tokio::task::JoinHandle<()>) {
    let (listener, port) = listen().await;
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accepting the client");
        let (_request, mut ws) = tokio_websockets::ServerBuilder::new()
            .accept(stream)
            .await
            .expect("the client's handshake");
        for frame in frames {
            ws.send(frame).await.expect("sending a frame");
        }
        while let Some(Ok(_)) = ws.next().await {}
    });
    (port, task)
}

/// The default limits, as the welcome states them.
fn default_limits() -> LimitsInfo {
    LimitsInfo {
        max_message_bytes: 65536,
        per_second: 20,
        burst: 40,
    }
}

/// Fails the test with what to install unless `unshare` can make `namespace`
/// (`-n`: network, `-m`: mounts) here.
fn require_unshare(namespace: &str) {
    let run = std::process::Command::new("unshare")
        .args(["-r", namespace, "true"])
        .output();
    match run {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "this test needs `unshare -r {namespace}` (user namespaces enabled, or run the tests as root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => {
            panic!("this test needs `unshare` from util-linux (apt-get install util-linux): {err}")
        }
    }
}

/// The `client` binary with `args`, run where `/etc/hosts` is `hosts`: in a
/// mount namespace of its own (`unshare -rm` makes mounts private), so the
/// machine's own file is untouched.
fn client_with_hosts(hosts: &str, args: &[&str]) -> Command {
    let mount = with_private_mount(r#"mount --bind "$0" /etc/hosts"#, hosts, CLIENT);
    client_through(mount, args)
}

// ---------------------------------------------------------------------------
// Scripted mode: plain lines, JSON lines, pacing.
// ---------------------------------------------------------------------------

/// The one-shot sender prints no escape code at all, even with colour forced by the environment.
#[tokio::test]
async fn a_one_shot_sender_prints_no_escape_codes_even_with_colour_forced() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut command = client_command(&["--port", &port, "--name", "ana"]);
    command
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .env("CLICOLOR", "1")
        .env("FORCE_COLOR", "1")
        .env("COLORTERM", "truecolor")
        .env("TERM", "xterm-256color");
    let run = run_command(command, "hi\n").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hi\n",
            welcome_lines("ana", "lobby")
        )
    );
    assert_eq!(run.stderr, "");
}

/// `--json` prints every event as one JSON line: welcome, own join, a peer's hostile text, own copy.
#[tokio::test]
async fn json_prints_each_event_as_one_line_in_order_with_hostile_text_escaped() {
    let server = TestServer::start(&["--motd", "json here"]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--json"]);
    let mut lines = vec![ana.next_line().await, ana.next_line().await];

    // ana is in: bo says something hostile, then ana answers.
    bo.event_matching(
        "ana's join",
        |e| matches!(e, Event::Join { name, .. } if name == "ana"),
    )
    .await;
    bo.send("\u{1b}[2J\u{7}ring\u{202e}olleh").await;
    lines.push(ana.next_line().await);
    ana.type_line("hi").await;
    lines.push(ana.next_line().await);
    let rest = ana.finish().await;
    assert_eq!(rest.status.code(), Some(0), "stderr: {:?}", rest.stderr);
    assert_eq!(rest.stdout, "", "nothing after the copy of ana's line");
    assert_eq!(rest.stderr, "");

    for line in &lines {
        assert!(
            !line.contains(['\u{1b}', '\u{7}', '\u{202e}']),
            "a raw control character: {line:?}"
        );
    }
    let events: Vec<Event> = lines
        .iter()
        .map(|line| untimed(parse_event(line)))
        .collect();
    assert_eq!(
        events,
        [
            Event::Welcome {
                motd: "json here".to_owned(),
                name: "ana".to_owned(),
                room: "lobby".to_owned(),
                history: 100,
                limits: default_limits(),
                people: Some(2),
                topic: None,
            },
            Event::Join {
                room: "lobby".to_owned(),
                name: "ana".to_owned(),
                ts: 0,
            },
            message(1, "lobby", "bo", "[2Jringolleh"),
            message(2, "lobby", "ana", "hi"),
        ]
    );
}

/// `--json` keeps whatever a server sends, newlines and escapes included, one valid JSON line per event.
#[tokio::test]
async fn json_turns_raw_control_characters_from_a_server_into_one_valid_line() {
    let welcome = Event::Welcome {
        motd: "motd\n\u{1b}[2J".to_owned(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    let hostile = Event::Message {
        id: 1,
        room: "lobby".to_owned(),
        from: "e\u{1b}[31mve".to_owned(),
        text: "line one\nline two\u{1b}]0;pwned\u{7}\r".to_owned(),
        ts: 1,
    };
    let (port, fake) = fake_chat_server(vec![welcome.clone(), hostile.clone()]).await;
    let run = run_client(
        &[&format!("127.0.0.1:{port}"), "--name", "ana", "--json"],
        "",
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    assert!(
        !run.stdout.contains(['\u{1b}', '\u{7}', '\r']),
        "{:?}",
        run.stdout
    );
    assert_eq!(run.events(), [welcome, hostile]);
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

/// `--json` prints a server's C1 controls, DEL and bidi overrides escaped (`\u009b`), never as raw bytes.
#[tokio::test]
async fn json_escapes_c1_controls_and_bidi_overrides_a_server_sent_raw() {
    let welcome = Event::Welcome {
        motd: "motd".to_owned(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    // U+009B is the one-character CSI of 8-bit terminals; U+202E reverses
    // how the rest of the line displays.
    let hostile = Event::Message {
        id: 1,
        room: "lobby".to_owned(),
        from: "eve".to_owned(),
        text: "\u{9b}2J\u{7f}olleh\u{202e}hi\u{2066}".to_owned(),
        ts: 1,
    };
    let (port, fake) = fake_chat_server(vec![welcome.clone(), hostile.clone()]).await;
    let run = run_client(
        &[&format!("127.0.0.1:{port}"), "--name", "ana", "--json"],
        "",
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    let raw: Vec<char> = run
        .stdout
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} in {:?}", run.stdout);
    assert_eq!(run.events(), [welcome, hostile]);
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

/// 100 piped lines arrive whole and in order, paced under the welcome's limits: no rate_limited error.
#[tokio::test]
async fn a_piped_block_of_100_lines_arrives_whole_and_in_order_without_rate_limiting() {
    // Faster than the defaults, to keep the test short, yet a burst far
    // below 100: a client that did not pace itself would be cut.
    let server =
        TestServer::start(&["--messages-per-second", "100", "--message-burst", "20"]).await;
    let (mut observer, _) = server.join("obs", "lobby").await;
    let port = server.port.to_string();
    let block: String = (1..=100).map(|n| format!("{n}\n")).collect();
    let run = run_client(&["--port", &port, "--name", "ana", "--json"], &block).await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");

    // What the client printed: the welcome with the limits, no error at all,
    // and the server's copy of every line, in order.
    let printed = run.events();
    assert!(
        matches!(&printed[0], Event::Welcome { limits, .. }
            if limits.per_second == 100 && limits.burst == 20),
        "{:?}",
        printed[0]
    );
    let errors: Vec<&Event> = printed
        .iter()
        .filter(|e| matches!(e, Event::Error { .. }))
        .collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
    let copies: Vec<String> = printed
        .iter()
        .filter_map(|e| match e {
            Event::Message { from, text, .. } if from == "ana" => Some(text.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (1..=100).map(|n| n.to_string()).collect();
    assert_eq!(copies, expected);

    // What the observer got: every line, in order, and nothing dropped.
    let mut received = Vec::new();
    within("ana's 100 messages", async {
        while received.len() < 100 {
            match observer.next_event().await {
                Event::Message { from, text, .. } if from == "ana" => received.push(text),
                Event::Message { .. } => panic!("a message from someone else"),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(received, expected);
}

// ---------------------------------------------------------------------------
// Each error: one exact line on stderr, its own exit status.
// ---------------------------------------------------------------------------

/// A host name that does not resolve (in an empty network namespace): one exact line, exit 3.
#[tokio::test]
async fn a_host_name_that_does_not_resolve_is_one_line_and_exit_3() {
    // No network at all, so the lookup fails here instead of asking a DNS
    // server somewhere.
    require_unshare("-n");
    let mut unshare = Command::new("unshare");
    unshare.args(["-rn", CLIENT]);
    let command = client_through(unshare, &["ws://nonexistent.invalid:8080"]);
    let run = run_command(command, "hi\n").await;
    assert_run(
        &run,
        3,
        "",
        "error: cannot connect to ws://nonexistent.invalid:8080: the host name does not resolve \
         (check the spelling, or use an IP address)",
    );
}

/// A server that accepts and never answers: one exact line after `--connect-timeout 0.5`, exit 4.
#[tokio::test]
async fn a_server_that_never_answers_is_one_line_after_the_timeout_and_exit_4() {
    let (listener, port) = listen().await;
    // Accepts, reads whatever comes, answers nothing, until the client goes.
    let silent = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accepting the client");
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await;
    });
    let started = Instant::now();
    let url = format!("ws://127.0.0.1:{port}");
    let run = run_client(&[&url, "--connect-timeout", "0.5"], "hi\n").await;
    assert!(
        started.elapsed().as_millis() >= 500,
        "{:?}",
        started.elapsed()
    );
    assert_run(
        &run,
        4,
        "",
        &format!(
            "error: cannot connect to {url}: no answer within 0.5s \
             (is the host reachable, and is it a chat server?)"
        ),
    );
    within("the silent server to see the client go", silent)
        .await
        .expect("the silent server task");
}

/// `wss://` to a certificate from an unknown authority, without `--ca`: the issuer line, exit 5.
#[tokio::test]
async fn an_unknown_certificate_authority_without_ca_is_one_line_and_exit_5() {
    let server = TestServer::start(&[]).await;
    let authority = Authority::new();
    let port = tls_proxy(
        authority.acceptor(&["localhost", "127.0.0.1"]),
        server.addr(),
    )
    .await;
    let url = format!("wss://localhost:{port}");
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

/// `wss://` with `--ca` naming the server's authority connects, chats and exits 0.
#[tokio::test]
async fn wss_with_the_authority_given_by_ca_chats_and_exits_0() {
    let server = TestServer::start(&[]).await;
    let (mut observer, _) = server.join("obs", "lobby").await;
    let authority = Authority::new();
    let dir = TempDir::new();
    let ca = dir.write("ca.pem", &authority.pem);
    let port = tls_proxy(
        authority.acceptor(&["localhost", "127.0.0.1"]),
        server.addr(),
    )
    .await;
    let url = format!("wss://localhost:{port}");
    let run = run_client(&[&url, "--ca", &ca, "--name", "ana"], "over tls\n").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: over tls\n",
            welcome_lines("ana", "lobby")
        )
    );
    let said = observer
        .event_matching("ana's message", |e| matches!(e, Event::Message { .. }))
        .await;
    assert_eq!(untimed(said), message(1, "lobby", "ana", "over tls"));
}

/// A certificate issued for another name, even from a trusted `--ca`: the wrong-name line, exit 5.
#[tokio::test]
async fn a_certificate_for_another_name_is_one_line_and_exit_5() {
    let server = TestServer::start(&[]).await;
    let authority = Authority::new();
    let dir = TempDir::new();
    let ca = dir.write("ca.pem", &authority.pem);
    let port = tls_proxy(authority.acceptor(&["example.invalid"]), server.addr()).await;
    let url = format!("wss://localhost:{port}");
    let run = run_client(&[&url, "--ca", &ca, "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for localhost: the server's certificate \
             is for example.invalid, not this name (connect with one of those)"
        ),
    );
}

/// `wss://` to a plain server fails at once with a line that suggests ws://, exit 5.
#[tokio::test]
async fn wss_to_a_plain_server_fails_fast_suggesting_ws_and_exit_5() {
    let server = TestServer::start(&[]).await;
    let url = format!("wss://127.0.0.1:{}", server.port);
    let started = Instant::now();
    let run = run_client(&[&url, "--name", "ana"], "hi\n").await;
    // Far sooner than the 10 s connect timeout or the server's handshake timeout.
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    assert_run(
        &run,
        5,
        "",
        &format!(
            "error: cannot connect to {url}: TLS failed for 127.0.0.1: the answer is not TLS \
             (is the server serving TLS on this port? try ws://)"
        ),
    );
}

/// `--ca` naming a missing file, or a file with no certificate: `cannot read --ca PATH: …`, exit 2.
#[tokio::test]
async fn an_unreadable_ca_file_is_one_line_and_exit_2() {
    let dir = TempDir::new();
    let missing = dir.path("missing.pem");
    let run = run_client(&["wss://localhost:1", "--ca", &missing], "hi\n").await;
    assert_run(
        &run,
        2,
        "",
        &format!(
            "error: cannot read --ca {missing}: I/O error: No such file or directory (os error 2)"
        ),
    );

    let empty = dir.write("empty.pem", "not a certificate\n");
    let run = run_client(&["wss://localhost:1", "--ca", &empty], "hi\n").await;
    assert_run(
        &run,
        2,
        "",
        &format!("error: cannot read --ca {empty}: no PEM certificate in it"),
    );
}

/// An HTTP server that answers 404 or 200 instead of an upgrade: one line with the status, exit 6.
#[tokio::test]
async fn an_http_answer_that_is_not_an_upgrade_is_one_line_with_its_status_and_exit_6() {
    for (answer, status) in [
        (
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\
             connection: close\r\n\r\nnot found",
            404,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 20\r\n\
             connection: close\r\n\r\n<html>a page</html>\n",
            200,
        ),
    ] {
        let port = fake_http(answer).await;
        let url = format!("ws://127.0.0.1:{port}");
        let run = run_client(&[&url, "--name", "ana"], "hi\n").await;
        assert_run(
            &run,
            6,
            "",
            &format!(
                "error: cannot connect to {url}: it answered HTTP {status} instead of a WebSocket \
                 upgrade (is this a chat server, and is the path a room name?)"
            ),
        );
    }
}

/// Issue 16, item 13: an answer that is not HTTP at all is called that, not
/// "HTTP 0": one line, exit 6.
#[tokio::test]
async fn issue_16_an_answer_that_is_not_http_is_one_line_saying_so_and_exit_6() {
    let port =
        fake_http("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nInvalid SSH identification string.\r\n\r\n")
            .await;
    let url = format!("ws://127.0.0.1:{port}");
    let run = run_client(&[&url, "--name", "ana"], "hi\n").await;
    assert_run(
        &run,
        6,
        "",
        &format!(
            "error: cannot connect to {url}: it answered with something that is not HTTP \
             (is it a chat server, and on this port?)"
        ),
    );
}

/// A script asking for a taken name exits 8 with one exact line, and posts nothing under another name.
#[tokio::test]
async fn a_taken_name_stops_a_script_with_exit_8_and_nothing_posted() {
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let port = server.port.to_string();
    // Several at once: whether the line could slip out before the refusal
    // is read is a race inside the client, so give it several chances.
    let args = ["--port", port.as_str(), "--name", "bo"];
    let runs = join_all((0..8).map(|_| run_client(&args, "posted anyway\n"))).await;
    for run in &runs {
        assert_run(
            run,
            8,
            "",
            "error: the name 'bo' is taken on this server; choose another with --name",
        );
    }

    // A marker from someone else: every message before it has been delivered.
    let (mut cy, _) = server.join("cy", "lobby").await;
    cy.send("marker").await;
    let mut said = Vec::new();
    within("cy's marker", async {
        loop {
            if let message @ Event::Message { .. } = bo.next_event().await {
                let marker = matches!(&message, Event::Message { text, .. } if text == "marker");
                said.push(untimed(message));
                if marker {
                    break;
                }
            }
        }
    })
    .await;
    assert_eq!(said, [message(1, "lobby", "cy", "marker")]);
}

/// A server killed mid-session makes a `--no-reconnect` client print the lost-connection line and exit 9.
#[tokio::test]
async fn a_killed_server_makes_a_no_reconnect_client_exit_9() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--no-reconnect"]);
    ana.wait_for_line("-> ana joined lobby").await;
    server.signal("KILL");
    // Its stdin is still open: only the lost connection can end it.
    let run = ana.exit().await;
    assert_run(
        &run,
        9,
        "",
        &format!("error: lost the connection to ws://127.0.0.1:{port}: the server went away"),
    );
}

/// A server shutting down (close 1001) makes a `--no-reconnect` client print why and exit 9.
#[tokio::test]
async fn a_server_shutting_down_makes_a_no_reconnect_client_exit_9() {
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--no-reconnect"]);
    ana.wait_for_line("-> ana joined lobby").await;
    server.signal("TERM");
    let run = ana.exit().await;
    // 1001 means the server means to come back: a lost connection (which
    // would be retried without --no-reconnect), not a final close.
    assert_run(
        &run,
        9,
        "",
        &format!(
            "error: lost the connection to ws://127.0.0.1:{port}: \
             server shutting down (close code 1001)"
        ),
    );
}

// ---------------------------------------------------------------------------
// `localhost` is both loopback addresses, whatever /etc/hosts says.
// ---------------------------------------------------------------------------

/// A client aimed at `ws://localhost:PORT` of `server`, with `hosts` as its
/// /etc/hosts, chats: it prints the welcome, its arrival and its line, and
/// exits 0 with nothing on stderr.
async fn assert_localhost_chats(hosts: &str, server: &TestServer) {
    let url = format!("ws://localhost:{}", server.port);
    let run = run_command(client_with_hosts(hosts, &[&url, "--name", "ana"]), "hi\n").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hi\n",
            welcome_lines("ana", "lobby")
        )
    );
}

/// `ws://localhost:PORT` reaches a server on `::1` where localhost is both `::1` and `127.0.0.1`.
#[tokio::test]
async fn localhost_reaches_a_server_listening_on_ipv6_loopback() {
    require_unshare("-m");
    let dir = TempDir::new();
    let hosts = dir.write("hosts", "::1 localhost\n127.0.0.1 localhost\n");
    let server = TestServer::start_on("::1", 0, &[]).await;
    assert_localhost_chats(&hosts, &server).await;
}

/// `ws://localhost:PORT` reaches a server on `127.0.0.1` where localhost is both `::1` and `127.0.0.1`.
#[tokio::test]
async fn localhost_reaches_a_server_listening_on_ipv4_loopback() {
    require_unshare("-m");
    let dir = TempDir::new();
    // ::1 first, as resolvers order them: the client must go on to the next address.
    let hosts = dir.write("hosts", "::1 localhost\n127.0.0.1 localhost\n");
    let server = TestServer::start(&[]).await;
    assert_localhost_chats(&hosts, &server).await;
}

/// `ws://localhost:PORT` reaches a server on `::1` even where /etc/hosts names localhost `127.0.0.1` only.
#[tokio::test]
async fn issue_18_localhost_reaches_ipv6_loopback_when_hosts_names_only_ipv4() {
    // Issue 18 ("The terminal client in daily use"), bug 6: common in containers.
    require_unshare("-m");
    let dir = TempDir::new();
    let hosts = dir.write("hosts", "127.0.0.1 localhost\n");
    let server = TestServer::start_on("::1", 0, &[]).await;
    assert_localhost_chats(&hosts, &server).await;
}

/// `--no-history` skips the history a room replays on entering it, for a
/// one-shot sender and a `--json` bot alike; the live events still come.
/// The client drops it: the server has no way to ask for no history (a
/// `since` past the newest id replays it all, as after a restart).
#[tokio::test]
async fn issue_18_no_history_skips_the_replayed_history() {
    // Issue 18, "Rough edges to smooth": scripts.
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    bo.send("said before").await;
    let port = server.port.to_string();

    let run = run_client(&["--port", &port, "--name", "ana", "--no-history"], "hi\n").await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{}-> ana joined lobby\nana: hi\n",
            welcome_lines("ana", "lobby")
        )
    );

    let run = run_client(
        &["--port", &port, "--name", "cy", "--no-history", "--json"],
        "",
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert!(
        !run.events()
            .iter()
            .any(|e| matches!(e, Event::Message { text, .. } if text == "said before")),
        "{}",
        run.stdout
    );
    let run = run_client(&["--port", &port, "--name", "dee", "--json"], "").await;
    assert!(
        run.stdout.contains("said before"),
        "without the flag it is there"
    );
}

/// `--json` prints each event as the server wrote it, in its key order.
#[tokio::test]
async fn issue_18_json_keeps_the_servers_key_order() {
    // Issue 18, "Rough edges to smooth": scripts.
    let welcome = Event::Welcome {
        motd: "motd".to_owned(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: default_limits(),
        people: None,
        topic: None,
    };
    let unordered = r#"{"type":"who","room":"lobby","names":["ana"],"count":1,"more":false}"#;
    let (port, fake) = fake_chat_server_frames(vec![
        Message::text(welcome.to_json()),
        Message::text(unordered),
    ])
    .await;
    let run = run_client(
        &[&format!("127.0.0.1:{port}"), "--name", "ana", "--json"],
        "",
    )
    .await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("{}\n{unordered}\n", welcome.to_json()),
        "not sorted (names, room, type)"
    );
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}

/// `--listen` reads nothing (its input may be closed) and prints every
/// event until interrupted, which exits 0.
#[tokio::test]
async fn issue_18_listen_reads_nothing_and_prints_everything() {
    // Issue 18, "Rough edges to smooth": scripts.
    let server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut log = RunningClient::start(&["--port", &port, "--name", "log", "--json", "--listen"]);
    log.close_input();
    let (mut bo, _) = server.join("bo", "lobby").await;
    bo.send("for the log").await;
    loop {
        let line = log.next_line().await;
        if line.contains("for the log") {
            assert!(
                matches!(parse_event(&line), Event::Message { .. }),
                "{line}"
            );
            break;
        }
    }
    log.interrupt();
    let run = log.exit().await;
    assert_eq!(run.status.code(), Some(0), "{:?}", log.statuses);
}

/// A piped client whose input has ended, and whose server went away with
/// lines still to send, gives up after a bounded time with status 9
/// rather than retrying for ever.
#[tokio::test]
async fn issue_18_a_script_with_its_input_ended_gives_up_on_a_server_gone_for_good() {
    // Issue 18, "Rough edges to smooth": scripts.
    let mut server = TestServer::start(&[]).await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana"]);
    ana.wait_for_line("-> ana joined lobby").await;
    server.signal("KILL");
    let _ = server.wait().await;
    let lost = ana.next_status().await;
    assert!(lost.starts_with("-- connection lost"), "{lost}");
    ana.type_line("never sent").await;
    ana.close_input();
    let started = std::time::Instant::now();
    let run = ana.exit().await;
    assert_eq!(run.status.code(), Some(9), "{:?}", ana.statuses);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let last = ana.statuses.last().expect("an error line");
    assert!(
        last.starts_with("error: lost the connection to ws://127.0.0.1:")
            && last.contains("gave up"),
        "{last}"
    );
}
