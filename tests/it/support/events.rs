//! Reading events (one parser for WebSocket frames and `client --json`
//! lines), building the events a test expects, and comparing received ones
//! with them: events are compared whole, with `ts` checked to be a recent
//! Unix time in milliseconds and then zeroed.

use std::time::{SystemTime, UNIX_EPOCH};

use chat::protocol::{ErrorCode, Event};

use super::{Endpoint, OP_SECRET, PASSWORD, WsClient, connect_from, with_query};

/// Parses one JSON event: a frame from the server, or a line of
/// `client --json`. Fails the test, quoting `text`, if it is not one.
pub fn parse_event(text: &str) -> Event {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not an event ({err}): {text:?}"))
}

/// `event` with its `ts` (if it has one) set to 0, after checking that the `ts`
/// is a Unix time in milliseconds from the last minute, so that events can be
/// compared whole with the builders below.
pub fn untimed(mut event: Event) -> Event {
    if let Event::Message { ts, .. }
    | Event::Action { ts, .. }
    | Event::Join { ts, .. }
    | Event::Leave { ts, .. }
    | Event::Nick { ts, .. }
    | Event::Presence { ts, .. }
    | Event::Kick { ts, .. }
    | Event::Ban { ts, .. }
    | Event::Private { ts, .. } = &mut event
    {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis();
        let then = u128::from(*ts);
        assert!(
            then <= now && now - then < 60_000,
            "ts {ts} is not a recent Unix time in ms (now {now})"
        );
        *ts = 0;
    }
    event
}

/// Reads the next event and asserts it is `expected` (built with `ts: 0`).
pub async fn expect(client: &mut WsClient, expected: Event) {
    let got = untimed(client.next_event().await);
    assert_eq!(got, expected);
}

/// Reads the next event and asserts it is the error `code` with `message`.
pub async fn expect_error(client: &mut WsClient, code: ErrorCode, message: &str) {
    expect(client, Event::error(code, message)).await;
}

/// Sends `text` and asserts that the next event is its own copy, numbered `id`
/// in `room`: the proof that the connection still works.
pub async fn say(client: &mut WsClient, id: u64, room: &str, from: &str, text: &str) {
    client.send(text).await;
    expect(client, message(id, room, from, text)).await;
}

/// A `message` event, with `ts: 0` as [`untimed`] leaves it.
pub fn message(id: u64, room: &str, from: &str, text: &str) -> Event {
    Event::Message {
        id,
        room: room.into(),
        from: from.into(),
        text: text.into(),
        ts: 0,
    }
}

/// An `action` event (`/me`), with `ts: 0`.
pub fn action(id: u64, room: &str, from: &str, text: &str) -> Event {
    Event::Action {
        id,
        room: room.into(),
        from: from.into(),
        text: text.into(),
        ts: 0,
    }
}

/// A `join` notice, with `ts: 0`.
pub fn join(room: &str, name: &str) -> Event {
    Event::Join {
        room: room.into(),
        name: name.into(),
        ts: 0,
    }
}

/// A `leave` notice, with `ts: 0`.
pub fn leave(room: &str, name: &str, reason: &str) -> Event {
    Event::Leave {
        room: room.into(),
        name: name.into(),
        reason: reason.into(),
        ts: 0,
    }
}

/// A `nick` notice, with `ts: 0`.
pub fn nick(room: &str, old: &str, new: &str) -> Event {
    Event::Nick {
        room: room.into(),
        old: old.into(),
        new: new.into(),
        ts: 0,
    }
}

/// A private message, with `ts: 0`.
pub fn private(from: &str, to: &str, text: &str) -> Event {
    Event::Private {
        from: from.into(),
        to: to.into(),
        text: text.into(),
        ts: 0,
    }
}

/// A summary in `room`, with `ts: 0`.
pub fn presence(
    room: &str,
    (joined, joined_names): (u64, &[&str]),
    (left, left_names): (u64, &[&str]),
    renamed: u64,
    people: usize,
) -> Event {
    let names = |list: &[&str]| list.iter().map(|&n| n.to_owned()).collect();
    Event::Presence {
        room: room.into(),
        joined,
        joined_names: names(joined_names),
        left,
        left_names: names(left_names),
        renamed,
        people,
        ts: 0,
    }
}

/// The answer to `/who`.
pub fn who(room: &str, names: &[&str]) -> Event {
    who_with_ops(room, names, &[])
}

/// [`who`] with the operators among `names`.
pub fn who_with_ops(room: &str, names: &[&str], ops: &[&str]) -> Event {
    let list = |names: &[&str]| names.iter().map(|&n| n.to_owned()).collect();
    Event::Who {
        room: room.into(),
        count: names.len(),
        names: list(names),
        more: false,
        ops: list(ops),
    }
}

/// Reads `client`'s events up to and including `name`'s own join to `room`;
/// every event before it must be one `may_come_first` allows (the history
/// replayed, say, or the joins of people who entered just before).
pub async fn until_own_join(
    client: &mut WsClient,
    room: &str,
    name: &str,
    may_come_first: impl Fn(&Event) -> bool,
) {
    let own = join(room, name);
    loop {
        let event = untimed(client.next_event().await);
        if event == own {
            return;
        }
        assert!(may_come_first(&event), "{event:?} before {name}'s own join");
    }
}

/// Reads `client`'s greeting, whatever it holds (history included), up to
/// its own join as `name` to `room`.
pub async fn own_join(client: &mut WsClient, room: &str, name: &str) {
    until_own_join(client, room, name, |_| true).await;
}

/// Joins `name` to `room` and reads everything up to and including its own
/// `join` event (nobody has spoken in `room` yet).
pub async fn enter(server: &Endpoint, name: &str, room: &str) -> WsClient {
    let (mut client, _) = server.join(name, room).await;
    until_own_join(&mut client, room, name, |_| false).await;
    client
}

/// `name` in the lobby (JSON) from `from` (see [`connect_from`]), past its
/// welcome and own join.
pub async fn enter_from(server: &Endpoint, name: &str, from: Option<&str>) -> WsClient {
    let mut client = connect_from(server, &format!("/lobby?format=json&name={name}"), from).await;
    let welcome = client.next_event().await;
    assert!(matches!(welcome, Event::Welcome { .. }), "{welcome:?}");
    until_own_join(&mut client, "lobby", name, |_| false).await;
    client
}

/// Makes `client`, called `name`, an operator with [`OP_SECRET`].
pub async fn op(client: &mut WsClient, name: &str) {
    client.send(&format!("/op {OP_SECRET}")).await;
    expect(client, Event::Op { name: name.into() }).await;
}

/// `name` in `room` on `server`, past its own join. The joins of
/// `earlier` people (entered on another server just before) may come
/// first: that server's notice can reach this server after the newcomer.
pub async fn enter_after(server: &Endpoint, name: &str, room: &str, earlier: &[&str]) -> WsClient {
    let (mut client, _) = server.join(name, room).await;
    until_own_join(&mut client, room, name, |event| {
        earlier.iter().any(|other| *event == join(room, other))
    })
    .await;
    client
}

/// A `registered` answer.
pub fn registered(name: &str, durable: bool, changed: bool) -> Event {
    Event::Registered {
        name: name.to_owned(),
        durable,
        changed,
    }
}

/// `name`, in the lobby, registers itself with [`PASSWORD`]; `durable` is
/// whether the server keeps the registration (`--data-dir`, Redis).
pub async fn enter_registered(server: &Endpoint, name: &str, durable: bool) -> WsClient {
    let mut client = enter(server, name, "lobby").await;
    client.send(&format!("/register {PASSWORD}")).await;
    expect(&mut client, registered(name, durable, false)).await;
    client
}

/// Registers `name` (see [`enter_registered`]) and quits: the name is then
/// registered and free to be asked for.
pub async fn register_and_quit(server: &Endpoint, name: &str, durable: bool) {
    let mut client = enter_registered(server, name, durable).await;
    client.send("/quit").await;
    client.expect_close().await;
}

/// Connects a JSON client asking for `path_and_query`, sends `first` at
/// once (before anything arrives, as a connection held for its registered
/// name must), and returns it with its welcome.
pub async fn connect_sending(
    server: &Endpoint,
    path_and_query: &str,
    first: &str,
) -> (WsClient, Event) {
    let url = server.url_for(&with_query(path_and_query, "format=json"));
    let mut client = WsClient::connect(&url).await;
    client.send(first).await;
    let welcome = client.next_event().await;
    assert!(matches!(welcome, Event::Welcome { .. }), "{welcome:?}");
    (client, welcome)
}

/// The name a welcome gives its connection.
pub fn name_of(welcome: &Event) -> String {
    match welcome {
        Event::Welcome { name, .. } => name.clone(),
        other => panic!("not a welcome: {other:?}"),
    }
}

/// The next event of `client`, without its timestamp.
pub async fn next_untimed(client: &mut WsClient) -> Event {
    untimed(client.next_event().await)
}
