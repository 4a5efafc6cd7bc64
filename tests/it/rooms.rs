//! Rooms: chosen by the URL path, isolated from each other, changed with
//! `/join` (history included), listed by `/rooms` and `/who`, and bounded by
//! `--max-rooms`, which evicts an empty room (and its history) when it must.

use chat::protocol::{ErrorCode, Event, RoomInfo};

use crate::support::events::{
    action, enter, expect, expect_error, join, leave, message, nick, say, who,
};
use crate::support::{TestServer, WsClient};

fn rooms(list: &[(&str, usize)]) -> Event {
    Event::Rooms {
        rooms: list
            .iter()
            .map(|&(name, people)| RoomInfo {
                name: name.into(),
                people,
            })
            .collect(),
    }
}

/// Connects a JSON client named `name` to `path` (the part of the URL before
/// the query) and returns it with the room its welcome names.
async fn connect(server: &TestServer, path: &str, name: &str) -> (WsClient, String) {
    let (client, welcome) = server.connect_json(&format!("{path}?name={name}")).await;
    match welcome {
        Event::Welcome {
            name: given, room, ..
        } => {
            assert_eq!(given, name);
            (client, room)
        }
        other => panic!("first frame: {other:?}"),
    }
}

/// The URL path names the room: `/rust` is room `rust`, for the newcomer and
/// for those already there.
#[tokio::test]
async fn the_url_path_names_the_room() {
    let server = TestServer::start(&[]).await;
    let (mut ana, room) = connect(&server, "/rust", "ana").await;
    assert_eq!(room, "rust");
    expect(&mut ana, join("rust", "ana")).await;
    let (mut bo, room) = connect(&server, "/rust", "bo").await;
    assert_eq!(room, "rust");
    expect(&mut bo, join("rust", "bo")).await;
    expect(&mut ana, join("rust", "bo")).await;
    say(&mut bo, 1, "rust", "bo", "hi").await;
    expect(&mut ana, message(1, "rust", "bo", "hi")).await;
}

/// The empty path (`/`, or nothing at all after the port) means `lobby`.
#[tokio::test]
async fn the_empty_path_means_lobby() {
    let server = TestServer::start(&[]).await;
    let (mut ana, room) = connect(&server, "/", "ana").await;
    assert_eq!(room, "lobby");
    expect(&mut ana, join("lobby", "ana")).await;
    let (mut bo, room) = connect(&server, "", "bo").await;
    assert_eq!(room, "lobby");
    expect(&mut bo, join("lobby", "bo")).await;
    expect(&mut ana, join("lobby", "bo")).await;
    let (mut cy, room) = connect(&server, "/lobby", "cy").await;
    assert_eq!(room, "lobby");
    expect(&mut cy, join("lobby", "cy")).await;
    expect(&mut ana, join("lobby", "cy")).await;
}

/// What happens in one room (joins, messages, actions, nicks) never reaches
/// another: there, the first event after one's own join is one's own marker.
#[tokio::test]
async fn a_room_never_sees_what_happens_in_another() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "rust").await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut cy = enter(&server, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;

    say(&mut ana, 1, "lobby", "ana", "only for the lobby").await;
    ana.send("/me whispers").await;
    ana.send("/nick anna").await;
    // Cy sees all three, so the server has broadcast them all.
    expect(&mut cy, message(1, "lobby", "ana", "only for the lobby")).await;
    expect(&mut cy, action(2, "lobby", "ana", "whispers")).await;
    expect(&mut cy, nick("lobby", "ana", "anna")).await;

    // Rust's numbering is its own, and nothing from the lobby came first.
    say(&mut bo, 1, "rust", "bo", "marker").await;
}

/// `/join` moves a person: the old room sees them leave with `joined ROOM`,
/// the new room sees them join, and the mover gets the new room's history
/// before their own join.
#[tokio::test]
async fn join_moves_a_person_and_brings_the_new_rooms_history() {
    let server = TestServer::start(&[]).await;
    let mut bo = enter(&server, "bo", "rust").await;
    say(&mut bo, 1, "rust", "bo", "earlier in rust").await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut cy = enter(&server, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;

    ana.send("/join rust").await;
    expect(&mut cy, leave("lobby", "ana", "joined rust")).await;
    expect(&mut bo, join("rust", "ana")).await;
    expect(&mut ana, leave("lobby", "ana", "joined rust")).await;
    expect(&mut ana, message(1, "rust", "bo", "earlier in rust")).await;
    expect(&mut ana, join("rust", "ana")).await;

    // Ana now talks in rust, and the lobby no longer hears her.
    say(&mut ana, 2, "rust", "ana", "hello rust").await;
    expect(&mut bo, message(2, "rust", "ana", "hello rust")).await;
    say(&mut cy, 1, "lobby", "cy", "marker").await;
    ana.send("/who").await;
    expect(&mut ana, who("rust", &["ana", "bo"])).await;
}

/// `/rooms` lists the rooms that have people, sorted by name, with how many;
/// a room everybody left is not listed.
#[tokio::test]
async fn rooms_lists_rooms_with_people_sorted_by_name() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "zig").await;
    let _bo = enter(&server, "bo", "rust").await;
    let _cy = enter(&server, "cy", "lobby").await;
    let _dan = enter(&server, "dan", "ada").await;
    let _eve = enter(&server, "eve", "rust").await;

    ana.send("/rooms").await;
    expect(
        &mut ana,
        rooms(&[("ada", 1), ("lobby", 1), ("rust", 2), ("zig", 1)]),
    )
    .await;

    ana.send("/join lobby").await;
    expect(&mut ana, leave("zig", "ana", "joined lobby")).await;
    expect(&mut ana, join("lobby", "ana")).await;
    ana.send("/rooms").await;
    expect(&mut ana, rooms(&[("ada", 1), ("lobby", 2), ("rust", 2)])).await;
}

/// `/who` lists the names in the sender's room only, sorted.
#[tokio::test]
async fn who_lists_the_names_in_the_room_sorted() {
    let server = TestServer::start(&[]).await;
    let mut cy = enter(&server, "cy", "lobby").await;
    let _dan = enter(&server, "dan", "rust").await;
    let _ana = enter(&server, "ana", "lobby").await;
    let _bo = enter(&server, "bo", "lobby").await;
    expect(&mut cy, join("lobby", "ana")).await;
    expect(&mut cy, join("lobby", "bo")).await;
    cy.send("/who").await;
    expect(&mut cy, who("lobby", &["ana", "bo", "cy"])).await;
}

/// A URL path that is not a valid room gets `invalid_room` right after the
/// welcome, and the connection lands in the lobby.
#[tokio::test]
async fn an_invalid_room_path_gets_invalid_room_and_lands_in_lobby() {
    let server = TestServer::start(&[]).await;
    let mut watcher = enter(&server, "watcher", "lobby").await;
    let too_long = "r".repeat(33);
    let mut people = Vec::new();
    for (i, (path, shown)) in [
        ("/a/b", "a/b"),
        ("/bad!", "bad!"),
        (&format!("/{too_long}"), too_long.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("p{i}");
        let (mut client, room) = connect(&server, path, &name).await;
        assert_eq!(room, "lobby", "for {path}");
        expect_error(
            &mut client,
            ErrorCode::InvalidRoom,
            &format!("invalid room '{shown}': use 1 to 32 letters, digits, '_' or '-'"),
        )
        .await;
        expect(&mut client, join("lobby", &name)).await;
        expect(&mut watcher, join("lobby", &name)).await;
        people.push(client);
    }
}

/// With `--max-rooms 2` (the lobby is one) and the other room in use, a third
/// room is `too_many_rooms`, by `/join` (the person stays where they were) and
/// by URL (the person lands in the lobby).
#[tokio::test]
async fn a_new_room_over_the_limit_is_too_many_rooms_while_all_have_people() {
    let server = TestServer::start(&["--max-rooms", "2"]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let _bo = enter(&server, "bo", "a").await;
    let full = "cannot create room 'b': the server's 2 rooms are all in use";

    ana.send("/join b").await;
    expect_error(&mut ana, ErrorCode::TooManyRooms, full).await;
    say(&mut ana, 1, "lobby", "ana", "still in the lobby").await;

    let (mut cy, room) = connect(&server, "/b", "cy").await;
    assert_eq!(room, "lobby");
    expect_error(&mut cy, ErrorCode::TooManyRooms, full).await;
    expect(&mut cy, message(1, "lobby", "ana", "still in the lobby")).await;
    expect(&mut cy, join("lobby", "cy")).await;
    expect(&mut ana, join("lobby", "cy")).await;

    ana.send("/rooms").await;
    expect(&mut ana, rooms(&[("a", 1), ("lobby", 2)])).await;
}

/// With `--max-rooms 2`, an empty room is evicted, with its history, when a new
/// room is needed: the new room is created, and a later room of the old name
/// starts afresh.
#[tokio::test]
async fn an_empty_room_is_evicted_with_its_history_when_a_new_room_is_needed() {
    let server = TestServer::start(&["--max-rooms", "2"]).await;
    let mut ana = enter(&server, "ana", "lobby").await;

    // Room a gets some history, then empties.
    let mut bo = enter(&server, "bo", "a").await;
    say(&mut bo, 1, "a", "bo", "old news").await;
    bo.send("/join lobby").await;
    expect(&mut bo, leave("a", "bo", "joined lobby")).await;
    expect(&mut bo, join("lobby", "bo")).await;
    expect(&mut ana, join("lobby", "bo")).await;

    // Room b needs a's place; a is evicted.
    let (mut cy, room) = connect(&server, "/b", "cy").await;
    assert_eq!(room, "b");
    expect(&mut cy, join("b", "cy")).await;
    cy.send("/join lobby").await;
    expect(&mut cy, leave("b", "cy", "joined lobby")).await;
    expect(&mut cy, join("lobby", "cy")).await;

    // Room a again (b, now empty, makes way): no history, ids start over.
    let (mut dan, room) = connect(&server, "/a", "dan").await;
    assert_eq!(room, "a");
    expect(&mut dan, join("a", "dan")).await;
    say(&mut dan, 1, "a", "dan", "fresh start").await;
}
