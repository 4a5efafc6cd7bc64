//! Big rooms across servers (issue 17, part 5): on two servers sharing a
//! Redis, a room's presence is summarised by its size across both, one
//! `presence` per room per interval with everyone's arrivals merged;
//! `/who` and `/rooms` read Redis's lists of rooms and names; a crashed
//! server's people leave those lists.
//!
//! Without `redis-server` the tests say they are skipped and return, as in
//! `cluster`.

use std::time::{Duration, Instant};

use chat::protocol::{Event, RoomInfo};

use crate::support::WsClient;
use crate::support::events::{enter, enter_after, expect, join, leave, presence, untimed, who};
use crate::support::redis::{Redis, redis_cli};

/// The next `presence` summary `client` gets, with `ts: 0`, and when it
/// came; every other event on the way must be none of presence's.
async fn next_summary(client: &mut WsClient) -> (Event, Instant) {
    let event = client
        .event_matching("a presence summary", |e| {
            assert!(
                !matches!(e, Event::Join { .. } | Event::Leave { .. }),
                "an individual notice in a summarised room: {e:?}"
            );
            matches!(e, Event::Presence { .. })
        })
        .await;
    (untimed(event), Instant::now())
}

/// Up to the limit, arrivals on either server are notices to everyone;
/// above it, arrivals and departures on both servers are summed up in one
/// `presence` per interval, the same on both, with the head count across
/// servers; the newcomer still hears their own arrival; back under the
/// limit everyone gets one fresh `who`, and notices are individual again.
#[tokio::test]
async fn issue_17_a_big_room_across_servers_gets_one_merged_summary_per_interval() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let interval = Duration::from_millis(1000);
    let args = ["--presence-limit", "3", "--presence-interval", "1000"];
    let (one, two) = (redis.server(&args).await, redis.server(&args).await);
    let mut ana = enter(&one, "ana", "big").await;
    let mut bo = enter_after(&two, "bo", "big", &["ana"]).await;
    expect(&mut ana, join("big", "bo")).await;
    let cy = enter_after(&one, "cy", "big", &["bo"]).await;
    expect(&mut ana, join("big", "cy")).await;
    expect(&mut bo, join("big", "cy")).await;

    // The fourth, on the other server, takes the room above the limit.
    let dd = enter_after(&two, "dd", "big", &["cy"]).await;
    let one_more = presence("big", (1, &["dd"]), (0, &[]), 0, 4);
    let (first, at) = next_summary(&mut ana).await;
    assert_eq!(first, one_more);
    assert_eq!(next_summary(&mut bo).await.0, one_more);

    // Just after a summary: six arrivals on both servers fall in the next
    // interval, and come as one summary, merged, the same on both servers.
    let mut crowd = Vec::new();
    for n in 1..=6_u32 {
        let server = if n.is_multiple_of(2) { &two } else { &one };
        crowd.push(enter(server, &format!("p{n}"), "big").await);
    }
    let six = presence("big", (6, &["p1", "p2", "p3", "p4", "p5"]), (0, &[]), 0, 10);
    let (second, second_at) = next_summary(&mut ana).await;
    assert_eq!(second, six);
    assert!(
        second_at - at >= interval * 4 / 5,
        "two summaries {:?} apart",
        second_at - at
    );
    assert_eq!(next_summary(&mut bo).await.0, six);

    // Back to three: the last summary, then one `who` from Redis's list.
    for mut p in crowd.into_iter().chain([dd]) {
        p.send("/quit").await;
        p.expect_close().await;
    }
    // Departures on two servers reach Redis in the order each server
    // sends them: the five named are five of the seven, in some order.
    for client in [&mut ana, &mut bo] {
        let (summary, _) = next_summary(client).await;
        let Event::Presence {
            joined,
            left,
            left_names,
            renamed,
            people,
            ..
        } = &summary
        else {
            unreachable!("a presence summary");
        };
        assert_eq!(
            (*joined, *left, left_names.len(), *renamed, *people),
            (0, 7, 5, 0, 3),
            "{summary:?}"
        );
        let seven = ["p1", "p2", "p3", "p4", "p5", "p6", "dd"];
        assert!(
            left_names.iter().all(|n| seven.contains(&n.as_str())),
            "{summary:?}"
        );
        expect(client, who("big", &["ana", "bo", "cy"])).await;
    }

    // Exact notices again, from either server.
    let mut cy = cy;
    cy.send("/quit").await;
    expect(&mut ana, leave("big", "cy", "quit")).await;
    expect(&mut bo, leave("big", "cy", "quit")).await;
}

/// `/who` across servers pages by prefix and cursor, in reading order,
/// with the head count of the whole room; `/rooms` counts every server's.
#[tokio::test]
async fn issue_17_who_by_prefix_and_rooms_across_servers() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter(&one, "ana", "lobby").await;
    let mut others = Vec::new();
    let mut earlier = vec!["ana"];
    for (server, name) in [
        (&two, "Andy"),
        (&one, "anabel"),
        (&two, "anna"),
        (&two, "bo"),
    ] {
        others.push(enter_after(server, name, "lobby", &earlier).await);
        earlier.push(name);
        expect(&mut ana, join("lobby", name)).await;
    }
    others.push(enter(&one, "cy", "rust").await);
    let page = |names: &[&str], more: bool| Event::Who {
        room: "lobby".into(),
        count: 5,
        names: names.iter().map(|&n| n.to_owned()).collect(),
        more,
        ops: Vec::new(),
    };
    ana.send("/who").await;
    expect(
        &mut ana,
        page(&["ana", "anabel", "Andy", "anna", "bo"], false),
    )
    .await;
    ana.send("/who AN").await;
    expect(&mut ana, page(&["ana", "anabel", "Andy", "anna"], false)).await;
    ana.send("/who an anabel").await;
    expect(&mut ana, page(&["Andy", "anna"], false)).await;
    ana.send("/who * andy").await;
    expect(&mut ana, page(&["anna", "bo"], false)).await;
    ana.send("/who x").await;
    expect(&mut ana, page(&[], false)).await;
    ana.send("/rooms").await;
    expect(
        &mut ana,
        Event::Rooms {
            rooms: vec![
                RoomInfo {
                    name: "lobby".into(),
                    people: 5,
                },
                RoomInfo {
                    name: "rust".into(),
                    people: 1,
                },
            ],
        },
    )
    .await;
}

/// A server killed without a goodbye: once its liveness key is gone (it
/// expires within the claim period; the test deletes it rather than wait),
/// its people are off `/who` and `/rooms` on the server still running.
#[tokio::test]
async fn issue_17_a_crashed_servers_people_leave_the_lists() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, mut two) = (redis.server(&[]).await, redis.server(&[]).await);
    let mut ana = enter(&one, "ana", "lobby").await;
    let _bo = enter_after(&two, "bo", "lobby", &["ana"]).await;
    expect(&mut ana, join("lobby", "bo")).await;
    let _cy = enter(&two, "cy", "rust").await;
    ana.send("/rooms").await;
    let rooms = ana
        .event_matching("the rooms", |e| matches!(e, Event::Rooms { .. }))
        .await;
    assert_eq!(
        rooms,
        Event::Rooms {
            rooms: vec![
                RoomInfo {
                    name: "lobby".into(),
                    people: 2
                },
                RoomInfo {
                    name: "rust".into(),
                    people: 1
                },
            ],
        }
    );

    two.signal("KILL");
    // Gone for good: no heartbeat of its own can set its liveness key again.
    let _ = two.wait().await;
    let mut link = redis.connection().await;
    let servers: Vec<String> = redis_cli(&mut link, &["SMEMBERS", "chat:servers"]).await;
    let mut dead = None;
    for server in servers {
        let room: Option<String> =
            redis_cli(&mut link, &["HGET", &format!("chat:people:{server}"), "bo"]).await;
        if room.is_some() {
            dead = Some(server);
        }
    }
    let dead = dead.expect("bo's server is listed");
    let _: i64 = redis_cli(&mut link, &["DEL", &format!("chat:alive:{dead}")]).await;

    ana.send("/who").await;
    expect(&mut ana, who("lobby", &["ana"])).await;
    ana.send("/rooms").await;
    expect(
        &mut ana,
        Event::Rooms {
            rooms: vec![RoomInfo {
                name: "lobby".into(),
                people: 1,
            }],
        },
    )
    .await;
    let listed: bool = redis_cli(&mut link, &["SISMEMBER", "chat:servers", &dead]).await;
    assert!(!listed, "a dead server with nobody left stays in the set");
}

/// The welcome counts the room's people on every server, the newcomer
/// included.
#[tokio::test]
async fn issue_17_the_welcome_counts_the_room_across_servers() {
    let Some(redis) = Redis::start().await else {
        return;
    };
    let (one, two) = (redis.server(&[]).await, redis.server(&[]).await);
    let _ana = enter(&one, "ana", "talk").await;
    let _bo = enter_after(&two, "bo", "talk", &["ana"]).await;
    let _cy = enter(&one, "cy", "elsewhere").await;
    let mut dd = WsClient::connect(&two.url_for("/talk?name=dd&format=json")).await;
    let welcome = dd
        .event_matching("the welcome", |e| matches!(e, Event::Welcome { .. }))
        .await;
    let Event::Welcome { people, .. } = welcome else {
        unreachable!("matched a welcome")
    };
    assert_eq!(people, Some(3));
}
