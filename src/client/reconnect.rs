//! Coming back after the connection dropped: the pauses (`backoff`), the
//! attempts, what the person types meanwhile, and when a script whose input
//! has ended gives up. Part of the session loop's [`Chat`], apart because
//! it runs while there is no connection to loop over.

use std::time::Duration;

use tokio::time::Instant;

use super::terminal::{Input, Output, Typed};
use super::{Chat, Options, connect};

/// How long a script whose input has ended goes on trying to reconnect:
/// nobody is there to stop it, and it has nothing left but to deliver.
const GIVE_UP_AFTER_INPUT_ENDED: Duration = Duration::from_secs(5);

/// How trying to reconnect ended.
pub(super) enum Reconnection {
    /// Boxed: the stream is large, and this is made once per reconnection.
    Back(Box<connect::ChatStream>),
    /// The person gave up (Ctrl-C, Ctrl-D).
    Left,
    /// A script's input has ended and the server stayed away.
    GaveUp(String),
}

impl Chat {
    /// Reconnects with capped exponential backoff and jitter, resuming after
    /// the last message shown, until back, or until the person leaves
    /// (Ctrl-C, Ctrl-D) or a script's input has ended long enough.
    pub(super) async fn reconnect(
        &mut self,
        options: &Options,
        input: &mut Input,
        output: &mut Output,
    ) -> Reconnection {
        self.reconnected = true;
        self.lookup = None;
        let mut input_ended_at: Option<Instant> = None;
        self.resuming = true;
        // The line held back for pacing goes first, once back.
        if let Some(line) = self.held.take() {
            self.pending.push_front(line);
        }
        // Resume after what we showed; with nothing shown yet, after nothing,
        // so that a gap in between is reported.
        self.session.since = Some(self.session.since.unwrap_or(0));
        loop {
            let mut pause = self.backoff.pause();
            if input.ended() {
                // A script that has said all it had is not kept waiting
                // past the give-up time by a long pause drawn before it.
                let since = *input_ended_at.get_or_insert_with(Instant::now);
                pause = pause.min(GIVE_UP_AFTER_INPUT_ENDED.saturating_sub(since.elapsed()));
            }
            let deadline = Instant::now() + pause;
            let attempt = async {
                tokio::time::sleep_until(deadline).await;
                options.target.connect(&self.session, &options.tls).await
            };
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    typed = input.read_while_away() => match typed {
                        Typed::End | Typed::Interrupt => return Reconnection::Left,
                        // No server to ask: Tab does nothing meanwhile.
                        Typed::Lookup(_) => {}
                        Typed::Line(line) if line.trim().is_empty() => {}
                        Typed::Line(line) => {
                            self.pending.push_back(line);
                            let notice = self.renderer.notice(
                                "not connected: that line will be sent once reconnected",
                            );
                            let _ = output.status(&notice).await;
                        }
                    },
                }
            };
            match result {
                Ok(ws) => return Reconnection::Back(Box::new(ws)),
                Err(err) if input.ended() => {
                    let since = *input_ended_at.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GIVE_UP_AFTER_INPUT_ENDED {
                        return Reconnection::GaveUp(format!(
                            "{err}; gave up, the input having ended {}s before",
                            since.elapsed().as_secs()
                        ));
                    }
                    let notice = format!("-- retrying (input ended): {err}");
                    let _ = output.progress(Some(&notice)).await;
                }
                Err(err) => {
                    // The retry first: on a terminal the row is cut at its width.
                    let notice = format!(
                        "-- retrying in about {}s: {err}",
                        self.backoff.upcoming().as_secs().max(1)
                    );
                    let _ = output.progress(Some(&notice)).await;
                }
            }
        }
    }
}
