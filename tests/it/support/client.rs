//! The real `client` binary: one way to spawn it ([`client_command`], or
//! [`client_through`] a wrapper such as `unshare`), run to completion with
//! piped input ([`run_client`]) or left running for a test to interleave with
//! ([`RunningClient`]), and one way to read its `--json` lines
//! ([`ClientRun::events`], or [`parse_event`] for a line at a time).
//!
//! The client is spawned without the environment variables it reads
//! ([`CLEARED_ENV`]), so that a developer's shell cannot change what a test
//! sees; the terminal tests, which need a pseudo-terminal rather than pipes,
//! start [`CLIENT`] with the same variables cleared.

use std::process::Stdio;

use chat::protocol::Event;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::events::parse_event;
use super::{ClientRun, run_command, send_signal, within};

/// The client binary under test.
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// What the client reads from the environment and no test wants inherited:
/// a default name, and log filters that would add lines to its stderr.
pub const CLEARED_ENV: [&str; 3] = ["CHAT_NAME", "CHAT_PASSWORD", "RUST_LOG"];

/// The `client` binary with `args`, without [`CLEARED_ENV`], killed when
/// dropped; the caller adds pipes and environment.
pub fn client_command(args: &[&str]) -> Command {
    client_through(Command::new(CLIENT), args)
}

/// `wrapper`, a command that ends with [`CLIENT`] and runs it with the
/// arguments that follow (`unshare -rn CLIENT`, say), with the client's `args`,
/// without [`CLEARED_ENV`], killed when dropped.
pub fn client_through(mut wrapper: Command, args: &[&str]) -> Command {
    wrapper.args(args).kill_on_drop(true);
    for var in CLEARED_ENV {
        wrapper.env_remove(var);
    }
    wrapper
}

/// Runs the `client` binary with `args`, `stdin` as its input, to completion.
pub async fn run_client(args: &[&str], stdin: &str) -> ClientRun {
    run_command(client_command(args), stdin).await
}

impl ClientRun {
    /// What `client --json` printed, one event a line.
    pub fn events(&self) -> Vec<Event> {
        self.stdout.lines().map(parse_event).collect()
    }
}

/// A `client` binary left running on pipes, for tests that interleave with
/// it: its stdout (events) and stderr (status lines, errors) are read line by
/// line on demand, and every line read is recorded.
pub struct RunningClient {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
    /// Every line read from stdout so far, without its newline.
    pub printed: Vec<String>,
    /// Every line read from stderr so far, without its newline and
    /// without the `HH:MM:SS ` that starts a status line.
    pub statuses: Vec<String>,
    /// The status lines read so far that started with a `HH:MM:SS ` time.
    pub timed: usize,
}

impl RunningClient {
    /// Starts the `client` binary with `args` (see [`client_command`]), with
    /// stdin, stdout and stderr piped; stdin stays open, so the client keeps
    /// running, until [`RunningClient::close_input`] or [`RunningClient::finish`].
    pub fn start(args: &[&str]) -> Self {
        let mut child = client_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client binary starts");
        Self {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().expect("stdout is piped")),
            stderr: BufReader::new(child.stderr.take().expect("stderr is piped")),
            child,
            printed: Vec::new(),
            statuses: Vec::new(),
            timed: 0,
        }
    }

    /// Types one line.
    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("writing a line");
        stdin.flush().await.expect("flushing stdin");
    }

    /// Closes stdin, as at the end of a piped file.
    pub fn close_input(&mut self) {
        drop(self.stdin.take());
    }

    /// The next line printed on stdout, without its newline.
    pub async fn next_line(&mut self) -> String {
        let mut line = String::new();
        let n = within("a line from the client", self.stdout.read_line(&mut line))
            .await
            .expect("reading the client's stdout");
        assert!(
            n > 0,
            "the client's stdout closed; stdout: {:#?}, stderr: {:#?}",
            self.printed,
            self.statuses
        );
        let line = line.strip_suffix('\n').unwrap_or(&line).to_owned();
        self.printed.push(line.clone());
        line
    }

    /// Reads stdout until the client prints `wanted`.
    pub async fn wait_for_line(&mut self, wanted: &str) {
        let waited = tokio::time::timeout(super::TIMEOUT, async {
            let mut line = String::new();
            loop {
                line.clear();
                let n = self
                    .stdout
                    .read_line(&mut line)
                    .await
                    .expect("reading the client's stdout");
                if n == 0 {
                    return false;
                }
                self.printed
                    .push(line.strip_suffix('\n').unwrap_or(&line).to_owned());
                if self.printed.last().is_some_and(|l| l == wanted) {
                    return true;
                }
            }
        })
        .await;
        assert!(
            waited == Ok(true),
            "the client did not print {wanted:?} ({}); stdout: {:#?}, stderr: {:#?}",
            if waited.is_ok() {
                "stdout closed"
            } else {
                "timed out"
            },
            self.printed,
            self.statuses
        );
    }

    /// The next line on stderr (a status line, or an error).
    pub async fn next_status(&mut self) -> String {
        let mut line = String::new();
        let read = tokio::time::timeout(super::TIMEOUT, self.stderr.read_line(&mut line)).await;
        assert!(
            matches!(read, Ok(Ok(n)) if n > 0),
            "no further status line ({read:?}); stdout: {:#?}, stderr: {:#?}",
            self.printed,
            self.statuses
        );
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = self.untimed(line);
        self.statuses.push(line.clone());
        line
    }

    /// `line` without the time a status line starts with, counted.
    fn untimed(&mut self, line: &str) -> String {
        let timed = line.split_at_checked(9).filter(|(time, _)| {
            let b = time.as_bytes();
            [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
                && b[2] == b':'
                && b[5] == b':'
                && b[8] == b' '
        });
        match timed {
            Some((_, rest)) => {
                self.timed += 1;
                rest.to_owned()
            }
            None => line.to_owned(),
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        send_signal(&self.child, "INT");
    }

    /// Sends `signal` (`STOP`, `CONT`…) to the client.
    pub fn signal(&self, signal: &str) {
        send_signal(&self.child, signal);
    }

    /// Waits for the client to exit by itself (its stdin left as it is), and
    /// returns how it ended with the rest of its stdout and stderr, which are
    /// recorded too.
    pub async fn exit(&mut self) -> ClientRun {
        let status = within("the client to exit", self.child.wait())
            .await
            .expect("waiting for the client");
        let mut stdout = String::new();
        within(
            "the client's stdout to close",
            self.stdout.read_to_string(&mut stdout),
        )
        .await
        .expect("reading the client's stdout");
        let mut stderr = String::new();
        within(
            "the client's stderr to close",
            self.stderr.read_to_string(&mut stderr),
        )
        .await
        .expect("reading the client's stderr");
        self.printed.extend(stdout.lines().map(str::to_owned));
        for line in stderr.lines() {
            let line = self.untimed(line);
            self.statuses.push(line);
        }
        ClientRun {
            status,
            stdout,
            stderr,
        }
    }

    /// Closes stdin and waits for the client to exit; see [`RunningClient::exit`].
    pub async fn finish(&mut self) -> ClientRun {
        self.close_input();
        self.exit().await
    }
}
