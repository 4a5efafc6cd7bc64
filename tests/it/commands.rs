//! Every command of docs/protocol.md's table ("What a client sends"), with
//! its effect and its error cases, and the other inputs a sender alone is
//! told off for (empty, too long, binary). After each refusal the same
//! connection is shown to still work.
//!
//! Events are compared whole, with `ts` checked and then zeroed (the
//! builders are in `support::events`).

use chat::protocol::{ErrorCode, Event, HelpEntry};
use futures_util::SinkExt;
use tokio_websockets::Message;

use crate::support::events::{
    action, enter, expect, expect_error, join, leave, message, nick, private, say, who,
};
use crate::support::{TestServer, WsClient, within};

/// The motd every test server sends unless told otherwise.
const MOTD: &str = "Welcome to chat! Type a message";

/// Ana alone in the lobby of a fresh default server.
async fn ana_alone() -> (TestServer, WsClient) {
    let server = TestServer::start(&[]).await;
    let ana = enter(&server, "ana", "lobby").await;
    (server, ana)
}

/// `/nick NAME` renames the sender; everyone in the room, the sender included,
/// sees the `nick` event, and later messages carry the new name.
#[tokio::test]
async fn nick_renames_the_sender_for_the_whole_room() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/nick anna").await;
    expect(&mut ana, nick("lobby", "ana", "anna")).await;
    expect(&mut bo, nick("lobby", "ana", "anna")).await;

    say(&mut ana, 1, "lobby", "anna", "renamed").await;
    expect(&mut bo, message(1, "lobby", "anna", "renamed")).await;
}

/// `/nick` with no name, or with two words, is `bad_arguments` with the usage,
/// and the name does not change.
#[tokio::test]
async fn nick_without_exactly_one_word_is_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    for frame in ["/nick", "/nick   ", "/nick ana bo"] {
        ana.send(frame).await;
        expect_error(&mut ana, ErrorCode::BadArguments, "usage: /nick NAME").await;
    }
    say(&mut ana, 1, "lobby", "ana", "still ana").await;
}

/// `/nick` to a name outside `[A-Za-z0-9_-]{1,24}` is `invalid_name`.
#[tokio::test]
async fn nick_to_an_invalid_name_is_invalid_name() {
    let (_server, mut ana) = ana_alone().await;
    let too_long = "a".repeat(25);
    for bad in ["a!", "anä", too_long.as_str()] {
        ana.send(&format!("/nick {bad}")).await;
        expect_error(
            &mut ana,
            ErrorCode::InvalidName,
            &format!("invalid name '{bad}': use 1 to 24 letters, digits, '_' or '-'"),
        )
        .await;
    }
    say(&mut ana, 1, "lobby", "ana", "still ana").await;
}

/// `/nick` to someone else's name is `name_taken`, whatever the letter case,
/// and the sender keeps their name.
#[tokio::test]
async fn nick_to_a_taken_name_is_name_taken_in_any_letter_case() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    for taken in ["ana", "Ana", "ANA"] {
        bo.send(&format!("/nick {taken}")).await;
        expect_error(
            &mut bo,
            ErrorCode::NameTaken,
            &format!("the name '{taken}' is taken; pick another"),
        )
        .await;
    }
    say(&mut bo, 1, "lobby", "bo", "still bo").await;
    expect(&mut ana, message(1, "lobby", "bo", "still bo")).await;
}

/// `/join ROOM` takes the sender out of this room and into ROOM, where their
/// messages now go.
#[tokio::test]
async fn join_moves_the_sender_to_the_room() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "rust").await;

    ana.send("/join rust").await;
    expect(&mut ana, leave("lobby", "ana", "joined rust")).await;
    expect(&mut ana, join("rust", "ana")).await;
    expect(&mut bo, join("rust", "ana")).await;

    say(&mut ana, 1, "rust", "ana", "hello rust").await;
    expect(&mut bo, message(1, "rust", "ana", "hello rust")).await;
}

/// `/join` without a room, or with two, is `bad_arguments` with the usage.
#[tokio::test]
async fn join_without_exactly_one_room_is_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    for frame in ["/join", "/join rust go"] {
        ana.send(frame).await;
        expect_error(&mut ana, ErrorCode::BadArguments, "usage: /join ROOM").await;
    }
    say(&mut ana, 1, "lobby", "ana", "still in the lobby").await;
}

/// `/join` to a room outside `[A-Za-z0-9_-]{1,32}` is `invalid_room`.
#[tokio::test]
async fn join_to_an_invalid_room_is_invalid_room() {
    let (_server, mut ana) = ana_alone().await;
    let too_long = "r".repeat(33);
    for bad in ["a/b", "bad!", too_long.as_str()] {
        ana.send(&format!("/join {bad}")).await;
        expect_error(
            &mut ana,
            ErrorCode::InvalidRoom,
            &format!("invalid room '{bad}': use 1 to 32 letters, digits, '_' or '-'"),
        )
        .await;
    }
    say(&mut ana, 1, "lobby", "ana", "still in the lobby").await;
}

/// `/join` to the room one is already in is `bad_arguments`, and changes nothing.
#[tokio::test]
async fn join_to_the_current_room_is_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("/join lobby").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "you are already in lobby",
    )
    .await;
    say(&mut ana, 1, "lobby", "ana", "still in the lobby").await;
}

/// `/who` answers the sender alone with the names in their room.
#[tokio::test]
async fn who_answers_with_the_names_in_this_room() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let _cy = enter(&server, "cy", "rust").await;

    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo"])).await;
    // Bo was not answered: the first thing he sees next is Ana's message.
    say(&mut ana, 1, "lobby", "ana", "after who").await;
    expect(&mut bo, message(1, "lobby", "ana", "after who")).await;
}

/// `/rooms` answers with every room that has people and how many.
#[tokio::test]
async fn rooms_answers_with_the_rooms_and_their_people() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let _bo = enter(&server, "bo", "rust").await;
    let _cy = enter(&server, "cy", "rust").await;

    ana.send("/rooms").await;
    expect(
        &mut ana,
        Event::Rooms {
            rooms: vec![room_info("lobby", 1), room_info("rust", 2)],
        },
    )
    .await;
}

fn room_info(name: &str, people: usize) -> chat::protocol::RoomInfo {
    chat::protocol::RoomInfo {
        name: name.into(),
        people,
    }
}

/// `/rooms` and `/help` take no arguments, `/who` at most two: more is `bad_arguments`.
#[tokio::test]
async fn who_rooms_and_help_with_arguments_are_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    for (frame, usage) in [
        (
            "/who a b c",
            "usage: /who [PREFIX [AFTER]] (PREFIX * for everyone)",
        ),
        ("/rooms all", "usage: /rooms"),
        ("/help nick", "usage: /help"),
    ] {
        ana.send(frame).await;
        expect_error(&mut ana, ErrorCode::BadArguments, usage).await;
    }
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// `/help` lists every command of docs/protocol.md's table with what it does.
#[tokio::test]
async fn help_lists_every_command() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("/help").await;
    let entry = |usage: &str, effect: &str| HelpEntry {
        usage: usage.into(),
        effect: effect.into(),
    };
    expect(
        &mut ana,
        Event::Help {
            commands: vec![
                entry("/nick NAME", "change your name"),
                entry("/join ROOM", "leave this room and enter ROOM"),
                entry(
                    "/who [PREFIX]",
                    "names here; /who PREFIX AFTER: more (* for all)",
                ),
                entry("/rooms", "rooms with their number of people"),
                entry("/me TEXT", "an action line: * you TEXT"),
                entry("/msg NAME TEXT", "a private message to one person"),
                entry("/op SECRET", "become an operator (the server's --op-token)"),
                entry(
                    "/topic [TEXT]",
                    "the room's topic; with TEXT set it (- clears)",
                ),
                entry("/kick NAME [WHY]", "operators: close NAME's connection"),
                entry(
                    "/mute NAME [DUR]",
                    "operators: NAME may only read (DUR: 30s, 10m, 2h, 1d)",
                ),
                entry("/unmute NAME", "operators: NAME may speak again"),
                entry(
                    "/ban NAME [DUR]",
                    "operators: kick NAME, refuse the name and address (WHY may follow)",
                ),
                entry("/unban NAME", "operators: lift NAME's ban"),
                entry("/bans", "operators: the bans in force"),
                entry("/ignore NAME", "hide NAME's messages from you"),
                entry("/unignore NAME", "see NAME's messages again"),
                entry(
                    "/register PASSWORD",
                    "reserve your name (again: change its password)",
                ),
                entry(
                    "/identify [NAME] PASSWORD",
                    "become NAME, registered to you",
                ),
                entry("/unregister [NAME]", "free your name (operators: anyone's)"),
                entry("/help", "this list"),
                entry("/quit [TEXT]", "leave, with an optional goodbye"),
                entry("//TEXT", "send TEXT with a leading slash"),
            ],
        },
    )
    .await;
}

/// `/me TEXT` is an `action` for the whole room, numbered like messages.
#[tokio::test]
async fn me_sends_an_action_to_the_room() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/me waves  at bo").await;
    expect(&mut ana, action(1, "lobby", "ana", "waves  at bo")).await;
    expect(&mut bo, action(1, "lobby", "ana", "waves  at bo")).await;
    say(&mut bo, 2, "lobby", "bo", "hi").await;
}

/// `/me` without text is `bad_arguments`.
#[tokio::test]
async fn me_without_text_is_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    for frame in ["/me", "/me    "] {
        ana.send(frame).await;
        expect_error(&mut ana, ErrorCode::BadArguments, "usage: /me TEXT").await;
    }
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// `/msg NAME TEXT` reaches the named person even in another room (named in
/// any letter case); the sender gets a copy; nobody else sees it.
#[tokio::test]
async fn msg_reaches_someone_in_another_room_and_the_sender_gets_a_copy() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut cy = enter(&server, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;
    let mut bo = enter(&server, "bo", "rust").await;

    ana.send("/msg BO  psst, bo").await;
    expect(&mut ana, private("ana", "bo", "psst, bo")).await;
    expect(&mut bo, private("ana", "bo", "psst, bo")).await;

    // Cy, in Ana's room, got nothing: the first event he sees is this marker.
    say(&mut ana, 1, "lobby", "ana", "marker").await;
    expect(&mut cy, message(1, "lobby", "ana", "marker")).await;
    // Bo can answer the same way.
    bo.send("/msg ana got it").await;
    expect(&mut bo, private("bo", "ana", "got it")).await;
    expect(&mut ana, private("bo", "ana", "got it")).await;
}

/// `/msg` without a recipient or without text is `bad_arguments`.
#[tokio::test]
async fn msg_without_text_is_bad_arguments() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    for frame in ["/msg", "/msg bo", "/msg bo    "] {
        ana.send(frame).await;
        expect_error(&mut ana, ErrorCode::BadArguments, "usage: /msg NAME TEXT").await;
    }
    // Bo received no empty private message: his next event is this one.
    say(&mut ana, 1, "lobby", "ana", "still here").await;
    expect(&mut bo, message(1, "lobby", "ana", "still here")).await;
}

/// `/msg` to a name nobody has is `no_such_user`.
#[tokio::test]
async fn msg_to_nobody_is_no_such_user() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("/msg zed hello?").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'zed' is connected (check the spelling)",
    )
    .await;
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// `/msg` to a name outside `[A-Za-z0-9_-]{1,24}` is `invalid_name`.
#[tokio::test]
async fn msg_to_an_invalid_name_is_invalid_name() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("/msg b@d hello").await;
    expect_error(
        &mut ana,
        ErrorCode::InvalidName,
        "invalid name 'b@d': use 1 to 24 letters, digits, '_' or '-'",
    )
    .await;
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// `/quit` closes the quitter's connection with 1000, and the room sees them
/// leave with the reason `quit`.
#[tokio::test]
async fn quit_without_text_leaves_with_reason_quit() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/quit").await;
    assert_eq!(ana.expect_close().await, (1000, "bye".to_owned()));
    expect(&mut bo, leave("lobby", "ana", "quit")).await;
}

/// `/quit TEXT` closes with 1000, and the room sees the goodbye in the reason.
#[tokio::test]
async fn quit_with_text_leaves_with_the_goodbye() {
    let server = TestServer::start(&[]).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    let mut bo = enter(&server, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;

    ana.send("/quit see you  all").await;
    assert_eq!(ana.expect_close().await, (1000, "bye".to_owned()));
    expect(&mut bo, leave("lobby", "ana", "quit: see you  all")).await;
}

/// A command the server does not know is `unknown_command`, naming it.
#[tokio::test]
async fn an_unknown_command_is_unknown_command() {
    let (_server, mut ana) = ana_alone().await;
    for (frame, word) in [("/dance now", "/dance"), ("/", "/")] {
        ana.send(frame).await;
        expect_error(
            &mut ana,
            ErrorCode::UnknownCommand,
            &format!("unknown command '{word}'; type /help for the list"),
        )
        .await;
    }
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// An empty or whitespace-only message is `empty_message`, and is not numbered.
#[tokio::test]
async fn an_empty_or_blank_message_is_empty_message() {
    let (_server, mut ana) = ana_alone().await;
    for frame in ["", " ", "  \t \n "] {
        ana.send(frame).await;
        expect_error(
            &mut ana,
            ErrorCode::EmptyMessage,
            "empty message: type some text",
        )
        .await;
    }
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// `//TEXT` sends `/TEXT` literally, as a message, not a command.
#[tokio::test]
async fn a_double_slash_sends_a_literal_slash() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("//quit is a command").await;
    expect(&mut ana, message(1, "lobby", "ana", "/quit is a command")).await;
    ana.send("//").await;
    expect(&mut ana, message(2, "lobby", "ana", "/")).await;
}

/// A binary frame is `binary_unsupported`, dropped, and the connection stays.
#[tokio::test]
async fn a_binary_frame_is_refused_and_the_connection_stays() {
    let (_server, mut ana) = ana_alone().await;
    within(
        "sending a binary frame",
        ana.ws.send(Message::binary(&b"hello"[..])),
    )
    .await
    .expect("sending a binary frame");
    expect_error(
        &mut ana,
        ErrorCode::BinaryUnsupported,
        "binary frames are not supported; send text",
    )
    .await;
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}

/// A message over `--max-message-bytes` is `too_long` with its size and the
/// limit, and is dropped; one of exactly the limit is delivered.
#[tokio::test]
async fn a_message_over_the_size_limit_is_too_long_and_the_connection_stays() {
    let server = TestServer::start(&["--max-message-bytes", "100"]).await;
    let (mut ana, welcome) = server.join("ana", "lobby").await;
    assert_eq!(
        welcome,
        Event::Welcome {
            motd: MOTD.into(),
            name: "ana".into(),
            room: "lobby".into(),
            history: 100,
            limits: chat::protocol::LimitsInfo {
                max_message_bytes: 100,
                per_second: 20,
                burst: 40,
            },
            people: Some(1),
            topic: None,
        }
    );
    expect(&mut ana, join("lobby", "ana")).await;

    ana.send(&"x".repeat(101)).await;
    expect_error(
        &mut ana,
        ErrorCode::TooLong,
        "message too long: 101 bytes, the limit is 100",
    )
    .await;
    // Bytes, not characters: 51 two-byte characters are 102 bytes.
    ana.send(&"é".repeat(51)).await;
    expect_error(
        &mut ana,
        ErrorCode::TooLong,
        "message too long: 102 bytes, the limit is 100",
    )
    .await;
    say(&mut ana, 1, "lobby", "ana", &"y".repeat(100)).await;
}

/// `/nick` to the name one already has is refused rather than announced.
#[tokio::test]
async fn nick_to_ones_own_name_is_bad_arguments() {
    let (_server, mut ana) = ana_alone().await;
    ana.send("/nick ana").await;
    expect_error(
        &mut ana,
        ErrorCode::BadArguments,
        "you are already called ana",
    )
    .await;
    ana.send("/nick Ana").await;
    expect(&mut ana, nick("lobby", "ana", "Ana")).await;
    say(&mut ana, 1, "lobby", "Ana", "capitalised").await;
}
