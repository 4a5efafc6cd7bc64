//! Starting and stopping the server: the first stdout line, signals, a taken
//! port, and the `CHAT_*` environment fallbacks of its flags.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chat::protocol::Event;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::support::{TestServer, WsClient, within};

/// How long a server with well-behaved clients may take to exit after a signal.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(3);

/// The `server` binary with nothing inherited that would change what it does
/// (`CHAT_*` and `RUST_LOG`), killed when dropped; the caller adds arguments,
/// environment and pipes.
pub(crate) fn server_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            command.env_remove(key);
        }
    }
    command
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Spawns `command` with stdout piped, and returns it with its stdout reader
/// and its first stdout line, exactly as printed (newline included).
pub(crate) async fn spawn_and_read_first_line(
    mut command: Command,
) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    within("the server's first line", stdout.read_line(&mut first))
        .await
        .expect("reading the server's stdout");
    (child, stdout, first)
}

/// The port of a first line `listening on ws://127.0.0.1:PORT\n`, failing the
/// test if the line has any other form.
pub(crate) fn port_of_first_line(first: &str) -> u16 {
    let port = first
        .strip_prefix("listening on ws://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
    assert!(
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        "not a port in {first:?}"
    );
    port.parse().expect("a port number")
}

/// Connects three JSON clients (two in lobby, one in rust), sends `signal`, and
/// checks that each gets close 1001 and the server exits 0 promptly.
async fn signal_closes_everyone_with_1001_and_exits_0(signal: &str) {
    let mut server = TestServer::start(&[]).await;
    let (ana, _) = server.join("ana", "lobby").await;
    let (bo, _) = server.join("bo", "lobby").await;
    let (cy, _) = server.join("cy", "rust").await;

    let start = Instant::now();
    server.signal(signal);
    for (name, mut client) in [("ana", ana), ("bo", bo), ("cy", cy)] {
        let (code, _reason) = client.expect_close().await;
        assert_eq!(code, 1001, "{name}'s close code after SIG{signal}");
    }
    let status = server.wait().await;
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(0), "exit status after SIG{signal}");
    assert!(
        elapsed < SHUTDOWN_BOUND,
        "the server took {elapsed:?} to exit after SIG{signal}"
    );
}

/// SIGTERM closes every client, in every room, with 1001 and the server exits 0.
#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_exits_0() {
    signal_closes_everyone_with_1001_and_exits_0("TERM").await;
}

/// SIGINT (Ctrl-C) closes every client, in every room, with 1001 and the server exits 0.
#[tokio::test]
async fn sigint_closes_every_client_with_1001_and_exits_0() {
    signal_closes_everyone_with_1001_and_exits_0("INT").await;
}

/// Issue 17, restart storms: at shutdown the 50 people of a room (under
/// `--presence-limit`, so departures would be told one by one) each get close
/// 1001 within the shutdown bound, and none reads a `leave` before it: they
/// are all leaving, to come back to the next server.
#[tokio::test]
async fn issue_17_shutdown_closes_a_room_of_50_with_1001_and_no_leave_notices() {
    const PEOPLE: usize = 50;
    let mut server = TestServer::start(&[]).await;
    let mut people = Vec::new();
    for n in 0..PEOPLE {
        let (client, _welcome) = server.join(&format!("p{n}"), "storm").await;
        people.push(client);
    }
    // Everyone has read the last arrival: what comes after it is the shutdown's.
    let last = format!("p{}", PEOPLE - 1);
    for client in &mut people {
        client
            .event_matching(
                "the last arrival",
                |e| matches!(e, Event::Join { name, .. } if *name == last),
            )
            .await;
    }

    let start = Instant::now();
    server.signal("TERM");
    for (n, client) in people.iter_mut().enumerate() {
        let (code, _, read) = client.texts_until_close().await;
        assert_eq!(code, 1001, "p{n}'s close code");
        assert!(
            start.elapsed() < SHUTDOWN_BOUND,
            "p{n} was closed {:?} after SIGTERM",
            start.elapsed()
        );
        assert_eq!(
            read,
            Vec::<String>::new(),
            "p{n} read this during the shutdown"
        );
    }
    assert_eq!(server.wait().await.code(), Some(0));
}

/// A server nobody is connected to exits 0 promptly on SIGTERM.
#[tokio::test]
async fn sigterm_with_no_clients_exits_0() {
    let mut server = TestServer::start(&[]).await;
    let start = Instant::now();
    server.signal("TERM");
    let status = server.wait().await;
    assert_eq!(status.code(), Some(0));
    assert!(start.elapsed() < SHUTDOWN_BOUND, "{:?}", start.elapsed());
}

/// The first stdout line is exactly `listening on ws://127.0.0.1:PORT`, the port bound.
#[tokio::test]
async fn first_stdout_line_names_the_port_actually_bound() {
    let mut command = server_command();
    command.args(["--addr", "127.0.0.1", "--port", "0"]);
    let (_child, _stdout, first) = spawn_and_read_first_line(command).await;
    let port = port_of_first_line(&first);
    assert_ne!(port, 0, "{first:?}");

    let mut client = WsClient::connect(&format!("ws://127.0.0.1:{port}/?format=json")).await;
    let welcome = client.next_event().await;
    assert!(matches!(welcome, Event::Welcome { .. }), "{welcome:?}");
}

/// A taken `--port` is one stderr line naming it and suggesting another, and exit 1.
#[tokio::test]
async fn a_taken_port_is_one_stderr_line_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = taken.local_addr().expect("the bound address").port();

    let mut command = server_command();
    command
        .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("the server binary starts");
    let output = within("the server to exit", child.wait_with_output())
        .await
        .expect("waiting for the server");
    drop(taken);

    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr:?}");
    assert_eq!(stdout, "");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line: {stderr:?}");
    assert!(stderr.ends_with('\n'), "the line is terminated: {stderr:?}");
    assert!(
        lines[0].starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{stderr:?}"
    );
    assert!(lines[0].contains("another --port"), "{stderr:?}");
}

/// `CHAT_*` variables set the port, address, MOTD, history and message limit.
#[tokio::test]
async fn environment_variables_configure_the_server() {
    let mut command = server_command();
    command
        .env("CHAT_ADDR", "127.0.0.1")
        .env("CHAT_PORT", "0")
        .env("CHAT_MOTD", "motd from the environment")
        .env("CHAT_HISTORY", "7")
        .env("CHAT_MAX_MESSAGE_BYTES", "1234");
    let (_child, _stdout, first) = spawn_and_read_first_line(command).await;
    let port = port_of_first_line(&first);
    assert_ne!(port, 0, "{first:?}");
    assert_ne!(port, 8080, "CHAT_PORT=0 was ignored: {first:?}");

    let mut client =
        WsClient::connect(&format!("ws://127.0.0.1:{port}/?name=ana&format=json")).await;
    match client.next_event().await {
        Event::Welcome {
            motd,
            name,
            room,
            history,
            limits,
            ..
        } => {
            assert_eq!(motd, "motd from the environment");
            assert_eq!((name.as_str(), room.as_str()), ("ana", "lobby"));
            assert_eq!(history, 7);
            assert_eq!(limits.max_message_bytes, 1234);
        }
        other => panic!("first frame: {other:?}"),
    }
}

/// `server --help` shows each flag's `CHAT_*` variable, never the value of
/// `CHAT_TOKEN` or `CHAT_OP_TOKEN`.
#[tokio::test]
async fn help_lists_every_flag_with_its_environment_variable() {
    let mut command = server_command();
    command
        .arg("--help")
        .env("CHAT_TOKEN", "s3cret")
        .env("CHAT_OP_TOKEN", "0p-s3cret")
        // Wide enough that no description wraps (the test build's clap may
        // wrap help to the terminal: a dev-dependency enables that feature).
        .env("COLUMNS", "400")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("the server binary starts");
    let output = within("server --help", child.wait_with_output())
        .await
        .expect("waiting for server --help");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    assert!(
        !help.contains("s3cret"),
        "a token's value is shown:\n{help}"
    );

    // Each `--flag` line, with the `[env: …]` annotation of its description.
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            let flag = rest.split_whitespace().next().unwrap_or_default();
            flags.push((format!("--{flag}"), None));
        } else if trimmed.starts_with("-h, --help") || trimmed.starts_with("-V, --version") {
            flags.push((String::new(), None));
        }
        if let Some(start) = line.find("[env: ")
            && let Some(end) = line[start..].find(']')
            && let Some((_, env)) = flags.last_mut()
        {
            *env = Some(line[start..start + end + 1].to_owned());
        }
    }
    flags.retain(|(flag, _)| !flag.is_empty());

    for (flag, env) in &flags {
        let var = format!(
            "CHAT_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        // Secrets (a token, a Redis URL with its password) name their
        // variable but never show its value.
        let expected = if ["--token", "--op-token", "--redis-url"].contains(&flag.as_str()) {
            format!("[env: {var}]")
        } else {
            format!("[env: {var}=]")
        };
        assert_eq!(env.as_deref(), Some(expected.as_str()), "{flag}:\n{help}");
    }
    let names: Vec<&str> = flags.iter().map(|(flag, _)| flag.as_str()).collect();
    for wanted in [
        "--addr",
        "--port",
        "--motd",
        "--history",
        "--token",
        "--op-token",
        "--max-message-bytes",
        "--messages-per-second",
        "--message-burst",
        "--max-connections",
        "--max-rooms",
        "--room-queue",
        "--write-timeout",
        "--ping-interval",
        "--handshake-timeout",
        "--max-header-bytes",
        "--max-headers",
        "--redis-url",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from:\n{help}");
    }
}

/// `--version` names the binary (`server 0.2.0`, `client 0.2.0`), not the package.
#[tokio::test]
async fn issue_18_version_names_the_binary() {
    // Issue 18, "Rough edges to smooth".
    for (binary, name) in [
        (crate::support::SERVER, "server"),
        (crate::support::client::CLIENT, "client"),
    ] {
        let output = within(
            "--version",
            tokio::process::Command::new(binary)
                .arg("--version")
                .output(),
        )
        .await
        .expect("the binary runs");
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// The server's second line says where to open the chat in a browser; the
/// first stays `listening on …`. On every interface (`0.0.0.0`) it names
/// this machine's addresses on the LAN, if it has any, and its own.
#[tokio::test]
async fn issue_18_the_second_line_is_the_url_for_a_browser() {
    // Issue 18, "Rough edges to smooth".
    use tokio::io::AsyncBufReadExt as _;
    for addr in ["127.0.0.1", "0.0.0.0"] {
        let mut server = tokio::process::Command::new(crate::support::SERVER)
            .args(["--addr", addr, "--port", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let mut lines =
            tokio::io::BufReader::new(server.stdout.take().expect("piped stdout")).lines();
        let first = within("the first line", lines.next_line())
            .await
            .expect("reading")
            .expect("a first line");
        let port = first
            .strip_prefix(&format!("listening on ws://{addr}:"))
            .unwrap_or_else(|| panic!("{first:?}"));
        let second = within("the second line", lines.next_line())
            .await
            .expect("reading")
            .expect("a second line");
        let own = format!("http://127.0.0.1:{port}/");
        if addr == "127.0.0.1" {
            assert_eq!(second, format!("open {own} in a browser"));
        } else {
            assert!(
                second.starts_with("open http://")
                    && (second
                        .ends_with(&format!("in a browser on the LAN ({own} on this machine)"))
                        || second == format!("open {own} in a browser (no LAN address found)")),
                "{second:?}"
            );
        }
    }
}
