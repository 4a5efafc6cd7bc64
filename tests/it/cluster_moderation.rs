//! Issue 19 across servers (`--redis-url`): an operator on one server acts
//! on a person connected to another, and everyone sees what one server
//! alone would show. Each test starts its own `redis-server` (skipped
//! without it, as in `cluster`).
//!
//! Events are compared whole, with `ts` checked and then zeroed.

use chat::protocol::{BanInfo, ErrorCode, Event};

use crate::support::events::{
    connect_sending, enter, enter_after, enter_registered, expect, expect_error, join, leave,
    message, op, own_join, say, until_own_join, untimed, who_with_ops,
};
use crate::support::redis::{Redis, redis_cli};
use crate::support::{OP_SECRET, PASSWORD, PROXY, TestServer, WsClient, connect_from, refused};

/// Two servers with operators on one Redis.
async fn two_servers(redis: &Redis) -> (TestServer, TestServer) {
    (
        redis.server(&["--op-token", OP_SECRET]).await,
        redis.server(&["--op-token", OP_SECRET]).await,
    )
}

/// Ana, an operator, on `one`, and bo and cy on `two`, all in the lobby,
/// each having seen the others arrive.
async fn operator_and_two(one: &TestServer, two: &TestServer) -> (WsClient, WsClient, WsClient) {
    let mut ana = enter(one, "ana", "lobby").await;
    let mut bo = enter_after(two, "bo", "lobby", &["ana"]).await;
    expect(&mut ana, join("lobby", "bo")).await;
    let cy = enter_after(two, "cy", "lobby", &["ana"]).await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    op(&mut ana, "ana").await;
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

    // Listed as an operator on the other server too.
    let who = |names: &[&str], ops: &[&str]| who_with_ops("lobby", names, ops);
    // Told once every server can list her.
    bo.send("/who").await;
    expect(&mut bo, who(&["ana", "bo", "cy"], &["ana"])).await;
    ana.send("/nick Anna").await;
    let renamed = crate::support::events::nick("lobby", "ana", "Anna");
    for client in [&mut ana, &mut bo, &mut cy] {
        expect(client, renamed.clone()).await;
    }
    bo.send("/who").await;
    expect(&mut bo, who(&["Anna", "bo", "cy"], &["Anna"])).await;
    ana.send("/nick ana").await;
    let renamed = crate::support::events::nick("lobby", "Anna", "ana");
    for client in [&mut ana, &mut bo, &mut cy] {
        expect(client, renamed.clone()).await;
    }

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
    op(&mut cy, "cy").await;
    cy.send("/unmute bo").await;
    let unmuted = Event::Unmute {
        name: "bo".into(),
        by: "cy".into(),
    };
    expect(&mut cy, unmuted.clone()).await;
    expect(&mut bo, unmuted).await;
    say(&mut bo, 2, "lobby", "bo", "heard again").await;
    expect(&mut ana, message(2, "lobby", "bo", "heard again")).await;

    // An operator who leaves is listed no more, on any server.
    ana.send("/who").await;
    let who = |names: &[&str], ops: &[&str]| who_with_ops("lobby", names, ops);
    expect(&mut ana, who(&["ana", "bo", "cy"], &["ana", "cy"])).await;
    cy.send("/quit").await;
    expect(&mut ana, leave("lobby", "cy", "quit")).await;
    ana.send("/who").await;
    expect(&mut ana, who(&["ana", "bo"], &["ana"])).await;
}

fn topic(room: &str, text: &str, by: Option<&str>) -> Event {
    Event::Topic {
        room: room.into(),
        topic: text.into(),
        by: by.map(str::to_owned),
    }
}

/// The topic of a connection's welcome.
fn welcome_topic(welcome: &Event) -> Option<String> {
    let Event::Welcome { topic, .. } = welcome else {
        panic!("not a welcome: {welcome:?}");
    };
    topic.clone()
}

/// A topic set on one server reaches the room on the other through Redis,
/// is kept there with the room (a server that loads the room later shows
/// it in its welcome), and is dropped with the room past
/// `--max-stored-rooms`.
#[tokio::test]
async fn a_topic_is_kept_in_redis_and_told_on_every_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let args = ["--op-token", OP_SECRET, "--max-stored-rooms", "2"];
    let (one, two) = (redis.server(&args).await, redis.server(&args).await);
    let (mut ana, mut bo, mut cy) = operator_and_two(&one, &two).await;

    bo.send("/topic mine").await;
    expect_error(
        &mut bo,
        ErrorCode::NotOperator,
        "only operators may set the topic; see /op",
    )
    .await;
    ana.send("/topic Rust,\nmostly").await;
    for client in [&mut ana, &mut bo, &mut cy] {
        expect(client, topic("lobby", "Rust, mostly", Some("ana"))).await;
    }
    bo.send("/topic").await;
    expect(&mut bo, topic("lobby", "Rust, mostly", None)).await;
    let (_dee, welcome) = two.join("dee", "lobby").await;
    assert_eq!(welcome_topic(&welcome).as_deref(), Some("Rust, mostly"));

    // A room nobody on the other server holds: loaded from Redis there.
    expect(&mut ana, join("lobby", "dee")).await;
    ana.send("/join side").await;
    expect(&mut ana, join("side", "ana")).await;
    ana.send("/topic the side room").await;
    expect(&mut ana, topic("side", "the side room", Some("ana"))).await;
    let three = redis.server(&args).await;
    let (_eve, welcome) = three.join("eve", "side").await;
    assert_eq!(welcome_topic(&welcome).as_deref(), Some("the side room"));
    expect(&mut ana, join("side", "eve")).await;

    // Cleared on every server.
    ana.send("/topic -").await;
    expect(&mut ana, topic("side", "", Some("ana"))).await;
    let (_fay, welcome) = two.join("fay", "side").await;
    assert_eq!(welcome_topic(&welcome), None);
    expect(&mut ana, join("side", "fay")).await;

    // Past --max-stored-rooms (2: the lobby counts once it has a counter),
    // the least recently written room goes, its topic with it.
    ana.send("/topic again").await;
    expect(&mut ana, topic("side", "again", Some("ana"))).await;
    let mut redis_link = redis.connection().await;
    let kept: Option<String> = redis_cli(&mut redis_link, &["GET", "chat:topic:side"]).await;
    assert_eq!(kept.as_deref(), Some("again"));
    expect(&mut cy, join("lobby", "dee")).await;
    expect(&mut cy, leave("lobby", "ana", "joined side")).await;
    say(&mut cy, 1, "lobby", "cy", "the lobby counts").await;
    let (mut gus, _) = one.join("gus", "third").await;
    expect(&mut gus, join("third", "gus")).await;
    say(&mut gus, 1, "third", "gus", "a third room").await;
    let kept: Option<String> = redis_cli(&mut redis_link, &["GET", "chat:topic:side"]).await;
    assert_eq!(kept, None, "dropped with the room");
}

/// `name` in the lobby on `server`, coming from `from` through the
/// trusted proxy, past its welcome, the history replayed and its own join
/// (see [`enter_after`]).
async fn enter_from_after(
    server: &TestServer,
    name: &str,
    from: &str,
    earlier: &[&str],
) -> WsClient {
    let mut client = connect_from(
        server,
        &format!("/lobby?format=json&name={name}"),
        Some(from),
    )
    .await;
    until_own_join(&mut client, "lobby", name, |event| {
        matches!(event, Event::Welcome { .. } | Event::Message { .. })
            || earlier.iter().any(|other| *event == join("lobby", other))
    })
    .await;
    client
}

/// A ban given on one server closes the person on the other with 4003
/// after their room heard it; the server that had them adds their address,
/// and every server (one started later too) refuses the name and the
/// address; `/bans` lists it from Redis; `/unban` lifts it everywhere.
#[tokio::test]
async fn an_operator_bans_someone_on_another_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let args = ["--op-token", OP_SECRET, PROXY[0], PROXY[1]];
    let (one, two) = (redis.server(&args).await, redis.server(&args).await);
    let mut ana = enter_from_after(&one, "ana", "203.0.113.1", &[]).await;
    let mut bo = enter_from_after(&two, "bo", "203.0.113.2", &["ana"]).await;
    expect(&mut ana, join("lobby", "bo")).await;
    let mut cy = enter_from_after(&two, "cy", "203.0.113.3", &["ana"]).await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    op(&mut ana, "ana").await;

    ana.send("/ban BO 2h spamming").await;
    let heard = untimed(ana.next_event().await);
    let Event::Ban { until, .. } = heard else {
        panic!("{heard:?}")
    };
    assert!(until.is_some(), "a timed ban");
    let notice = Event::Ban {
        room: "lobby".into(),
        name: "bo".into(),
        by: "ana".into(),
        reason: "spamming".into(),
        until,
        note: None,
        ts: 0,
    };
    assert_eq!(heard, notice);
    expect(&mut bo, notice.clone()).await;
    let until_text = chat::protocol::event::until_text(until);
    let (code, reason) = bo.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (
            4003,
            format!("banned by ana {until_text}: spamming").as_str()
        )
    );
    expect(&mut cy, notice).await;
    expect(&mut cy, leave("lobby", "bo", &reason)).await;
    // The address bo's server added comes before their leave.
    expect(&mut ana, leave("lobby", "bo", &reason)).await;

    // The name and the address, on either server.
    assert_eq!(refused(&one, "bo", Some("198.51.100.9")).await.0, 4003);
    assert_eq!(refused(&two, "BO", Some("198.51.100.9")).await.0, 4003);
    assert_eq!(
        refused(&one, "dee", Some("203.0.113.2")).await,
        (4003, reason.clone())
    );
    // A name alone, of someone not connected.
    ana.send("/ban zed").await;
    expect(
        &mut ana,
        Event::Ban {
            room: String::new(),
            name: "zed".into(),
            by: "ana".into(),
            reason: String::new(),
            until: None,
            note: Some("zed is not connected: only the name is banned".into()),
            ts: 0,
        },
    )
    .await;
    // What ana says next reaches the other server after the ban.
    say(&mut ana, 1, "lobby", "ana", "after the bans").await;
    expect(&mut cy, message(1, "lobby", "ana", "after the bans")).await;
    assert_eq!(
        refused(&two, "zed", Some("198.51.100.9")).await,
        (4003, "banned by ana until unbanned".to_owned())
    );
    // A server started now has them from Redis.
    let three = redis.server(&args).await;
    assert_eq!(refused(&three, "bo", Some("198.51.100.9")).await.0, 4003);
    assert_eq!(refused(&three, "eve", Some("203.0.113.2")).await.0, 4003);

    ana.send("/bans").await;
    expect(
        &mut ana,
        Event::Bans {
            bans: vec![
                BanInfo {
                    name: "bo".into(),
                    address: Some("203.0.113.2".into()),
                    until,
                    by: "ana".into(),
                    reason: "spamming".into(),
                },
                BanInfo {
                    name: "zed".into(),
                    address: None,
                    until: None,
                    by: "ana".into(),
                    reason: String::new(),
                },
            ],
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
    say(&mut ana, 2, "lobby", "ana", "after the unban").await;
    expect(&mut cy, message(2, "lobby", "ana", "after the unban")).await;
    enter_from_after(&two, "bo", "203.0.113.2", &[]).await;
}

/// The next `count` events of `client`, untimed.
async fn next_events(client: &mut WsClient, count: usize) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..count {
        events.push(untimed(client.next_event().await));
    }
    events
}

/// A name registered on one server is registered on every server (one
/// started later too): `/nick` to it is refused there, and `/identify`
/// from another server, or a connection asking for it there, takes it
/// from its holder, who is closed with 4004 after the room read that they
/// left. `/unregister` frees it everywhere.
#[tokio::test]
async fn a_name_registered_on_one_server_belongs_to_its_owner_on_every_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter_registered(&one, "ana", true).await;
    let mut bo = enter_after(&two, "bo", "lobby", &["ana"]).await;
    expect(&mut ana, join("lobby", "bo")).await;

    // A server started now has it from Redis.
    let three = redis.server(&[]).await;
    let mut cy = enter_after(&three, "cy", "lobby", &["ana", "bo"]).await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    cy.send("/nick Ana").await;
    expect_error(
        &mut cy,
        ErrorCode::NameRegistered,
        "the name 'Ana' is registered; /identify Ana PASSWORD if it is yours, or pick another",
    )
    .await;

    // `/identify` on another server.
    bo.send(&format!("/identify ana {PASSWORD}")).await;
    assert_eq!(
        ana.expect_close().await,
        (4004, "signed in elsewhere".to_owned())
    );
    let left = leave("lobby", "ana", "signed in elsewhere");
    let renamed = crate::support::events::nick("lobby", "bo", "ana");
    assert_eq!(
        next_events(&mut cy, 2).await,
        [left.clone(), renamed.clone()]
    );
    // The answer may come before the room's events through Redis.
    let mut seen = next_events(&mut bo, 3).await;
    let identified = Event::Identified { name: "ana".into() };
    assert!(seen.contains(&identified), "{seen:?}");
    seen.retain(|event| *event != identified);
    assert_eq!(seen, [left.clone(), renamed]);
    say(&mut bo, 1, "lobby", "ana", "it is me").await;
    expect(&mut cy, message(1, "lobby", "ana", "it is me")).await;

    // A connection asking for the name on a third server takes it too,
    // and the room reads the leave, then one join.
    let (mut back, welcome) =
        connect_sending(&three, "/lobby?name=ana", &format!("/identify {PASSWORD}")).await;
    assert!(
        matches!(&welcome, Event::Welcome { name, .. } if name == "ana"),
        "{welcome:?}"
    );
    assert_eq!(
        bo.expect_close().await,
        (4004, "signed in elsewhere".to_owned())
    );
    expect(&mut cy, left).await;
    expect(&mut cy, join("lobby", "ana")).await;
    until_own_join(&mut back, "lobby", "ana", |event| {
        matches!(event, Event::Message { .. } | Event::Leave { .. })
    })
    .await;
    let (mut dee, _) = one.join("dee", "lobby").await;
    own_join(&mut dee, "lobby", "dee").await;

    // Freed everywhere; the name stays its holder's while connected.
    expect(&mut back, join("lobby", "dee")).await;
    back.send("/unregister").await;
    expect(
        &mut back,
        Event::Unregistered {
            name: "ana".into(),
            by: "ana".into(),
        },
    )
    .await;
    say(&mut back, 2, "lobby", "ana", "freed").await;
    dee.event_matching("ana's message", |e| {
        matches!(e, Event::Message { id: 2, .. })
    })
    .await;
    dee.send(&format!("/identify ana {PASSWORD}")).await;
    expect_error(
        &mut dee,
        ErrorCode::NotRegistered,
        "the name 'ana' is not registered (/register PASSWORD reserves the name you have)",
    )
    .await;
    dee.send("/nick ana").await;
    expect_error(
        &mut dee,
        ErrorCode::NameTaken,
        "the name 'ana' is taken; pick another",
    )
    .await;
}

/// Wrong passwords are counted across servers: three on one and two on
/// the other use up the name's five a minute, and the right password is
/// then refused on either (each server alone would have allowed five).
#[tokio::test]
async fn wrong_passwords_are_counted_on_every_server() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter_registered(&one, "ana", true).await;
    // Each guesser alone in a room of its own: nothing else reaches them.
    let mut bo = enter(&two, "bo", "guess-two").await;
    let mut cy = enter(&one, "cy", "guess-one").await;
    for n in 1..=5 {
        // bo on two, then cy on one, in turn.
        let guesser = if n % 2 == 1 { &mut bo } else { &mut cy };
        guesser.send(&format!("/identify ana guess-{n}")).await;
        expect_error(
            guesser,
            ErrorCode::WrongPassword,
            "wrong password for 'ana'",
        )
        .await;
    }
    for guesser in [&mut cy, &mut bo] {
        guesser.send(&format!("/identify ana {PASSWORD}")).await;
        expect_error(
            guesser,
            ErrorCode::RateLimited,
            "too many wrong passwords for 'ana' or from your address; wait a minute",
        )
        .await;
    }
    // ana was never disturbed.
    say(&mut ana, 1, "lobby", "ana", "still here").await;
}
