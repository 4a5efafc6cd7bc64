//! The real `client` binary on pipes: what it sends, what it prints, its URL
//! forms and flags, and its one-line errors.

use chat::protocol::{Event, LimitsInfo};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::Message;

use crate::support::{RunningClient, TestServer, run_client, within};

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
    let status = bo.finish().await;
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
            "error: cannot connect to ws://127.0.0.1:{port}: the server wants a token \
             (add ?token=SECRET to the URL; ask its operator)\n"
        )
    );
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
    let status = within("the client to exit after /quit", ana.child.wait())
        .await
        .expect("waiting for the client");
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
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a port");
    let port = listener.local_addr().expect("the bound address").port();
    let welcome = Event::Welcome {
        motd: "\u{1b}[2Jmotd\u{7}".to_owned(),
        name: "ana".to_owned(),
        room: "lobby".to_owned(),
        history: 100,
        limits: LimitsInfo {
            max_message_bytes: 65536,
            per_second: 20,
            burst: 40,
        },
    };
    let message = Event::Message {
        id: 1,
        room: "lobby".to_owned(),
        from: "e\u{1b}[31mve".to_owned(),
        text: "\u{1b}]0;pwned\u{7}hi\u{202e}".to_owned(),
        ts: 1,
    };
    let fake = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accepting the client");
        let (_request, mut ws) = tokio_websockets::ServerBuilder::new()
            .accept(stream)
            .await
            .expect("the client's handshake");
        for event in [welcome, message] {
            ws.send(Message::text(event.to_json()))
                .await
                .expect("sending an event");
        }
        while let Some(Ok(_)) = ws.next().await {}
    });

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
    let status = ana.finish().await;
    assert!(status.success(), "{status:?}");
    within("the fake server to end", fake)
        .await
        .expect("the fake server task");
}
