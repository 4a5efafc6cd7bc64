//! Issue 19, first slice: operators (`--op-token`, `/op`) and `/kick`, on
//! one server.
//!
//! Events are compared whole, with `ts` checked and then zeroed (the
//! builders are in `support::events`).

use chat::protocol::{ErrorCode, Event};

use crate::support::client::{RunningClient, run_client};
use crate::support::events::{
    enter, enter_from, expect, expect_error, join, leave, message, op, say, untimed, who_with_ops,
};
use crate::support::{OP_SECRET, PROXY, TempDir, TestServer, WsClient, assert_run};

/// A server with operators, and ana and bo in its lobby (ana has seen bo
/// arrive).
async fn ana_and_bo(args: &[&str]) -> (TestServer, WsClient, WsClient) {
    let server = TestServer::start(args).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    (server, ana, bo)
}

fn who(names: &[&str], ops: &[&str]) -> Event {
    who_with_ops("lobby", names, ops)
}

/// `/op SECRET` makes the connection an operator, which `/who` lists apart
/// (JSON) and marks with `@` (text); a rename keeps it.
#[tokio::test]
async fn op_with_the_secret_makes_an_operator_shown_in_who() {
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    op(&mut ana, "ana").await;

    bo.send("/who").await;
    expect(&mut bo, who(&["ana", "bo"], &["ana"])).await;
    bo.send("/who").await;
    assert_eq!(
        bo.next_text().await,
        r#"{"type":"who","room":"lobby","count":2,"names":["ana","bo"],"more":false,"ops":["ana"]}"#
    );

    ana.send("/nick Anna").await;
    ana.event_matching("the nick", |e| matches!(e, Event::Nick { .. }))
        .await;
    bo.event_matching("the nick", |e| matches!(e, Event::Nick { .. }))
        .await;
    bo.send("/who").await;
    expect(&mut bo, who(&["Anna", "bo"], &["Anna"])).await;

    let (mut cy, _) = text_client(&server, "cy").await;
    cy.send("/who").await;
    assert_eq!(cy.next_text().await, "in lobby: @Anna, bo, cy");
}

/// A text client in the lobby, past its welcome and its own join.
async fn text_client(server: &TestServer, name: &str) -> (WsClient, String) {
    let mut client = WsClient::connect(&server.url_for(&format!("/lobby?name={name}"))).await;
    let welcome = client.next_text().await;
    assert_eq!(client.next_text().await, format!("-> {name} joined lobby"));
    (client, welcome)
}

/// A wrong secret is `op_refused`, and the secret never reaches the log,
/// right or wrong; an operator's arrival is logged.
#[tokio::test]
async fn op_with_a_wrong_secret_is_refused_and_no_secret_is_logged() {
    let (mut server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    ana.send("/op guess-123").await;
    expect_error(
        &mut ana,
        ErrorCode::OpRefused,
        "wrong secret: you are not an operator",
    )
    .await;
    ana.send("/op").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "usage: /op SECRET").await;
    op(&mut bo, "bo").await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &["bo"])).await;

    server.signal("TERM");
    server.wait().await;
    let log = server.log().await;
    assert!(!log.contains(OP_SECRET), "{log}");
    assert!(!log.contains("guess-123"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("who=bo") && l.contains("became an operator")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("who=ana") && l.contains("wrong secret")),
        "{log}"
    );
}

/// Without `--op-token` there are no operators, and `/op` says so.
#[tokio::test]
async fn without_op_token_there_are_no_operators() {
    let (_server, mut ana, _bo) = ana_and_bo(&[]).await;
    ana.send("/op anything").await;
    expect_error(
        &mut ana,
        ErrorCode::OpRefused,
        "this server has no operators (it runs without --op-token)",
    )
    .await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &[])).await;
}

/// An operator who leaves is one no more: the name, taken again, is not.
#[tokio::test]
async fn an_operator_who_leaves_is_one_no_more() {
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    op(&mut ana, "ana").await;
    ana.send("/quit").await;
    ana.expect_close().await;
    bo.event_matching("ana's leave", |e| matches!(e, Event::Leave { .. }))
        .await;
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &[])).await;
}

/// `/kick NAME WHY` from an operator: the room, the kicked person
/// included, gets one `kick` notice; the kicked connection is closed with
/// 4001 and the reason; the room then hears the departure; the log says
/// who kicked whom and why.
#[tokio::test]
async fn kick_closes_with_4001_and_tells_the_room() {
    let (mut server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    let (mut cy, _) = text_client(&server, "cy").await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    op(&mut ana, "ana").await;

    ana.send("/kick BO  spamming\nthe room").await;
    let kick = Event::Kick {
        room: "lobby".into(),
        name: "bo".into(),
        by: "ana".into(),
        reason: "spamming the room".into(),
        ts: 0,
    };
    expect(&mut ana, kick.clone()).await;
    expect(&mut bo, kick).await;
    assert_eq!(
        bo.expect_close().await,
        (4001, "kicked by ana: spamming the room".to_owned())
    );
    expect(
        &mut ana,
        leave("lobby", "bo", "kicked by ana: spamming the room"),
    )
    .await;
    assert_eq!(
        cy.next_text().await,
        "-- bo was kicked by ana (spamming the room)"
    );
    assert_eq!(
        cy.next_text().await,
        "<- bo left lobby (kicked by ana: spamming the room)"
    );

    server.signal("TERM");
    server.wait().await;
    let log = server.log().await;
    assert!(
        log.lines().any(|l| l.contains("who=ana")
            && l.contains("action=\"kick\"")
            && l.contains("whom=bo")
            && l.contains("why=spamming the room")),
        "{log}"
    );
}

/// Only operators kick (`not_operator`); an unknown name is `no_such_user`;
/// no name is `bad_arguments`; a long reason is cut to fit the close frame.
#[tokio::test]
async fn kick_is_for_operators_and_names_someone_connected() {
    let (_server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    bo.send("/kick ana").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may kick; see /op",
    )
    .await;
    op(&mut ana, "ana").await;
    ana.send("/kick zed").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'zed' is connected (check the spelling)",
    )
    .await;
    ana.send("/kick").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "usage: /kick NAME [WHY]").await;

    ana.send(&format!("/kick bo {}", "é".repeat(100))).await;
    let (code, reason) = bo.expect_close().await;
    assert_eq!(code, 4001);
    assert_eq!(reason, format!("kicked by ana: {}", "é".repeat(40)));
}

/// Without `--op-token` nobody can kick, and the refusal says why.
#[tokio::test]
async fn without_op_token_nobody_kicks() {
    let (_server, mut ana, _bo) = ana_and_bo(&[]).await;
    ana.send("/kick bo").await;
    expect_error(
        &mut ana,
        ErrorCode::NotOperator,
        "only operators may kick, and this server has none (it runs without --op-token)",
    )
    .await;
}

/// In a room above the presence limit, the departure is summed up but the
/// kick is its own notice; an operator in another room gets a copy.
#[tokio::test]
async fn a_kick_is_never_folded_into_a_presence_summary() {
    let server = TestServer::start(&[
        "--op-token",
        OP_SECRET,
        "--presence-limit",
        "1",
        "--presence-interval",
        "100",
    ])
    .await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    bo.event_matching("bo's own join", |e| matches!(e, Event::Join { .. }))
        .await;
    let mut op = enter(&server, "op", "ops").await;
    crate::support::events::op(&mut op, "op").await;

    op.send("/kick bo").await;
    let kick = Event::Kick {
        room: "lobby".into(),
        name: "bo".into(),
        by: "op".into(),
        reason: String::new(),
        ts: 0,
    };
    expect(&mut op, kick.clone()).await;
    let got = ana
        .event_matching("the kick", |e| matches!(e, Event::Kick { .. }))
        .await;
    assert_eq!(untimed(got), kick);
    assert_eq!(bo.expect_close().await, (4001, "kicked by op".to_owned()));
    let summary = ana
        .event_matching(
            "a summary with bo's departure",
            |e| matches!(e, Event::Presence { left, .. } if *left > 0),
        )
        .await;
    let Event::Presence { left_names, .. } = summary else {
        unreachable!()
    };
    assert_eq!(left_names, ["bo"]);
}

/// The terminal client, kicked, does not come back: it prints the reason
/// on stderr and exits 9, reconnection on or not.
#[tokio::test]
async fn a_kicked_client_says_why_and_does_not_reconnect() {
    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    op(&mut ana, "ana").await;
    let mut bo = RunningClient::start(&[&server.url, "--name", "bo"]);
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/kick bo flooding").await;
    let run = bo.exit().await;
    assert_eq!(run.status.code(), Some(9), "stderr: {:?}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: the server closed the connection: kicked by ana: flooding (close code 4001)\n"
    );
    assert!(
        run.stdout.ends_with("-- bo was kicked by ana (flooding)\n"),
        "{:?}",
        run.stdout
    );
    // Nobody came back under bo's name or another.
    ana.event_matching("the kick", |e| matches!(e, Event::Kick { .. }))
        .await;
    expect(&mut ana, leave("lobby", "bo", "kicked by ana: flooding")).await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana"], &["ana"])).await;
}

/// The terminal client shows a kick once: the `leave` that follows the
/// `kick` notice (the same departure, for member lists) is not printed.
#[tokio::test]
async fn the_client_shows_a_kick_once() {
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    op(&mut ana, "ana").await;
    let mut cy = RunningClient::start(&[&server.url, "--name", "cy"]);
    cy.wait_for_line("-> cy joined lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;

    ana.send("/kick bo flooding").await;
    assert_eq!(bo.expect_close().await.0, 4001);
    ana.event_matching("the kick", |e| matches!(e, Event::Kick { .. }))
        .await;
    expect(&mut ana, leave("lobby", "bo", "kicked by ana: flooding")).await;
    ana.send("after the kick").await;
    cy.wait_for_line("-- bo was kicked by ana (flooding)").await;
    assert_eq!(cy.next_line().await, "ana: after the kick");
}

fn topic(text: &str, by: Option<&str>) -> Event {
    Event::Topic {
        room: "lobby".into(),
        topic: text.into(),
        by: by.map(str::to_owned),
    }
}

/// Without `--op-token` anyone sets the topic (made one line); the room
/// hears it, `/topic` reads it, the welcome and `/join` show it, `-`
/// clears it; in both formats.
#[tokio::test]
async fn anyone_sets_the_topic_without_operators_and_everyone_sees_it() {
    let (server, mut ana, mut bo) = ana_and_bo(&[]).await;
    bo.send("/topic").await;
    expect(&mut bo, topic("", None)).await;

    ana.send("/topic Rust,\nmostly").await;
    expect(&mut ana, topic("Rust, mostly", Some("ana"))).await;
    expect(&mut bo, topic("Rust, mostly", Some("ana"))).await;
    bo.send("/topic").await;
    assert_eq!(
        bo.next_text().await,
        r#"{"type":"topic","room":"lobby","topic":"Rust, mostly"}"#
    );

    let mut cy = WsClient::connect(&server.url_for("/lobby?name=cy")).await;
    assert_eq!(
        cy.next_text().await,
        "Welcome to chat! Type a message\nyou are cy in lobby; type /help for commands\ntopic: Rust, mostly"
    );
    assert_eq!(cy.next_text().await, "-> cy joined lobby");
    cy.send("/topic").await;
    assert_eq!(cy.next_text().await, "-- topic of lobby: Rust, mostly");
    let (_dee, welcome) = server.join("dee", "lobby").await;
    let Event::Welcome { topic: shown, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(shown.as_deref(), Some("Rust, mostly"));

    // Entering by /join: after the own join.
    let mut eve = enter(&server, "eve", "other").await;
    eve.send("/join lobby").await;
    eve.event_matching(
        "eve's join",
        |e| matches!(e, Event::Join { name, .. } if name == "eve"),
    )
    .await;
    expect(&mut eve, topic("Rust, mostly", None)).await;

    bo.event_matching(
        "eve's join",
        |e| matches!(e, Event::Join { name, .. } if name == "eve"),
    )
    .await;
    bo.send("/topic -").await;
    expect(&mut bo, topic("", Some("bo"))).await;
    assert_eq!(cy.next_text().await, "-> dee joined lobby");
    assert_eq!(cy.next_text().await, "-> eve joined lobby");
    assert_eq!(cy.next_text().await, "-- bo cleared the topic");
    cy.send("/topic").await;
    assert_eq!(cy.next_text().await, "-- lobby has no topic");
}

/// With `--op-token` only operators set it (anyone reads it); over 200
/// bytes is `too_long`.
#[tokio::test]
async fn with_operators_only_they_set_the_topic() {
    let (_server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    bo.send("/topic mine").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may set the topic; see /op",
    )
    .await;
    op(&mut ana, "ana").await;
    ana.send(&format!("/topic {}", "x".repeat(201))).await;
    expect_error(
        &mut ana,
        ErrorCode::TooLong,
        "topic too long: 201 bytes, the limit is 200",
    )
    .await;
    ana.send(&format!("/topic {}", "x".repeat(200))).await;
    expect(&mut ana, topic(&"x".repeat(200), Some("ana"))).await;
    expect(&mut bo, topic(&"x".repeat(200), Some("ana"))).await;
    bo.send("/topic").await;
    expect(&mut bo, topic(&"x".repeat(200), None)).await;
}

/// `/mute NAME DUR`: the muted person's messages, actions, private
/// messages, renames and topics are refused with `muted` and how long it
/// lasts; they still read; the mute follows the name to a new connection;
/// `/unmute` lifts it.
#[tokio::test]
async fn a_muted_person_reads_but_cannot_speak_until_unmuted() {
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    bo.send("/mute ana").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may mute; see /op",
    )
    .await;
    op(&mut ana, "ana").await;
    ana.send("/mute BO 10m").await;
    let muted = Event::Mute {
        name: "bo".into(),
        by: "ana".into(),
        seconds: Some(600),
        note: None,
    };
    // Everyone here is on 127.0.0.1: the name alone is muted, and the
    // operator is told why.
    let note = "1 other person connected now shares their address: only the name is affected";
    let told = Event::Mute {
        name: "bo".into(),
        by: "ana".into(),
        seconds: Some(600),
        note: Some(note.into()),
    };
    expect(&mut ana, told).await;
    expect(&mut bo, muted).await;

    let refusal = "you are muted for 600 more seconds; you can still read";
    for frame in [
        "hi",
        "/me waves",
        "/msg ana psst",
        "/nick bobby",
        "/topic mine",
    ] {
        bo.send(frame).await;
        expect_error(&mut bo, ErrorCode::Muted, refusal).await;
    }
    bo.send("/topic").await;
    expect(&mut bo, topic("", None)).await;
    say(&mut ana, 1, "lobby", "ana", "still heard").await;
    expect(&mut bo, message(1, "lobby", "ana", "still heard")).await;

    // Back under the same name: still muted.
    bo.send("/quit").await;
    bo.expect_close().await;
    expect(&mut ana, leave("lobby", "bo", "quit")).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    expect(&mut bo, message(1, "lobby", "ana", "still heard")).await;
    expect(&mut bo, join("lobby", "bo")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    bo.send("hi").await;
    expect_error(&mut bo, ErrorCode::Muted, refusal).await;

    ana.send("/unmute bo").await;
    let unmuted = Event::Unmute {
        name: "bo".into(),
        by: "ana".into(),
    };
    expect(&mut ana, unmuted.clone()).await;
    expect(&mut bo, unmuted).await;
    say(&mut bo, 2, "lobby", "bo", "free").await;
    expect(&mut ana, message(2, "lobby", "bo", "free")).await;
    ana.send("/unmute bo").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "bo is not muted").await;
}

/// Without a duration a mute lasts until unmuted, and says so, in text too;
/// a bad duration is `bad_arguments`; an unknown name `no_such_user`.
#[tokio::test]
async fn a_mute_without_a_duration_lasts_until_unmuted() {
    let (server, mut ana, _bo) = ana_and_bo(&["--op-token", OP_SECRET]).await;
    let mut cy = WsClient::connect(&server.url_for("/lobby?name=cy")).await;
    cy.next_text().await;
    assert_eq!(cy.next_text().await, "-> cy joined lobby");
    expect(&mut ana, join("lobby", "cy")).await;
    op(&mut ana, "ana").await;
    ana.send("/mute cy 10").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "usage: /mute NAME [DUR] (DUR like 30s, 10m, 2h or 1d)",
    )
    .await;
    ana.send("/mute zed").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'zed' is connected (check the spelling)",
    )
    .await;
    ana.send("/mute cy").await;
    expect(
        &mut ana,
        Event::Mute {
            name: "cy".into(),
            by: "ana".into(),
            seconds: None,
            note: Some(
                "2 other people connected now share their address: only the name is affected"
                    .into(),
            ),
        },
    )
    .await;
    assert_eq!(cy.next_text().await, "-- ana muted cy until unmuted");
    cy.send("hello").await;
    assert_eq!(
        cy.next_text().await,
        "! you are muted until an operator unmutes you; you can still read"
    );
}

/// The terminal client with `--op-token-file` becomes an operator on its
/// own, again after a server restart; the secret never shows. A file it
/// cannot read is one line and exit status 2.
#[tokio::test]
async fn the_client_is_an_operator_again_after_a_restart_with_op_token_file() {
    let dir = TempDir::new();
    let file = dir.write("op-token", &format!("{OP_SECRET}\n"));

    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let port = server.port;
    let args = [
        "--port",
        &port.to_string(),
        "--name",
        "ana",
        "--op-token-file",
        &file,
    ];
    let mut ana = RunningClient::start(&args);
    ana.wait_for_line("-- you are now an operator").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    bo.send("/who").await;
    expect(&mut bo, who(&["ana", "bo"], &["ana"])).await;

    drop(bo);
    drop(server);
    let server = TestServer::start_on("127.0.0.1", port, &["--op-token", OP_SECRET]).await;
    ana.wait_for_line("-- you are now an operator").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    bo.send("/who").await;
    expect(&mut bo, who(&["ana", "bo"], &["ana"])).await;
    let run = ana.finish().await;
    assert!(
        !run.stdout.contains(OP_SECRET) && !run.stderr.contains(OP_SECRET),
        "the secret was shown: {}{}",
        run.stdout,
        run.stderr
    );

    let missing = dir.path("missing");
    let run = run_client(
        &["--port", &port.to_string(), "--op-token-file", &missing],
        "",
    )
    .await;
    assert_run(
        &run,
        2,
        "",
        &format!(
            "error: cannot read --op-token-file {missing}: No such file or directory (os error 2)"
        ),
    );
}

/// A mute follows the address too: someone else connecting from bo's
/// address (here through a trusted proxy) is muted under any name; from
/// another address, someone else speaks.
#[tokio::test]
async fn a_mute_follows_the_address_under_another_name() {
    let server = TestServer::start(&["--op-token", OP_SECRET, PROXY[0], PROXY[1]]).await;
    let mut ana = enter_from(&server, "ana", Some("203.0.113.1")).await;
    let mut bo = enter_from(&server, "bo", Some("203.0.113.2")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    op(&mut ana, "ana").await;
    ana.send("/mute bo 10m").await;
    ana.event_matching("the mute", |e| matches!(e, Event::Mute { .. }))
        .await;
    bo.event_matching("the mute", |e| matches!(e, Event::Mute { .. }))
        .await;
    bo.send("/quit").await;
    bo.expect_close().await;

    let mut other = enter_from(&server, "bobby", Some("203.0.113.2")).await;
    other.send("hi").await;
    expect_error(
        &mut other,
        ErrorCode::Muted,
        "you are muted for 600 more seconds; you can still read",
    )
    .await;
    let mut elsewhere = enter_from(&server, "cy", Some("203.0.113.3")).await;
    say(&mut elsewhere, 1, "lobby", "cy", "heard").await;
}
