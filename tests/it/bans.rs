//! Issue 19: `/ban`, `/unban`, `/bans` on one server; the refusal of a
//! banned name or address with 4003 after the upgrade; the shared-address
//! and trusted-proxy rules; timed bans ending; bans and topics surviving a
//! restart with `--data-dir`; the terminal client told it is banned.
//!
//! Every test client connects from 127.0.0.1; to tell people's addresses
//! apart, the server trusts 127.0.0.1 as a proxy and each client says
//! where it is with `X-Forwarded-For`.

use std::time::Duration;

use chat::protocol::{BanInfo, ErrorCode, Event};

use crate::support::client::RunningClient;
use crate::support::events::{enter, enter_from, expect, expect_error, join, leave, op, untimed};
use crate::support::{
    OP_SECRET, PROXY, TempDir, TestServer, WsClient, connect_from, refused, within,
};

fn ban_notice(name: &str, reason: &str, until: Option<u64>, note: Option<&str>) -> Event {
    Event::Ban {
        room: "lobby".into(),
        name: name.into(),
        by: "ana".into(),
        reason: reason.into(),
        until,
        note: note.map(str::to_owned),
        ts: 0,
    }
}

/// The `until` of a ban event, checked to be `seconds` from now (give or
/// take the test's own time), and the event with it set to `None`.
fn without_until(event: Event, seconds: u64) -> Event {
    let Event::Ban { until, .. } = &event else {
        panic!("not a ban: {event:?}")
    };
    let until = until.expect("a timed ban has an end");
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
    let expected = now + seconds * 1000;
    assert!(
        until <= expected && expected - until < 30_000,
        "until {until}, expected about {expected}"
    );
    let Event::Ban {
        room,
        name,
        by,
        reason,
        note,
        ts,
        ..
    } = event
    else {
        unreachable!()
    };
    Event::Ban {
        room,
        name,
        by,
        reason,
        until: None,
        note,
        ts,
    }
}

/// `/ban NAME DUR WHY`: the room hears it (the banned person too), who is
/// closed with 4003, the operator's name, the end and the reason; the name
/// and the address are then refused with 4003 on connect, a `/nick` to the
/// name gets `name_banned`; `/bans` lists it; `/unban` lifts it; the log
/// says who banned whom, until when and why.
#[tokio::test]
async fn a_ban_closes_with_4003_and_refuses_the_name_and_the_address() {
    let mut server = TestServer::start(&["--op-token", OP_SECRET, PROXY[0], PROXY[1]]).await;
    let mut ana = enter_from(&server, "ana", Some("203.0.113.1")).await;
    let mut bo = enter_from(&server, "bo", Some("203.0.113.2")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    op(&mut ana, "ana").await;

    ana.send("/ban BO 2h spamming\nthe room").await;
    let heard = untimed(ana.next_event().await);
    assert_eq!(
        without_until(heard, 7200),
        ban_notice("bo", "spamming the room", None, None)
    );
    let heard = untimed(bo.next_event().await);
    let Event::Ban { until, .. } = heard else {
        panic!("{heard:?}")
    };
    let until_text = chat::protocol::event::until_text(until);
    let (code, reason) = bo.expect_close().await;
    assert_eq!(code, 4003);
    assert_eq!(
        reason,
        format!("banned by ana {until_text}: spamming the room")
    );
    assert!(until_text.ends_with(" UTC"), "{until_text}");
    expect(&mut ana, leave("lobby", "bo", &reason)).await;

    // The name from anywhere, and the address under any name.
    assert_eq!(refused(&server, "bo", Some("198.51.100.9")).await.0, 4003);
    assert_eq!(refused(&server, "BO", None).await.0, 4003);
    assert_eq!(
        refused(&server, "cy", Some("203.0.113.2")).await,
        (code, reason.clone())
    );
    // A guest from there too.
    let mut guest = connect_from(&server, "/lobby?format=json", Some("203.0.113.2")).await;
    assert_eq!(guest.expect_close().await.0, 4003);

    let mut cy = enter_from(&server, "cy", Some("203.0.113.3")).await;
    cy.send("/nick Bo").await;
    expect_error(
        &mut cy,
        ErrorCode::NameBanned,
        &format!("the name 'Bo' is banned {until_text}; choose another"),
    )
    .await;

    ana.event_matching("cy's join", |e| matches!(e, Event::Join { .. }))
        .await;
    ana.send("/bans").await;
    expect(
        &mut ana,
        Event::Bans {
            bans: vec![BanInfo {
                name: "bo".into(),
                address: Some("203.0.113.2".into()),
                until,
                by: "ana".into(),
                reason: "spamming the room".into(),
            }],
        },
    )
    .await;

    ana.send("/unban bo").await;
    expect(
        &mut ana,
        Event::Unban {
            name: "bo".into(),
            by: "ana".into(),
        },
    )
    .await;
    ana.send("/bans").await;
    expect(&mut ana, Event::Bans { bans: vec![] }).await;
    enter_from(&server, "bo", Some("203.0.113.2")).await;

    server.signal("TERM");
    server.wait().await;
    let log = server.log().await;
    assert!(
        log.lines().any(|l| l.contains("who=ana")
            && l.contains("action=\"ban\"")
            && l.contains("whom=bo")
            && l.contains(&until_text)
            && l.contains("why=spamming the room")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("who=ana") && l.contains("action=\"unban\"")),
        "{log}"
    );
}

/// An address that others connected share (here everyone's 127.0.0.1) is
/// not banned: the name is, and the operator is told why; another name
/// from that address still gets in. In the text format too.
#[tokio::test]
async fn a_shared_address_is_not_banned_and_the_operator_is_told_why() {
    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let mut cy = WsClient::connect(&server.url_for("/lobby?name=cy")).await;
    cy.next_text().await;
    assert_eq!(cy.next_text().await, "-> cy joined lobby");
    expect(&mut ana, join("lobby", "cy")).await;
    op(&mut ana, "ana").await;

    ana.send("/ban bo").await;
    expect(&mut ana, ban_notice("bo", "", None, None)).await;
    let note = "2 other people connected now share their address: only the name is affected";
    // Bo's leave may come first: it races the operator's own answer.
    let answer = ana
        .event_matching("the note", |e| matches!(e, Event::Ban { .. }))
        .await;
    assert_eq!(untimed(answer), ban_notice("bo", "", None, Some(note)));
    assert_eq!(
        cy.next_text().await,
        "-- bo was banned by ana until unbanned"
    );
    assert_eq!(
        bo.expect_close().await,
        (4003, "banned by ana until unbanned".to_owned())
    );

    assert_eq!(refused(&server, "bo", None).await.0, 4003);
    enter(&server, "dee", "lobby").await;

    ana.send("/bans").await;
    let bans = ana
        .event_matching("the bans", |e| matches!(e, Event::Bans { .. }))
        .await;
    assert_eq!(
        bans,
        Event::Bans {
            bans: vec![BanInfo {
                name: "bo".into(),
                address: None,
                until: None,
                by: "ana".into(),
                reason: String::new(),
            }],
        }
    );
    let mut text_op = WsClient::connect(&server.url_for("/lobby?name=eve")).await;
    text_op.next_text().await;
    text_op.next_text().await;
    text_op.send(&format!("/op {OP_SECRET}")).await;
    assert_eq!(text_op.next_text().await, "-- you are now an operator");
    text_op.send("/bans").await;
    assert_eq!(
        text_op.next_text().await,
        "bans:\n  bo (name only) until unbanned by ana"
    );
    text_op.send("/unban BO").await;
    assert_eq!(text_op.next_text().await, "-- eve lifted the ban on bo");
    text_op.send("/bans").await;
    assert_eq!(text_op.next_text().await, "-- no bans");
}

/// A connection whose trusted proxy names no client has the proxy's
/// address, which stands for everyone behind it: only the name is banned.
#[tokio::test]
async fn a_trusted_proxys_address_is_never_banned() {
    let server = TestServer::start(&["--op-token", OP_SECRET, PROXY[0], PROXY[1]]).await;
    let mut ana = enter_from(&server, "ana", Some("203.0.113.1")).await;
    let mut bo = enter_from(&server, "bo", None).await;
    expect(&mut ana, join("lobby", "bo")).await;
    op(&mut ana, "ana").await;
    ana.send("/ban bo 1d").await;
    let note = "their address is a trusted proxy's, which stands for everyone behind it: only the name is affected";
    let first = untimed(ana.next_event().await);
    assert_eq!(
        without_until(first, 86_400),
        ban_notice("bo", "", None, None)
    );
    let second = ana
        .event_matching("the note", |e| matches!(e, Event::Ban { .. }))
        .await;
    let second = untimed(second);
    assert_eq!(
        without_until(second, 86_400),
        ban_notice("bo", "", None, Some(note))
    );
    assert_eq!(bo.expect_close().await.0, 4003);
    enter_from(&server, "cy", None).await;
    assert_eq!(refused(&server, "bo", Some("198.51.100.1")).await.0, 4003);
}

/// Only operators ban, unban and list bans; misuse gets a clear error.
#[tokio::test]
async fn ban_commands_are_for_operators_and_say_what_is_wrong() {
    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    for (command, what) in [
        ("/ban ana", "ban"),
        ("/unban ana", "unban"),
        ("/bans", "list the bans"),
    ] {
        bo.send(command).await;
        expect_error(
            &mut bo,
            ErrorCode::NotOperator,
            &format!("only operators may {what}; see /op"),
        )
        .await;
    }
    op(&mut ana, "ana").await;
    ana.send("/ban").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "usage: /ban NAME [DUR] [WHY] (DUR like 30s, 10m, 2h or 1d)",
    )
    .await;
    ana.send("/ban ANA").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "you cannot ban yourself").await;
    ana.send("/unban zed").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "zed is not banned (see /bans)",
    )
    .await;
    ana.send("/bans").await;
    expect(&mut ana, Event::Bans { bans: vec![] }).await;
    // Someone not connected: the name alone.
    ana.send("/ban zed 10m trolling").await;
    let answer = untimed(ana.next_event().await);
    let mut expected = ban_notice(
        "zed",
        "trolling",
        None,
        Some("zed is not connected: only the name is banned"),
    );
    if let Event::Ban { room, .. } = &mut expected {
        room.clear();
    }
    assert_eq!(without_until(answer, 600), expected);
}

/// Without `--op-token` nobody bans.
#[tokio::test]
async fn without_op_token_nobody_bans() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send("/ban bo").await;
    expect_error(
        &mut ana,
        ErrorCode::NotOperator,
        "only operators may ban, and this server has none (it runs without --op-token)",
    )
    .await;
}

/// A timed ban ends by itself: refused with 4003 until then, let in after.
#[tokio::test]
async fn a_timed_ban_ends_by_itself() {
    let server = TestServer::start(&["--op-token", OP_SECRET, PROXY[0], PROXY[1]]).await;
    let mut ana = enter_from(&server, "ana", Some("203.0.113.1")).await;
    let mut bo = enter_from(&server, "bo", Some("203.0.113.2")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    op(&mut ana, "ana").await;
    ana.send("/ban bo 2s").await;
    assert_eq!(bo.expect_close().await.0, 4003);
    assert_eq!(refused(&server, "bo", Some("203.0.113.2")).await.0, 4003);
    // Retried until the ban is over, within the test's deadline.
    let mut attempts = 0;
    within("the ban to end", async {
        loop {
            attempts += 1;
            let mut client =
                connect_from(&server, "/lobby?format=json&name=bo", Some("203.0.113.2")).await;
            let first = client.next_message().await;
            if first.is_text() {
                return;
            }
            assert_eq!(
                first.as_close().map(|(code, _)| u16::from(code)),
                Some(4003)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(attempts > 1, "the ban held for a while");
    ana.send("/bans").await;
    let bans = ana
        .event_matching("the bans", |e| matches!(e, Event::Bans { .. }))
        .await;
    assert_eq!(bans, Event::Bans { bans: vec![] });
}

/// With `--data-dir`, a ban and a room's topic survive a restart: the
/// banned name is refused at once, `/bans` lists it, and the welcome (and
/// `/topic`) show the topic; a topic cleared stays cleared.
#[tokio::test]
async fn bans_and_topics_survive_a_restart_with_a_data_dir() {
    let dir = TempDir::new();
    let args = ["--op-token", OP_SECRET, "--data-dir", dir.root()];
    let mut server = TestServer::start(&args).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    op(&mut ana, "ana").await;
    ana.send("/topic Rust, mostly").await;
    ana.event_matching("the topic", |e| matches!(e, Event::Topic { .. }))
        .await;
    ana.send("/join rust").await;
    ana.event_matching(
        "ana's join",
        |e| matches!(e, Event::Join { name, .. } if name == "ana"),
    )
    .await;
    ana.send("/topic to be cleared").await;
    ana.event_matching("the topic", |e| matches!(e, Event::Topic { .. }))
        .await;
    ana.send("/topic -").await;
    ana.event_matching("the topic", |e| matches!(e, Event::Topic { .. }))
        .await;
    ana.send("/ban bo 1d spam").await;
    ana.event_matching("the ban", |e| matches!(e, Event::Ban { .. }))
        .await;
    assert_eq!(bo.expect_close().await.0, 4003);
    ana.send("/bans").await;
    let before = ana.next_event().await;

    server.signal("TERM");
    assert!(server.wait().await.success());
    let server = TestServer::start(&args).await;
    assert_eq!(refused(&server, "bo", None).await.0, 4003);
    let (mut ana, welcome) = server.join("ana", "lobby").await;
    let Event::Welcome { topic, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(topic.as_deref(), Some("Rust, mostly"));
    expect(&mut ana, join("lobby", "ana")).await;
    op(&mut ana, "ana").await;
    ana.send("/bans").await;
    assert_eq!(ana.next_event().await, before);
    ana.send("/join rust").await;
    ana.event_matching(
        "ana's join",
        |e| matches!(e, Event::Join { name, .. } if name == "ana"),
    )
    .await;
    ana.send("/topic").await;
    expect(
        &mut ana,
        Event::Topic {
            room: "rust".into(),
            topic: String::new(),
            by: None,
        },
    )
    .await;
}

/// The terminal client, banned, stops and says why and until when, on
/// stderr, with status 9; started again under that name, it is refused the
/// same way at once.
#[tokio::test]
async fn a_banned_client_says_why_and_until_when_and_stops() {
    let server = TestServer::start(&["--op-token", OP_SECRET]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    op(&mut ana, "ana").await;
    let mut bo = RunningClient::start(&[&server.url, "--name", "bo"]);
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/ban bo flooding").await;
    let run = bo.exit().await;
    assert_eq!(run.status.code(), Some(9), "stderr: {:?}", run.stderr);
    let why = "banned by ana until unbanned: flooding (close code 4003)";
    assert_eq!(
        run.stderr,
        format!("error: the server closed the connection: {why}\n")
    );
    assert!(
        run.stdout
            .ends_with("-- bo was banned by ana until unbanned (flooding)\n"),
        "{:?}",
        run.stdout
    );

    let mut again = RunningClient::start(&[&server.url, "--name", "bo"]);
    let run = again.exit().await;
    assert_eq!(run.status.code(), Some(9), "stderr: {:?}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("error: the server closed the connection: {why}\n")
    );
}
