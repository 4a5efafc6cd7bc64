//! The worst-case memory formula (`chat::server::memory`, docs/operating.md
//! "Memory") against the real server: every holder a client can fill is
//! filled at once, at small flags, and the server's peak resident memory
//! must stay under what the formula gives for those holders, plus an
//! allowance for the allocator.
//!
//! Filled: rooms' queues (readers that never read, while senders say the
//! most expensive messages there are: long and all line breaks), history
//! (the same messages), what each connection owes and the unsent pool (the
//! same readers), frames arriving (connections that stall one byte short of
//! the largest frame), and mailboxes (long private messages to the readers
//! that never read, until they are refused: the mailboxes' pool counts
//! what they hold, not its size). Not filled: sockets in their handshake (a
//! fixed term) and the process itself (the baseline).

use chat::config::{HistoryConfig, Limits, ServerConfig};
use chat::protocol::{ErrorCode, Event};
use chat::server::memory;

use crate::support::raw_ws::{FIN, RawWs, TEXT, masked};
use crate::support::{Endpoint, TestServer, WsClient, within};

const MESSAGE_BYTES: usize = 16 * 1024;
const ROOMS: [&str; 4] = ["lobby", "m1", "m2", "m3"];
const READERS_PER_ROOM: usize = 4;
/// Enough to fill the kernel's buffers for each sleeper (4 MiB at most on
/// loopback) so that the server's writes to it stall.
const MESSAGES_PER_ROOM: usize = 200;
const STALLED_FRAMES: usize = 12;
/// What the allocator may hold beyond what the holders hold: freed memory it
/// keeps, fragmentation, per-thread arenas.
const ALLOCATOR_ALLOWANCE: u64 = 8 * 1024 * 1024;

/// The flags of the test's server, and the same as the library sees them.
fn flags() -> (Vec<String>, ServerConfig) {
    let config = ServerConfig {
        limits: Limits {
            max_message_bytes: MESSAGE_BYTES,
            max_connections: 80,
            max_rooms: ROOMS.len(),
            room_queue_bytes: 64 * 1024,
            unsent_pool_bytes: 2 * 1024 * 1024,
            messages_per_second: 0,
            ..Limits::default()
        },
        history: HistoryConfig {
            max_bytes: 64 * 1024,
            ..HistoryConfig::default()
        },
        ..ServerConfig::default()
    };
    let limits = &config.limits;
    let args = [
        ("--max-message-bytes", limits.max_message_bytes),
        ("--max-connections", limits.max_connections),
        ("--max-rooms", limits.max_rooms),
        ("--room-queue-bytes", limits.room_queue_bytes),
        ("--max-unsent-bytes", limits.unsent_pool_bytes),
        ("--messages-per-second", 0),
        ("--history-bytes", config.history.max_bytes),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value.to_string()])
    .collect();
    (args, config)
}

/// A memory figure of the server's, in bytes, from /proc (`VmRSS`, `VmHWM`).
fn proc_status_bytes(server: &Endpoint, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("reading the server's /proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc status"));
    kib * 1024
}

/// The most expensive message to hold: line breaks, which the text
/// rendering indents and JSON escapes.
fn line_breaks() -> String {
    "\na".repeat(MESSAGE_BYTES / 2 - 1)
}

/// Says `text` and waits for its copy, so that the sender itself is never
/// the reader that falls behind.
async fn say(sender: &mut WsClient, text: &str) {
    sender.send(text).await;
    sender
        .event_matching(
            "the sender's copy",
            |event| matches!(event, Event::Message { text: said, .. } if said == text),
        )
        .await;
}

#[tokio::test]
async fn every_holder_filled_at_once_stays_under_the_formula() {
    let (args, config) = flags();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(&args).await;
    let baseline = proc_status_bytes(&server, "VmRSS");
    let filled: u64 = memory::worst_case(&config)
        .iter()
        .filter(|term| {
            !matches!(
                term.holder,
                "the process"
                    | "sockets in their handshake"
                    | "long private messages waiting in mailboxes"
            )
        })
        .map(|term| term.bytes)
        .sum();

    // Readers that never read, in every room.
    let mut sleepers = Vec::new();
    for room in ROOMS {
        for n in 0..READERS_PER_ROOM {
            let path = format!("/{room}?name={room}-sleeper{n}&format=json");
            sleepers.push(RawWs::connect_reading_little(&server, &path).await);
        }
    }
    // Connections one byte short of the largest frame.
    let largest = config.limits.max_frame_bytes();
    let mut stalled = Vec::new();
    for n in 0..STALLED_FRAMES {
        let mut raw = RawWs::join(&server, &format!("stall{n}"), "lobby").await;
        let whole = masked(FIN | TEXT, &vec![b'x'; largest]);
        raw.write(&whole[..whole.len() - 1]).await;
        stalled.push(raw);
    }
    // Long messages of line breaks into every room's queue and history.
    let text = line_breaks();
    let senders = ROOMS.iter().map(|room| {
        let (server, text) = (&server, &text);
        async move {
            let (mut sender, _) = server.join(&format!("{room}-sender"), room).await;
            for _ in 0..MESSAGES_PER_ROOM {
                say(&mut sender, text).await;
            }
            sender
        }
    });
    let mut senders = futures_util::future::join_all(senders).await;
    // Long private messages to readers stuck on a write, until refused.
    let lobby_sender = &mut senders[0];
    let private = &text[..MESSAGE_BYTES - 64];
    let (mut refused, mut waiting) = (0, 0);
    for n in 0..READERS_PER_ROOM {
        for _ in 0..32 {
            lobby_sender
                .send(&format!("/msg lobby-sleeper{n} {private}"))
                .await;
            let answer = lobby_sender
                .event_matching("the private copy or a refusal", |event| {
                    matches!(event, Event::Private { .. } | Event::Error { .. })
                })
                .await;
            if let Event::Error { code, .. } = answer {
                assert_eq!(code, ErrorCode::RecipientBusy);
                refused += 1;
                break;
            }
            waiting += private.len() as u64;
        }
    }
    assert_eq!(refused, READERS_PER_ROOM, "every mailbox filled up");

    // The mailboxes' pool holds what the test put there, at most.
    let filled = filled + waiting;
    let peak = proc_status_bytes(&server, "VmHWM");
    let grown = peak.saturating_sub(baseline);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "peak growth {:.1} MiB; formula for what was filled {:.1} MiB",
        mib(grown),
        mib(filled)
    );
    assert!(
        grown <= filled + ALLOCATOR_ALLOWANCE,
        "the server grew {:.1} MiB at its peak; the formula allows {:.1} MiB for what was filled \
         (and {:.1} MiB for the allocator)",
        mib(grown),
        mib(filled),
        mib(ALLOCATOR_ALLOWANCE)
    );

    // The rooms let go of what their sleepers could not take: one that
    // wakes up is told how much it missed.
    let mut waking = sleepers.swap_remove(READERS_PER_ROOM + 1);
    let gap = within("a gap for the woken reader", async {
        loop {
            if let Event::Gap { missed } = waking.next_event_answering_pings().await {
                return missed;
            }
        }
    })
    .await;
    assert!(gap > 0);
    server.assert_still_serves().await;
}
