//! Several servers as one chat through Redis (`--redis-url`): each test
//! starts its own `redis-server` ([`Redis`]: on a unix socket in a temporary
//! directory, nothing saved; on a loopback port too where a proxy must stand
//! between a server and Redis) and two or three real `server` processes.
//!
//! Without `redis-server` (Debian: `redis-server`) the tests say they are
//! skipped and return, unless `CHAT_REQUIRE_REDIS=1` (set by `.ci/run`).

use chat::protocol::{ErrorCode, Event, RoomInfo};

use crate::metrics::Scrape;
use crate::support::events::{
    enter, enter_after, expect, expect_error, join, leave, message, next_untimed, private, say, who,
};
use crate::support::proxy::Proxy;
use crate::support::redis::{Redis, redis_cli};
use crate::support::{TempDir, TestServer, WsClient, run_server};

/// Ana on `one` and bo on `two`, both in the lobby, once ana has seen bo
/// arrive from the other server.
async fn ana_and_bo(one: &TestServer, two: &TestServer) -> (WsClient, WsClient) {
    let mut ana = enter(one, "ana", "lobby").await;
    let bo = enter_after(two, "bo", "lobby", &["ana"]).await;
    expect(&mut ana, join("lobby", "bo")).await;
    (ana, bo)
}

/// Clients on two servers in one room see the same messages, numbered the
/// same, in the same order, whoever says them and wherever.
#[tokio::test]
async fn clients_on_two_servers_see_one_order() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let (mut ana, mut bo) = ana_and_bo(&one, &two).await;

    // Sent without waiting for the copies, from both sides at once.
    for n in 0..5 {
        ana.send(&format!("ana {n}")).await;
        bo.send(&format!("bo {n}")).await;
    }
    let mut seen = Vec::new();
    for client in [&mut ana, &mut bo] {
        let mut events = Vec::new();
        for _ in 0..10 {
            events.push(next_untimed(client).await);
        }
        seen.push(events);
    }
    assert_eq!(seen[0], seen[1], "both servers deliver one order");
    let mut from_ana = 0;
    let mut from_bo = 0;
    for (n, event) in seen[0].iter().enumerate() {
        let Event::Message { id, from, text, .. } = event else {
            panic!("not a message: {event:?}");
        };
        assert_eq!(*id, n as u64 + 1, "ids follow one another");
        // Each person's messages in the order they were sent.
        let counter = if from == "ana" {
            &mut from_ana
        } else {
            &mut from_bo
        };
        assert_eq!(*text, format!("{from} {counter}"));
        *counter += 1;
    }

    // A third server sees the room the same way.
    let three = redis.server(&[]).await;
    let (mut cy, _) = three.join("cy", "lobby").await;
    for n in 1..=10 {
        assert_eq!(next_untimed(&mut cy).await, seen[0][n - 1]);
    }
    expect(&mut cy, join("lobby", "cy")).await;
    expect(&mut ana, join("lobby", "cy")).await;
    say(&mut cy, 11, "lobby", "cy", "and me").await;
    expect(&mut ana, message(11, "lobby", "cy", "and me")).await;
    expect(&mut bo, join("lobby", "cy")).await;
    expect(&mut bo, message(11, "lobby", "cy", "and me")).await;
}

/// A name taken on one server is refused on another, at connect and by
/// `/nick`, in any letter case; it is free again once its holder has left.
#[tokio::test]
async fn a_name_taken_on_one_server_is_refused_on_another() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter(&one, "ana", "lobby").await;

    let (mut other, welcome) = two.join("ANA", "lobby").await;
    let Event::Welcome { name, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(name, "guest-1");
    expect_error(
        &mut other,
        ErrorCode::NameTaken,
        "the name 'ANA' is taken; you are guest-1 (/nick NAME to pick another)",
    )
    .await;
    expect(&mut other, join("lobby", "guest-1")).await;
    expect(&mut ana, join("lobby", "guest-1")).await;

    other.send("/nick Ana").await;
    expect_error(
        &mut other,
        ErrorCode::NameTaken,
        "the name 'Ana' is taken; pick another",
    )
    .await;

    // A guest name given on one server is not given again on another.
    let (_guest, welcome) = one.join("", "lobby").await;
    assert!(
        matches!(&welcome, Event::Welcome { name, .. } if name == "guest-2"),
        "{welcome:?}"
    );
    expect(&mut other, join("lobby", "guest-2")).await;
    expect(&mut ana, join("lobby", "guest-2")).await;

    ana.send("/quit").await;
    expect(&mut other, leave("lobby", "ana", "quit")).await;
    other.send("/nick Ana").await;
    expect(
        &mut other,
        Event::Nick {
            room: "lobby".into(),
            old: "guest-1".into(),
            new: "Ana".into(),
            ts: 0,
        },
    )
    .await;
}

/// `/who`, `/rooms` and `/msg` see everyone, whichever server they are on.
#[tokio::test]
async fn who_rooms_and_msg_across_servers() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let (mut ana, mut bo) = ana_and_bo(&one, &two).await;
    let mut cy = enter(&two, "Cy", "rust").await;

    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo"])).await;
    bo.send("/rooms").await;
    expect(
        &mut bo,
        Event::Rooms {
            rooms: vec![
                RoomInfo {
                    name: "lobby".into(),
                    people: 2,
                },
                RoomInfo {
                    name: "rust".into(),
                    people: 1,
                },
            ],
        },
    )
    .await;

    ana.send("/msg cy psst").await;
    expect(&mut ana, private("ana", "Cy", "psst")).await;
    expect(&mut cy, private("ana", "Cy", "psst")).await;
    cy.send("/msg ana hello from two").await;
    expect(&mut cy, private("Cy", "ana", "hello from two")).await;
    expect(&mut ana, private("Cy", "ana", "hello from two")).await;
    ana.send("/msg nobody hi").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'nobody' is connected (check the spelling)",
    )
    .await;

    // Who leaves is gone from the lists of every server.
    bo.send("/quit").await;
    expect(&mut ana, leave("lobby", "bo", "quit")).await;
    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana"])).await;
}

/// A late joiner on another server gets the room's history from Redis, and
/// `since` resumes there with the same gap rules as one server.
#[tokio::test]
async fn a_late_joiner_on_another_server_gets_the_history() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let one = redis.server(&["--history", "3"]).await;
    let two = redis.server(&["--history", "3"]).await;
    let mut ana = enter(&one, "ana", "rust").await;
    for (id, text) in (1..).zip(["one", "two", "three", "four"]) {
        say(&mut ana, id, "rust", "ana", text).await;
    }

    let (mut bo, _) = two.join("bo", "rust").await;
    for (id, text) in [(2, "two"), (3, "three"), (4, "four")] {
        expect(&mut bo, message(id, "rust", "ana", text)).await;
    }
    expect(&mut bo, join("rust", "bo")).await;

    let url = two.url_for("/rust?name=cy&format=json&since=2");
    let mut cy = WsClient::connect(&url).await;
    assert!(matches!(cy.next_event().await, Event::Welcome { .. }));
    for (id, text) in [(3, "three"), (4, "four")] {
        expect(&mut cy, message(id, "rust", "ana", text)).await;
    }
    expect(&mut cy, join("rust", "cy")).await;

    let url = two.url_for("/rust?name=dee&format=json&since=0");
    let mut dee = WsClient::connect(&url).await;
    assert!(matches!(dee.next_event().await, Event::Welcome { .. }));
    for (id, text) in [(2, "two"), (3, "three"), (4, "four")] {
        expect(&mut dee, message(id, "rust", "ana", text)).await;
    }
    expect(&mut dee, Event::Gap { missed: 1 }).await;
}

/// Redis stopped mid-conversation: every client is told, each server's own
/// people go on talking; Redis back (empty): every client is told again,
/// ids go on from where they were, and nobody sees anything twice.
#[tokio::test]
async fn redis_lost_and_back_mid_conversation() {
    let Some(mut redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter(&one, "ana", "lobby").await;
    let mut cy = enter(&one, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;
    let mut bo = enter(&two, "bo", "lobby").await;
    for client in [&mut ana, &mut cy] {
        expect(client, join("lobby", "bo")).await;
    }
    say(&mut ana, 1, "lobby", "ana", "before").await;
    expect(&mut cy, message(1, "lobby", "ana", "before")).await;
    expect(&mut bo, message(1, "lobby", "ana", "before")).await;
    let up = Scrape::of(&one).await;
    assert_eq!(up.get("chat_redis_link_up"), 1.0);
    assert_eq!(up.get("chat_redis_reconnects_total"), 0.0);

    redis.kill().await;
    let lost = Event::error(
        ErrorCode::Cluster,
        "the link to the other servers is lost: until it is back, only people on this server \
         see what is said, and what you sent just now may not have gone out",
    );
    for client in [&mut ana, &mut cy, &mut bo] {
        expect(client, lost.clone()).await;
    }
    assert_eq!(Scrape::of(&one).await.get("chat_redis_link_up"), 0.0);
    // Local rooms still work, with the id of the last message before.
    say(&mut ana, 1, "lobby", "ana", "just us").await;
    expect(&mut cy, message(1, "lobby", "ana", "just us")).await;
    say(&mut bo, 1, "lobby", "bo", "anyone?").await;

    redis.restart().await;
    let back = Event::error(
        ErrorCode::Cluster,
        "the link to the other servers is back: everyone sees what is said again",
    );
    for client in [&mut ana, &mut cy, &mut bo] {
        expect(client, back.clone()).await;
    }
    let back_up = Scrape::of(&one).await;
    assert_eq!(back_up.get("chat_redis_link_up"), 1.0);
    assert_eq!(back_up.get("chat_redis_reconnects_total"), 1.0);
    // Redis lost its data; ids go on from the highest any server saw.
    say(&mut bo, 2, "lobby", "bo", "after").await;
    expect(&mut ana, message(2, "lobby", "bo", "after")).await;
    expect(&mut cy, message(2, "lobby", "bo", "after")).await;
    say(&mut cy, 3, "lobby", "cy", "again").await;
    expect(&mut ana, message(3, "lobby", "cy", "again")).await;
    expect(&mut bo, message(3, "lobby", "cy", "again")).await;
    // And nothing more: no duplicate came in between or after.
    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo", "cy"])).await;
    bo.send("/who").await;
    expect(&mut bo, who("lobby", &["ana", "bo", "cy"])).await;
}

/// Redis unreachable at start: one line naming it and the reason, exit 1,
/// and a password in the URL is never shown.
#[tokio::test]
async fn an_unreachable_redis_at_start_is_one_line_and_exit_1() {
    let dir = TempDir::new();
    let socket = dir.path("nothing.sock");
    let url = format!("redis+unix://{socket}");
    let run = run_server(&["--redis-url", &url], &[]).await;
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot reach Redis at {url}: "))
            && stderr.ends_with(" (is redis-server running?)"),
        "stderr: {stderr}"
    );

    let run = run_server(&["--redis-url", "redis://:s3cret@127.0.0.1:1/"], &[]).await;
    assert_eq!(run.status.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("error: cannot reach Redis at redis://:***@127.0.0.1:1/: "),
        "stderr: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"));
}

/// Issue 16, item 10: a Redis password given in the query (`pass`, `password`)
/// or in an authority that does not parse never shows in the start-up error,
/// and an unparseable URL is called that rather than an unreachable Redis.
#[tokio::test]
async fn issue_16_a_redis_password_never_shows_in_any_form() {
    let dir = TempDir::new();
    let socket = dir.path("nothing.sock");
    let refused = "Connection refused (os error 111) (is redis-server running?)";
    let cases = [
        (
            format!("redis+unix://{socket}?pass=s3cret"),
            format!(
                "error: cannot reach Redis at redis+unix://{socket}?pass=***: \
                 No such file or directory (os error 2) (is redis-server running?)"
            ),
        ),
        (
            "redis://127.0.0.1:1/?db=0&password=s3cret".to_owned(),
            format!(
                "error: cannot reach Redis at redis://127.0.0.1:1/?db=0&password=***: {refused}"
            ),
        ),
        (
            "redis://:pa/s3cret@127.0.0.1:1".to_owned(),
            "error: --redis-url is not a Redis URL: redis://:***@127.0.0.1:1 \
             (expected redis://HOST:PORT or redis+unix:///PATH)"
                .to_owned(),
        ),
        (
            "redis://ana:s3/cret@127.0.0.1:1".to_owned(),
            "error: --redis-url is not a Redis URL: redis://ana:***@127.0.0.1:1 \
             (expected redis://HOST:PORT or redis+unix:///PATH)"
                .to_owned(),
        ),
    ];
    for (url, line) in cases {
        let run = run_server(&["--redis-url", &url], &[]).await;
        assert_eq!(run.status.code(), Some(1), "{url}");
        assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
        assert!(!run.stderr.contains("cret"), "stderr: {}", run.stderr);
        assert_eq!(run.stderr, format!("{line}\n"), "{url}");
    }
}

/// One server loses its link to Redis while another keeps it: what was said
/// meanwhile reaches the first server's people once the link is back, from
/// the room's history stream, in order and once each, before the notice that
/// the link is back.
#[tokio::test]
async fn a_server_cut_off_from_redis_catches_up_from_the_history_stream() {
    let Some(redis) = Redis::start_with_port().await else {
        return;
    };
    // Server one reaches Redis through a proxy that can cut it off.
    let proxy = Proxy::start(redis.port.expect("a port")).await;
    let through_proxy = format!("redis://127.0.0.1:{}", proxy.port);
    let one = TestServer::start(&["--redis-url", &through_proxy]).await;
    let two = redis.server(&[]).await;
    let (mut ana, mut bo) = ana_and_bo(&one, &two).await;
    say(&mut bo, 1, "lobby", "bo", "before").await;
    expect(&mut ana, message(1, "lobby", "bo", "before")).await;

    proxy.hold_new();
    proxy.cut();
    expect(
        &mut ana,
        Event::error(
            ErrorCode::Cluster,
            "the link to the other servers is lost: until it is back, only people on this \
             server see what is said, and what you sent just now may not have gone out",
        ),
    )
    .await;
    // Server two still has Redis: bo's messages are numbered on.
    say(&mut bo, 2, "lobby", "bo", "while you were away").await;
    say(&mut bo, 3, "lobby", "bo", "still away").await;

    proxy.forward_new();
    expect(&mut ana, message(2, "lobby", "bo", "while you were away")).await;
    expect(&mut ana, message(3, "lobby", "bo", "still away")).await;
    expect(
        &mut ana,
        Event::error(
            ErrorCode::Cluster,
            "the link to the other servers is back: everyone sees what is said again",
        ),
    )
    .await;
    say(&mut bo, 4, "lobby", "bo", "welcome back").await;
    expect(&mut ana, message(4, "lobby", "bo", "welcome back")).await;
    say(&mut ana, 5, "lobby", "ana", "thanks").await;
    expect(&mut bo, message(5, "lobby", "ana", "thanks")).await;
    // And nothing more: no duplicate came in between or after.
    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo"])).await;
}

/// While the link is up but Redis does not answer, `/who`, `/rooms` and
/// `/msg` to someone not here say so (a `cluster` error) rather than answer
/// from this server alone or claim that nobody has the name; once Redis
/// answers again, so do they.
#[tokio::test]
async fn a_redis_that_does_not_answer_is_a_cluster_error_not_a_wrong_answer() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let one = redis.server(&[]).await;
    let mut ana = enter(&one, "ana", "lobby").await;
    let mut bo = enter(&one, "bo", "lobby").await;
    expect(&mut ana, join("lobby", "bo")).await;
    let mut cy = enter(&one, "cy", "lobby").await;
    expect(&mut ana, join("lobby", "cy")).await;
    expect(&mut bo, join("lobby", "cy")).await;

    redis.pause();
    // At once, so the three waits for Redis overlap.
    ana.send("/who").await;
    bo.send("/rooms").await;
    cy.send("/msg ghost are you there?").await;
    let unanswered = "the other servers did not answer (Redis did not answer within 2s); \
                      try again in a moment";
    for client in [&mut ana, &mut bo, &mut cy] {
        expect_error(client, ErrorCode::Cluster, unanswered).await;
    }

    redis.resume();
    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo", "cy"])).await;
    cy.send("/msg ghost are you there?").await;
    expect_error(
        &mut cy,
        ErrorCode::NoSuchUser,
        "nobody called 'ghost' is connected (check the spelling)",
    )
    .await;
}

/// Unix time in milliseconds, for events a test forges: a recent `ts` is
/// what [`expect`] checks.
fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("a 64-bit time")
}

/// A message's JSON as a server puts it in Redis (id 0: Redis gives it).
fn message_json(room: &str, from: &str, text: &str) -> String {
    Event::Message {
        id: 0,
        room: room.into(),
        from: from.into(),
        text: text.into(),
        ts: now_ms(),
    }
    .to_json()
}

/// Issue 16, item 8: what is published on a room's channel or a server's
/// channel (escapes, a welcome, an error, impossible ids, another room,
/// invalid names, a message over the length limit) reaches nobody unless it
/// is a well-formed event, and then with its escapes stripped; real messages
/// then reach everyone on both servers with the next id.
#[tokio::test]
async fn issue_16_hostile_events_from_redis_reach_nobody() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let limit = ["--max-message-bytes", "64"];
    let (one, two) = (redis.server(&limit).await, redis.server(&limit).await);
    let (mut ana, mut bo) = ana_and_bo(&one, &two).await;
    say(&mut ana, 1, "lobby", "ana", "before").await;
    expect(&mut bo, message(1, "lobby", "ana", "before")).await;

    let mut intruder = redis.connection().await;
    let servers: Vec<String> =
        redis_cli(&mut intruder, &["PUBSUB", "CHANNELS", "chat:server:*"]).await;
    assert_eq!(servers.len(), 2, "{servers:?}");
    let ts = now_ms();
    let welcome = Event::Welcome {
        motd: "\u{1b}[2Jpwned".into(),
        name: "bo".into(),
        room: "lobby".into(),
        history: 0,
        limits: chat::protocol::LimitsInfo {
            max_message_bytes: 1,
            per_second: 1,
            burst: 1,
        },
        people: None,
        topic: None,
    }
    .to_json();
    let private_json = |from: &str, to: &str, text: &str| {
        Event::Private {
            from: from.into(),
            to: to.into(),
            text: text.into(),
            ts,
        }
        .to_json()
    };
    for server in &servers {
        for payload in [
            "\u{1b}[2J\u{1b}]0;pwned\u{7}".to_owned(),
            welcome.clone(),
            message_json("lobby", "eve", "not a private message"),
            private_json("e\u{1b}[31mve", "bo", "bad name"),
            private_json("eve", "bo", &"x".repeat(65)),
        ] {
            let _: i64 = redis_cli(&mut intruder, &["PUBLISH", server, &payload]).await;
        }
    }
    // Well-formed: delivered, without its escapes.
    let stripped_private = private_json("eve", "bo", "\u{1b}[2Jpsst");
    for server in &servers {
        let _: i64 = redis_cli(&mut intruder, &["PUBLISH", server, &stripped_private]).await;
    }

    let join_json = |room: &str, name: &str| {
        Event::Join {
            room: room.into(),
            name: name.into(),
            ts,
        }
        .to_json()
    };
    for payload in [
        "\u{1b}[2J\u{1b}]0;pwned\u{7}".to_owned(),
        format!("0 {welcome}"),
        format!(
            "0 {}",
            Event::error(ErrorCode::Cluster, "the link to the other servers is lost").to_json()
        ),
        // `who` and `presence` come from Redis's own summaries, checked.
        format!("0 {}", who("lobby", &["e\u{1b}[31mve"]).to_json()),
        format!("0 {}", who("rust", &["eve"]).to_json()),
        format!(
            "{} {}",
            u64::MAX,
            message_json("lobby", "eve", "the last id")
        ),
        format!("1000002 {}", message_json("lobby", "eve", "far ahead")),
        format!("2 {}", message_json("rust", "eve", "another room")),
        format!("2 {}", message_json("lobby", "e\u{1b}[31mve", "bad name")),
        format!("2 {}", message_json("lobby", "eve", &"x".repeat(65))),
        format!("2 {}", message_json("lobby", "eve", "\u{1b}\u{7}")),
        format!("0 {}", message_json("lobby", "eve", "no id")),
        format!("2 {}", join_json("lobby", "eve")),
        format!("0 {}", join_json("lobby", "e\u{1b}[31mve")),
        format!("0 {}", join_json("rust", "eve")),
    ] {
        let _: i64 = redis_cli(&mut intruder, &["PUBLISH", "chat:room:lobby", &payload]).await;
    }
    // Well-formed and numbered by the room's counter: delivered, stripped.
    let _: i64 = redis_cli(&mut intruder, &["INCR", "chat:id:lobby"]).await;
    let payload = format!(
        "2 {}",
        message_json("lobby", "eve", "\u{1b}]0;pwned\u{7}hi")
    );
    let _: i64 = redis_cli(&mut intruder, &["PUBLISH", "chat:room:lobby", &payload]).await;

    // The private message and the room's come through two channels of
    // Redis, read apart: either may come first.
    let mut bo_read = vec![next_untimed(&mut bo).await, next_untimed(&mut bo).await];
    bo_read.sort_by_key(|event| !matches!(event, Event::Private { .. }));
    assert_eq!(
        bo_read,
        [
            private("eve", "bo", "[2Jpsst"),
            message(2, "lobby", "eve", "]0;pwnedhi")
        ]
    );
    expect(&mut ana, message(2, "lobby", "eve", "]0;pwnedhi")).await;
    say(&mut ana, 3, "lobby", "ana", "still here").await;
    expect(&mut bo, message(3, "lobby", "ana", "still here")).await;
    say(&mut bo, 4, "lobby", "bo", "me too").await;
    expect(&mut ana, message(4, "lobby", "bo", "me too")).await;
}

/// Issue 16, item 8: entries of a room's history stream that no server
/// could have written (escapes, a welcome, another room, an invalid name,
/// an id past the room's counter) are dropped, or stripped if well-formed,
/// both when a server loads the room and when one fills a hole in its ids
/// from the stream; the room goes on with the next ids, though the stream
/// (whose last entry is now past them) refuses to keep them.
#[tokio::test]
async fn issue_16_hostile_history_entries_are_dropped_or_stripped() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut bo = enter(&two, "bo", "rust").await;

    let mut intruder = redis.connection().await;
    let entries = [
        message_json("rust", "eve", "\u{1b}[2Jone"),
        Event::Gap { missed: 9 }.to_json(),
        message_json("lobby", "eve", "another room"),
        message_json("rust", "e\u{1b}[31mve", "bad name"),
        message_json("rust", "eve", "from the future"),
    ];
    for (id, entry) in [1, 2, 3, 4, 99].into_iter().zip(&entries) {
        let id = format!("0-{id}");
        let _: String = redis_cli(
            &mut intruder,
            &["XADD", "chat:history:rust", &id, "e", entry],
        )
        .await;
    }
    let _: () = redis_cli(&mut intruder, &["SET", "chat:id:rust", "4"]).await;

    // Loaded: only the well-formed entry, stripped.
    let (mut ana, _) = one.join("ana", "rust").await;
    expect(&mut ana, message(1, "rust", "eve", "[2Jone")).await;
    expect(&mut ana, join("rust", "ana")).await;
    expect(&mut bo, join("rust", "ana")).await;
    say(&mut ana, 5, "rust", "ana", "five").await;
    // Filled (bo's server was at id 0): the same, and a gap for the rest.
    expect(&mut bo, message(1, "rust", "eve", "[2Jone")).await;
    expect(&mut bo, Event::Gap { missed: 3 }).await;
    expect(&mut bo, message(5, "rust", "ana", "five")).await;
    say(&mut bo, 6, "rust", "bo", "six").await;
    expect(&mut ana, message(6, "rust", "bo", "six")).await;
}

/// Issue 16, item 9: after `SCRIPT FLUSH` on Redis, the next message and
/// the next `/who` still work (the scripts are loaded again), ids go on,
/// and no client is told that the link was lost.
#[tokio::test]
async fn issue_16_a_flushed_script_cache_is_not_a_lost_link() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let (mut ana, mut bo) = ana_and_bo(&one, &two).await;
    say(&mut ana, 1, "lobby", "ana", "before").await;
    expect(&mut bo, message(1, "lobby", "ana", "before")).await;

    let mut admin = redis.connection().await;
    let _: () = redis_cli(&mut admin, &["SCRIPT", "FLUSH"]).await;
    say(&mut ana, 2, "lobby", "ana", "after the flush").await;
    expect(&mut bo, message(2, "lobby", "ana", "after the flush")).await;

    let _: () = redis_cli(&mut admin, &["SCRIPT", "FLUSH"]).await;
    bo.send("/who").await;
    expect(&mut bo, who("lobby", &["ana", "bo"])).await;
    say(&mut bo, 3, "lobby", "bo", "and again").await;
    expect(&mut ana, message(3, "lobby", "bo", "and again")).await;
    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana", "bo"])).await;
}

/// Issue 16, item 8: names and rooms that no server could have listed (a
/// fake live server's people hash with escapes in a name and a room, a
/// claim on a name spelt with escapes) never reach a client through
/// `/who`, `/rooms` or `/msg`; the valid ones still do.
#[tokio::test]
async fn issue_16_hostile_lists_in_redis_show_only_valid_names() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let one = redis.server(&[]).await;
    let mut ana = enter(&one, "ana", "lobby").await;

    let mut intruder = redis.connection().await;
    let _: i64 = redis_cli(&mut intruder, &["SADD", "chat:servers", "evil"]).await;
    let _: () = redis_cli(&mut intruder, &["SET", "chat:alive:evil", "1"]).await;
    let _: i64 = redis_cli(
        &mut intruder,
        &[
            "HSET",
            "chat:people:evil",
            "e\u{1b}[2Jve",
            "lobby",
            "cy",
            "lobby",
            "dee",
            "r\u{1b}]oom",
        ],
    )
    .await;
    // The lists `/who` and `/rooms` read, as the servers keep them.
    let _: i64 = redis_cli(
        &mut intruder,
        &[
            "ZADD",
            "chat:members:lobby",
            "0",
            "e\u{1b}[2jve e\u{1b}[2Jve",
            "0",
            "cy cy",
            "0",
            "nospace",
        ],
    )
    .await;
    let _: i64 = redis_cli(
        &mut intruder,
        &["HSET", "chat:heads", "lobby", "4", "r\u{1b}]oom", "1"],
    )
    .await;
    let _: () = redis_cli(
        &mut intruder,
        &["SET", "chat:name:fay", "evil f\u{1b}[2Jay"],
    )
    .await;

    ana.send("/who").await;
    // The count is Redis's, as below.
    expect(
        &mut ana,
        Event::Who {
            room: "lobby".into(),
            count: 4,
            names: vec!["ana".into(), "cy".into()],
            more: false,
            ops: Vec::new(),
        },
    )
    .await;
    ana.send("/rooms").await;
    // The count is Redis's: it counts every entry, names or not.
    expect(
        &mut ana,
        Event::Rooms {
            rooms: vec![RoomInfo {
                name: "lobby".into(),
                people: 4,
            }],
        },
    )
    .await;
    ana.send("/msg fay hi").await;
    expect_error(
        &mut ana,
        ErrorCode::NoSuchUser,
        "nobody called 'fay' is connected (check the spelling)",
    )
    .await;
}

/// Moves `client` (called `name`) into `room` with `/join`, up to its own
/// arrival there.
async fn move_to(client: &mut WsClient, name: &str, room: &str) {
    client.send(&format!("/join {room}")).await;
    client
        .event_matching(
            "the arrival in the new room",
            |event| matches!(event, Event::Join { room: r, name: n, .. } if r == room && n == name),
        )
        .await;
}

/// The rooms whose keys match `pattern` (`chat:id:*`, say) in `redis`,
/// sorted by name.
async fn rooms_with_keys(
    redis: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
) -> Vec<String> {
    let prefix = pattern.trim_end_matches('*');
    let keys: Vec<String> = redis_cli(redis, &["KEYS", pattern]).await;
    let mut rooms: Vec<String> = keys
        .iter()
        .map(|key| {
            key.strip_prefix(prefix)
                .expect("a key of the pattern")
                .to_owned()
        })
        .collect();
    rooms.sort();
    rooms
}

/// Issue 16, item 4: Redis keeps the history and the counters of
/// `--max-stored-rooms` rooms at most, whatever rooms people make: after a
/// message in the lobby and one in each of 50 rooms with `--max-rooms 5
/// --max-stored-rooms 10`, Redis holds the keys of the lobby (counted, but
/// never dropped, as on disk) and of the nine rooms written last, and
/// nothing of the others.
#[tokio::test]
async fn issue_16_the_rooms_kept_in_redis_are_bounded() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let args = [
        "--max-rooms",
        "5",
        "--max-stored-rooms",
        "10",
        "--messages-per-second",
        "0",
    ];
    let server = redis.server(&args).await;
    let mut ana = enter(&server, "ana", "lobby").await;
    say(&mut ana, 1, "lobby", "ana", "first").await;
    for n in 0..50 {
        let room = format!("r{n:02}");
        move_to(&mut ana, "ana", &room).await;
        say(&mut ana, 1, &room, "ana", "hi").await;
    }

    let mut admin = redis.connection().await;
    let last: Vec<String> = (41..50).map(|n| format!("r{n}")).collect();
    let mut kept = vec!["lobby".to_owned()];
    kept.extend(last.iter().cloned());
    kept.sort();
    assert_eq!(rooms_with_keys(&mut admin, "chat:history:*").await, kept);
    assert_eq!(rooms_with_keys(&mut admin, "chat:id:*").await, kept);
    let by_age: Vec<String> = redis_cli(&mut admin, &["ZRANGE", "chat:rooms", "0", "-1"]).await;
    assert_eq!(by_age, last, "the least recently written first, no lobby");
}

/// Issue 16, item 4: a room that Redis drops (past `--max-stored-rooms`)
/// while two servers hold it, with members on both, starts again from id 1
/// on both: the next message reaches everyone with id 1 rather than being
/// dropped as delivered already, ids go on from there, and a newcomer gets
/// the new history alone.
#[tokio::test]
async fn issue_16_a_room_dropped_from_redis_starts_again_everywhere() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let args = ["--max-stored-rooms", "2", "--messages-per-second", "0"];
    let (one, two) = (redis.server(&args).await, redis.server(&args).await);
    let mut ana = enter(&one, "ana", "rust").await;
    let mut bo = enter(&two, "bo", "rust").await;
    expect(&mut ana, join("rust", "bo")).await;
    say(&mut ana, 1, "rust", "ana", "one").await;
    expect(&mut bo, message(1, "rust", "ana", "one")).await;
    say(&mut bo, 2, "rust", "bo", "two").await;
    expect(&mut ana, message(2, "rust", "bo", "two")).await;

    // Other rooms written on server two until Redis drops rust: two more
    // suffice, unless a server's refresh (every 10 s) marks rust as written
    // in between.
    let mut admin = redis.connection().await;
    let mut cy = enter(&two, "cy", "r0").await;
    say(&mut cy, 1, "r0", "cy", "hi").await;
    let mut dropped = false;
    for n in 1..10 {
        let room = format!("r{n}");
        move_to(&mut cy, "cy", &room).await;
        say(&mut cy, 1, &room, "cy", "hi").await;
        let left: i64 =
            redis_cli(&mut admin, &["EXISTS", "chat:id:rust", "chat:history:rust"]).await;
        if left == 0 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "Redis still keeps rust after nine other rooms");

    say(&mut bo, 1, "rust", "bo", "again").await;
    expect(&mut ana, message(1, "rust", "bo", "again")).await;
    say(&mut ana, 2, "rust", "ana", "and on").await;
    expect(&mut bo, message(2, "rust", "ana", "and on")).await;

    let (mut dee, _) = one.join("dee", "rust").await;
    expect(&mut dee, message(1, "rust", "bo", "again")).await;
    expect(&mut dee, message(2, "rust", "ana", "and on")).await;
    expect(&mut dee, join("rust", "dee")).await;
    for client in [&mut ana, &mut bo] {
        expect(client, join("rust", "dee")).await;
    }
}
