//! `client`: chat from a terminal or a pipe.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use chat::client::{self, DEFAULT_URL, Target};
use clap::Parser;

/// A chat client: sends each line you type, prints what others say.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server URL, ws://HOST:PORT/ROOM
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
    let result = match Target::new(
        Some(&args.url),
        args.port,
        args.room.as_deref(),
        args.name.as_deref(),
    ) {
        Ok(target) => client::run(&target).await,
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
