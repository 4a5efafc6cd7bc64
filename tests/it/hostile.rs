//! Hostile clients (issue 4): every attack asserts exactly what the attacker
//! got (close code, HTTP status or error event), then proves with a fresh
//! pair of clients that the server still serves, and that its memory stayed
//! bounded.
//!
//! The attacks run against the real server binary, except those whose point
//! is a timeout (keepalive, handshake and write timeouts, the rate limit):
//! they run against the library's server in the test's own process
//! ([`InProcess`]) on tokio's paused clock, so that seconds of timeout cost
//! no wall-clock time, and their memory bound is that of the whole process.
//!
//! Most attacks need bytes no well-behaved WebSocket library will send: they
//! use the hand-written client [`RawWs`], with hand-built frames.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::time::Duration;

use chat::config::{DEPARTURE_HOLD, Limits};
use chat::protocol::{ErrorCode, Event};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior, interval};
use tokio_websockets::{CloseCode, Message};

use crate::support::events::{enter, join, leave, message, next_untimed, parse_event, untimed};
use crate::support::inprocess::InProcess;
use crate::support::raw_ws::{
    CLOSE, CONTINUATION, FIN, MASK, PING, PONG, RSV1, RSV2, RSV3, RawWs, TEXT, close_payload,
    frame, masked, upgrade_request,
};
use crate::support::{Endpoint, TestServer, WsClient, within};

/// How much the server's resident memory may grow during one attack. Generous
/// (the attacks here move a few MiB at most), so that allocator noise never
/// fails a test, yet far below what an unbounded buffer would reach.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

/// Slack on top of a server timeout before its effect must be seen: the
/// machine is small and shared.
const SLACK: Duration = Duration::from_secs(3);

/// The server's bound on a closing handshake (`CLOSE_TIMEOUT` in
/// `src/server/connection.rs`): after that it drops the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The error the rate limit answers with, at the default limits.
const RATE_LIMITED: &str =
    "slow down: at most 20 messages a second (bursts of 40); that one was dropped";

// ---------------------------------------------------------------------------
// Events and checks

/// The end of every attack: a fresh pair of clients still talks, and the
/// server's memory grew less than [`MAX_RSS_GROWTH_KIB`] since `rss_before`.
async fn assert_survived(server: &Endpoint, rss_before: u64) {
    server.assert_still_serves().await;
    let rss_after = server.rss_kib();
    assert!(
        rss_after.saturating_sub(rss_before) < MAX_RSS_GROWTH_KIB,
        "the server grew from {rss_before} KiB to {rss_after} KiB (bound: {MAX_RSS_GROWTH_KIB} KiB)"
    );
}

/// Writes `request` on a fresh connection and reads all the server answers
/// until it closes the connection; the write may be cut off by the answer.
async fn http_exchange(server: &Endpoint, request: &[u8]) -> Vec<u8> {
    within("the server's answer and close", async {
        let mut stream = TcpStream::connect(server.addr())
            .await
            .expect("connecting to the server");
        let (mut reader, mut writer) = stream.split();
        let write = async {
            // The server may answer and close before reading everything.
            let _ = writer.write_all(request).await;
        };
        let ((), answer) = tokio::join!(write, read_to_close(&mut reader));
        answer
    })
    .await
}

/// Everything readable until the peer closes (a reset counts as a close).
async fn read_to_close(reader: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return answer,
            Err(err) => panic!("reading the answer: {err}"),
        }
    }
}

/// The status line of an HTTP answer.
fn status_line(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    text.split("\r\n").next().unwrap_or_default().to_owned()
}

/// A text of exactly `len` bytes.
fn text_of(len: usize) -> String {
    "x".repeat(len)
}

// ---------------------------------------------------------------------------
// 1. Oversized messages

/// A message over the limit but within a quarter more gets `too_long` and the
/// connection stays usable; one byte over that is closed with 1009.
#[tokio::test]
async fn oversized_message_is_too_long_and_oversized_frame_is_closed_with_1009() {
    let server = TestServer::start(&["--max-message-bytes", "1000"]).await;
    let rss = server.rss_kib();
    let mut big = enter(&server, "big", "size").await;
    let mut calm = enter(&server, "calm", "size").await;
    assert_eq!(next_untimed(&mut big).await, join("size", "calm"));

    big.send(&text_of(1001)).await;
    assert_eq!(
        next_untimed(&mut big).await,
        Event::error(
            ErrorCode::TooLong,
            "message too long: 1001 bytes, the limit is 1000"
        )
    );
    big.send(&text_of(1250)).await;
    assert_eq!(
        next_untimed(&mut big).await,
        Event::error(
            ErrorCode::TooLong,
            "message too long: 1250 bytes, the limit is 1000"
        )
    );
    big.send(&text_of(1000)).await;
    let at_limit = message(1, "size", "big", &text_of(1000));
    assert_eq!(next_untimed(&mut big).await, at_limit);
    big.send("still here").await;
    assert_eq!(
        next_untimed(&mut big).await,
        message(2, "size", "big", "still here")
    );

    big.send(&text_of(1251)).await;
    assert_eq!(
        big.expect_close().await,
        (1009, "max length: 1250".to_owned())
    );

    // The bystander saw only what was accepted, then the offender leave.
    assert_eq!(next_untimed(&mut calm).await, at_limit);
    assert_eq!(
        next_untimed(&mut calm).await,
        message(2, "size", "big", "still here")
    );
    assert_eq!(
        next_untimed(&mut calm).await,
        leave("size", "big", "sent a message too big")
    );
    assert_survived(&server, rss).await;
}

/// A frame header announcing a terabyte is closed with 1009 at once: the
/// server neither waits for the payload nor reserves room for it.
#[tokio::test]
async fn frame_header_announcing_a_terabyte_is_closed_with_1009() {
    let server = TestServer::start(&["--max-message-bytes", "1000"]).await;
    let rss = server.rss_kib();
    let mut raw = RawWs::join(&server, "huge", "size").await;
    let mut header = vec![FIN | TEXT, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&MASK);
    header.extend_from_slice(b"just the start");
    raw.attack(&header).await;
    assert_eq!(
        raw.expect_closed().await,
        (1009, "max length: 1250".to_owned())
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 2. Fragmentation

/// `count` fragments of `fragment` bytes each (the first a text frame, the
/// rest continuations, the last with FIN), and the text they make.
fn fragmented(count: usize, fragment: usize) -> (Vec<u8>, String) {
    let mut wire = Vec::new();
    let mut text = String::new();
    for i in 0..count {
        let piece: String = format!("{i:0width$}", width = fragment)
            .chars()
            .rev()
            .take(fragment)
            .collect();
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        let fin = if i + 1 == count { FIN } else { 0 };
        wire.extend(masked(fin | opcode, piece.as_bytes()));
        text.push_str(&piece);
    }
    (wire, text)
}

/// 5,000 fragments that assemble to the message limit arrive as one message;
/// assembling past the limit gets `too_long`, and past the frame limit is
/// closed with 1009.
#[tokio::test]
async fn thousands_of_fragments_are_one_message_and_past_the_frame_limit_closed_with_1009() {
    let server = TestServer::start(&["--max-message-bytes", "10000"]).await;
    let rss = server.rss_kib();
    let mut calm = enter(&server, "calm", "frag").await;
    let mut raw = RawWs::join(&server, "frag", "frag").await;
    assert_eq!(next_untimed(&mut calm).await, join("frag", "frag"));

    let (wire, text) = fragmented(5_000, 2);
    assert_eq!(text.len(), 10_000);
    raw.write(&wire).await;
    let whole = message(1, "frag", "frag", &text);
    assert_eq!(untimed(raw.next_event().await), whole);
    assert_eq!(next_untimed(&mut calm).await, whole);

    let (wire, _) = fragmented(2_400, 5);
    raw.write(&wire).await;
    assert_eq!(
        untimed(raw.next_event().await),
        Event::error(
            ErrorCode::TooLong,
            "message too long: 12000 bytes, the limit is 10000"
        )
    );
    raw.send_text("after the long one").await;
    assert_eq!(
        untimed(raw.next_event().await),
        message(2, "frag", "frag", "after the long one")
    );

    // 2,501 fragments of 5 bytes pass the frame limit of 12,500.
    let (wire, _) = fragmented(2_501, 5);
    raw.attack(&wire).await;
    assert_eq!(
        raw.expect_closed().await,
        (1009, "max length: 12500".to_owned())
    );
    assert_eq!(
        next_untimed(&mut calm).await,
        message(2, "frag", "frag", "after the long one")
    );
    assert_eq!(
        next_untimed(&mut calm).await,
        leave("frag", "frag", "sent a message too big")
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 3.–7. Protocol violations

/// Joins a fresh connection, sends `attack`, and returns the close it gets
/// (after which the server must also close the socket).
async fn close_after(server: &Endpoint, name: &str, attack: &[u8]) -> (u16, String) {
    let mut raw = RawWs::join(server, name, "proto").await;
    raw.attack(attack).await;
    raw.expect_closed().await
}

/// Invalid UTF-8 in a text frame, whole or split across fragments, is closed
/// with 1007.
#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let invalid = (1007, "invalid utf8".to_owned());

    let whole = masked(FIN | TEXT, b"caf\xc3\x28 \xff\xfe");
    assert_eq!(close_after(&server, "utf8-a", &whole).await, invalid);

    // A sequence cut short at the end of the message.
    let mut cut = masked(TEXT, b"ok so far ");
    cut.extend(masked(FIN | CONTINUATION, b"then \xe2\x82"));
    assert_eq!(close_after(&server, "utf8-b", &cut).await, invalid);

    // An overlong encoding of '/', split between two fragments.
    let mut overlong = masked(TEXT, b"\xc0");
    overlong.extend(masked(FIN | CONTINUATION, b"\xafetc"));
    assert_eq!(close_after(&server, "utf8-c", &overlong).await, invalid);

    // A UTF-16 surrogate encoded as UTF-8.
    let surrogate = masked(FIN | TEXT, b"\xed\xa0\x80");
    assert_eq!(close_after(&server, "utf8-d", &surrogate).await, invalid);
    assert_survived(&server, rss).await;
}

/// A ping is answered with its payload and an unsolicited pong is ignored,
/// with the connection still usable; a ping over 125 bytes or fragmented is
/// closed with 1002.
#[tokio::test]
async fn oversized_or_fragmented_ping_is_closed_with_1002_and_a_stray_pong_is_ignored() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();

    let mut raw = RawWs::join(&server, "pinger", "control").await;
    raw.send(FIN | PONG, b"nobody asked").await;
    raw.send_text("after the pong").await;
    assert_eq!(
        untimed(raw.next_event().await),
        message(1, "control", "pinger", "after the pong")
    );
    let longest = [b'p'; 125];
    raw.send(FIN | PING, &longest).await;
    let pong = raw.next_frame().await;
    assert!(pong.fin && pong.opcode == PONG, "{pong:?}");
    assert_eq!(pong.payload, longest);

    let invalid_length = (1002, "invalid payload length".to_owned());
    let too_long = masked(FIN | PING, &[b'p'; 126]);
    assert_eq!(
        close_after(&server, "ping-126", &too_long).await,
        invalid_length
    );
    let much_too_long = masked(FIN | PING, &[b'p'; 70_000]);
    assert_eq!(
        close_after(&server, "ping-70000", &much_too_long).await,
        invalid_length
    );

    let fragmented_ping = masked(PING, b"part one");
    assert_eq!(
        close_after(&server, "ping-frag", &fragmented_ping).await,
        (1002, "fragmented control frame".to_owned())
    );
    let fragmented_close = masked(CLOSE, &close_payload(1000, ""));
    assert_eq!(
        close_after(&server, "close-frag", &fragmented_close).await,
        (1002, "fragmented control frame".to_owned())
    );
    assert_survived(&server, rss).await;
}

/// A client frame without a mask is closed with 1002.
#[tokio::test]
async fn unmasked_client_frame_is_closed_with_1002() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let unmasked_text = frame(FIN | TEXT, None, b"hello, unmasked");
    assert_eq!(
        close_after(&server, "bare", &unmasked_text).await,
        (1002, "unexpected unmasked frame".to_owned())
    );
    let unmasked_ping = frame(FIN | PING, None, b"");
    assert_eq!(
        close_after(&server, "bare-ping", &unmasked_ping).await,
        (1002, "unexpected unmasked frame".to_owned())
    );
    assert_survived(&server, rss).await;
}

/// A frame with any reserved bit set (no extension was negotiated) is closed
/// with 1002.
#[tokio::test]
async fn reserved_bits_are_closed_with_1002() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    for (name, rsv) in [
        ("rsv1", RSV1),
        ("rsv2", RSV2),
        ("rsv3", RSV3),
        ("rsv-all", RSV1 | RSV2 | RSV3),
    ] {
        let attack = masked(FIN | rsv | TEXT, b"compressed, honest");
        assert_eq!(
            close_after(&server, name, &attack).await,
            (1002, "invalid extension".to_owned()),
            "{name}"
        );
    }
    assert_survived(&server, rss).await;
}

/// Reserved opcodes, a continuation with nothing to continue and a new
/// message in the middle of a fragmented one are closed with 1002.
#[tokio::test]
async fn unknown_opcodes_and_misplaced_continuations_are_closed_with_1002() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let invalid_opcode = (1002, "invalid opcode".to_owned());
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        let attack = masked(FIN | opcode, b"what is this");
        assert_eq!(
            close_after(&server, &format!("op-{opcode:x}"), &attack).await,
            invalid_opcode,
            "opcode {opcode:#x}"
        );
    }
    let orphan = masked(FIN | CONTINUATION, b"the end of nothing");
    assert_eq!(
        close_after(&server, "orphan", &orphan).await,
        invalid_opcode
    );
    let mut interleaved = masked(TEXT, b"first half");
    interleaved.extend(masked(FIN | TEXT, b"another message"));
    assert_eq!(
        close_after(&server, "interleaved", &interleaved).await,
        invalid_opcode
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 8. Garbage and plain HTTP

/// Garbage, TLS, HTTP/2 and plain HTTP on the port get a 4xx answer or a close,
/// never a hang; garbage where frames are expected is closed with 1002.
#[tokio::test]
async fn garbage_and_plain_http_get_an_answer_or_a_close_never_a_hang() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let noise: Vec<u8> = (0u8..64)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 and so on".to_vec();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("noise", noise, "HTTP/1.1 400 Bad Request"),
        ("a TLS ClientHello", tls_hello, "HTTP/1.1 400 Bad Request"),
        (
            "a line that is not HTTP",
            b"HELLO SERVER\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "a plain GET",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 426 Upgrade Required",
        ),
        (
            "a POST with a body",
            b"POST /lobby HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            "HTTP/1.0 without a host",
            b"GET /lobby HTTP/1.0\r\n\r\n".to_vec(),
            "HTTP/1.0 426 Upgrade Required",
        ),
    ];
    for (what, request, status) in cases {
        let answer = http_exchange(&server, &request).await;
        assert_eq!(status_line(&answer), status, "{what}");
    }

    // hyper closes an HTTP/2 preface on an HTTP/1 port without an answer.
    let answer = http_exchange(&server, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert_eq!(String::from_utf8_lossy(&answer), "", "HTTP/2 preface");

    // Garbage after a valid handshake: 0xde sets RSV1 and RSV3.
    let garbage = b"\xde\xad\xbe\xef\x00\x01\x02\x03 garbage".to_vec();
    assert_eq!(
        close_after(&server, "noise", &garbage).await,
        (1002, "invalid extension".to_owned())
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 9. Slow handshake

/// How a dribbling attacker ended: when the server cut it off, how many bytes
/// it had sent, and what the server answered.
struct CutOff {
    at: Instant,
    sent: usize,
    answer: Vec<u8>,
}

/// Sends `request` one byte a second on `stream` (the first already sent)
/// until the server closes the connection.
async fn dribble(mut stream: TcpStream, request: Vec<u8>) -> CutOff {
    let mut ticker = interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut sent = usize::from(!request.is_empty());
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        tokio::select! {
            biased;
            read = stream.read(&mut chunk) => match read {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
                Err(err) => panic!("reading from the server: {err}"),
            },
            _ = ticker.tick(), if sent < request.len() => {
                match stream.write_all(&request[sent..=sent]).await {
                    Ok(()) => sent += 1,
                    Err(err) if matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => break,
                    Err(err) => panic!("writing to the server: {err}"),
                }
            }
        }
    }
    CutOff {
        at: Instant::now(),
        sent,
        answer,
    }
}

/// Handshakes sent one byte a second (and one that sends nothing) are cut off
/// after the handshake timeout, while other clients are served meanwhile.
#[tokio::test(start_paused = true)]
async fn slow_handshake_is_cut_off_after_the_handshake_timeout() {
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
    let server = InProcess::start(Limits {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let request = upgrade_request(&server, "/slow?name=sloth").into_bytes();

    let start = Instant::now();
    let mut attackers = Vec::new();
    for i in 0..10 {
        let mut stream = within("a TCP connection", TcpStream::connect(server.addr()))
            .await
            .expect("connecting to the server");
        // One of them never sends a byte at all.
        let request = if i == 0 { Vec::new() } else { request.clone() };
        if let Some(first) = request.first() {
            stream.write_all(&[*first]).await.expect("the first byte");
        }
        attackers.push(dribble(stream, request));
    }
    let (cut_offs, served_at) = within("the slow handshakes to be cut off", async {
        tokio::join!(futures_util::future::join_all(attackers), async {
            server.assert_still_serves().await;
            Instant::now()
        })
    })
    .await;

    for (i, cut) in cut_offs.iter().enumerate() {
        let elapsed = cut.at - start;
        assert!(
            elapsed >= HANDSHAKE_TIMEOUT && elapsed <= HANDSHAKE_TIMEOUT + SLACK,
            "attacker {i} was cut off after {elapsed:?}"
        );
        assert!(
            cut.sent < request.len(),
            "attacker {i} finished its request"
        );
        let answer = String::from_utf8_lossy(&cut.answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "attacker {i} got {answer:?}"
        );
        assert!(
            served_at < cut.at,
            "the health check finished only after attacker {i} was cut off"
        );
    }
    assert_survived(&server, rss).await;
}

/// A handshake still dribbling in when the handshake timeout ends is answered
/// `408 Request Timeout` before the close, as docs/protocol.md's "HTTP
/// statuses" says, where an answer can still be sent.
#[tokio::test(start_paused = true)]
async fn slow_handshake_is_answered_408_before_the_close() {
    let server = InProcess::start(Limits {
        handshake_timeout: Duration::from_secs(1),
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let request = upgrade_request(&server, "/slow?name=sloth").into_bytes();
    let mut stream = within("a TCP connection", TcpStream::connect(server.addr()))
        .await
        .expect("connecting to the server");
    stream
        .write_all(&request[..1])
        .await
        .expect("the first byte");
    let cut = within("the slow handshake to be cut off", dribble(stream, request)).await;
    let answer = String::from_utf8_lossy(&cut.answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "the slow handshake got {answer:?}"
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 10. Oversized handshakes

/// An upgrade request with `extra` header lines inserted before its end.
fn upgrade_with(server: &Endpoint, extra: &str) -> Vec<u8> {
    let request = upgrade_request(server, "/big?name=heady");
    let head = request
        .strip_suffix("\r\n")
        .expect("ends with a blank line");
    format!("{head}{extra}\r\n").into_bytes()
}

/// Handshakes with thousands of headers, more than 100 small ones, one huge
/// header or a huge URL get 431 (414 for the URL) and the connection closed.
#[tokio::test]
async fn handshake_with_too_many_or_too_large_headers_gets_431() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let too_large = "HTTP/1.1 431 Request Header Fields Too Large";

    let thousands: String = (0..5_000).map(|i| format!("X-Pad-{i}: {i}\r\n")).collect();
    let answer = http_exchange(&server, &upgrade_with(&server, &thousands)).await;
    assert_eq!(status_line(&answer), too_large, "5,000 headers");

    // Under the size limit, over the count limit of 100.
    let many_small: String = (0..120).map(|i| format!("a{i}: b\r\n")).collect();
    assert!(many_small.len() < 2048);
    let answer = http_exchange(&server, &upgrade_with(&server, &many_small)).await;
    assert_eq!(status_line(&answer), too_large, "120 small headers");

    let huge = format!("X-Huge: {}\r\n", "h".repeat(64 * 1024));
    let answer = http_exchange(&server, &upgrade_with(&server, &huge)).await;
    assert_eq!(status_line(&answer), too_large, "one 64 KiB header");

    let huge_url = upgrade_request(&server, &format!("/big?name={}", "n".repeat(64 * 1024)));
    let answer = http_exchange(&server, huge_url.as_bytes()).await;
    assert!(
        [too_large, "HTTP/1.1 414 URI Too Long"].contains(&status_line(&answer).as_str()),
        "a 64 KiB URL got {:?}",
        status_line(&answer)
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 11. A burst of abrupt connections

/// One connection of the burst, abandoned in one of five ways; whether it got
/// as far as the upgrade.
async fn abandon(server: &Endpoint, i: usize) -> bool {
    let mut stream = within("a TCP connection", TcpStream::connect(server.addr()))
        .await
        .expect("connecting to the server");
    let request = upgrade_request(server, "/burst");
    match i % 5 {
        // Connect and go.
        0 => false,
        // Half a handshake.
        1 => {
            let half = &request.as_bytes()[..request.len() / 2];
            stream.write_all(half).await.expect("half a handshake");
            false
        }
        kind => {
            let mut raw = RawWs::handshake(stream, server, "/burst").await;
            match kind {
                // Gone right after the 101.
                2 => {}
                // Half a frame: a header promising 100 bytes, and 10 of them.
                3 => {
                    let mut half = masked(FIN | TEXT, &[b'h'; 100]);
                    half.truncate(2 + 4 + 10);
                    raw.attack(&half).await;
                }
                // A reset instead of a close.
                _ => raw.stream.set_zero_linger().expect("SO_LINGER 0"),
            }
            true
        }
    }
}

/// 2,000 connections abandoned at every stage (before, during and right after
/// the handshake, mid-frame, by reset) leave the server serving, with every
/// upgraded one gone from its room, and memory bounded.
#[tokio::test]
async fn burst_of_abruptly_closed_connections_leaves_the_server_serving() {
    const BURST: usize = 2_000;
    // Every arrival and departure is checked one by one: no summaries.
    let server = TestServer::start(&["--room-queue", "8192", "--presence-limit", "100000"]).await;
    let mut watcher = enter(&server, "watcher", "burst").await;
    // Once, so that the baseline includes what a first connection allocates.
    server.assert_still_serves().await;
    let rss = server.rss_kib();

    let upgraded = within(
        "the burst of connections",
        futures_util::stream::iter(0..BURST)
            .map(|i| abandon(&server, i))
            .buffer_unordered(100)
            .filter(|upgraded| std::future::ready(*upgraded))
            .count(),
    )
    .await;
    assert_eq!(upgraded, BURST / 5 * 3);

    // Every upgraded connection joined and then left the room.
    let mut present = HashSet::new();
    let mut joined = 0;
    within("every abandoned connection to leave", async {
        while joined < upgraded || !present.is_empty() {
            match watcher.next_event().await {
                Event::Join { name, .. } => {
                    assert!(name.starts_with("guest-"), "{name}");
                    assert!(present.insert(name), "joined twice");
                    joined += 1;
                }
                Event::Leave { name, reason, .. } => {
                    assert_eq!(reason, "disconnected", "{name}");
                    assert!(present.remove(&name), "{name} left without joining");
                }
                other => panic!("unexpected event at the watcher: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(joined, upgraded);
    watcher.send("/who").await;
    assert_eq!(
        watcher.next_event().await,
        Event::Who {
            room: "burst".to_owned(),
            count: 1,
            names: vec!["watcher".to_owned()],
            more: false,
            ops: Vec::new(),
        }
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 12. A client that never reads

/// A client that stops reading while others chat at full speed is cut off
/// after the write timeout ("timed out", announced after the departure
/// hold), and costs the others no message and no delay.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_cut_off_and_others_lose_nothing() {
    const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
    /// Messages each good client has in flight: with two of them, always
    /// fewer than the room queue, so a good reader never lags by itself.
    const WINDOW: usize = 4;
    const AT_LEAST: usize = 2_000;
    /// How far the clock moves each round after the write timeout.
    const PACE: Duration = Duration::from_millis(10);
    let server = InProcess::start(Limits {
        room_queue_len: 16,
        write_timeout: WRITE_TIMEOUT,
        messages_per_second: 0,
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let mut ana = enter(&server, "ana", "busy").await;
    let mut bo = enter(&server, "bo", "busy").await;
    assert_eq!(next_untimed(&mut ana).await, join("busy", "bo"));

    let mut sloth = RawWs::connect_reading_little(&server, "/busy?name=sloth&format=json").await;
    for client in [&mut ana, &mut bo] {
        assert_eq!(next_untimed(client).await, join("busy", "sloth"));
    }

    let line = |who: &str, i: usize| {
        let head = format!("{who} {i:05} ");
        format!("{head}{}", text_of(1024 - head.len()))
    };
    let sloth_left = leave("busy", "sloth", "timed out");
    let mut sent = [Vec::new(), Vec::new()];
    let mut seen = [Vec::new(), Vec::new()];
    let mut left_at = [None, None];
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    within("the chat to go on until the non-reader is cut off", async {
        while sent[0].len() + sent[1].len() < AT_LEAST || left_at.iter().any(Option::is_none) {
            let round = Instant::now();
            for _ in 0..WINDOW {
                for (k, (client, who)) in
                    [(&mut ana, "ana"), (&mut bo, "bo")].into_iter().enumerate()
                {
                    let text = line(who, sent[k].len());
                    client.send(&text).await;
                    sent[k].push(text);
                }
            }
            for (k, client) in [&mut ana, &mut bo].into_iter().enumerate() {
                let mut got = 0;
                while got < 2 * WINDOW {
                    match next_untimed(client).await {
                        Event::Message { id, from, text, .. } => {
                            seen[k].push((id, from, text));
                            got += 1;
                        }
                        event if event == sloth_left && left_at[k].is_none() => {
                            left_at[k] = Some(Instant::now());
                        }
                        other => panic!("unexpected event at a good client: {other:?}"),
                    }
                }
            }
            slowest = slowest.max(round.elapsed());
            // The clock moves only while every task waits; once the
            // non-reader is cut off nobody is held back and nothing would
            // wait, so from then on each round lets the clock move, for the
            // held leave to come.
            if start.elapsed() >= WRITE_TIMEOUT {
                tokio::time::sleep(PACE).await;
            }
        }
    })
    .await;

    // Zero loss: both saw every message, in one order, numbered without a hole.
    assert_eq!(seen[0], seen[1]);
    let total = sent[0].len() + sent[1].len();
    let ids: Vec<u64> = seen[0].iter().map(|(id, ..)| *id).collect();
    assert_eq!(ids, (1..=total as u64).collect::<Vec<_>>());
    for (k, who) in ["ana", "bo"].into_iter().enumerate() {
        let theirs: Vec<&String> = seen[0]
            .iter()
            .filter(|(_, from, _)| from == who)
            .map(|(.., text)| text)
            .collect();
        assert_eq!(
            theirs,
            sent[k].iter().collect::<Vec<_>>(),
            "{who}'s messages"
        );
    }
    // Promptly: had the non-reader held anyone up, a round would have taken
    // the write timeout.
    assert!(
        slowest < WRITE_TIMEOUT,
        "the slowest round of {} messages took {slowest:?}",
        2 * WINDOW
    );

    // Cut off by the write timeout, not before, and announced after the
    // departure hold; the writes stall only once the kernel's socket buffers
    // (a few MiB) are full, which one slack allows for, and another covers
    // the load. Then its socket is closed.
    let left_at = left_at[0].expect("ana saw the leave");
    let cut_after = left_at - start;
    assert!(
        cut_after >= WRITE_TIMEOUT + DEPARTURE_HOLD
            && cut_after <= WRITE_TIMEOUT + DEPARTURE_HOLD + 2 * SLACK + PACE,
        "cut off and announced {cut_after:?} after the chat began"
    );
    within("the non-reader's socket to be closed", async {
        while sloth.fill().await {
            sloth.buf.clear();
        }
    })
    .await;
    let closed_after = Instant::now() - left_at;
    assert!(
        closed_after <= CLOSE_TIMEOUT + SLACK,
        "the non-reader's socket was closed {closed_after:?} after it left"
    );

    ana.send("/who").await;
    assert_eq!(
        next_untimed(&mut ana).await,
        Event::Who {
            room: "busy".to_owned(),
            count: 2,
            names: vec!["ana".to_owned(), "bo".to_owned()],
            more: false,
            ops: Vec::new(),
        }
    );
    assert_survived(&server, rss).await;
}

/// Readers that never read, fed long messages until each holds a share of
/// the server's unsent pool, do not keep the long messages from a reader
/// who reads: once it has to wait for the pool, the one holding it is cut
/// off after `unsent::HOLD` (2 s), long before the write timeout, and the
/// reader gets every message, in order.
#[tokio::test(start_paused = true)]
async fn readers_that_never_read_cannot_keep_the_unsent_pool_from_one_who_does() {
    const LONG: usize = 60 * 1024;
    const MESSAGES: usize = 120;
    let server = InProcess::start(Limits {
        unsent_pool_bytes: 100 * 1024,
        messages_per_second: 0,
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let mut good = enter(&server, "good", "pool").await;
    let _sleepers = [
        RawWs::connect_reading_little(&server, "/pool?name=sleeper1&format=json").await,
        RawWs::connect_reading_little(&server, "/pool?name=sleeper2&format=json").await,
    ];
    let mut talker = enter(&server, "talker", "pool").await;
    let start = Instant::now();
    let mut left = Vec::new();
    for i in 0..MESSAGES {
        let text = format!("{i:04}{}", text_of(LONG - 4));
        talker.send(&text).await;
        // Paced by the reader, as people are: the room never falls behind.
        loop {
            match next_untimed(&mut good).await {
                Event::Message { text: said, .. } if said == text => break,
                Event::Leave { name, reason, .. } => {
                    assert_eq!(reason, "timed out");
                    left.push((name, Instant::now() - start));
                }
                Event::Join { .. } => {}
                other => panic!("message {i}: unexpected {other:?}"),
            }
        }
        talker
            .event_matching(
                "the talker's copy",
                |event| matches!(event, Event::Message { text: said, .. } if *said == text),
            )
            .await;
    }
    while left.len() < 2 {
        match next_untimed(&mut good).await {
            Event::Leave { name, reason, .. } => {
                assert_eq!(reason, "timed out");
                left.push((name, Instant::now() - start));
            }
            Event::Message { from, .. } if from == "talker" => {}
            other => panic!("after the messages: unexpected {other:?}"),
        }
    }
    left.sort();
    let names: Vec<&str> = left.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["sleeper1", "sleeper2"]);
    for (name, after) in &left {
        assert!(
            *after < Limits::default().write_timeout,
            "{name} was cut off only {after:?} after the chat began"
        );
    }
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 13. A flood

/// A client sending 1,000 messages at once gets its burst through, then
/// `rate_limited` errors, then close 1008; a bystander sees only the burst
/// (and what the rate refilled meanwhile).
#[tokio::test(start_paused = true)]
async fn a_flooding_client_is_rate_limited_then_closed_with_1008() {
    const BURST: usize = 40;
    const PER_SECOND: f64 = 20.0;
    let server = InProcess::start(Limits::default()).await;
    let rss = server.rss_kib();
    let mut calm = enter(&server, "calm", "flood").await;
    let mut flooder = RawWs::join(&server, "flooder", "flood").await;
    assert_eq!(next_untimed(&mut calm).await, join("flood", "flooder"));

    let flood: Vec<u8> = (0..1_000)
        .flat_map(|i| masked(FIN | TEXT, format!("flood {i}").as_bytes()))
        .collect();
    let start = Instant::now();
    flooder.attack(&flood).await;
    let mut copies = Vec::new();
    let mut limited = 0;
    let close = within("the flood to be closed", async {
        loop {
            let frame = flooder.next_frame().await;
            if frame.opcode == CLOSE {
                return frame;
            }
            assert!(frame.fin && frame.opcode == TEXT, "{frame:?}");
            match parse_event(std::str::from_utf8(&frame.payload).expect("UTF-8 text")) {
                Event::Message { from, text, .. } if from == "flooder" => copies.push(text),
                Event::Error {
                    code: ErrorCode::RateLimited,
                    message,
                } if message == RATE_LIMITED => limited += 1,
                other => panic!("unexpected event at the flooder: {other:?}"),
            }
        }
    })
    .await;
    let elapsed = start.elapsed();
    assert_eq!(close.payload, close_payload(1008, "too many messages"));
    flooder.send(FIN | CLOSE, &close_payload(1000, "")).await;
    flooder.expect_eof().await;

    // The burst passed in order; what passed later was refilled by the rate
    // while the server worked through the flood.
    let refilled = (elapsed.as_secs_f64() * PER_SECOND).ceil() as usize;
    assert!(
        copies.len() >= BURST && copies.len() <= BURST + refilled,
        "{} of the flood passed in {elapsed:?}",
        copies.len()
    );
    let expected: Vec<String> = (0..BURST).map(|i| format!("flood {i}")).collect();
    assert_eq!(copies[..BURST], expected[..]);
    assert!(limited > 0, "no rate_limited error before the close");

    let mut passed = Vec::new();
    within("the flooder to leave", async {
        loop {
            match next_untimed(&mut calm).await {
                Event::Message { from, text, .. } if from == "flooder" => passed.push(text),
                event => {
                    assert_eq!(event, leave("flood", "flooder", "sent too many messages"));
                    break;
                }
            }
        }
    })
    .await;
    assert_eq!(passed, copies);
    calm.send("the air is clear").await;
    assert!(matches!(
        next_untimed(&mut calm).await,
        Event::Message { from, text, .. } if from == "calm" && text == "the air is clear"
    ));
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 14. Escape sequences and impersonation

/// Escape sequences (CSI, OSC, BEL), C1 controls and bidi overrides in
/// messages, actions and private messages arrive stripped, in JSON and text.
#[tokio::test]
async fn escape_sequences_and_bidi_overrides_arrive_stripped_in_both_formats() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut ana = enter(&server, "ana", "esc").await;
    let mut bo = WsClient::connect(&server.url_for("/esc?name=bo")).await;
    assert_eq!(
        bo.next_text().await,
        "Welcome to chat! Type a message\nyou are bo in esc; type /help for commands"
    );
    assert_eq!(bo.next_text().await, "-> bo joined esc");
    let mut eve = enter(&server, "eve", "esc").await;
    assert_eq!(bo.next_text().await, "-> eve joined esc");
    assert_eq!(next_untimed(&mut ana).await, join("esc", "bo"));
    assert_eq!(next_untimed(&mut ana).await, join("esc", "eve"));

    eve.send("\x1b[2J\x1b[H\x1b]0;pwned\x07hi\u{9b}31m\u{85}\u{202e}evil\u{2066}\r\x08\x7f\x00")
        .await;
    let stripped = "[2J[H]0;pwnedhi31mevil";
    assert_eq!(
        next_untimed(&mut ana).await,
        message(1, "esc", "eve", stripped)
    );
    assert_eq!(bo.next_text().await, format!("eve: {stripped}"));

    eve.send("/me \x1b[5mblinks\x1b[0m\u{202d}").await;
    let action = Event::Action {
        id: 2,
        room: "esc".to_owned(),
        from: "eve".to_owned(),
        text: "[5mblinks[0m".to_owned(),
        ts: 0,
    };
    assert_eq!(next_untimed(&mut ana).await, action);
    assert_eq!(bo.next_text().await, "* eve [5mblinks[0m");

    // OSC 52 would write to the victim's clipboard.
    eve.send("/msg bo \x1b]52;c;cm0gLXJmIH4=\x07copy this")
        .await;
    assert_eq!(
        bo.next_text().await,
        "[private] eve: ]52;c;cm0gLXJmIH4=copy this"
    );
    eve.send("/msg ana \u{9d}8;;http://evil\u{9c}link").await;
    assert_eq!(
        next_untimed(&mut ana).await,
        Event::Private {
            from: "eve".to_owned(),
            to: "ana".to_owned(),
            text: "8;;http://evillink".to_owned(),
            ts: 0,
        }
    );
    assert_survived(&server, rss).await;
}

/// A name with control characters or spaces in the URL is refused with
/// `invalid_name`: the connection gets a guest name, and that is what the
/// room sees.
#[tokio::test]
async fn a_name_with_control_characters_or_spaces_is_invalid_name() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut ana = enter(&server, "ana", "names").await;
    let mut refused = Vec::new();
    for (query, shown) in [
        ("ev%1B%5B31me", "ev[31me"),
        ("ana%20bo", "ana bo"),
        ("ana%0Abo", "anabo"),
        ("%E2%80%AEana", "ana"),
    ] {
        let mut eve =
            WsClient::connect(&server.url_for(&format!("/names?name={query}&format=json"))).await;
        let Event::Welcome { name, .. } = eve.next_event().await else {
            panic!("no welcome first");
        };
        assert!(name.starts_with("guest-"), "{name}");
        let Event::Error { code, message } = eve.next_event().await else {
            panic!("no error after the welcome");
        };
        assert_eq!(code, ErrorCode::InvalidName, "{query}");
        // Whether the echo keeps the control characters is the business of
        // `an_invalid_name_is_echoed_without_its_control_characters`.
        let without_controls: String = message.chars().filter(|c| !c.is_control()).collect();
        let shown: String = shown.chars().filter(|c| !c.is_control()).collect();
        assert_eq!(
            without_controls,
            format!("invalid name '{shown}': use 1 to 24 letters, digits, '_' or '-'"),
            "{query}"
        );
        assert_eq!(next_untimed(&mut eve).await, join("names", &name));
        assert_eq!(next_untimed(&mut ana).await, join("names", &name));
        refused.push(eve);
    }
    assert_survived(&server, rss).await;
}

/// `Ana` cannot connect nor `/nick` while `ana` is connected (names are unique
/// in any letter case), and a bidi override does not make a name different.
#[tokio::test]
async fn a_name_differing_only_in_case_or_by_a_control_is_name_taken() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut ana = enter(&server, "ana", "case").await;

    let mut fake = WsClient::connect(&server.url_for("/case?name=Ana&format=json")).await;
    let Event::Welcome { name: guest, .. } = fake.next_event().await else {
        panic!("no welcome first");
    };
    assert!(guest.starts_with("guest-"), "{guest}");
    assert_eq!(
        next_untimed(&mut fake).await,
        Event::error(
            ErrorCode::NameTaken,
            format!("the name 'Ana' is taken; you are {guest} (/nick NAME to pick another)")
        )
    );
    assert_eq!(next_untimed(&mut fake).await, join("case", &guest));
    assert_eq!(next_untimed(&mut ana).await, join("case", &guest));

    for (nick, shown) in [
        ("/nick ANA", "ANA"),
        ("/nick ana\u{202e}", "ana"),
        ("/nick a\x1bna", "ana"),
    ] {
        fake.send(nick).await;
        assert_eq!(
            next_untimed(&mut fake).await,
            Event::error(
                ErrorCode::NameTaken,
                format!("the name '{shown}' is taken; pick another")
            ),
            "{nick:?}"
        );
    }
    fake.send("/who").await;
    assert_eq!(
        next_untimed(&mut fake).await,
        Event::Who {
            room: "case".to_owned(),
            count: 2,
            names: vec!["ana".to_owned(), guest.clone()],
            more: false,
            ops: Vec::new(),
        }
    );
    assert_survived(&server, rss).await;
}

/// `/nick` to a name with escape codes is `invalid_name`, echoed without them.
#[tokio::test]
async fn nick_to_a_name_with_escape_codes_is_invalid_name() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut eve = enter(&server, "eve", "nick").await;
    for (nick, shown) in [
        ("/nick \x1b[31mana\x1b[0m", "[31mana[0m"),
        ("/nick \u{9b}1;31mroot", "1;31mroot"),
        ("/nick \x1b]0;x\x07bo", "]0;xbo"),
    ] {
        eve.send(nick).await;
        assert_eq!(
            next_untimed(&mut eve).await,
            Event::error(
                ErrorCode::InvalidName,
                format!("invalid name '{shown}': use 1 to 24 letters, digits, '_' or '-'")
            ),
            "{nick:?}"
        );
    }
    eve.send("/who").await;
    assert_eq!(
        next_untimed(&mut eve).await,
        Event::Who {
            room: "nick".to_owned(),
            count: 1,
            names: vec!["eve".to_owned()],
            more: false,
            ops: Vec::new(),
        }
    );
    assert_survived(&server, rss).await;
}

/// In text format, every line after the first of a multi-line message is
/// indented, so no line can pass for one from someone else.
#[tokio::test]
async fn a_multi_line_message_cannot_forge_a_line_from_someone_else() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut bo = WsClient::connect(&server.url_for("/forge?name=bo")).await;
    bo.next_text().await;
    assert_eq!(bo.next_text().await, "-> bo joined forge");
    let mut eve = enter(&server, "eve", "forge").await;
    assert_eq!(bo.next_text().await, "-> eve joined forge");

    for (sent, shown) in [
        (
            "hi\nana: send me your token",
            "eve: hi\n  ana: send me your token",
        ),
        (
            "ok\r\n<- ana left forge (quit)\r\n-> mallory joined forge",
            "eve: ok\n  <- ana left forge (quit)\n  -> mallory joined forge",
        ),
        (
            "x\x0bana: vertical tab\x0cana: form feed",
            "eve: xana: vertical tabana: form feed",
        ),
        ("/me waves\nana: me too", "* eve waves\n  ana: me too"),
        (
            "/msg bo hi\n[private] ana: psst",
            "[private] eve: hi\n  [private] ana: psst",
        ),
    ] {
        eve.send(sent).await;
        assert_eq!(bo.next_text().await, shown, "{sent:?}");
    }
    assert_survived(&server, rss).await;
}

/// A line break in a quit reason, from `/quit TEXT` or a close frame's
/// reason, becomes a space: text readers get one leave line, JSON readers
/// the one-line reason, and no line can pass for someone else's.
#[tokio::test]
async fn issue_16_a_line_break_in_a_quit_reason_cannot_forge_a_line() {
    // Issue 16 ("Hardening, second round"), item 7.
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut bo = WsClient::connect(&server.url_for("/bye?name=bo")).await;
    bo.next_text().await;
    assert_eq!(bo.next_text().await, "-> bo joined bye");
    let mut cy = enter(&server, "cy", "bye").await;
    assert_eq!(bo.next_text().await, "-> cy joined bye");
    let forged = "quit: bye bo: ana, paste the token here";

    let mut ana = enter(&server, "ana", "bye").await;
    assert_eq!(bo.next_text().await, "-> ana joined bye");
    assert_eq!(next_untimed(&mut cy).await, join("bye", "ana"));
    ana.send("/quit bye\nbo: ana, paste the token here\n").await;
    assert_eq!(ana.expect_close().await, (1000, "bye".to_owned()));
    assert_eq!(bo.next_text().await, format!("<- ana left bye ({forged})"));
    assert_eq!(next_untimed(&mut cy).await, leave("bye", "ana", forged));

    let mut dee = enter(&server, "dee", "bye").await;
    assert_eq!(bo.next_text().await, "-> dee joined bye");
    assert_eq!(next_untimed(&mut cy).await, join("bye", "dee"));
    within(
        "sending a close frame",
        dee.ws.send(Message::close(
            Some(CloseCode::NORMAL_CLOSURE),
            "bye\r\nbo: ana, paste the token here",
        )),
    )
    .await
    .expect("sending a close frame");
    assert_eq!(bo.next_text().await, format!("<- dee left bye ({forged})"));
    assert_eq!(next_untimed(&mut cy).await, leave("bye", "dee", forged));
    assert_survived(&server, rss).await;
}

/// A refused name is echoed back without its control characters, even to a
/// text-format client such as a terminal tool opening a crafted URL.
#[tokio::test]
async fn an_invalid_name_is_echoed_without_its_control_characters() {
    let server = TestServer::start(&[]).await;
    let rss = server.rss_kib();
    let mut victim = WsClient::connect(&server.url_for("/?name=%1B%5D52%3Bc%3BeA%3D%3D%07x")).await;
    let welcome = victim.next_text().await;
    assert!(
        welcome.ends_with(" in lobby; type /help for commands"),
        "{welcome:?}"
    );
    assert_eq!(
        victim.next_text().await,
        "! invalid name ']52;c;eA==x': use 1 to 24 letters, digits, '_' or '-'"
    );
    assert_survived(&server, rss).await;
}

// ---------------------------------------------------------------------------
// 15. The connection cap

/// With `--max-connections 3` a 4th WebSocket gets close 1013 (and no welcome);
/// once one of the three has left, a new one is accepted.
#[tokio::test]
async fn connections_over_the_cap_get_1013_until_one_leaves() {
    let server = TestServer::start(&["--max-connections", "3"]).await;
    let rss = server.rss_kib();
    let full = (1013, "server full, try again later".to_owned());
    let ana = RawWs::join(&server, "ana", "full").await;
    let mut bo = RawWs::join(&server, "bo", "full").await;
    let cy = RawWs::join(&server, "cy", "full").await;
    assert_eq!(untimed(bo.next_event().await), join("full", "cy"));

    for _ in 0..5 {
        let mut extra = RawWs::connect(&server, "/full?name=dee&format=json").await;
        assert_eq!(extra.expect_closed().await, full);
    }
    bo.send_text("/who").await;
    assert_eq!(
        bo.next_event().await,
        Event::Who {
            room: "full".to_owned(),
            count: 3,
            names: vec!["ana".to_owned(), "bo".to_owned(), "cy".to_owned()],
            more: false,
            ops: Vec::new(),
        }
    );

    ana.quit().await;
    assert_eq!(untimed(bo.next_event().await), leave("full", "ana", "quit"));
    let dee = RawWs::join(&server, "dee", "full").await;
    assert_eq!(untimed(bo.next_event().await), join("full", "dee"));
    let mut extra = RawWs::connect(&server, "/full?name=eve&format=json").await;
    assert_eq!(extra.expect_closed().await, full);

    // Room for the health check's two clients.
    for raw in [bo, cy, dee] {
        raw.quit().await;
    }
    assert_survived(&server, rss).await;
}

/// A place is free as soon as its person has left, even while the server
/// still waits for that client to answer its close frame: here `ana` quits
/// with `/quit` and never answers, and `dee`, connecting the moment `bo`
/// sees her leave, gets in.
#[tokio::test]
async fn a_place_is_free_once_its_person_has_left() {
    let server = TestServer::start(&["--max-connections", "2"]).await;
    let mut ana = RawWs::join(&server, "ana", "full").await;
    let mut bo = RawWs::join(&server, "bo", "full").await;
    assert_eq!(untimed(ana.next_event().await), join("full", "bo"));

    ana.send_text("/quit").await;
    assert_eq!(untimed(bo.next_event().await), leave("full", "ana", "quit"));
    let dee = RawWs::join(&server, "dee", "full").await;
    assert_eq!(untimed(bo.next_event().await), join("full", "dee"));
    drop(ana);
    for raw in [bo, dee] {
        raw.quit().await;
    }
}

// ---------------------------------------------------------------------------
// 16. Keepalive

/// At a 1 s ping interval, a client that never answers pings gets 4000 `unresponsive` after two intervals; ones that answer stay.
#[tokio::test(start_paused = true)]
async fn issue_18_a_client_that_never_answers_pings_is_closed_with_4000_and_one_that_does_stays() {
    // Issue 18 ("The terminal client in daily use"), bug 3: was 1008, which
    // clients take as final.
    const PING_INTERVAL: Duration = Duration::from_secs(1);
    let server = InProcess::start(Limits {
        ping_interval: PING_INTERVAL,
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let mut pinger = RawWs::join(&server, "pinger", "alive").await;
    let mut steady = enter(&server, "steady", "alive").await;
    assert_eq!(
        untimed(pinger.next_event_answering_pings().await),
        join("alive", "steady")
    );

    let dead_start = Instant::now();
    let mut dead = RawWs::join(&server, "dead", "silent").await;
    let dead_side = async {
        let ping = dead.next_frame().await;
        assert!(
            ping.fin && ping.opcode == PING && ping.payload.is_empty(),
            "{ping:?}"
        );
        let close = dead.expect_close().await;
        let at = Instant::now();
        dead.expect_eof().await;
        (close, at - dead_start)
    };
    let pinger_side = async {
        pinger.answer_pings(3).await;
        pinger.send_text("three pings later").await;
    };
    let steady_side = steady.event_matching("the pinger's message", |e| {
        matches!(e, Event::Message { from, text, .. } if from == "pinger" && text == "three pings later")
    });
    let ((close, dead_after), (), _) = within("three pings", async {
        tokio::join!(dead_side, pinger_side, steady_side)
    })
    .await;

    assert_eq!(close, (4000, "unresponsive".to_owned()));
    assert!(
        dead_after >= 2 * PING_INTERVAL - Duration::from_millis(100)
            && dead_after <= 2 * PING_INTERVAL + SLACK,
        "the silent client was closed after {dead_after:?}"
    );

    // Both are still connected after three intervals and more.
    steady.send("still here").await;
    loop {
        match untimed(pinger.next_event_answering_pings().await) {
            Event::Message { from, text, .. } if from == "pinger" => {
                assert_eq!(text, "three pings later");
            }
            event => {
                assert_eq!(event, message(2, "alive", "steady", "still here"));
                break;
            }
        }
    }
    assert!(pinger.pings_answered >= 3);
    assert_survived(&server, rss).await;
}

/// Running out of file descriptors is survived: while the server cannot
/// accept, connections wait in the backlog; once descriptors are free again,
/// it accepts and serves as before.
#[tokio::test]
async fn running_out_of_file_descriptors_is_survived() {
    let server = TestServer::start_with_file_limit(48, &[]).await;
    let rss = server.rss_kib();
    // More connections than the server has descriptors for: some are
    // accepted, the rest wait while accept fails with EMFILE.
    let mut hogs = Vec::new();
    for _ in 0..80 {
        hogs.push(
            within("a TCP connection", TcpStream::connect(server.addr()))
                .await
                .expect("connecting"),
        );
    }
    // Prove the server reached the limit: a WebSocket client cannot get an
    // answer now (its connection waits in the backlog).
    let stuck = tokio::time::timeout(
        Duration::from_millis(500),
        WsClient::try_connect(&server.url_for("/?name=stuck")),
    )
    .await;
    assert!(
        stuck.is_err(),
        "the server still accepted past its file limit"
    );
    drop(hogs);
    assert_survived(&server, rss).await;
}

/// A sender faster than its room's slowest reader is slowed down to that
/// reader's pace instead of pushing it into a gap: with a room queue of 32,
/// 400 messages sent flat out all reach a reader that takes one a millisecond.
#[tokio::test(start_paused = true)]
async fn a_flat_out_sender_is_held_to_its_readers_pace_and_nothing_is_lost() {
    use futures_util::SinkExt as _;

    let server = InProcess::start(Limits {
        room_queue_len: 32,
        messages_per_second: 0,
        ..Limits::default()
    })
    .await;
    let rss = server.rss_kib();
    let mut slow = enter(&server, "slow", "pace").await;
    let mut bot = enter(&server, "bot", "pace").await;
    assert_eq!(next_untimed(&mut slow).await, join("pace", "bot"));

    const MESSAGES: u64 = 400;
    let send_all = async {
        for n in 1..=MESSAGES {
            bot.ws
                .feed(tokio_websockets::Message::text(format!("m{n}")))
                .await
                .expect("sending");
        }
        bot.ws.flush().await.expect("flushing");
    };
    // The reader's pace is the point of the test, not a wait for the server.
    let read_slowly = async {
        let mut pace = interval(Duration::from_millis(1));
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for n in 1..=MESSAGES {
            pace.tick().await;
            assert_eq!(
                next_untimed(&mut slow).await,
                message(n, "pace", "bot", &format!("m{n}")),
                "a gap or a reordering before message {n}"
            );
        }
    };
    within("all messages at the reader's pace", async {
        tokio::join!(send_all, read_slowly)
    })
    .await;
    assert_survived(&server, rss).await;
}

/// Issue 16, item 1: pings are answered one at a time and do not spend the
/// message budget; a peer that pings faster than 10 a second (here, 2,000
/// pings of 125 bytes at once, never reading) is closed with 1008 `too many
/// pings`, having cost the server next to nothing.
#[tokio::test]
async fn issue_16_a_ping_flood_is_closed_with_1008_and_costs_no_memory() {
    let server = TestServer::start(&["--messages-per-second", "1", "--message-burst", "1"]).await;
    let rss = server.rss_kib();

    let mut raw = RawWs::join(&server, "pinger", "pings").await;
    for n in 0..10u8 {
        raw.send(FIN | PING, &[n]).await;
        let pong = raw.next_frame().await;
        assert!(pong.opcode == PONG && pong.payload == [n], "{pong:?}");
    }
    // Ten pings and the one message of the budget is still there.
    raw.send_text("pings are not messages").await;
    assert_eq!(
        untimed(raw.next_event().await),
        message(1, "pings", "pinger", "pings are not messages")
    );

    let mut flood = RawWs::join(&server, "flooder", "flood").await;
    let mut observer = RawWs::join(&server, "observer", "flood").await;
    let ping = masked(FIN | PING, &[b'p'; 125]);
    flood.attack(&ping.repeat(2_000)).await;
    let close = within("the close after the flood", async {
        loop {
            // Pongs, and the observer's arrival.
            let frame = flood.next_frame().await;
            if frame.opcode != PONG && frame.opcode != TEXT {
                return frame;
            }
        }
    })
    .await;
    assert_eq!(close.opcode, CLOSE, "{close:?}");
    assert_eq!(
        u16::from_be_bytes([close.payload[0], close.payload[1]]),
        1008
    );
    assert_eq!(&close.payload[2..], b"too many pings");
    assert_eq!(
        untimed(observer.next_event().await),
        leave("flood", "flooder", "sent too many pings")
    );
    assert_survived(&server, rss).await;
}
