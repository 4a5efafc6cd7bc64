//! Names: asked for in the URL, assigned when missing, refused when taken or
//! invalid (the connection stays, under a guest name), unique on the server
//! even when many ask at once, freed on leaving, and changed with `/nick`.

use std::collections::HashSet;

use chat::protocol::{ErrorCode, Event};
use futures_util::future::join_all;

use crate::support::events::{
    enter, expect, expect_error, join, leave, message, nick, private, say, who,
};
use crate::support::{TestServer, WsClient};

/// Connects a JSON client to the lobby, asking for the name `query` (as it
/// goes in the URL) if any, and returns it with the name its welcome gave.
async fn connect(server: &TestServer, query: Option<&str>) -> (WsClient, String) {
    let path = query.map_or_else(|| "/".to_owned(), |name| format!("/?name={name}"));
    let (client, welcome) = server.connect_json(&path).await;
    match welcome {
        Event::Welcome { name, room, .. } => {
            assert_eq!(room, "lobby");
            (client, name)
        }
        other => panic!("first frame: {other:?}"),
    }
}

/// The name asked for with `?name=` is the one the welcome gives and the room sees.
#[tokio::test]
async fn the_name_in_the_url_is_used() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let (mut ana, name) = connect(&server, Some("Ana_2-x")).await;
    assert_eq!(name, "Ana_2-x");
    expect(&mut ana, join("lobby", "Ana_2-x")).await;
    expect(&mut bo, join("lobby", "Ana_2-x")).await;
    say(&mut ana, 1, "lobby", "Ana_2-x", "hi").await;
}

/// Without `?name=` the server picks `guest-1`, `guest-2`, … and says so.
#[tokio::test]
async fn without_a_name_the_server_assigns_guest_names() {
    let server = TestServer::start(&[]).await;
    let (mut first, name) = connect(&server, None).await;
    assert_eq!(name, "guest-1");
    expect(&mut first, join("lobby", "guest-1")).await;
    let (mut second, name) = connect(&server, None).await;
    assert_eq!(name, "guest-2");
    expect(&mut second, join("lobby", "guest-2")).await;
    expect(&mut first, join("lobby", "guest-2")).await;
    say(&mut first, 1, "lobby", "guest-1", "hello").await;
    expect(&mut second, message(1, "lobby", "guest-1", "hello")).await;
}

/// A guest name is never one somebody already chose, in any letter case.
#[tokio::test]
async fn guest_names_skip_names_already_taken() {
    let server = TestServer::start(&[]).await;
    let mut chooser = enter(&server, "Guest-1", "lobby").await;
    let (mut guest, name) = connect(&server, None).await;
    assert_eq!(name, "guest-2");
    expect(&mut guest, join("lobby", "guest-2")).await;
    expect(&mut chooser, join("lobby", "guest-2")).await;
}

/// A name that is taken at connect (in any letter case) gets `name_taken`
/// right after the welcome, which gives a guest name; the connection stays
/// open under that name, and `/nick` can pick another.
#[tokio::test]
async fn a_taken_name_at_connect_gets_name_taken_and_a_guest_name() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;

    let mut late_ones = Vec::new();
    for (asked, guest, renamed) in [("ana", "guest-1", "bo"), ("ANA", "guest-2", "cy")] {
        let (mut late, name) = connect(&server, Some(asked)).await;
        assert_eq!(name, guest);
        expect_error(
            &mut late,
            ErrorCode::NameTaken,
            &format!("the name '{asked}' is taken; you are {guest} (/nick NAME to pick another)"),
        )
        .await;
        expect(&mut late, join("lobby", guest)).await;
        expect(&mut ana, join("lobby", guest)).await;
        late.send(&format!("/nick {renamed}")).await;
        expect(&mut late, nick("lobby", guest, renamed)).await;
        expect(&mut ana, nick("lobby", guest, renamed)).await;
        late_ones.push(late);
    }
    say(&mut ana, 1, "lobby", "ana", "still the only ana").await;
}

/// An invalid `?name=` gets `invalid_name` after the welcome and a guest name.
#[tokio::test]
async fn an_invalid_name_at_connect_gets_invalid_name_and_a_guest_name() {
    let server = TestServer::start(&[]).await;
    let too_long = "a".repeat(25);
    let mut clients = Vec::new();
    let mut names = Vec::new();
    for (query, shown, guest) in [
        ("bad%21", "bad!", "guest-1"),
        ("two%20words", "two words", "guest-2"),
        (too_long.as_str(), too_long.as_str(), "guest-3"),
    ] {
        let (mut client, name) = connect(&server, Some(query)).await;
        assert_eq!(name, guest);
        expect_error(
            &mut client,
            ErrorCode::InvalidName,
            &format!("invalid name '{shown}': use 1 to 24 letters, digits, '_' or '-'"),
        )
        .await;
        expect(&mut client, join("lobby", guest)).await;
        names.push(guest);
        client.send("/who").await;
        expect(&mut client, who("lobby", &names)).await;
        clients.push(client);
    }
}

/// Twenty connections asking for one name at the same moment: exactly one
/// gets it, every other one gets `name_taken` and a guest name, and all the
/// final names are different.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_for_one_name_give_it_to_exactly_one() {
    const N: usize = 20;
    let server = TestServer::start(&[]).await;
    let url = server.url_for("/?name=ana&format=json");
    let attempts = (0..N).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let mut client = WsClient::connect(&url).await;
            let Event::Welcome { name, .. } = client.next_event().await else {
                panic!("the first frame is not the welcome");
            };
            let refusal = if name == "ana" {
                None
            } else {
                Some(client.next_event().await)
            };
            (client, name, refusal)
        })
    });
    let mut results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("a join task panicked"))
        .collect();

    let winners = results.iter().filter(|(_, name, _)| name == "ana").count();
    assert_eq!(winners, 1, "names: {:?}", names_of(&results));
    for (_, name, refusal) in &results {
        if name != "ana" {
            assert!(name.starts_with("guest-"), "{name}");
            assert_eq!(
                refusal.as_ref(),
                Some(&Event::error(
                    ErrorCode::NameTaken,
                    format!("the name 'ana' is taken; you are {name} (/nick NAME to pick another)"),
                ))
            );
        }
    }
    let distinct: HashSet<String> = results.iter().map(|(_, n, _)| n.clone()).collect();
    assert_eq!(distinct.len(), N, "names: {:?}", names_of(&results));

    // The server agrees: /who lists the twenty names (all still connected).
    let client = &mut results[0].0;
    client.send("/who").await;
    let listed = client
        .event_matching("the /who answer", |e| matches!(e, Event::Who { .. }))
        .await;
    let mut expected: Vec<String> = distinct.into_iter().collect();
    expected.sort_unstable();
    assert_eq!(
        listed,
        Event::Who {
            room: "lobby".into(),
            count: expected.len(),
            names: expected,
            more: false,
            ops: Vec::new(),
        }
    );
}

fn names_of(results: &[(WsClient, String, Option<Event>)]) -> Vec<&str> {
    results.iter().map(|(_, n, _)| n.as_str()).collect()
}

/// Once someone has left (the room saw them go), their name can be taken again.
#[tokio::test]
async fn a_name_is_free_again_after_its_owner_leaves() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "lobby").await;
    let ana = enter(&server, "ana", "lobby").await;
    expect(&mut bo, join("lobby", "ana")).await;

    drop(ana);
    expect(&mut bo, leave("lobby", "ana", "disconnected")).await;

    let mut again = enter(&server, "ana", "lobby").await;
    expect(&mut bo, join("lobby", "ana")).await;
    say(&mut again, 1, "lobby", "ana", "back").await;
}

/// `/nick` is seen by everyone in the room (not in other rooms), `/who` then
/// shows the new name, and the old name is free for someone else.
#[tokio::test]
async fn nick_is_seen_by_the_room_and_who_shows_the_new_name() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let mut cy = enter(&server, "cy", "rust").await;

    ana.send("/nick zoe").await;
    expect(&mut ana, nick("lobby", "ana", "zoe")).await;
    expect(&mut bo, nick("lobby", "ana", "zoe")).await;
    bo.send("/who").await;
    expect(&mut bo, who("lobby", &["bo", "zoe"])).await;

    // Cy, in another room, saw no nick event: his next event is his own marker.
    say(&mut cy, 1, "rust", "cy", "marker").await;

    // "ana" is free again.
    cy.send("/nick ana").await;
    expect(&mut cy, nick("rust", "cy", "ana")).await;
    ana.send("/msg ana hi").await;
    expect(&mut ana, private("zoe", "ana", "hi")).await;
    expect(&mut cy, private("zoe", "ana", "hi")).await;
}
