//! Issue 19, names that belong to someone: `/register`, `/identify`,
//! `/unregister`, the hold of a registered name asked for in the URL, and
//! the terminal client's `--password-file`.
//!
//! Events are compared whole, with `ts` checked and then zeroed (the
//! builders are in `support::events`).

use chat::protocol::{ErrorCode, Event};
use tokio::process::Command;

use crate::support::client::RunningClient;
use crate::support::events::{
    connect_sending, enter, enter_registered, expect, expect_error, join, leave, message, name_of,
    nick, op, own_join, register_and_quit, registered, say,
};
use crate::support::raw_ws::{RawWs, upgrade_request};
use crate::support::{OP_SECRET, PASSWORD, SERVER, TempDir, TestServer, WsClient};

/// `/identify ana PASSWORD` from another connection makes it ana: the
/// older connection is closed with 4004, its room reads that it left
/// (`signed in elsewhere`) and the rename; the terminal client holding
/// the name stops with exit 9 and says why.
#[tokio::test]
async fn identify_from_another_connection_closes_the_older_one_with_4004() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let mut ana = enter_registered(&server, "ana", false).await;
    expect(&mut bo, join("lobby", "ana")).await;

    let (mut phone, welcome) = server.connect_json("/lobby").await;
    let guest = name_of(&welcome);
    expect(&mut phone, join("lobby", &guest)).await;
    expect(&mut bo, join("lobby", &guest)).await;
    phone.send(&format!("/identify ana {PASSWORD}")).await;

    assert_eq!(
        ana.expect_close().await,
        (4004, "signed in elsewhere".to_owned())
    );
    expect(&mut bo, leave("lobby", "ana", "signed in elsewhere")).await;
    expect(&mut bo, nick("lobby", &guest, "ana")).await;
    expect(&mut phone, leave("lobby", "ana", "signed in elsewhere")).await;
    expect(&mut phone, nick("lobby", &guest, "ana")).await;
    expect(&mut phone, Event::Identified { name: "ana".into() }).await;
    say(&mut phone, 1, "lobby", "ana", "it is me").await;
    expect(&mut bo, message(1, "lobby", "ana", "it is me")).await;

    // The terminal client, signed in as ana, stops when the phone takes
    // the name back.
    let dir = TempDir::new();
    let file = dir.write("password", &format!("{PASSWORD}\n"));
    let mut client =
        RunningClient::start(&[&server.url, "--name", "ana", "--password-file", &file]);
    phone.send("/quit").await;
    client.wait_for_line("-> ana joined lobby").await;
    let (mut again, welcome) =
        connect_sending(&server, "/lobby?name=ana", &format!("/identify {PASSWORD}")).await;
    assert_eq!(name_of(&welcome), "ana");
    own_join(&mut again, "lobby", "ana").await;
    let run = client.exit().await;
    assert_eq!(run.status.code(), Some(9), "{}", run.stderr);
    assert!(
        run.stderr.contains("signed in elsewhere (close code 4004)"),
        "{}",
        run.stderr
    );
}

/// A connection asking for a registered name is held until its first
/// frame, `/identify PASSWORD`: then it joins once, as the name, and the
/// room sees exactly that join: no guest, no rename.
#[tokio::test]
async fn a_registered_name_in_the_url_joins_once_after_identify() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let mut ana = enter_registered(&server, "ana", false).await;
    expect(&mut bo, join("lobby", "ana")).await;
    ana.send("/quit").await;
    expect(&mut bo, leave("lobby", "ana", "quit")).await;

    let (mut ana, welcome) =
        connect_sending(&server, "/lobby?name=ana", &format!("/identify {PASSWORD}")).await;
    assert_eq!(name_of(&welcome), "ana");
    expect(&mut ana, join("lobby", "ana")).await;
    expect(&mut bo, join("lobby", "ana")).await;
    // Nothing else reached the room: bo's next event is bo's own message.
    say(&mut bo, 1, "lobby", "bo", "welcome back").await;
    expect(&mut ana, message(1, "lobby", "bo", "welcome back")).await;

    // `/identify NAME PASSWORD` with the name asked for does the same.
    ana.send("/quit").await;
    expect(&mut bo, leave("lobby", "ana", "quit")).await;
    let (mut ana, welcome) = connect_sending(
        &server,
        "/lobby?name=ana",
        &format!("/identify ANA {PASSWORD}"),
    )
    .await;
    assert_eq!(name_of(&welcome), "ana");
    own_join(&mut ana, "lobby", "ana").await;
}

/// A held connection that says nothing within the handshake timeout, or
/// says something else, enters as a guest with `name_registered`; what it
/// said is then handled as any frame. A wrong password does the same,
/// with `wrong_password` first.
#[tokio::test]
async fn a_held_connection_without_identify_becomes_a_guest() {
    let server = TestServer::start(&["--handshake-timeout", "1"]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let mut ana = enter_registered(&server, "ana", false).await;
    expect(&mut bo, join("lobby", "ana")).await;
    ana.send("/quit").await;
    expect(&mut bo, leave("lobby", "ana", "quit")).await;

    // Silent: the timeout.
    let (mut silent, welcome) = server.connect_json("/lobby?name=ana").await;
    let guest = name_of(&welcome);
    assert!(guest.starts_with("guest-"), "{guest}");
    expect_error(
        &mut silent,
        ErrorCode::NameRegistered,
        &format!(
            "the name 'ana' is registered; you are {guest} (/identify ana PASSWORD if it is yours, or /nick NAME to pick another)"
        ),
    )
    .await;
    expect(&mut silent, join("lobby", &guest)).await;
    expect(&mut bo, join("lobby", &guest)).await;

    // Talkative: its first frame is said, as the guest, after its join.
    let (mut talker, welcome) = connect_sending(&server, "/lobby?name=ana", "hello").await;
    let guest = name_of(&welcome);
    let next = talker.next_event().await;
    assert!(
        matches!(
            &next,
            Event::Error {
                code: ErrorCode::NameRegistered,
                ..
            }
        ),
        "{next:?}"
    );
    expect(&mut talker, join("lobby", &guest)).await;
    expect(&mut talker, message(1, "lobby", &guest, "hello")).await;

    // Wrong: told so, then the same.
    let (mut wrong, welcome) =
        connect_sending(&server, "/lobby?name=ana", "/identify not-the-password").await;
    let guest = name_of(&welcome);
    expect_error(
        &mut wrong,
        ErrorCode::WrongPassword,
        "wrong password for 'ana'",
    )
    .await;
    let next = wrong.next_event().await;
    assert!(
        matches!(
            &next,
            Event::Error {
                code: ErrorCode::NameRegistered,
                ..
            }
        ),
        "{next:?}"
    );
    own_join(&mut wrong, "lobby", &guest).await;
}

/// `/nick` to a registered name (in any letter case) is refused the same
/// way; its owner may change its letter case.
#[tokio::test]
async fn nick_to_a_registered_name_is_refused() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter_registered(&server, "ana", false).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    ana.send("/quit").await;
    expect(&mut bo, leave("lobby", "ana", "quit")).await;
    bo.send("/nick Ana").await;
    expect_error(
        &mut bo,
        ErrorCode::NameRegistered,
        "the name 'Ana' is registered; /identify Ana PASSWORD if it is yours, or pick another",
    )
    .await;

    let (mut ana, _) =
        connect_sending(&server, "/lobby?name=ana", &format!("/identify {PASSWORD}")).await;
    expect(&mut ana, join("lobby", "ana")).await;
    expect(&mut bo, join("lobby", "ana")).await;
    ana.send("/nick Ana").await;
    expect(&mut ana, nick("lobby", "ana", "Ana")).await;
}

/// Five wrong passwords for a name in a minute, then `rate_limited`, even
/// for the right one.
#[tokio::test]
async fn five_wrong_passwords_then_rate_limited() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter_registered(&server, "ana", false).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    for n in 1..=5 {
        bo.send(&format!("/identify ana guess-{n}")).await;
        expect_error(
            &mut bo,
            ErrorCode::WrongPassword,
            "wrong password for 'ana'",
        )
        .await;
    }
    bo.send(&format!("/identify ana {PASSWORD}")).await;
    expect_error(
        &mut bo,
        ErrorCode::RateLimited,
        "too many wrong passwords for 'ana' or from your address; wait a minute",
    )
    .await;
    // ana was never disturbed.
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// Guest names cannot be registered; names nobody registered cannot be
/// identified as.
#[tokio::test]
async fn guest_names_cannot_be_registered() {
    let server = TestServer::start(&[]).await;
    let (mut guest, _) = server.connect_json("/lobby").await;
    guest
        .event_matching("its join", |e| matches!(e, Event::Join { .. }))
        .await;
    guest.send(&format!("/register {PASSWORD}")).await;
    expect_error(
        &mut guest,
        ErrorCode::BadArguments,
        "guest names cannot be registered; /nick NAME to choose your own first",
    )
    .await;
    guest.send(&format!("/identify cy {PASSWORD}")).await;
    expect_error(
        &mut guest,
        ErrorCode::NotRegistered,
        "the name 'cy' is not registered (/register PASSWORD reserves the name you have)",
    )
    .await;
    guest.send("/register short").await;
    expect_error(
        &mut guest,
        ErrorCode::BadArguments,
        "a password is 8 to 128 bytes without spaces; choose another",
    )
    .await;
}

/// At most three names per address.
#[tokio::test]
async fn an_address_registers_three_names_at_most() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    for name in ["ana1", "ana2", "ana3"] {
        ana.send(&format!("/nick {name}")).await;
        ana.event_matching("the nick", |e| matches!(e, Event::Nick { .. }))
            .await;
        ana.send(&format!("/register {PASSWORD}")).await;
        expect(&mut ana, registered(name, false, false)).await;
    }
    // Again: a new password, not a new registration.
    ana.send(&format!("/register {PASSWORD}-2")).await;
    expect(&mut ana, registered("ana3", false, true)).await;
    ana.send("/nick ana4").await;
    ana.event_matching("the nick", |e| matches!(e, Event::Nick { .. }))
        .await;
    ana.send(&format!("/register {PASSWORD}")).await;
    expect_error(
        &mut ana,
        ErrorCode::TooManyRegistrations,
        "at most 3 names may be registered from one address; /unregister one of yours first",
    )
    .await;
}

/// `/unregister` frees one's own name; an operator may free anyone's, and
/// its holder is told; anyone else is refused.
#[tokio::test]
async fn unregister_own_and_by_an_operator() {
    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let mut ana = enter_registered(&server, "ana", false).await;
    ana.send("/unregister").await;
    expect(
        &mut ana,
        Event::Unregistered {
            name: "ana".into(),
            by: "ana".into(),
        },
    )
    .await;
    ana.send("/unregister").await;
    expect_error(
        &mut ana,
        ErrorCode::NotRegistered,
        "the name 'ana' is not registered",
    )
    .await;

    ana.send(&format!("/register {PASSWORD}")).await;
    expect(&mut ana, registered("ana", false, false)).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    bo.send("/unregister ana").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may unregister someone else's name; see /op",
    )
    .await;
    op(&mut bo, "bo").await;
    bo.send("/unregister ana").await;
    let freed = Event::Unregistered {
        name: "ana".into(),
        by: "bo".into(),
    };
    expect(&mut bo, freed.clone()).await;
    expect(&mut ana, freed).await;
    // Free for anyone now.
    ana.send("/quit").await;
    expect(&mut bo, leave("lobby", "ana", "quit")).await;
    bo.send("/nick ana").await;
    expect(&mut bo, nick("lobby", "bo", "ana")).await;
}

/// With `--data-dir` registrations survive a restart, and `/register` says
/// so; guest numbering skips a registered name (one saved before guest
/// names were refused, written here into the file).
#[tokio::test]
async fn registrations_survive_a_restart_with_a_data_dir() {
    let dir = TempDir::new();
    let data = dir.path("data");
    let mut server = TestServer::start(&["--data-dir", &data]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send(&format!("/register {PASSWORD}")).await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"registered","name":"ana","durable":true,"changed":false}"#
    );
    drop(ana);
    stop(&mut server).await;

    let db = rusqlite::Connection::open(format!("{data}/chat.db")).unwrap();
    db.execute(
        "INSERT INTO registered_names (key, name, hash, address)
         SELECT 'guest-1', 'guest-1', hash, '10.1.1.1' FROM registered_names",
        [],
    )
    .unwrap();
    drop(db);

    // A short hold: the stranger below waits it out.
    let server = TestServer::start(&["--data-dir", &data, "--handshake-timeout", "1"]).await;
    let (mut anon, welcome) = server.connect_json("/lobby").await;
    assert_eq!(name_of(&welcome), "guest-2", "guest-1 is registered");
    anon.event_matching("its join", |e| matches!(e, Event::Join { .. }))
        .await;
    let (mut stranger, welcome) = server.connect_json("/lobby?name=ana").await;
    assert_eq!(name_of(&welcome), "guest-3");
    let next = stranger.next_event().await;
    assert!(
        matches!(
            &next,
            Event::Error {
                code: ErrorCode::NameRegistered,
                ..
            }
        ),
        "{next:?}"
    );
    let (_ana, welcome) =
        connect_sending(&server, "/lobby?name=ana", &format!("/identify {PASSWORD}")).await;
    assert_eq!(name_of(&welcome), "ana");
}

/// The terminal client with `--password-file` identifies by itself on
/// every connection: after a restart of the server it is ana again, and
/// the room reads one join, never a guest.
#[tokio::test]
async fn the_client_identifies_by_itself_after_a_restart() {
    let dir = TempDir::new();
    let data = dir.path("data");
    let file = dir.write("password", &format!("{PASSWORD}\n"));
    let mut server = TestServer::start(&["--data-dir", &data]).await;
    let port = server.port.to_string();
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send(&format!("/register {PASSWORD}")).await;
    ana.next_event().await;
    ana.send("/quit").await;
    ana.expect_close().await;

    let mut client =
        RunningClient::start(&[&server.url, "--name", "ana", "--password-file", &file]);
    client.wait_for_line("-> ana joined lobby").await;
    stop(&mut server).await;
    let server =
        TestServer::start_on("127.0.0.1", port.parse().unwrap(), &["--data-dir", &data]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    // The client comes back by itself, as ana, whether before or after bo.
    loop {
        bo.send("/who").await;
        let who = bo
            .event_matching("the who", |e| matches!(e, Event::Who { .. }))
            .await;
        let Event::Who { names, .. } = who else {
            unreachable!()
        };
        assert!(names.iter().all(|n| !n.starts_with("guest-")), "{names:?}");
        if names.contains(&"ana".to_owned()) {
            break;
        }
        bo.event_matching(
            "ana's join",
            |e| matches!(e, Event::Join { name, .. } if name == "ana"),
        )
        .await;
    }
    client.close_input();
    let run = client.exit().await;
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
}

/// Passwords never reach the log, even at debug: registered, changed,
/// right and wrong, in the hold and by command.
#[tokio::test]
async fn no_password_is_logged() {
    let mut env = Command::new("env");
    env.args(["RUST_LOG=debug", SERVER]);
    let mut server = TestServer::start_through(env, &["--handshake-timeout", "2"]).await;
    let mut ana = enter_registered(&server, "ana", false).await;
    ana.send("/register second-secret").await;
    expect(&mut ana, registered("ana", false, true)).await;
    ana.send("/identify ana third-guess").await;
    expect_error(
        &mut ana,
        ErrorCode::WrongPassword,
        "wrong password for 'ana'",
    )
    .await;
    ana.send("/quit").await;
    ana.expect_close().await;
    let (mut again, welcome) =
        connect_sending(&server, "/lobby?name=ana", "/identify second-secret").await;
    assert_eq!(name_of(&welcome), "ana");
    again.send("/quit").await;
    again.expect_close().await;
    stop(&mut server).await;
    let log = server.log().await;
    assert!(log.contains("registered a name"), "{log}");
    for secret in [PASSWORD, "second-secret", "third-guess"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

async fn stop(server: &mut TestServer) {
    server.signal("TERM");
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0), "the server's exit after SIGTERM");
}

/// A password sent over a connection that is neither TLS nor loopback
/// (here: forwarded by a trusted proxy for a remote address) gets the
/// `insecure` warning before the answer.
#[tokio::test]
async fn a_password_over_a_plain_remote_connection_gets_a_warning() {
    let server = TestServer::start(&["--trusted-proxy", "127.0.0.1/32"]).await;
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut raw = RawWs {
        stream,
        buf: Vec::new(),
        pings_answered: 0,
    };
    let request = upgrade_request(&server, "/lobby?name=ana&format=json").replacen(
        "\r\n\r\n",
        "\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n",
        1,
    );
    raw.write(request.as_bytes()).await;
    let head = raw.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(matches!(raw.next_event().await, Event::Welcome { .. }));
    assert!(matches!(raw.next_event().await, Event::Join { .. }));
    raw.send_text(&format!("/register {PASSWORD}")).await;
    assert_eq!(
        raw.next_event().await,
        Event::error(
            ErrorCode::Insecure,
            "this connection is not encrypted, so your password could be read on its way; use wss:// where the server offers it"
        )
    );
    assert_eq!(raw.next_event().await, registered("ana", false, false));
}

/// A connection held for its `/identify` does not hold up a shutdown: it
/// is closed with 1001 like everyone, and the server exits at once rather
/// than after the handshake timeout.
#[tokio::test]
async fn a_held_connection_is_closed_at_shutdown() {
    let mut server = TestServer::start(&["--handshake-timeout", "30"]).await;
    register_and_quit(&server, "ana", false).await;
    let url = server.url_for("/lobby?name=ana&format=json");
    let mut held = WsClient::connect(&url).await;
    let started = std::time::Instant::now();
    server.signal("TERM");
    assert_eq!(held.expect_close().await.0, 1001);
    assert_eq!(server.wait().await.code(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the shutdown waited {:?} for the held connection",
        started.elapsed()
    );
}
