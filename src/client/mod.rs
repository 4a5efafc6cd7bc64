//! The chat client: connects, sends each line read from standard input, and
//! prints what the server sends, both at once.
//!
//! It speaks the JSON format and renders events itself, stripping control
//! characters from everything it prints, whatever the server sent.

mod connect;

use std::io::{self, Write as _};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_websockets::{CloseCode, Message};

pub use connect::{ConnectError, DEFAULT_URL, Target};

use crate::protocol::{Event, LimitsInfo};
use crate::rate::RateLimit;
use crate::sanitize::strip_controls;

/// How long the closing handshake may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines read ahead of the network; reading pauses when it is full.
const INPUT_QUEUE_LEN: usize = 64;

/// Why a session ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("lost the connection to {url}: {reason}")]
    Lost { url: String, reason: String },
    #[error("the server closed the connection: {reason}")]
    ClosedByServer { reason: String },
}

/// Connects to `target` and chats until standard input ends (then closes
/// with 1000), the person types `/quit`, or the server goes away.
///
/// # Errors
///
/// The connection could not be made, or was lost.
pub async fn run(target: &Target) -> Result<(), ClientError> {
    let mut ws = target.connect().await?;
    let mut lines = spawn_stdin_reader();
    let mut renderer = Renderer::default();
    // Until the welcome states the server's limits, send nothing faster than this.
    let mut pace = RateLimit::new(1, 1, Instant::now());
    // A line read but held back to keep under the server's rate limit.
    let mut held: Option<String> = None;
    loop {
        let send_at = Instant::now() + pace.wait(Instant::now());
        tokio::select! {
            line = lines.recv(), if held.is_none() => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => held = Some(line),
                None => return finish(&mut ws, &mut renderer).await,
            },
            () = tokio::time::sleep_until(send_at), if held.is_some() => {
                pace.check(Instant::now());
                let line = held.take().expect("the branch runs only with a held line");
                if let Err(err) = ws.send(Message::text(line)).await {
                    return Err(lost(target, &err));
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(message)) => {
                    if let Some((code, reason)) = message.as_close() {
                        return match u16::from(code) {
                            1000 => Ok(()),
                            _ => Err(ClientError::ClosedByServer { reason: describe_close(u16::from(code), reason) }),
                        };
                    }
                    // Standard output gone (a closed pipe) means nobody is reading.
                    if let Some(text) = message.as_text()
                        && renderer.print(text).is_err()
                    {
                        return Ok(());
                    }
                    if let Some(limits) = renderer.announced_limits.take() {
                        pace = pace_under(&limits);
                    }
                }
                Some(Err(err)) => return Err(lost(target, &err)),
                None => return Err(ClientError::Lost { url: target.shown.clone(), reason: "the server went away".to_owned() }),
            },
        }
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

/// Ends the session after the last line of input: the server answers our
/// close frame only after everything we sent, so printing until that answer
/// shows the server's copies of our own last messages.
async fn finish(ws: &mut connect::ChatStream, renderer: &mut Renderer) -> Result<(), ClientError> {
    let drain = async {
        ws.send(Message::close(Some(CloseCode::NORMAL_CLOSURE), ""))
            .await?;
        while let Some(message) = ws.next().await.transpose()? {
            if let Some(text) = message.as_text()
                && renderer.print(text).is_err()
            {
                break;
            }
        }
        Ok::<_, tokio_websockets::Error>(())
    };
    // Leaving is what the person asked for: a server too slow to answer the
    // close is not worth an error.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
    Ok(())
}

/// Turns event frames into the lines a person reads, remembering who "we"
/// are so that the confirmation of our own private message names its recipient.
#[derive(Debug, Default)]
struct Renderer {
    me: String,
    /// The limits of the last welcome, until the send loop takes them.
    announced_limits: Option<LimitsInfo>,
}

impl Renderer {
    fn render(&mut self, frame: &str) -> String {
        let line = match serde_json::from_str::<Event>(frame) {
            Ok(event) => {
                match &event {
                    Event::Welcome { name, limits, .. } => {
                        name.clone_into(&mut self.me);
                        self.announced_limits = Some(limits.clone());
                    }
                    Event::Nick { old, new, .. } if *old == self.me => new.clone_into(&mut self.me),
                    _ => {}
                }
                match &event {
                    Event::Private { from, to, .. } if *from == self.me && *to != self.me => {
                        event.render_text_for_sender()
                    }
                    _ => event.render_text(),
                }
            }
            // A newer server's event we do not know: show it rather than lose it.
            Err(_) => frame.to_owned(),
        };
        strip_controls(&line).into_owned()
    }

    /// Prints one event frame.
    fn print(&mut self, frame: &str) -> io::Result<()> {
        let line = self.render(frame);
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }
}

/// Reads standard input on its own thread: a blocking read there cannot
/// hold up the runtime's shutdown, and the bounded queue pauses reading when
/// the network is slower than the input.
fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (lines_tx, lines_rx) = mpsc::channel(INPUT_QUEUE_LEN);
    std::thread::spawn(move || {
        for line in io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    lines_rx
}

fn lost(target: &Target, err: &tokio_websockets::Error) -> ClientError {
    ClientError::Lost {
        url: target.shown.clone(),
        reason: err.to_string(),
    }
}

fn describe_close(code: u16, reason: &str) -> String {
    if reason.is_empty() {
        format!("close code {code}")
    } else {
        format!("{reason} (close code {code})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_private_message_names_the_recipient() {
        let mut renderer = Renderer::default();
        renderer.render(r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":0,"limits":{"max_message_bytes":1,"per_second":1,"burst":1}}"#);
        let private = r#"{"type":"private","from":"ana","to":"bo","text":"psst","ts":1}"#;
        assert_eq!(renderer.render(private), "[private to bo] ana: psst");
        renderer.render(r#"{"type":"nick","room":"lobby","old":"ana","new":"cy","ts":1}"#);
        assert_eq!(renderer.render(private), "[private] ana: psst");
    }

    #[test]
    fn hostile_text_is_printed_harmlessly() {
        let mut renderer = Renderer::default();
        let frame = r#"{"type":"message","id":1,"room":"lobby","from":"e\u001b[31mve","text":"\u001b]0;pwned\u0007hi","ts":1}"#;
        assert_eq!(renderer.render(frame), "e[31mve: ]0;pwnedhi");
        assert_eq!(renderer.render("not json \u{1b}[2J"), "not json [2J");
    }
}
