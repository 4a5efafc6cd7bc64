//! The two renderings of every event the server sends, byte for byte: JSON
//! objects for programs, text lines for people and generic tools.

use std::time::{SystemTime, UNIX_EPOCH};

use chat::protocol::Event;
use futures_util::SinkExt;
use tokio_websockets::Message;

use crate::support::events::parse_event;
use crate::support::{TestServer, WsClient, within};

/// The server's default welcome text.
const MOTD: &str = "Welcome to chat! Type a message";

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("a 64-bit time")
}

/// Asserts that `frame` is exactly `expected` once the `TS` in `expected` is
/// replaced by the frame's own `ts`, which must be a Unix time in milliseconds
/// from the last minute.
fn assert_json_with_ts(frame: &str, expected: &str) {
    assert!(expected.contains(r#""ts":TS"#), "no TS in {expected}");
    let value: serde_json::Value =
        serde_json::from_str(frame).unwrap_or_else(|err| panic!("not JSON ({err}): {frame}"));
    let ts = value["ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric ts in {frame}"));
    let now = now_ms();
    assert!(
        ts <= now && now - ts < 60_000,
        "ts {ts} is not a recent Unix time in ms (now {now}): {frame}"
    );
    assert_eq!(
        frame,
        expected.replace(r#""ts":TS"#, &format!(r#""ts":{ts}"#))
    );
}

/// Reads the next frame and asserts it is exactly `expected` (with its `ts`).
async fn expect_json(client: &mut WsClient, expected: &str) {
    let frame = client.next_text().await;
    assert_json_with_ts(&frame, expected);
}

/// Connects a JSON client named `name` to `room` and reads its welcome and its
/// own join notice, both exactly.
async fn json_client(server: &TestServer, name: &str, room: &str) -> WsClient {
    let (mut client, _) = server.join(name, room).await;
    expect_json(
        &mut client,
        &format!(r#"{{"type":"join","room":"{room}","name":"{name}","ts":TS}}"#),
    )
    .await;
    client
}

/// Connects a text client named `name` to `room` and reads its welcome and
/// its own join line, both exactly.
async fn text_client(server: &TestServer, name: &str, room: &str) -> WsClient {
    let mut client =
        WsClient::connect(&server.url_for(&format!("/{room}?name={name}&format=text"))).await;
    assert_eq!(
        client.next_text().await,
        format!("{MOTD}\nyou are {name} in {room}; type /help for commands")
    );
    assert_eq!(client.next_text().await, format!("-> {name} joined {room}"));
    client
}

/// ana in JSON and bo in text, both in the lobby, with everything so far read.
async fn ana_and_bo(server: &TestServer) -> (WsClient, WsClient) {
    let mut ana = json_client(server, "ana", "lobby").await;
    let bo = text_client(server, "bo", "lobby").await;
    expect_json(
        &mut ana,
        r#"{"type":"join","room":"lobby","name":"bo","ts":TS}"#,
    )
    .await;
    (ana, bo)
}

/// The welcome states the defaults exactly, as one JSON object or as the MOTD
/// and a `you are` line.
#[tokio::test]
async fn welcome_is_exact_in_both_formats_with_the_defaults() {
    let server = TestServer::start(&[]).await;
    let mut ana = WsClient::connect(&server.url_for("/?name=ana&format=json")).await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"welcome","motd":"Welcome to chat! Type a message","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40},"people":1}"#
    );
    let mut bo = WsClient::connect(&server.url_for("/?name=bo&format=text")).await;
    assert_eq!(
        bo.next_text().await,
        "Welcome to chat! Type a message\nyou are bo in lobby; type /help for commands"
    );
}

/// The welcome carries the MOTD, room, history length and message limit the
/// server was started with.
#[tokio::test]
async fn welcome_states_the_server_flags_in_both_formats() {
    let server = TestServer::start(&[
        "--motd",
        "hello there",
        "--history",
        "7",
        "--max-message-bytes",
        "1000",
    ])
    .await;
    let mut ana = WsClient::connect(&server.url_for("/rust?name=ana&format=json")).await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"welcome","motd":"hello there","name":"ana","room":"rust","history":7,"limits":{"max_message_bytes":1000,"per_second":20,"burst":40},"people":1}"#
    );
    let mut bo = WsClient::connect(&server.url_for("/rust?name=bo")).await;
    assert_eq!(
        bo.next_text().await,
        "hello there\nyou are bo in rust; type /help for commands"
    );
}

/// With an empty MOTD the text welcome is the `you are` line alone.
#[tokio::test]
async fn an_empty_motd_leaves_only_the_you_are_line() {
    let server = TestServer::start(&["--motd", ""]).await;
    let mut ana = WsClient::connect(&server.url_for("/?name=ana&format=json")).await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40},"people":1}"#
    );
    let mut bo = WsClient::connect(&server.url_for("/?name=bo")).await;
    assert_eq!(
        bo.next_text().await,
        "you are bo in lobby; type /help for commands"
    );
}

/// A message is `{"type":"message",…}` in JSON and `NAME: TEXT` in text, for
/// its sender and everyone else.
#[tokio::test]
async fn message_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("hi").await;
    expect_json(
        &mut ana,
        r#"{"type":"message","id":1,"room":"lobby","from":"ana","text":"hi","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "ana: hi");

    bo.send(r#"say "yes" — déjà vu, //not a command"#).await;
    assert_eq!(
        bo.next_text().await,
        r#"bo: say "yes" — déjà vu, //not a command"#
    );
    expect_json(
        &mut ana,
        r#"{"type":"message","id":2,"room":"lobby","from":"bo","text":"say \"yes\" — déjà vu, //not a command","ts":TS}"#,
    )
    .await;

    bo.send("//nick is a command").await;
    assert_eq!(bo.next_text().await, "bo: /nick is a command");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":3,"room":"lobby","from":"bo","text":"/nick is a command","ts":TS}"#,
    )
    .await;
}

/// An action is `{"type":"action",…}` in JSON and `* NAME TEXT` in text.
#[tokio::test]
async fn action_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("/me waves").await;
    expect_json(
        &mut ana,
        r#"{"type":"action","id":1,"room":"lobby","from":"ana","text":"waves","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "* ana waves");

    bo.send("/me waves back").await;
    assert_eq!(bo.next_text().await, "* bo waves back");
    expect_json(
        &mut ana,
        r#"{"type":"action","id":2,"room":"lobby","from":"bo","text":"waves back","ts":TS}"#,
    )
    .await;
}

/// A join is `{"type":"join",…}` in JSON and `-> NAME joined ROOM` in text.
#[tokio::test]
async fn join_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    let _cy = json_client(&server, "cy", "lobby").await;
    expect_json(
        &mut ana,
        r#"{"type":"join","room":"lobby","name":"cy","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "-> cy joined lobby");
}

/// A leave is `{"type":"leave",…}` in JSON and `<- NAME left ROOM (REASON)` in
/// text, for each reason: a goodbye, a bare quit, a move, a close frame (a
/// quit too), and a socket dropped without one.
#[tokio::test]
async fn leave_renders_exactly_in_both_formats_for_every_reason() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    for (leaver, how, reason) in [
        ("cy", "/quit bye", "quit: bye"),
        ("dy", "/quit", "quit"),
        ("ey", "/join rust", "joined rust"),
        ("fy", "", "quit"),
        ("gy", "drop", "disconnected"),
    ] {
        let mut client = json_client(&server, leaver, "lobby").await;
        expect_json(
            &mut ana,
            &format!(r#"{{"type":"join","room":"lobby","name":"{leaver}","ts":TS}}"#),
        )
        .await;
        assert_eq!(bo.next_text().await, format!("-> {leaver} joined lobby"));
        if how.is_empty() {
            within("closing", client.ws.close())
                .await
                .expect("closing the connection");
        } else if how == "drop" {
            drop(client);
        } else {
            client.send(how).await;
        }
        expect_json(
            &mut ana,
            &format!(
                r#"{{"type":"leave","room":"lobby","name":"{leaver}","reason":"{reason}","ts":TS}}"#
            ),
        )
        .await;
        assert_eq!(
            bo.next_text().await,
            format!("<- {leaver} left lobby ({reason})")
        );
    }
}

/// A rename is `{"type":"nick",…}` in JSON and `-- OLD is now known as NEW`
/// in text, from a server-picked guest name.
#[tokio::test]
async fn nick_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let mut ana = json_client(&server, "ana", "lobby").await;
    let mut cy = text_client(&server, "cy", "lobby").await;
    expect_json(
        &mut ana,
        r#"{"type":"join","room":"lobby","name":"cy","ts":TS}"#,
    )
    .await;

    let mut guest = WsClient::connect(&server.url_for("/lobby?format=json")).await;
    let Event::Welcome {
        name: guest_name, ..
    } = guest.next_event().await
    else {
        panic!("the first frame is not the welcome");
    };
    assert!(guest_name.starts_with("guest-"), "{guest_name}");
    expect_json(
        &mut ana,
        &format!(r#"{{"type":"join","room":"lobby","name":"{guest_name}","ts":TS}}"#),
    )
    .await;
    assert_eq!(
        cy.next_text().await,
        format!("-> {guest_name} joined lobby")
    );

    guest.send("/nick bo").await;
    expect_json(
        &mut ana,
        &format!(r#"{{"type":"nick","room":"lobby","old":"{guest_name}","new":"bo","ts":TS}}"#),
    )
    .await;
    assert_eq!(
        cy.next_text().await,
        format!("-- {guest_name} is now known as bo")
    );
}

/// A private message is `{"type":"private",…}` for both ends in JSON; in text
/// the recipient reads `[private] FROM: TEXT` and the sender
/// `[private to TO] FROM: TEXT`.
#[tokio::test]
async fn private_renders_exactly_for_recipient_and_sender_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("/msg bo psst").await;
    expect_json(
        &mut ana,
        r#"{"type":"private","from":"ana","to":"bo","text":"psst","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "[private] ana: psst");

    bo.send("/msg ana psst back").await;
    assert_eq!(bo.next_text().await, "[private to ana] bo: psst back");
    expect_json(
        &mut ana,
        r#"{"type":"private","from":"bo","to":"ana","text":"psst back","ts":TS}"#,
    )
    .await;
}

/// `/who` is `{"type":"who",…}` with the head count in JSON, and `in ROOM:
/// A, B` in text when it lists everyone.
#[tokio::test]
async fn who_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("/who").await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"who","room":"lobby","count":2,"names":["ana","bo"],"more":false}"#
    );
    bo.send("/who").await;
    assert_eq!(bo.next_text().await, "in lobby: ana, bo");
}

/// `/rooms` lists the rooms with people, by name, as `{"type":"rooms",…}` in
/// JSON and `rooms: A (N), B (M)` in text.
#[tokio::test]
async fn rooms_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;
    let _cy = json_client(&server, "cy", "rust").await;
    let _dy = json_client(&server, "dy", "abc").await;

    ana.send("/rooms").await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"rooms","rooms":[{"name":"abc","people":1},{"name":"lobby","people":2},{"name":"rust","people":1}]}"#
    );
    bo.send("/rooms").await;
    assert_eq!(bo.next_text().await, "rooms: abc (1), lobby (2), rust (1)");
}

/// `/help` lists every command in order, as `{"type":"help",…}` in JSON and
/// as an aligned list under `commands:` in text.
#[tokio::test]
async fn help_renders_exactly_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("/help").await;
    assert_eq!(
        ana.next_text().await,
        concat!(
            r#"{"type":"help","commands":["#,
            r#"{"usage":"/nick NAME","effect":"change your name"},"#,
            r#"{"usage":"/join ROOM","effect":"leave this room and enter ROOM"},"#,
            r#"{"usage":"/who [PREFIX]","effect":"names here; /who PREFIX AFTER: more (* for all)"},"#,
            r#"{"usage":"/rooms","effect":"rooms with their number of people"},"#,
            r#"{"usage":"/me TEXT","effect":"an action line: * you TEXT"},"#,
            r#"{"usage":"/msg NAME TEXT","effect":"a private message to one person"},"#,
            r#"{"usage":"/op SECRET","effect":"become an operator (the server's --op-token)"},"#,
            r#"{"usage":"/topic [TEXT]","effect":"the room's topic; with TEXT set it (- clears)"},"#,
            r#"{"usage":"/kick NAME [WHY]","effect":"operators: close NAME's connection"},"#,
            r#"{"usage":"/mute NAME [DUR]","effect":"operators: NAME may only read (DUR: 30s, 10m, 2h, 1d)"},"#,
            r#"{"usage":"/unmute NAME","effect":"operators: NAME may speak again"},"#,
            r#"{"usage":"/ban NAME [DUR]","effect":"operators: kick NAME, refuse the name and address (WHY may follow)"},"#,
            r#"{"usage":"/unban NAME","effect":"operators: lift NAME's ban"},"#,
            r#"{"usage":"/bans","effect":"operators: the bans in force"},"#,
            r#"{"usage":"/ignore NAME","effect":"hide NAME's messages from you"},"#,
            r#"{"usage":"/unignore NAME","effect":"see NAME's messages again"},"#,
            r#"{"usage":"/register PASSWORD","effect":"reserve your name (again: change its password)"},"#,
            r#"{"usage":"/identify [NAME] PASSWORD","effect":"become NAME, registered to you"},"#,
            r#"{"usage":"/unregister [NAME]","effect":"free your name (operators: anyone's)"},"#,
            r#"{"usage":"/help","effect":"this list"},"#,
            r#"{"usage":"/quit [TEXT]","effect":"leave, with an optional goodbye"},"#,
            r#"{"usage":"//TEXT","effect":"send TEXT with a leading slash"}"#,
            r#"]}"#,
        )
    );
    bo.send("/help").await;
    assert_eq!(
        bo.next_text().await,
        "commands:\n\
         \x20 /nick NAME                change your name\n\
         \x20 /join ROOM                leave this room and enter ROOM\n\
         \x20 /who [PREFIX]             names here; /who PREFIX AFTER: more (* for all)\n\
         \x20 /rooms                    rooms with their number of people\n\
         \x20 /me TEXT                  an action line: * you TEXT\n\
         \x20 /msg NAME TEXT            a private message to one person\n\
         \x20 /op SECRET                become an operator (the server's --op-token)\n\
         \x20 /topic [TEXT]             the room's topic; with TEXT set it (- clears)\n\
         \x20 /kick NAME [WHY]          operators: close NAME's connection\n\
         \x20 /mute NAME [DUR]          operators: NAME may only read (DUR: 30s, 10m, 2h, 1d)\n\
         \x20 /unmute NAME              operators: NAME may speak again\n\
         \x20 /ban NAME [DUR]           operators: kick NAME, refuse the name and address (WHY may follow)\n\
         \x20 /unban NAME               operators: lift NAME's ban\n\
         \x20 /bans                     operators: the bans in force\n\
         \x20 /ignore NAME              hide NAME's messages from you\n\
         \x20 /unignore NAME            see NAME's messages again\n\
         \x20 /register PASSWORD        reserve your name (again: change its password)\n\
         \x20 /identify [NAME] PASSWORD become NAME, registered to you\n\
         \x20 /unregister [NAME]        free your name (operators: anyone's)\n\
         \x20 /help                     this list\n\
         \x20 /quit [TEXT]              leave, with an optional goodbye\n\
         \x20 //TEXT                    send TEXT with a leading slash"
    );
}

/// A resume past history's reach ends its replay with `{"type":"gap",…}` in
/// JSON and `... N messages missed` in text.
#[tokio::test]
async fn gap_renders_exactly_in_both_formats() {
    let server = TestServer::start(&["--history", "2"]).await;
    let mut ana = json_client(&server, "ana", "lobby").await;
    let mut copies = Vec::new();
    for i in 1..=5 {
        ana.send(&format!("m{i}")).await;
        copies.push(ana.next_text().await);
    }

    let mut bo = WsClient::connect(&server.url_for("/lobby?name=bo&format=json&since=1")).await;
    assert!(matches!(bo.next_event().await, Event::Welcome { .. }));
    assert_eq!([bo.next_text().await, bo.next_text().await], copies[3..]);
    assert_eq!(bo.next_text().await, r#"{"type":"gap","missed":2}"#);

    let mut cy = WsClient::connect(&server.url_for("/lobby?name=cy&format=text&since=1")).await;
    assert_eq!(
        cy.next_text().await,
        format!("{MOTD}\nyou are cy in lobby; type /help for commands")
    );
    assert_eq!(cy.next_text().await, "ana: m4");
    assert_eq!(cy.next_text().await, "ana: m5");
    assert_eq!(cy.next_text().await, "... 2 messages missed");
}

/// Every refusal is `{"type":"error","code":…,"message":…}` in JSON and
/// `! MESSAGE` in text, with the exact message, and the connection stays up.
#[tokio::test]
async fn errors_render_exactly_in_both_formats() {
    let server = TestServer::start(&["--max-message-bytes", "100"]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;
    let too_long = "x".repeat(101);

    for (input, code, message) in [
        (
            "/nick bo",
            "name_taken",
            "the name 'bo' is taken; pick another",
        ),
        (
            "/nick BO",
            "name_taken",
            "the name 'BO' is taken; pick another",
        ),
        (
            "/dance",
            "unknown_command",
            "unknown command '/dance'; type /help for the list",
        ),
        ("/nick", "bad_arguments", "usage: /nick NAME"),
        ("/msg bo", "bad_arguments", "usage: /msg NAME TEXT"),
        ("/join lobby", "bad_arguments", "you are already in lobby"),
        (
            "/nick a!",
            "invalid_name",
            "invalid name 'a!': use 1 to 24 letters, digits, '_' or '-'",
        ),
        (
            "/join a.b",
            "invalid_room",
            "invalid room 'a.b': use 1 to 32 letters, digits, '_' or '-'",
        ),
        ("   ", "empty_message", "empty message: type some text"),
        (
            "/msg zed hi",
            "no_such_user",
            "nobody called 'zed' is connected (check the spelling)",
        ),
        (
            too_long.as_str(),
            "too_long",
            "message too long: 101 bytes, the limit is 100",
        ),
    ] {
        ana.send(input).await;
        assert_eq!(
            ana.next_text().await,
            format!(r#"{{"type":"error","code":"{code}","message":"{message}"}}"#),
            "after {input:?}"
        );
    }
    bo.send("/nick ana").await;
    assert_eq!(
        bo.next_text().await,
        "! the name 'ana' is taken; pick another"
    );
    bo.send("/dance").await;
    assert_eq!(
        bo.next_text().await,
        "! unknown command '/dance'; type /help for the list"
    );

    for client in [&mut ana, &mut bo] {
        within(
            "sending a binary frame",
            client.ws.send(Message::binary(&b"\x00\x01"[..])),
        )
        .await
        .expect("sending a binary frame");
    }
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"error","code":"binary_unsupported","message":"binary frames are not supported; send text"}"#
    );
    assert_eq!(
        bo.next_text().await,
        "! binary frames are not supported; send text"
    );

    // Still connected: nothing above reached the room, so this is message 1.
    ana.send("still here").await;
    expect_json(
        &mut ana,
        r#"{"type":"message","id":1,"room":"lobby","from":"ana","text":"still here","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "ana: still here");
}

/// A name taken at connect time is reported right after the welcome, which
/// names the guest name given instead, in both formats.
#[tokio::test]
async fn a_name_taken_at_connect_is_reported_after_the_welcome_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let _ana = json_client(&server, "ana", "lobby").await;

    let mut json = WsClient::connect(&server.url_for("/?name=ana&format=json")).await;
    let Event::Welcome { name: guest, .. } = json.next_event().await else {
        panic!("the first frame is not the welcome");
    };
    assert!(guest.starts_with("guest-"), "{guest}");
    assert_eq!(
        json.next_text().await,
        format!(
            r#"{{"type":"error","code":"name_taken","message":"the name 'ana' is taken; you are {guest} (/nick NAME to pick another)"}}"#
        )
    );

    let mut text = WsClient::connect(&server.url_for("/?name=Ana&format=text")).await;
    let welcome = text.next_text().await;
    let guest = welcome
        .strip_prefix(&format!("{MOTD}\nyou are "))
        .and_then(|rest| rest.strip_suffix(" in lobby; type /help for commands"))
        .unwrap_or_else(|| panic!("unexpected welcome {welcome:?}"));
    assert!(guest.starts_with("guest-"), "{guest}");
    assert_eq!(
        text.next_text().await,
        format!("! the name 'Ana' is taken; you are {guest} (/nick NAME to pick another)")
    );
}

/// A multi-line message keeps its newlines in JSON, and in text every line
/// after the first is indented by two spaces, for messages, actions and
/// private messages alike.
#[tokio::test]
async fn multi_line_text_is_indented_in_text_and_intact_in_json() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("line one\nbo: send me your token\n\tthree").await;
    expect_json(
        &mut ana,
        r#"{"type":"message","id":1,"room":"lobby","from":"ana","text":"line one\nbo: send me your token\n\tthree","ts":TS}"#,
    )
    .await;
    assert_eq!(
        bo.next_text().await,
        "ana: line one\n  bo: send me your token\n  \tthree"
    );

    ana.send("/me waves\nand smiles").await;
    expect_json(
        &mut ana,
        r#"{"type":"action","id":2,"room":"lobby","from":"ana","text":"waves\nand smiles","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "* ana waves\n  and smiles");

    bo.send("one\ntwo").await;
    assert_eq!(bo.next_text().await, "bo: one\n  two");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":3,"room":"lobby","from":"bo","text":"one\ntwo","ts":TS}"#,
    )
    .await;

    ana.send("/msg bo a\nb").await;
    expect_json(
        &mut ana,
        r#"{"type":"private","from":"ana","to":"bo","text":"a\nb","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "[private] ana: a\n  b");
    bo.send("/msg ana c\nd").await;
    assert_eq!(bo.next_text().await, "[private to ana] bo: c\n  d");
    expect_json(
        &mut ana,
        r#"{"type":"private","from":"bo","to":"ana","text":"c\nd","ts":TS}"#,
    )
    .await;
}

/// Control characters, escape sequences and bidi overrides a client sends are
/// stripped from what everyone receives, in both formats and in every kind of
/// event that carries the client's text.
#[tokio::test]
async fn control_characters_and_bidi_overrides_are_stripped_in_both_formats() {
    // No history, so that cy, joining late, gets its own join right away.
    let server = TestServer::start(&["--history", "0"]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("\u{1b}[31mred\u{7} \u{9b}2J\u{1b}]0;title\u{7}\r ok\u{7f}")
        .await;
    expect_json(
        &mut ana,
        r#"{"type":"message","id":1,"room":"lobby","from":"ana","text":"[31mred 2J]0;title ok","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "ana: [31mred 2J]0;title ok");

    bo.send("abc\u{202E}fed\u{202C} \u{2066}x\u{2069}\u{202A}y")
        .await;
    assert_eq!(bo.next_text().await, "bo: abcfed xy");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":2,"room":"lobby","from":"bo","text":"abcfed xy","ts":TS}"#,
    )
    .await;

    ana.send("/me \u{1b}[2Jwaves\u{202E}").await;
    expect_json(
        &mut ana,
        r#"{"type":"action","id":3,"room":"lobby","from":"ana","text":"[2Jwaves","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "* ana [2Jwaves");

    ana.send("/msg bo \u{1b}[1mbold\u{1b}[0m").await;
    expect_json(
        &mut ana,
        r#"{"type":"private","from":"ana","to":"bo","text":"[1mbold[0m","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "[private] ana: [1mbold[0m");

    let mut cy = json_client(&server, "cy", "lobby").await;
    expect_json(
        &mut ana,
        r#"{"type":"join","room":"lobby","name":"cy","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "-> cy joined lobby");
    cy.send("/quit bye\u{1b}[2J\u{202E}").await;
    expect_json(
        &mut ana,
        r#"{"type":"leave","room":"lobby","name":"cy","reason":"quit: bye[2J","ts":TS}"#,
    )
    .await;
    assert_eq!(bo.next_text().await, "<- cy left lobby (quit: bye[2J)");
}

/// A message made only of control characters is empty once they are stripped,
/// and is refused as such.
#[tokio::test]
async fn a_message_of_only_control_characters_is_refused_as_empty() {
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    ana.send("\u{1b}\u{7}\u{202E}").await;
    assert_eq!(
        ana.next_text().await,
        r#"{"type":"error","code":"empty_message","message":"empty message: type some text"}"#
    );
    bo.send("\u{9b}\r").await;
    assert_eq!(bo.next_text().await, "! empty message: type some text");
}

/// One trailing `\n` or `\r\n` (websocat's line end) is stripped from a frame, only one, commands included; `\n` alone is empty.
#[tokio::test]
async fn issue_18_one_trailing_line_ending_is_stripped_from_a_message() {
    // Issue 18 ("The terminal client in daily use"), bug 4.
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&server).await;

    // bo in text, as websocat is; ana in JSON sees the exact text.
    bo.send("hi\n").await;
    assert_eq!(bo.next_text().await, "bo: hi");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":1,"room":"lobby","from":"bo","text":"hi","ts":TS}"#,
    )
    .await;
    bo.send("hi\r\n").await;
    assert_eq!(bo.next_text().await, "bo: hi");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":2,"room":"lobby","from":"bo","text":"hi","ts":TS}"#,
    )
    .await;
    // Only one: an empty line typed after the text stays.
    bo.send("hi\n\n").await;
    assert_eq!(bo.next_text().await, "bo: hi\n  ");
    expect_json(
        &mut ana,
        r#"{"type":"message","id":3,"room":"lobby","from":"bo","text":"hi\n","ts":TS}"#,
    )
    .await;
    bo.send("/me waves\n").await;
    assert_eq!(bo.next_text().await, "* bo waves");
    expect_json(
        &mut ana,
        r#"{"type":"action","id":4,"room":"lobby","from":"bo","text":"waves","ts":TS}"#,
    )
    .await;
    bo.send("\r\n").await;
    assert_eq!(bo.next_text().await, "! empty message: type some text");
}

/// `?format=xml` gets the welcome in text, then an `invalid_query` error line,
/// and the connection goes on in text.
#[tokio::test]
async fn an_unknown_format_gets_an_error_after_the_welcome_and_text() {
    let server = TestServer::start(&[]).await;
    let mut ana = WsClient::connect(&server.url_for("/?name=ana&format=xml")).await;
    assert_eq!(
        ana.next_text().await,
        format!("{MOTD}\nyou are ana in lobby; type /help for commands")
    );
    assert_eq!(
        ana.next_text().await,
        "! format must be 'text' or 'json'; using text"
    );
    assert_eq!(ana.next_text().await, "-> ana joined lobby");
    ana.send("hi").await;
    assert_eq!(ana.next_text().await, "ana: hi");
}

/// Two connections whose URLs differ only in `format` see the same events in
/// the same room, each in its own format, and JSON recipients get identical
/// bytes.
#[tokio::test]
async fn json_and_text_connections_see_the_same_events_in_their_own_formats() {
    let server = TestServer::start(&[]).await;
    let mut json = WsClient::connect(&server.url_for("/rust?format=json")).await;
    let Event::Welcome {
        name: json_name, ..
    } = json.next_event().await
    else {
        panic!("the first frame is not the welcome");
    };
    expect_json(
        &mut json,
        &format!(r#"{{"type":"join","room":"rust","name":"{json_name}","ts":TS}}"#),
    )
    .await;
    let mut text = WsClient::connect(&server.url_for("/rust?format=text")).await;
    let welcome = text.next_text().await;
    let text_name = welcome
        .strip_prefix(&format!("{MOTD}\nyou are "))
        .and_then(|rest| rest.strip_suffix(" in rust; type /help for commands"))
        .unwrap_or_else(|| panic!("unexpected welcome {welcome:?}"))
        .to_owned();
    assert_ne!(text_name, json_name);
    assert_eq!(
        text.next_text().await,
        format!("-> {text_name} joined rust")
    );
    expect_json(
        &mut json,
        &format!(r#"{{"type":"join","room":"rust","name":"{text_name}","ts":TS}}"#),
    )
    .await;

    let (mut cy, _) = server.join("cy", "rust").await;
    let mut both = async |expected_json: &str, expected_text: &str| {
        let frame = json.next_text().await;
        assert_json_with_ts(&frame, expected_json);
        assert_eq!(text.next_text().await, expected_text);
        // The text line is the rendering of the very event the JSON states.
        let event = parse_event(&frame);
        assert_eq!(event.render_text(), expected_text);
        frame
    };
    let cy_join = both(
        r#"{"type":"join","room":"rust","name":"cy","ts":TS}"#,
        "-> cy joined rust",
    )
    .await;
    assert_eq!(cy.next_text().await, cy_join);

    cy.send("same").await;
    let said = both(
        r#"{"type":"message","id":1,"room":"rust","from":"cy","text":"same","ts":TS}"#,
        "cy: same",
    )
    .await;
    assert_eq!(cy.next_text().await, said);

    cy.send("/me nods").await;
    let action = both(
        r#"{"type":"action","id":2,"room":"rust","from":"cy","text":"nods","ts":TS}"#,
        "* cy nods",
    )
    .await;
    assert_eq!(cy.next_text().await, action);

    cy.send("/nick cyd").await;
    let nick = both(
        r#"{"type":"nick","room":"rust","old":"cy","new":"cyd","ts":TS}"#,
        "-- cy is now known as cyd",
    )
    .await;
    assert_eq!(cy.next_text().await, nick);

    cy.send("/quit later").await;
    both(
        r#"{"type":"leave","room":"rust","name":"cyd","reason":"quit: later","ts":TS}"#,
        "<- cyd left rust (quit: later)",
    )
    .await;
}
