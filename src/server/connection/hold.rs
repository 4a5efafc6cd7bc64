//! The hold: a connection that asks for a registered name (or, with
//! `wait=1`, a taken one) is placed in no room, and nobody sees it, until
//! its first frame says who it is.
//!
//! For a registered name that frame must be `/identify PASSWORD` (or
//! `/identify NAME PASSWORD` with the name asked for), within the handshake
//! timeout; the connection then joins once, under its name, so there is no
//! moment in which someone else speaks under a registered name and no
//! `guest-N joined` on every reconnection. Anything else, or nothing in
//! time, and it enters as a guest with a `name_registered` error; the frame
//! it sent is then handled as any other.
//!
//! With `wait=1` (the page asks for it) the hold also covers a name someone
//! has, and says at once why it holds (`name_taken`, `name_registered`):
//! the page's person chooses another name before joining, so the room sees
//! one arrival rather than `guest-4 joined` then `guest-4 is now known as
//! eve`. Such a hold takes answers until one decides, within the same
//! timeout: `/nick OTHER` (held again if OTHER is taken or registered),
//! `/identify` (held again after a wrong password). It is opt-in because
//! it sends errors before the welcome, which a client written against
//! "the welcome comes first" would not expect; our terminal client and
//! raw tools keep entering at once, as a guest with `name_taken`.

use super::*;
use crate::server::rooms::{name_registered, name_taken};

/// Pings answered during a hold at most: a client checks the link a few
/// times, not more, and each owes a pong.
const MAX_PINGS: u32 = 16;

/// Answers a `wait=1` hold takes at most (each a name looked up or a
/// password checked; wrong passwords are limited on their own too): the
/// next frame after them is handled as any other, once entered as a guest.
const MAX_ANSWERS: u32 = 8;

/// What a held connection sent, or why the wait ended.
pub(super) enum Held {
    /// A frame other than a ping, a pong or a close.
    Frame(Message),
    /// Nothing within the time.
    TimedOut,
    /// It closed, failed or flooded: nothing to register.
    Gone,
}

/// What a frame says to a hold.
enum Answer {
    /// `/identify PASSWORD` for the name held.
    Identify(String),
    /// `/nick NAME`: another name (heeded with `wait=1` only).
    Nick(String),
}

/// How a held connection may enter.
pub(super) struct Entry {
    /// The name to ask for: the URL's, or the one a `/nick` in the hold
    /// chose.
    pub name: Option<String>,
    /// It sent the name's password: it enters under the name, and whoever
    /// held it is gone.
    pub proved: bool,
    /// To tell it after its welcome (`insecure`, `wrong_password`, ...).
    pub problems: Vec<Event>,
    /// What it sent instead of an answer, to handle once it has entered.
    pub first_frame: Option<Message>,
}

impl Entry {
    /// Enters as `name` asks, with nothing held.
    pub(super) fn asking(name: Option<String>) -> Self {
        Self {
            name,
            proved: false,
            problems: Vec::new(),
            first_frame: None,
        }
    }
}

/// Why a hold holds a name.
enum Reason {
    Registered,
    Taken,
}

/// Holds a connection that asks for `asked` while the name is registered
/// (or, if it `waits`, taken), until it proves or changes it (see the
/// module's comment); `None` if it went away. A name that is neither
/// enters at once. `format` is the connection's, for what a waiting one is
/// told.
pub(super) async fn prove<S>(
    ws: &mut WebSocketStream<S>,
    asked: &str,
    (waits, format): (bool, Format),
    context: &Context,
    address: IpAddr,
) -> Option<Entry>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let rooms = &context.rooms;
    let mut entry = Entry::asking(Some(asked.to_owned()));
    let deadline = Instant::now() + context.limits.handshake_timeout;
    let (mut pings, mut answers) = (0, 0);
    // Why it is held is told on entering the hold and after each `/nick`;
    // after a wrong password, that error says enough.
    let mut tell_why = waits;
    loop {
        let name = entry
            .name
            .clone()
            .expect("a held connection asks for a name");
        let reason = if rooms.is_registered(&name) {
            Reason::Registered
        } else if waits && rooms.is_taken(&name).await {
            Reason::Taken
        } else {
            return Some(entry);
        };
        if tell_why {
            let told = match reason {
                Reason::Registered => name_registered(
                    &name,
                    "/identify PASSWORD if it is yours, or /nick NAME to pick another (you are not in the room yet)",
                ),
                Reason::Taken => name_taken(
                    &name,
                    "pick another with /nick NAME (you are not in the room yet)",
                ),
            };
            tell(ws, format, context, &Event::from(told)).await.ok()?;
            tell_why = false;
        }
        let message = match hold(ws, deadline, &mut pings, rooms).await {
            Held::Gone => return None,
            Held::TimedOut => return Some(entry),
            Held::Frame(message) => message,
        };
        answers += 1;
        let answer = (answers <= MAX_ANSWERS)
            .then(|| answer(&message, &name))
            .flatten();
        match (answer, reason) {
            (Some(Answer::Identify(password)), Reason::Registered) => {
                let mut problems = Vec::new();
                if !is_secure(context, address) {
                    problems.push(insecure());
                }
                let checked = rooms.check_password(&name, &password, address).await;
                if let Err(err) = &checked {
                    problems.push(Event::from(err.clone()));
                }
                if waits {
                    // Collected first: a closure borrowing `problems`
                    // across this await fails the spawned future's
                    // lifetime check ("not general enough").
                    let frames: Vec<_> = problems
                        .iter()
                        .map(|problem| encode(format, problem))
                        .collect();
                    write_frames(ws, frames, context).await.ok()?;
                } else {
                    entry.problems = problems;
                }
                if checked.is_ok() {
                    rooms.take_over(&name, None);
                    entry.proved = true;
                    return Some(entry);
                }
                if !waits {
                    return Some(entry);
                }
            }
            (Some(Answer::Nick(other)), _) if waits => match rooms.check_name_banned(&other) {
                Err(banned) => tell(ws, format, context, &Event::from(banned)).await.ok()?,
                // Held again, for the new name, if that one is had too.
                Ok(()) => {
                    entry.name = Some(other);
                    tell_why = true;
                }
            },
            _ => {
                entry.first_frame = Some(message);
                return Some(entry);
            }
        }
    }
}

/// What `message` answers to a hold of `name`, if anything.
fn answer(message: &Message, name: &str) -> Option<Answer> {
    let text = strip_controls(strip_line_ending(message.as_text()?));
    match parse_input(&text) {
        Ok(Input::Command(Command::Identify {
            name: None,
            password,
        })) => Some(Answer::Identify(password.to_owned())),
        Ok(Input::Command(Command::Identify {
            name: Some(named),
            password,
        })) if named.eq_ignore_ascii_case(name) => Some(Answer::Identify(password.to_owned())),
        Ok(Input::Command(Command::Nick(other))) => Some(Answer::Nick(other.to_owned())),
        _ => None,
    }
}

/// Sends `event` to a held connection, as every write goes (counted, within
/// the write timeout and the connection's allowance).
async fn tell<S>(
    ws: &mut WebSocketStream<S>,
    format: Format,
    context: &Context,
    event: &Event,
) -> Result<(), WriteError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    write_frames(ws, [encode(format, event)], context).await
}

/// Waits until `deadline` for `ws`'s next frame, answering up to
/// [`MAX_PINGS`] pings (counted in `pings`) meanwhile, or until `rooms`
/// shuts down (as [`Held::TimedOut`]: the connection then enters, and is
/// told to close, as any that arrives at shutdown).
pub(super) async fn hold<S>(
    ws: &mut WebSocketStream<S>,
    deadline: Instant,
    pings: &mut u32,
    rooms: &Rooms,
) -> Held
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
            *pings += 1;
            if *pings > MAX_PINGS {
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
        return Held::Frame(message);
    }
}
