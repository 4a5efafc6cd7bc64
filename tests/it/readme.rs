//! The README's quick start, run as a newcomer would run it: every shell
//! command of its "Install and first run" section (the ```sh blocks there)
//! is either run here, against the binaries of the test build, or marked in
//! the README itself as not run, with the reason.
//!
//! The marker is a trailing comment, `# not run by the tests: REASON`, for
//! what a test must not do (`cargo build`, `cargo install`: no `cargo` inside
//! `cargo test`). A command that is run is `server` or `client` (bare, as
//! after `cargo install`, or `target/release/…`) and plain words; anything
//! else fails the test, so that the README cannot show a command nobody ran.
//! The server is given `--port 0`, and each client the port it printed and
//! one line on its input; each client must print what a person would see:
//! the welcome, the room's history, its own join and its own line, and exit 0.

use std::collections::HashMap;

use crate::support::TestServer;
use crate::support::client::run_client;
use crate::support::markdown::section;

/// The README's section whose commands are run.
const SECTION: &str = "## Install and first run";

/// The trailing comment that marks a command as not run, before its reason.
const NOT_RUN: &str = "# not run by the tests:";

/// One command of the quick start.
#[derive(Debug, PartialEq)]
enum Step {
    /// `server ARGS`, and what its comment says it prints first (`# prints: …`).
    Server {
        args: Vec<String>,
        prints: Option<String>,
    },
    /// `client ARGS`.
    Client { args: Vec<String> },
    /// A command marked as not run, and why.
    NotRun { command: String, reason: String },
}

/// The commands of `readme`'s quick start, in order. Panics, naming the
/// line, on a command that is neither one this test runs nor marked.
fn quick_start(readme: &str) -> Vec<Step> {
    let title = SECTION.trim_start_matches("## ");
    let lines =
        section(readme, title).unwrap_or_else(|| panic!("the README has no section {SECTION:?}"));
    let mut steps = Vec::new();
    let mut in_sh = false;
    // Outside code blocks is prose; the fences and what is between them count.
    for line in lines
        .iter()
        .filter(|line| line.in_code)
        .map(|line| line.text)
    {
        if line.starts_with("```") {
            assert!(
                in_sh || line == "```" || line == "```sh",
                "{SECTION}: a {line} block; commands there go in ```sh blocks, which this test runs"
            );
            in_sh = !in_sh && line == "```sh";
            continue;
        }
        if in_sh && !line.trim().is_empty() {
            steps.push(step(line));
        }
    }
    steps
}

/// What the README line `line` asks for.
fn step(line: &str) -> Step {
    if let Some((command, reason)) = line.split_once(NOT_RUN) {
        assert!(
            !reason.trim().is_empty(),
            "{SECTION}: `{line}` is marked as not run without saying why"
        );
        return Step::NotRun {
            command: command.trim().to_owned(),
            reason: reason.trim().to_owned(),
        };
    }
    let (command, comment) = match line.find(" #") {
        Some(at) => (&line[..at], Some(line[at + 2..].trim())),
        None => (line, None),
    };
    if command.contains(|c| "'\"$`\\|&;<>()*?~=".contains(c)) {
        unrunnable(line, "needs a shell");
    }
    let mut words = command.split_whitespace().map(str::to_owned);
    let program = words.next().unwrap_or_default();
    let args = words.collect();
    match program.as_str() {
        "server" | "target/release/server" => Step::Server {
            args,
            prints: comment
                .and_then(|c| c.strip_prefix("prints:"))
                .map(|p| p.trim().to_owned()),
        },
        "client" | "target/release/client" => Step::Client { args },
        _ => unrunnable(line, "is not run by this test"),
    }
}

/// Fails the test on `line`, a command it cannot run, saying `why`.
fn unrunnable(line: &str, why: &str) -> ! {
    panic!(
        "{SECTION}: `{line}` {why}: make it `server …` or `client …`, or mark it `{NOT_RUN} REASON`"
    )
}

/// The value that follows `flag` in `args`, if any.
fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|arg| arg == flag)?;
    args.get(at + 1).map(String::as_str)
}

/// The quick start, run: the server, then each client with a line of its
/// own, each printing the welcome, what the room said before, its own join
/// and its own line; then the server stops cleanly on SIGTERM.
#[tokio::test]
async fn the_readme_quick_start_runs_as_it_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("reading README.md");
    let steps = quick_start(&readme);
    assert!(
        matches!(
            steps.first(),
            Some(Step::NotRun { .. } | Step::Server { .. })
        ) && steps.iter().any(|s| matches!(s, Step::Server { .. }))
            && steps.iter().any(|s| matches!(s, Step::Client { .. })),
        "{SECTION} should start a server, then clients: {steps:#?}"
    );

    let mut server: Option<TestServer> = None;
    // What each room has heard so far: the history the next client is shown.
    let mut heard: HashMap<String, String> = HashMap::new();
    for step in steps {
        match step {
            Step::NotRun { .. } => {}
            Step::Server { args, prints } => {
                assert!(server.is_none(), "{SECTION} starts two servers");
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let started = TestServer::start(&args).await;
                if let Some(prints) = prints {
                    let port = format!(":{}", started.port);
                    assert_eq!(
                        format!("listening on {}", started.url),
                        prints.replace(":8080", &port),
                        "what the README says the server prints first"
                    );
                }
                server = Some(started);
            }
            Step::Client { mut args } => {
                let server = server
                    .as_ref()
                    .unwrap_or_else(|| panic!("{SECTION}: a client before the server"));
                let name = value_of(&args, "--name")
                    .unwrap_or_else(|| panic!("{SECTION}: a client without --name: {args:?}"))
                    .to_owned();
                let room = value_of(&args, "--room").unwrap_or("lobby").to_owned();
                args.extend(["--port".to_owned(), server.port.to_string()]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let said = format!("{name}: hello from {name}\n");
                let run = run_client(&args, &format!("hello from {name}\n")).await;

                let history = heard.entry(room.clone()).or_default();
                assert_eq!(
                    run.status.code(),
                    Some(0),
                    "client {args:?}: stdout {:?}, stderr {:?}",
                    run.stdout,
                    run.stderr
                );
                assert_eq!(run.stderr, "", "client {args:?}");
                assert_eq!(
                    run.stdout,
                    format!(
                        "Welcome to chat! Type a message\n\
                         you are {name} in {room}; type /help for commands\n\
                         {history}-> {name} joined {room}\n{said}"
                    ),
                    "client {args:?}"
                );
                history.push_str(&said);
            }
        }
    }

    let mut server = server.expect("the quick start starts a server");
    server.signal("TERM");
    assert!(
        server.wait().await.success(),
        "the server's exit on SIGTERM"
    );
    assert_eq!(
        server.rest_of_stdout().await,
        format!("open http://127.0.0.1:{}/ in a browser\n", server.port),
        "the server's second line, then nothing"
    );
}

/// The marker is honoured and required: a command this test cannot run is
/// accepted only with its reason, and a bare one fails, naming the line.
#[test]
fn a_command_is_run_or_marked_with_its_reason() {
    let readme = "# x\n\n## Install and first run\n\n```sh\n\
                  cargo build --release   # not run by the tests: they build their own\n\
                  server   # prints: listening on ws://127.0.0.1:8080\n\
                  client --name ana    # terminal 2\n```\n\n## Next\n\n```sh\ncargo run\n```\n";
    assert_eq!(
        quick_start(readme),
        [
            Step::NotRun {
                command: "cargo build --release".to_owned(),
                reason: "they build their own".to_owned()
            },
            Step::Server {
                args: vec![],
                prints: Some("listening on ws://127.0.0.1:8080".to_owned())
            },
            Step::Client {
                args: vec!["--name".to_owned(), "ana".to_owned()]
            },
        ]
    );

    for (line, complaint) in [
        ("cargo build --release", "is not run by this test"),
        (
            "cargo build   # not run by the tests:",
            "without saying why",
        ),
        ("printf 'hi\\n' | client", "needs a shell"),
    ] {
        let readme = format!("## Install and first run\n```sh\n{line}\n```\n");
        let failed = std::panic::catch_unwind(|| quick_start(&readme))
            .expect_err(line)
            .downcast::<String>()
            .expect("a panic message");
        assert!(failed.contains(complaint), "{line}: {failed}");
    }
}
