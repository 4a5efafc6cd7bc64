//! The hold: a connection that asks for a registered name is placed in no
//! room, and nobody sees it, until its first frame says who it is.
//!
//! That frame must be `/identify PASSWORD` (or `/identify NAME PASSWORD`
//! with the name asked for), within the handshake timeout; the connection
//! then joins once, under its name, so there is no moment in which someone
//! else speaks under a registered name and no `guest-N joined` on every
//! reconnection. Anything else, or nothing in time, and it enters as a
//! guest with a `name_registered` error; the frame it sent is then handled
//! as any other. The hold waits for one frame and knows nothing of names:
//! a later reason to wait for a word before joining can use it as it is.

use super::*;

/// Pings answered during a hold at most: a client checks the link a few
/// times, not more, and each owes a pong.
const MAX_PINGS: u32 = 16;

/// What a held connection said first.
pub(super) enum Held {
    /// `/identify PASSWORD` for the name asked for.
    Identify(String),
    /// Another frame, to be handled once the connection has entered.
    Other(Message),
    /// Nothing within the time.
    TimedOut,
    /// It closed, failed or flooded: nothing to register.
    Gone,
}

/// How a connection asking for a registered name may enter, once held.
#[derive(Default)]
pub(super) struct Entry {
    /// It sent the name's password: it enters under the name, and whoever
    /// held it is gone.
    pub proved: bool,
    /// To tell it after its welcome (`insecure`, `wrong_password`, ...).
    pub problems: Vec<Event>,
    /// What it sent instead of `/identify`, to handle once it has entered.
    pub first_frame: Option<Message>,
}

/// Holds a connection that asks for the registered `asked` until it
/// proves it (see the module's comment); `None` if it went away.
pub(super) async fn prove<S>(
    ws: &mut WebSocketStream<S>,
    asked: &str,
    context: &Context,
    address: IpAddr,
) -> Option<Entry>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut entry = Entry::default();
    let rooms = &context.rooms;
    match hold(ws, asked, context.limits.handshake_timeout, rooms).await {
        Held::Gone => return None,
        Held::Identify(password) => {
            if !is_secure(context, address) {
                entry.problems.push(insecure());
            }
            match rooms.check_password(asked, &password, address).await {
                Ok(()) => {
                    rooms.take_over(asked, None);
                    entry.proved = true;
                }
                Err(err) => entry.problems.push(Event::from(err)),
            }
        }
        Held::Other(message) => entry.first_frame = Some(message),
        Held::TimedOut => {}
    }
    Some(entry)
}

/// Waits up to `within` for `ws`'s first frame, the answer for `name`,
/// or until `rooms` shuts down (as [`Held::TimedOut`]: the connection then
/// enters, and is told to close, as any that arrives at shutdown).
pub(super) async fn hold<S>(
    ws: &mut WebSocketStream<S>,
    name: &str,
    within: Duration,
    rooms: &Rooms,
) -> Held
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + within;
    let mut pings = 0;
    let mut closing = std::pin::pin!(rooms.closing());
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, ws.next()) => next,
            () = &mut closing => return Held::TimedOut,
        };
        let message = match next {
            Err(_elapsed) => return Held::TimedOut,
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(_)) | None) => return Held::Gone,
        };
        if message.is_ping() {
            pings += 1;
            if pings > MAX_PINGS {
                return Held::Gone;
            }
            // The stream queued the pong; out it goes.
            if ws.flush().await.is_err() {
                return Held::Gone;
            }
            continue;
        }
        if message.is_pong() {
            continue;
        }
        if message.is_close() {
            return Held::Gone;
        }
        let identify = message.as_text().and_then(|text| {
            let text = strip_controls(strip_line_ending(text));
            match parse_input(&text) {
                Ok(Input::Command(Command::Identify {
                    name: None,
                    password,
                })) => Some(password.to_owned()),
                Ok(Input::Command(Command::Identify {
                    name: Some(named),
                    password,
                })) if named.eq_ignore_ascii_case(name) => Some(password.to_owned()),
                _ => None,
            }
        });
        return match identify {
            Some(password) => Held::Identify(password),
            None => Held::Other(message),
        };
    }
}
