//! Presence that scales (issue 17): exact join, leave and nick notices up to
//! `--presence-limit` members, one `presence` summary per interval above
//! it, a fresh `who` when the room is back under it, the head count in the
//! welcome, and `/who` paged by prefix and cursor. With Redis, see
//! `cluster_presence`.

use chat::protocol::Event;

use crate::support::client::RunningClient;
use crate::support::events::{expect, join, leave, nick, presence, who};
use crate::support::{TestServer, WsClient};

/// The head count a welcome gives.
fn people_in(welcome: &Event) -> Option<usize> {
    match welcome {
        Event::Welcome { people, .. } => *people,
        other => panic!("not a welcome: {other:?}"),
    }
}

/// A text client joins `room` as `name`; its welcome is read.
async fn text_client(server: &TestServer, name: &str, room: &str) -> WsClient {
    let mut client =
        WsClient::connect(&server.url_for(&format!("/{room}?name={name}&format=text"))).await;
    let welcome = client.next_text().await;
    assert!(
        welcome.contains(&format!("you are {name} in {room}")),
        "{welcome}"
    );
    client
}

/// Up to the limit every arrival is a notice; past it arrivals, departures
/// and renames are summed up, exactly, in JSON and in text, the newcomer
/// and the renamed still hear their own; back under the limit everyone gets
/// one fresh `who` and notices are individual again.
#[tokio::test]
async fn issue_17_presence_is_summarised_above_the_limit_and_exact_below_it() {
    let server = TestServer::start(&["--presence-limit", "3", "--presence-interval", "1000"]).await;
    let (mut ana, welcome) = server.join("ana", "big").await;
    assert_eq!(people_in(&welcome), Some(1));
    expect(&mut ana, join("big", "ana")).await;
    let mut tx = text_client(&server, "tx", "big").await;
    assert_eq!(tx.next_text().await, "-> tx joined big");
    expect(&mut ana, join("big", "tx")).await;
    let (mut cy, welcome) = server.join("cy", "big").await;
    assert_eq!(people_in(&welcome), Some(3));
    expect(&mut cy, join("big", "cy")).await;
    expect(&mut ana, join("big", "cy")).await;
    assert_eq!(tx.next_text().await, "-> cy joined big");

    // The fourth is above the limit: counted, and told on its own.
    let (mut dd, welcome) = server.join("dd", "big").await;
    assert_eq!(people_in(&welcome), Some(4));
    expect(&mut dd, join("big", "dd")).await;
    let one = presence("big", (1, &["dd"]), (0, &[]), 0, 4);
    expect(&mut ana, one.clone()).await;
    expect(&mut cy, one.clone()).await;
    expect(&mut dd, one).await;
    assert_eq!(tx.next_text().await, "-- 1 joined (dd); 4 here");

    // Just after a summary: all of this falls in the next interval.
    let mut crowd = Vec::new();
    for n in 1..=7 {
        let (mut p, _) = server.join(&format!("p{n}"), "big").await;
        expect(&mut p, join("big", &format!("p{n}"))).await;
        crowd.push(p);
    }
    dd.send("/quit").await;
    cy.send("/nick cyril").await;
    expect(&mut cy, nick("big", "cy", "cyril")).await;
    expect(
        &mut ana,
        presence(
            "big",
            (7, &["p1", "p2", "p3", "p4", "p5"]),
            (1, &["dd"]),
            1,
            10,
        ),
    )
    .await;
    assert_eq!(
        tx.next_text().await,
        "-- 7 joined (p1, p2, p3, p4, p5, +2), 1 left (dd), 1 renamed; 10 here"
    );

    // Back to three: the last summary, then one `who`.
    // One at a time, so that the names come in order.
    for p in &mut crowd {
        p.send("/quit").await;
        p.expect_close().await;
    }
    expect(
        &mut ana,
        presence("big", (0, &[]), (7, &["p1", "p2", "p3", "p4", "p5"]), 0, 3),
    )
    .await;
    expect(&mut ana, who("big", &["ana", "cyril", "tx"])).await;
    assert_eq!(
        tx.next_text().await,
        "-- 7 left (p1, p2, p3, p4, p5, +2); 3 here"
    );
    assert_eq!(tx.next_text().await, "in big: ana, cyril, tx");

    // Exact notices again.
    cy.send("/quit").await;
    expect(&mut ana, leave("big", "cyril", "quit")).await;
    assert_eq!(tx.next_text().await, "<- cyril left big (quit)");
    let (_ed, _) = server.join("ed", "big").await;
    expect(&mut ana, join("big", "ed")).await;
    assert_eq!(tx.next_text().await, "-> ed joined big");
}

/// Sends `command` and returns the `who` that answers it.
async fn ask(client: &mut WsClient, command: &str) -> Event {
    client.send(command).await;
    client
        .event_matching("the /who answer", |e| matches!(e, Event::Who { .. }))
        .await
}

/// Sends `command` to a text client and returns the `in ROOM` line that answers it.
async fn ask_text(client: &mut WsClient, command: &str) -> String {
    client.send(command).await;
    client
        .text_matching("the text /who answer", |line| line.starts_with("in "))
        .await
}

/// With many people `/who` lists the first hundred, sorted, with the head
/// count and `more`; a prefix and a cursor page through the rest, in both
/// formats.
#[tokio::test]
async fn issue_17_who_pages_through_a_big_room_by_prefix_and_cursor() {
    let server = TestServer::start(&["--presence-limit", "10"]).await;
    let mut crowd = Vec::new();
    for n in 0..250 {
        crowd.push(server.join(&format!("p{n:03}"), "big").await.0);
    }
    let (mut zed, welcome) = server.join("Zed", "big").await;
    assert_eq!(people_in(&welcome), Some(251));
    expect(&mut zed, join("big", "Zed")).await;
    let names = |from: usize, to: usize| -> Vec<String> {
        (from..to).map(|n| format!("p{n:03}")).collect()
    };
    let page = |names: Vec<String>, more: bool| Event::Who {
        room: "big".into(),
        count: 251,
        names,
        more,
        ops: Vec::new(),
    };
    assert_eq!(ask(&mut zed, "/who").await, page(names(0, 100), true));
    assert_eq!(
        ask(&mut zed, "/who * p099").await,
        page(names(100, 200), true)
    );
    let mut last = names(200, 250);
    last.push("Zed".into());
    assert_eq!(ask(&mut zed, "/who * p199").await, page(last, false));
    assert_eq!(ask(&mut zed, "/who P1").await, page(names(100, 200), false));
    assert_eq!(
        ask(&mut zed, "/who p1 p150").await,
        page(names(151, 200), false)
    );
    assert_eq!(
        ask(&mut zed, "/who z").await,
        page(vec!["Zed".into()], false)
    );

    let mut tx = text_client(&server, "tx", "big").await;
    assert_eq!(
        ask_text(&mut tx, "/who p24").await,
        format!("in big (252 here): {}", names(240, 250).join(", "))
    );
    assert_eq!(
        ask_text(&mut tx, "/who").await,
        format!("in big (252 here): {}, ...", names(0, 100).join(", "))
    );
}

/// Our terminal client prints a summary as its one text line, and the
/// fresh `who` after it.
#[tokio::test]
async fn issue_17_the_client_prints_presence_summaries() {
    let server = TestServer::start(&["--presence-limit", "1", "--presence-interval", "300"]).await;
    let port = server.port.to_string();
    let mut ana = RunningClient::start(&["--port", &port, "--name", "ana", "--room", "big"]);
    ana.wait_for_line("-> ana joined big").await;
    let (mut bo, _) = server.join("bo", "big").await;
    ana.wait_for_line("-- 1 joined (bo); 2 here").await;
    bo.send("/quit").await;
    ana.wait_for_line("-- 1 left (bo); 1 here").await;
    ana.wait_for_line("in big: ana").await;
    ana.close_input();
    ana.finish().await;
}
