//! Issue 19, first slice: operators (`--op-token`, `/op`) on one server.
//!
//! Events are compared whole, with `ts` checked and then zeroed (the
//! builders are in `support::events`).

use chat::protocol::{ErrorCode, Event};

use crate::support::events::{enter, expect, expect_error, join};
use crate::support::{TestServer, WsClient};

const SECRET: &str = "s3cret-op";

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
    Event::Who {
        room: "lobby".into(),
        count: names.len(),
        names: names.iter().map(|&n| n.to_owned()).collect(),
        more: false,
        ops: ops.iter().map(|&n| n.to_owned()).collect(),
    }
}

/// `/op SECRET` makes the connection an operator, which `/who` lists apart
/// (JSON) and marks with `@` (text); a rename keeps it.
#[tokio::test]
async fn op_with_the_secret_makes_an_operator_shown_in_who() {
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", SECRET]).await;
    ana.send(&format!("/op {SECRET}")).await;
    expect(&mut ana, Event::Op { name: "ana".into() }).await;

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
    let (mut server, mut ana, mut bo) = ana_and_bo(&["--op-token", SECRET]).await;
    ana.send("/op guess-123").await;
    expect_error(
        &mut ana,
        ErrorCode::OpRefused,
        "wrong secret: you are not an operator",
    )
    .await;
    ana.send("/op").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "usage: /op SECRET").await;
    bo.send(&format!("/op {SECRET}")).await;
    expect(&mut bo, Event::Op { name: "bo".into() }).await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &["bo"])).await;

    server.signal("TERM");
    server.wait().await;
    let log = server.log().await;
    assert!(!log.contains(SECRET), "{log}");
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
    let (server, mut ana, mut bo) = ana_and_bo(&["--op-token", SECRET]).await;
    ana.send(&format!("/op {SECRET}")).await;
    expect(&mut ana, Event::Op { name: "ana".into() }).await;
    ana.send("/quit").await;
    ana.expect_close().await;
    bo.event_matching("ana's leave", |e| matches!(e, Event::Leave { .. }))
        .await;
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &[])).await;
}
