//! Why a connection ended, and what follows from it: the close frame the
//! peer gets, the reason its room reads in the leave notice, and the cause
//! the metrics count. A new way to end a connection is a variant here.

use tokio_websockets::{CloseCode, Message};

use crate::protocol::CLOSE_UNRESPONSIVE;
use crate::sanitize::one_line;
use crate::server::metrics::Cause;
use crate::server::rooms::Closing;

/// The close code for [`Ending::Unresponsive`].
fn unresponsive() -> CloseCode {
    CloseCode::try_from(CLOSE_UNRESPONSIVE).expect("4000 is in the range for applications")
}

/// Why a connection ended, which decides the close frame and the leave notice.
pub(super) enum Ending {
    /// A goodbye (`/quit`, or a close frame), with its text if it had one:
    /// made by [`Ending::quit`], so always one line.
    Quit(Option<String>),
    /// The socket closed without a close frame, or the stream failed (the
    /// stream itself answers protocol errors with the right close code).
    Disconnected,
    /// The registry said so (shutdown, for one).
    Ordered(Closing),
    /// No answer to a ping within the ping interval: a network condition
    /// (a stalled peer, a laptop lid, a lost route), not misbehaviour, so
    /// its close code tells clients to come back and resume.
    Unresponsive,
    /// A write stalled for the write timeout (or held the unsent pool
    /// while others waited): the peer stopped reading. Like
    /// [`Ending::Unresponsive`] a network condition, with the same close
    /// code, though a peer that reads nothing will not see it: the socket
    /// is closed a second later whether or not it is taken.
    Stalled,
    /// Kept sending over the rate limit.
    Flooding,
    /// Sent pings faster than [`super::MAX_PINGS_PER_SECOND`].
    PingFlood,
    /// Sent a message over the frame limit in fragments. (One oversized
    /// frame is refused by the stream itself, which sends 1009; an
    /// assembled message is refused after the fact, and the 1009 is ours.)
    TooBig { max_len: usize },
}

impl Ending {
    /// A goodbye with `text` (from `/quit TEXT` or a close frame's reason)
    /// as one line: the leave notice is one line in text, and a line break
    /// in it would let the rest pass for a line from someone else.
    pub(super) fn quit(text: &str) -> Self {
        let text = one_line(text);
        Ending::Quit((!text.is_empty()).then(|| text.into_owned()))
    }

    pub(super) fn leave_reason(&self) -> String {
        match self {
            Ending::Quit(None) => "quit".to_owned(),
            Ending::Quit(Some(text)) => format!("quit: {text}"),
            Ending::Disconnected => "disconnected".to_owned(),
            Ending::Ordered(closing) => closing.reason.clone(),
            Ending::Unresponsive | Ending::Stalled => "timed out".to_owned(),
            Ending::Flooding => "sent too many messages".to_owned(),
            Ending::PingFlood => "sent too many pings".to_owned(),
            Ending::TooBig { .. } => "sent a message too big".to_owned(),
        }
    }

    /// Whether the room hears of the departure only after a while, in case
    /// the person comes straight back: a dropped link or a timeout. A
    /// goodbye or an order is announced at once.
    pub(super) fn is_held(&self) -> bool {
        matches!(
            self,
            Ending::Disconnected | Ending::Unresponsive | Ending::Stalled
        )
    }

    /// Why the server cut the connection, if it did.
    pub(super) fn cause(&self) -> Option<Cause> {
        match self {
            Ending::Unresponsive => Some(Cause::unresponsive),
            Ending::Stalled => Some(Cause::stalled),
            Ending::Flooding | Ending::PingFlood => Some(Cause::flooding),
            Ending::TooBig { .. } => Some(Cause::too_big),
            Ending::Quit(_) | Ending::Disconnected | Ending::Ordered(_) => None,
        }
    }

    pub(super) fn close_frame(&self) -> Option<Message> {
        match self {
            Ending::Quit(_) => Some(Message::close(Some(CloseCode::NORMAL_CLOSURE), "bye")),
            Ending::Ordered(closing) => Some(Message::close(Some(closing.code), &closing.reason)),
            Ending::Unresponsive | Ending::Stalled => {
                Some(Message::close(Some(unresponsive()), "unresponsive"))
            }
            Ending::Flooding => Some(Message::close(
                Some(CloseCode::POLICY_VIOLATION),
                "too many messages",
            )),
            Ending::PingFlood => Some(Message::close(
                Some(CloseCode::POLICY_VIOLATION),
                "too many pings",
            )),
            // The stream's own wording for the single-frame case.
            Ending::TooBig { max_len } => Some(Message::close(
                Some(CloseCode::MESSAGE_TOO_BIG),
                &format!("max length: {max_len}"),
            )),
            Ending::Disconnected => None,
        }
    }
}
