//! The interactive face of the real `client` binary: run in a pseudo-terminal,
//! with assertions on the *screen* (a vt100 parser fed by the pty), against the
//! real server and real WebSocket observers.

use std::io::{Read as _, Write as _};

use chat::protocol::Event;
use futures_util::{SinkExt, StreamExt};
use portable_pty::{CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_websockets::{Message, ServerBuilder};
use vt100::{Color, Screen};

use chat::client::REFLOWING_TERMINAL_VARS;

use crate::support::client::{CLEARED_ENV, CLIENT};
use crate::support::{TIMEOUT, TestServer, WsClient, within};

const ROWS: u16 = 24;
/// Rows kept above the screen, for tests on what reaches the scrollback.
const SCROLLBACK: usize = 1000;
const COLS: u16 = 80;
// Keys, as a terminal sends them to the program.
const ENTER: &str = "\r";
const UP: &str = "\x1b[A";
const CTRL_A: &str = "\x01";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";
const CTRL_E: &str = "\x05";
const CTRL_U: &str = "\x15";
const CTRL_W: &str = "\x17";
const LEFT: &str = "\x1b[D";
const BACKSPACE: &str = "\x7f";
const TAB: &str = "\t";
const CTRL_L: &str = "\x0c";
const CTRL_R: &str = "\x12";
const ALT_ENTER: &str = "\x1b\r";
/// A paste, as a terminal in bracketed-paste mode sends it.
fn pasted(text: &str) -> String {
    format!("\x1b[200~{text}\x1b[201~")
}

/// What the client asked of the terminal besides drawing on the screen.
#[derive(Debug, Default)]
struct Requests {
    titles: Vec<String>,
    icon_names: Vec<String>,
    /// Any other operating system command (clipboard, colours, links…).
    other_osc: usize,
    bells: usize,
    /// The window's title saved on the title stack (`CSI 22 t`), and brought back (`CSI 23 t`).
    title_pushes: usize,
    title_pops: usize,
}

impl Requests {
    fn none(&self) -> bool {
        self.titles.is_empty() && self.icon_names.is_empty() && self.other_osc == 0
    }
}

impl vt100::Callbacks for Requests {
    fn set_window_title(&mut self, _: &mut Screen, title: &[u8]) {
        self.titles
            .push(String::from_utf8_lossy(title).into_owned());
    }

    fn set_window_icon_name(&mut self, _: &mut Screen, name: &[u8]) {
        self.icon_names
            .push(String::from_utf8_lossy(name).into_owned());
    }

    fn unhandled_osc(&mut self, _: &mut Screen, _params: &[&[u8]]) {
        self.other_osc += 1;
    }

    fn audible_bell(&mut self, _: &mut Screen) {
        self.bells += 1;
    }

    fn unhandled_csi(
        &mut self,
        _: &mut Screen,
        _i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        match (c, params.first().and_then(|p| p.first())) {
            ('t', Some(22)) => self.title_pushes += 1,
            ('t', Some(23)) => self.title_pops += 1,
            _ => {}
        }
    }
}

/// The `client` binary in a pseudo-terminal, with the screen it draws.
/// Killed when dropped, so a failing test leaves no process behind.
struct PtyClient {
    pid: u32,
    /// Kept open: the terminal exists as long as its master side does.
    master: Box<dyn MasterPty + Send>,
    keys: Box<dyn std::io::Write + Send>,
    /// What the client writes to its terminal, read on a thread.
    output: mpsc::Receiver<Vec<u8>>,
    exit: oneshot::Receiver<ExitStatus>,
    exited: Option<ExitStatus>,
    parser: vt100::Parser<Requests>,
    /// The terminal's width now.
    cols: u16,
    /// The terminal's settings before the client started, as `Debug` shows
    /// them (their type is `nix`'s, which this crate does not name).
    cooked: String,
}

impl PtyClient {
    /// Runs `client URL --name NAME ARGS…` in an 80x24 xterm, with `env` set
    /// and `NO_COLOR` unset unless `env` sets it.
    fn start(url: &str, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_sized(url, name, args, env, COLS)
    }

    /// [`PtyClient::start`] in an xterm `cols` wide.
    fn start_sized(url: &str, name: &str, args: &[&str], env: &[(&str, &str)], cols: u16) -> Self {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("opening a pseudo-terminal");
        // Not through `client_command`: a pseudo-terminal, not pipes, and
        // the same variables cleared, with the colour switches besides.
        let mut cmd = CommandBuilder::new(CLIENT);
        cmd.arg(url);
        cmd.args(["--name", name]);
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        // The screen here is vt100's, which cuts rows when narrowed, as
        // xterm does: the variables of terminals that reflow instead (if the
        // tests run inside one) must not reach the client.
        for var in CLEARED_ENV
            .into_iter()
            .chain(["NO_COLOR", "CLICOLOR_FORCE", "TERM_PROGRAM"])
            .chain(REFLOWING_TERMINAL_VARS)
        {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color");
        for (key, value) in env {
            cmd.env(key, value);
        }
        let cooked = format!(
            "{:?}",
            pty.master.get_termios().expect("the terminal's settings")
        );
        let mut child = pty.slave.spawn_command(cmd).expect("the client starts");
        // Only the client holds the terminal's slave side now, so reading the
        // master side ends when the client exits.
        drop(pty.slave);
        let pid = child.process_id().expect("the client's pid");

        let (exit_tx, exit) = oneshot::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let mut reader = pty.master.try_clone_reader().expect("the pty's reader");
        let (output_tx, output) = mpsc::channel(64);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if output_tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let keys = pty.master.take_writer().expect("the pty's writer");
        Self {
            pid,
            master: pty.master,
            keys,
            output,
            exit,
            exited: None,
            parser: vt100::Parser::new_with_callbacks(
                ROWS.try_into().expect("rows"),
                cols.try_into().expect("cols"),
                SCROLLBACK,
                Requests::default(),
            ),
            cols,
            cooked,
        }
    }

    /// Starts `client --name ana` on `server` and waits for its prompt.
    async fn ana(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut client = Self::start(&server.url, "ana", args, env);
        client.wait_for_prompt("ana").await;
        client
    }

    fn screen(&self) -> &Screen {
        self.parser.screen()
    }

    /// Every row of the screen as text (cells never written at its end left out).
    fn rows(&self) -> Vec<String> {
        self.screen().rows(0, self.cols).collect()
    }

    /// The screen's rows, each timestamp written `HH:MM`, without the empty
    /// rows at the bottom.
    fn screen_text(&self) -> Vec<String> {
        let mut rows = normalized(&self.rows());
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows
    }

    /// The terminal becomes `cols` wide, as when a person resizes the window.
    /// Call it on a settled screen: output still on its way was drawn for
    /// the old width.
    fn resize(&mut self, cols: u16) {
        self.master
            .resize(PtySize {
                rows: ROWS,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resizing the pseudo-terminal");
        self.parser.screen_mut().set_size(
            ROWS.try_into().expect("rows"),
            cols.try_into().expect("cols"),
        );
        self.cols = cols;
    }

    /// The row holding exactly `text` (after a `HH:MM ` timestamp if it has one).
    fn row_of(&self, text: &str) -> Option<u16> {
        self.rows()
            .iter()
            .position(|row| row == text || untimed(row) == Some(text))
            .map(|i| u16::try_from(i).expect("24 rows"))
    }

    /// The last row with something on it: the input line, prompt included.
    fn input_row(&self) -> (u16, String) {
        let rows = self.rows();
        let i = rows
            .iter()
            .rposition(|row| !row.trim().is_empty())
            .unwrap_or_else(|| panic!("an empty screen"));
        (u16::try_from(i).expect("24 rows"), rows[i].clone())
    }

    /// Feeds the client's output to the screen until `done` holds for it.
    async fn wait_for(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(TIMEOUT, async {
            while !done(self) {
                match self.output.recv().await {
                    Some(bytes) => self.parser.process(&bytes),
                    None => return false,
                }
            }
            true
        })
        .await;
        match waited {
            Ok(true) => {}
            Ok(false) => panic!(
                "the client's terminal closed while waiting for {what}; the screen:\n{}",
                self.screen().contents()
            ),
            Err(_) => panic!(
                "timed out after {TIMEOUT:?} waiting for {what}; the screen:\n{}",
                self.screen().contents()
            ),
        }
    }

    /// Waits until a row reads `text` (after its timestamp, if any).
    async fn wait_for_row(&mut self, text: &str) -> u16 {
        self.wait_for(&format!("the row {text:?}"), |c| c.row_of(text).is_some())
            .await;
        self.row_of(text).expect("just seen")
    }

    /// Waits until the input line reads exactly `line`, prompt included.
    async fn wait_for_input(&mut self, line: &str) {
        self.wait_for(&format!("the input line {line:?}"), |c| {
            c.input_row().1 == line
        })
        .await;
    }

    /// Waits until the input line reads exactly `line` with the cursor in column `col`.
    async fn wait_for_cursor(&mut self, line: &str, col: u16) {
        self.wait_for(
            &format!("the input line {line:?}, cursor in column {col}"),
            |c| {
                let (row, text) = c.input_row();
                text == line && c.screen().cursor_position() == (row, col)
            },
        )
        .await;
    }

    /// Waits for the welcome, the names in the room and the prompt
    /// `NAME@lobby> ` under them.
    async fn wait_for_prompt(&mut self, name: &str) {
        let welcome = format!("you are {name} in lobby; type /help for commands");
        let prompt = format!("{name}@lobby> ");
        self.wait_for("the welcome, the names and the prompt", |c| {
            c.row_of(&welcome).is_some()
                && c.rows().iter().any(|row| row.starts_with("in lobby: "))
                && c.input_row().1 == prompt
        })
        .await;
    }

    /// Types `keys` as a person would.
    fn press(&mut self, keys: &str) {
        self.keys
            .write_all(keys.as_bytes())
            .and_then(|()| self.keys.flush())
            .expect("typing into the pty");
    }

    /// Waits for the client to exit.
    async fn wait_exit(&mut self) -> ExitStatus {
        let status = within("the client to exit", &mut self.exit)
            .await
            .expect("the client's exit status");
        self.exited = Some(status.clone());
        status
    }

    /// The terminal's settings now, as `Debug` shows them.
    fn termios(&self) -> String {
        format!(
            "{:?}",
            self.master.get_termios().expect("the terminal's settings")
        )
    }
}

impl Drop for PtyClient {
    fn drop(&mut self) {
        if self.exited.is_none() && self.exit.try_recv().is_err() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// `row` without its leading `HH:MM ` timestamp, if it starts with one.
fn untimed(row: &str) -> Option<&str> {
    let (time, rest) = row.split_at_checked(6)?;
    let b = time.as_bytes();
    let timed = b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b':'
        && b[3].is_ascii_digit()
        && b[4].is_ascii_digit()
        && b[5] == b' ';
    timed.then_some(rest)
}

/// The screen's rows, each timestamp written `HH:MM`, so that two runs compare.
fn normalized(rows: &[String]) -> Vec<String> {
    rows.iter()
        .map(|row| match untimed(row) {
            Some(rest) => format!("HH:MM {rest}"),
            None => row.clone(),
        })
        .collect()
}

/// The cells of `row` from column `start`, `len` of them.
fn cells(screen: &Screen, row: u16, start: u16, len: usize) -> Vec<&vt100::Cell> {
    let len = u16::try_from(len).expect("a short text");
    (start..start + len)
        .map(|col| screen.cell(row, col).expect("a cell on the screen"))
        .collect()
}

/// The column where `text` starts in `row`.
fn col_of(screen: &Screen, row: u16, text: &str) -> u16 {
    let line: String = screen.rows(0, COLS).nth(usize::from(row)).expect("a row");
    let at = line
        .find(text)
        .unwrap_or_else(|| panic!("{text:?} is not in row {row}: {line:?}"));
    u16::try_from(line[..at].chars().count()).expect("80 columns")
}

/// The next message event `from` someone, skipping the rest.
async fn message_from(observer: &mut WsClient, from: &str) -> String {
    let event = observer
        .event_matching(
            &format!("a message from {from}"),
            |e| matches!(e, Event::Message { from: f, .. } if f == from),
        )
        .await;
    match event {
        Event::Message { text, .. } => text,
        other => unreachable!("matched a message: {other:?}"),
    }
}

/// A half-typed line stays exactly as typed, in place, while others' messages
/// print above it, and is sent whole once finished.
#[tokio::test]
async fn a_half_typed_line_survives_incoming_messages_in_place() {
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press("hello wor");
    ana.wait_for_input("ana@lobby> hello wor").await;

    let (mut bo, _) = server.join("bo", "lobby").await;
    let (mut cy, _) = server.join("cy", "lobby").await;
    let said: Vec<String> = (1..=3)
        .flat_map(|i| {
            [
                format!("bo: line {i} from bo"),
                format!("cy: line {i} from cy"),
            ]
        })
        .collect();
    for i in 1..=3 {
        bo.send(&format!("line {i} from bo")).await;
        cy.send(&format!("line {i} from cy")).await;
    }
    // The editor erases the input line, prints a message and redraws the
    // line, so the screen is only checked once it has settled: all six
    // messages above the input line, which reads exactly as typed, with the
    // cursor right after it. A client that loses or moves the line never
    // gets there, and the timeout shows its screen.
    ana.wait_for(
        "the six messages above `ana> hello wor`, cursor after it",
        |c| {
            let (input, line) = c.input_row();
            line == "ana@lobby> hello wor"
                && c.screen().cursor_position() == (input, 20)
                && said
                    .iter()
                    .all(|said| c.row_of(said).is_some_and(|row| row < input))
        },
    )
    .await;
    let typed: Vec<_> = ana
        .rows()
        .into_iter()
        .filter(|r| r.contains("hello"))
        .collect();
    assert_eq!(
        typed,
        ["ana@lobby> hello wor"],
        "the typed text shows once, on the input line"
    );

    ana.press(&format!("ld{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "hello world");
    ana.wait_for_row("ana: hello world").await;
    ana.wait_for_input("ana@lobby> ").await;
}

/// The chat as seen in a terminal: a welcome, a join, bo's line and one's own.
async fn chat_screen(args: &[&str], env: &[(&str, &str)]) -> PtyClient {
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, args, env).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    ana.wait_for_row("-> bo joined lobby").await;
    bo.send("hi from bo").await;
    ana.wait_for_row("bo: hi from bo").await;
    ana.press(&format!("hi from ana{ENTER}"));
    ana.wait_for("ana's own line, marked by colour or in words", |c| {
        c.row_of("ana: hi from ana").is_some() || c.row_of("ana (you): hi from ana").is_some()
    })
    .await;
    ana.wait_for_input("ana@lobby> ").await;
    ana
}

/// What [`chat_screen`] shows, colour or not.
const CHAT_TEXT: [&str; 7] = [
    "Welcome to chat! Type a message",
    "you are ana in lobby; type /help for commands",
    "HH:MM -> ana joined lobby",
    "in lobby: ana",
    "HH:MM -> bo joined lobby",
    "HH:MM bo: hi from bo",
    "HH:MM ana: hi from ana",
];

/// Without colour, one's own lines are marked in words instead of reverse video.
const OWN_WITHOUT_COLOUR: &str = "HH:MM ana (you): hi from ana";

fn assert_chat_text(ana: &PtyClient, own: &str) {
    let rows = normalized(&ana.rows());
    let (input, _) = ana.input_row();
    let mut expected: Vec<String> = CHAT_TEXT.iter().map(|s| (*s).to_owned()).collect();
    *expected.last_mut().expect("ana's own line last") = own.to_owned();
    expected.push("ana@lobby> ".to_owned());
    assert_eq!(rows[..=usize::from(input)], expected, "{rows:#?}");
}

/// Every cell of the screen has default colours and no attribute.
fn assert_no_style(screen: &Screen) {
    for row in 0..ROWS {
        for col in 0..COLS {
            let cell = screen.cell(row, col).expect("a cell");
            assert!(
                cell.fgcolor() == Color::Default
                    && cell.bgcolor() == Color::Default
                    && !cell.inverse()
                    && !cell.bold()
                    && !cell.dim()
                    && !cell.italic()
                    && !cell.underline(),
                "styled cell {:?} at {row},{col}: fg {:?} bg {:?} inverse {} bold {} dim {}",
                cell.contents(),
                cell.fgcolor(),
                cell.bgcolor(),
                cell.inverse(),
                cell.bold(),
                cell.dim(),
            );
        }
    }
}

/// With colour, others' names are coloured, one's own name is in reverse
/// video, and each message line starts with a dimmed `HH:MM ` timestamp.
#[tokio::test]
async fn colour_marks_names_and_ones_own_messages() {
    let ana = chat_screen(&[], &[]).await;
    assert_chat_text(&ana, CHAT_TEXT[6]);
    let screen = ana.screen();

    let bo_row = ana.row_of("bo: hi from bo").expect("seen");
    let bo = cells(screen, bo_row, 6, 2);
    assert!(
        bo.iter()
            .all(|c| c.fgcolor() != Color::Default && !c.inverse()),
        "bo's name: {:?}",
        bo.iter()
            .map(|c| (c.fgcolor(), c.inverse()))
            .collect::<Vec<_>>()
    );
    let text = cells(screen, bo_row, 10, "hi from bo".len());
    assert!(
        text.iter()
            .all(|c| c.fgcolor() == Color::Default && !c.inverse())
    );

    let own_row = ana.row_of("ana: hi from ana").expect("seen");
    let own = cells(screen, own_row, 6, 3);
    assert!(
        own.iter().all(|c| c.inverse()),
        "ana's own name is not in reverse video"
    );
    let text = cells(screen, own_row, 11, "hi from ana".len());
    assert!(text.iter().all(|c| !c.inverse()));

    for row in [bo_row, own_row] {
        let stamp = cells(screen, row, 0, 5);
        assert!(
            stamp.iter().all(|c| c.dim()),
            "the timestamp of row {row} is not dimmed"
        );
    }
}

/// `NO_COLOR=1` gives the same text with no colour or attribute anywhere.
#[tokio::test]
async fn no_color_env_shows_the_same_text_unstyled() {
    let ana = chat_screen(&[], &[("NO_COLOR", "1")]).await;
    assert_chat_text(&ana, OWN_WITHOUT_COLOUR);
    assert_no_style(ana.screen());
}

/// `--no-color` gives the same text with no colour or attribute anywhere.
#[tokio::test]
async fn no_color_flag_shows_the_same_text_unstyled() {
    let ana = chat_screen(&["--no-color"], &[]).await;
    assert_chat_text(&ana, OWN_WITHOUT_COLOUR);
    assert_no_style(ana.screen());
}

/// Leaving with `key`, with `draft` typed, exits 0, the room sees a `quit`
/// (a close frame, not a dropped socket), and the terminal gets its settings
/// back.
async fn leave_with(key: &str, draft: &str) {
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    assert_ne!(
        ana.termios(),
        ana.cooked,
        "the editor puts the terminal in raw mode"
    );
    ana.press(draft);
    ana.wait_for_input(&format!("ana@lobby> {draft}")).await;

    ana.press(key);
    let left = bo
        .event_matching("ana's leave", |e| matches!(e, Event::Leave { .. }))
        .await;
    assert!(
        matches!(&left, Event::Leave { name, reason, .. } if name == "ana" && reason == "quit"),
        "{left:?}"
    );
    let status = ana.wait_exit().await;
    assert!(status.success(), "{status:?}");
    assert_eq!(
        ana.termios(),
        ana.cooked,
        "the terminal is left in raw mode"
    );
}

/// Ctrl-D on an empty line exits 0 with a close frame (`quit`) and restores
/// the terminal.
#[tokio::test]
async fn ctrl_d_on_an_empty_line_quits_with_a_close_frame_and_restores_the_terminal() {
    leave_with(CTRL_D, "").await;
}

/// Ctrl-C exits 0 with a close frame (`quit`) and restores the terminal,
/// even with a half-typed line.
#[tokio::test]
async fn ctrl_c_quits_with_a_close_frame_and_restores_the_terminal() {
    leave_with(CTRL_C, "half a line").await;
}

/// Up recalls the last line; Ctrl-A, Ctrl-E, Ctrl-W and Ctrl-U edit the line
/// being typed, and what is sent is the edited line.
#[tokio::test]
async fn arrow_up_and_emacs_keys_edit_the_line() {
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;

    ana.press(&format!("first{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "first");
    ana.wait_for_row("ana: first").await;
    ana.wait_for_input("ana@lobby> ").await;
    ana.press(UP);
    ana.wait_for_input("ana@lobby> first").await;

    ana.press(&format!("{CTRL_A}say "));
    ana.wait_for_cursor("ana@lobby> say first", 15).await;
    ana.press(&format!("{CTRL_E}!"));
    ana.wait_for_input("ana@lobby> say first!").await;
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, "say first!");
    ana.wait_for_input("ana@lobby> ").await;

    ana.press("one two three");
    ana.wait_for_input("ana@lobby> one two three").await;
    ana.press(CTRL_W);
    ana.wait_for_input("ana@lobby> one two ").await;
    ana.press("2");
    ana.wait_for_input("ana@lobby> one two 2").await;
    ana.press(CTRL_U);
    ana.wait_for_cursor("ana@lobby> ", 11).await;
    ana.press(&format!("kept{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "kept");
}

/// A peer's escape sequences neither clear the screen, nor set the window
/// title, nor colour the text: their remains show as plain text.
#[tokio::test]
async fn a_peers_escape_sequences_are_shown_harmlessly() {
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    bo.send("before").await;
    ana.wait_for_row("bo: before").await;

    bo.send("\x1b[2Jcleared? \x1b]0;pwned\x07titled? \x1b[31mred?")
        .await;
    let row = ana
        .wait_for_row("bo: [2Jcleared? ]0;pwnedtitled? [31mred?")
        .await;

    for earlier in [
        "you are ana in lobby; type /help for commands",
        "-> bo joined lobby",
        "bo: before",
    ] {
        assert!(
            ana.row_of(earlier).is_some(),
            "{earlier:?} was cleared: {:#?}",
            ana.rows()
        );
    }
    let requests = ana.parser.callbacks();
    assert!(requests.none(), "{requests:?}");
    let col = col_of(ana.screen(), row, "red?");
    let red = cells(ana.screen(), row, col, 4);
    assert!(
        red.iter().all(|c| c.fgcolor() == Color::Default),
        "the text turned red"
    );
}

/// A fake server on a free port that greets its one client with `frames`,
/// as they are, then holds the connection open: its URL, and its task.
async fn fake_server(frames: Vec<String>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("the client connects");
        let (_request, mut ws) = ServerBuilder::new()
            .accept(stream)
            .await
            .expect("the handshake");
        for frame in frames {
            ws.send(Message::text(frame)).await.expect("sending");
        }
        // Keep the connection open until the test ends.
        while ws.next().await.is_some() {}
    });
    (url, server)
}

/// Even a hostile server cannot drive the terminal: the client strips the
/// escape sequences in names and text itself before printing.
#[tokio::test]
async fn a_hostile_servers_escape_sequences_are_shown_harmlessly() {
    let welcome = r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40}}"#;
    let hostile = serde_json::json!({
        "type": "message", "id": 1, "room": "lobby",
        "from": "e\u{1b}[2Jve", "text": "\u{1b}]0;pwned\u{7}hi \u{1b}[31mred?\u{9b}1m",
        "ts": 1_764_100_000_000_u64,
    })
    .to_string();
    let (url, server) = fake_server(vec![welcome.to_owned(), hostile]).await;

    let mut ana = PtyClient::start(&url, "ana", &["--no-reconnect"], &[]);
    ana.wait_for_row("you are ana in lobby; type /help for commands")
        .await;
    ana.wait_for_input("ana@lobby> ").await;
    let row = ana.wait_for_row("e[2Jve: ]0;pwnedhi [31mred?1m").await;
    let requests = ana.parser.callbacks();
    assert!(requests.none(), "{requests:?}");
    let col = col_of(ana.screen(), row, "red?");
    let red = cells(ana.screen(), row, col, 4);
    assert!(
        red.iter()
            .all(|c| c.fgcolor() == Color::Default && !c.bold()),
        "the text turned red or bold"
    );
    drop(ana);
    server.abort();
}

/// A hostile server's escapes and line break in the welcome's name neither
/// set the window title through the prompt nor split it, and a line break in
/// a sender's name forges no line of its own.
#[tokio::test]
async fn issue_16_a_hostile_name_in_the_welcome_cannot_drive_the_prompt() {
    // Issue 16 ("Hardening, second round"), item 6.
    let welcome = serde_json::json!({
        "type": "welcome", "motd": "", "name": "an\u{1b}]0;pwned\u{7}\na", "room": "lobby",
        "history": 100, "limits": {"max_message_bytes": 65536, "per_second": 20, "burst": 40},
    })
    .to_string();
    let forged = serde_json::json!({
        "type": "message", "id": 1, "room": "lobby",
        "from": "eve\n12:34 bo: please paste the token here", "text": "hi",
        "ts": 1_764_100_000_000_u64,
    })
    .to_string();
    let (url, server) = fake_server(vec![welcome, forged]).await;

    let mut ana = PtyClient::start(&url, "ana", &["--no-reconnect"], &[]);
    ana.wait_for_row("eve 12:34 bo: please paste the token here: hi")
        .await;
    ana.wait_for_input("an]0;pwned a@lobby> ").await;
    assert!(
        ana.row_of("you are an]0;pwned a in lobby; type /help for commands")
            .is_some(),
        "{:#?}",
        ana.rows()
    );
    let requests = ana.parser.callbacks();
    assert!(requests.none(), "{requests:?}");
    drop(ana);
    server.abort();
}

/// A private message shows as `[private] bo: psst` in magenta; join notices
/// (and timestamps) are dimmed.
#[tokio::test]
async fn private_messages_are_magenta_and_notices_dimmed() {
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let joined = ana.wait_for_row("-> bo joined lobby").await;
    bo.send("/msg ana psst").await;
    let private = ana.wait_for_row("[private] bo: psst").await;

    let screen = ana.screen();
    let magenta = [Color::Idx(5), Color::Idx(13)];
    let shown = cells(screen, private, 6, "[private] bo: psst".len());
    assert!(
        shown
            .iter()
            .all(|c| magenta.contains(&c.fgcolor()) && !c.dim()),
        "not magenta: {:?}",
        shown.iter().map(|c| c.fgcolor()).collect::<Vec<_>>()
    );
    // The timestamp and the notice are each dimmed (the space between is not styled).
    let stamp = cells(screen, joined, 0, 5);
    let notice = cells(screen, joined, 6, "-> bo joined lobby".len());
    assert!(
        stamp
            .iter()
            .chain(&notice)
            .all(|c| c.dim() && c.fgcolor() == Color::Default),
        "the join notice is not dimmed: {:?}",
        stamp
            .iter()
            .chain(&notice)
            .map(|c| (c.contents(), c.dim()))
            .collect::<Vec<_>>()
    );
}

/// The width of the terminals of the wrapping tests.
const NARROW: u16 = 40;

/// What a client at 40 columns shows once in, without the prompt.
const CHAT_AT_40: [&str; 5] = [
    "Welcome to chat! Type a message",
    "you are ana in lobby; type /help for com",
    "mands",
    "HH:MM -> ana joined lobby",
    "in lobby: ana, bo",
];

/// 84 characters: with the prompt `ana@lobby> `, three rows at 40 columns.
fn three_row_draft() -> String {
    "0123456789".repeat(9)[..84].to_owned()
}

/// `text` (ASCII) cut into rows of `cols` characters, as a terminal wraps it.
fn wrapped(text: &str, cols: usize) -> Vec<String> {
    text.as_bytes()
        .chunks(cols)
        .map(|row| String::from_utf8(row.to_vec()).expect("ASCII"))
        .collect()
}

/// `rows`, then `more`, as owned rows.
fn then(rows: &[&str], more: &[String]) -> Vec<String> {
    rows.iter()
        .map(|row| (*row).to_owned())
        .chain(more.iter().cloned())
        .collect()
}

/// bo, then ana in a terminal 40 columns wide with a three-row draft typed.
async fn narrow_ana_with_a_draft(server: &TestServer) -> (PtyClient, WsClient, String) {
    let (bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::start_sized(&server.url, "ana", &[], &[], NARROW);
    let welcome = then(&CHAT_AT_40, &["ana@lobby> ".to_owned()]);
    ana.wait_for("the welcome and the prompt at 40 columns", |c| {
        c.screen_text() == welcome
    })
    .await;
    let draft = three_row_draft();
    ana.press(&draft);
    let shown = then(&CHAT_AT_40, &wrapped(&format!("ana@lobby> {draft}"), 40));
    assert_eq!(shown.len(), CHAT_AT_40.len() + 3, "a three-row draft");
    ana.wait_for("the draft on three rows, cursor after it", |c| {
        c.screen_text() == shown && c.screen().cursor_position() == (7, 15)
    })
    .await;
    (ana, bo, draft)
}

/// Enter on a draft that wraps onto three rows leaves none of them behind:
/// the screen holds the server's copy of the line, then an empty prompt.
#[tokio::test]
async fn issue_18_enter_on_a_wrapped_draft_leaves_no_stale_rows() {
    // Issue 18 ("The terminal client in daily use"), bug 1.
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo, draft) = narrow_ana_with_a_draft(&server).await;

    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, draft);
    let copy = wrapped(&format!("HH:MM ana: {draft}"), 40);
    ana.wait_for("the server's copy and an empty prompt", |c| {
        let rows = c.screen_text();
        rows.last().is_some_and(|row| row == "ana@lobby> ") && rows.contains(&copy[0])
    })
    .await;
    let mut expected = then(&CHAT_AT_40, &copy);
    expected.push("ana@lobby> ".to_owned());
    assert_eq!(ana.screen_text(), expected);
    assert_eq!(ana.screen().cursor_position(), (8, 11));
}

/// Ctrl-U on a draft that wraps onto three rows clears all of them, so a
/// cleared draft cannot pass for a sent one.
#[tokio::test]
async fn issue_18_ctrl_u_on_a_wrapped_draft_leaves_no_stale_rows() {
    // Issue 18, bug 1.
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo, _) = narrow_ana_with_a_draft(&server).await;

    ana.press(CTRL_U);
    ana.wait_for_cursor("ana@lobby> ", 11).await;
    assert_eq!(
        ana.screen_text(),
        then(&CHAT_AT_40, &["ana@lobby> ".to_owned()])
    );
    ana.press(&format!("kept{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "kept");
}

/// Messages that arrive while a wrapped draft is being typed print above
/// it, and the draft stays whole below, still being typed, wherever its
/// cursor is (at the end, or on the prompt's row).
#[tokio::test]
async fn issue_18_a_message_arrives_above_a_wrapped_draft() {
    // Issue 18, bug 1.
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo, draft) = narrow_ana_with_a_draft(&server).await;

    bo.send("hello from bo").await;
    let mut expected = then(&CHAT_AT_40, &["HH:MM bo: hello from bo".to_owned()]);
    expected.extend(wrapped(&format!("ana@lobby> {draft}"), 40));
    ana.wait_for("the message above the whole draft, cursor after it", |c| {
        c.screen_text() == expected && c.screen().cursor_position() == (8, 15)
    })
    .await;

    ana.press(CTRL_A);
    ana.wait_for("the cursor at the start of the draft", |c| {
        c.screen().cursor_position() == (6, 11)
    })
    .await;
    bo.send("a line from bo long enough to wrap at forty columns")
        .await;
    let mut expected = then(
        &CHAT_AT_40,
        &[
            "HH:MM bo: hello from bo".to_owned(),
            "HH:MM bo: a line from bo long enough to ".to_owned(),
            "wrap at forty columns".to_owned(),
        ],
    );
    expected.extend(wrapped(&format!("ana@lobby> {draft}"), 40));
    ana.wait_for(
        "both messages above the whole draft, cursor at its start",
        |c| c.screen_text() == expected && c.screen().cursor_position() == (8, 11),
    )
    .await;

    ana.press(&format!("{CTRL_E}!"));
    expected.last_mut().expect("the draft's last row").push('!');
    ana.wait_for("the draft typed on at its end", |c| {
        c.screen_text() == expected && c.screen().cursor_position() == (10, 16)
    })
    .await;
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, format!("{draft}!"));
}

/// A draft shown while the terminal narrows, then widens, is laid out again
/// for each width with no stale row, and typing goes on where it was,
/// through a draft that ends exactly at the end of a row.
#[tokio::test]
async fn issue_18_a_wrapped_draft_follows_a_resized_terminal() {
    // Issue 18, bug 1.
    let server = TestServer::start(&[]).await;
    let (mut ana, mut bo, draft) = narrow_ana_with_a_draft(&server).await;

    ana.resize(30);
    // An xterm cuts what no longer fits; the draft is drawn anew.
    let cut = [
        "Welcome to chat! Type a messag",
        "you are ana in lobby; type /he",
        "mands",
        "HH:MM -> ana joined lobby",
        "in lobby: ana, bo",
    ];
    let narrow = then(&cut, &wrapped(&format!("ana@lobby> {draft}"), 30));
    assert_eq!(narrow.len(), cut.len() + 4, "four rows at 30 columns");
    ana.wait_for("the draft on four rows of 30 columns", |c| {
        c.screen_text() == narrow && c.screen().cursor_position() == (8, 5)
    })
    .await;

    ana.resize(50);
    let wide = then(&cut, &wrapped(&format!("ana@lobby> {draft}"), 50));
    ana.wait_for("the draft on two rows of 50 columns", |c| {
        c.screen_text() == wide && c.screen().cursor_position() == (6, 45)
    })
    .await;

    // 100 characters with the prompt: two full rows, the cursor on the next.
    ana.press("abcde");
    let mut full = then(&cut, &wrapped(&format!("ana@lobby> {draft}abcde"), 50));
    full.push(String::new());
    ana.wait_for("two full rows and the cursor below them", |c| {
        normalized(&c.rows())[..full.len()] == full[..] && c.screen().cursor_position() == (7, 0)
    })
    .await;
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, format!("{draft}abcde"));
}

/// Wide characters (CJK, emoji) take two columns each: one that does not
/// fit at the end of a row goes to the next, and editing among them keeps
/// the rows and the cursor right.
#[tokio::test]
async fn issue_18_a_draft_of_wide_characters_wraps_by_display_width() {
    // Issue 18, bug 1.
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::start_sized(&server.url, "ana", &[], &[], NARROW);
    let welcome = then(&CHAT_AT_40, &["ana@lobby> ".to_owned()]);
    ana.wait_for("the welcome and the prompt at 40 columns", |c| {
        c.screen_text() == welcome
    })
    .await;

    // 37 characters of two columns each, then an emoji.
    let draft = format!("{}中🙂", "中文".repeat(18));
    ana.press(&draft);
    // 11 + 14 * 2 = 39 columns: the 15th character goes to the next row.
    let rows = [
        format!("ana@lobby> {}", "中文".repeat(7)),
        "中文".repeat(10),
        "中文中🙂".to_owned(),
    ];
    let shown = then(&CHAT_AT_40, &rows);
    ana.wait_for("the wide draft on three rows", |c| {
        c.screen_text() == shown && c.screen().cursor_position() == (7, 8)
    })
    .await;

    // The emoji goes; four steps left reach the last character of the
    // second row; an `x` before it pushes it to the third row.
    ana.press(&format!("{BACKSPACE}{LEFT}{LEFT}{LEFT}{LEFT}x"));
    let edited = then(
        &CHAT_AT_40,
        &[
            rows[0].clone(),
            format!("{}中x", "中文".repeat(9)),
            "文中文中".to_owned(),
        ],
    );
    ana.wait_for("the x before the second row's last character", |c| {
        c.screen_text() == edited && c.screen().cursor_position() == (7, 0)
    })
    .await;
    ana.press(ENTER);
    let sent = format!("{}中x文中文中", "中文".repeat(16));
    assert_eq!(message_from(&mut bo, "ana").await, sent);
}

/// Ctrl-D on a line that is not empty deletes the character under the
/// cursor (nothing at the end of the line) and neither quits nor loses the
/// draft.
#[tokio::test]
async fn issue_18_ctrl_d_on_a_line_deletes_under_the_cursor() {
    // Issue 18, bug 2.
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;

    ana.press(&format!("abc{LEFT}{LEFT}{CTRL_D}"));
    ana.wait_for_cursor("ana@lobby> ac", 12).await;
    ana.press(&format!("{CTRL_E}{CTRL_D}!"));
    ana.wait_for_cursor("ana@lobby> ac!", 14).await;
    assert!(ana.exit.try_recv().is_err(), "the client quit");
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, "ac!");
}

/// The prompt names the room, and after `/join` the room's history comes
/// under a "history" divider, then who is there, like IRC's names reply.
#[tokio::test]
async fn issue_18_the_prompt_names_the_room_and_a_join_lists_who_is_there() {
    // Issue 18, "Rough edges to smooth": the room on screen.
    let server = TestServer::start(&[]).await;
    let (mut cy, _) = server.join("cy", "other").await;
    cy.send("said before ana came").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(&format!("/join other{ENTER}"));
    ana.wait_for_input("ana@other> ").await;
    ana.wait_for_row("in other: ana, cy").await;
    let rows = ana.screen_text();
    let at = |text: &str| {
        rows.iter()
            .position(|row| row == text)
            .unwrap_or_else(|| panic!("no row {text:?}: {rows:#?}"))
    };
    let divider = at("-- history");
    assert_eq!(at("HH:MM cy: said before ana came"), divider + 1);
    assert!(at("HH:MM -> ana joined other") > divider + 1);
    assert!(at("in other: ana, cy") > at("HH:MM -> ana joined other"));
    cy.send("live").await;
    ana.wait_for_row("cy: live").await;
    assert_eq!(
        ana.screen_text()
            .iter()
            .filter(|row| *row == "-- history")
            .count(),
        1,
        "live lines are not history"
    );
}

/// History from another day comes after its date (timestamps are `HH:MM`
/// only), today's lines after today's; a `who` that lists only some of the
/// names says how many are here.
#[tokio::test]
async fn issue_18_history_of_another_day_is_dated_and_a_long_who_says_how_many_more() {
    // Issue 18, "Rough edges to smooth": the date line, and `who` with `count`.
    let welcome = r#"{"type":"welcome","motd":"","name":"ana","room":"lobby","history":100,"limits":{"max_message_bytes":65536,"per_second":20,"burst":40}}"#;
    let now = chrono::Utc::now();
    let then = now - chrono::Duration::days(2);
    let ms = |t: chrono::DateTime<chrono::Utc>| u64::try_from(t.timestamp_millis()).unwrap();
    let old = serde_json::json!({
        "type": "message", "id": 1, "room": "lobby", "from": "bo", "text": "old news", "ts": ms(then),
    });
    let join = serde_json::json!({"type": "join", "room": "lobby", "name": "ana", "ts": ms(now)});
    let who = serde_json::json!({
        "type": "who", "room": "lobby", "count": 250, "names": ["ana", "bo"], "more": true,
    });
    let frames = vec![
        welcome.to_owned(),
        old.to_string(),
        join.to_string(),
        who.to_string(),
    ];
    let (url, server) = fake_server(frames).await;

    let mut ana = PtyClient::start(&url, "ana", &["--no-reconnect"], &[]);
    ana.wait_for_row("in lobby (250 here): ana, bo, ...").await;
    let date = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "-- {}",
            t.with_timezone(&chrono::Local).format("%A %-d %B %Y")
        )
    };
    let rows = ana.screen_text();
    let from = rows
        .iter()
        .position(|row| row == "-- history")
        .unwrap_or_else(|| panic!("no history divider: {rows:#?}"));
    assert_eq!(
        rows[from..from + 5],
        [
            "-- history".to_owned(),
            date(then),
            "HH:MM bo: old news".to_owned(),
            date(now),
            "HH:MM -> ana joined lobby".to_owned(),
        ]
    );
    drop(ana);
    server.abort();
}

/// While the server is away, the client says so on one row that each
/// attempt updates in place (not a row per attempt); a line typed meanwhile
/// is kept, said to be kept, and sent once back.
#[tokio::test]
async fn issue_18_reconnecting_is_one_row_and_a_line_typed_meanwhile_is_sent_once_back() {
    // Issue 18, "Rough edges to smooth": reconnection.
    let mut server = TestServer::start(&[]).await;
    let port = server.port;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    server.signal("TERM");
    assert!(server.wait().await.success());
    // Three failed attempts at least (about 1s, 1s, then 2s).
    ana.wait_for("the retry row after a few attempts", |c| {
        c.rows()
            .iter()
            .any(|row| row.starts_with("-- retrying in about 2s: cannot connect"))
    })
    .await;
    let retrying = |c: &PtyClient| {
        c.rows()
            .iter()
            .filter(|row| row.starts_with("-- retrying") || row.starts_with("-- connection lost"))
            .count()
    };
    assert_eq!(retrying(&ana), 1, "{:#?}", ana.rows());
    ana.press(&format!("typed while away{ENTER}"));
    ana.wait_for_row("-- not connected: that line will be sent once reconnected")
        .await;

    let server = TestServer::start_on("127.0.0.1", port, &[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    assert_eq!(message_from(&mut bo, "ana").await, "typed while away");
    ana.wait_for_row("ana: typed while away").await;
    ana.wait_for_row("-- reconnected; sending the line that waited")
        .await;
    assert_eq!(retrying(&ana), 0, "{:#?}", ana.rows());
    // Once: the next of ana's messages bo gets is the next she types.
    ana.press(&format!("and then this{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "and then this");
}

/// Ctrl-R finds older and older lines containing what is typed, and Enter
/// sends the one found; Escape gives the draft back.
#[tokio::test]
async fn issue_18_ctrl_r_searches_the_lines_sent_before() {
    // Issue 18, "Rough edges to smooth": keys.
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    for line in ["deploy one", "deploy two", "lunch"] {
        ana.press(&format!("{line}{ENTER}"));
        assert_eq!(message_from(&mut bo, "ana").await, line);
    }
    ana.press("draft");
    ana.press(CTRL_R);
    ana.wait_for_input("(search: ) draft").await;
    ana.press("\x1b");
    ana.wait_for_input("ana@lobby> draft").await;
    ana.press(&format!("{CTRL_U}{CTRL_R}dep"));
    ana.wait_for_input("(search: dep) deploy two").await;
    ana.press(CTRL_R);
    ana.wait_for_input("(search: dep) deploy one").await;
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, "deploy one");
    ana.wait_for_input("ana@lobby> ").await;
}

/// Tab completes the name of someone in the room (`bob: ` at the start of
/// the line, `bob ` elsewhere) and a command after `/`.
#[tokio::test]
async fn issue_18_tab_completes_names_and_commands() {
    // Issue 18, "New": completion.
    let server = TestServer::start(&[]).await;
    let (mut bob, _) = server.join("bob", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(&format!("bo{TAB}"));
    ana.wait_for_input("ana@lobby> bob: ").await;
    ana.press(&format!("hi, and cy{TAB}"));
    ana.wait_for_input("ana@lobby> bob: hi, and cy").await;
    let (_cy, _) = server.join("cy", "lobby").await;
    ana.wait_for_row("-> cy joined lobby").await;
    ana.press(TAB);
    ana.press(&format!("too{ENTER}"));
    assert_eq!(message_from(&mut bob, "ana").await, "bob: hi, and cy too");
    ana.press(&format!("/jo{TAB}"));
    ana.wait_for_cursor("ana@lobby> /join ", 17).await;
}

/// A paste arrives as one message however many lines it has, its tabs made
/// spaces; Alt-Enter puts a line break in a message; a paste over the
/// server's limit is refused at once in one line, and nothing is sent.
#[tokio::test]
async fn issue_18_a_paste_is_one_message_and_alt_enter_breaks_the_line() {
    // Issue 18, "New": multi-line messages, and a pasted Tab.
    let server = TestServer::start(&["--max-message-bytes", "100"]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(&pasted("one\ttwo\r\nthree"));
    ana.wait_for("the paste on two rows", |c| {
        c.row_of("ana@lobby> one    two").is_some() && c.input_row().1 == "three"
    })
    .await;
    ana.press(ENTER);
    assert_eq!(message_from(&mut bo, "ana").await, "one    two\nthree");

    ana.press(&format!("x{ALT_ENTER}y{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "x\ny");

    ana.press(&pasted(&"z".repeat(101)));
    ana.wait_for_row(
        "-- paste refused: 101 bytes, over the server's limit of 100 bytes for a message",
    )
    .await;
    ana.wait_for_input("ana@lobby> ").await;
    ana.press(&format!("after{ENTER}"));
    assert_eq!(
        message_from(&mut bo, "ana").await,
        "after",
        "nothing else was sent"
    );
}

/// The arguments of `/op`, `/register` and `/identify` are drawn as stars,
/// and those lines are not kept for Up.
#[tokio::test]
async fn issue_18_secrets_are_masked_and_not_kept_in_history() {
    // Issue 18, "New": secrets stay secret.
    let server = TestServer::start(&[]).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(&format!("hello{ENTER}"));
    assert_eq!(message_from(&mut bo, "ana").await, "hello");
    ana.press("/identify hunter2");
    ana.wait_for_input("ana@lobby> /identify *******").await;
    ana.press(ENTER);
    ana.wait_for_input("ana@lobby> ").await;
    ana.press(UP);
    ana.wait_for_input("ana@lobby> hello").await;
    ana.press(UP);
    ana.wait_for_input("ana@lobby> hello").await;
    assert!(
        !ana.screen().contents().contains("hunter2"),
        "{}",
        ana.screen().contents()
    );
}

/// After Ctrl-L, each key typed redraws the line in place: the scrollback
/// gets no copy of it.
#[tokio::test]
async fn issue_18_typing_after_ctrl_l_leaves_no_copies_in_the_scrollback() {
    // Issue 18, "Rough edges to smooth": keys.
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(CTRL_L);
    ana.wait_for("the prompt alone at the top", |c| {
        c.rows()[0] == "ana@lobby> " && c.rows()[1..].iter().all(String::is_empty)
    })
    .await;
    let mut typed = String::new();
    for c in ["a", "b", "c", "d"] {
        ana.press(c);
        typed.push_str(c);
        ana.wait_for_input(&format!("ana@lobby> {typed}")).await;
    }
    assert_eq!(ana.input_row().0, 0);
    ana.parser.screen_mut().set_scrollback(SCROLLBACK);
    let scrolled = ana.screen().scrollback();
    let above: Vec<String> = ana.rows()[..scrolled].to_vec();
    ana.parser.screen_mut().set_scrollback(0);
    let prompts = above
        .iter()
        .chain(&ana.rows())
        .filter(|row| row.starts_with("ana@lobby> "))
        .count();
    assert_eq!(prompts, 1, "scrollback: {above:#?}");
}

/// `/quit` says goodbye on screen before the client exits 0.
#[tokio::test]
async fn issue_18_quit_says_goodbye() {
    // Issue 18, "Rough edges to smooth".
    let server = TestServer::start(&[]).await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    ana.press(&format!("/quit{ENTER}"));
    let status = ana.wait_exit().await;
    assert!(status.success(), "{status:?}");
    ana.wait_for_row("-- you left lobby; goodbye").await;
}

/// A message that names you stands out, rings the bell once, and the
/// window's title counts such messages until you press a key; the title is
/// given back then, and on exit. `--no-bell` keeps the bell quiet.
#[tokio::test]
async fn issue_18_a_mention_is_highlighted_rings_once_and_is_counted_in_the_title() {
    // Issue 18, "New": mentions.
    for bell in [true, false] {
        let server = TestServer::start(&[]).await;
        // Ended by the server at the end, so that no key gives the title back first.
        let args: &[&str] = if bell {
            &["--no-reconnect"]
        } else {
            &["--no-reconnect", "--no-bell"]
        };
        let mut ana = PtyClient::ana(&server, args, &[]).await;
        let (mut bo, _) = server.join("bo", "lobby").await;
        bo.send("banana for ana_b").await;
        ana.wait_for_row("bo: banana for ana_b").await;
        assert_eq!(ana.parser.callbacks().bells, 0, "not a mention");
        bo.send("hey @ana, look").await;
        let row = ana.wait_for_row("bo: hey @ana, look").await;
        let highlighted = cells(ana.screen(), row, 6, "bo: hey @ana, look".len());
        assert!(
            highlighted.iter().all(|c| c.bgcolor() == Color::Idx(3)),
            "not highlighted"
        );
        bo.send("Ana?").await;
        ana.wait_for("the second mention in the title", |c| {
            c.parser.callbacks().titles.len() == 2
        })
        .await;
        let requests = ana.parser.callbacks();
        assert_eq!(requests.bells, if bell { 2 } else { 0 }, "{requests:?}");
        assert_eq!(
            requests.titles,
            ["(1) chat: mentioned", "(2) chat: mentioned"]
        );
        assert_eq!((requests.title_pushes, requests.title_pops), (1, 0));

        ana.press("x");
        ana.wait_for("the title given back at a key", |c| {
            c.parser.callbacks().title_pops == 1
        })
        .await;
        bo.send("ana again").await;
        ana.wait_for_row("bo: ana again").await;
        server.signal("TERM");
        assert_eq!(ana.wait_exit().await.exit_code(), 9);
        ana.wait_for("the title given back on exit", |c| {
            c.parser.callbacks().title_pops == 2
        })
        .await;
        assert_eq!(ana.parser.callbacks().title_pushes, 2);
    }
}

/// Ctrl-C on a server in a terminal: the terminal echoes `^C` where the
/// cursor is, and the log line that follows starts on a line of its own.
#[tokio::test]
async fn issue_18_the_servers_shutdown_line_starts_on_its_own_line_after_ctrl_c() {
    // Issue 18, "Rough edges to smooth".
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("opening a pseudo-terminal");
    let mut cmd = CommandBuilder::new(crate::support::SERVER);
    cmd.args(["--port", "0"]);
    cmd.env_remove("RUST_LOG");
    let mut child = pty.slave.spawn_command(cmd).expect("the server starts");
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().expect("the pty's reader");
    let (output_tx, mut output) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if output_tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut keys = pty.master.take_writer().expect("the pty's writer");
    let mut parser = vt100::Parser::new(
        ROWS.try_into().expect("rows"),
        200_u16.try_into().expect("cols"),
        0,
    );
    let mut wait_for = async |parser: &mut vt100::Parser, what: &str| {
        within(what, async {
            while !parser.screen().contents().contains(what) {
                let bytes = output.recv().await.expect("the server's output");
                parser.process(&bytes);
            }
        })
        .await;
    };
    wait_for(&mut parser, "in a browser").await;
    keys.write_all(CTRL_C.as_bytes()).expect("typing Ctrl-C");
    keys.flush().expect("typing Ctrl-C");
    wait_for(&mut parser, "shutting down").await;
    let rows: Vec<String> = parser.screen().rows(0, 200).collect();
    let log = rows
        .iter()
        .find(|row| row.contains("shutting down"))
        .expect("just seen");
    assert!(!log.contains("^C"), "{rows:#?}");
    assert!(rows.iter().any(|row| row.trim() == "^C"), "{rows:#?}");
    let _ = child.kill();
}

/// What a resume replays is marked as missed while away, not as history.
#[tokio::test]
async fn issue_18_a_resume_marks_what_was_missed_while_away() {
    // Issue 18, "Rough edges to smooth": replayed history marked.
    let server = TestServer::start(&[]).await;
    let mut proxy = crate::support::proxy::Proxy::start(server.port).await;
    let (mut bo, _) = server.join("bo", "lobby").await;
    let url = format!("ws://127.0.0.1:{}", proxy.port);
    let mut ana = PtyClient::start(&url, "ana", &[], &[]);
    ana.wait_for_prompt("ana").await;
    proxy.next_connection().await;
    proxy.hold_new();
    proxy.cut();
    proxy.next_connection().await;
    bo.send("said while ana was away").await;
    assert_eq!(message_from(&mut bo, "bo").await, "said while ana was away");
    proxy.forward_new();
    ana.wait_for_row("bo: said while ana was away").await;
    let rows = ana.screen_text();
    let at = rows
        .iter()
        .position(|row| row == "HH:MM bo: said while ana was away")
        .expect("just seen");
    assert_eq!(rows[at - 1], "-- missed while away", "{rows:#?}");
    assert!(!rows.contains(&"-- history".to_owned()), "{rows:#?}");
}

/// In a room whose arrivals are summed up, Tab asks the server for the
/// names that start with what is typed, since the client no longer hears
/// of each one.
#[tokio::test]
async fn issue_17_tab_in_a_big_room_completes_from_the_server() {
    // Issue 17, "Big-room reads": the client's completion uses `/who PREFIX`.
    let server = TestServer::start(&["--presence-limit", "1", "--presence-interval", "200"]).await;
    let (mut bob, _) = server.join("bob", "lobby").await;
    let mut ana = PtyClient::ana(&server, &[], &[]).await;
    let (_zoe, _) = server.join("zoe", "lobby").await;
    // Summed up with ana's own arrival or alone, by when the interval ends.
    ana.wait_for("zoe's arrival, summed up", |c| {
        c.rows().iter().any(|row| row.ends_with("zoe); 3 here"))
    })
    .await;
    ana.press(&format!("zo{TAB}"));
    ana.wait_for_input("ana@lobby> zoe: ").await;
    ana.press(&format!("hi{ENTER}"));
    assert_eq!(message_from(&mut bob, "ana").await, "zoe: hi");
}
