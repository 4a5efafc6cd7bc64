//! The seed scenario: one server, three clients, everyone sees everything.

use chat::protocol::Event;

use crate::support::TestServer;

/// Three clients get the welcome first; a message from one reaches all three,
/// its sender included, and every client sees the same order.
#[tokio::test]
async fn three_clients_see_every_message_in_the_same_order() {
    let server = TestServer::start(&[]).await;
    let (mut ana, welcome) = server.join("ana", "lobby").await;
    assert!(
        matches!(&welcome, Event::Welcome { motd, name, room, history: 100, .. }
            if motd == "Welcome to chat! Type a message" && name == "ana" && room == "lobby"),
        "{welcome:?}"
    );
    let (mut bo, _) = server.join("bo", "lobby").await;
    let (mut cy, _) = server.join("cy", "lobby").await;
    for client in [&mut ana, &mut bo, &mut cy] {
        client
            .event_matching(
                "cy's join",
                |e| matches!(e, Event::Join { name, .. } if name == "cy"),
            )
            .await;
    }

    ana.send("one from ana").await;
    bo.send("two from bo").await;
    cy.send("three from cy").await;
    ana.send("four from ana").await;

    let mut seen = Vec::new();
    for client in [&mut ana, &mut bo, &mut cy] {
        let mut said = Vec::new();
        while said.len() < 4 {
            if let Event::Message { id, from, text, .. } = client.next_event().await {
                said.push((id, from, text));
            }
        }
        seen.push(said);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    let ids: Vec<u64> = seen[0].iter().map(|(id, ..)| *id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let mut texts: Vec<&str> = seen[0].iter().map(|(_, _, t)| t.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "four from ana",
            "one from ana",
            "three from cy",
            "two from bo"
        ]
    );
}

/// A generic tool that asks for nothing gets the text format and the MOTD first.
#[tokio::test]
async fn a_plain_connection_gets_the_text_welcome_first() {
    let server = TestServer::start(&["--motd", "hello there"]).await;
    let mut client = crate::support::WsClient::connect(&server.url).await;
    let first = client.next_text().await;
    assert!(
        first.starts_with("hello there\nyou are guest-"),
        "{first:?}"
    );
    assert!(
        first.ends_with(" in lobby; type /help for commands"),
        "{first:?}"
    );
}
