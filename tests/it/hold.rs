//! Issue 19, the page's hold: with `wait=1` a connection asking for a name
//! someone has is held (in no room, seen by nobody) and told why at once,
//! before its welcome; `/nick OTHER` then joins it once, as OTHER. A
//! registered name is held the same way, and told so at once, so that the
//! page knows to ask for the password. Without `wait=1` nothing changes.
//!
//! Events are compared whole, with `ts` checked and then zeroed (the
//! builders are in `support::events`).

use chat::protocol::{ErrorCode, Event};
use futures_util::SinkExt as _;

use crate::support::events::{
    enter, expect, expect_error, join, leave, message, name_of, nick, own_join, register_and_quit,
    say,
};
use crate::support::redis::Redis;
use crate::support::{PASSWORD, TestServer, WsClient};

/// Connects a JSON client with `wait=1` to `path_and_query`, reading
/// nothing: a held connection is told why before any welcome.
async fn connect_waiting(server: &TestServer, path_and_query: &str) -> WsClient {
    let url = server.url_for(&format!("{path_and_query}&format=json&wait=1"));
    WsClient::connect(&url).await
}

fn taken_in_hold(name: &str) -> String {
    format!(
        "the name '{name}' is taken; pick another with /nick NAME (you are not in the room yet)"
    )
}

fn registered_in_hold(name: &str) -> String {
    format!(
        "the name '{name}' is registered; /identify PASSWORD if it is yours, or /nick NAME to pick another (you are not in the room yet)"
    )
}

/// What a connection that asked for the taken `name` is told once it
/// enters as `guest`.
fn taken_as_guest(name: &str, guest: &str) -> String {
    format!("the name '{name}' is taken; you are {guest} (/nick NAME to pick another)")
}

/// A taken name with `wait=1` is told `name_taken` at once and held; a
/// `/nick` to another taken name is told again; `/nick` to a free name
/// joins once, under it: the room reads one `join`, never a guest, never a
/// rename. A held connection that closes was seen by nobody.
#[tokio::test]
async fn issue_19_a_taken_name_waits_and_joins_once_after_nick() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let mut obs = enter(&server, "obs", "lobby").await;
    expect(&mut bo, join("lobby", "obs")).await;

    // Gone during the hold: nobody saw it.
    let mut shy = connect_waiting(&server, "/lobby?name=BO").await;
    expect_error(&mut shy, ErrorCode::NameTaken, &taken_in_hold("BO")).await;
    shy.ws.close().await.expect("closing");
    drop(shy);

    let mut held = connect_waiting(&server, "/lobby?name=bo").await;
    expect_error(&mut held, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    say(&mut obs, 1, "lobby", "obs", "anyone new?").await;
    expect(&mut bo, message(1, "lobby", "obs", "anyone new?")).await;
    // Not in the room: what it says is not said to anyone yet.
    held.send("/nick obs").await;
    expect_error(&mut held, ErrorCode::NameTaken, &taken_in_hold("obs")).await;
    held.send("/nick eve").await;
    assert_eq!(name_of(&held.next_event().await), "eve");
    expect(&mut held, message(1, "lobby", "obs", "anyone new?")).await;
    expect(&mut held, join("lobby", "eve")).await;
    // The room reads exactly one arrival: eve's.
    expect(&mut obs, join("lobby", "eve")).await;
    expect(&mut bo, join("lobby", "eve")).await;
    say(&mut obs, 2, "lobby", "obs", "hi eve").await;
    expect(&mut held, message(2, "lobby", "obs", "hi eve")).await;
    say(&mut held, 3, "lobby", "eve", "hi all").await;
    expect(&mut bo, message(2, "lobby", "obs", "hi eve")).await;
    expect(&mut bo, message(3, "lobby", "eve", "hi all")).await;
}

/// A waiting connection for a free name enters at once, as without
/// `wait=1`; one that says something else than an answer, or nothing
/// within the handshake timeout, enters as a guest with `name_taken`, and
/// what it said is then handled like any frame.
#[tokio::test]
async fn issue_19_a_waiting_connection_becomes_a_guest_without_an_answer() {
    let server = TestServer::start(&["--handshake-timeout", "1"]).await;
    let mut bo = enter(&server, "bo", "lobby").await;

    let mut free = connect_waiting(&server, "/lobby?name=cy").await;
    assert_eq!(name_of(&free.next_event().await), "cy");
    expect(&mut free, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;

    // Silent: the timeout.
    let mut silent = connect_waiting(&server, "/lobby?name=bo").await;
    expect_error(&mut silent, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    let guest = name_of(&silent.next_event().await);
    assert!(guest.starts_with("guest-"), "{guest}");
    expect_error(
        &mut silent,
        ErrorCode::NameTaken,
        &taken_as_guest("bo", &guest),
    )
    .await;
    expect(&mut silent, join("lobby", &guest)).await;
    expect(&mut bo, join("lobby", &guest)).await;

    // Talkative: its frame is said, as the guest, after its join.
    let mut talker = connect_waiting(&server, "/lobby?name=bo").await;
    expect_error(&mut talker, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    talker.send("hello").await;
    let guest = name_of(&talker.next_event().await);
    expect_error(
        &mut talker,
        ErrorCode::NameTaken,
        &taken_as_guest("bo", &guest),
    )
    .await;
    expect(&mut talker, join("lobby", &guest)).await;
    expect(&mut talker, message(1, "lobby", &guest, "hello")).await;
}

/// A hold takes 8 answers at most: the next frame is no longer one, and is
/// handled once the connection has entered, as a guest.
#[tokio::test]
async fn issue_19_a_hold_takes_eight_answers_at_most() {
    let server = TestServer::start(&[]).await;
    let _bo = enter(&server, "bo", "lobby").await;
    let mut persistent = connect_waiting(&server, "/lobby?name=bo").await;
    expect_error(&mut persistent, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    for _ in 0..8 {
        persistent.send("/nick Bo").await;
        expect_error(&mut persistent, ErrorCode::NameTaken, &taken_in_hold("Bo")).await;
    }
    persistent.send("/nick zed").await;
    let guest = name_of(&persistent.next_event().await);
    assert!(guest.starts_with("guest-"), "{guest}");
    expect_error(
        &mut persistent,
        ErrorCode::NameTaken,
        &taken_as_guest("Bo", &guest),
    )
    .await;
    own_join(&mut persistent, "lobby", &guest).await;
    expect(&mut persistent, nick("lobby", &guest, "zed")).await;
}

/// Without `wait=1` a taken name enters at once as a guest, as ever: the
/// welcome comes first.
#[tokio::test]
async fn issue_19_without_wait_a_taken_name_enters_as_a_guest() {
    let server = TestServer::start(&[]).await;
    let _bo = enter(&server, "bo", "lobby").await;
    let (mut late, _welcome) = server.join("bo", "lobby").await;
    let next = late.next_event().await;
    assert!(
        matches!(
            &next,
            Event::Error {
                code: ErrorCode::NameTaken,
                ..
            }
        ),
        "{next:?}"
    );
}

/// A registered name with `wait=1` is told `name_registered` at once; a
/// wrong password is told and the connection stays held; the right one
/// joins it once. `/nick` from a taken name's hold to a registered one
/// moves the hold to that name.
#[tokio::test]
async fn issue_19_a_registered_name_waits_for_its_password() {
    let server = TestServer::start(&[]).await;
    register_and_quit(&server, "ana", false).await;
    let mut bo = enter(&server, "bo", "lobby").await;

    let mut held = connect_waiting(&server, "/lobby?name=ana").await;
    expect_error(
        &mut held,
        ErrorCode::NameRegistered,
        &registered_in_hold("ana"),
    )
    .await;
    held.send("/identify not-the-password").await;
    expect_error(
        &mut held,
        ErrorCode::WrongPassword,
        "wrong password for 'ana'",
    )
    .await;
    held.send(&format!("/identify {PASSWORD}")).await;
    assert_eq!(name_of(&held.next_event().await), "ana");
    expect(&mut held, join("lobby", "ana")).await;
    expect(&mut bo, join("lobby", "ana")).await;
    say(&mut bo, 1, "lobby", "bo", "welcome back").await;

    // From a taken name to the registered one, whose holder is signed out.
    let mut other = connect_waiting(&server, "/lobby?name=bo").await;
    expect_error(&mut other, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    other.send("/nick ana").await;
    expect_error(
        &mut other,
        ErrorCode::NameRegistered,
        &registered_in_hold("ana"),
    )
    .await;
    other.send(&format!("/identify ana {PASSWORD}")).await;
    assert_eq!(
        held.expect_close().await,
        (4004, "signed in elsewhere".to_owned())
    );
    expect(&mut bo, leave("lobby", "ana", "signed in elsewhere")).await;
    assert_eq!(name_of(&other.next_event().await), "ana");
    expect(&mut other, message(1, "lobby", "bo", "welcome back")).await;
    expect(&mut other, join("lobby", "ana")).await;
    expect(&mut bo, join("lobby", "ana")).await;
    say(&mut bo, 2, "lobby", "bo", "one ana only").await;
}

/// With `--redis-url`, a name someone has on another server is held the
/// same way, and `/nick` to a free one joins once.
#[tokio::test]
async fn issue_19_a_name_taken_on_another_server_waits_too() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let one = redis.server(&[]).await;
    let two = redis.server(&[]).await;
    let mut bo = enter(&one, "bo", "lobby").await;
    let mut held = connect_waiting(&two, "/lobby?name=bo").await;
    expect_error(&mut held, ErrorCode::NameTaken, &taken_in_hold("bo")).await;
    held.send("/nick eve").await;
    assert_eq!(name_of(&held.next_event().await), "eve");
    own_join(&mut held, "lobby", "eve").await;
    expect(&mut bo, join("lobby", "eve")).await;
    say(&mut bo, 1, "lobby", "bo", "hi eve").await;
}
