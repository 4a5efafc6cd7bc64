//! Issue 19 across servers (`--redis-url`): an operator on one server acts
//! on a person connected to another, and everyone sees what one server
//! alone would show. Each test starts its own `redis-server` (skipped
//! without it, as in `cluster`).
//!
//! Events are compared whole, with `ts` checked and then zeroed.

use chat::protocol::{ErrorCode, Event};

use crate::support::TestServer;
use crate::support::WsClient;
use crate::support::events::{enter, expect, expect_error, join, leave, message, say};
use crate::support::redis::Redis;

const SECRET: &str = "s3cret-op";

/// Two servers with operators on one Redis.
async fn two_servers(redis: &Redis) -> (TestServer, TestServer) {
    (
        redis.server(&["--op-token", SECRET]).await,
        redis.server(&["--op-token", SECRET]).await,
    )
}

/// Ana, an operator, on `one`, and bo and cy on `two`, all in the lobby,
/// each having seen the others arrive.
async fn operator_and_two(one: &TestServer, two: &TestServer) -> (WsClient, WsClient, WsClient) {
    let mut ana = enter(one, "ana", "lobby").await;
    let mut bo = enter(two, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let cy = enter(two, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    ana.send(&format!("/op {SECRET}")).await;
    expect(&mut ana, Event::Op { name: "ana".into() }).await;
    (ana, bo, cy)
}

/// `/op` works with Redis, and a kick of someone on the other server
/// closes them there with 4001 after their room heard the `kick` once,
/// on both servers, in the room's order.
#[tokio::test]
async fn an_operator_kicks_someone_on_another_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = two_servers(&redis).await;
    let (mut ana, mut bo, mut cy) = operator_and_two(&one, &two).await;

    // Not an operator: bo is on a server where nobody sent the secret.
    bo.send("/kick ana").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may kick; see /op",
    )
    .await;

    say(&mut ana, 1, "lobby", "ana", "before").await;
    ana.send("/kick BO spamming").await;
    let kick = Event::Kick {
        room: "lobby".into(),
        name: "bo".into(),
        by: "ana".into(),
        reason: "spamming".into(),
        ts: 0,
    };
    expect(&mut bo, message(1, "lobby", "ana", "before")).await;
    expect(&mut bo, kick.clone()).await;
    assert_eq!(
        bo.expect_close().await,
        (4001, "kicked by ana: spamming".to_owned())
    );
    let left = leave("lobby", "bo", "kicked by ana: spamming");
    expect(&mut cy, message(1, "lobby", "ana", "before")).await;
    for client in [&mut ana, &mut cy] {
        expect(client, kick.clone()).await;
        expect(client, left.clone()).await;
    }
    // Heard once: the next event is the next message.
    say(&mut cy, 2, "lobby", "cy", "after").await;
    expect(&mut ana, message(2, "lobby", "cy", "after")).await;

    ana.send("/kick zed").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'zed' is connected (check the spelling)",
    )
    .await;

    // An operator in another room gets a copy of their own.
    ana.send("/join side").await;
    ana.event_matching("the own join", |e| matches!(e, Event::Join { .. }))
        .await;
    expect(&mut cy, leave("lobby", "ana", "joined side")).await;
    ana.send("/kick cy").await;
    let kick = Event::Kick {
        room: "lobby".into(),
        name: "cy".into(),
        by: "ana".into(),
        reason: String::new(),
        ts: 0,
    };
    expect(&mut ana, kick.clone()).await;
    expect(&mut cy, kick).await;
    assert_eq!(cy.expect_close().await, (4001, "kicked by ana".to_owned()));
}

/// A mute given on one server holds on the other, where the person is,
/// and follows their name to a new connection on either; `/unmute` lifts
/// it everywhere.
#[tokio::test]
async fn an_operator_mutes_someone_on_another_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = two_servers(&redis).await;
    let (mut ana, mut bo, mut cy) = operator_and_two(&one, &two).await;

    ana.send("/mute bo 10m").await;
    let muted = Event::Mute {
        name: "bo".into(),
        by: "ana".into(),
        seconds: Some(600),
        note: None,
    };
    expect(&mut ana, muted.clone()).await;
    expect(&mut bo, muted).await;
    let refusal = "you are muted for 600 more seconds; you can still read";
    for frame in ["hi", "/me waves", "/msg ana psst", "/nick bobby"] {
        bo.send(frame).await;
        expect_error(&mut bo, ErrorCode::Muted, refusal).await;
    }
    say(&mut cy, 1, "lobby", "cy", "cy still speaks").await;
    expect(&mut bo, message(1, "lobby", "cy", "cy still speaks")).await;
    expect(&mut ana, message(1, "lobby", "cy", "cy still speaks")).await;

    // Back on the operator's server: still muted.
    bo.send("/quit").await;
    bo.expect_close().await;
    expect(&mut ana, leave("lobby", "bo", "quit")).await;
    expect(&mut cy, leave("lobby", "bo", "quit")).await;
    let (mut bo, _) = one.join("bo", "lobby").await;
    expect(&mut bo, message(1, "lobby", "cy", "cy still speaks")).await;
    expect(&mut bo, join("lobby", "bo")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    expect(&mut cy, join("lobby", "bo")).await;
    bo.send("hi").await;
    expect_error(&mut bo, ErrorCode::Muted, refusal).await;

    // Lifted from the other server by another operator.
    cy.send(&format!("/op {SECRET}")).await;
    expect(&mut cy, Event::Op { name: "cy".into() }).await;
    cy.send("/unmute bo").await;
    let unmuted = Event::Unmute {
        name: "bo".into(),
        by: "cy".into(),
    };
    expect(&mut cy, unmuted.clone()).await;
    expect(&mut bo, unmuted).await;
    say(&mut bo, 2, "lobby", "bo", "heard again").await;
    expect(&mut ana, message(2, "lobby", "bo", "heard again")).await;
}
