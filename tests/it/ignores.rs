//! Issue 19: `/ignore` and `/unignore`. The server stops sending you the
//! messages, actions and private messages of a name you ignore (not its
//! notices), for as long as the connection lasts; the terminal client
//! sends the list again on every reconnection.

use chat::protocol::{ErrorCode, Event};

use crate::support::client::RunningClient;
use crate::support::events::{
    action, enter, expect, expect_error, join, message, nick, private, say,
};
use crate::support::{TestServer, WsClient};

fn ignore(name: &str) -> Event {
    Event::Ignore { name: name.into() }
}

/// ana ignores bo: bo's messages, actions and private messages no longer
/// reach her, his notices (a rename) still do, and cy's messages do; bo
/// still hears ana. `/unignore` brings bo back.
#[tokio::test]
async fn an_ignored_name_is_not_heard_but_its_notices_are() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let mut cy = enter(&server, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;

    ana.send("/ignore BO").await;
    expect(&mut ana, ignore("BO")).await;

    say(&mut bo, 1, "lobby", "bo", "hi ana").await;
    bo.send("/me waves").await;
    expect(&mut bo, action(2, "lobby", "bo", "waves")).await;
    bo.send("/msg ana psst").await;
    expect(&mut bo, private("bo", "ana", "psst")).await;
    expect(&mut cy, message(1, "lobby", "bo", "hi ana")).await;
    expect(&mut cy, action(2, "lobby", "bo", "waves")).await;
    say(&mut cy, 3, "lobby", "cy", "hello").await;
    // What bo said went to everyone else, and ana's next event is cy's.
    expect(&mut ana, message(3, "lobby", "cy", "hello")).await;

    // The other way round, nothing changed.
    say(&mut ana, 4, "lobby", "ana", "can you hear me").await;
    expect(&mut bo, message(3, "lobby", "cy", "hello")).await;
    expect(&mut bo, message(4, "lobby", "ana", "can you hear me")).await;

    bo.send("/nick bob").await;
    expect(&mut bo, nick("lobby", "bo", "bob")).await;
    expect(&mut ana, nick("lobby", "bo", "bob")).await;
    // The new name is not the ignored one.
    say(&mut bo, 5, "lobby", "bob", "renamed").await;
    expect(&mut ana, message(5, "lobby", "bob", "renamed")).await;

    ana.send("/ignore bob").await;
    expect(&mut ana, ignore("bob")).await;
    ana.send("/unignore BOB").await;
    expect(&mut ana, Event::Unignore { name: "BOB".into() }).await;
    bo.send("/msg ana back").await;
    expect(&mut ana, private("bob", "ana", "back")).await;
}

/// Misuse: oneself, a name not ignored, no name, an invalid one; in text.
#[tokio::test]
async fn ignore_misuse_gets_a_clear_error() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    ana.send("/ignore ana").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "you cannot ignore yourself",
    )
    .await;
    ana.send("/unignore bo").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "you do not ignore bo").await;
    ana.send("/ignore").await;
    expect_error(&mut ana, ErrorCode::BadArguments, "usage: /ignore NAME").await;
    ana.send("/ignore b@d").await;
    ana.event_matching("invalid_name", |e| {
        matches!(
            e,
            Event::Error {
                code: ErrorCode::InvalidName,
                ..
            }
        )
    })
    .await;

    let mut text = WsClient::connect(&server.url_for("/lobby?name=cy")).await;
    text.next_text().await;
    text.next_text().await;
    text.send("/ignore bo").await;
    assert_eq!(
        text.next_text().await,
        "-- you ignore bo now (/unignore bo to undo)"
    );
    text.send("/unignore bo").await;
    assert_eq!(text.next_text().await, "-- you no longer ignore bo");
}

/// The terminal client remembers what it ignores and sends it again after
/// the server restarts (the server forgot it with the connection): bo is
/// still not heard, cy is, and the restored confirmation is not printed
/// again.
#[tokio::test]
async fn the_client_ignores_the_same_names_after_a_server_restart() {
    let mut server = TestServer::start(&[]).await;
    let port = server.port;
    let mut ana = RunningClient::start(&["--port", &port.to_string(), "--name", "ana"]);
    ana.wait_for_line("-> ana joined lobby").await;
    ana.type_line("/ignore bo").await;
    ana.wait_for_line("-- you ignore bo now (/unignore bo to undo)")
        .await;

    server.signal("TERM");
    assert!(server.wait().await.success());
    let server = TestServer::start_on("127.0.0.1", port, &[]).await;
    while ana.next_status().await != "-- reconnected" {}
    let mut cy = enter(&server, "cy", "lobby").await;
    // Typed after the reconnection, so sent after the list: once cy has
    // it, the server has the list again.
    ana.type_line("/msg cy ready").await;
    expect(&mut cy, private("ana", "cy", "ready")).await;

    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut cy, join("lobby", "bo")).await;
    say(&mut bo, 1, "lobby", "bo", "am I heard").await;
    bo.send("/msg ana psst").await;
    expect(&mut bo, private("bo", "ana", "psst")).await;
    expect(&mut cy, message(1, "lobby", "bo", "am I heard")).await;
    say(&mut cy, 2, "lobby", "cy", "after").await;
    ana.wait_for_line("cy: after").await;
    let run = ana.finish().await;
    assert!(run.status.success(), "{:?}", run.stderr);
    let printed = ana.printed.join("\n");
    assert!(!printed.contains("am I heard"), "{printed}");
    assert!(!printed.contains("psst"), "{printed}");
    assert_eq!(
        ana.printed
            .iter()
            .filter(|l| l.starts_with("-- you ignore bo"))
            .count(),
        1,
        "{printed}"
    );
}
