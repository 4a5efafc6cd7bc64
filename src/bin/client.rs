//! `client`: chat from a terminal, or from a script through pipes.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use chat::client::{self, ClientError, DEFAULT_URL, Look, Options, Password, Target, Tls};
use clap::Parser;

/// A chat client: sends each line you type, prints what others say.
#[derive(Debug, Parser)]
// Named after the binary, not the package: `client --version` says `client 0.2.0`.
#[command(name = "client", version)]
struct Args {
    /// Server URL, ws://HOST:PORT/ROOM (or wss:// for TLS)
    #[arg(default_value = DEFAULT_URL)]
    url: String,
    /// Your name (the server picks guest-N without one)
    #[arg(long, env = "CHAT_NAME")]
    name: Option<String>,
    /// Room to enter, instead of the URL's path
    #[arg(long)]
    room: Option<String>,
    /// Port to connect to, instead of the URL's
    #[arg(long)]
    port: Option<u16>,
    /// Print every event as one JSON object per line (for programs)
    #[arg(long)]
    json: bool,
    /// No colours (the NO_COLOR environment variable does the same)
    #[arg(long)]
    no_color: bool,
    /// Exit when the connection drops instead of reconnecting
    #[arg(long)]
    no_reconnect: bool,
    /// Do not show the room's history on entering it (what a reconnection
    /// missed is still shown)
    #[arg(long)]
    no_history: bool,
    /// Read nothing, print everything, until interrupted (for logging:
    /// client --json --listen > log &)
    #[arg(long)]
    listen: bool,
    /// Do not ring the terminal's bell when a message names you
    #[arg(long)]
    no_bell: bool,
    /// Trust the certificate authority in this PEM file for wss://, besides the system's
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Become an operator on every (re)connection with the secret on this
    /// file's first line (the server's --op-token)
    #[arg(long, value_name = "FILE", env = "CHAT_OP_TOKEN_FILE")]
    op_token_file: Option<PathBuf>,
    /// Identify with the password in this file on every connection, for a
    /// registered --name (the CHAT_PASSWORD environment variable does the
    /// same; never put a password on the command line)
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Seconds one connection attempt may take
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    connect_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(args: Args) -> Result<(), ClientError> {
    let mut target = Target::new(
        &args.url,
        args.port,
        args.room.as_deref(),
        args.name.as_deref(),
    )?;
    target.connect_timeout = args.connect_timeout;
    target.password = password(args.password_file.as_deref())?;
    let tls = Tls::new(args.ca.as_deref())?;
    let op_token = args
        .op_token_file
        .as_deref()
        .map(|path| client::read_secret("--op-token-file", path))
        .transpose()?;
    // A person at a terminal gets the line editor; pipes, files and --json
    // get plain lines.
    let interactive = !args.json
        && !args.listen
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let no_color = args.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let look = if interactive {
        Look::Terminal { color: !no_color }
    } else {
        Look::Plain
    };
    let options = Options {
        target,
        tls,
        look,
        json: args.json,
        reconnect: !args.no_reconnect,
        interactive,
        history: !args.no_history,
        listen: args.listen,
        bell: !args.no_bell,
        op_token,
    };
    client::run(options).await
}

/// The password from `--password-file`, else `CHAT_PASSWORD`.
fn password(file: Option<&std::path::Path>) -> Result<Option<Password>, ClientError> {
    let text = match file {
        Some(path) => client::read_secret("--password-file", path)?,
        None => match std::env::var("CHAT_PASSWORD") {
            Ok(text) => text.trim().to_owned(),
            Err(_) => return Ok(None),
        },
    };
    Ok((!text.is_empty()).then(|| Password::new(&text)))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))
}
