//! A connection's start: the upgrade, the hold of a registered name (or,
//! with `wait=1`, a taken one; see `hold`), the registration, and the greeting (the welcome, any problems
//! with what it asked for, the history it should see); or, when the server
//! is full, the refusal with 1013.

use super::*;

/// Upgrades, registers and greets a connection: the welcome, any problems
/// with what it asked for, the history it should see. `None` if the upgrade
/// failed; otherwise the connection, and whether the greeting went out.
pub(super) async fn open(
    on_upgrade: OnUpgrade,
    request: JoinRequest,
    address: IpAddr,
    context: Arc<Context>,
    control: Arc<Control>,
) -> Option<(Connection<Upgraded>, Result<(), Ending>)> {
    let mut ws = upgrade(on_upgrade, &context).await?;
    // After the upgrade, so that the close frame can say why and until when.
    if let Some(closing) = context.rooms.banned(request.name.as_deref(), address) {
        close_with(&mut ws, closing.code, &closing.reason).await;
        return None;
    }
    let JoinRequest {
        room,
        name,
        format,
        since,
        history,
        wait,
        problems,
        ..
    } = request;
    // A registered name (and with `wait=1` a taken one) is held until the
    // connection proves it or picks another.
    let entry = match name {
        Some(asked) if wait || context.rooms.is_registered(&asked) => {
            match Box::pin(prove(&mut ws, &asked, (wait, format), &context, address)).await {
                Some(entry) => entry,
                None => {
                    let _ = timeout(CLOSE_TIMEOUT, ws.close()).await;
                    return None;
                }
            }
        }
        name => Entry::asking(name),
    };
    let Entry {
        name,
        proved,
        problems: held_problems,
        first_frame,
    } = entry;
    let registration = context
        .rooms
        .connect(
            name.as_deref(),
            proved,
            &room,
            since,
            Arc::clone(&control),
            address,
        )
        .await;
    let membership = registration.membership;
    let mut conn = Connection {
        ws,
        format,
        name: registration.name,
        room: membership.room,
        address,
        events_rx: membership.events_rx,
        held_back: None,
        pings: (Instant::now(), 0),
        ignores: Ignores::default(),
        control,
        flood: FloodGuard::new(
            context.limits.messages_per_second,
            context.limits.message_burst,
            Instant::now(),
        )
        .map(Box::new),
        context,
    };
    tracing::debug!(name = %conn.name, room = %conn.room, address = %conn.address, "connected");

    let welcome = conn.welcome(membership.people, membership.topic.clone());
    let (format, room) = (conn.format, conn.room.clone());
    // `history=0`: nothing said before, and so nothing missed.
    let (replay, missed) = if history {
        (&membership.replay[..], membership.missed)
    } else {
        (&[][..], 0)
    };
    // Nobody is ignored yet: the client restores its list after the greeting.
    let none = Ignores::default();
    let greeting = std::iter::once(welcome)
        .chain(problems.into_iter().map(Event::from))
        .chain(held_problems)
        .chain(registration.problems.into_iter().map(Event::from))
        .map(|event| encode(format, &event))
        .chain(replayed(replay, &room, format, &none))
        .chain((missed > 0).then(|| encode(format, &Event::Gap { missed })))
        .chain(membership.own_join.as_ref().map(|e| e.message(format)));
    let mut greeted = conn.write(greeting).await;
    // What a held connection said instead of identifying is said now.
    if let (Ok(()), Some(message)) = (&greeted, first_frame) {
        greeted = Box::pin(conn.on_message(message)).await;
    }
    Some((conn, greeted))
}

/// Whether a password sent over a connection from `address` is out of
/// reach of the network between: TLS, or a loopback address.
pub(super) fn is_secure(context: &Context, address: IpAddr) -> bool {
    context.tls || address.to_canonical().is_loopback()
}

/// The warning that a password crossed the network readable.
pub(super) fn insecure() -> Event {
    Event::error(
        ErrorCode::Insecure,
        "this connection is not encrypted, so your password could be read on its way; use wss:// where the server offers it",
    )
}

/// History to replay, each message encoded as it is written: a joiner holds
/// a few frames of it at a time, not its whole history encoded.
pub(super) fn replayed<'a>(
    replay: &'a [Arc<StoredMessage>],
    room: &'a str,
    format: Format,
    hidden: &'a Ignores,
) -> impl Iterator<Item = Message> + 'a {
    replay
        .iter()
        .filter(|message| !hidden.hides_name(&message.from))
        .map(move |message| encode(format, &message.to_event(room)))
}

/// Refuses a connection with 1013 because the server is full.
pub(crate) async fn refuse_overloaded(on_upgrade: OnUpgrade, context: Arc<Context>) {
    let Some(mut ws) = upgrade(on_upgrade, &context).await else {
        return;
    };
    tracing::warn!("connection limit reached; refusing a connection with 1013");
    context.metrics.closed(Cause::overloaded);
    close_with(
        &mut ws,
        CloseCode::SERVICE_OVERLOAD,
        "server full, try again later",
    )
    .await;
}

/// Closes a connection that never entered with `code` and `reason`, within
/// [`CLOSE_TIMEOUT`].
async fn close_with(ws: &mut WebSocketStream<Upgraded>, code: CloseCode, reason: &str) {
    let frame = Message::close(Some(code), reason);
    let _ = timeout(CLOSE_TIMEOUT, async {
        ws.send(frame).await?;
        ws.close().await
    })
    .await;
}

/// The socket of an upgraded connection, once hyper hands it over.
async fn upgrade(on_upgrade: OnUpgrade, context: &Context) -> Option<WebSocketStream<Upgraded>> {
    match on_upgrade.await {
        Ok(upgraded) => Some(context.websocket.serve(TokioIo::new(upgraded))),
        Err(err) => {
            tracing::debug!("upgrade failed: {err}");
            None
        }
    }
}
