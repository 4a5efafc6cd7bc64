//! Issue 20: the documentation cannot drift from the program. Every flag of
//! `server --help` and `client --help` is in docs/operating.md's tables with
//! the same env variable and default (and every flag they list exists);
//! every relative link of the Markdown files resolves, anchors included;
//! docs/protocol.md's examples are what the code renders and what a text
//! client of the real server receives; CHANGELOG.md names the version Cargo
//! builds.
//!
//! How docs/protocol.md writes its examples, so that this test can read them:
//!
//! - A ` ```json ` block holds events, one JSON object per line; each must
//!   parse as [`chat::protocol::Event`].
//! - A ` ```text ` block is the text form of the events of the last
//!   ` ```json ` block above it in the same section: their
//!   [`Event::render_text`] joined by line breaks, in order.
//!   ` ```text sender ` is the same for the sender's copy
//!   ([`Event::render_text_for_sender`], which differs for `private`).
//! - Text that is not such a rendering (a refusal's body, say) is in a
//!   plain ` ``` ` block, which is not checked.
//!
//! The live tests then make each documented event happen on a real server,
//! with text clients, and require the frame received to be one of the
//! documented renderings, byte for byte but for a ban's end time; the
//! examples no test can make happen are listed, with the reason, in
//! [`NOT_MADE_LIVE`], and every other example must have been received.
//!
//! One file for the checks of the docs, since they share one small reader of
//! Markdown (headings and their anchors, tables, links, code blocks; its
//! lines and sections are in `support::markdown`, which readme.rs uses too).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use chat::protocol::Event;

use crate::support::client::CLIENT;
use crate::support::markdown::{Line, heading, lines, section};
use crate::support::{SERVER, TempDir, TestServer, WsClient, connect_from};

/// The repository's root, where the Markdown files are.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

// ---------------------------------------------------------------------------
// Reading Markdown: headings' anchors, tables and links, on top of
// support::markdown's lines, headings and sections.

/// `text` without its code spans' backticks, and with each link reduced to
/// its text: what GitHub shows of a heading.
fn shown_text(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let Some(end) = rest[at..].find(')') else {
            break;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out.chars()
        .filter(|&c| c != '`' && c != '[' && c != '*')
        .collect()
}

/// The anchor GitHub gives a heading: lower case, everything but letters,
/// digits, spaces, `-` and `_` dropped, spaces turned into `-`.
fn slug(heading: &str) -> String {
    shown_text(heading)
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown file, a repeated heading's with `-1`, `-2`….
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    for line in lines(markdown) {
        if let Some((_, text)) = heading(&line) {
            let base = slug(&text);
            let count = seen.entry(base.clone()).or_default();
            out.insert(if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            });
            *count += 1;
        }
    }
    out
}

/// `text` split on the `|` that are not inside a code span.
fn cells(row: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut in_span = false;
    for c in row
        .trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .chars()
    {
        match c {
            '`' => in_span = !in_span,
            '|' if !in_span => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("one cell at least").push(c);
    }
    out.into_iter().map(|cell| cell.trim().to_owned()).collect()
}

/// The first code span of `cell` (`` `--port` `` → `--port`).
fn first_span(cell: &str) -> Option<&str> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(&cell[start..start + len])
}

/// A table of a section: its header's cells, and its rows' cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// The first table among `lines`.
    fn first_in(lines: &[Line<'_>]) -> Table {
        let mut rows = lines
            .iter()
            .skip_while(|line| line.in_code || !line.text.trim_start().starts_with('|'))
            .take_while(|line| !line.in_code && line.text.trim_start().starts_with('|'))
            .map(|line| cells(line.text));
        let header = rows.next().expect("a table");
        let rows = rows.skip(1).collect();
        Table { header, rows }
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|cell| cell == name)
    }
}

// ---------------------------------------------------------------------------
// 1a. The flags: `--help` against docs/operating.md.

/// One flag as `--help` shows it.
#[derive(Debug)]
struct Flag {
    long: String,
    env: Option<String>,
    default: Option<String>,
}

/// The `--help` of `binary`, with no `CHAT_*` variable set (clap would show
/// their values).
fn help(binary: &str) -> String {
    let output = Command::new(binary)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap_or_else(|err| panic!("running {binary} --help: {err}"));
    assert!(output.status.success(), "{binary} --help failed");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The text between `[key: ` and its `]` in `entry`.
fn bracket<'a>(entry: &'a str, key: &str) -> Option<&'a str> {
    let start = entry.find(&format!("[{key}: "))? + key.len() + 3;
    let len = entry[start..].find(']')?;
    Some(&entry[start..start + len])
}

/// The flags and arguments `--help` lists (but `--help` and `--version`),
/// each with its env variable and default; an argument's "long" is its
/// `[NAME]`. Clap wraps the text anywhere, so each entry's lines are joined
/// and its white space collapsed before it is read.
fn flags(help: &str) -> Vec<Flag> {
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines().skip_while(|line| !line.ends_with(':')) {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if (1..=6).contains(&indent) && (trimmed.starts_with('-') || trimmed.starts_with('[')) {
            entries.push(String::new());
        }
        if let Some(entry) = entries.last_mut()
            && indent > 0
        {
            entry.push(' ');
            entry.push_str(trimmed);
        }
    }
    entries
        .into_iter()
        .map(|entry| entry.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter_map(|entry| {
            let long = entry
                .split_whitespace()
                .map(|word| word.trim_end_matches(','))
                .find(|word| word.starts_with("--") || word.starts_with('['))?
                .to_owned();
            if long == "--help" || long == "--version" {
                return None;
            }
            let env = bracket(&entry, "env").map(|env| env.trim_end_matches('=').to_owned());
            let default = bracket(&entry, "default").map(|d| d.trim_matches('"').to_owned());
            Some(Flag { long, env, default })
        })
        .collect()
}

/// The text of the section `title` of the Markdown file `file` (relative to
/// the repository's root), its lines joined; fails the test if there is none.
fn section_text(file: &str, title: &str) -> String {
    let markdown = read(&root().join(file));
    let lines =
        section(&markdown, title).unwrap_or_else(|| panic!("no section {title:?} in {file}"));
    let text: Vec<&str> = lines.iter().map(|line| line.text).collect();
    text.join("\n")
}

/// Environment variables a binary reads by itself rather than through clap,
/// so that `--help` does not show them: a flags table may name them.
const READ_OUTSIDE_CLAP: [(&str, &str); 2] = [
    ("--password-file", "CHAT_PASSWORD"),
    ("--no-color", "NO_COLOR"),
];

/// Checks `flags` against the first table of `section` (of `file`): each
/// flag has a row whose first code span starts with it, with the same env
/// variable and default (in `env` and `default` columns if the table has
/// them, else named in the row: `` `CHAT_X` ``, `default Y`); without a
/// default, the column shows no value (`none`). And each row names a flag
/// that exists (`--help`, `--version` and the URL argument included).
fn check_table(file: &str, section: &str, flags: &[Flag]) -> Vec<String> {
    let lines = lines(section);
    let table = Table::first_in(&lines);
    let (env_column, default_column) = (table.column("env"), table.column("default"));
    let mut wrong = Vec::new();
    let row_flag = |row: &Vec<String>| {
        first_span(&row[0])
            .and_then(|span| span.split_whitespace().next())
            .map(str::to_owned)
    };
    for flag in flags.iter().filter(|flag| flag.long.starts_with("--")) {
        let Some(row) = table
            .rows
            .iter()
            .find(|row| row_flag(row).as_deref() == Some(&flag.long))
        else {
            wrong.push(format!("{file}: no row for {}", flag.long));
            continue;
        };
        let whole = row.join(" | ");
        match (env_column, &flag.env) {
            (Some(column), env) => {
                let shown = first_span(&row[column]).map(str::to_owned);
                let outside = READ_OUTSIDE_CLAP
                    .iter()
                    .any(|&(long, var)| long == flag.long && shown.as_deref() == Some(var));
                if shown != *env && !(env.is_none() && outside) {
                    wrong.push(format!(
                        "{file}: {} has env {shown:?}, --help {env:?}",
                        flag.long
                    ));
                }
            }
            (None, Some(env))
                if !whole.contains(&format!("`{env}`")) && !whole.contains(&format!("({env})")) =>
            {
                wrong.push(format!(
                    "{file}: the row of {} does not name {env}",
                    flag.long
                ));
            }
            (None, _) => {}
        }
        match (default_column, &flag.default) {
            (Some(column), default) => {
                let cell = &row[column];
                let shown = first_span(cell).map(str::to_owned);
                // Without a default, any word but a value: `none`, `off`, `—`.
                let agrees = match default {
                    Some(_) => shown == *default,
                    None => shown.is_none(),
                };
                if !agrees {
                    wrong.push(format!(
                        "{file}: {} has default {cell:?}, --help {default:?}",
                        flag.long
                    ));
                }
            }
            (None, Some(default))
                if !whole.contains(&format!("default {default}"))
                    && !whole.contains(&format!("default `{default}`")) =>
            {
                wrong.push(format!(
                    "{file}: the row of {} does not say default {default}",
                    flag.long
                ));
            }
            (None, _) => {}
        }
    }
    for row in &table.rows {
        match row_flag(row) {
            Some(long)
                if flags.iter().any(|flag| flag.long == long)
                    || ["--help", "--version"].contains(&long.as_str())
                    || flags.iter().any(|flag| flag.long == format!("[{long}]")) => {}
            other => wrong.push(format!("{file}: the row of {other:?} is no flag of --help")),
        }
    }
    // A positional argument's default is said in the section's text.
    for flag in flags.iter().filter(|flag| flag.long.starts_with('[')) {
        if let Some(default) = &flag.default
            && !section.contains(&format!("`{default}`"))
        {
            wrong.push(format!(
                "{file}: the default of {} ({default}) is not said",
                flag.long
            ));
        }
    }
    wrong
}

/// Every flag of `server --help`, with its env variable and default, is a
/// row of docs/operating.md's table, and every row is a flag.
#[test]
fn issue_20_the_servers_flags_table_is_its_help() {
    let flags = flags(&help(SERVER));
    assert!(flags.len() > 30, "read only {flags:?}");
    let section = section_text("docs/operating.md", "The server's flags");
    let wrong = check_table("docs/operating.md", &section, &flags);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every flag of `client --help`, with its env variable and default, is a
/// row of the client's table (and the URL's default is said), and every row
/// is a flag.
#[test]
fn issue_20_the_clients_flags_table_is_its_help() {
    let flags = flags(&help(CLIENT));
    assert!(
        flags.iter().any(|flag| flag.long == "--name"),
        "read only {flags:?}"
    );
    let section = section_text("docs/operating.md", "The client's flags");
    let wrong = check_table("docs/operating.md", &section, &flags);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------
// 1b. Links: every relative link of every Markdown file resolves.

/// The project's Markdown files: those at the top, and in docs/, bench/ and
/// screenshot/.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["", "docs", "bench", "screenshot"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The targets of the links and images of a Markdown file, outside code
/// blocks and code spans: `[text](target)`, `![alt](target)` and
/// `[label]: target`, without a title.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines(markdown).iter().filter(|line| !line.in_code) {
        // Code spans hold examples, not links.
        let text: String = line
            .text
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            // A target may hold balanced parentheses (a Wikipedia address).
            let mut depth = 0;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => return true,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .map_or(rest.len(), |(i, _)| i);
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        let trimmed = text.trim_start();
        if trimmed.starts_with('[')
            && let Some(at) = trimmed.find("]: ")
        {
            out.push(trimmed[at + 3..].to_owned());
        }
    }
    out.into_iter()
        .map(|target| {
            let target = target.trim();
            let target = target.split_once(" \"").map_or(target, |(t, _)| t);
            target
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
        .collect()
}

/// Every relative link in README.md, docs/, BENCHMARKS.md, CHANGELOG.md
/// (and any Markdown file in bench/ or screenshot/) names a file that exists,
/// and its `#anchor`, if any, a heading of that file by GitHub's rules.
#[test]
fn issue_20_every_relative_link_resolves() {
    let files = markdown_files();
    for name in [
        "README.md",
        "docs/protocol.md",
        "docs/operating.md",
        "docs/internals.md",
    ] {
        assert!(
            files.contains(&root().join(name)),
            "{name} not among {files:?}"
        );
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let markdown = read(file);
        let shown = file
            .strip_prefix(root())
            .expect("under the root")
            .display()
            .to_string();
        for target in link_targets(&markdown) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a file's directory").join(path)
            };
            if !resolved.exists() {
                broken.push(format!("{shown}: {target}: no file {}", resolved.display()));
                continue;
            }
            if !anchor.is_empty() && !anchors(&read(&resolved)).contains(anchor) {
                broken.push(format!(
                    "{shown}: {target}: no heading with the anchor #{anchor}"
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// GitHub's anchors, as the links above rely on them.
#[test]
fn issue_20_anchors_follow_githubs_rules() {
    let markdown = "# Waiting for a name: `wait=1`\n## Several servers (`--redis-url`)\n\
                    ```\n# not a heading\n```\n## The client's flags\n### Notes\n### Notes\n";
    let expected = [
        "notes",
        "notes-1",
        "several-servers---redis-url",
        "the-clients-flags",
        "waiting-for-a-name-wait1",
    ];
    assert_eq!(anchors(markdown), expected.map(str::to_owned).into());
}

// ---------------------------------------------------------------------------
// 1c. docs/protocol.md's examples (the convention is at the top of the file).

/// One documented rendering: the events of a ` ```json ` block and the text
/// block shown with them.
#[derive(Debug)]
struct Example {
    /// The heading it is under, to say where a wrong one is.
    section: String,
    events: Vec<Event>,
    /// Whether the text block is the sender's copy (` ```text sender `).
    sender: bool,
    text: String,
}

impl Example {
    /// What the code renders for the events: one text per event.
    fn rendered(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|event| {
                if self.sender {
                    event.render_text_for_sender()
                } else {
                    event.render_text()
                }
            })
            .collect()
    }
}

/// The examples of docs/protocol.md. Fails the test on a ` ```json ` line
/// that is not an event, or a ` ```text ` block with no ` ```json ` block
/// above it in its section.
fn protocol_examples() -> Vec<Example> {
    let markdown = read(&root().join("docs/protocol.md"));
    let mut examples = Vec::new();
    let mut section = String::new();
    let mut events: Option<Vec<Event>> = None;
    let mut block: Option<(String, Vec<&str>)> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut block, fence) {
            (None, Some(info)) => block = Some((info.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => {
                let (info, body) = block.take().expect("inside a block");
                let mut words = info.split_whitespace();
                match words.next() {
                    Some("json") => {
                        let parsed = body
                            .iter()
                            .map(|line| {
                                serde_json::from_str(line).unwrap_or_else(|err| {
                                    panic!(
                                        "docs/protocol.md, {section}: not an event ({err}): {line}"
                                    )
                                })
                            })
                            .collect();
                        events = Some(parsed);
                    }
                    Some("text") => {
                        let events = events.clone().unwrap_or_else(|| {
                            panic!("docs/protocol.md, {section}: a text block with no json block above it")
                        });
                        examples.push(Example {
                            section: section.clone(),
                            events,
                            sender: words.next() == Some("sender"),
                            text: body.join("\n"),
                        });
                    }
                    _ => {}
                }
            }
            (Some((_, body)), None) => body.push(line),
            (None, None) => {
                if let Some((_, text)) = heading(&Line {
                    text: line,
                    in_code: false,
                }) {
                    section = text;
                    events = None;
                }
            }
        }
    }
    assert!(block.is_none(), "docs/protocol.md ends inside a code block");
    examples
}

/// Every event example of docs/protocol.md parses as an `Event` (those in
/// the running text too), and the text shown with it is what
/// `Event::render_text` (the server's text format) makes of it.
#[test]
fn issue_20_the_protocols_examples_are_what_the_code_renders() {
    let markdown = read(&root().join("docs/protocol.md"));
    let mut rest = markdown.as_str();
    while let Some(at) = rest.find("`{\"type\":") {
        rest = &rest[at + 1..];
        let end = rest.find('`').expect("a code span ends");
        let span = &rest[..end];
        if let Err(err) = serde_json::from_str::<Event>(span) {
            panic!("docs/protocol.md: not an event ({err}): {span}");
        }
        rest = &rest[end + 1..];
    }
    let examples = protocol_examples();
    let kinds: BTreeSet<&str> = examples.iter().map(|e| e.section.as_str()).collect();
    assert!(kinds.len() >= 20, "examples found only in {kinds:?}");
    for example in &examples {
        assert_eq!(
            example.rendered().join("\n"),
            example.text,
            "docs/protocol.md, {}: the text shown is not the rendering of {:?}",
            example.section,
            example.events
        );
    }
}

/// The documented renderings no test here can make happen, and why.
const NOT_MADE_LIVE: [(&str, &str); 2] = [
    (
        "-- 12 joined (ana, bo, cy, di, ed, +7), 3 left (fy, gu, hal); 1,034 here",
        "a room of 1,034 people (tests/it/presence.rs checks the summaries of smaller ones)",
    ),
    (
        "in lobby (1,034 here): ana, anabel, ...",
        "a room of 1,034 people (tests/it/presence.rs checks paged who)",
    ),
];

/// `text` with every time of day (`2026-12-03 10:15:00 UTC`) as `WHEN`: a
/// ban's end differs from the example's.
fn untimed_text(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd UTC";
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let matches = bytes.len() - i >= SHAPE.len()
            && SHAPE
                .iter()
                .zip(&bytes[i..])
                .all(|(&shape, &b)| match shape {
                    b'd' => b.is_ascii_digit(),
                    _ => b == shape,
                });
        if matches {
            out.push_str("WHEN");
            i += SHAPE.len();
        } else {
            let c = text[i..].chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The renderings docs/protocol.md shows (those of its JSON examples, which
/// the test above holds equal to the text shown with them), and those a
/// text client has been seen to receive.
struct Shown {
    documented: BTreeSet<String>,
    seen: BTreeSet<String>,
}

impl Shown {
    fn new() -> Self {
        let documented = protocol_examples()
            .iter()
            .flat_map(Example::rendered)
            .map(|text| untimed_text(&text))
            .collect();
        Self {
            documented,
            seen: BTreeSet::new(),
        }
    }

    /// Asserts that `wanted` is a documented rendering, then reads `client`'s
    /// frames up to one that is exactly `wanted` (but for times), and counts
    /// it as seen.
    async fn expect(&mut self, client: &mut WsClient, wanted: &str) {
        let wanted = untimed_text(wanted);
        assert!(
            self.documented.contains(&wanted),
            "docs/protocol.md shows no {wanted:?}"
        );
        client
            .text_matching(&format!("the frame {wanted:?}"), |text| {
                untimed_text(text) == wanted
            })
            .await;
        self.seen.insert(wanted);
    }

    /// Every documented rendering was received, but for [`NOT_MADE_LIVE`].
    fn assert_all_seen(&self) {
        let exempt: BTreeSet<String> = NOT_MADE_LIVE
            .iter()
            .map(|(text, _)| (*text).to_owned())
            .collect();
        let unseen: Vec<&String> = self
            .documented
            .iter()
            .filter(|text| !self.seen.contains(*text) && !exempt.contains(*text))
            .collect();
        assert!(
            unseen.is_empty(),
            "documented but never received: {unseen:#?}"
        );
        for text in &exempt {
            assert!(
                self.documented.contains(text),
                "{text:?} is no longer documented"
            );
        }
    }
}

/// A text client (the server's default format) at `path_and_query`.
async fn text_client(server: &TestServer, path_and_query: &str) -> WsClient {
    WsClient::connect(&server.url_for(path_and_query)).await
}

/// Reads `client`'s frames up to exactly `wanted`: a frame the test needs
/// to have passed, not a documented one.
async fn pass(client: &mut WsClient, wanted: &str) {
    client
        .text_matching(&format!("the frame {wanted:?}"), |text| text == wanted)
        .await;
}

/// The events of docs/protocol.md happen on a real server, and a text
/// client receives each exactly as the page shows it (a ban's end time
/// aside): welcome, message, action, join, leave, nick, who, rooms, help,
/// error, private, topic, kick, mute, ban, ignore, op, the registrations,
/// gap and bans.
#[tokio::test]
async fn issue_20_a_text_client_receives_what_the_protocol_shows() {
    let mut shown = Shown::new();
    let data = TempDir::new();
    let server = TestServer::start(&["--op-token", "secret", "--data-dir", data.root()]).await;

    let mut ana = text_client(&server, "/lobby?name=ana").await;
    shown
        .expect(
            &mut ana,
            "Welcome to chat! Type a message\nyou are ana in lobby; type /help for commands",
        )
        .await;
    let mut bo = text_client(&server, "/lobby?name=bo").await;
    pass(&mut bo, "-> bo joined lobby").await;
    shown.expect(&mut ana, "-> bo joined lobby").await;

    ana.send("hi").await;
    shown.expect(&mut bo, "ana: hi").await;
    ana.send("/me waves").await;
    shown.expect(&mut bo, "* ana waves").await;
    ana.send("/who").await;
    shown.expect(&mut ana, "in lobby: ana, bo").await;
    ana.send("/op secret").await;
    shown.expect(&mut ana, "-- you are now an operator").await;
    ana.send("/who").await;
    shown.expect(&mut ana, "in lobby: @ana, bo").await;
    ana.send("/msg bo psst").await;
    shown.expect(&mut bo, "[private] ana: psst").await;
    shown.expect(&mut ana, "[private to bo] ana: psst").await;
    ana.send("/help").await;
    let help = shown
        .documented
        .iter()
        .find(|text| text.starts_with("commands:"))
        .expect("a documented /help")
        .clone();
    shown.expect(&mut ana, &help).await;
    ana.send("/nick bo").await;
    shown
        .expect(&mut ana, "! the name 'bo' is taken; pick another")
        .await;
    ana.send("/ignore bo").await;
    shown
        .expect(&mut ana, "-- you ignore bo now (/unignore bo to undo)")
        .await;
    ana.send("/unignore bo").await;
    shown.expect(&mut ana, "-- you no longer ignore bo").await;

    // Every client here comes from 127.0.0.1, so a mute or a ban follows
    // the name alone, and the operator's copy says so.
    ana.send("/mute bo 10m").await;
    shown.expect(&mut bo, "-- ana muted bo for 600 s").await;
    ana.send("/unmute bo").await;
    shown.expect(&mut bo, "-- ana unmuted bo").await;
    shown.expect(&mut ana, "-- ana unmuted bo").await;
    ana.send("/mute bo").await;
    shown.expect(&mut bo, "-- ana muted bo until unmuted").await;
    shown
        .expect(
            &mut ana,
            "-- ana muted bo until unmuted; 1 other person connected now shares their address: only the name is affected",
        )
        .await;
    ana.send("/unmute bo").await;
    pass(&mut bo, "-- ana unmuted bo").await;

    ana.send("/topic Rust, mostly").await;
    shown
        .expect(&mut bo, "-- ana set the topic: Rust, mostly")
        .await;
    bo.send("/topic").await;
    shown
        .expect(&mut bo, "-- topic of lobby: Rust, mostly")
        .await;
    let mut cy = text_client(&server, "/lobby?name=cy").await;
    shown
        .expect(
            &mut cy,
            "Welcome to chat! Type a message\nyou are cy in lobby; type /help for commands\ntopic: Rust, mostly",
        )
        .await;
    pass(&mut cy, "-> cy joined lobby").await;

    ana.send("/ban bo").await;
    shown
        .expect(
            &mut ana,
            "-- bo was banned by ana until unbanned; 2 other people connected now share their address: only the name is affected",
        )
        .await;
    assert_eq!(bo.expect_close().await.0, 4003);
    ana.send("/unban bo").await;
    shown.expect(&mut ana, "-- ana lifted the ban on bo").await;

    let mut bo = text_client(&server, "/lobby?name=bo").await;
    pass(&mut bo, "-> bo joined lobby").await;
    ana.send("/kick bo spamming").await;
    shown
        .expect(&mut bo, "-- bo was kicked by ana (spamming)")
        .await;
    assert_eq!(bo.expect_close().await.0, 4001);

    let mut bo = text_client(&server, "/lobby?name=bo").await;
    pass(&mut bo, "-> bo joined lobby").await;
    cy.send("/join rust").await;
    pass(&mut cy, "-> cy joined rust").await;
    ana.send("/rooms").await;
    shown.expect(&mut ana, "rooms: lobby (2), rust (1)").await;
    bo.send("/quit bye").await;
    shown.expect(&mut ana, "<- bo left lobby (quit: bye)").await;

    let _first = text_client(&server, "/lobby").await;
    let _second = text_client(&server, "/lobby").await;
    let mut third = text_client(&server, "/lobby").await;
    pass(&mut third, "-> guest-3 joined lobby").await;
    third.send("/nick bo").await;
    shown
        .expect(&mut ana, "-- guest-3 is now known as bo")
        .await;

    ana.send("/register password1").await;
    shown
        .expect(
            &mut ana,
            "-- ana is registered to you; /identify ana PASSWORD takes it back",
        )
        .await;
    let mut again = text_client(&server, "/lobby").await;
    pass(&mut again, "-> guest-4 joined lobby").await;
    again.send("/identify ana password1").await;
    shown
        .expect(&mut again, "-- you are identified as ana")
        .await;
    assert_eq!(ana.expect_close().await.0, 4004);
    again.send("/unregister").await;
    shown
        .expect(&mut again, "-- ana is no longer registered")
        .await;
    again.send("/register password1").await;
    pass(
        &mut again,
        "-- ana is registered to you; /identify ana PASSWORD takes it back",
    )
    .await;
    third.send("/op secret").await;
    pass(&mut third, "-- you are now an operator").await;
    third.send("/unregister ana").await;
    shown
        .expect(&mut third, "-- bo unregistered the name ana")
        .await;
    shown
        .expect(&mut again, "-- bo unregistered the name ana")
        .await;

    // A gap, and bans with an address: the server trusts 127.0.0.1 as a
    // proxy, so that bo can come from 203.0.113.2.
    let server = TestServer::start(&[
        "--op-token",
        "secret",
        "--history",
        "3",
        "--trusted-proxy",
        "127.0.0.1/32",
    ])
    .await;
    let mut ana = text_client(&server, "/lobby?name=ana").await;
    for n in 1..=20 {
        ana.send(&format!("m{n}")).await;
    }
    pass(&mut ana, "ana: m20").await;
    let mut late = text_client(&server, "/lobby?name=late&since=0").await;
    shown.expect(&mut late, "... 17 messages missed").await;

    ana.send("/op secret").await;
    pass(&mut ana, "-- you are now an operator").await;
    let mut bo = connect_from(&server, "/lobby?name=bo", Some("203.0.113.2")).await;
    pass(&mut bo, "-> bo joined lobby").await;
    ana.send("/ban bo 1h spamming").await;
    shown
        .expect(
            &mut bo,
            "-- bo was banned by ana until 2025-12-03 10:00:00 UTC (spamming)",
        )
        .await;
    ana.send("/ban cy").await;
    ana.send("/bans").await;
    shown
        .expect(
            &mut ana,
            "bans:\n  bo (name and 203.0.113.2) until 2025-12-03 10:00:00 UTC by ana: spamming\n  cy (name only) until unbanned by ana",
        )
        .await;

    shown.assert_all_seen();
}

// ---------------------------------------------------------------------------
// 2. The version: Cargo's, the binaries', the changelog's and the docs'.

/// CHANGELOG.md's newest release is Cargo's version (0.2.0), which
/// `--version` prints, and docs/operating.md says so.
#[test]
fn issue_20_the_version_is_the_changelogs() {
    // What the binaries print is `shutdown::issue_18_version_names_the_binary`'s.
    let version = env!("CARGO_PKG_VERSION");
    let changelog = read(&root().join("CHANGELOG.md"));
    let newest = lines(&changelog)
        .iter()
        .filter_map(heading)
        .find(|(level, text)| *level == 2 && !text.starts_with("[Unreleased]"))
        .map(|(_, text)| text)
        .expect("a release in CHANGELOG.md");
    assert!(
        newest.starts_with(&format!("[{version}] - ")),
        "CHANGELOG.md's newest release is {newest:?}, Cargo's version {version}"
    );
    let operating = read(&root().join("docs/operating.md"));
    assert!(
        operating.contains(&format!("`server {version}`")),
        "docs/operating.md does not say that --version prints server {version}"
    );
}
