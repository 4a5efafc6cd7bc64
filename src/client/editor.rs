//! The line editor: the prompt and the draft at the bottom of the terminal,
//! with what arrives printed above them.
//!
//! Drawn by us on crossterm rather than by a line-editor crate: the ones
//! looked at lose track of a draft that wraps onto several rows when the line
//! is sent (rustyline-async 0.4.9, its issue #20), or count its rows in bytes
//! when printing above it (reedline; docs/internals.md, "The client's line
//! editor", has the comparison). So the one thing this module must get right
//! is where each row of the draft is. Keys, layout and drawing stay in one
//! file for that reason (a quarter of it is their tests): each key changes
//! the draft, and every change is drawn by the same layout; split, the row
//! count would be passed back and forth. The draft's text and history, which
//! need no terminal, are `draft`.
//!
//! The drawing model: we lay the prompt and the draft out ourselves, in rows
//! of display columns (`unicode-width`, grapheme by grapheme, a wide
//! character that does not fit at the end of a row going to the next one, as
//! terminals do), and write each row followed by an explicit `\r\n`, never
//! relying on the terminal's automatic wrap. So we always know the row of the
//! terminal's cursor within the drawn rows, and to redraw we move up that
//! many rows, clear to the end of the screen, and draw again. Printing a line
//! is the same: clear, print it, draw the prompt and draft below it.
//!
//! One concept, some 780 lines and its tests: the keys, the screen's rows
//! and the printing above the prompt share one lock and one idea of where
//! the cursor is; the draft's own editing is `draft`.

use std::ffi::OsString;
use std::io::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt as _;
use unicode_segmentation::UnicodeSegmentation as _;
use unicode_width::UnicodeWidthStr as _;

use super::draft::{Draft, History, secret_from};

/// Columns assumed when the terminal does not say (a size of 0).
const FALLBACK_COLS: u16 = 80;

/// Variables set by terminals known to re-wrap rows wider than the window
/// when it gets narrower: tmux, VTE (GNOME Terminal, Tilix…), kitty,
/// Alacritty, WezTerm, Windows Terminal, Konsole. (iTerm2 is known by its
/// `TERM_PROGRAM`.) None of them is set by xterm, which cuts such rows.
pub const REFLOWING_TERMINAL_VARS: [&str; 7] = [
    "TMUX",
    "VTE_VERSION",
    "KITTY_WINDOW_ID",
    "ALACRITTY_WINDOW_ID",
    "WEZTERM_PANE",
    "WT_SESSION",
    "KONSOLE_VERSION",
];

/// What the person did, as the session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entered {
    Line(String),
    /// Ctrl-D on an empty line.
    End,
    /// Ctrl-C.
    Interrupt,
    /// Tab on a name in a room too big for the names we have: ask the
    /// server for the names that start with this, then call
    /// [`Editor::complete_from`].
    Lookup(String),
}

/// Reads keys and edits the draft; see the module's documentation.
pub(crate) struct Editor {
    screen: Arc<Mutex<Screen>>,
    events: EventStream,
    history: History,
    /// Raw mode is on, and is to be turned off when we are done.
    raw: bool,
    /// The people in the room, for Tab.
    names: Vec<String>,
    /// `names` is only some of them (a big room): Tab asks the server.
    names_partial: bool,
    /// Ctrl-R is searching the history.
    search: Option<Search>,
    /// The server's limit on a message: a paste that would make the draft
    /// longer is refused whole rather than sent cut or split.
    max_message_bytes: usize,
}

/// A Ctrl-R search under way.
struct Search {
    query: String,
    /// The history line found, if any.
    found: Option<usize>,
    /// The draft before the search, for Escape or Ctrl-G to bring back.
    stash: String,
}

/// Turns bracketed paste on: a paste then arrives whole, its line breaks
/// and tabs as text rather than as Enter and Tab keys.
const BRACKETED_PASTE_ON: &[u8] = b"\x1b[?2004h";
const BRACKETED_PASTE_OFF: &[u8] = b"\x1b[?2004l";
/// Saves the window's title on the terminal's title stack, and brings it back.
const TITLE_PUSH: &[u8] = b"\x1b[22;0t";
const TITLE_POP: &[u8] = b"\x1b[23;0t";

/// Prints lines above the prompt; shares the screen with its [`Editor`].
pub(crate) struct Printer {
    screen: Arc<Mutex<Screen>>,
}

impl Editor {
    /// Puts the terminal in raw mode and draws `prompt`.
    ///
    /// # Errors
    ///
    /// Standard input is not a terminal that can be put in raw mode.
    pub(crate) fn open(prompt: &str, history_len: usize) -> io::Result<(Self, Printer)> {
        let cols = crossterm::terminal::size().map_or(FALLBACK_COLS, |(cols, _)| cols);
        crossterm::terminal::enable_raw_mode()?;
        let mut screen = Screen {
            prompt: prompt.to_owned(),
            draft: Draft::default(),
            cols: if cols == 0 { FALLBACK_COLS } else { cols },
            drawn: Layout::nothing(),
            open: true,
            reflows: reflows(|name| std::env::var_os(name)),
            status: None,
            search_prompt: None,
            unread_mentions: 0,
        };
        let mut out = BRACKETED_PASTE_ON.to_vec();
        // The shell left the cursor at the start of a line; make sure.
        out.push(b'\r');
        screen.draw(&mut out);
        write_out(&out)?;
        let screen = Arc::new(Mutex::new(screen));
        let editor = Self {
            screen: Arc::clone(&screen),
            events: EventStream::new(),
            history: History::new(history_len),
            raw: true,
            names: Vec::new(),
            names_partial: false,
            search: None,
            max_message_bytes: usize::MAX,
        };
        Ok((editor, Printer { screen }))
    }

    /// Waits for a line, Ctrl-C or Ctrl-D, editing the draft on the way.
    /// Cancel-safe: the draft lives in the editor, and a key is handled
    /// whole once read.
    pub(crate) async fn read(&mut self) -> Entered {
        loop {
            let mut entered = match self.events.next().await {
                Some(Ok(event)) => self.handle(event),
                // The terminal is gone: nobody is left to type.
                Some(Err(_)) | None => return Entered::End,
            };
            // Keys already waiting (a paste, fast typing) are taken before
            // drawing: a long paste is drawn a few times, not once a key.
            while entered.is_none() {
                // Polled with this task's waker (not a no-op one, as
                // `now_or_never` would): the stream keeps the waker of its
                // first pending poll, and this task must be the one woken.
                let waiting =
                    std::future::poll_fn(|cx| Poll::Ready(self.events.poll_next_unpin(cx)));
                match waiting.await {
                    Poll::Ready(Some(Ok(event))) => entered = self.handle(event),
                    Poll::Ready(Some(Err(_)) | None) => entered = Some(Entered::End),
                    Poll::Pending => break,
                }
            }
            if lock(&self.screen).redraw().is_err() {
                return Entered::End;
            }
            if let Some(entered) = entered {
                return entered;
            }
        }
    }

    /// Applies one event to the draft or the screen, without drawing.
    fn handle(&mut self, event: Event) -> Option<Entered> {
        let screen = Arc::clone(&self.screen);
        let mut screen = lock(&screen);
        if matches!(event, Event::Key(_) | Event::Paste(_)) {
            // The person is here: what named them has been seen.
            screen.mentions_seen();
        }
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => match Key::of(key) {
                Some(key) if self.search.is_some() => self.searching(key, &mut screen),
                Some(Key::ClearScreen) => {
                    screen.clear();
                    None
                }
                Some(Key::Tab) => {
                    let commands: Vec<&str> = crate::protocol::command::COMMANDS
                        .iter()
                        .filter_map(|(usage, _)| usage.split_whitespace().next())
                        .filter(|word| *word != "//TEXT")
                        .collect();
                    if self.names_partial
                        && let Some(prefix) = screen.draft.name_prefix()
                    {
                        return Some(Entered::Lookup(prefix.to_owned()));
                    }
                    screen.draft.complete(&self.names, &commands);
                    None
                }
                Some(Key::Search) => {
                    self.search = Some(Search {
                        query: String::new(),
                        found: None,
                        stash: screen.draft.text().to_owned(),
                    });
                    screen.search_prompt = Some("(search: ) ".to_owned());
                    None
                }
                Some(key) => apply(key, &mut screen.draft, &mut self.history),
                None => None,
            },
            Event::Paste(text) => {
                let bytes = screen.draft.text().len() + text.len();
                if bytes > self.max_message_bytes {
                    let refused = format!(
                        "-- paste refused: {bytes} bytes, over the server's limit of {} bytes for a message",
                        self.max_message_bytes
                    );
                    let _ = screen.print(&refused);
                } else {
                    screen.draft.paste(&text);
                }
                None
            }
            Event::Resize(cols, _) => {
                screen.resize(cols);
                // At once: the next resize is counted from the rows as
                // drawn for this one. A failure shows at the next drawing.
                let _ = screen.redraw();
                None
            }
            _ => None,
        }
    }

    /// A key during a Ctrl-R search: typing narrows it, Ctrl-R goes to an
    /// older match, Escape or Ctrl-G gives the draft back as it was; any
    /// other key takes the line found and does what it does (Enter sends it).
    fn searching(&mut self, key: Key, screen: &mut Screen) -> Option<Entered> {
        let search = self.search.as_mut().expect("called during a search");
        match key {
            Key::Insert(c) => {
                search.query.push(c);
                search.found = None;
            }
            Key::Backspace => {
                search.query.pop();
                search.found = None;
            }
            Key::Search => {}
            Key::Cancel | Key::Interrupt => {
                let stash = std::mem::take(&mut search.stash);
                screen.draft.set(&stash);
                self.search = None;
                screen.search_prompt = None;
                return None;
            }
            other => {
                self.search = None;
                screen.search_prompt = None;
                return apply(other, &mut screen.draft, &mut self.history);
            }
        }
        // Typing searches from the newest line again; Ctrl-R from the one found.
        let before = if key == Key::Search {
            search.found
        } else {
            None
        };
        if let Some((at, line)) = self.history.search(&search.query, before) {
            search.found = Some(at);
            screen.draft.set(line);
        }
        screen.search_prompt = Some(format!("(search: {}) ", search.query));
        None
    }

    /// The people in the room now, for Tab to complete; `partial` when
    /// they are only some of them, so that Tab asks the server instead.
    pub(crate) fn set_names(&mut self, names: Vec<String>, partial: bool) {
        self.names = names;
        self.names_partial = partial;
    }

    /// Completes the name being typed from `names`, the server's answer to
    /// a [`Entered::Lookup`] of `prefix`, if the person has not typed on
    /// since.
    pub(crate) fn complete_from(&mut self, prefix: &str, names: &[String]) {
        let mut screen = lock(&self.screen);
        if screen.draft.name_prefix() == Some(prefix) {
            screen.draft.complete(names, &[]);
            let _ = screen.redraw();
        }
    }

    /// The server's limit on a message, from its welcome.
    pub(crate) fn set_max_message_bytes(&mut self, bytes: usize) {
        self.max_message_bytes = bytes;
    }

    /// Shows `prompt` before the draft.
    pub(crate) fn set_prompt(&mut self, prompt: &str) {
        let mut screen = lock(&self.screen);
        prompt.clone_into(&mut screen.prompt);
        let _ = screen.redraw();
    }

    /// Gives the terminal back: the prompt goes if the draft is empty, and
    /// an unsent draft stays on screen (the person may want to copy it),
    /// with the cursor on the line below.
    pub(crate) fn close(mut self) {
        let mut screen = lock(&self.screen);
        let mut out = Vec::new();
        if screen.draft.is_empty() {
            screen.erase(&mut out);
        } else {
            screen.below(&mut out);
        }
        screen.mentions_seen();
        screen.open = false;
        out.extend_from_slice(BRACKETED_PASTE_OFF);
        let _ = write_out(&out);
        drop(screen);
        self.restore();
    }

    fn restore(&mut self) {
        if std::mem::take(&mut self.raw) {
            let _ = write_out(BRACKETED_PASTE_OFF);
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

impl Drop for Editor {
    /// A panic, or an early return, must not leave the terminal raw.
    fn drop(&mut self) {
        self.restore();
    }
}

impl Printer {
    /// Prints `text` (one line, or several for a multi-line message) above
    /// the prompt and the draft.
    ///
    /// # Errors
    ///
    /// The terminal is gone.
    pub(crate) fn line(&self, text: &str) -> io::Result<()> {
        lock(&self.screen).print(text)
    }

    /// Shows `text` on one row just above the prompt, in place of the one
    /// shown there before, or takes that row away (`None`): a state that
    /// changes (reconnecting, attempt after attempt) without filling the
    /// scrollback with a row per change.
    ///
    /// # Errors
    ///
    /// The terminal is gone.
    /// A line that names us was printed: the window's title counts it
    /// until the next key, and the bell rings once if `bell`.
    ///
    /// # Errors
    ///
    /// The terminal is gone.
    pub(crate) fn mention(&self, bell: bool) -> io::Result<()> {
        let mut screen = lock(&self.screen);
        let mut out = Vec::new();
        if screen.unread_mentions == 0 {
            // The title as it was is pushed, to be popped back (xterm's
            // title stack; terminals without one keep ours until exit).
            out.extend_from_slice(TITLE_PUSH);
        }
        screen.unread_mentions += 1;
        let title = format!("({}) chat: mentioned", screen.unread_mentions);
        out.extend_from_slice(format!("\x1b]0;{title}\x07").as_bytes());
        if bell {
            out.push(0x07);
        }
        write_out(&out)
    }

    pub(crate) fn status(&self, text: Option<&str>) -> io::Result<()> {
        let mut screen = lock(&self.screen);
        screen.status = text.map(str::to_owned);
        if screen.open { screen.redraw() } else { Ok(()) }
    }
}

fn lock(screen: &Mutex<Screen>) -> std::sync::MutexGuard<'_, Screen> {
    // Nothing holding the lock can leave the screen half-changed in a way
    // that matters more than going on drawing.
    screen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What is on the terminal below the lines printed so far.
struct Screen {
    prompt: String,
    draft: Draft,
    /// The terminal's width in columns.
    cols: u16,
    /// The rows as last drawn, and the cursor among them: the cursor's row
    /// is how far below the prompt's row the terminal's cursor is.
    drawn: Layout,
    /// Raw mode is on and the prompt is drawn.
    open: bool,
    /// The terminal re-wraps rows too wide for it when it gets narrower.
    reflows: bool,
    /// A row of plain text drawn above the prompt (see [`Printer::status`]).
    status: Option<String>,
    /// Drawn instead of the prompt during a Ctrl-R search.
    search_prompt: Option<String>,
    /// Mentions since the last key pressed, counted in the window's title.
    unread_mentions: usize,
}

impl Screen {
    /// Takes the count of unread mentions out of the title, if it is there.
    fn mentions_seen(&mut self) {
        if std::mem::take(&mut self.unread_mentions) > 0 {
            let _ = write_out(TITLE_POP);
        }
    }

    /// Moves to the prompt's row and clears from there to the end of the screen.
    fn erase(&self, out: &mut Vec<u8>) {
        let (row, _) = self.drawn.cursor;
        if row > 0 {
            out.extend_from_slice(format!("\x1b[{row}A").as_bytes());
        }
        out.extend_from_slice(b"\r\x1b[J");
    }

    /// Draws the prompt and the draft from the start of the cursor's row,
    /// and puts the cursor where the draft's cursor is.
    fn draw(&mut self, out: &mut Vec<u8>) {
        let prompt = self.search_prompt.as_deref().unwrap_or(&self.prompt);
        let mut layout = layout(prompt, &self.draft, self.cols);
        let status = self.status.as_ref().map(|status| {
            // Cut to one row, so that the rows drawn stay the rows counted.
            let row = fit(status, usize::from(self.cols) - 1);
            out.extend_from_slice(format!("\x1b[33m{row}\x1b[0m\r\n").as_bytes());
            row
        });
        for (i, row) in layout.rows.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(row.as_bytes());
        }
        if let Some(row) = status {
            layout.rows.insert(0, row);
            layout.cursor.0 += 1;
        }
        let last = u16::try_from(layout.rows.len() - 1).unwrap_or(u16::MAX);
        let (row, col) = layout.cursor;
        if last > row {
            out.extend_from_slice(format!("\x1b[{}A", last - row).as_bytes());
        }
        out.push(b'\r');
        if col > 0 {
            out.extend_from_slice(format!("\x1b[{col}C").as_bytes());
        }
        self.drawn = layout;
    }

    /// Moves the cursor to the start of the line below the drawn rows.
    fn below(&self, out: &mut Vec<u8>) {
        let last = u16::try_from(self.drawn.rows.len() - 1).unwrap_or(u16::MAX);
        let (row, _) = self.drawn.cursor;
        if last > row {
            out.extend_from_slice(format!("\x1b[{}B", last - row).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn redraw(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        self.erase(&mut out);
        self.draw(&mut out);
        write_out(&out)
    }

    fn print(&mut self, text: &str) -> io::Result<()> {
        let mut out = Vec::new();
        if self.open {
            self.erase(&mut out);
        }
        for line in text.split('\n') {
            out.extend_from_slice(line.as_bytes());
            // Raw mode: a line feed alone would not go back to column 0.
            out.extend_from_slice(b"\r\n");
        }
        if self.open {
            self.draw(&mut out);
        }
        write_out(&out)
    }

    /// Ctrl-L: the prompt and the draft alone at the top of a clear screen
    /// (`ESC [ 2J`: what is visible, never the scrollback).
    fn clear(&mut self) {
        let _ = write_out(b"\x1b[H\x1b[2J");
        self.drawn = Layout::nothing();
    }

    /// The terminal is now `cols` wide; the next redraw lays the draft out
    /// for that width, starting as many rows up as the cursor's row.
    ///
    /// The drawn rows end in hard line breaks, which no terminal joins when
    /// it gets wider, so then the cursor is still on its row. When it gets
    /// narrower, xterm cuts each row and the cursor stays on its row too;
    /// a terminal that reflows splits each row into as many as it now
    /// takes, and the cursor moves down with its part of its row. Which of
    /// the two the terminal does, it does not say: we go by the variables
    /// the terminals that reflow are known to set.
    fn resize(&mut self, cols: u16) {
        let cols = if cols == 0 { FALLBACK_COLS } else { cols };
        if self.reflows && cols < self.cols {
            // Only the row matters to the next erase, which comes at once.
            self.drawn.cursor = (cursor_row_after_reflow(&self.drawn, cols), 0);
        }
        self.cols = cols;
    }
}

/// Whether the terminal, as its variables (read through `var`) tell,
/// re-wraps rows when it gets narrower.
fn reflows(var: impl Fn(&str) -> Option<OsString>) -> bool {
    REFLOWING_TERMINAL_VARS
        .iter()
        .any(|name| var(name).is_some_and(|value| !value.is_empty()))
        || var("TERM_PROGRAM").is_some_and(|program| program == "iTerm.app")
}

/// The cursor's row, counted from the prompt's, once a terminal that
/// reflows has split the rows of `drawn` to fit `cols` columns.
fn cursor_row_after_reflow(drawn: &Layout, cols: u16) -> u16 {
    let cols = usize::from(cols.max(1));
    let (row, col) = drawn.cursor;
    let above: usize = drawn.rows[..usize::from(row)]
        .iter()
        .map(|text| text.width().div_ceil(cols).max(1))
        .sum();
    u16::try_from(above + usize::from(col) / cols).unwrap_or(u16::MAX)
}

/// The start of `text` that takes at most `cols` display columns, without
/// its control characters.
fn fit(text: &str, cols: usize) -> String {
    let mut row = String::new();
    let mut width = 0;
    for grapheme in text.graphemes(true) {
        if grapheme.chars().any(char::is_control) {
            continue;
        }
        width += grapheme.width();
        if width > cols {
            break;
        }
        row.push_str(grapheme);
    }
    row
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

/// The rows the prompt and the draft take on a terminal `cols` wide, and the
/// cursor's place among them (row, column).
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    rows: Vec<String>,
    cursor: (u16, u16),
}

impl Layout {
    /// Before the first drawing, and on a cleared screen: the cursor at the
    /// start of its row, with nothing drawn.
    fn nothing() -> Self {
        Self {
            rows: vec![String::new()],
            cursor: (0, 0),
        }
    }
}

/// Lays out `prompt` then `draft` in rows of `cols` display columns.
///
/// A draft that ends exactly at the end of a row gets an empty row after
/// it, where the cursor stands at the end of the line: the terminal's own
/// "pending wrap" position at the last column would otherwise leave the
/// cursor's row ambiguous.
fn layout(prompt: &str, draft: &Draft, cols: u16) -> Layout {
    let cols = usize::from(cols.max(1));
    let mut rows = vec![String::new()];
    let mut col = 0;
    let mut cursor = None;
    let prompt = prompt.graphemes(true).map(|g| (g, None));
    // A secret's arguments are drawn as stars, one per grapheme.
    let secret = secret_from(draft.text()).unwrap_or(usize::MAX);
    let typed = draft
        .text()
        .grapheme_indices(true)
        .map(|(at, g)| (if at >= secret { "*" } else { g }, Some(at)));
    for (grapheme, at) in prompt.chain(typed) {
        // A line break of a multi-line draft (a paste, Alt-Enter) starts a row.
        if grapheme == "\n" {
            if at == Some(draft.cursor()) {
                cursor = Some((rows.len() - 1, col));
            }
            rows.push(String::new());
            col = 0;
            continue;
        }
        // Nothing that moves the cursor by itself reaches the screen here
        // (the draft is typed, the prompt sanitised); if something did, the
        // layout would no longer be the screen's.
        if grapheme.chars().any(char::is_control) {
            continue;
        }
        let width = grapheme.width();
        if col + width > cols && col > 0 {
            rows.push(String::new());
            col = 0;
        }
        if at == Some(draft.cursor()) {
            cursor = Some((rows.len() - 1, col));
        }
        rows.last_mut()
            .expect("one row at least")
            .push_str(grapheme);
        col += width;
    }
    if col >= cols {
        rows.push(String::new());
        col = 0;
    }
    let (row, col) = cursor.unwrap_or((rows.len() - 1, col));
    Layout {
        rows,
        cursor: (
            u16::try_from(row).unwrap_or(u16::MAX),
            u16::try_from(col).unwrap_or(u16::MAX),
        ),
    }
}

/// The keys the editor knows (the table is in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Insert(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    Up,
    Down,
    DeleteWordBack,
    DeleteToStart,
    DeleteToEnd,
    /// Ctrl-D: delete under the cursor, or leave on an empty line.
    DeleteOrLeave,
    ClearScreen,
    Interrupt,
    /// Completes a name or a command.
    Tab,
    /// Ctrl-R: search the history.
    Search,
    /// Escape, Ctrl-G: leave a search.
    Cancel,
}

impl Key {
    fn of(key: KeyEvent) -> Option<Self> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        Some(match key.code {
            // AltGr, on the keyboards that need it for some characters.
            KeyCode::Char(c) if ctrl && alt => Key::Insert(c),
            KeyCode::Char(c) if ctrl => match c {
                'a' => Key::Home,
                'b' => Key::Left,
                'c' => Key::Interrupt,
                'd' => Key::DeleteOrLeave,
                'e' => Key::End,
                'f' => Key::Right,
                'h' => Key::Backspace,
                'k' => Key::DeleteToEnd,
                'l' => Key::ClearScreen,
                'n' => Key::Down,
                'p' => Key::Up,
                'u' => Key::DeleteToStart,
                'w' => Key::DeleteWordBack,
                'g' => Key::Cancel,
                'r' => Key::Search,
                _ => return None,
            },
            KeyCode::Char(c) if alt => match c {
                'b' => Key::WordLeft,
                'f' => Key::WordRight,
                _ => return None,
            },
            KeyCode::Char(c) => Key::Insert(c),
            // Alt-Enter: a line break in the message, as chat programs do.
            KeyCode::Enter if alt => Key::Insert('\n'),
            KeyCode::Enter => Key::Enter,
            KeyCode::Tab => Key::Tab,
            KeyCode::Esc => Key::Cancel,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::Delete => Key::Delete,
            KeyCode::Left if ctrl || alt => Key::WordLeft,
            KeyCode::Right if ctrl || alt => Key::WordRight,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            _ => return None,
        })
    }
}

/// What `key` does to the draft; `Some` when it ends the reading.
fn apply(key: Key, draft: &mut Draft, history: &mut History) -> Option<Entered> {
    match key {
        Key::Insert(c) => draft.insert(c),
        Key::Enter => {
            let line = draft.take();
            history.push(&line);
            return Some(Entered::Line(line));
        }
        Key::Backspace => draft.delete_back(),
        Key::Delete => draft.delete_forward(),
        Key::Left => draft.left(),
        Key::Right => draft.right(),
        Key::WordLeft => draft.word_left(),
        Key::WordRight => draft.word_right(),
        Key::Home => draft.home(),
        Key::End => draft.end(),
        Key::Up => {
            if let Some(line) = history.up(draft.text()) {
                draft.set(line);
            }
        }
        Key::Down => {
            if let Some(line) = history.down() {
                draft.set(line);
            }
        }
        Key::DeleteWordBack => draft.delete_word_back(),
        Key::DeleteToStart => draft.delete_to_start(),
        Key::DeleteToEnd => draft.delete_to_end(),
        Key::DeleteOrLeave if draft.is_empty() => return Some(Entered::End),
        Key::DeleteOrLeave => draft.delete_forward(),
        Key::Interrupt => return Some(Entered::Interrupt),
        // The screen's or the editor's business, handled before the draft's.
        Key::ClearScreen | Key::Tab | Key::Search | Key::Cancel => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(text: &str, cursor_from_end: usize) -> Draft {
        let mut draft = Draft::default();
        text.chars().for_each(|c| draft.insert(c));
        (0..cursor_from_end).for_each(|_| draft.left());
        draft
    }

    fn rows(layout: &Layout) -> Vec<&str> {
        layout.rows.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_long_draft_wraps_at_the_width() {
        let layout = layout("> ", &draft("abcdefgh", 0), 4);
        assert_eq!(rows(&layout), ["> ab", "cdef", "gh"]);
        assert_eq!(layout.cursor, (2, 2));
    }

    #[test]
    fn a_draft_that_fills_its_last_row_puts_the_cursor_on_the_next() {
        let layout = layout("> ", &draft("abcdef", 0), 4);
        assert_eq!(rows(&layout), ["> ab", "cdef", ""]);
        assert_eq!(layout.cursor, (2, 0));
        let inside = super::layout("> ", &draft("abcdef", 1), 4);
        assert_eq!(inside.cursor, (1, 3));
    }

    #[test]
    fn a_wide_character_that_does_not_fit_goes_to_the_next_row() {
        // Each CJK character and the emoji take two columns.
        let layout = layout("> ", &draft("a中文🙂", 0), 5);
        assert_eq!(rows(&layout), ["> a中", "文🙂"]);
        assert_eq!(layout.cursor, (1, 4));
        let on_emoji = super::layout("> ", &draft("a中文🙂", 1), 5);
        assert_eq!(on_emoji.cursor, (1, 2));
        let on_wrapped = super::layout("> ", &draft("ab中", 1), 5);
        assert_eq!(rows(&on_wrapped), ["> ab", "中"]);
        assert_eq!(
            on_wrapped.cursor,
            (1, 0),
            "on the character, where it is drawn"
        );
    }

    #[test]
    fn combining_marks_take_no_column() {
        let layout = layout("> ", &draft("e\u{301}e\u{301}", 0), 4);
        assert_eq!(rows(&layout), ["> e\u{301}e\u{301}", ""]);
        assert_eq!(layout.cursor, (1, 0));
    }

    #[test]
    fn a_status_is_cut_to_one_row() {
        assert_eq!(fit("-- retrying\x1b", 20), "-- retrying");
        assert_eq!(fit("ab中文", 5), "ab中");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn control_characters_are_not_drawn() {
        let layout = layout("a\u{1b}[2J> ", &draft("", 0), 10);
        assert_eq!(rows(&layout), ["a[2J> "]);
        assert_eq!(layout.cursor, (0, 6));
    }

    #[test]
    fn the_screen_is_redrawn_from_the_prompts_row() {
        let mut screen = Screen {
            prompt: "> ".to_owned(),
            draft: draft("abcdefgh", 3),
            cols: 4,
            drawn: Layout::nothing(),
            open: true,
            reflows: reflows(|name| std::env::var_os(name)),
            status: None,
            search_prompt: None,
            unread_mentions: 0,
        };
        let mut out = Vec::new();
        screen.draw(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "> ab\r\ncdef\r\ngh\x1b[1A\r\x1b[3C"
        );
        assert_eq!(screen.drawn.cursor, (1, 3));
        let mut out = Vec::new();
        screen.erase(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[1A\r\x1b[J");
        screen.resize(0);
        assert_eq!(screen.cols, FALLBACK_COLS);
    }

    #[test]
    fn a_terminal_that_reflows_is_known_by_its_variables() {
        assert!(reflows(
            |name| (name == "TMUX").then(|| "/tmp/tmux-0/default".into())
        ));
        assert!(reflows(
            |name| (name == "TERM_PROGRAM").then(|| "iTerm.app".into())
        ));
        assert!(!reflows(
            |name| (name == "TERM_PROGRAM").then(|| "xterm".into())
        ));
        assert!(!reflows(|name| (name == "VTE_VERSION").then(OsString::new)));
        assert!(!reflows(|_| None));
    }

    #[test]
    fn narrowing_moves_the_cursor_down_only_where_the_terminal_reflows() {
        // At 40 columns: rows of 40, 40 and 15, the cursor at the end.
        let drawn_at_40 = || {
            let mut screen = Screen {
                prompt: "ana> ".to_owned(),
                draft: draft(&"0123456789".repeat(9), 0),
                cols: 40,
                drawn: Layout::nothing(),
                open: true,
                reflows: false,
                status: None,
                search_prompt: None,
                unread_mentions: 0,
            };
            screen.draw(&mut Vec::new());
            assert_eq!(screen.drawn.cursor, (2, 15));
            screen
        };
        let mut screen = drawn_at_40();
        screen.resize(30);
        assert_eq!(
            screen.drawn.cursor.0, 2,
            "xterm keeps each row where it was"
        );

        let mut screen = drawn_at_40();
        screen.reflows = true;
        screen.resize(50);
        assert_eq!(
            screen.drawn.cursor.0, 2,
            "hard line breaks are never joined"
        );
        let mut screen = drawn_at_40();
        screen.reflows = true;
        screen.resize(30);
        assert_eq!(
            screen.drawn.cursor.0, 4,
            "40 + 40 columns become 2 + 2 rows"
        );

        let in_second_row = draft(&"0123456789".repeat(9), 20);
        let drawn = layout("ana> ", &in_second_row, 40);
        assert_eq!(drawn.cursor, (1, 35));
        assert_eq!(cursor_row_after_reflow(&drawn, 30), 3);
        assert_eq!(cursor_row_after_reflow(&drawn, 20), 2 + 1);
    }

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
        Key::of(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn keys_map_as_in_readline() {
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        assert_eq!(key(KeyCode::Char('d'), ctrl), Some(Key::DeleteOrLeave));
        assert_eq!(key(KeyCode::Char('c'), ctrl), Some(Key::Interrupt));
        assert_eq!(key(KeyCode::Char('b'), alt), Some(Key::WordLeft));
        assert_eq!(key(KeyCode::Left, ctrl), Some(Key::WordLeft));
        assert_eq!(
            key(KeyCode::Char('A'), KeyModifiers::SHIFT),
            Some(Key::Insert('A'))
        );
        assert_eq!(key(KeyCode::Char('z'), ctrl), None);
        assert_eq!(key(KeyCode::Char('@'), ctrl | alt), Some(Key::Insert('@')));
        assert_eq!(key(KeyCode::F(1), KeyModifiers::NONE), None);
        assert_eq!(key(KeyCode::Enter, alt), Some(Key::Insert('\n')));
        assert_eq!(key(KeyCode::Tab, KeyModifiers::NONE), Some(Key::Tab));
        assert_eq!(key(KeyCode::Char('r'), ctrl), Some(Key::Search));
        assert_eq!(key(KeyCode::Esc, KeyModifiers::NONE), Some(Key::Cancel));
        assert_eq!(key(KeyCode::Char('k'), ctrl), Some(Key::DeleteToEnd));
        assert_eq!(key(KeyCode::Char('f'), alt), Some(Key::WordRight));
    }

    #[test]
    fn a_line_break_starts_a_row_and_a_secret_is_drawn_as_stars() {
        let broken = layout("> ", &draft("ab\ncd", 0), 10);
        assert_eq!(rows(&broken), ["> ab", "cd"]);
        assert_eq!(broken.cursor, (1, 2));
        let secret = layout("> ", &draft("/op 中x", 0), 20);
        assert_eq!(rows(&secret), ["> /op **"]);
    }

    #[test]
    fn ctrl_d_deletes_on_a_line_and_leaves_on_an_empty_one() {
        let mut history = History::new(10);
        let mut typed = draft("abc", 2);
        assert_eq!(apply(Key::DeleteOrLeave, &mut typed, &mut history), None);
        assert_eq!(typed.text(), "ac");
        typed.end();
        assert_eq!(apply(Key::DeleteOrLeave, &mut typed, &mut history), None);
        assert_eq!(typed.text(), "ac", "nothing under the cursor at the end");
        let mut empty = Draft::default();
        assert_eq!(
            apply(Key::DeleteOrLeave, &mut empty, &mut history),
            Some(Entered::End)
        );
    }

    #[test]
    fn enter_sends_the_line_and_keeps_it_for_up() {
        let mut history = History::new(10);
        let mut typed = draft("hi", 0);
        assert_eq!(
            apply(Key::Enter, &mut typed, &mut history),
            Some(Entered::Line("hi".to_owned()))
        );
        assert!(typed.is_empty());
        apply(Key::Up, &mut typed, &mut history);
        assert_eq!(typed.text(), "hi");
        apply(Key::Down, &mut typed, &mut history);
        assert_eq!(typed.text(), "");
    }
}
