//! The real `client` binary coming back by itself: a connection cut by a TCP
//! proxy while the server stays up, a server restarted on the same port, a
//! resume past what history still holds (a gap), `--no-reconnect`, Ctrl-C
//! while retrying, a name still held by the dropped connection, and a client
//! stopped past the server's ping timeout.
//!
//! The client prints events on stdout and its status lines (connection lost,
//! reconnected) on stderr; both are recorded, and each test compares the
//! whole of them with the exact lines expected. The proxy reports every
//! connection it accepts with its request line, so the tests see what each
//! reconnection asked for (name, room, `since`).

use std::time::{Duration, Instant};

use chat::protocol::Event;

use crate::support::client::RunningClient;
use crate::support::proxy::Proxy;
use crate::support::{Endpoint, TIMEOUT, TestServer, WsClient, within};

/// The welcome lines the client prints for `name` in `room` with the default MOTD.
fn welcome(name: &str, room: &str) -> [String; 2] {
    [
        "Welcome to chat! Type a message".to_owned(),
        format!("you are {name} in {room}; type /help for commands"),
    ]
}

/// The client's retry notice after the `nth` refused attempt in a row (from
/// 0) on `port`; it tells the ceiling of the pause that follows, which
/// doubles from a quarter second to 10 s (rounded: 1, 1, 2, 4, 8, 10...).
/// How long each pause is, being random under that ceiling, is not told.
fn refused_retry(port: u16, nth: usize) -> String {
    let secs = [1, 1, 2, 4, 8, 10][nth.min(5)];
    format!(
        "-- retrying in about {secs}s: cannot connect to ws://127.0.0.1:{port}: connection refused \
         (is the server running, and on port {port}? otherwise pass --port)"
    )
}

/// The status line for a connection the proxy cut (the client sees the
/// stream end without a close frame).
const LOST_BY_CUT: &str = "-- connection lost (the server went away); reconnecting";
const RECONNECTED: &str = "-- reconnected";

// ---------------------------------------------------------------------------
// The observers
// ---------------------------------------------------------------------------

/// A WebSocket client in a room, recording every event after its welcome as
/// the text line a person would read.
struct Observer {
    name: String,
    ws: WsClient,
    seen: Vec<String>,
}

impl Observer {
    /// Joins `room` as `name` on `server`; records what comes after its own
    /// arrival.
    async fn join(server: &Endpoint, name: &str, room: &str) -> Self {
        let (ws, first) = server.join(name, room).await;
        assert!(
            matches!(&first, Event::Welcome { name: n, .. } if n == name),
            "first frame: {first:?}"
        );
        let mut observer = Self {
            name: name.to_owned(),
            ws,
            seen: Vec::new(),
        };
        observer.wait_for(&format!("-> {name} joined {room}")).await;
        observer.seen.clear();
        observer
    }

    /// Reads events until the line `wanted`. Any message under a guest name
    /// fails the test: every client here asked for a name.
    async fn wait_for(&mut self, wanted: &str) {
        let waited = tokio::time::timeout(TIMEOUT, async {
            loop {
                let event = self.ws.next_event().await;
                if let Event::Message { from, .. } | Event::Action { from, .. } = &event {
                    assert!(
                        !from.starts_with("guest-"),
                        "a client posted under a guest name: {event:?}; seen before: {:#?}",
                        self.seen
                    );
                }
                self.seen.push(event.render_text());
                if self.seen.last().is_some_and(|l| l == wanted) {
                    return;
                }
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{} did not see {wanted:?}; seen: {:#?}",
            self.name,
            self.seen
        );
    }

    /// Reads (and records) events until `deadline`, answering the server's
    /// pings meanwhile.
    async fn read_until(&mut self, deadline: tokio::time::Instant) {
        while let Ok(event) = tokio::time::timeout_at(deadline, self.ws.next_event()).await {
            self.seen.push(event.render_text());
        }
    }

    /// Says `text` and waits for the server's copy (so it is in history).
    async fn say(&mut self, text: &str) {
        self.ws.send(text).await;
        self.wait_for(&format!("{}: {text}", self.name)).await;
    }
}

fn lines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|&l| l.to_owned()).collect()
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

/// A cut connection returns as the same name and room and prints what was said meanwhile once.
#[tokio::test]
async fn a_cut_connection_comes_back_as_the_same_person_and_prints_what_was_missed_once() {
    let server = TestServer::start(&[]).await;
    let mut proxy = Proxy::start(server.port).await;
    let mut obs = Observer::join(&server, "obs", "rust").await;
    let port = proxy.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--room", "rust"]);
    assert_eq!(
        proxy.next_connection().await,
        "GET /rust?name=ana&format=json HTTP/1.1"
    );
    ana.wait_for_line("-> ana joined rust").await;
    obs.wait_for("-> ana joined rust").await;
    obs.say("one").await;
    ana.wait_for_line("obs: one").await;
    ana.type_line("two").await;
    ana.wait_for_line("ana: two").await;
    obs.wait_for("ana: two").await;

    // The reconnection is held at the proxy until the others have spoken.
    proxy.hold_new();
    proxy.cut();
    assert_eq!(ana.next_status().await, LOST_BY_CUT);
    obs.wait_for("<- ana left rust (disconnected)").await;
    assert_eq!(
        proxy.next_connection().await,
        "GET /rust?name=ana&since=2&format=json HTTP/1.1",
        "the reconnection asks for the same name and room, after the last id shown (2)"
    );
    for text in ["three", "four", "five"] {
        obs.say(text).await;
    }
    proxy.forward_new();
    assert_eq!(ana.next_status().await, RECONNECTED);
    ana.wait_for_line("-> ana joined rust").await;
    obs.wait_for("-> ana joined rust").await;

    obs.say("six").await;
    ana.wait_for_line("obs: six").await;
    ana.type_line("seven").await;
    obs.wait_for("ana: seven").await;
    let status = ana.finish().await.status;
    assert!(status.success(), "{status:?}");
    obs.wait_for("<- ana left rust (quit)").await;

    let [motd, you_are] = welcome("ana", "rust");
    assert_eq!(
        ana.printed,
        lines(&[
            &motd,
            &you_are,
            "-> ana joined rust",
            "obs: one",
            "ana: two",
            "obs: three",
            "obs: four",
            "obs: five",
            "-> ana joined rust",
            "obs: six",
            "ana: seven",
        ])
    );
    assert_eq!(ana.statuses, lines(&[LOST_BY_CUT, RECONNECTED]));
    assert_eq!(ana.timed, 2, "a script's status lines say when (issue 18)");
    assert_eq!(
        obs.seen,
        lines(&[
            "-> ana joined rust",
            "obs: one",
            "ana: two",
            "<- ana left rust (disconnected)",
            "obs: three",
            "obs: four",
            "obs: five",
            "-> ana joined rust",
            "obs: six",
            "ana: seven",
            "<- ana left rust (quit)",
        ])
    );
    assert_eq!(proxy.accepted_since(), Vec::<String>::new());
}

/// After a restart on the same port the client returns, sees the new history whole, and chats.
#[tokio::test]
async fn after_a_server_restart_on_the_same_port_the_client_comes_back_and_chats() {
    let mut server = TestServer::start(&[]).await;
    let port = server.port;
    let mut obs = Observer::join(&server, "obs", "lobby").await;
    let mut ana = RunningClient::start(&["--port", &port.to_string(), "--name", "ana"]);
    ana.wait_for_line("-> ana joined lobby").await;
    obs.wait_for("-> ana joined lobby").await;
    obs.say("hello").await;
    ana.wait_for_line("obs: hello").await;
    ana.type_line("before").await;
    ana.wait_for_line("ana: before").await;
    // Alone in the room at the restart, so that no leave races the shutdown.
    obs.ws.send("/quit").await;
    ana.wait_for_line("<- obs left lobby (quit)").await;

    server.signal("TERM");
    assert!(server.wait().await.success());
    assert_eq!(
        ana.next_status().await,
        "-- connection lost (server shutting down (close code 1001)); reconnecting"
    );
    assert_eq!(ana.next_status().await, refused_retry(port, 0));
    // Stopped, the client cannot come back before someone has spoken on the
    // new server, however its random pauses fall (a pause may be a tenth of
    // its ceiling). Resumed, it retries at once or at the end of its pause.
    ana.signal("STOP");
    let new_server = TestServer::start_on("127.0.0.1", port, &[]).await;
    assert_eq!(
        new_server.url,
        format!("ws://127.0.0.1:{port}"),
        "the server could not start again on port {port}"
    );
    let mut obs = Observer::join(&new_server, "obs", "lobby").await;
    obs.say("after restart").await;
    assert_eq!(obs.seen, lines(&["obs: after restart"]));
    ana.signal("CONT");

    // Refused attempts made before the stop, each told with the ceiling of
    // the pause after it, then the return.
    let mut refused = vec![refused_retry(port, 0)];
    let status = loop {
        let status = ana.next_status().await;
        if status != refused_retry(port, refused.len()) {
            break status;
        }
        refused.push(status);
    };
    assert_eq!(status, RECONNECTED, "after {refused:?}");
    ana.wait_for_line("-> ana joined lobby").await;
    obs.wait_for("-> ana joined lobby").await;
    ana.type_line("typed after restart").await;
    obs.wait_for("ana: typed after restart").await;
    obs.say("said after restart").await;
    ana.wait_for_line("obs: said after restart").await;
    let status = ana.finish().await.status;
    assert!(status.success(), "{status:?}");

    let [motd, you_are] = welcome("ana", "lobby");
    assert_eq!(
        ana.printed,
        lines(&[
            &motd,
            &you_are,
            "-> ana joined lobby",
            "obs: hello",
            "ana: before",
            "<- obs left lobby (quit)",
            // The new server's ids start again at 1, below our `since` (2):
            // its whole history, with no gap.
            "obs: after restart",
            "-> ana joined lobby",
            "ana: typed after restart",
            "obs: said after restart",
        ])
    );
    let mut statuses =
        lines(&["-- connection lost (server shutting down (close code 1001)); reconnecting"]);
    statuses.extend(refused);
    statuses.push(RECONNECTED.to_owned());
    assert_eq!(ana.statuses, statuses);
}

/// With `--history 3`, ten messages said while away print as the last three and "7 missed".
#[tokio::test]
async fn messages_gone_from_history_while_away_are_shown_as_a_gap() {
    let server = TestServer::start(&["--history", "3"]).await;
    let mut proxy = Proxy::start(server.port).await;
    let mut obs = Observer::join(&server, "obs", "lobby").await;
    let port = proxy.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana"]);
    proxy.next_connection().await;
    ana.wait_for_line("-> ana joined lobby").await;
    obs.say("m0").await;
    ana.wait_for_line("obs: m0").await;

    proxy.hold_new();
    proxy.cut();
    assert_eq!(ana.next_status().await, LOST_BY_CUT);
    obs.wait_for("<- ana left lobby (disconnected)").await;
    assert_eq!(
        proxy.next_connection().await,
        "GET /lobby?name=ana&since=1&format=json HTTP/1.1"
    );
    for n in 1..=10 {
        obs.say(&format!("m{n}")).await;
    }
    proxy.forward_new();
    assert_eq!(ana.next_status().await, RECONNECTED);
    ana.wait_for_line("-> ana joined lobby").await;
    let status = ana.finish().await.status;
    assert!(status.success(), "{status:?}");

    let [motd, you_are] = welcome("ana", "lobby");
    assert_eq!(
        ana.printed,
        lines(&[
            &motd,
            &you_are,
            "-> ana joined lobby",
            "obs: m0",
            // History keeps ids 9 to 11 (m8 to m10); 2 to 8 (m1 to m7) are gone.
            "obs: m8",
            "obs: m9",
            "obs: m10",
            "... 7 messages missed",
            "-> ana joined lobby",
        ])
    );
    assert_eq!(ana.statuses, lines(&[LOST_BY_CUT, RECONNECTED]));
}

/// `--no-reconnect`: a dropped connection is one stderr line and exit 9, with no retry.
#[tokio::test]
async fn no_reconnect_makes_a_dropped_connection_exit_9_without_retrying() {
    let server = TestServer::start(&[]).await;
    let mut proxy = Proxy::start(server.port).await;
    let mut ana = RunningClient::start(&[
        "--port",
        &proxy.port.to_string(),
        "--name",
        "ana",
        "--no-reconnect",
    ]);
    proxy.next_connection().await;
    ana.wait_for_line("-> ana joined lobby").await;

    proxy.cut();
    let status = ana.exit().await.status;
    assert_eq!(status.code(), Some(9), "stderr: {:?}", ana.statuses);
    assert_eq!(
        ana.statuses,
        [format!(
            "error: lost the connection to ws://127.0.0.1:{}: the server went away",
            proxy.port
        )]
    );
    let [motd, you_are] = welcome("ana", "lobby");
    assert_eq!(
        ana.printed,
        lines(&[&motd, &you_are, "-> ana joined lobby"])
    );
    assert_eq!(
        proxy.accepted_since(),
        Vec::<String>::new(),
        "no second connection"
    );
}

/// Ctrl-C while the client retries a server that is gone stops it at once, exit 0.
#[tokio::test]
async fn ctrl_c_while_retrying_exits_0_at_once() {
    let mut server = TestServer::start(&[]).await;
    let port = server.port;
    let mut ana = RunningClient::start(&["--port", &port.to_string(), "--name", "ana"]);
    ana.wait_for_line("-> ana joined lobby").await;
    server.signal("TERM");
    assert!(server.wait().await.success());
    assert_eq!(
        ana.next_status().await,
        "-- connection lost (server shutting down (close code 1001)); reconnecting"
    );
    for nth in 0..4 {
        assert_eq!(ana.next_status().await, refused_retry(port, nth));
    }

    // The client is in a pause of up to 4 s, or already in the next attempt.
    let interrupted = Instant::now();
    ana.interrupt();
    let status = ana.exit().await.status;
    assert_eq!(status.code(), Some(0), "stderr: {:?}", ana.statuses);
    assert!(
        interrupted.elapsed() < Duration::from_secs(2),
        "took {:?} to exit after Ctrl-C",
        interrupted.elapsed()
    );
    // Nothing but refused attempts: no "gave up", no error at the exit.
    let (lost, retries) = ana.statuses.split_first().expect("the lost connection");
    assert_eq!(
        lost,
        "-- connection lost (server shutting down (close code 1001)); reconnecting"
    );
    let expected: Vec<String> = (0..retries.len())
        .map(|nth| refused_retry(port, nth))
        .collect();
    assert_eq!(retries, expected);
    let [motd, you_are] = welcome("ana", "lobby");
    assert_eq!(
        ana.printed,
        lines(&[&motd, &you_are, "-> ana joined lobby"])
    );
}

/// A name still held for the dropped connection is retried until regained, never posting as guest.
#[tokio::test]
async fn a_name_still_held_by_the_dropped_connection_is_waited_for_never_given_up() {
    let server = TestServer::start(&[]).await;
    let mut proxy = Proxy::start(server.port).await;
    let mut obs = Observer::join(&server, "obs", "lobby").await;
    let port = proxy.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana"]);
    assert_eq!(
        proxy.next_connection().await,
        "GET /?name=ana&format=json HTTP/1.1"
    );
    ana.wait_for_line("-> ana joined lobby").await;
    obs.wait_for("-> ana joined lobby").await;

    // The server does not notice: it still has ana.
    proxy.cut_client_side();
    assert_eq!(ana.next_status().await, LOST_BY_CUT);
    // A line typed while away, for the next connection to send.
    ana.type_line("typed while away").await;
    let taken = "-- connection lost (the server still holds the name 'ana' for our dropped \
                 connection); reconnecting";
    let resume = "GET /lobby?name=ana&since=0&format=json HTTP/1.1";
    for attempt in 1..=2 {
        assert_eq!(
            proxy.next_connection().await,
            resume,
            "attempt {attempt} asks for ana again"
        );
        assert_eq!(ana.next_status().await, taken, "attempt {attempt}");
    }

    // The name is free as soon as the server sees the old connection go;
    // its leave is held (issue 16, item 12), so whether the room reads a
    // leave and a join depends on whether the client's backoff brings it
    // back within the hold. Either both or neither, below.
    proxy.release_server_sides();
    let retries = within("the client to get its name back", async {
        let mut retries = 2;
        loop {
            let status = ana.next_status().await;
            if status == RECONNECTED {
                return retries;
            }
            assert_eq!(status, taken);
            retries += 1;
        }
    })
    .await;
    ana.wait_for_line("-> ana joined lobby").await;
    ana.wait_for_line("ana: typed while away").await;
    obs.wait_for("ana: typed while away").await;
    ana.type_line("back").await;
    obs.wait_for("ana: back").await;
    let status = ana.finish().await.status;
    assert!(status.success(), "{status:?}");
    // The refused attempts came and went as guests; ana's own notices
    // after her first join are the pair or nothing.
    let notices: Vec<&str> = obs
        .seen
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("<- ana ") || l.starts_with("-> ana "))
        .collect();
    assert!(
        notices == ["-> ana joined lobby"]
            || notices
                == [
                    "-> ana joined lobby",
                    "<- ana left lobby (disconnected)",
                    "-> ana joined lobby"
                ],
        "{notices:?}"
    );

    let attempts = proxy.accepted_since();
    assert_eq!(
        attempts,
        vec![resume.to_owned(); retries - 1],
        "every later attempt asks for ana"
    );
    let [motd, you_are] = welcome("ana", "lobby");
    assert_eq!(
        ana.printed,
        lines(&[
            &motd,
            &you_are,
            "-> ana joined lobby",
            "-> ana joined lobby",
            "ana: typed while away",
            "ana: back",
        ])
    );
    assert!(
        !obs.seen
            .iter()
            .any(|l| l.starts_with("guest-") || l.starts_with("* guest-")),
        "{:#?}",
        obs.seen
    );
}

/// A client stopped 3.5 s (past two 1 s ping intervals) gets 4000 and, resumed, reconnects, shows what it missed once and chats on: no exit 9.
#[tokio::test]
async fn issue_18_a_client_stopped_past_the_ping_timeout_reconnects_and_resumes() {
    // Issue 18 ("The terminal client in daily use"), bug 3: the server
    // closed with 1008, which the client took as final.
    const STOPPED_FOR: Duration = Duration::from_millis(3500);
    const LOST_UNRESPONSIVE: &str =
        "-- connection lost (unresponsive (close code 4000)); reconnecting";
    let server = TestServer::start(&["--ping-interval", "1"]).await;
    let mut obs = Observer::join(&server, "obs", "rust").await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--room", "rust"]);
    ana.wait_for_line("-> ana joined rust").await;
    obs.wait_for("-> ana joined rust").await;
    obs.say("before").await;
    ana.wait_for_line("obs: before").await;

    // Stopped for 3.5 s, as in the report: the server gives up after two
    // intervals at most. Meanwhile the observer reads on (answering its own
    // pings), sees ana leave, and says something ana will have missed.
    ana.signal("STOP");
    let resume_at = tokio::time::Instant::now() + STOPPED_FOR;
    obs.wait_for("<- ana left rust (timed out)").await;
    obs.say("while away").await;
    obs.read_until(resume_at).await;
    ana.signal("CONT");

    let (lost, ()) = tokio::join!(ana.next_status(), obs.wait_for("-> ana joined rust"));
    assert_eq!(lost, LOST_UNRESPONSIVE);
    assert_eq!(ana.next_status().await, RECONNECTED);
    ana.wait_for_line("-> ana joined rust").await;
    ana.type_line("back").await;
    let ((), ()) = tokio::join!(ana.wait_for_line("ana: back"), obs.wait_for("ana: back"));
    let run = ana.finish().await;
    assert_eq!(run.status.code(), Some(0), "stderr: {:?}", run.stderr);
    obs.wait_for("<- ana left rust (quit)").await;

    let [motd, you_are] = welcome("ana", "rust");
    assert_eq!(
        ana.printed,
        lines(&[
            &motd,
            &you_are,
            "-> ana joined rust",
            "obs: before",
            "obs: while away",
            "-> ana joined rust",
            "ana: back",
        ])
    );
    assert_eq!(ana.statuses, lines(&[LOST_UNRESPONSIVE, RECONNECTED]));
}

/// A fake server for the tests of lines lost with a connection: greets
/// each of two connections as `ana` in lobby, the second one with `replay`
/// before her own join, hands over the text frames it gets, and drops the
/// first connection after its first frame.
///
/// With `replay_pause`, the second connection's replay lasts that long
/// after the welcome (the server tells `welcomed` when it starts), and any
/// frame that arrives meanwhile is handed over as `early: TEXT`.
async fn forgetful_server(
    replay: Vec<String>,
    replay_pause: Option<(Duration, tokio::sync::oneshot::Sender<()>)>,
) -> (u16, tokio::sync::mpsc::Receiver<(usize, String)>) {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_websockets::{Message, ServerBuilder};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding");
    let port = listener.local_addr().expect("address").port();
    let (frames_tx, frames_rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let welcome = r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40}}"#;
        let join = r#"{"type":"join","room":"lobby","name":"ana","ts":1764100000000}"#;
        let mut replay_pause = replay_pause;
        for connection in 1..=2 {
            let (stream, _) = listener.accept().await.expect("the client connects");
            let (_, mut ws) = ServerBuilder::new()
                .accept(stream)
                .await
                .expect("the handshake");
            ws.send(Message::text(welcome)).await.expect("sending");
            if connection == 2
                && let Some((pause, welcomed)) = replay_pause.take()
            {
                let _ = welcomed.send(());
                let deadline = tokio::time::Instant::now() + pause;
                while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, ws.next()).await
                {
                    if let Some(text) = message.as_text() {
                        let _ = frames_tx.send((connection, format!("early: {text}"))).await;
                    }
                }
            }
            if connection == 2 {
                for frame in &replay {
                    ws.send(Message::text(frame.clone()))
                        .await
                        .expect("sending");
                }
            }
            ws.send(Message::text(join)).await.expect("sending");
            while let Some(Ok(message)) = ws.next().await {
                if let Some(text) = message.as_text() {
                    let _ = frames_tx.send((connection, text.to_owned())).await;
                    if connection == 1 {
                        // Taken, never confirmed: the connection drops
                        // without a close frame, as a network does.
                        break;
                    }
                }
            }
        }
    });
    (port, frames_rx)
}

/// A line sent just before the connection dropped, whose copy never came
/// back, is sent again after the resume; unless the replay holds it, which
/// says the server took it.
#[tokio::test]
async fn issue_18_a_line_lost_with_the_connection_is_sent_again_unless_replayed() {
    // Issue 18, "Rough edges to smooth": reconnection.
    for replayed in [false, true] {
        let copy = serde_json::json!({
            "type": "message", "id": 1, "room": "lobby", "from": "ana",
            "text": "lost line", "ts": 1_764_100_000_000_u64,
        });
        let replay = if replayed {
            vec![copy.to_string()]
        } else {
            Vec::new()
        };
        let (port, mut frames) = forgetful_server(replay, None).await;
        let mut ana = RunningClient::start(&["--port", &port.to_string(), "--name", "ana"]);
        ana.wait_for_line("-> ana joined lobby").await;
        ana.type_line("lost line").await;
        assert_eq!(
            within("the first frame", frames.recv()).await,
            Some((1, "lost line".to_owned()))
        );
        ana.wait_for_line("-> ana joined lobby").await;
        ana.type_line("next").await;
        let mut expected = vec![(2, "next".to_owned())];
        if !replayed {
            expected.insert(0, (2, "lost line".to_owned()));
        }
        for wanted in expected {
            assert_eq!(
                within("a frame after the resume", frames.recv()).await,
                Some(wanted),
                "replayed: {replayed}"
            );
        }
    }
}

/// A line typed while a resume's replay is still arriving waits for it:
/// sent at once, it would be unconfirmed at the join and sent again, and
/// it would pass the lost line it was typed after.
#[tokio::test]
async fn issue_18_a_line_typed_during_the_resume_replay_is_sent_once_after_the_lost_one() {
    // Seen as a duplicate in the browser test's restart: the terminal
    // client's line reached the new server twice.
    let (welcomed_tx, welcomed) = tokio::sync::oneshot::channel();
    let (port, mut frames) =
        forgetful_server(Vec::new(), Some((Duration::from_secs(1), welcomed_tx))).await;
    let mut ana = RunningClient::start(&["--port", &port.to_string(), "--name", "ana"]);
    ana.wait_for_line("-> ana joined lobby").await;
    ana.type_line("lost line").await;
    assert_eq!(
        within("the first frame", frames.recv()).await,
        Some((1, "lost line".to_owned()))
    );
    within("the second welcome", welcomed)
        .await
        .expect("the server greets again");
    ana.type_line("typed during the replay").await;
    ana.wait_for_line("-> ana joined lobby").await;
    ana.type_line("next").await;
    for wanted in ["lost line", "typed during the replay", "next"] {
        assert_eq!(
            within("a frame after the resume", frames.recv()).await,
            Some((2, wanted.to_owned()))
        );
    }
}
