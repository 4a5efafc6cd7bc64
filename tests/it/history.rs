//! History and resume: per-room ids, what a late joiner is replayed, `since`
//! with and without a gap, and that nothing falls between replay and live events.

use chat::protocol::Event;
use serde_json::Value;

use crate::support::{TestServer, WsClient, within};

/// The `type` and `id` (if any) of a raw JSON frame.
fn kind_and_id(frame: &str) -> (String, Option<u64>) {
    let value: Value =
        serde_json::from_str(frame).unwrap_or_else(|err| panic!("not JSON ({err}): {frame}"));
    let kind = value["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type in {frame}"))
        .to_owned();
    let id = value.get("id").map(|id| {
        id.as_u64()
            .unwrap_or_else(|| panic!("id is not a number in {frame}"))
    });
    (kind, id)
}

/// Sends each of `lines` from `client` and reads the copy of each, which must
/// be the very next frame; returns the copies exactly as received.
async fn say_all(client: &mut WsClient, lines: &[&str]) -> Vec<String> {
    let mut copies = Vec::new();
    for line in lines {
        client.send(line).await;
        let copy = client.next_text().await;
        let (kind, _) = kind_and_id(&copy);
        assert!(
            kind == "message" || kind == "action",
            "the copy of {line:?} was {copy}"
        );
        copies.push(copy);
    }
    copies
}

/// Sends `n` numbered messages (`m1`, `m2`, …) from `client`, returning the copies.
async fn say_numbered(client: &mut WsClient, n: usize) -> Vec<String> {
    let lines: Vec<String> = (1..=n).map(|i| format!("m{i}")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    say_all(client, &lines).await
}

/// Reads the next frame and asserts it is `name`'s join notice for `room`.
async fn expect_own_join(client: &mut WsClient, name: &str, room: &str) {
    let event = client.next_event().await;
    assert!(
        matches!(&event, Event::Join { room: r, name: n, .. } if r == room && n == name),
        "expected {name}'s join of {room}, got {event:?}"
    );
}

/// Ids start at 1 and grow by one per message or action; join, nick and leave
/// notices carry no id and take none; each room counts on its own.
#[tokio::test]
async fn ids_grow_by_one_per_message_or_action_and_per_room_only() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let (mut cy, _) = server.join("cy", "rust").await;
    expect_own_join(&mut cy, "cy", "rust").await;
    let mut in_rust = say_all(&mut cy, &["uno"]).await;

    let mut seen = say_all(&mut ana, &["one", "/me two"]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    seen.push(ana.next_text().await);
    bo.send("/nick bob").await;
    seen.push(ana.next_text().await);
    seen.extend(say_all(&mut ana, &["three"]).await);
    bo.send("/join rust").await;
    seen.push(ana.next_text().await);
    seen.extend(say_all(&mut ana, &["/me four"]).await);

    let seen: Vec<(String, Option<u64>)> = seen.iter().map(|f| kind_and_id(f)).collect();
    let expected = [
        ("message", Some(1)),
        ("action", Some(2)),
        ("join", None),
        ("nick", None),
        ("message", Some(3)),
        ("leave", None),
        ("action", Some(4)),
    ]
    .map(|(kind, id)| (kind.to_owned(), id));
    assert_eq!(seen, expected);

    // The other room started at 1 and went on at its own pace.
    cy.event_matching(
        "bob's join of rust",
        |e| matches!(e, Event::Join { name, .. } if name == "bob"),
    )
    .await;
    bo.event_matching(
        "bob's own join of rust",
        |e| matches!(e, Event::Join { name, room, .. } if name == "bob" && room == "rust"),
    )
    .await;
    bo.send("/me dos").await;
    in_rust.push(cy.next_text().await);
    let in_rust: Vec<_> = in_rust.iter().map(|f| kind_and_id(f)).collect();
    assert_eq!(
        in_rust,
        [
            ("message".to_owned(), Some(1)),
            ("action".to_owned(), Some(2))
        ]
    );
    // ...and the lobby's count was not disturbed by it.
    let next = say_all(&mut ana, &["five"]).await;
    assert_eq!(kind_and_id(&next[0]), ("message".to_owned(), Some(5)));
}

/// A late joiner gets the room's messages and actions, in id order and byte
/// for byte as they were first sent, right after the welcome; then its own
/// join notice; then live events. Notices are not part of history.
#[tokio::test]
async fn a_late_joiner_gets_history_after_the_welcome_then_its_own_join() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_all(&mut ana, &["one", "/me two", "three"]).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo").await;
    let mut replayed = Vec::new();
    for _ in 0..said.len() {
        replayed.push(bo.next_text().await);
    }
    assert_eq!(replayed, said);
    expect_own_join(&mut bo, "bo", "lobby").await;

    ana.send("live").await;
    let live = bo.next_event().await;
    assert!(
        matches!(&live, Event::Message { id: 4, from, text, .. } if from == "ana" && text == "live"),
        "{live:?}"
    );
}

/// With `--history 3` a late joiner gets only the last 3 messages, and the
/// welcome says how many the server keeps.
#[tokio::test]
async fn history_3_keeps_only_the_last_three_messages() {
    let server = TestServer::start(&["--history", "3"]).await;
    let (mut ana, welcome) = server.join("ana", "lobby").await;
    assert!(
        matches!(welcome, Event::Welcome { history: 3, .. }),
        "{welcome:?}"
    );
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_numbered(&mut ana, 5).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo").await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        replayed.push(bo.next_text().await);
    }
    assert_eq!(replayed, said[2..]);
    expect_own_join(&mut bo, "bo", "lobby").await;
}

/// With `--history 0` a late joiner is replayed nothing, while ids still count.
#[tokio::test]
async fn history_0_replays_nothing() {
    let server = TestServer::start(&["--history", "0"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    say_numbered(&mut ana, 2).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo").await;
    expect_own_join(&mut bo, "bo", "lobby").await;
    ana.send("m3").await;
    let live = bo.next_event().await;
    assert!(
        matches!(&live, Event::Message { id: 3, text, .. } if text == "m3"),
        "{live:?}"
    );
}

/// With `--history 0`, `since=0` replays nothing and reports every message
/// said since as missed.
#[tokio::test]
async fn history_0_with_since_reports_every_message_as_missed() {
    let server = TestServer::start(&["--history", "0"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    say_numbered(&mut ana, 2).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo&since=0").await;
    assert_eq!(bo.next_event().await, Event::Gap { missed: 2 });
    expect_own_join(&mut bo, "bo", "lobby").await;
}

/// `since=ID` replays exactly the messages with an id above ID, and no gap
/// when they are all still in history.
#[tokio::test]
async fn since_replays_exactly_the_later_messages_and_no_gap() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_numbered(&mut ana, 5).await;

    for since in 0..=4 {
        let (mut bo, _) = server
            .connect_json(&format!("/lobby?name=bo{since}&since={since}"))
            .await;
        let mut replayed = Vec::new();
        for _ in since..5 {
            replayed.push(bo.next_text().await);
        }
        assert_eq!(replayed, said[since..], "since={since}");
        expect_own_join(&mut bo, &format!("bo{since}"), "lobby").await;
    }
}

/// `since` older than what history keeps gives the kept messages, then a
/// `gap` whose `missed` is exactly the number of later messages that are gone.
#[tokio::test]
async fn since_older_than_history_gives_the_kept_messages_then_the_exact_gap() {
    let server = TestServer::start(&["--history", "3"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_numbered(&mut ana, 10).await;
    let kept = &said[7..];

    // (since, missed): ids 8, 9 and 10 are kept; since+1..=7 are gone.
    for (since, missed) in [(2, 5), (0, 7), (6, 1)] {
        let name = format!("bo{since}");
        let (mut bo, _) = server
            .connect_json(&format!("/lobby?name={name}&since={since}"))
            .await;
        let mut replayed = Vec::new();
        for _ in 0..3 {
            replayed.push(bo.next_text().await);
        }
        assert_eq!(replayed, kept, "since={since}");
        assert_eq!(
            bo.next_event().await,
            Event::Gap { missed },
            "since={since}"
        );
        expect_own_join(&mut bo, &name, "lobby").await;
    }

    // Just before the oldest kept message: nothing is gone, so no gap.
    let (mut cy, _) = server.connect_json("/lobby?name=cy&since=7").await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        replayed.push(cy.next_text().await);
    }
    assert_eq!(replayed, kept);
    expect_own_join(&mut cy, "cy", "lobby").await;
}

/// `since` equal to the room's last id replays nothing and reports no gap.
#[tokio::test]
async fn since_equal_to_the_last_id_replays_nothing_and_no_gap() {
    let server = TestServer::start(&["--history", "3"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    say_numbered(&mut ana, 5).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo&since=5").await;
    expect_own_join(&mut bo, "bo", "lobby").await;
    ana.send("m6").await;
    let live = bo.next_event().await;
    assert!(
        matches!(&live, Event::Message { id: 6, text, .. } if text == "m6"),
        "{live:?}"
    );
}

/// `since` above any id the room gave (as after a server restart) replays the
/// whole history, and no gap.
#[tokio::test]
async fn since_beyond_the_last_id_replays_the_whole_history_and_no_gap() {
    let server = TestServer::start(&["--history", "3"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_numbered(&mut ana, 5).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo&since=1000").await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        replayed.push(bo.next_text().await);
    }
    assert_eq!(replayed, said[2..]);
    expect_own_join(&mut bo, "bo", "lobby").await;
}

/// A `since` that is not a number is reported after the welcome and ignored:
/// the whole history is replayed, with no gap.
#[tokio::test]
async fn an_invalid_since_is_reported_and_the_whole_history_replayed() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    let said = say_numbered(&mut ana, 2).await;

    let (mut bo, _) = server.connect_json("/lobby?name=bo&since=-1").await;
    assert_eq!(
        bo.next_text().await,
        r#"{"type":"error","code":"invalid_query","message":"since must be a message id (a whole number); ignoring it"}"#
    );
    let replayed = [bo.next_text().await, bo.next_text().await];
    assert_eq!(replayed, said[..]);
    expect_own_join(&mut bo, "bo", "lobby").await;
}

/// In text format the replay comes in the same order, after the welcome and
/// before the joiner's own join line, and a gap reads as a line too.
#[tokio::test]
async fn history_replay_order_is_the_same_in_text_format() {
    let server = TestServer::start(&["--history", "3", "--motd", "hi"]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    say_all(&mut ana, &["zero", "one", "/me two", "three", "/me four"]).await;

    let mut bo = WsClient::connect(&server.url_for("/lobby?name=bo&format=text")).await;
    let mut lines = Vec::new();
    for _ in 0..5 {
        lines.push(bo.next_text().await);
    }
    assert_eq!(
        lines,
        [
            "hi\nyou are bo in lobby; type /help for commands",
            "* ana two",
            "ana: three",
            "* ana four",
            "-> bo joined lobby",
        ]
    );

    let mut cy = WsClient::connect(&server.url_for("/lobby?name=cy&since=0")).await;
    let mut lines = Vec::new();
    for _ in 0..6 {
        lines.push(cy.next_text().await);
    }
    assert_eq!(
        lines,
        [
            "hi\nyou are cy in lobby; type /help for commands",
            "* ana two",
            "ana: three",
            "* ana four",
            "... 2 messages missed",
            "-> cy joined lobby",
        ]
    );
}

/// `/join` into a room replays that room's history after one's own leave
/// notice from the old room and before one's join notice in the new one.
#[tokio::test]
async fn joining_a_room_with_a_command_replays_its_history() {
    let server = TestServer::start(&[]).await;
    let (mut cy, _) = server.join("cy", "rust").await;
    expect_own_join(&mut cy, "cy", "rust").await;
    let said = say_all(&mut cy, &["uno", "/me dos"]).await;

    let (mut ana, _) = server.join("ana", "lobby").await;
    expect_own_join(&mut ana, "ana", "lobby").await;
    ana.send("/join rust").await;
    let leave = ana.next_event().await;
    assert!(
        matches!(&leave, Event::Leave { room, name, reason, .. }
            if room == "lobby" && name == "ana" && reason == "joined rust"),
        "{leave:?}"
    );
    let replayed = [ana.next_text().await, ana.next_text().await];
    assert_eq!(replayed, said[..]);
    expect_own_join(&mut ana, "ana", "rust").await;
}

/// Joiners resuming with `since=0` while two people keep sending each see
/// every id exactly once and in order: the replay, then their own join, then
/// the live rest, with nothing lost or repeated in between and no gap.
#[tokio::test]
async fn nothing_is_lost_or_repeated_between_replay_and_live_events() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "lobby").await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let joiners = ["j1", "j2", "j3"];

    // Each sender stays under the default burst of 40, so nothing is refused.
    let mut sent = 0;
    for i in 1..=10 {
        ana.send(&format!("ana {i}")).await;
        bo.send(&format!("bo {i}")).await;
        sent += 2;
    }
    // The joiners connect one after another while both keep sending, one
    // confirmed message at a time, so the joins land between messages in flight.
    let all_in = std::sync::atomic::AtomicBool::new(false);
    let keep_sending = async |client: &mut WsClient, who: &str| {
        let mut count = 0;
        while count < 20 && !all_in.load(std::sync::atomic::Ordering::SeqCst) {
            count += 1;
            let text = format!("{who} live {count}");
            client.send(&text).await;
            client
                .event_matching("the copy of one's message", |e| {
                    matches!(e, Event::Message { from, text: t, .. } if from == who && *t == text)
                })
                .await;
        }
        count
    };
    let connect_all = async {
        let mut clients = Vec::new();
        for name in joiners {
            let (client, _) = server
                .connect_json(&format!("/lobby?name={name}&since=0"))
                .await;
            clients.push(client);
        }
        all_in.store(true, std::sync::atomic::Ordering::SeqCst);
        clients
    };
    let (from_ana, from_bo, mut clients) = tokio::join!(
        keep_sending(&mut ana, "ana"),
        keep_sending(&mut bo, "bo"),
        connect_all
    );
    sent += from_ana + from_bo;
    for i in 1..=5 {
        ana.send(&format!("ana after {i}")).await;
        bo.send(&format!("bo after {i}")).await;
        sent += 2;
    }
    let total = u64::try_from(sent).expect("a small count");

    for (client, name) in clients.iter_mut().zip(joiners) {
        let mut ids = Vec::new();
        let mut replayed = None;
        within("every message to reach a joiner", async {
            while ids.last() != Some(&total) || replayed.is_none() {
                match client.next_event().await {
                    Event::Message { id, .. } => ids.push(id),
                    Event::Join { name: n, .. } if n == name => {
                        assert_eq!(replayed, None, "{name} saw its own join twice");
                        replayed = Some(ids.len());
                    }
                    // The later joiners arrive live, after one's own join.
                    Event::Join { name: n, .. } => assert!(
                        replayed.is_some() && joiners.contains(&n.as_str()),
                        "{name} saw {n} join before itself"
                    ),
                    other => panic!("{name} got {other:?}"),
                }
            }
        })
        .await;
        // Anything still queued would come before the answer to /who.
        client.send("/who").await;
        let who = client.next_event().await;
        assert!(matches!(who, Event::Who { .. }), "{name} got {who:?}");
        let replayed = replayed.expect("the loop ends on one's own join");
        assert_eq!(
            ids,
            (1..=total).collect::<Vec<_>>(),
            "{name} (joined after {replayed} messages)"
        );
    }
}

/// Issue 16, item 2: history is bounded by bytes as well as by count. With
/// `--history-bytes 2000`, ten lines of 500 bytes leave the last three (each
/// counts its sender, its text and 96 bytes), and a `since` resume says how
/// many it missed.
#[tokio::test]
async fn issue_16_history_is_bounded_by_bytes_too() {
    let server =
        TestServer::start(&["--history-bytes", "2000", "--messages-per-second", "0"]).await;
    let (mut ana, _) = server.connect_json("/big?name=ana").await;
    let lines: Vec<String> = (0..10).map(|n| format!("{n}{}", "x".repeat(499))).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    // Past ana's own join.
    ana.next_event().await;
    say_all(&mut ana, &lines).await;

    let (mut bo, _) = server.connect_json("/big?name=bo").await;
    let replayed: Vec<(String, Option<u64>)> = within("bo's replay", async {
        let mut replayed = Vec::new();
        loop {
            let (kind, id) = kind_and_id(&bo.next_text().await);
            if kind == "join" {
                return replayed;
            }
            replayed.push((kind, id));
        }
    })
    .await;
    let expected: Vec<(String, Option<u64>)> = (8..=10)
        .map(|id| ("message".to_owned(), Some(id)))
        .collect();
    assert_eq!(replayed, expected);

    let (mut cy, _) = server.connect_json("/big?name=cy&since=2").await;
    let mut resumed = Vec::new();
    for _ in 0..3 {
        resumed.push(kind_and_id(&cy.next_text().await));
    }
    assert_eq!(resumed, expected);
    assert_eq!(
        cy.next_event().await,
        Event::Gap { missed: 5 },
        "ids 3 to 7"
    );
}

/// `history=0` enters a room without its history: the welcome, then the
/// person's own join, then what is said from then on (issue 18's
/// `--no-history`, done by the server so that nothing live is mistaken for
/// history); `history=1` and no `history` replay it, and a bad value is
/// reported and replays it.
#[tokio::test]
async fn history_0_enters_without_the_replay() {
    let server = TestServer::start(&[]).await;
    let (mut ana, _) = server.join("ana", "quiet").await;
    expect_own_join(&mut ana, "ana", "quiet").await;
    say_numbered(&mut ana, 3).await;

    let (mut bo, _) = server.connect_json("/quiet?name=bo&history=0").await;
    expect_own_join(&mut bo, "bo", "quiet").await;
    ana.send("from now on").await;
    let (kind, id) = kind_and_id(&bo.next_text().await);
    assert_eq!((kind.as_str(), id), ("message", Some(4)));

    for (query, problem) in [
        ("history=1", None),
        ("history=yes", Some("history must be 0")),
    ] {
        let (mut cy, _) = server
            .connect_json(&format!(
                "/quiet?name=cy{}&{query}",
                problem.is_some() as u8
            ))
            .await;
        if let Some(problem) = problem {
            let event = cy.next_event().await;
            assert!(
                matches!(&event, Event::Error { message, .. } if message.starts_with(problem)),
                "{event:?}"
            );
        }
        let ids: Vec<Option<u64>> = within("the replay", async {
            let mut ids = Vec::new();
            for _ in 0..4 {
                ids.push(kind_and_id(&cy.next_text().await).1);
            }
            ids
        })
        .await;
        assert_eq!(ids, [Some(1), Some(2), Some(3), Some(4)], "{query}");
    }
}
