//! The two faces of the client: a line editor when a person sits at a
//! terminal (what arrives is printed above the line being typed, which stays
//! as it was), and plain lines when standard input or output is a pipe or a
//! file (no prompt, no escape codes).
//!
//! Each face is split in an [`Input`] and an [`Output`] so the session can
//! wait for typing while it prints what arrives.

use std::io::{self, Write as _};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use super::editor::{Editor, Entered, Printer};

/// Lines read ahead of the network in plain mode; reading pauses when full.
const INPUT_QUEUE_LEN: usize = 64;
/// Lines kept for the arrow keys.
const HISTORY_LEN: usize = 500;

/// What the person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Line(String),
    /// Ctrl-D on an empty line, or the end of piped input.
    End,
    /// Ctrl-C.
    Interrupt,
    /// Tab on a name in a big room: the names starting with this are to be
    /// asked for, and given to [`Input::complete_from`].
    Lookup(String),
}

/// Where typed lines come from.
pub enum Input {
    Editor(Box<Editor>),
    Plain {
        lines: mpsc::Receiver<String>,
        /// Ctrl-C in plain mode: a signal, caught so the client can still
        /// close properly.
        interrupt: Signal,
    },
    /// `--listen`: nothing is read; only Ctrl-C (or a signal) ends it.
    Listen {
        interrupt: Signal,
    },
}

/// Where lines are printed.
pub enum Output {
    /// Printed above the input line by the editor.
    Editor(Printer),
    Plain(io::Stdout),
}

/// Opens the line editor (`interactive`) or plain line I/O.
///
/// # Errors
///
/// The terminal cannot be put in raw mode, or signals cannot be caught.
pub fn open(interactive: bool, listen: bool, prompt: &str) -> io::Result<(Input, Output)> {
    if listen {
        Ok((
            Input::Listen {
                interrupt: signal(SignalKind::interrupt())?,
            },
            Output::Plain(io::stdout()),
        ))
    } else if interactive {
        let (editor, printer) = Editor::open(prompt, HISTORY_LEN)?;
        Ok((Input::Editor(Box::new(editor)), Output::Editor(printer)))
    } else {
        Ok((
            Input::Plain {
                lines: spawn_stdin_reader(),
                interrupt: signal(SignalKind::interrupt())?,
            },
            Output::Plain(io::stdout()),
        ))
    }
}

impl Input {
    /// Waits for the next thing the person does. Cancel-safe: nothing typed
    /// is lost if another branch of a `select!` wins.
    pub async fn read(&mut self) -> Typed {
        match self {
            Input::Editor(editor) => match editor.read().await {
                Entered::Line(line) => Typed::Line(line),
                Entered::End => Typed::End,
                Entered::Interrupt => Typed::Interrupt,
                Entered::Lookup(prefix) => Typed::Lookup(prefix),
            },
            Input::Plain { lines, interrupt } => tokio::select! {
                line = lines.recv() => line.map_or(Typed::End, Typed::Line),
                _ = interrupt.recv() => Typed::Interrupt,
            },
            Input::Listen { interrupt } => {
                interrupt.recv().await;
                Typed::Interrupt
            }
        }
    }

    /// A script's input has reached its end (some of its lines may still
    /// wait to be sent): nobody will type anything any more.
    pub fn ended(&self) -> bool {
        matches!(self, Input::Plain { lines, .. } if lines.is_closed())
    }

    /// Like [`Input::read`] while there is no connection: a person may still
    /// type (and give up with Ctrl-C or Ctrl-D), but a script's next lines
    /// stay unread until they can be sent.
    pub async fn read_while_away(&mut self) -> Typed {
        match self {
            Input::Editor(_) | Input::Listen { .. } => self.read().await,
            Input::Plain { interrupt, .. } => {
                interrupt.recv().await;
                Typed::Interrupt
            }
        }
    }

    /// Shows `prompt` before the line being typed (the editor only).
    pub fn set_prompt(&mut self, prompt: &str) {
        if let Input::Editor(editor) = self {
            editor.set_prompt(prompt);
        }
    }

    /// The people in the room, for Tab to complete (the editor only);
    /// `partial` when they are only some of them.
    pub fn set_names(&mut self, names: &[String], partial: bool) {
        if let Input::Editor(editor) = self {
            editor.set_names(names.to_vec(), partial);
        }
    }

    /// The server's answer to a [`Typed::Lookup`] of `prefix`, for Tab.
    pub fn complete_from(&mut self, prefix: &str, names: &[String]) {
        if let Input::Editor(editor) = self {
            editor.complete_from(prefix, names);
        }
    }

    /// The server's limit on a message, for refusing a paste over it.
    pub fn set_max_message_bytes(&mut self, bytes: usize) {
        if let Input::Editor(editor) = self {
            editor.set_max_message_bytes(bytes);
        }
    }

    /// Gives the terminal back as it was.
    pub fn close(self) {
        if let Input::Editor(editor) = self {
            editor.close();
        }
    }
}

impl Output {
    /// Prints one line (which may hold several, for a multi-line message).
    ///
    /// # Errors
    ///
    /// Standard output is closed (a pipe nobody reads any more).
    pub async fn line(&mut self, text: &str) -> io::Result<()> {
        match self {
            // Written at once, above the prompt: a terminal slow to take it
            // holds the session up rather than losing lines.
            Output::Editor(printer) => printer.line(text),
            Output::Plain(stdout) => {
                let mut out = stdout.lock();
                writeln!(out, "{text}")?;
                out.flush()
            }
        }
    }

    /// Prints a line about the connection itself: on the screen for a person,
    /// on standard error for a script (whose standard output is data).
    pub async fn status(&mut self, text: &str) -> io::Result<()> {
        match self {
            Output::Editor(_) => self.line(text).await,
            Output::Plain(_) => stamped(text),
        }
    }

    /// Tells the person a line just printed names them (the editor only):
    /// the title counts it, and the bell rings if `bell`.
    pub async fn mention(&mut self, bell: bool) -> io::Result<()> {
        match self {
            Output::Editor(printer) => printer.mention(bell),
            Output::Plain(_) => Ok(()),
        }
    }

    /// Shows the state of the connection while it changes (reconnecting,
    /// attempt after attempt): on a terminal one row above the prompt,
    /// updated in place and taken away with `None`; for a script, a line
    /// on standard error per change, with the time, as a log.
    pub async fn progress(&mut self, text: Option<&str>) -> io::Result<()> {
        match self {
            Output::Editor(printer) => printer.status(text),
            Output::Plain(_) => text.map_or(Ok(()), stamped),
        }
    }
}

/// A status line for a script's standard error, after the local time: a
/// log read later (an outage overnight) needs to say when.
fn stamped(text: &str) -> io::Result<()> {
    let now = chrono::Local::now().format("%H:%M:%S");
    writeln!(io::stderr(), "{now} {text}")
}

/// Reads standard input on its own thread: a blocking read there cannot hold
/// up the runtime's shutdown, and the bounded queue pauses reading when the
/// network is slower than the input.
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
