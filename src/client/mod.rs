//! The chat client: connects, sends what the person types while printing what
//! arrives, and comes back by itself when the connection drops.
//!
//! - `connect`: the target URL, TLS, and connection errors with their advice.
//! - `follow`: what the session learns from each event (who and where we
//!   are, the names here, the names we ignore, what is not shown).
//! - `reconnect` and `backoff`: coming back after a drop, and the pauses
//!   between attempts.
//! - `terminal`: the line editor for a person, plain lines for a script.
//! - `editor`: the line editor itself (keys, layout, drawing), and `draft`:
//!   the line being typed and the history, pure.
//! - `render`: how events look (plain, timestamps, colours).
//!
//! It speaks the JSON format and renders events itself. It tracks its name,
//! its room and the id of the last message it showed, so that a reconnection
//! resumes exactly where it left off (`since`), showing nothing twice.
//!
//! Here: the session loop over one connection and the state it shares
//! with `follow` and `reconnect` (name, room, last id, pacing, the lines
//! waiting to be sent again, the replay under way), some 610 lines; those
//! two are further `impl Chat` blocks in their own files, so the state is
//! not passed back and forth.

mod backoff;
mod connect;
mod draft;
mod editor;
mod follow;
mod reconnect;
mod render;
mod terminal;

pub use editor::REFLOWING_TERMINAL_VARS;

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_websockets::{CloseCode, Message};

pub use backoff::Backoff;
pub use connect::{ChatStream, ConnectError, DEFAULT_URL, Password, Session, Target, Tls};
use reconnect::Reconnection;
pub use render::{Look, Renderer};
use terminal::{Input, Output, Typed};

use crate::protocol::{CLOSE_UNRESPONSIVE, ErrorCode, Event, LimitsInfo};
use crate::rate::RateLimit;
use crate::sanitize::{one_line, strip_controls};

/// How long the closing handshake may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Sent messages remembered until their copy comes back; beyond that the
/// oldest is taken for confirmed.
const UNCONFIRMED_LEN: usize = 256;
/// How the client behaves, from its flags.
pub struct Options {
    pub target: Target,
    pub tls: Tls,
    pub look: Look,
    /// Print every event as one JSON object per line.
    pub json: bool,
    /// Reconnect when an established connection drops.
    pub reconnect: bool,
    /// A person is at a terminal (rather than a script at a pipe).
    pub interactive: bool,
    /// Show the room's history on entering it (off: `--no-history`).
    pub history: bool,
    /// Read nothing, print everything (`--listen`).
    pub listen: bool,
    /// Ring the terminal's bell when a message names us (off: `--no-bell`).
    pub bell: bool,
    /// The operators' secret, sent with `/op` on every connection
    /// (`--op-token-file`; see [`read_secret`]).
    pub op_token: Option<String>,
}

/// The secret in the file at `path`, given with `flag`: its first line,
/// without the line ending or the spaces an editor may leave, so that
/// `echo SECRET > FILE` works.
///
/// # Errors
///
/// `SecretFile` if the file cannot be read or its first line is empty.
pub fn read_secret(flag: &'static str, path: &std::path::Path) -> Result<String, ClientError> {
    let bad = |reason: String| ClientError::SecretFile {
        flag,
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| bad(err.to_string()))?;
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        return Err(bad("its first line is empty".to_owned()));
    }
    Ok(secret.to_owned())
}

/// Why a session ended badly. Each kind has its own exit status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{message}")]
    NameRefused { message: String },
    #[error("lost the connection to {url}: {reason}")]
    Lost { url: String, reason: String },
    #[error("the server closed the connection: {reason}")]
    ClosedByServer { reason: String },
    #[error("cannot use the terminal: {0}")]
    Terminal(std::io::Error),
    #[error("cannot read {flag} {path}: {reason}")]
    SecretFile {
        flag: &'static str,
        path: String,
        reason: String,
    },
}

impl ClientError {
    /// The process exit status for this error (the table is in the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Connect(err) => match err {
                ConnectError::Refused { .. } | ConnectError::Other { .. } => 1,
                ConnectError::BadUrl { .. } | ConnectError::BadCa { .. } => 2,

                ConnectError::Dns { .. } => 3,
                ConnectError::Timeout { .. } => 4,
                ConnectError::Tls { .. } | ConnectError::WantsTls { .. } => 5,
                ConnectError::NotChat { .. } | ConnectError::NotHttp { .. } => 6,
                ConnectError::Unauthorized { .. } | ConnectError::TokenRefused { .. } => 7,
            },
            ClientError::NameRefused { .. } => 8,
            ClientError::Lost { .. } | ClientError::ClosedByServer { .. } => 9,
            ClientError::Terminal(_) => 1,
            ClientError::SecretFile { .. } => 2,
        }
    }
}

/// How one connection ended.
enum Ending {
    /// The person left (end of input, Ctrl-C, Ctrl-D, `/quit`).
    Done,
    /// The connection dropped, the server went away (close 1001/1012/1013),
    /// or it gave up on us for not answering (4000, after a stall of ours):
    /// worth reconnecting.
    Dropped(String),
    /// The server closed it for a reason that a retry would not change.
    Closed(String),
    NameRefused(String),
}

/// Connects and chats until the person leaves.
///
/// # Errors
///
/// The first connection could not be made, the name was refused (scripts
/// only), or the connection was lost and reconnecting is off.
pub async fn run(options: Options) -> Result<(), ClientError> {
    let target = &options.target;
    let mut chat = Chat {
        renderer: Renderer::new(options.look),
        session: Session {
            skip_history: !options.history,
            ..target.first_session()
        },
        json: options.json,
        interactive: options.interactive,
        reconnected: false,
        backoff: Backoff::new(),
        replaying: false,
        divided: false,
        held: None,
        pending: VecDeque::new(),
        unconfirmed: VecDeque::new(),
        resuming: false,
        names: Vec::new(),
        names_partial: false,
        lookup: None,
        bell: options.bell,
        op_token: options.op_token.clone(),
        ignored: Vec::new(),
        restoring: Vec::new(),
    };
    let mut ws = target.connect(&chat.session, &options.tls).await?;
    // Only now: a failure to connect is one line on a terminal left as it was.
    let (mut input, mut output) =
        terminal::open(options.interactive, options.listen, "> ").map_err(ClientError::Terminal)?;
    let result = loop {
        let ending = chat.converse(&mut ws, &mut input, &mut output).await;
        let reason = match ending {
            Ending::Done => break Ok(()),
            Ending::Closed(reason) => break Err(ClientError::ClosedByServer { reason }),
            Ending::NameRefused(message) => break Err(ClientError::NameRefused { message }),
            Ending::Dropped(reason) if !options.reconnect => {
                break Err(ClientError::Lost {
                    url: target.shown.clone(),
                    reason,
                });
            }
            Ending::Dropped(reason) => reason,
        };
        // Let go of this connection first: a refused reconnection holds a
        // guest name, and would stand in the way of the next attempt.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close()).await;
        let _ = output
            .progress(Some(&format!(
                "-- connection lost ({reason}); reconnecting"
            )))
            .await;
        match chat.reconnect(&options, &mut input, &mut output).await {
            Reconnection::Back(next) => ws = *next,
            Reconnection::Left => break Ok(()),
            Reconnection::GaveUp(reason) => {
                break Err(ClientError::Lost {
                    url: target.shown.clone(),
                    reason,
                });
            }
        }
    };
    input.close();
    result
}

/// One person's chat across reconnections.
struct Chat {
    renderer: Renderer,
    /// Who we are and where, to resume after a reconnection.
    session: Session,
    json: bool,
    interactive: bool,
    /// This connection is a reconnection (its welcome is not shown again).
    reconnected: bool,
    /// The next pause before reconnecting; it grows with each failed
    /// attempt (refused names included) and starts afresh once we are in.
    backoff: Backoff,
    /// What arrives now is the room's history, replayed: from the welcome
    /// (or our own `leave` for a `/join`) to our own `join`.
    replaying: bool,
    /// The "history" divider is shown for this replay.
    divided: bool,
    /// A line read but held back to keep under the server's rate limit.
    held: Option<String>,
    /// Lines to send before reading more: typed while disconnected, or sent
    /// and lost with the connection.
    pending: VecDeque<String>,
    /// Messages sent whose copy from the server has not come back yet: if
    /// the connection drops, the resume's replay tells whether the server
    /// took them, and those it did not are sent again.
    unconfirmed: VecDeque<String>,
    /// This connection resumes a dropped one, and its replay is not over.
    resuming: bool,
    /// Who is in our room, as far as we know, for Tab.
    names: Vec<String>,
    /// `names` is only some of them: the room is too big for one `who`,
    /// or its arrivals are summed up, so Tab asks the server.
    names_partial: bool,
    /// The prefix of a name whose completions were asked for with
    /// `/who PREFIX`: its answer goes to Tab, not to the screen.
    lookup: Option<String>,
    /// Sent with `/op` once greeted, on every connection.
    op_token: Option<String>,
    bell: bool,
    /// The names the server confirmed we ignore (`/ignore`): the server
    /// forgets them with the connection, so each reconnection sends them
    /// again (at most the server's 100).
    ignored: Vec<String>,
    /// Names sent again on this connection whose confirmation is not back
    /// yet: it is not shown, the person having seen it once already.
    restoring: Vec<String>,
}

impl Chat {
    /// Chats over one connection until it ends.
    async fn converse(
        &mut self,
        ws: &mut connect::ChatStream,
        input: &mut Input,
        output: &mut Output,
    ) -> Ending {
        // Until the welcome states the server's limits, send nothing faster than this.
        let mut pace = RateLimit::new(1, 1, Instant::now());
        // Typed lines wait for the welcome, which says whether we got the name
        // we asked for, so that a script never posts under another name.
        let mut greeted = false;
        // The welcome gave us another name than the one we asked for: the
        // server's explanation is the next frame.
        let mut refused: Option<String> = None;
        loop {
            // What waited for a connection goes first, once the replay
            // has shown what the server already has.
            if greeted && !self.replaying && self.held.is_none() {
                self.held = self.pending.pop_front();
            }
            let send_at = Instant::now() + pace.wait(Instant::now());
            let reading = greeted && self.held.is_none() && self.pending.is_empty();
            tokio::select! {
                typed = input.read(), if reading => match typed {
                    Typed::Line(line) if line.trim().is_empty() => {}
                    // A line typed during a replay waits for its end, as
                    // the lines lost with a connection do: sent at once, it
                    // would still be unconfirmed at our `join`, and a resume
                    // would send it again, after the lines typed before it.
                    Typed::Line(line) if self.replaying => self.pending.push_back(line),
                    Typed::Line(line) => self.held = Some(line),
                    Typed::Lookup(prefix) => {
                        if self.lookup.is_none() && crate::protocol::is_valid_name(&prefix) {
                            if let Err(err) = ws.send(Message::text(format!("/who {prefix}"))).await {
                                return Ending::Dropped(err.to_string());
                            }
                            self.lookup = Some(prefix);
                        }
                    }
                    Typed::End | Typed::Interrupt => return self.finish(ws, output).await,
                },
                () = tokio::time::sleep_until(send_at), if self.held.is_some() => {
                    pace.check(Instant::now());
                    let line = self.held.take().expect("the branch runs only with a held line");
                    if let Err(err) = ws.send(Message::text(line.clone())).await {
                        self.held = Some(line);
                        return Ending::Dropped(err.to_string());
                    }
                    if let Some(text) = said(&line) {
                        if self.unconfirmed.len() == UNCONFIRMED_LEN {
                            self.unconfirmed.pop_front();
                        }
                        self.unconfirmed.push_back(text.to_owned());
                    }
                }
                frame = ws.next() => {
                    let message = match frame {
                        Some(Ok(message)) => message,
                        Some(Err(err)) => return Ending::Dropped(err.to_string()),
                        None => return Ending::Dropped("the server went away".to_owned()),
                    };
                    if let Some((code, reason)) = message.as_close() {
                        if code == CloseCode::NORMAL_CLOSURE && self.interactive {
                            // The answer to our /quit.
                            let room = self.session.room.as_deref().unwrap_or("lobby");
                            let bye = self.renderer.notice(&format!("you left {room}; goodbye"));
                            let _ = output.line(&bye).await;
                        }
                        return closed(code, reason);
                    }
                    let Some(text) = message.as_text() else { continue };
                    let event = decode(text);
                    // Our Tab's `/who PREFIX` answered, told apart from a
                    // `/who` the person typed by its names; the lookup is
                    // taken only then, so another `who` first does not lose it.
                    if let Some(Event::Who { names, .. }) = &event
                        && let Some(prefix) = self.lookup.take_if(|prefix| {
                            names.iter().all(|name| starts_with_any_case(name, prefix))
                        })
                    {
                        input.complete_from(&prefix, names);
                        continue;
                    }
                    if let Some(asked) = refused {
                        return self.refused_name(&asked, event.as_ref());
                    }
                    if let Some(Event::Welcome { name, .. }) = &event
                        && !greeted
                    {
                        refused = self
                            .session
                            .name
                            .clone()
                            .filter(|asked| asked != name && (self.reconnected || !self.interactive));
                        if refused.is_some() {
                            // Neither greeted (nothing typed is sent) nor
                            // followed (we stay who we asked to be).
                            continue;
                        }
                        greeted = true;
                        // We are in: the next drop starts its backoff afresh.
                        self.backoff.reset();
                        // An operator stays one across reconnections. Sent
                        // here, never in the URL, which proxies log.
                        if let Some(secret) = &self.op_token
                            && let Err(err) = ws.send(Message::text(format!("/op {secret}"))).await
                        {
                            return Ending::Dropped(err.to_string());
                        }
                    }
                    let hidden = event.as_ref().is_some_and(|event| self.screened(event));
                    if let Some(event) = &event
                        && let Some(limits) = self.follow(event, input)
                    {
                        pace = pace_under(&limits);
                    }
                    if self.interactive
                        && matches!(&event, Some(Event::Join { name, .. }) if name == self.renderer.me())
                    {
                        // Like IRC's names reply: who is here, as we arrive.
                        if let Err(err) = ws.send(Message::text("/who")).await {
                            return Ending::Dropped(err.to_string());
                        }
                    }
                    if hidden {
                        continue;
                    }
                    if let Some(event) = &event {
                        for line in self.preface(event) {
                            if output.line(&line).await.is_err() {
                                return Ending::Done;
                            }
                        }
                    }
                    if self.show(text, event.as_ref(), output).await.is_err() {
                        // Standard output is gone (a closed pipe): nobody is reading.
                        return Ending::Done;
                    }
                    if self.reconnected && matches!(event, Some(Event::Welcome { .. })) {
                        self.restore_ignores();
                    }
                }
            }
        }
    }

    /// The lines of our own that go before `event` on a terminal: a
    /// divider before replayed history, and the date when the day changes.
    fn preface(&mut self, event: &Event) -> Vec<String> {
        let mut lines = Vec::new();
        if self.json || !self.interactive {
            return lines;
        }
        if self.replaying
            && !self.divided
            && matches!(event, Event::Message { .. } | Event::Action { .. })
        {
            self.divided = true;
            // A resume replays only what was said while we were away.
            let what = if self.resuming {
                "missed while away"
            } else {
                "history"
            };
            lines.push(self.renderer.notice(what));
        }
        lines.extend(self.renderer.date_line(event));
        lines
    }

    /// How a connection ends whose asked-for name was refused: a script
    /// stops, since posting under another name would mislead (a person sees
    /// the error and can `/nick`); a reconnection whose name is still held by
    /// its own dropped connection retries until the server lets that one go.
    fn refused_name(&self, asked: &str, explanation: Option<&Event>) -> Ending {
        let message = match explanation {
            Some(Event::Error {
                code: ErrorCode::NameTaken,
                ..
            }) => format!("the name '{asked}' is taken on this server; choose another with --name"),
            Some(Event::Error { message, .. }) => message.clone(),
            _ => format!("the server did not give us the name '{asked}'"),
        };
        if self.reconnected {
            Ending::Dropped(format!(
                "the server still holds the name '{asked}' for our dropped connection"
            ))
        } else {
            Ending::NameRefused(message)
        }
    }

    /// Prints one frame.
    async fn show(
        &self,
        frame: &str,
        event: Option<&Event>,
        output: &mut Output,
    ) -> std::io::Result<()> {
        if self.json {
            // The server's own text, in its key order, when it is valid JSON
            // on one line; re-encoded otherwise. Either way every control
            // character a terminal would act on is escaped.
            return match serde_json::from_str::<serde_json::Value>(frame) {
                Ok(_) if !frame.contains(['\n', '\r']) => {
                    output.line(&escape_controls(frame)).await
                }
                Ok(value) => output.line(&escape_controls(&value.to_string())).await,
                Err(_) => Ok(()),
            };
        }
        match event {
            Some(Event::Welcome { .. }) if self.reconnected => {
                output.progress(None).await?;
                let waiting = self.pending.len();
                let notice = match waiting {
                    0 => "reconnected".to_owned(),
                    1 => "reconnected; sending the line that waited".to_owned(),
                    n => format!("reconnected; sending the {n} lines that waited"),
                };
                output.status(&self.renderer.notice(&notice)).await
            }
            Some(event) => {
                output.line(&self.renderer.render(event)).await?;
                // Not for history: what named us yesterday is no news now.
                if !self.replaying && self.renderer.mentioned(event) {
                    output.mention(self.bell).await?;
                }
                Ok(())
            }
            // A newer server's event we do not know: show it rather than lose it.
            None => output.line(&one_line(frame)).await,
        }
    }

    /// Ends the session after the last line of input: the server answers our
    /// close frame only after everything we sent, so printing until that
    /// answer shows the server's copies of our own last messages.
    async fn finish(&self, ws: &mut connect::ChatStream, output: &mut Output) -> Ending {
        let drain = async {
            ws.send(Message::close(Some(CloseCode::NORMAL_CLOSURE), ""))
                .await?;
            while let Some(message) = ws.next().await.transpose()? {
                if let Some(text) = message.as_text() {
                    let event = decode(text);
                    if self.show(text, event.as_ref(), output).await.is_err() {
                        break;
                    }
                }
            }
            Ok::<_, tokio_websockets::Error>(())
        };
        // Leaving is what the person asked for: a server too slow to answer
        // the close is not worth an error.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
        Ending::Done
    }
}

/// Whether `name` starts with `prefix`, in any letter case, as the
/// server's `/who PREFIX` matches.
fn starts_with_any_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// The event in a text frame, made safe to print: every frame from the
/// server goes through here, so that nothing it sent reaches the terminal
/// (the lines, the prompt, an error on exit) without being sanitised.
fn decode(frame: &str) -> Option<Event> {
    serde_json::from_str::<Event>(frame)
        .ok()
        .map(Event::sanitized)
}

/// The text of the message `line` says, if it is one (not a command): what
/// the server's copy will hold.
fn said(line: &str) -> Option<&str> {
    match line.strip_prefix('/') {
        Some(rest) if rest.starts_with('/') => Some(rest),
        Some(_) => None,
        None => Some(line.strip_suffix('\n').unwrap_or(line)),
    }
}

/// What a close frame from the server means for the session.
fn closed(code: CloseCode, reason: &str) -> Ending {
    // Printed inside one line (an error, or a notice): made one line first.
    let reason = one_line(reason);
    let described = if reason.is_empty() {
        format!("close code {}", u16::from(code))
    } else {
        format!("{reason} (close code {})", u16::from(code))
    };
    match u16::from(code) {
        1000 => Ending::Done,
        // Going away, service restart, try again later: the server means to be back.
        1001 | 1012 | 1013 => Ending::Dropped(described),
        // We did not answer its pings in time (the machine slept, the
        // process was stopped, the network stalled): a network condition,
        // which a reconnection that resumes repairs. Only causes the person
        // must act on (flooding, a message too big) end the session.
        CLOSE_UNRESPONSIVE => Ending::Dropped(described),
        _ => Ending::Closed(described),
    }
}

/// Our sending pace under the limits the server announced: the same rate with
/// half the burst, leaving the other half for network jitter bunching our
/// messages up on the way, so that a pasted block arrives whole.
fn pace_under(limits: &LimitsInfo) -> RateLimit {
    if limits.per_second == 0 {
        return RateLimit::new(u32::MAX, u32::MAX, Instant::now());
    }
    RateLimit::new(limits.per_second, (limits.burst / 2).max(1), Instant::now())
}

/// JSON text with the characters that serde_json leaves raw but a terminal
/// would act on (DEL, C1 controls, bidi overrides) written as `\uXXXX`
/// escapes. They can only occur inside strings, where an escape means the
/// same character, so the JSON is unchanged for a program.
fn escape_controls(json: &str) -> std::borrow::Cow<'_, str> {
    if strip_controls(json).len() == json.len() {
        return json.into();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if strip_controls(c.encode_utf8(&mut [0; 4])).is_empty() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_escapes_what_a_terminal_would_act_on() {
        let value = serde_json::json!({"text": "a\u{9b}31m\u{7f}b\u{202e}c\u{1b}"});
        let line = escape_controls(&value.to_string()).into_owned();
        assert_eq!(line, r#"{"text":"a\u009b31m\u007fb\u202ec\u001b"}"#);
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn only_a_server_that_means_to_come_back_is_retried() {
        assert!(matches!(
            closed(CloseCode::NORMAL_CLOSURE, "bye"),
            Ending::Done
        ));
        assert!(matches!(
            closed(CloseCode::GOING_AWAY, "server shutting down"),
            Ending::Dropped(_)
        ));
        assert!(matches!(
            closed(CloseCode::SERVICE_OVERLOAD, ""),
            Ending::Dropped(_)
        ));
        match closed(CloseCode::try_from(4000).unwrap(), "unresponsive") {
            Ending::Dropped(reason) => assert_eq!(reason, "unresponsive (close code 4000)"),
            _ => panic!("4000 is a lost connection"),
        }
        // Kicked by an operator: coming back by itself would defy them.
        match closed(CloseCode::try_from(4001).unwrap(), "kicked by ana: spam") {
            Ending::Closed(reason) => assert_eq!(reason, "kicked by ana: spam (close code 4001)"),
            _ => panic!("4001 is final"),
        }
        match closed(CloseCode::POLICY_VIOLATION, "too many messages") {
            Ending::Closed(reason) => assert_eq!(reason, "too many messages (close code 1008)"),
            _ => panic!("1008 is final"),
        }
    }
}
